//! Webhook URL checks, as MLflow's `_validate_webhook_url` makes them: an allowed scheme, a host,
//! and (unless private addresses are allowed) a host that is or resolves to public IP addresses
//! only. Delivery repeats the check and resolves through [`PublicOnlyResolver`], so a name that
//! re-resolves to a private address at send time (DNS rebinding) is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use cairn_core::Error;

use super::WebhookSettings;

const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Python's `repr()` of a string, as MLflow's messages quote values.
pub fn py_repr(text: &str) -> String {
    if text.contains('\'') && !text.contains('"') {
        format!("\"{}\"", text.replace('\\', "\\\\"))
    } else {
        format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// `urllib.parse.urlparse(url).scheme`: the lowercased part before the first `:` when it is a
/// valid scheme, else empty.
fn scheme_of(url: &str) -> String {
    let Some((scheme, _)) = url.split_once(':') else {
        return String::new();
    };
    let mut characters = scheme.chars();
    let valid = characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && characters.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if valid {
        scheme.to_ascii_lowercase()
    } else {
        String::new()
    }
}

/// `urlparse(url).hostname`: the netloc after `//`, without user info, port and IPv6 brackets.
fn hostname_of(url: &str) -> Option<String> {
    let after_scheme = url.split_once(':').map_or(url, |(_, rest)| rest);
    let netloc_and_path = after_scheme.strip_prefix("//")?;
    let netloc = netloc_and_path
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host_port = netloc.rsplit_once('@').map_or(netloc, |(_, host)| host);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Hosts a resolver would read as IP literals (MLflow's `_is_ip_literal_like`).
fn is_ip_literal_like(host: &str) -> bool {
    host.contains(':') || (!host.is_empty() && host.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Checks `url` for a webhook; resolves its host unless private addresses are allowed.
pub async fn validate(url: &str, settings: &WebhookSettings) -> Result<(), Error> {
    if url.trim().is_empty() {
        return Err(Error::invalid(format!(
            "Webhook URL cannot be empty or just whitespace: {}",
            py_repr(url)
        )));
    }
    let scheme = scheme_of(url);
    if !settings.allowed_schemes.contains(&scheme) {
        return Err(Error::invalid(format!(
            "Invalid webhook URL scheme: {}. Allowed schemes are: {}.",
            py_repr(&scheme),
            settings.allowed_schemes.join(", ")
        )));
    }
    let Some(hostname) = hostname_of(url) else {
        return Err(Error::invalid(format!(
            "Webhook URL must include a hostname: {}",
            py_repr(url)
        )));
    };
    let parsed = reqwest::Url::parse(url).map_err(|error| {
        Error::invalid(format!("Invalid webhook URL {}: {error}", py_repr(url)))
    })?;
    if settings.allow_private_ips {
        return Ok(());
    }
    if is_ip_literal_like(&hostname) && hostname.parse::<IpAddr>().is_err() {
        return Err(Error::invalid(format!(
            "Webhook URL host {} is not a canonical IP address literal.",
            py_repr(&hostname)
        )));
    }
    let host = parsed.host_str().unwrap_or_default();
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>();
    let addresses: Vec<IpAddr> = match literal {
        Ok(ip) => vec![ip],
        Err(_) => resolve(host)
            .await
            .map_err(|error| {
                Error::invalid(format!(
                    "Cannot resolve Webhook URL hostname {}: {error}",
                    py_repr(&hostname)
                ))
            })?
            .into_iter()
            .map(|address| address.ip())
            .collect(),
    };
    if let Some(private) = addresses.iter().find(|ip| !is_public_ip(**ip)) {
        return Err(Error::invalid(format!(
            "Webhook URL must not resolve to a non-public IP address. {} resolves to {private}.",
            py_repr(&hostname)
        )));
    }
    Ok(())
}

async fn resolve(host: &str) -> Result<Vec<SocketAddr>, String> {
    let lookup = tokio::net::lookup_host((host, 0));
    match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(addresses)) => Ok(addresses.collect()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!(
            "resolution timed out after {} s",
            RESOLVE_TIMEOUT.as_secs()
        )),
    }
}

/// Resolves like the system resolver, but refuses names with any non-public address.
pub struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses = resolve(&host).await?;
            if let Some(private) = addresses.iter().find(|address| !is_public_ip(address.ip())) {
                return Err(format!(
                    "webhook connection blocked: {host} resolves to {}, not a public IP address",
                    private.ip()
                )
                .into());
            }
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// The IPv4 address an IPv6 transition address carries (mapped, 6to4, NAT64), as MLflow checks it.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(mapped) = ip.to_ipv4_mapped() {
        return Some(mapped);
    }
    let segments = ip.segments();
    if segments[0] == 0x2002 {
        let [a, b] = segments[1].to_be_bytes();
        let [c, d] = segments[2].to_be_bytes();
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = segments[6].to_be_bytes();
        let [c, d] = segments[7].to_be_bytes();
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    None
}

/// Python's `ipaddress.ip_address(...).is_global`, after unwrapping transition addresses.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_ipv4(ip),
        IpAddr::V6(ip) => match embedded_ipv4(ip) {
            Some(embedded) => is_public_ipv4(embedded),
            None => is_public_ipv6(ip),
        },
    }
}

fn in_v4(ip: Ipv4Addr, network: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(network)) & mask
}

