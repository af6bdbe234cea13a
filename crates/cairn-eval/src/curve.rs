//! ROC and precision-recall curves of one binary problem, from the scores of the positive rows and
//! of the negative rows, each given as lists sorted in descending order (one list per slice cell;
//! the lists are merged, never copied).
//!
//! Definitions are scikit-learn's: thresholds are the distinct scores, ties form one step.
//! - ROC AUC = `roc_auc_score`: the trapezoid under (FPR, TPR) over distinct thresholds, computed
//!   here exactly in integers (sum of dFP x (TP_i + TP_{i-1})) and divided once by 2 x P x N.
//! - PR AUC = `average_precision_score`: sum over thresholds of (R_i - R_{i-1}) x P_i.

use std::cmp::Ordering;
use std::collections::binary_heap::PeekMut;
use std::collections::BinaryHeap;

use serde::Serialize;

use crate::sum::Sum;

/// Points kept for plots (the curves are downsampled by rows, endpoints always kept).
pub const CURVE_POINTS: usize = 200;

/// A point of a curve, for plots and the JSON report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BinaryCurve {
    pub positives: u64,
    pub negatives: u64,
    /// `None` when the true labels hold one class only (scikit-learn warns and returns NaN).
    pub roc_auc: Option<f64>,
    /// `None` without positives.
    pub average_precision: Option<f64>,
    /// (FPR, TPR), starting at (0, 0).
    pub roc: Vec<Point>,
    /// (recall, precision), in order of decreasing threshold.
    pub precision_recall: Vec<Point>,
}

/// Sorts scores in the order the curves need (descending; scores are finite, `-0.0` normalised).
pub fn sort_descending(scores: &mut [f64]) {
    if scores.len() < RADIX_FROM || scores.iter().any(|s| s.is_sign_negative()) {
        scores.sort_unstable_by(|a, b| b.total_cmp(a));
        return;
    }
    radix_sort_descending(scores);
}

/// Lists at least this long are radix sorted.
const RADIX_FROM: usize = 1 << 14;

/// LSD radix sort of non-negative floats (whose bit patterns order as the values do), descending:
/// six passes of 11 bits over `!bits` (2,048 buckets stay in cache), skipping passes where every
/// key has the same digit. The keys are kept in the list itself (as the bits of an f64: copies
/// preserve them), so the only extra memory is one buffer as long as the list, 8 bytes per score.
fn radix_sort_descending(scores: &mut [f64]) {
    const BITS: usize = 11;
    const PASSES: usize = 64usize.div_ceil(BITS);
    const BUCKETS: usize = 1 << BITS;
    let mask = (BUCKETS - 1) as u64;
    let mut counts = vec![[0usize; BUCKETS]; PASSES];
    for score in scores.iter_mut() {
        let key = !score.to_bits();
        *score = f64::from_bits(key);
        for (pass, histogram) in counts.iter_mut().enumerate() {
            histogram[((key >> (pass * BITS)) & mask) as usize] += 1;
        }
    }
    let mut spare: Vec<f64> = vec![0.0; scores.len()];
    let mut in_spare = false;
    for (pass, histogram) in counts.iter_mut().enumerate() {
        if histogram.contains(&scores.len()) {
            continue;
        }
        let mut offset = 0;
        for count in histogram.iter_mut() {
            let here = *count;
            *count = offset;
            offset += here;
        }
        let shift = pass * BITS;
        let (from, to): (&[f64], &mut [f64]) = if in_spare {
            (&spare, scores)
        } else {
            (scores, &mut spare)
        };
        for key in from {
            let digit = ((key.to_bits() >> shift) & mask) as usize;
            to[histogram[digit]] = *key;
            histogram[digit] += 1;
        }
        in_spare = !in_spare;
    }
    if in_spare {
        scores.copy_from_slice(&spare);
    }
    for score in scores.iter_mut() {
        *score = f64::from_bits(!score.to_bits());
    }
}

#[derive(PartialEq)]
struct Head {
    value: f64,
    list: usize,
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value.total_cmp(&other.value)
    }
}

