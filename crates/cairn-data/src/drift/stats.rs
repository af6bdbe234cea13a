//! Drift statistics, as pure functions over sorted samples and aligned counts (no I/O).
//!
//! Each follows the definition Evidently uses (its `stattests`), computed the way SciPy and NumPy do,
//! so scores agree with an Evidently report to rounding: two-sample Kolmogorov–Smirnov
//! (`scipy.stats.ks_2samp`, exact or asymptotic as SciPy picks), chi-square on category frequencies
//! (`scipy.stats.chisquare`), the Z-test for two proportions, normalised Wasserstein distance,
//! PSI, Kullback–Leibler divergence, Jensen–Shannon distance and Hellinger distance over Evidently's
//! bins (Sturges' equal-width bins over both samples, or one bin per value).
//!
//! Numeric samples are passed sorted ascending, finite, non-empty; counts are aligned (`reference[i]`
//! and `current[i]` count the same value).

use statrs::function::erf::{erf, erfc};
use statrs::function::gamma::checked_gamma_ur;

/// A test's statistic and, for hypothesis tests, its p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestOutcome {
    pub statistic: f64,
    pub p_value: Option<f64>,
}

// ---------------------------------------------------------------------------------------------
// Kolmogorov–Smirnov

/// Above this many values in either sample, SciPy's `ks_2samp(method="auto")` uses the asymptotic
/// distribution instead of the exact one.
const KS_MAX_EXACT_N: usize = 10_000;

/// Two-sample, two-sided Kolmogorov–Smirnov test (`scipy.stats.ks_2samp` with its defaults).
pub fn ks_2samp(reference: &[f64], current: &[f64]) -> TestOutcome {
    let n1 = reference.len();
    let n2 = current.len();
    if n1 == 0 || n2 == 0 {
        return TestOutcome {
            statistic: f64::NAN,
            p_value: None,
        };
    }
    let (mut max_up, mut max_down) = (0.0_f64, 0.0_f64);
    walk_cdfs(reference, current, |cdf1, cdf2, _| {
        let difference = cdf1 - cdf2;
        max_up = max_up.max(difference);
        max_down = max_down.max(-difference);
    });
    let mut d = if max_down > max_up { max_down } else { max_up };
    let mut p_value = None;
    if n1.max(n2) <= KS_MAX_EXACT_N {
        let g = gcd(n1 as u64, n2 as u64);
        let lcm = (n1 as u64 / g) * n2 as u64;
        let h = round_half_even(d * lcm as f64) as u64;
        d = h as f64 / lcm as f64;
        if h == 0 {
            p_value = Some(1.0);
        } else {
            let p = if n1 == n2 {
                prob_outside_square(n1 as u64, h)
            } else {
                outer_prob_inside(n1 as u64, n2 as u64, g, h)
            };
            if (0.0..=1.0).contains(&p) {
                p_value = Some(p);
            }
        }
    }
    let p = p_value.unwrap_or_else(|| {
        let (m, n) = if n1 >= n2 {
            (n1 as f64, n2 as f64)
        } else {
            (n2 as f64, n1 as f64)
        };
        let en = m * n / (m + n);
        kolmogorov_sf(round_half_even(en) as u64, d)
    });
    TestOutcome {
        statistic: d,
        p_value: Some(p.clamp(0.0, 1.0)),
    }
}

