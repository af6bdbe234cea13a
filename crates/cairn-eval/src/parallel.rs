//! An ordered parallel map on scoped threads (std only): the metrics' per-slice work and
//! `cairn eval --model`'s scoring batches both use it.

/// `work` over `items` on up to `threads` threads, results in the order of `items`. Items are
/// taken in order by whichever thread is free, so put the biggest first. A panic in `work` is
/// resumed on the caller's thread.
pub fn map<T: Sync, R: Send>(items: &[T], threads: usize, work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(work).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(index) else {
                            return done;
                        };
                        done.push((index, work(item)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

/// The cores this process may use (1 when unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_order_on_any_thread_count() {
        let items: Vec<u64> = (0..100).collect();
        for threads in [0, 1, 3, 16] {
            assert_eq!(
                super::map(&items, threads, |x| x * 2),
                (0..100).map(|x| x * 2).collect::<Vec<_>>()
            );
        }
        assert!(super::map(&[] as &[u8], 4, |x| *x).is_empty());
    }
}
