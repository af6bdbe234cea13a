//! Walks the store from one node to build a lineage graph (`cairn_core::lineage`).

use std::collections::{BTreeMap, VecDeque};

use cairn_core::entities::{LoggedModel, ModelVersion, Run, ViewType};
use cairn_core::lineage::{Direction, Graph, Node, NodeKind};
use cairn_core::search::{parse_filter, SearchKind};
use cairn_core::{Error, ErrorKind, Result};
use cairn_store::{MetadataStore, PageRequest, Search, SearchRuns};

/// The tag MLflow puts on a child run.
const PARENT_RUN_TAG: &str = "mlflow.parentRunId";
const GIT_COMMIT_TAG: &str = "mlflow.source.git.commit";
const SOURCE_NAME_TAG: &str = "mlflow.source.name";
const GIT_REPO_TAG: &str = "mlflow.source.git.repoURL";
const GIT_BRANCH_TAG: &str = "mlflow.source.git.branch";
const DATASET_CONTEXT_TAG: &str = "mlflow.data.context";

/// The most nodes one answer holds; a walk stops adding beyond it.
pub const MAX_NODES: usize = 500;
/// The deepest walk allowed.
pub const MAX_DEPTH: u32 = 20;

/// Where a walk starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    ModelVersion { name: String, version: i64 },
    ModelAlias { name: String, alias: String },
    LoggedModel(String),
    Run(String),
}

impl Start {
    /// Parses `models:/name/3`, `models:/name@alias` or `models:/m-<id>` (a logged model).
    pub fn from_models_uri(uri: &str) -> Result<Start> {
        let rest = uri.strip_prefix("models:/").ok_or_else(|| {
            Error::invalid(format!(
                "Invalid model URI '{uri}': expected models:/<name>/<version>, models:/<name>@<alias> or models:/<model_id>"
            ))
        })?;
        if let Some((name, alias)) = rest.rsplit_once('@') {
            if !name.is_empty() && !alias.is_empty() {
                return Ok(Start::ModelAlias {
                    name: name.to_owned(),
                    alias: alias.to_owned(),
                });
            }
        }
        if let Some((name, version)) = rest.rsplit_once('/') {
            let version = version.parse::<i64>().map_err(|_| {
                Error::invalid(format!(
                    "Invalid model URI '{uri}': '{version}' is not a version number"
                ))
            })?;
            if !name.is_empty() {
                return Ok(Start::ModelVersion {
                    name: name.to_owned(),
                    version,
                });
            }
        }
        if rest.starts_with("m-") && !rest.contains('/') {
            return Ok(Start::LoggedModel(rest.to_owned()));
        }
        Err(Error::invalid(format!(
            "Invalid model URI '{uri}': expected models:/<name>/<version>, models:/<name>@<alias> or models:/<model_id>"
        )))
    }
}

#[derive(Debug, Clone)]
enum Ref {
    ModelVersion(String, i64),
    LoggedModel(String),
    Run(String),
    Leaf,
}

fn version_id(name: &str, version: i64) -> String {
    format!("model_version:{name}/{version}")
}

fn logged_model_id(model_id: &str) -> String {
    format!("logged_model:{model_id}")
}

fn run_node_id(run_id: &str) -> String {
    format!("run:{run_id}")
}

fn attributes(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect()
}

fn version_node(version: &ModelVersion) -> Node {
    Node {
        id: version_id(&version.name, version.version),
        kind: NodeKind::ModelVersion,
        label: format!("{} version {}", version.name, version.version),
        attributes: attributes(&[
            ("aliases", version.aliases.join(",")),
            ("stage", version.current_stage.as_str().to_owned()),
            ("source", version.source.clone()),
            ("run_id", version.run_id.clone().unwrap_or_default()),
        ]),
    }
}

fn logged_model_node(model: &LoggedModel) -> Node {
    Node {
        id: logged_model_id(&model.model_id),
        kind: NodeKind::LoggedModel,
        label: model.name.clone(),
        attributes: attributes(&[
            ("model_id", model.model_id.clone()),
            ("status", model.status.as_str().to_owned()),
        ]),
    }
}