/// Calls `visit(F1(x), F2(x), next - x)` at each distinct value `x` of the two sorted samples, where
/// F are the empirical CDFs (share of values `<= x`) and `next` the next distinct value (NaN after
/// the last).
fn walk_cdfs(first: &[f64], second: &[f64], mut visit: impl FnMut(f64, f64, f64)) {
    let (n1, n2) = (first.len() as f64, second.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    while i < first.len() || j < second.len() {
        let x = match (first.get(i), second.get(j)) {
            (Some(a), Some(b)) => a.min(*b),
            (Some(a), None) => *a,
            (None, Some(b)) => *b,
            (None, None) => break,
        };
        while i < first.len() && first[i] <= x {
            i += 1;
        }
        while j < second.len() && second[j] <= x {
            j += 1;
        }
        let next = match (first.get(i), second.get(j)) {
            (Some(a), Some(b)) => a.min(*b),
            (Some(a), None) => *a,
            (None, Some(b)) => *b,
            (None, None) => f64::NAN,
        };
        visit(i as f64 / n1, j as f64 / n2, next - x);
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `numpy.round`: halves go to the even neighbour.
fn round_half_even(value: f64) -> f64 {
    let rounded = value.round();
    if (value - value.trunc()).abs() == 0.5 {
        2.0 * (value / 2.0).round()
    } else {
        rounded
    }
}

/// P(D_{n,n} >= h/n) for two samples of equal size n (alternating series, Horner form).
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let (n_f, h_f) = (n as f64, h as f64);
    let mut p = 0.0;
    let mut k = (n / h) as i64;
    while k >= 0 {
        let kh = k as f64 * h_f;
        let mut term = 1.0;
        for j in 0..h {
            let j = j as f64;
            term = (n_f - kh - j) * term / (n_f + kh + j + 1.0);
        }
        p = term * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// P(D_{m,n} >= h/lcm(m,n)) by counting the lattice paths that stay strictly inside the band
/// |x/m - y/n| < h/lcm, with Viehmann's recursion for 1 - p (one sliding column).
fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let mg = (m / g) as f64;
    let ng = (n / g) as f64;
    let h_f = h as f64;
    let n_us = n as usize;
    let mut min_j = 0usize;
    let mut max_j = ((h_f / mg).ceil() as usize).min(n_us + 1);
    let mut current_len = max_j - min_j;
    let len = (2 * max_j + 2).min(n_us + 1);
    let mut column = vec![1.0_f64; len];
    for cell in column.iter_mut().take(max_j).skip(min_j) {
        *cell = 0.0;
    }
    for i in 1..=m {
        let i_f = i as f64;
        let (last_min_j, last_len) = (min_j, current_len);
        let low = ((ng * i_f - h_f) / mg).floor() + 1.0;
        min_j = if low < 0.0 {
            0
        } else {
            (low as usize).min(n_us)
        };
        max_j = (((ng * i_f + h_f) / mg).ceil() as usize).min(n_us + 1);
        if max_j <= min_j {
            return 1.0;
        }
        let mut value = if min_j == 0 { 0.0 } else { 1.0 };
        for jj in 0..max_j - min_j {
            let j = (jj + min_j) as f64;
            let previous = column.get(jj + min_j - last_min_j).copied().unwrap_or(1.0);
            value = (previous * i_f + value * j) / (i_f + j);
            column[jj] = value;
        }
        current_len = max_j - min_j;
        if last_len > current_len {
            let end = (current_len + last_len - current_len).min(column.len());
            for cell in &mut column[current_len..end] {
                *cell = 1.0;
            }
        }
    }
    column[max_j - min_j - 1]
}

/// Survival function of the one-sample two-sided Kolmogorov–Smirnov statistic D_n
/// (`scipy.stats.kstwo.sf`, Simard & L'Ecuyer's choice of algorithm). Where SciPy uses the Durbin
/// matrix or Pomeranz recursions (small n·x², or n <= 140), this uses Pelz–Good's approximation;
/// those regions give p-values close to 1.
pub fn kolmogorov_sf(n: u64, x: f64) -> f64 {
    if n == 0 || x.is_nan() {
        return f64::NAN;
    }
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let n_f = n as f64;
    let t = n_f * x;
    if t <= 1.0 {
        if t <= 0.5 {
            return 1.0;
        }
        let cdf = if n <= 140 {
            (1..=n).fold(1.0, |product, i| {
                product * (i as f64 * (1.0 / n_f) * (2.0 * t - 1.0))
            })
        } else {
            (log_factorial_over_power(n_f) + n_f * (2.0 * t - 1.0).ln()).exp()
        };
        return (1.0 - cdf).clamp(0.0, 1.0);
    }
    if t >= n_f - 1.0 {
        return (2.0 * (1.0 - x).powf(n_f)).clamp(0.0, 1.0);
    }
    if x >= 0.5 {
        return (2.0 * smirnov_sf(n, x)).clamp(0.0, 1.0);
    }
    let nx_squared = t * x;
    if n <= 140 {
        if nx_squared <= 4.0 {
            return (1.0 - pelz_good_cdf(n_f, x)).clamp(0.0, 1.0);
        }
        return (2.0 * smirnov_sf(n, x)).clamp(0.0, 1.0);
    }
    if nx_squared >= 370.0 {
        return 0.0;
    }
    if nx_squared >= 2.2 {
        return (2.0 * smirnov_sf(n, x)).clamp(0.0, 1.0);
    }
    let cdf = if nx_squared >= 18.0 {
        1.0
    } else {
        pelz_good_cdf(n_f, x)
    };
    (1.0 - cdf).clamp(0.0, 1.0)
}

/// log(n! / n^n) by Stirling's series.
fn log_factorial_over_power(n: f64) -> f64 {
    // Bernoulli-number coefficients B_2j / (2j (2j-1)), written out in full.
    #[allow(clippy::excessive_precision)]
    const STIRLING: [f64; 8] = [
        -2.955065359477124183e-2,
        6.4102564102564102564e-3,
        -1.9175269175269175269e-3,
        8.4175084175084175084e-4,
        -5.952380952380952381e-4,
        7.9365079365079365079e-4,
        -2.7777777777777777778e-3,
        8.3333333333333333333e-2,
    ];
    let rn = 1.0 / n;
    let x = rn / n;
    let series = STIRLING.iter().fold(0.0, |acc, c| acc * x + c);
    n.ln() / 2.0 - n + (2.0 * std::f64::consts::PI).ln() / 2.0 + rn * series
}

/// Pelz–Good approximation of P(D_n <= x).
fn pelz_good_cdf(n: f64, x: f64) -> f64 {
    use std::f64::consts::PI;
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let z = n.sqrt() * x;
    let (z2, z3, z4, z6) = (z * z, z.powi(3), z.powi(4), z.powi(6));
    let q_log = -PI * PI / 8.0 / z2;
    if q_log < -708.0 {
        return 0.0;
    }
    let q = q_log.exp();
    let pi2 = PI * PI;
    let pi4 = pi2 * pi2;
    let pi6 = pi4 * pi2;
    let k1a = -z2;
    let k1b = pi2 / 4.0;
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powi(8);
    let mut k = [0.0_f64; 4];
    let max_k = (16.0 * z / PI).ceil() as i64;
    for index in (1..=max_k).rev() {
        let m = (2 * index - 1) as f64;
        let (m2, m4, m6) = (m * m, m.powi(4), m.powi(6));
        let q_power = q.powf(8.0 * index as f64);
        let coefficients = [
            1.0,
            k1a + k1b * m2,
            k2a + k2b * m2 + k2c * m4,
            k3a + k3b * m2 + k3c * m4 + k3d * m6,
        ];
        for (term, coefficient) in k.iter_mut().zip(coefficients) {
            *term = *term * q_power + coefficient;
        }
    }
    let sqrt_2pi = (2.0 * PI).sqrt();
    let divisors = [z, 6.0 * z4, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for (term, divisor) in k.iter_mut().zip(divisors) {
        *term = *term * q * sqrt_2pi / divisor;
    }
    let q2 = (-pi2 / 2.0 / z2).exp();
    let sqrt3_z = 3.0_f64.sqrt() * z;
    let (mut k2_extra, mut k3_extra) = (0.0, 0.0);
    for index in (1..=max_k).rev() {
        let k_f = index as f64;
        let k_squared = k_f * k_f;
        let q_power = q2.powf(k_squared);
        k2_extra += k_squared * q_power;
        let k_pi = PI * k_f;
        k3_extra += (sqrt3_z + k_pi) * (sqrt3_z - k_pi) * k_squared * q_power;
    }
    k[2] += k2_extra * pi2 * sqrt_2pi / (-36.0 * z3);
    k[3] += k3_extra * pi2 * sqrt_2pi / (216.0 * z6);
    for (power, term) in k.iter_mut().enumerate() {
        *term /= n.powf(power as f64 / 2.0);
    }
    k.iter().sum()
}

/// Survival function of the one-sided statistic D+_n (`scipy.special.smirnov`): Birnbaum and
/// Tingey's sum, each term computed in logarithms (n <= 10^6); beyond that SciPy's approximation.
pub fn smirnov_sf(n: u64, x: f64) -> f64 {
    if x.is_nan() || !(0.0..=1.0).contains(&x) || n == 0 {
        return f64::NAN;
    }
    let n_f = n as f64;
    if n == 1 {
        return 1.0 - x;
    }
    if x == 0.0 {
        return 1.0;
    }
    if x == 1.0 {
        return 0.0;
    }
    if -2.0 * n_f * x * x < -708.396_418_532_264_1 {
        return 0.0;
    }
    if n > 1_000_000 {
        let log_p = -(6.0 * n_f * x + 1.0).powi(2) / 18.0 / n_f;
        return if log_p < -std::f64::consts::LN_2 {
            log_p.exp()
        } else {
            1.0 - (-log_p.exp_m1())
        };
    }
    // sf = x * sum_{v=0}^{floor(n(1-x))} C(n,v) (x + v/n)^(v-1) (1 - x - v/n)^(n-v)
    let last = (n_f * (1.0 - x)).floor() as u64;
    let mut log_binomial = 0.0_f64;
    let mut log_terms = Vec::with_capacity(last as usize + 1);
    for v in 0..=last {
        let v_f = v as f64;
        let p = x + v_f / n_f;
        let q = 1.0 - x - v_f / n_f;
        if q > 0.0 {
            log_terms.push(log_binomial + (v_f - 1.0) * p.ln() + (n_f - v_f) * q.ln());
        } else if v == n {
            log_terms.push(log_binomial + (v_f - 1.0) * p.ln());
        }
        log_binomial += ((n_f - v_f) / (v_f + 1.0)).ln();
    }
    let max = log_terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return 0.0;
    }
    let sum: f64 = log_terms.iter().map(|term| (term - max).exp()).sum();
    (x.ln() + max + sum.ln()).exp().clamp(0.0, 1.0)
}

// ---------------------------------------------------------------------------------------------
// Chi-square and Z-test on counts

/// `scipy.stats.chisquare(observed, expected)`: Pearson's statistic and its p-value with
/// `k - 1` degrees of freedom (NaN with fewer than two categories).
pub fn chi_square(observed: &[f64], expected: &[f64]) -> TestOutcome {
    let statistic: f64 = observed
        .iter()
        .zip(expected)
        .map(|(o, e)| (o - e) * (o - e) / e)
        .sum();
    let dof = observed.len() as f64 - 1.0;
    TestOutcome {
        statistic,
        p_value: Some(chi_square_sf(statistic, dof)),
    }
}

/// Survival function of the chi-square distribution with `dof` degrees of freedom.
pub fn chi_square_sf(statistic: f64, dof: f64) -> f64 {
    if statistic.is_nan() || dof.is_nan() || dof <= 0.0 {
        return f64::NAN;
    }
    if statistic <= 0.0 {
        return 1.0;
    }
    if statistic.is_infinite() {
        return 0.0;
    }
    checked_gamma_ur(dof / 2.0, statistic / 2.0).unwrap_or(f64::NAN)
}

/// Evidently's chi-square drift test: current counts against reference proportions scaled to the
/// current total (`k_norm = n_current / n_reference`).
pub fn chi_square_counts(reference: &[u64], current: &[u64]) -> TestOutcome {
    let n_reference: u64 = reference.iter().sum();
    let n_current: u64 = current.iter().sum();
    let k_norm = n_current as f64 / n_reference as f64;
    let expected: Vec<f64> = reference.iter().map(|&c| c as f64 * k_norm).collect();
    let observed: Vec<f64> = current.iter().map(|&c| c as f64).collect();
    chi_square(&observed, &expected)
}

/// Standard normal CDF as Cephes' `ndtr` computes it.
pub fn normal_cdf(value: f64) -> f64 {
    let x = value * std::f64::consts::FRAC_1_SQRT_2;
    let z = x.abs();
    if z < std::f64::consts::FRAC_1_SQRT_2 {
        0.5 + 0.5 * erf(x)
    } else {
        let y = 0.5 * erfc(z);
        if x > 0.0 {
            1.0 - y
        } else {
            y
        }
    }
}

/// Two-sided Z-test for the difference of two proportions (`ones` out of `n` in each sample), with
/// the pooled proportion, as Evidently's `z` test.
pub fn z_test_proportions(
    ones_reference: u64,
    n_reference: u64,
    ones_current: u64,
    n_current: u64,
) -> TestOutcome {
    let (n1, n2) = (n_reference as f64, n_current as f64);
    let p1 = ones_reference as f64 / n1;
    let p2 = ones_current as f64 / n2;
    let pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
    let z = (p1 - p2) / (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    TestOutcome {
        statistic: z,
        p_value: Some(2.0 * (1.0 - normal_cdf(z.abs()))),
    }
}

// ---------------------------------------------------------------------------------------------
// Wasserstein

/// `scipy.stats.wasserstein_distance` (first Wasserstein distance between the empirical
/// distributions) of two sorted samples.
pub fn wasserstein(first: &[f64], second: &[f64]) -> f64 {
    if first.is_empty() || second.is_empty() {
        return f64::NAN;
    }
    let mut total = 0.0;
    walk_cdfs(first, second, |cdf1, cdf2, delta| {
        if delta.is_finite() {
            total += (cdf1 - cdf2).abs() * delta;
        }
    });
    total
}

/// Population standard deviation (`numpy.std`, ddof 0).
pub fn population_std(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    (squares / n).sqrt()
}

/// Evidently's normed Wasserstein distance: the distance over the reference's standard deviation
/// (at least 0.001).
pub fn wasserstein_normed(reference: &[f64], current: &[f64]) -> f64 {
    let norm = population_std(reference).max(0.001);
    wasserstein(reference, current) / norm
}

// ---------------------------------------------------------------------------------------------
// Bins and distances between binned distributions

/// Edges of NumPy's `histogram_bin_edges(values, bins="sturges")` for `count` values spanning
/// `[min, max]`; `integer` when NumPy would see an integer array (bins at least 1 wide).
pub fn sturges_edges(min: f64, max: f64, count: usize, integer: bool) -> Vec<f64> {
    let (first, last) = if min == max {
        (min - 0.5, max + 0.5)
    } else {
        (min, max)
    };
    let mut width = (max - min) / ((count as f64).log2() + 1.0);
    let bins = if width != 0.0 && count > 0 {
        if integer && width < 1.0 {
            width = 1.0;
        }
        ((last - first) / width).ceil().max(1.0) as usize
    } else {
        1
    };
    linspace(first, last, bins + 1)
}

/// `numpy.linspace(start, stop, count)` (endpoint included).
pub fn linspace(start: f64, stop: f64, count: usize) -> Vec<f64> {
    if count == 0 {
        return Vec::new();
    }
    if count == 1 {
        return vec![start];
    }
    let step = (stop - start) / (count - 1) as f64;
    let mut edges: Vec<f64> = (0..count).map(|i| i as f64 * step + start).collect();
    edges[count - 1] = stop;
    edges
}

/// Counts of a sorted sample in the bins `[e_i, e_{i+1})` (the last bin closed), as
/// `numpy.histogram(values, edges)`; values outside the edges are not counted.
pub fn histogram_sorted(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    if edges.len() < 2 {
        return Vec::new();
    }
    let below = |edge: f64| sorted.partition_point(|v| *v < edge);
    let mut counts = Vec::with_capacity(edges.len() - 1);
    let mut start = below(edges[0]);
    for (index, edge) in edges.iter().enumerate().skip(1) {
        let end = if index == edges.len() - 1 {
            sorted.partition_point(|v| *v <= *edge)
        } else {
            below(*edge)
        };
        counts.push((end.max(start) - start) as u64);
        start = end.max(start);
    }
    counts
}

/// Shares of each bin (`count / total`).
pub fn shares(counts: &[u64], total: u64) -> Vec<f64> {
    counts.iter().map(|&c| c as f64 / total as f64).collect()
}

/// Evidently's floor for empty bins: `min(non-zero share) / 10^6` when that minimum is at most
/// 0.0001, else 0.0001.
pub fn fill_zeroes(shares: &mut [f64]) {
    let min = shares
        .iter()
        .copied()
        .filter(|s| *s != 0.0)
        .fold(f64::INFINITY, f64::min);
    if !min.is_finite() {
        return;
    }
    let floor = if min <= 0.0001 { min / 1e6 } else { 0.0001 };
    for share in shares.iter_mut().filter(|s| **s == 0.0) {
        *share = floor;
    }
}

/// Population Stability Index of two share vectors (zero bins already floored).
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(r, c)| (r - c) * (r / c).ln())
        .sum()
}

/// `scipy.special.rel_entr`.
fn rel_entr(x: f64, y: f64) -> f64 {
    if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else if x == 0.0 && y >= 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

fn normalised(values: &[f64]) -> Vec<f64> {
    let total: f64 = values.iter().sum();
    values.iter().map(|v| v / total).collect()
}

/// Kullback–Leibler divergence D(reference || current) (`scipy.stats.entropy(p, q)`, natural log).
pub fn kl_divergence(reference: &[f64], current: &[f64]) -> f64 {
    let p = normalised(reference);
    let q = normalised(current);
    p.iter().zip(&q).map(|(a, b)| rel_entr(*a, *b)).sum()
}

/// Jensen–Shannon distance (`scipy.spatial.distance.jensenshannon`, natural log).
pub fn jensen_shannon(reference: &[f64], current: &[f64]) -> f64 {
    let p = normalised(reference);
    let q = normalised(current);
    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
    let left: f64 = p.iter().zip(&m).map(|(a, b)| rel_entr(*a, *b)).sum();
    let right: f64 = q.iter().zip(&m).map(|(a, b)| rel_entr(*a, *b)).sum();
    ((left + right) / 2.0).sqrt()
}

/// Hellinger distance between two share vectors over the same keys.
pub fn hellinger_shares(reference: &[f64], current: &[f64]) -> f64 {
    let affinity: f64 = reference
        .iter()
        .zip(current)
        .map(|(a, b)| (a * b).sqrt())
        .sum();
    (1.0 - affinity.clamp(0.0, 1.0)).sqrt()
}

/// Evidently's Hellinger distance for a numeric column: densities over Sturges' bins of the
/// distinct values of both samples (`distinct`, sorted), weighted by the mean bin width.
pub fn hellinger_numeric(
    reference: &[f64],
    current: &[f64],
    distinct: &[f64],
    integer: bool,
) -> f64 {
    let (Some(min), Some(max)) = (distinct.first(), distinct.last()) else {
        return f64::NAN;
    };
    let edges = sturges_edges(*min, *max, distinct.len(), integer);
    let density = |sample: &[f64]| -> Vec<f64> {
        let counts = histogram_sorted(sample, &edges);
        let total: u64 = counts.iter().sum();
        counts
            .iter()
            .zip(edges.windows(2))
            .map(|(c, w)| *c as f64 / (total as f64 * (w[1] - w[0])))
            .collect()
    };
    let h1 = density(reference);
    let h2 = density(current);
    let first = edges[0];
    let last = edges[edges.len() - 1];
    let width = (last - first) / (edges.len() - 1) as f64;
    let affinity: f64 = h1
        .iter()
        .zip(&h2)
        .map(|(a, b)| (a * b).sqrt() * width)
        .sum();
    (1.0 - affinity.clamp(0.0, 1.0)).sqrt()
}

/// Sorted distinct values of a sorted sample.
pub fn distinct_sorted(sorted: &[f64]) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::new();
    for &value in sorted {
        if out.last() != Some(&value) {
            out.push(value);
        }
    }
    out
}

/// Number of distinct values of a sorted sample.
pub fn count_distinct_sorted(sorted: &[f64]) -> usize {
    let mut count = 0;
    let mut last = f64::NAN;
    for &value in sorted {
        if value != last {
            count += 1;
            last = value;
        }
    }
    count
}

/// Number of distinct values in the union of two sorted samples.
pub fn count_distinct_union(first: &[f64], second: &[f64]) -> usize {
    let mut count = 0;
    walk_cdfs(first, second, |_, _, _| count += 1);
    count
}

/// Value counts of two sorted samples over the union of their values, in ascending order.
pub fn aligned_value_counts(first: &[f64], second: &[f64]) -> (Vec<f64>, Vec<u64>, Vec<u64>) {
    let (mut keys, mut counts1, mut counts2) = (Vec::new(), Vec::new(), Vec::new());
    let (mut i, mut j) = (0usize, 0usize);
    while i < first.len() || j < second.len() {
        let x = match (first.get(i), second.get(j)) {
            (Some(a), Some(b)) => a.min(*b),
            (Some(a), None) => *a,
            (None, Some(b)) => *b,
            (None, None) => break,
        };
        let start1 = i;
        while i < first.len() && first[i] == x {
            i += 1;
        }
        let start2 = j;
        while j < second.len() && second[j] == x {
            j += 1;
        }
        keys.push(x);
        counts1.push((i - start1) as u64);
        counts2.push((j - start2) as u64);
    }
    (keys, counts1, counts2)
}

// ---------------------------------------------------------------------------------------------
// Outliers

/// A quantile of a sorted sample with linear interpolation (NumPy's and pandas' default).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let position = q * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = (low + 1).min(sorted.len() - 1);
    let fraction = position - low as f64;
    sorted[low] + (sorted[high] - sorted[low]) * fraction
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A reproducible sample (sum of three uniforms from a 64-bit LCG), generated identically by the
    /// Python script that computed the expected values with SciPy 1.17 / NumPy 2.4.
    pub(crate) fn sample(seed: u64, n: usize, loc: f64, scale: f64) -> Vec<f64> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (0..n)
            .map(|_| {
                let mut sum = 0.0;
                for _ in 0..3 {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    sum += (x >> 11) as f64 / 9_007_199_254_740_992.0;
                }
                loc + scale * (sum - 1.5)
            })
            .collect()
    }

    pub(crate) fn sorted(mut values: Vec<f64>) -> Vec<f64> {
        values.sort_unstable_by(f64::total_cmp);
        values
    }

    /// `numpy.round(values * scale)`, optionally divided back by `scale`.
    pub(crate) fn rounded(values: Vec<f64>, scale: f64, divide: bool) -> Vec<f64> {
        values
            .into_iter()
            .map(|v| round_half_even(v * scale) / if divide { scale } else { 1.0 })
            .collect()
    }

    #[track_caller]
    pub(crate) fn check(actual: f64, expected: f64, relative: f64) {
        let error = if expected == 0.0 {
            actual.abs()
        } else {
            ((actual - expected) / expected).abs()
        };
        assert!(
            error <= relative,
            "{actual} vs {expected} (relative error {error})"
        );
    }

    #[test]
    fn ks_matches_scipy() {
        // (reference, current, statistic, p-value) from scipy.stats.ks_2samp.
        let cases: Vec<(Vec<f64>, Vec<f64>, f64, f64)> = vec![
            (
                sample(1, 200, 0.0, 1.0),
                sample(2, 200, 0.3, 1.0),
                0.18,
                0.0030098470801667434,
            ),
            (
                sample(3, 300, 0.0, 1.0),
                sample(4, 450, 0.1, 1.2),
                0.10222222222222223,
                0.0442359006553222,
            ),
            (
                sample(5, 1000, 0.0, 1.0),
                sample(6, 800, 0.0, 1.0),
                0.032,
                0.7406894113333359,
            ),
            (
                rounded(sample(13, 500, 0.0, 1.0), 2.0, true),
                rounded(sample(14, 700, 0.2, 1.0), 2.0, true),
                0.21371428571428572,
                3.840483819521671e-12,
            ),
            (
                sample(7, 12000, 0.0, 1.0),
                sample(8, 15000, 0.02, 1.0),
                0.020199999999999996,
                0.008553297265877183,
            ),
            (
                sample(7, 12000, 0.0, 1.0),
                sample(8, 15000, 0.06, 1.0),
                0.046566666666666645,
                5.304375180940195e-13,
            ),
            (
                sample(15, 200000, 0.0, 1.0),
                sample(16, 150000, 0.004, 1.0),
                0.006651666666666667,
                0.0010117058362792435,
            ),
        ];
        for (reference, current, statistic, p_value) in cases {
            let outcome = ks_2samp(&sorted(reference), &sorted(current));
            check(outcome.statistic, statistic, 1e-12);
            check(outcome.p_value.unwrap(), p_value, 1e-6);
        }
    }

    #[test]
    fn kolmogorov_distribution_matches_scipy_kstwo() {
        let check_sf = |n: u64, x: f64, expected: f64, relative: f64| {
            check(kolmogorov_sf(n, x), expected, relative);
        };
        check_sf(500_000, 0.004, 2.2445978493851467e-07, 1e-7); // one-sided sum (n x^2 >= 2.2)
        check_sf(500_000, 0.003, 0.00024632301239186754, 1e-7);
        check_sf(6667, 0.02, 0.009522631972687882, 1e-7);
        check_sf(500_000, 0.0015, 0.21034190155828947, 1e-7); // Pelz-Good
        check_sf(20_000, 0.01, 0.03638603905248727, 1e-7);
        // SciPy uses the Durbin matrix here; Pelz-Good agrees where p is near 1.
        check_sf(6000, 0.004, 0.999974921554165, 1e-6);
        check(smirnov_sf(6667, 0.02), 0.004761315986343941, 1e-7);
    }

    #[test]
    fn chi_square_and_z_match_scipy() {
        let outcome = chi_square_counts(&[100, 200, 300, 50], &[90, 230, 260, 70]);
        check(outcome.statistic, 18.833333333333332, 1e-12);
        check(outcome.p_value.unwrap(), 0.0002959719854870092, 1e-9);
        let outcome = chi_square_counts(&[60, 90], &[40, 80]);
        check(outcome.statistic, 2.2222222222222223, 1e-12);
        check(outcome.p_value.unwrap(), 0.13603712811414423, 1e-9);
        check(chi_square_sf(12.5, 7.0), 0.08526927515826925, 1e-10);
        // A value only in the current data: infinite statistic, p-value 0.
        let outcome = chi_square_counts(&[10, 0], &[5, 5]);
        assert_eq!(outcome.p_value, Some(0.0));
        let outcome = z_test_proportions(40, 100, 55, 120);
        check(outcome.statistic, -0.8697650418763532, 1e-12);
        check(outcome.p_value.unwrap(), 0.3844288193282097, 1e-9);
    }

    #[test]
    fn wasserstein_matches_scipy() {
        let reference = sorted(sample(9, 5000, 0.0, 1.0));
        let current = sorted(sample(10, 4000, 0.2, 1.1));
        check(
            wasserstein_normed(&reference, &current),
            0.41244081690017986,
            1e-10,
        );
        check(wasserstein(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]), 5.0, 1e-15);
    }

    #[test]
    fn bins_follow_numpy() {
        assert_eq!(sturges_edges(0.0, 1.0, 8, false), linspace(0.0, 1.0, 5));
        // Integer data: bins at least one unit wide.
        assert_eq!(sturges_edges(0.0, 3.0, 1000, true).len(), 4);
        assert_eq!(sturges_edges(2.0, 2.0, 10, false), vec![1.5, 2.5]);
        assert_eq!(
            histogram_sorted(&[0.0, 0.5, 1.0, 1.0, 2.0], &[0.0, 1.0, 2.0]),
            vec![2, 3]
        );
        let mut shares = vec![0.5, 0.0, 0.5];
        fill_zeroes(&mut shares);
        assert_eq!(shares, vec![0.5, 0.0001, 0.5]);
        let mut shares = vec![0.99995, 0.0, 0.00005];
        fill_zeroes(&mut shares);
        assert_eq!(shares[1], 0.00005 / 1e6);
    }

    #[test]
    fn distances_of_shares() {
        check(hellinger_shares(&[0.5, 0.5], &[0.5, 0.5]), 0.0, 1e-7);
        check(
            jensen_shannon(&[1.0, 0.0], &[0.0, 1.0]),
            std::f64::consts::LN_2.sqrt(),
            1e-15,
        );
        check(
            kl_divergence(&[0.5, 0.5], &[0.25, 0.75]),
            0.5 * (2.0f64).ln() + 0.5 * (2.0f64 / 3.0).ln(),
            1e-15,
        );
        check(
            psi(&[0.5, 0.5], &[0.25, 0.75]),
            0.25 * 2.0f64.ln() - 0.25 * (2.0f64 / 3.0).ln(),
            1e-15,
        );
    }

    #[test]
    fn quantiles_interpolate_linearly() {
        let values = [1.0, 2.0, 3.0, 4.0];
        check(quantile_sorted(&values, 0.25), 1.75, 1e-15);
        check(quantile_sorted(&values, 0.5), 2.5, 1e-15);
        check(quantile_sorted(&values, 1.0), 4.0, 1e-15);
    }
}