/// Walks the distinct scores of all lists from the highest down, calling `step(score, positives,
/// negatives)` with the rows at that score.
fn walk(positive: &[&[f64]], negative: &[&[f64]], mut step: impl FnMut(f64, u64, u64)) {
    if let ([positive], [negative]) = (positive, negative) {
        return walk_two(positive, negative, step);
    }
    let lists: Vec<(&[f64], bool)> = positive
        .iter()
        .map(|list| (*list, true))
        .chain(negative.iter().map(|list| (*list, false)))
        .filter(|(list, _)| !list.is_empty())
        .collect();
    let mut positions = vec![0usize; lists.len()];
    let mut heap: BinaryHeap<Head> = lists
        .iter()
        .enumerate()
        .map(|(list, (values, _))| Head {
            value: values[0],
            list,
        })
        .collect();
    // The top list's head is replaced in place (one sift down), not popped and pushed again.
    while let Some(value) = heap.peek().map(|head| head.value) {
        let (mut positives, mut negatives) = (0u64, 0u64);
        while let Some(mut head) = heap.peek_mut() {
            if head.value != value {
                break;
            }
            let (values, is_positive) = lists[head.list];
            let start = positions[head.list];
            let mut end = start;
            while end < values.len() && values[end] == value {
                end += 1;
            }
            positions[head.list] = end;
            let count = (end - start) as u64;
            if is_positive {
                positives += count;
            } else {
                negatives += count;
            }
            match values.get(end) {
                Some(next) => head.value = *next,
                None => {
                    PeekMut::pop(head);
                }
            }
        }
        step(value, positives, negatives);
    }
}

/// [`walk`] over one positive and one negative list: a plain two-way merge.
fn walk_two(positive: &[f64], negative: &[f64], mut step: impl FnMut(f64, u64, u64)) {
    let (mut p, mut n) = (0usize, 0usize);
    loop {
        let value = match (positive.get(p), negative.get(n)) {
            (Some(a), Some(b)) => a.max(*b),
            (Some(a), None) => *a,
            (None, Some(b)) => *b,
            (None, None) => return,
        };
        let (p_start, n_start) = (p, n);
        while p < positive.len() && positive[p] == value {
            p += 1;
        }
        while n < negative.len() && negative[n] == value {
            n += 1;
        }
        step(value, (p - p_start) as u64, (n - n_start) as u64);
    }
}

