//! Governance on the server: the policy in force, naming checks, and promotion decisions.
//!
//! Not HTTP: the API handlers call [`Governance`]; it reads evidence through the
//! `MetadataStore` trait and leaves every judgement to the pure engine in `cairn_core::governance`.

mod evidence;
pub mod lineage;

use std::sync::{Arc, RwLock};

use cairn_core::entities::{PolicyRevision, PromotionTarget, Stage};
use cairn_core::governance::{evaluate, Evaluation, NamedThing, PolicyFile};
use cairn_core::{Error, ErrorKind, Result};
use cairn_store::{MetadataStore, NewPolicyDecision};

/// The policy in force and the revision it came from (`None`: never set, everything allowed).
#[derive(Debug, Clone)]
pub struct ActivePolicy {
    pub revision: Option<PolicyRevision>,
    pub file: PolicyFile,
}

/// What a version is being promoted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Promotion {
    Alias(String),
    Stage(Stage),
}

impl Promotion {
    pub fn kind(&self) -> PromotionTarget {
        match self {
            Promotion::Alias(_) => PromotionTarget::Alias,
            Promotion::Stage(_) => PromotionTarget::Stage,
        }
    }

    pub fn target(&self) -> String {
        match self {
            Promotion::Alias(alias) => alias.clone(),
            Promotion::Stage(stage) => stage.as_str().to_owned(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Promotion::Alias(alias) => format!("alias '{alias}'"),
            Promotion::Stage(stage) => format!("stage '{}'", stage.as_str()),
        }
    }
}

/// The outcome of evaluating a promotion.
#[derive(Debug, Clone)]
pub struct PromotionCheck {
    /// Whether the policy protects the target at all; unprotected targets are always allowed.
    pub protected: bool,
    pub evaluation: Evaluation,
    pub policy_revision: Option<i64>,
}

impl PromotionCheck {
    pub fn allowed(&self) -> bool {
        !self.protected || self.evaluation.allowed()
    }
}

/// The naming rules of one policy revision (names MLflow writes itself are exempt: see
/// `cairn_core::governance::naming::is_system_name`).
pub struct Naming {
    active: Arc<ActivePolicy>,
}

impl Naming {
    /// Refuses `value` if the naming rule for `thing` says so (`INVALID_PARAMETER_VALUE`).
    pub fn check(&self, thing: NamedThing, value: &str) -> Result<()> {
        self.active
            .file
            .naming
            .check(thing, value)
            .map_err(|violation| Error::invalid(violation.to_string()))
    }

    fn check_all<'a>(
        &self,
        thing: NamedThing,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        if self.active.file.naming.rule(thing).is_none() {
            return Ok(());
        }
        values
            .into_iter()
            .try_for_each(|value| self.check(thing, value))
    }

    pub fn check_tag_keys<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Result<()> {
        self.check_all(NamedThing::TagKey, keys)
    }

    pub fn check_metric_keys<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Result<()> {
        self.check_all(NamedThing::MetricKey, keys)
    }

    pub fn check_param_keys<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Result<()> {
        self.check_all(NamedThing::ParamKey, keys)
    }
}

pub struct Governance {
    store: Arc<dyn MetadataStore>,
    active: RwLock<Arc<ActivePolicy>>,
}

fn parse_stored(revision: &PolicyRevision) -> Result<PolicyFile> {
    PolicyFile::from_json(&revision.text).map_err(|error| {
        Error::internal(format!(
            "stored policy revision {} is unreadable: {error}",
            revision.revision
        ))
    })
}

fn empty_policy() -> Result<PolicyFile> {
    PolicyFile::from_yaml("version: 1")
        .map_err(|error| Error::internal(format!("empty policy: {error}")))
}

impl Governance {
    /// Loads the newest stored policy (or none).
    pub async fn load(store: Arc<dyn MetadataStore>) -> Result<Governance> {
        let active = Self::read_active(&*store).await?;
        Ok(Governance {
            store,
            active: RwLock::new(Arc::new(active)),
        })
    }

    async fn read_active(store: &dyn MetadataStore) -> Result<ActivePolicy> {
        Ok(match store.current_policy().await? {
            Some(revision) => ActivePolicy {
                file: parse_stored(&revision)?,
                revision: Some(revision),
            },
            None => ActivePolicy {
                revision: None,
                file: empty_policy()?,
            },
        })
    }

