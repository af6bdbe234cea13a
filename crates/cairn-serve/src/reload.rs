//! Hot reload: a model served from `models:/name@alias` follows its alias. A watcher per such model
//! asks the registry every interval which version the alias names; when it names another one, the
//! watcher downloads and loads that version in the background and then swaps it in
//! ([`ServedModel::replace`](crate::http::ServedModel::replace)). Requests never wait on a load: one
//! running keeps the version it started with, the next one gets the new version.
//!
//! A version that fails to download or load leaves the old one serving; it is counted, logged and
//! tried again on the next poll (one try per interval, never a tight loop). An unreachable registry
//! is logged and asked again on the next poll; serving never stops.
//!
//! [`Tracker`] holds the decision (pure, tested without HTTP); [`watch`] is the loop around it.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use crate::http::ServeState;
use crate::model::LoadedModel;
use crate::resolve::Tracking;

/// What a poll does after the registry answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The alias names the version serving: nothing to do.
    Keep,
    /// The alias names this other version: load it and switch.
    Load(String),
}

/// What a watcher knows between polls: the version serving and the one failing to load, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    serving: String,
    /// The last version that failed to load, and how many polls in a row it failed on.
    failing: Option<(String, u32)>,
}

impl Tracker {
    pub fn new(serving: impl Into<String>) -> Tracker {
        Tracker {
            serving: serving.into(),
            failing: None,
        }
    }

    pub fn serving(&self) -> &str {
        &self.serving
    }

    /// The registry says the alias names `version` now.
    pub fn decide(&mut self, version: &str) -> Decision {
        if version == self.serving {
            // Moved back (or never moved): a version that failed before no longer matters.
            self.failing = None;
            return Decision::Keep;
        }
        Decision::Load(version.to_owned())
    }

    /// `version` loaded and serves from now on.
    pub fn loaded(&mut self, version: &str) {
        self.serving = version.to_owned();
        self.failing = None;
    }

    /// `version` failed to download or load; returns how many polls in a row it failed on.
    pub fn failed(&mut self, version: &str) -> u32 {
        let attempts = match &self.failing {
            Some((failing, attempts)) if failing == version => attempts + 1,
            _ => 1,
        };
        self.failing = Some((version.to_owned(), attempts));
        attempts
    }
}

/// One model whose alias is watched.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The name it is served under (`/v2/models/NAME`).
    pub name: String,
    /// The registered model and alias of its `models:/name@alias` URI.
    pub registered_name: String,
    pub alias: String,
    /// Time between polls (more than zero).
    pub interval: Duration,
    /// ONNX Runtime sessions for a newly loaded version.
    pub sessions: usize,
}

/// Polls the registry for `watch`'s alias until the task is dropped or aborted.
pub async fn watch(
    state: Arc<ServeState>,
    tracking: Tracking,
    environment: ort::environment::Environment,
    watch: Watch,
) {
    let Some(served) = state.served(&watch.name) else {
        tracing::error!(model = %watch.name, "not served here: its alias is not watched");
        return;
    };
    let mut tracker = Tracker::new(served.current().version.clone());
    state.metrics.watching(&watch.name);
    let mut ticker = tokio::time::interval(watch.interval);
    // A slow load or registry delays the next poll; missed polls are not made up in a burst.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate: the version just loaded is current
    loop {
        ticker.tick().await;
        poll(&state, &tracking, &environment, &watch, &mut tracker).await;
    }
}