fn run_node(run: &Run) -> Node {
    Node {
        id: run_node_id(&run.info.run_id),
        kind: NodeKind::Run,
        label: run.info.run_name.clone(),
        attributes: attributes(&[
            ("run_id", run.info.run_id.clone()),
            ("experiment_id", run.info.experiment_id.clone()),
            ("status", run.info.status.as_str().to_owned()),
            ("start_time", run.info.start_time.to_string()),
        ]),
    }
}

fn tag<'a>(run: &'a Run, key: &str) -> Option<&'a str> {
    run.data
        .tags
        .iter()
        .find(|tag| tag.key == key)
        .map(|tag| tag.value.as_str())
        .filter(|value| !value.is_empty())
}

fn missing_is_none<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.kind == ErrorKind::ResourceDoesNotExist => Ok(None),
        Err(error) => Err(error),
    }
}

fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "\\'"))
}

struct Walk<'a> {
    store: &'a dyn MetadataStore,
    graph: Graph,
    queue: VecDeque<(Ref, String, u32, bool)>,
    max_depth: u32,
}

impl Walk<'_> {
    /// Adds `node` and the edge between it and `from` (`upstream`: node → from), and queues it.
    fn link(
        &mut self,
        from: &str,
        node: Node,
        next: Ref,
        relation: &str,
        upstream: bool,
        depth: u32,
    ) {
        if self.graph.nodes.len() >= MAX_NODES && self.graph.node(&node.id).is_none() {
            return;
        }
        let id = node.id.clone();
        let is_new = self.graph.add_node(node);
        if upstream {
            self.graph.add_edge(&id, from, relation);
        } else {
            self.graph.add_edge(from, &id, relation);
        }
        if is_new && depth < self.max_depth {
            self.queue.push_back((next, id, depth, upstream));
        }
    }

    async fn expand(&mut self, item: Ref, id: String, depth: u32, upstream: bool) -> Result<()> {
        let depth = depth + 1;
        match item {
            Ref::ModelVersion(name, version) => {
                let Some(version) =
                    missing_is_none(self.store.get_model_version(&name, version).await)?
                else {
                    return Ok(());
                };
                self.expand_version(&id, &version, depth, upstream).await
            }
            Ref::LoggedModel(model_id) => {
                let Some(model) = missing_is_none(self.store.get_logged_model(&model_id).await)?
                else {
                    return Ok(());
                };
                self.expand_logged_model(&id, &model, depth, upstream).await
            }
            Ref::Run(run_id) => {
                let Some(run) = missing_is_none(self.store.get_run(&run_id).await)? else {
                    return Ok(());
                };
                self.expand_run(&id, &run, depth, upstream).await
            }
            Ref::Leaf => Ok(()),
        }
    }

    async fn expand_version(
        &mut self,
        id: &str,
        version: &ModelVersion,
        depth: u32,
        upstream: bool,
    ) -> Result<()> {
        if upstream {
            let mut model_run = None;
            if let Some(model_id) = version.model_id.as_deref().filter(|id| !id.is_empty()) {
                if let Some(model) = missing_is_none(self.store.get_logged_model(model_id).await)? {
                    model_run = model.source_run_id.clone();
                    let next = Ref::LoggedModel(model.model_id.clone());
                    self.link(
                        id,
                        logged_model_node(&model),
                        next,
                        "registered_as",
                        true,
                        depth,
                    );
                }
            }
            if let Some(run_id) = version.run_id.as_deref().filter(|id| !id.is_empty()) {
                if model_run.as_deref() != Some(run_id) {
                    if let Some(run) = missing_is_none(self.store.get_run(run_id).await)? {
                        let next = Ref::Run(run_id.to_owned());
                        self.link(id, run_node(&run), next, "registered_as", true, depth);
                    }
                }
            }
        } else if let Some(model_id) = version.model_id.as_deref().filter(|id| !id.is_empty()) {
            self.consumers(id, model_id, depth).await?;
        }
        Ok(())
    }

    async fn consumers(&mut self, id: &str, model_id: &str, depth: u32) -> Result<()> {
        for run_id in self.store.runs_consuming_model(model_id).await? {
            if let Some(run) = missing_is_none(self.store.get_run(&run_id).await)? {
                self.link(id, run_node(&run), Ref::Run(run_id), "input", false, depth);
            }
        }
        Ok(())
    }

    async fn expand_logged_model(
        &mut self,
        id: &str,
        model: &LoggedModel,
        depth: u32,
        upstream: bool,
    ) -> Result<()> {
        if upstream {
            if let Some(run_id) = model.source_run_id.as_deref().filter(|id| !id.is_empty()) {
                if let Some(run) = missing_is_none(self.store.get_run(run_id).await)? {
                    self.link(
                        id,
                        run_node(&run),
                        Ref::Run(run_id.to_owned()),
                        "produced",
                        true,
                        depth,
                    );
                }
            }
            return Ok(());
        }
        self.consumers(id, &model.model_id, depth).await
    }

    async fn expand_run(&mut self, id: &str, run: &Run, depth: u32, upstream: bool) -> Result<()> {
        if upstream {
            if let Some(parent_id) = tag(run, PARENT_RUN_TAG) {
                if let Some(parent) = missing_is_none(self.store.get_run(parent_id).await)? {
                    self.link(
                        id,
                        run_node(&parent),
                        Ref::Run(parent_id.to_owned()),
                        "parent_of",
                        true,
                        depth,
                    );
                }
            }
            for input in &run.inputs.dataset_inputs {
                let dataset = &input.dataset;
                let context = input
                    .tags
                    .iter()
                    .find(|tag| tag.key == DATASET_CONTEXT_TAG)
                    .map(|tag| tag.value.clone())
                    .unwrap_or_default();
                let node = Node {
                    id: format!("dataset:{}@{}", dataset.name, dataset.digest),
                    kind: NodeKind::Dataset,
                    label: dataset.name.clone(),
                    attributes: attributes(&[
                        ("digest", dataset.digest.clone()),
                        ("source_type", dataset.source_type.clone()),
                        ("source", dataset.source.clone()),
                        ("context", context),
                    ]),
                };
                self.link(id, node, Ref::Leaf, "input", true, depth);
            }
            let commit = tag(run, GIT_COMMIT_TAG);
            let source = tag(run, SOURCE_NAME_TAG);
            if commit.is_some() || source.is_some() {
                let key = commit.or(source).unwrap_or_default();
                let node = Node {
                    id: format!("code:{key}"),
                    kind: NodeKind::Code,
                    label: source.unwrap_or(key).to_owned(),
                    attributes: attributes(&[
                        ("git_commit", commit.unwrap_or_default().to_owned()),
                        ("source_name", source.unwrap_or_default().to_owned()),
                        (
                            "git_repo",
                            tag(run, GIT_REPO_TAG).unwrap_or_default().to_owned(),
                        ),
                        (
                            "git_branch",
                            tag(run, GIT_BRANCH_TAG).unwrap_or_default().to_owned(),
                        ),
                    ]),
                };
                self.link(id, node, Ref::Leaf, "code_of", true, depth);
            }
            for input in &run.inputs.model_inputs {
                if let Some(model) =
                    missing_is_none(self.store.get_logged_model(&input.model_id).await)?
                {
                    let next = Ref::LoggedModel(model.model_id.clone());
                    self.link(id, logged_model_node(&model), next, "input", true, depth);
                }
            }
            return Ok(());
        }
        // Downstream: child runs, logged models it produced, versions registered from it.
        let children = self
            .store
            .search_runs(SearchRuns {
                experiment_ids: vec![run.info.experiment_id.clone()],
                filter: parse_filter(
                    SearchKind::Runs,
                    &format!("tags.`{PARENT_RUN_TAG}` = {}", quote(&run.info.run_id)),
                )?,
                view_type: ViewType::All,
                order_by: Vec::new(),
                page: PageRequest {
                    max_results: MAX_NODES as u64,
                    offset: 0,
                },
            })
            .await?;
        for child in children.items {
            let next = Ref::Run(child.info.run_id.clone());
            self.link(id, run_node(&child), next, "parent_of", false, depth);
        }
        let mut produced: Vec<&str> = run
            .outputs
            .model_outputs
            .iter()
            .map(|output| output.model_id.as_str())
            .collect();
        produced.dedup();
        for model_id in produced {
            if let Some(model) = missing_is_none(self.store.get_logged_model(model_id).await)? {
                let next = Ref::LoggedModel(model.model_id.clone());
                self.link(
                    id,
                    logged_model_node(&model),
                    next,
                    "produced",
                    false,
                    depth,
                );
            }
        }
        let versions = self
            .store
            .search_model_versions(Search {
                filter: parse_filter(
                    SearchKind::ModelVersions,
                    &format!("run_id = {}", quote(&run.info.run_id)),
                )?,
                order_by: Vec::new(),
                page: PageRequest {
                    max_results: MAX_NODES as u64,
                    offset: 0,
                },
            })
            .await?;
        for version in versions.items {
            let next = Ref::ModelVersion(version.name.clone(), version.version);
            self.link(
                id,
                version_node(&version),
                next,
                "registered_as",
                false,
                depth,
            );
        }
        Ok(())
    }
}

