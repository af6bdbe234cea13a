//! Compensated summation (Neumaier), so sums over tens of millions of rows stay within a few ulps
//! of the exact value whatever the order (NumPy's pairwise sums are within a few ulps too; the
//! 1e-9 agreement with scikit-learn does not depend on summation order).

#[derive(Debug, Clone, Copy, Default)]
pub struct Sum {
    sum: f64,
    compensation: f64,
}

impl Sum {
    #[inline]
    pub fn add(&mut self, value: f64) {
        let total = self.sum + value;
        if self.sum.abs() >= value.abs() {
            self.compensation += (self.sum - total) + value;
        } else {
            self.compensation += (value - total) + self.sum;
        }
        self.sum = total;
    }

    pub fn merge(&mut self, other: &Sum) {
        self.add(other.sum);
        self.add(other.compensation);
    }

    pub fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

#[cfg(test)]
mod tests {
    use super::Sum;

    #[test]
    fn compensates_what_a_plain_sum_loses() {
        let mut sum = Sum::default();
        let mut plain = 0.0;
        for value in [1.0, 1e100, 1.0, -1e100] {
            sum.add(value);
            plain += value;
        }
        assert_eq!(sum.value(), 2.0);
        assert_eq!(plain, 0.0);
        let mut tenths = Sum::default();
        for _ in 0..10 {
            tenths.add(0.1);
        }
        assert_eq!(tenths.value(), 1.0);
        let mut merged = Sum::default();
        merged.add(0.5);
        merged.merge(&tenths);
        assert_eq!(merged.value(), 1.5);
    }
}
