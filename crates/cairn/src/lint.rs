//! `cairn lint`: checks an existing store against the naming conventions of a policy and lists the
//! offenders (exit code 1 when there is any). Reads the store directly; the server may keep running.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use cairn_artifacts::{ArtifactStore, ObjectArtifactStore};
use cairn_core::artifact_path::ArtifactPath;
use cairn_core::entities::{Page, ViewType};
use cairn_core::governance::{NamedThing, NamingPolicy, PolicyFile};
use cairn_core::search::{parse_filter, SearchKind};
use cairn_store::{MetadataStore, PageRequest, Search, SearchLoggedModels, SearchRuns};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::client::block_on;

#[derive(Debug, Args)]
pub struct LintArgs {
    /// The metadata store to check (as for `cairn server`) [default: sqlite:///cairn-data/cairn.db]
    #[arg(long, env = "CAIRN_BACKEND_STORE_URI")]
    backend_store_uri: Option<String>,

    /// The policy whose naming rules apply [default: the policy in force in the store]
    #[arg(long, env = "CAIRN_POLICY_FILE")]
    policy_file: Option<PathBuf>,

    /// Also check artifact paths, walking the run artifacts in this artifact store.
    #[arg(long)]
    artifacts_destination: Option<String>,

    /// Print offenders as JSON lines.
    #[arg(long)]
    json: bool,
}

/// One name that breaks its rule, and where it was found.
struct Offense {
    location: String,
    message: String,
    thing: NamedThing,
    value: String,
}

struct Linter {
    naming: NamingPolicy,
    offenses: Vec<Offense>,
    checked: u64,
}

impl Linter {
    fn check(&mut self, thing: NamedThing, value: &str, location: impl FnOnce() -> String) {
        self.checked += 1;
        if let Err(violation) = self.naming.check(thing, value) {
            self.offenses.push(Offense {
                location: location(),
                message: violation.to_string(),
                thing,
                value: value.to_owned(),
            });
        }
    }
}

const PAGE: u64 = 1000;

fn page_at(offset: u64) -> PageRequest {
    PageRequest {
        max_results: PAGE,
        offset,
    }
}

fn all(kind: SearchKind, offset: u64) -> anyhow::Result<Search> {
    Ok(Search {
        filter: parse_filter(kind, "")?,
        order_by: Vec::new(),
        page: page_at(offset),
    })
}

/// Every item of a paged search: `fetch(offset)` returns one page.
async fn every<T, F, Fut>(mut fetch: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Page<T>>>,
{
    let mut items = Vec::new();
    loop {
        let page = fetch(items.len() as u64).await?;
        let done = page.next_page_token.is_none() || page.items.is_empty();
        items.extend(page.items);
        if done {
            return Ok(items);
        }
    }
}

/// Whether the lint found nothing (the exit code).
pub fn run(args: LintArgs) -> anyhow::Result<bool> {
    let mut clean = false;
    block_on(async {
        let uri = args
            .backend_store_uri
            .clone()
            .unwrap_or_else(|| "sqlite:///cairn-data/cairn.db".to_owned());
        let store = cairn_store::open(&uri, cairn_store::StoreOptions::default())
            .await
            .with_context(|| {
                format!(
                    "opening the metadata store at {}",
                    cairn_store::display_uri(&uri)
                )
            })?;
        let policy = match &args.policy_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                PolicyFile::from_yaml(&text)
                    .with_context(|| format!("invalid policy file {}", path.display()))?
            }
            None => match store.current_policy().await? {
                Some(revision) => PolicyFile::from_json(&revision.text).with_context(|| {
                    format!(
                        "the stored policy revision {} is unreadable",
                        revision.revision
                    )
                })?,
                None => PolicyFile::from_yaml("version: 1")?,
            },
        };
        let artifacts = match &args.artifacts_destination {
            Some(destination) => Some(
                ObjectArtifactStore::open(destination)
                    .with_context(|| format!("opening the artifact store at {destination}"))?,
            ),
            None => None,
        };
        let mut linter = Linter {
            naming: policy.naming.clone(),
            offenses: Vec::new(),
            checked: 0,
        };
        lint_store(store.as_ref(), artifacts.as_ref(), &mut linter).await?;
        store.close().await;

        let mut out = std::io::stdout().lock();
        for offense in &linter.offenses {
            if args.json {
                let line = json!({
                    "location": offense.location,
                    "kind": offense.thing.field_name(),
                    "value": offense.value,
                    "message": offense.message,
                });
                writeln!(out, "{line}")?;
            } else {
                writeln!(out, "{}: {}", offense.location, offense.message)?;
            }
        }
        if !args.json {
            writeln!(
                out,
                "{} name(s) checked, {} offender(s)",
                linter.checked,
                linter.offenses.len()
            )?;
        }
        clean = linter.offenses.is_empty();
        Ok(())
    })?;
    Ok(clean)
}