/// Builds the lineage graph around `start`, `max_depth` hops each way `direction` allows.
pub async fn walk(
    store: &dyn MetadataStore,
    start: &Start,
    direction: Direction,
    max_depth: u32,
) -> Result<Graph> {
    let max_depth = max_depth.min(MAX_DEPTH);
    let (root, item) = match start {
        Start::ModelVersion { name, version } => {
            let version = store.get_model_version(name, *version).await?;
            let item = Ref::ModelVersion(version.name.clone(), version.version);
            (version_node(&version), item)
        }
        Start::ModelAlias { name, alias } => {
            let version = store.get_model_version_by_alias(name, alias).await?;
            let item = Ref::ModelVersion(version.name.clone(), version.version);
            (version_node(&version), item)
        }
        Start::LoggedModel(model_id) => {
            let model = store.get_logged_model(model_id).await?;
            (
                logged_model_node(&model),
                Ref::LoggedModel(model.model_id.clone()),
            )
        }
        Start::Run(run_id) => {
            let run = store.get_run(run_id).await?;
            (run_node(&run), Ref::Run(run.info.run_id.clone()))
        }
    };
    let root_id = root.id.clone();
    let mut walk = Walk {
        store,
        graph: Graph::new(root),
        queue: VecDeque::new(),
        max_depth,
    };
    if max_depth > 0 {
        if direction.upstream() {
            walk.queue
                .push_back((item.clone(), root_id.clone(), 0, true));
        }
        if direction.downstream() {
            walk.queue.push_back((item, root_id, 0, false));
        }
    }
    while let Some((item, id, depth, upstream)) = walk.queue.pop_front() {
        walk.expand(item, id, depth, upstream).await?;
    }
    Ok(walk.graph)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_uris_parse() {
        let check = |uri: &str, expected: Option<Start>| {
            assert_eq!(Start::from_models_uri(uri).ok(), expected, "{uri}");
        };
        check(
            "models:/fraud/3",
            Some(Start::ModelVersion {
                name: "fraud".into(),
                version: 3,
            }),
        );
        check(
            "models:/fraud@champion",
            Some(Start::ModelAlias {
                name: "fraud".into(),
                alias: "champion".into(),
            }),
        );
        check(
            "models:/m-0123abc",
            Some(Start::LoggedModel("m-0123abc".into())),
        );
        check("models:/fraud/latest", None);
        check("runs:/abc/model", None);
        check("models:/", None);
    }
}