/// One poll: ask the registry, and when the alias moved, load the version it names and switch.
async fn poll(
    state: &ServeState,
    tracking: &Tracking,
    environment: &ort::environment::Environment,
    watch: &Watch,
    tracker: &mut Tracker,
) {
    let name = &watch.name;
    let named = match tracking
        .alias_version(&watch.registered_name, &watch.alias)
        .await
    {
        Ok(version) => version,
        Err(error) => {
            state.metrics.reload_check_failed(name);
            tracing::warn!(
                model = %name,
                alias = %watch.alias,
                serving = %tracker.serving(),
                %error,
                "cannot ask the registry which version the alias names; still serving, asking again next poll"
            );
            return;
        }
    };
    let Decision::Load(version) = tracker.decide(&named) else {
        return;
    };
    tracing::info!(model = %name, alias = %watch.alias, from = %tracker.serving(), to = %version, "alias moved: loading the new version");
    let loaded = async {
        let local = tracking
            .fetch_version(&watch.registered_name, &version)
            .await?;
        LoadedModel::load_local(environment, name, local, watch.sessions).await
    }
    .await;
    match loaded {
        Ok(model) => {
            let Some(served) = state.served(name) else {
                return;
            };
            let files = model
                .download_path()
                .map(|path| path.display().to_string())
                .unwrap_or_default();
            let previous = served.replace(Arc::new(model));
            tracker.loaded(&version);
            state.metrics.reloaded(name);
            tracing::info!(model = %name, from = %previous.version, to = %version, %files, "switched to the new version");
            // Freed here, or by the last request still holding it.
            drop(previous);
        }
        Err(error) => {
            let attempts = tracker.failed(&version);
            state.metrics.reload_failed(name);
            tracing::error!(
                model = %name,
                version = %version,
                serving = %tracker.serving(),
                attempts,
                %error,
                "cannot load the version the alias names; still serving the old one, trying again next poll"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs registry answers and load outcomes through a tracker; each step is
    /// (the version the alias names, whether a load of it succeeds, the expected decision,
    /// the version serving afterwards, the failure count afterwards).
    fn check(start: &str, steps: &[(&str, bool, Decision, &str, u32)]) {
        let mut tracker = Tracker::new(start);
        for (index, (named, loads, expected, serving, failures)) in steps.iter().enumerate() {
            let decision = tracker.decide(named);
            assert_eq!(decision, *expected, "step {index}");
            if let Decision::Load(version) = &decision {
                if *loads {
                    tracker.loaded(version);
                } else {
                    tracker.failed(version);
                }
            }
            assert_eq!(tracker.serving(), *serving, "step {index}");
            let failing = tracker.failing.as_ref().map_or(0, |(_, count)| *count);
            assert_eq!(failing, *failures, "step {index}");
        }
    }

    fn load(version: &str) -> Decision {
        Decision::Load(version.to_owned())
    }

    #[test]
    fn keeps_the_version_while_the_alias_stays() {
        check(
            "1",
            &[
                ("1", true, Decision::Keep, "1", 0),
                ("1", true, Decision::Keep, "1", 0),
            ],
        );
    }

    #[test]
    fn loads_once_when_the_alias_moves() {
        check(
            "1",
            &[
                ("2", true, load("2"), "2", 0),
                ("2", true, Decision::Keep, "2", 0),
                // Rolled back: the old version is loaded again (its files were freed).
                ("1", true, load("1"), "1", 0),
            ],
        );
    }

    #[test]
    fn a_broken_version_is_tried_once_per_poll_and_the_old_one_keeps_serving() {
        check(
            "1",
            &[
                ("3", false, load("3"), "1", 1),
                ("3", false, load("3"), "1", 2),
                ("3", false, load("3"), "1", 3),
                // A newer, good version replaces the broken one.
                ("4", true, load("4"), "4", 0),
            ],
        );
    }

    #[test]
    fn moving_back_or_on_clears_a_failure() {
        check(
            "1",
            &[
                ("3", false, load("3"), "1", 1),
                ("1", true, Decision::Keep, "1", 0),
                ("3", false, load("3"), "1", 1),
                ("5", false, load("5"), "1", 1),
            ],
        );
    }

    #[test]
    fn counts_failures_per_version() {
        let mut tracker = Tracker::new("1");
        assert_eq!(tracker.failed("2"), 1);
        assert_eq!(tracker.failed("2"), 2);
        assert_eq!(tracker.failed("3"), 1);
        assert_eq!(tracker.failed("2"), 1);
    }
}