fn is_public_ipv4(ip: Ipv4Addr) -> bool {
    const NOT_GLOBAL: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([100, 64, 0, 0], 10),
        ([127, 0, 0, 0], 8),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 0, 0, 0], 24),
        ([192, 0, 2, 0], 24),
        ([192, 168, 0, 0], 16),
        ([198, 18, 0, 0], 15),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([224, 0, 0, 0], 4),
        ([240, 0, 0, 0], 4),
    ];
    !NOT_GLOBAL
        .iter()
        .any(|(network, prefix)| in_v4(ip, *network, *prefix))
}

fn is_public_ipv6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let first = segments[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local fc00::/7, link-local fe80::/10, site-local fec0::/10.
        || first & 0xfe00 == 0xfc00
        || first & 0xffc0 == 0xfe80
        || first & 0xffc0 == 0xfec0
        // Documentation 2001:db8::/32, discard 100::/64, IETF protocol assignments 2001::/23.
        || (first == 0x2001 && segments[1] == 0x0db8)
        || (first == 0x0100 && segments[1..4] == [0, 0, 0])
        || (first == 0x2001 && segments[1] < 0x0200))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(allow_private_ips: bool) -> WebhookSettings {
        WebhookSettings {
            allowed_schemes: vec!["https".to_owned()],
            allow_private_ips,
            ..WebhookSettings::default()
        }
    }

    #[tokio::test]
    async fn url_messages_are_mlflows() {
        let check = |url: &'static str, private: bool, expected: Option<&'static str>| async move {
            let result = validate(url, &settings(private)).await;
            match expected {
                None => assert!(result.is_ok(), "{url}: {result:?}"),
                Some(message) => assert_eq!(result.unwrap_err().message, message, "{url}"),
            }
        };
        check(
            "http://example.com/hook",
            true,
            Some("Invalid webhook URL scheme: 'http'. Allowed schemes are: https."),
        )
        .await;
        check(
            "notaurl",
            true,
            Some("Invalid webhook URL scheme: ''. Allowed schemes are: https."),
        )
        .await;
        check(
            "  ",
            true,
            Some("Webhook URL cannot be empty or just whitespace: '  '"),
        )
        .await;
        check(
            "https:///nohost",
            true,
            Some("Webhook URL must include a hostname: 'https:///nohost'"),
        )
        .await;
        check(
            "https://127.0.0.1/hook",
            false,
            Some("Webhook URL must not resolve to a non-public IP address. '127.0.0.1' resolves to 127.0.0.1."),
        )
        .await;
        check(
            "https://[::ffff:10.0.0.1]:8443/x",
            false,
            Some("Webhook URL must not resolve to a non-public IP address. '::ffff:10.0.0.1' resolves to ::ffff:10.0.0.1."),
        )
        .await;
        check(
            "https://127.1/x",
            false,
            Some("Webhook URL host '127.1' is not a canonical IP address literal."),
        )
        .await;
        let local = validate("https://localhost:9/x", &settings(false)).await;
        assert!(local.unwrap_err().message.starts_with(
            "Webhook URL must not resolve to a non-public IP address. 'localhost' resolves to "
        ));
        check("https://127.0.0.1:9/hook", true, None).await;
        check("https://8.8.8.8/hook", false, None).await;
        check("HTTPS://user:pw@8.8.8.8:443/hook?x=1", false, None).await;
    }

    #[test]
    fn public_addresses() {
        let check = |text: &str, public: bool| {
            assert_eq!(is_public_ip(text.parse().unwrap()), public, "{text}");
        };
        check("8.8.8.8", true);
        check("1.1.1.1", true);
        check("127.0.0.1", false);
        check("10.1.2.3", false);
        check("172.31.255.255", false);
        check("172.32.0.1", true);
        check("192.168.1.1", false);
        check("169.254.169.254", false);
        check("100.64.0.1", false);
        check("0.0.0.0", false);
        check("255.255.255.255", false);
        check("2606:4700:4700::1111", true);
        check("::1", false);
        check("::", false);
        check("fd00::1", false);
        check("fe80::1", false);
        check("::ffff:127.0.0.1", false);
        check("::ffff:8.8.8.8", true);
        check("2002:0a00:0001::", false);
        check("64:ff9b::a9fe:a9fe", false);
        check("2001:db8::1", false);
    }
}
