//! What a delivery carries: MLflow's envelope (`entity`, `action`, `timestamp`, `data`) around one
//! payload shape per event (`mlflow/webhooks/types.py`), written the way Python's `json.dumps`
//! writes it (`", "` and `": "` separators, non-ASCII escaped), so that a body is byte-for-byte what
//! MLflow would have sent for the same data and timestamp.

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_core::entities::{KeyValue, WebhookAction, WebhookEntity, WebhookEvent};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// Tags as a Python dict built from a list: first position, last value for a repeated key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(Vec<KeyValue>);

impl Tags {
    pub fn new(tags: &[KeyValue]) -> Tags {
        let mut unique: Vec<KeyValue> = Vec::with_capacity(tags.len());
        for tag in tags {
            match unique.iter_mut().find(|seen| seen.key == tag.key) {
                Some(seen) => seen.value = tag.value.clone(),
                None => unique.push(tag.clone()),
            }
        }
        Tags(unique)
    }

    /// The value of `key`, removing it.
    pub fn take(&mut self, key: &str) -> Option<String> {
        let position = self.0.iter().position(|tag| tag.key == key)?;
        Some(self.0.remove(position).value)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|tag| tag.key == key)
            .map(|tag| tag.value.as_str())
    }

    fn example() -> Tags {
        Tags(vec![KeyValue::new("example_key", "example_value")])
    }
}

impl Serialize for Tags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for tag in &self.0 {
            map.serialize_entry(&tag.key, &tag.value)?;
        }
        map.end()
    }
}

/// `registered_model.created`, and `prompt.created` (same shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCreated {
    pub name: String,
    pub tags: Tags,
    /// MLflow sends the request's field: `""` when absent.
    pub description: String,
}

/// `model_version.created`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionCreated {
    pub name: String,
    pub version: String,
    pub source: String,
    pub run_id: Option<String>,
    pub tags: Tags,
    pub description: Option<String>,
}

/// `prompt_version.created`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptVersionCreated {
    pub name: String,
    pub version: String,
    pub template: Option<String>,
    pub tags: Tags,
    pub description: Option<String>,
}

/// `model_version_tag.set`, `prompt_version_tag.set`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionTagSet {
    pub name: String,
    pub version: String,
    pub key: String,
    pub value: String,
}

/// `model_version_tag.deleted`, `prompt_version_tag.deleted`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionTagDeleted {
    pub name: String,
    pub version: String,
    pub key: String,
}

/// `prompt_tag.set`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagSet {
    pub name: String,
    pub key: String,
    pub value: String,
}

/// `prompt_tag.deleted`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagDeleted {
    pub name: String,
    pub key: String,
}

/// `model_version_alias.created`, `prompt_alias.created`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AliasCreated {
    pub name: String,
    pub alias: String,
    pub version: String,
}

/// `model_version_alias.deleted`, `prompt_alias.deleted`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AliasDeleted {
    pub name: String,
    pub alias: String,
}

/// `budget_policy.exceeded` (cairn has no AI gateway; only `test` sends it, with MLflow's example).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetPolicyExceeded {
    pub budget_policy_id: String,
    pub budget_unit: String,
    pub budget_amount: f64,
    pub current_spend: f64,
    pub duration_unit: String,
    pub duration_value: i64,
    pub target_scope: String,
    pub workspace: String,
    pub target_value: Option<String>,
    pub window_start: i64,
}

/// cairn's `model_version_stage.updated`: a version moved between stages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageUpdated {
    pub name: String,
    pub version: String,
    /// Absent only when the version could not be read before the change.
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub archive_existing_versions: bool,
}

/// One failed rule of a refused promotion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedRule {
    pub rule: String,
    pub actual: String,
    pub required: String,
}

/// cairn's `model_version_promotion.refused`: the policy refused an alias or stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromotionRefused {
    pub name: String,
    pub version: String,
    /// `alias` or `stage`.
    pub target_kind: String,
    pub target: String,
    /// `set_alias`, `transition_stage` or `promote`.
    pub action: String,
    pub user: String,
    pub policy_revision: Option<i64>,
    /// One line per failed rule.
    pub summary: String,
    pub failed_rules: Vec<FailedRule>,
}

/// The `data` of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Payload {
    ModelCreated(ModelCreated),
    VersionCreated(VersionCreated),
    PromptVersionCreated(PromptVersionCreated),
    VersionTagSet(VersionTagSet),
    VersionTagDeleted(VersionTagDeleted),
    TagSet(TagSet),
    TagDeleted(TagDeleted),
    AliasCreated(AliasCreated),
    AliasDeleted(AliasDeleted),
    BudgetPolicyExceeded(BudgetPolicyExceeded),
    StageUpdated(StageUpdated),
    PromotionRefused(PromotionRefused),
}

