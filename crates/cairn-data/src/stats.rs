//! Descriptive statistics shared by the expectations (pure).

/// Mean and sample standard deviation (ddof = 1, as pandas), by Welford's method. NaN when undefined.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let mut moments = Moments::default();
    for value in values {
        moments.push(*value);
    }
    (moments.mean(), moments.std())
}

/// Streaming count, mean and sum of squared deviations (Welford), plus the plain sum.
#[derive(Debug, Clone, Copy, Default)]
pub struct Moments {
    pub count: u64,
    mean: f64,
    m2: f64,
    pub sum: f64,
    /// Kahan compensation of `sum`.
    compensation: f64,
}

impl Moments {
    pub fn push(&mut self, value: f64) {
        self.count += 1;
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (value - self.mean);
        let y = value - self.compensation;
        let t = self.sum + y;
        self.compensation = (t - self.sum) - y;
        self.sum = t;
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.sum / self.count as f64
        }
    }

    /// Sample variance (ddof = 1).
    pub fn variance(&self) -> f64 {
        if self.count < 2 {
            f64::NAN
        } else {
            self.m2 / (self.count - 1) as f64
        }
    }

    pub fn std(&self) -> f64 {
        self.variance().sqrt()
    }
}

/// Where quantile `q` of `n` sorted values lies for linear interpolation (numpy's default): the two
/// ranks around it and the fraction between them.
pub fn linear_position(n: usize, q: f64) -> (usize, usize, f64) {
    let position = q.clamp(0.0, 1.0) * (n.max(1) - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    (low, high, position - low as f64)
}

/// Quantile `q` of `n` sorted values by linear interpolation, reading values by rank with `at`
/// (which is only asked for the ranks [`linear_position`] names). NaN when empty.
pub fn quantile_linear_by(n: usize, q: f64, at: impl Fn(usize) -> f64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    let (low, high, fraction) = linear_position(n, q);
    if low == high {
        return at(low);
    }
    at(low) + (at(high) - at(low)) * fraction
}

/// Quantile of sorted values with linear interpolation (numpy's default). NaN when empty.
pub fn quantile_linear(sorted: &[f64], q: f64) -> f64 {
    quantile_linear_by(sorted.len(), q, |rank| sorted[rank])
}

/// The rank numpy's `nearest` method picks for quantile `q` of `n` sorted values: q·(n−1) rounded
/// half to even.
pub fn nearest_rank(n: usize, q: f64) -> usize {
    let position = q.clamp(0.0, 1.0) * (n.max(1) - 1) as f64;
    (position.round_ties_even() as usize).min(n.max(1) - 1)
}

/// Quantile of sorted values, `nearest` method (numpy: the index q·(n−1) rounded half to even), as
/// Great Expectations' pandas engine computes `expect_column_quantile_values_to_be_between`.
pub fn quantile_nearest(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[nearest_rank(sorted.len(), q)]
}

/// The median (mean of the two middle values for an even count). NaN when empty.
pub fn median(sorted: &[f64]) -> f64 {
    quantile_linear(sorted, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_match_pandas() {
        let (mean, std) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(mean, 2.5);
        assert!((std - 1.2909944487358056).abs() < 1e-15);
        assert!(mean_std(&[5.0]).1.is_nan());
    }

    #[test]
    fn quantiles() {
        let sorted = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_linear(&sorted, 0.5), 2.5);
        assert_eq!(quantile_linear(&sorted, 0.25), 1.75);
        // numpy.quantile([1,2,3,4], [0.5, 0.25, 0.9], method="nearest") == [3, 2, 4]
        assert_eq!(quantile_nearest(&sorted, 0.5), 3.0);
        assert_eq!(quantile_nearest(&sorted, 0.25), 2.0);
        assert_eq!(quantile_nearest(&sorted, 0.9), 4.0);
        assert_eq!(median(&[1.0, 2.0, 3.0]), 2.0);
    }
}