async fn lint_store(
    store: &dyn MetadataStore,
    artifacts: Option<&ObjectArtifactStore>,
    linter: &mut Linter,
) -> anyhow::Result<()> {
    let experiments = every(|offset| async move {
        Ok(store
            .search_experiments(ViewType::All, all(SearchKind::Experiments, offset)?)
            .await?)
    })
    .await?;
    let progress = ProgressBar::new(experiments.len() as u64).with_style(
        ProgressStyle::with_template("{spinner} experiments {pos}/{len} {wide_bar} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut runs_checked = 0u64;
    for experiment in &experiments {
        let where_experiment = format!(
            "experiment {} ('{}')",
            experiment.experiment_id, experiment.name
        );
        linter.check(NamedThing::ExperimentName, &experiment.name, || {
            where_experiment.clone()
        });
        for tag in &experiment.tags {
            linter.check(NamedThing::TagKey, &tag.key, || {
                format!("{where_experiment} tag")
            });
        }
        let experiment_id = &experiment.experiment_id;
        let runs = every(|offset| async move {
            Ok(store
                .search_runs(SearchRuns {
                    experiment_ids: vec![experiment_id.clone()],
                    filter: parse_filter(SearchKind::Runs, "")?,
                    view_type: ViewType::All,
                    order_by: Vec::new(),
                    page: page_at(offset),
                })
                .await?)
        })
        .await?;
        for run in &runs {
            let where_run = format!("run {} ('{}')", run.info.run_id, run.info.run_name);
            linter.check(NamedThing::RunName, &run.info.run_name, || {
                where_run.clone()
            });
            for tag in &run.data.tags {
                linter.check(NamedThing::TagKey, &tag.key, || format!("{where_run} tag"));
            }
            for metric in &run.data.metrics {
                linter.check(NamedThing::MetricKey, &metric.key, || {
                    format!("{where_run} metric")
                });
            }
            for param in &run.data.params {
                linter.check(NamedThing::ParamKey, &param.key, || {
                    format!("{where_run} param")
                });
            }
            if let Some(artifacts) = artifacts {
                lint_artifacts(artifacts, &run.info.artifact_uri, &where_run, linter).await?;
            }
        }
        runs_checked += runs.len() as u64;
        progress.set_message(format!("{runs_checked} runs"));
        if let Some(artifacts) = artifacts {
            // MLflow 3 keeps a logged model's files under the model, not the run.
            let models = every(|offset| async move {
                Ok(store
                    .search_logged_models(SearchLoggedModels {
                        experiment_ids: vec![experiment_id.clone()],
                        filter: parse_filter(SearchKind::LoggedModels, "")?,
                        order_by: Vec::new(),
                        page: page_at(offset),
                    })
                    .await?)
            })
            .await?;
            for model in &models {
                let where_model = format!("logged model {} ('{}')", model.model_id, model.name);
                lint_artifacts(artifacts, &model.artifact_uri, &where_model, linter).await?;
            }
        }
        progress.inc(1);
    }
    progress.finish_and_clear();

    let models = every(|offset| async move {
        Ok(store
            .search_registered_models(all(SearchKind::RegisteredModels, offset)?)
            .await?)
    })
    .await?;
    for model in &models {
        let where_model = format!("registered model '{}'", model.name);
        linter.check(NamedThing::RegisteredModelName, &model.name, || {
            where_model.clone()
        });
        for tag in &model.tags {
            linter.check(NamedThing::TagKey, &tag.key, || {
                format!("{where_model} tag")
            });
        }
    }
    let versions = every(|offset| async move {
        Ok(store
            .search_model_versions(all(SearchKind::ModelVersions, offset)?)
            .await?)
    })
    .await?;
    for version in &versions {
        for tag in &version.tags {
            linter.check(NamedThing::TagKey, &tag.key, || {
                format!("model '{}' version {} tag", version.name, version.version)
            });
        }
    }
    Ok(())
}

/// Checks every file path under a run's or logged model's artifact root (paths relative to it).
async fn lint_artifacts(
    artifacts: &ObjectArtifactStore,
    artifact_uri: &str,
    owner: &str,
    linter: &mut Linter,
) -> anyhow::Result<()> {
    let Some(root) = artifact_uri.strip_prefix("mlflow-artifacts:/") else {
        return Ok(());
    };
    let Ok(root) = ArtifactPath::parse(root) else {
        return Ok(());
    };
    let mut pending = vec![(root.clone(), String::new())];
    while let Some((directory, relative)) = pending.pop() {
        let Some(entries) = artifacts.list(&directory).await? else {
            continue;
        };
        for entry in entries {
            let Ok(child) = ArtifactPath::parse(&entry.path) else {
                continue;
            };
            let child_relative = if relative.is_empty() {
                entry.path.clone()
            } else {
                format!("{relative}/{}", entry.path)
            };
            if entry.is_dir {
                pending.push((directory.join(&child), child_relative));
            } else {
                linter.check(NamedThing::ArtifactPath, &child_relative, || {
                    format!("{owner} artifact")
                });
            }
        }
    }
    Ok(())
}
