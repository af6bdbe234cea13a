//! Downsampling of metric series for charts: MinMaxLTTB.
//!
//! A chart a few hundred pixels wide cannot show a million points, but it must show their shape:
//! every spike and dip. The store preselects, per step bucket, the points holding the bucket's
//! minimum and maximum value (so no extreme is lost, whatever the series length); this module then
//! runs Largest-Triangle-Three-Buckets (Steinarsson, 2013) over those candidates down to the number of
//! points asked for. This is MinMaxLTTB (Van Der Donckt et al., 2023): LTTB's visual quality at the
//! cost of a min/max pass.

/// Indices of the points LTTB keeps out of `points` (x ascending), at most `threshold` of them;
/// the first and last point are always kept. Fewer points than `threshold` (or a threshold under 3)
/// keep everything.
pub fn lttb(points: &[(f64, f64)], threshold: usize) -> Vec<usize> {
    let len = points.len();
    if threshold >= len || threshold < 3 {
        return (0..len).collect();
    }
    let mut kept = Vec::with_capacity(threshold);
    kept.push(0);
    // The points between the first and the last, in threshold - 2 buckets.
    let every = (len - 2) as f64 / (threshold - 2) as f64;
    let mut previous = 0usize;
    for bucket in 0..threshold - 2 {
        let start = (bucket as f64 * every) as usize + 1;
        let end = (((bucket + 1) as f64 * every) as usize + 1).min(len - 1);
        // The average of the next bucket (the last point for the last bucket).
        let next_start = end;
        let next_end = (((bucket + 2) as f64 * every) as usize + 1).min(len);
        let (mut avg_x, mut avg_y) = (0.0, 0.0);
        let next_len = next_end.saturating_sub(next_start).max(1);
        for &(x, y) in &points[next_start..next_end.max(next_start + 1).min(len)] {
            avg_x += x;
            avg_y += finite(y);
        }
        avg_x /= next_len as f64;
        avg_y /= next_len as f64;
        let (ax, ay) = (points[previous].0, finite(points[previous].1));
        let mut best = start;
        let mut best_area = -1.0;
        for (index, &(x, y)) in points
            .iter()
            .enumerate()
            .take(end.max(start + 1))
            .skip(start)
        {
            let area = ((ax - avg_x) * (finite(y) - ay) - (ax - x) * (avg_y - ay)).abs();
            if area > best_area {
                best_area = area;
                best = index;
            }
        }
        kept.push(best);
        previous = best;
    }
    kept.push(len - 1);
    kept.dedup();
    kept
}

/// NaN and infinities weigh as 0 in the triangle areas (they are drawn as gaps or clamped).
fn finite(value: f64) -> f64 {
    if value.is_finite() {
        value
    } else {
        0.0
    }
}

/// Step buckets for the min/max preselection: `count` buckets over `[first, last]`, as
/// `(first, width)` where bucket `i` holds steps `first + i * width ..= first + (i + 1) * width - 1`.
pub fn step_buckets(first: i64, last: i64, count: u32) -> (i64, i64) {
    let span = i128::from(last) - i128::from(first) + 1;
    let count = i128::from(count.max(1));
    let width = ((span + count - 1) / count).max(1);
    (first, i64::try_from(width).unwrap_or(i64::MAX))
}

/// The inclusive `[low, high]` ranges of [`step_buckets`]' buckets over `[first, last]`, empty ones
/// past `last` left out; the last bucket ends at `last` (the width may have been clamped to i64).
pub fn bucket_bounds(first: i64, last: i64, count: u32) -> Vec<[i64; 2]> {
    let (origin, width) = step_buckets(first, last, count);
    (0..i128::from(count.max(1)))
        .map_while(|index| {
            let low = i128::from(origin) + index * i128::from(width);
            let high = if index + 1 == i128::from(count.max(1)) {
                i128::from(last)
            } else {
                (low + i128::from(width) - 1).min(i128::from(last))
            };
            (low <= i128::from(last)).then(|| {
                [
                    i64::try_from(low).unwrap_or(last),
                    i64::try_from(high).unwrap_or(last),
                ]
            })
        })
        .collect()
}

/// The bucket of `x` among [`step_buckets`]' `(origin, width)`.
pub fn bucket_of(x: i64, (origin, width): (i64, i64)) -> i128 {
    (i128::from(x) - i128::from(origin)) / i128::from(width.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_inputs_are_kept_whole() {
        let points: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, i as f64)).collect();
        assert_eq!(lttb(&points, 10), vec![0, 1, 2, 3, 4]);
        assert_eq!(lttb(&points, 2), vec![0, 1, 2, 3, 4]);
        assert!(lttb(&[], 10).is_empty());
    }

    #[test]
    fn keeps_first_last_and_the_spike() {
        let mut points: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, 0.0)).collect();
        points[437].1 = 100.0;
        points[801].1 = -50.0;
        let kept = lttb(&points, 20);
        assert!(kept.len() <= 20);
        assert_eq!(kept.first(), Some(&0));
        assert_eq!(kept.last(), Some(&999));
        assert!(kept.contains(&437), "{kept:?}");
        assert!(kept.contains(&801), "{kept:?}");
        assert!(kept.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn non_finite_values_do_not_break_it() {
        let points: Vec<(f64, f64)> = (0..100)
            .map(|i| (i as f64, if i % 10 == 0 { f64::NAN } else { i as f64 }))
            .collect();
        let kept = lttb(&points, 10);
        assert_eq!(kept.len(), 10);
    }

    #[test]
    fn bounds_cover_every_value_once() {
        let bounds = bucket_bounds(0, 999, 100);
        assert_eq!(bounds.len(), 100);
        assert_eq!(bounds[0], [0, 9]);
        assert_eq!(bounds[99], [990, 999]);
        let wide = bucket_bounds(i64::MIN, i64::MAX, 2);
        assert_eq!(wide.first().map(|b| b[0]), Some(i64::MIN));
        assert_eq!(wide.last().map(|b| b[1]), Some(i64::MAX));
        assert!(wide.windows(2).all(|pair| pair[0][1] < pair[1][0]));
        assert_eq!(bucket_bounds(5, 5, 10), vec![[5, 5]]);
        assert_eq!(bucket_of(995, step_buckets(0, 999, 100)), 99);
    }

    #[test]
    fn buckets_cover_the_range() {
        assert_eq!(step_buckets(0, 999, 100), (0, 10));
        assert_eq!(step_buckets(0, 9, 100), (0, 1));
        assert_eq!(step_buckets(5, 5, 1), (5, 1));
        let (_, width) = step_buckets(i64::MIN, i64::MAX, 2);
        assert!(width > 0);
    }
}