/// The curves and their areas over lists sorted by [`sort_descending`].
pub fn binary_curve(positive: &[&[f64]], negative: &[&[f64]]) -> BinaryCurve {
    let positives: u64 = positive.iter().map(|list| list.len() as u64).sum();
    let negatives: u64 = negative.iter().map(|list| list.len() as u64).sum();
    let total = positives + negatives;
    let every = (total / CURVE_POINTS as u64).max(1);
    let mut next_point = every;
    let mut roc = vec![Point { x: 0.0, y: 0.0 }];
    let mut precision_recall = Vec::new();
    let (mut true_positives, mut false_positives) = (0u64, 0u64);
    let mut twice_area: u128 = 0;
    let mut precision_sum = Sum::default();
    let fraction = |count: u64, of: u64| {
        if of == 0 {
            0.0
        } else {
            count as f64 / of as f64
        }
    };
    walk(positive, negative, |_, step_positives, step_negatives| {
        let previous_true = true_positives;
        true_positives += step_positives;
        false_positives += step_negatives;
        twice_area += u128::from(step_negatives) * u128::from(previous_true + true_positives);
        let seen = true_positives + false_positives;
        let precision = || true_positives as f64 / seen as f64;
        if step_positives > 0 {
            precision_sum.add(step_positives as f64 * precision());
        }
        if seen >= next_point || seen == total {
            let precision = precision();
            next_point = seen + every;
            roc.push(Point {
                x: fraction(false_positives, negatives),
                y: fraction(true_positives, positives),
            });
            precision_recall.push(Point {
                x: fraction(true_positives, positives),
                y: precision,
            });
        }
    });
    let roc_auc = (positives > 0 && negatives > 0)
        .then(|| twice_area as f64 / (2.0 * positives as f64 * negatives as f64));
    let average_precision = (positives > 0).then(|| precision_sum.value() / positives as f64);
    BinaryCurve {
        positives,
        negatives,
        roc_auc,
        average_precision,
        roc,
        precision_recall,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(scores: &[(f64, bool)]) -> BinaryCurve {
        let mut positive: Vec<f64> = scores.iter().filter(|s| s.1).map(|s| s.0).collect();
        let mut negative: Vec<f64> = scores.iter().filter(|s| !s.1).map(|s| s.0).collect();
        sort_descending(&mut positive);
        sort_descending(&mut negative);
        binary_curve(&[&positive], &[&negative])
    }

    #[test]
    fn matches_scikit_learn_on_hand_checked_cases() {
        // roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.75;
        // average_precision_score(...) = 0.8333333333333333.
        let result = curve(&[(0.1, false), (0.4, false), (0.35, true), (0.8, true)]);
        assert_eq!(result.roc_auc, Some(0.75));
        assert!((result.average_precision.unwrap_or(0.0) - 0.8333333333333333).abs() < 1e-15);
        // Ties: roc_auc_score([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.9]) = 0.75 (one tied step is a
        // diagonal); average_precision_score(...) = 0.5 x 1 + 0.5 x 2/4 = 0.75.
        let tied = curve(&[(0.5, false), (0.5, true), (0.5, false), (0.9, true)]);
        assert_eq!(tied.roc_auc, Some(0.75));
        assert_eq!(tied.average_precision, Some(0.75));
        assert_eq!(tied.roc.first(), Some(&Point { x: 0.0, y: 0.0 }));
        assert_eq!(tied.roc.last(), Some(&Point { x: 1.0, y: 1.0 }));
    }

    #[test]
    fn the_radix_sort_orders_as_the_comparison_sort() {
        let mut state: u64 = 42;
        let mut scores: Vec<f64> = (0..100_000)
            .map(|n| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                match n % 4 {
                    0 => (state >> 11) as f64 / (1u64 << 53) as f64,
                    1 => ((state >> 40) % 100) as f64 / 100.0,
                    2 => 1.0,
                    _ => 0.0,
                }
            })
            .collect();
        let mut expected = scores.clone();
        expected.sort_unstable_by(|a, b| b.total_cmp(a));
        sort_descending(&mut scores);
        assert_eq!(scores, expected);
    }

    #[test]
    fn one_class_has_no_roc_auc() {
        let result = curve(&[(0.2, true), (0.7, true)]);
        assert_eq!(result.roc_auc, None);
        assert_eq!(result.average_precision, Some(1.0));
        let negatives_only = curve(&[(0.2, false)]);
        assert_eq!(negatives_only.average_precision, None);
    }

    #[test]
    fn merged_lists_give_the_curve_of_their_union() {
        let rows: Vec<(f64, bool)> = (0..1000u64)
            .map(|n| {
                let score = ((n * 7919) % 101) as f64 / 100.0;
                (score, (n * 31) % 7 < 3)
            })
            .collect();
        let whole = curve(&rows);
        let mut lists: Vec<(Vec<f64>, Vec<f64>)> = vec![Default::default(); 3];
        for (n, (score, positive)) in rows.iter().enumerate() {
            let cell = &mut lists[n % 3];
            if *positive {
                cell.0.push(*score);
            } else {
                cell.1.push(*score);
            }
        }
        for (positive, negative) in &mut lists {
            sort_descending(positive);
            sort_descending(negative);
        }
        let positive: Vec<&[f64]> = lists.iter().map(|cell| cell.0.as_slice()).collect();
        let negative: Vec<&[f64]> = lists.iter().map(|cell| cell.1.as_slice()).collect();
        assert_eq!(binary_curve(&positive, &negative), whole);
        // The heap merge (three lists a side) and the two-way merge (one) agree.
        let mut all_positive: Vec<f64> = positive.concat();
        let mut all_negative: Vec<f64> = negative.concat();
        sort_descending(&mut all_positive);
        sort_descending(&mut all_negative);
        let two_way = binary_curve(&[&all_positive], &[&all_negative]);
        assert_eq!(two_way, whole);
        assert_eq!(binary_curve(&[&all_positive, &[]], &[&all_negative]), whole);
    }
}