/// The example payload `test` sends for `event` (MLflow's `get_example_payload_for_event`).
pub fn example(event: WebhookEvent) -> Payload {
    use WebhookAction as A;
    use WebhookEntity as E;
    let text = |value: &str| value.to_owned();
    match (event.entity, event.action) {
        (E::RegisteredModel, _) => Payload::ModelCreated(ModelCreated {
            name: text("example_model"),
            tags: Tags::example(),
            description: text("An example registered model"),
        }),
        (E::ModelVersion, _) => Payload::VersionCreated(VersionCreated {
            name: text("example_model"),
            version: text("1"),
            source: text("models:/123"),
            run_id: Some(text("abcd1234abcd5678")),
            tags: Tags::example(),
            description: Some(text("An example model version")),
        }),
        (E::ModelVersionTag | E::PromptVersionTag, A::Deleted) => {
            let name = if event.entity == E::ModelVersionTag {
                "example_model"
            } else {
                "example_prompt"
            };
            Payload::VersionTagDeleted(VersionTagDeleted {
                name: text(name),
                version: text("1"),
                key: text("example_key"),
            })
        }
        (E::ModelVersionTag | E::PromptVersionTag, _) => {
            let name = if event.entity == E::ModelVersionTag {
                "example_model"
            } else {
                "example_prompt"
            };
            Payload::VersionTagSet(VersionTagSet {
                name: text(name),
                version: text("1"),
                key: text("example_key"),
                value: text("example_value"),
            })
        }
        (E::ModelVersionAlias | E::PromptAlias, A::Deleted) => {
            let name = if event.entity == E::ModelVersionAlias {
                "example_model"
            } else {
                "example_prompt"
            };
            Payload::AliasDeleted(AliasDeleted {
                name: text(name),
                alias: text("example_alias"),
            })
        }
        (E::ModelVersionAlias | E::PromptAlias, _) => {
            let name = if event.entity == E::ModelVersionAlias {
                "example_model"
            } else {
                "example_prompt"
            };
            Payload::AliasCreated(AliasCreated {
                name: text(name),
                alias: text("example_alias"),
                version: text("1"),
            })
        }
        (E::Prompt, _) => Payload::ModelCreated(ModelCreated {
            name: text("example_prompt"),
            tags: Tags::example(),
            description: text("An example prompt"),
        }),
        (E::PromptVersion, _) => Payload::PromptVersionCreated(PromptVersionCreated {
            name: text("example_prompt"),
            version: text("1"),
            template: Some(text("Hello {{name}}!")),
            tags: Tags::example(),
            description: Some(text("An example prompt version")),
        }),
        (E::PromptTag, A::Deleted) => Payload::TagDeleted(TagDeleted {
            name: text("example_prompt"),
            key: text("example_key"),
        }),
        (E::PromptTag, _) => Payload::TagSet(TagSet {
            name: text("example_prompt"),
            key: text("example_key"),
            value: text("example_value"),
        }),
        (E::BudgetPolicy, _) => Payload::BudgetPolicyExceeded(BudgetPolicyExceeded {
            budget_policy_id: text("bp-abc123"),
            budget_unit: text("USD"),
            budget_amount: 100.0,
            current_spend: 105.50,
            duration_unit: text("MONTHS"),
            duration_value: 1,
            target_scope: text("ENDPOINT"),
            workspace: text("default"),
            target_value: Some(text("ep-abc123")),
            window_start: 1_704_067_200_000,
        }),
        (E::ModelVersionStage, _) => Payload::StageUpdated(StageUpdated {
            name: text("example_model"),
            version: text("1"),
            from_stage: Some(text("Staging")),
            to_stage: text("Production"),
            archive_existing_versions: false,
        }),
        (E::ModelVersionPromotion, _) => Payload::PromotionRefused(PromotionRefused {
            name: text("example_model"),
            version: text("1"),
            target_kind: text("alias"),
            target: text("champion"),
            action: text("set_alias"),
            user: text("example_user"),
            policy_revision: Some(1),
            summary: text("metrics.val_auc >= 0.9: actual 0.87, required >= 0.9"),
            failed_rules: vec![FailedRule {
                rule: text("metrics.val_auc >= 0.9"),
                actual: text("0.87"),
                required: text(">= 0.9"),
            }],
        }),
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    entity: &'a str,
    action: &'a str,
    timestamp: String,
    data: &'a Payload,
}

/// The body of a delivery: MLflow's envelope, as `json.dumps` writes it.
pub fn body(event: WebhookEvent, data: &Payload, now: SystemTime) -> String {
    let envelope = Envelope {
        entity: event.entity.as_str(),
        action: event.action.as_str(),
        timestamp: isoformat_utc(now),
        data,
    };
    python_json(&envelope)
}

/// `value` as Python's `json.dumps(value)` writes it.
pub fn python_json<T: Serialize>(value: &T) -> String {
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    // Serializing plain structs of strings and numbers into memory cannot fail.
    if value.serialize(&mut serializer).is_err() {
        return "{}".to_owned();
    }
    // Only ASCII is written.
    String::from_utf8(out).unwrap_or_default()
}

/// `json.dumps` defaults: `", "` and `": "` separators, `ensure_ascii` (everything outside
/// printable ASCII as `\uXXXX`, UTF-16 surrogate pairs beyond the BMP).
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (index, character) in fragment.char_indices() {
            if (' '..='~').contains(&character) {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..index])?;
            let mut units = [0u16; 2];
            for unit in character.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = index + character.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// `datetime.now(timezone.utc).isoformat()`: `2024-01-02T03:04:05.123456+00:00` (no fraction
/// when the microseconds are zero).
pub fn isoformat_utc(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let micros = since_epoch.subsec_micros();
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    let clock = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    );
    if micros == 0 {
        format!("{clock}+00:00")
    } else {
        format!("{clock}.{micros:06}+00:00")
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn python_json_matches_json_dumps() {
        // Expected strings printed by Python 3.11's json.dumps.
        #[derive(Serialize)]
        struct Sample {
            a: String,
            b: Vec<i64>,
            c: Option<String>,
            d: String,
        }
        let sample = Sample {
            a: "é\u{7f}\u{2028}😀".into(),
            b: vec![1, 2],
            c: None,
            d: "\u{1}\n".into(),
        };
        assert_eq!(
            python_json(&sample),
            r#"{"a": "\u00e9\u007f\u2028\ud83d\ude00", "b": [1, 2], "c": null, "d": "\u0001\n"}"#
        );
    }

    #[test]
    fn envelope_shape_and_order() {
        let event = WebhookEvent::parse("registered_model.created").unwrap();
        let data = Payload::ModelCreated(ModelCreated {
            name: "m1".into(),
            tags: Tags::new(&[KeyValue::new("k", "v"), KeyValue::new("k", "w")]),
            description: String::new(),
        });
        let time = UNIX_EPOCH + Duration::from_micros(1_795_391_179_636_683);
        assert_eq!(
            body(event, &data, time),
            r#"{"entity": "registered_model", "action": "created", "timestamp": "2026-11-22T23:46:19.636683+00:00", "data": {"name": "m1", "tags": {"k": "w"}, "description": ""}}"#
        );
    }

    #[test]
    fn isoformat() {
        let check = |micros: u64, expected: &str| {
            assert_eq!(
                isoformat_utc(UNIX_EPOCH + Duration::from_micros(micros)),
                expected
            );
        };
        check(0, "1970-01-01T00:00:00+00:00");
        check(1_704_164_645_000_000, "2024-01-02T03:04:05+00:00");
        check(1_709_208_000_000_001, "2024-02-29T12:00:00.000001+00:00");
        check(951_782_400_000_000, "2000-02-29T00:00:00+00:00");
        check(4_102_444_799_999_999, "2099-12-31T23:59:59.999999+00:00");
    }

    #[test]
    fn examples_are_mlflows() {
        let event = WebhookEvent::parse("model_version.created").unwrap();
        assert_eq!(
            python_json(&example(event)),
            r#"{"name": "example_model", "version": "1", "source": "models:/123", "run_id": "abcd1234abcd5678", "tags": {"example_key": "example_value"}, "description": "An example model version"}"#
        );
        let event = WebhookEvent::parse("budget_policy.exceeded").unwrap();
        assert!(python_json(&example(event))
            .contains(r#""budget_amount": 100.0, "current_spend": 105.5"#));
        for entity in WebhookEntity::ALL {
            for action in entity.valid_actions() {
                let event = WebhookEvent::new(*entity, *action).unwrap();
                assert!(
                    python_json(&example(event)).starts_with("{\"name\"")
                        || *entity == WebhookEntity::BudgetPolicy
                );
            }
        }
    }
}