    /// The policy as last read by this process.
    pub fn policy(&self) -> Arc<ActivePolicy> {
        match self.active.read() {
            Ok(active) => active.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn install(&self, active: ActivePolicy) -> Arc<ActivePolicy> {
        let active = Arc::new(active);
        match self.active.write() {
            Ok(mut slot) => *slot = active.clone(),
            Err(poisoned) => *poisoned.into_inner() = active.clone(),
        }
        active
    }

    /// Re-reads the policy from the store, so that a revision set through another server sharing
    /// the store is in force here too before a promotion is judged.
    pub async fn refresh(&self) -> Result<Arc<ActivePolicy>> {
        let stored = self.store.current_policy().await?;
        let current = self.policy();
        let unchanged = match (&stored, &current.revision) {
            (Some(stored), Some(current)) => stored.revision == current.revision,
            (None, None) => true,
            _ => false,
        };
        if unchanged {
            return Ok(current);
        }
        Ok(self.install(Self::read_active(&*self.store).await?))
    }

    /// Stores `file` as the newest revision and puts it in force.
    pub async fn replace_policy(
        &self,
        author: &str,
        file: PolicyFile,
    ) -> Result<Arc<ActivePolicy>> {
        let text = serde_json::to_string(&file)
            .map_err(|error| Error::internal(format!("cannot serialize the policy: {error}")))?;
        let revision = self.store.put_policy(author, &text).await?;
        Ok(self.install(ActivePolicy {
            revision: Some(revision),
            file,
        }))
    }

    /// The naming rules in force, for checking one request's names.
    pub fn naming(&self) -> Naming {
        Naming {
            active: self.policy(),
        }
    }

    /// Evaluates promoting `name` version `version` without changing anything.
    pub async fn check_promotion(
        &self,
        name: &str,
        version: i64,
        promotion: &Promotion,
    ) -> Result<PromotionCheck> {
        let active = self.refresh().await?;
        let model_policy = active.file.model_policy(name);
        let rules = match promotion {
            Promotion::Alias(alias) => model_policy.alias_rules(alias),
            Promotion::Stage(stage) => model_policy.stage_rules(stage.as_str()),
        };
        let policy_revision = active.revision.as_ref().map(|revision| revision.revision);
        // The version must exist whether or not the target is protected.
        let candidate_version = self.store.get_model_version(name, version).await?;
        let Some(rules) = rules else {
            return Ok(PromotionCheck {
                protected: false,
                evaluation: Evaluation::default(),
                policy_revision,
            });
        };
        let candidate = evidence::gather(&*self.store, &candidate_version).await?;
        let current_version =
            evidence::current_holder(&*self.store, name, version, promotion).await?;
        let current = match &current_version {
            Some(holder) => Some(evidence::gather(&*self.store, holder).await?),
            None => None,
        };
        let evaluation = evaluate(rules, &candidate, current.as_ref(), crate::api::now_ms());
        Ok(PromotionCheck {
            protected: true,
            evaluation,
            policy_revision,
        })
    }

    /// Judges a promotion asked for through the registry API: an unprotected target passes
    /// silently; a protected one is evaluated, the decision goes into the audit log, and a refusal
    /// is a `PERMISSION_DENIED` error listing every failed rule with actual and required values.
    pub async fn authorize(
        &self,
        name: &str,
        version: i64,
        promotion: &Promotion,
        action: &str,
        user: &str,
    ) -> Result<PromotionCheck> {
        let check = self.judge(name, version, promotion, action, user).await?;
        match check.refusal(name, version, promotion) {
            Some(refusal) => Err(refusal),
            None => Ok(check),
        }
    }

    /// [`Governance::authorize`] without turning a refusal into an error: the check is evaluated
    /// and, for a protected target, recorded in the audit log.
    pub async fn judge(
        &self,
        name: &str,
        version: i64,
        promotion: &Promotion,
        action: &str,
        user: &str,
    ) -> Result<PromotionCheck> {
        let check = self.check_promotion(name, version, promotion).await?;
        if !check.protected {
            return Ok(check);
        }
        let outcomes_json = serde_json::to_string(&check.evaluation)
            .map_err(|error| Error::internal(format!("cannot serialize an evaluation: {error}")))?;
        self.store
            .record_policy_decision(NewPolicyDecision {
                model_name: name.to_owned(),
                version,
                target_kind: promotion.kind(),
                target: promotion.target(),
                action: action.to_owned(),
                allowed: check.allowed(),
                user: user.to_owned(),
                policy_revision: check.policy_revision,
                outcomes_json,
            })
            .await?;
        Ok(check)
    }
}

impl PromotionCheck {
    /// The `PERMISSION_DENIED` error for a refused promotion (each failed rule with actual and
    /// required values), or `None` when it is allowed.
    pub fn refusal(&self, name: &str, version: i64, promotion: &Promotion) -> Option<Error> {
        if self.allowed() {
            return None;
        }
        let revision = self
            .policy_revision
            .map(|revision| format!(" (policy revision {revision})"))
            .unwrap_or_default();
        Some(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "Promotion of registered model '{name}' version {version} to {} refused by policy{revision}. Failed rules:\n{}",
                promotion.describe(),
                self.evaluation.summary()
            ),
        ))
    }
}
