//! The imperative shell every function (and the sweep) shares: read live state, plan with
//! policy-core, log, write only when the meaning changes. One code path for every entry point.

use crate::{
    audit::AuditSink,
    event::{decode, Decoded, EventError, GuardEvent},
    port::{EcrPolicies, PortError},
};
use policy_core::{
    config::{GuardConfig, Mode},
    guard::{GuardContext, Removal},
    plan::{plan_registry, plan_replication_grant, plan_repository, Plan, PlanAction, PlanError},
    ParseError, Policy,
};
use serde::Serialize;
use serde_json::{json, Value};
use std::{sync::Arc, time::Duration};

/// What a handler did
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeAction {
    /// A policy was written or deleted
    Written,
    /// The live policy was already right
    Unchanged,
    /// Not ours to act on (another event, another registry, exempt, refused)
    Skipped,
    /// Report mode: what would have been written was logged
    Reported,
}

/// One removed grant, as the outcome reports it (the audit log has the full statement)
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemovedGrant {
    /// The rule
    pub rule: &'static str,
    /// Why
    pub reason: String,
    /// The statement label
    pub statement: String,
    /// The principal removed, absent when the whole statement went
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
}

/// The JSON a handler returns
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    /// What happened
    pub action: OutcomeAction,
    /// `repository` or `registry`, absent when skipped before reading anything
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<&'static str>,
    /// The repository
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// `put` or `delete` when written or reported
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write: Option<&'static str>,
    /// Grants removed
    pub removed: Vec<RemovedGrant>,
    /// Statements added
    pub added: Vec<Value>,
    /// Why it was skipped, or what a person should know
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Outcome {
    /// Skipped, with the reason
    pub fn skipped(reason: impl Into<String>) -> Outcome {
        Outcome {
            action: OutcomeAction::Skipped,
            target: None,
            repository: None,
            write: None,
            removed: vec![],
            added: vec![],
            reason: Some(reason.into()),
        }
    }
}

/// A handler failure
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// The event is not one we can read: never retried
    #[error(transparent)]
    Event(#[from] EventError),
    /// An ECR call failed
    #[error("ecr {0}")]
    Ecr(#[from] PortError),
    /// The live policy is not a policy we can read: nothing is written
    #[error("live {what} cannot be read: {source}")]
    LivePolicy {
        /// Which policy
        what: String,
        /// Why
        source: ParseError,
    },
    /// No acceptable plan (oversize, unknown operator): nothing is written
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Another writer kept overwriting the registry policy
    #[error("registry policy kept changing under us after {0} attempts")]
    Contended(usize),
}

impl HandlerError {
    /// True when the same event may succeed later
    pub fn is_retryable(&self) -> bool {
        match self {
            HandlerError::Ecr(e) => e.is_retryable() || matches!(e, PortError::RepositoryNotFound(_)),
            HandlerError::Contended(_) => true,
            _ => false,
        }
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        let kind = match &e {
            HandlerError::Event(_) => "MalformedEvent",
            HandlerError::Ecr(_) => "EcrError",
            HandlerError::LivePolicy { .. } => "UnreadablePolicy",
            HandlerError::Plan(_) => "PlanRefused",
            HandlerError::Contended(_) => "Contended",
        };
        let class = if e.is_retryable() { "Retryable" } else { "NonRetryable" };
        lambda_runtime::Diagnostic {
            error_type: format!("{class}.{kind}"),
            error_message: e.to_string(),
        }
    }
}

/// How long to wait for a repository that was just created to be visible
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// Tries in all
    pub attempts: u32,
    /// Delay before the second try; doubles each time
    pub first_delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 6,
            first_delay: Duration::from_millis(200),
        }
    }
}

/// The event kinds a function handles
pub type Accepts = &'static [&'static str];

/// The shell: a port, the config and where audit lines go
pub struct Guard<P> {
    /// ECR
    pub ecr: P,
    /// The config
    pub config: GuardConfig,
    /// The guard's role (its own events are skipped)
    pub own_role_arn: Option<String>,
    /// The registry account, when configured
    pub own_account: Option<String>,
    /// Audit lines
    pub audit: Arc<dyn AuditSink>,
    /// Waiting for new repositories
    pub creation_backoff: Backoff,
    /// Read-back checks after a registry write, against concurrent writers
    pub registry_attempts: usize,
}

/// The partition of a region
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else {
        "aws"
    }
}

fn policy_json(p: Option<&Policy>) -> Value {
    p.map(Policy::to_value).unwrap_or(Value::Null)
}

fn parse_live(text: Option<String>, what: &str) -> Result<Option<Policy>, HandlerError> {
    text.filter(|t| !t.trim().is_empty())
        .map(|t| Policy::parse(&t))
        .transpose()
        .map_err(|source| HandlerError::LivePolicy {
            what: what.to_owned(),
            source,
        })
}

/// Where a plan is written
#[derive(Clone, Copy)]
enum Target<'a> {
    Repository(&'a str),
    Registry,
}

impl Target<'_> {
    fn kind(self) -> &'static str {
        match self {
            Target::Repository(_) => "repository",
            Target::Registry => "registry",
        }
    }

    fn repository(self) -> Option<String> {
        match self {
            Target::Repository(r) => Some(r.to_owned()),
            Target::Registry => None,
        }
    }
}

impl<P: EcrPolicies> Guard<P> {
    /// Builds a guard with default backoff and stdout audit
    pub fn new(ecr: P, settings: crate::settings::Settings) -> Self {
        Guard {
            ecr,
            config: settings.config,
            own_role_arn: settings.own_role_arn,
            own_account: settings.own_account,
            audit: Arc::new(crate::audit::StdoutAudit),
            creation_backoff: Backoff::default(),
            registry_attempts: 3,
        }
    }

    /// Decodes an event and acts on it when its kind is in `accepts`
    pub async fn handle(&self, payload: &Value, accepts: Accepts) -> Result<Outcome, HandlerError> {
        let decoded = decode(payload, self.own_role_arn.as_deref(), self.own_account.as_deref())?;
        let (account, region, event) = match decoded {
            Decoded::Skip(reason) => return Ok(Outcome::skipped(reason)),
            Decoded::Event { account, region, event } => (account, region, event),
        };
        if !accepts.contains(&event.kind()) {
            return Ok(Outcome::skipped(format!(
                "`{}` events are not handled by this function",
                event.kind()
            )));
        }
        match event {
            GuardEvent::RepositoryCreated { repository } => {
                self.enforce_repository(&account, &region, &repository, true).await
            }
            GuardEvent::RepositoryPolicyChanged { repository, .. } => {
                self.enforce_repository(&account, &region, &repository, false).await
            }
            GuardEvent::RegistryPolicyChanged { .. } => self.enforce_registry(&account, &region).await,
            GuardEvent::ReplicationFailed { source_account, .. } => {
                self.grant_replication(&account, &region, &source_account).await
            }
        }
    }

    async fn read_repository(
        &self,
        repository: &str,
        wait_for_creation: bool,
    ) -> Result<Option<Option<String>>, HandlerError> {
        let attempts = if wait_for_creation {
            self.creation_backoff.attempts.max(1)
        } else {
            1
        };
        let mut delay = self.creation_backoff.first_delay;
        for attempt in 1..=attempts {
            match self.ecr.get_repository_policy(repository).await {
                Ok(text) => return Ok(Some(text)),
                Err(PortError::RepositoryNotFound(_)) if attempt < attempts => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                // Gone (or never visible): nothing to guard on a repository that is not there.
                Err(PortError::RepositoryNotFound(_)) if !wait_for_creation => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        Err(PortError::RepositoryNotFound(repository.to_owned()).into())
    }

    /// Applies the guard rules and the baseline to one repository, from its live policy
    pub async fn enforce_repository(
        &self,
        account: &str,
        region: &str,
        repository: &str,
        wait_for_creation: bool,
    ) -> Result<Outcome, HandlerError> {
        if self.config.is_exempt(repository) {
            return Ok(Outcome::skipped(format!("repository `{repository}` is exempt")));
        }
        let Some(text) = self.read_repository(repository, wait_for_creation).await? else {
            return Ok(Outcome::skipped(format!("repository `{repository}` no longer exists")));
        };
        let what = format!("repository policy of `{repository}`");
        let live = parse_live(text, &what)?;
        let ctx = GuardContext {
            config: &self.config,
            account,
        };
        let plan = plan_repository(live.as_ref(), repository, &ctx, region, partition_of(region))?;
        self.apply(Target::Repository(repository), account, region, plan).await
    }

    /// Applies the registry rules to the registry policy
    pub async fn enforce_registry(&self, account: &str, region: &str) -> Result<Outcome, HandlerError> {
        let live = parse_live(self.ecr.get_registry_policy().await?, "registry policy")?;
        let ctx = GuardContext {
            config: &self.config,
            account,
        };
        let plan = plan_registry(live.as_ref(), &ctx)?;
        self.apply(Target::Registry, account, region, plan).await
    }

    /// Grants replication to `source` when it is allowed, merged with the live registry policy.
    /// Registry writes race (other grants, enforce): after writing, read back and plan again;
    /// a lost update shows up as a non-empty plan and is written again.
    pub async fn grant_replication(&self, account: &str, region: &str, source: &str) -> Result<Outcome, HandlerError> {
        let ctx = GuardContext {
            config: &self.config,
            account,
        };
        let attempts = self.registry_attempts.max(1);
        let mut written: Option<Outcome> = None;
        for attempt in 0..=attempts {
            let live = parse_live(self.ecr.get_registry_policy().await?, "registry policy")?;
            let plan = plan_replication_grant(live.as_ref(), source, &ctx, region, partition_of(region))?;
            if plan.action == PlanAction::Unchanged {
                if let Some(o) = written {
                    return Ok(o);
                }
                if plan.findings.is_empty() {
                    return Ok(self.unchanged(Target::Registry));
                }
                for f in &plan.findings {
                    self.audit
                        .emit(json!({"audit": "finding", "target": "registry", "account": account,
                        "region": region, "source_account": source, "finding": f}));
                }
                let mut o = Outcome::skipped(plan.findings.join("; "));
                o.target = Some("registry");
                return Ok(o);
            }
            if attempt == attempts {
                break;
            }
            let outcome = self.apply(Target::Registry, account, region, plan).await?;
            if self.config.mode == Mode::Report {
                return Ok(outcome);
            }
            written.get_or_insert(outcome);
            // Let a concurrent writer's update land before reading back.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(HandlerError::Contended(attempts))
    }

    fn unchanged(&self, target: Target) -> Outcome {
        Outcome {
            action: OutcomeAction::Unchanged,
            target: Some(target.kind()),
            repository: target.repository(),
            write: None,
            removed: vec![],
            added: vec![],
            reason: None,
        }
    }

    fn audit_removal(&self, target: Target, account: &str, region: &str, r: &Removal, plan: &Plan) {
        self.audit.emit(json!({
            "audit": "grant_removed",
            "mode": mode_name(self.config.mode),
            "target": target.kind(),
            "repository": target.repository(),
            "account": account,
            "region": region,
            "rule": r.rule.as_str(),
            "reason": r.reason,
            "statement_index": r.index,
            "sid": r.statement.sid,
            "principal": r.principal,
            "statement": r.statement.to_value(),
            "rewritten": r.rewritten.as_ref().map(|s| s.to_value()),
            "policy_before": policy_json(plan.before.as_ref()),
            "policy_after": policy_json(plan.after.as_ref()),
        }));
    }

    async fn apply(
        &self,
        target: Target<'_>,
        account: &str,
        region: &str,
        plan: Plan,
    ) -> Result<Outcome, HandlerError> {
        for r in &plan.removals {
            self.audit_removal(target, account, region, r, &plan);
        }
        let removed = plan
            .removals
            .iter()
            .map(|r| RemovedGrant {
                rule: r.rule.as_str(),
                reason: r.reason.clone(),
                statement: r.label.clone(),
                principal: r.principal.clone(),
            })
            .collect();
        let added: Vec<Value> = plan.added.iter().map(|s| s.to_value()).collect();
        let write = match &plan.action {
            PlanAction::Unchanged => None,
            PlanAction::Put(_) => Some("put"),
            PlanAction::Delete => Some("delete"),
        };
        let Some(write) = write else {
            let mut o = self.unchanged(target);
            o.removed = removed;
            return Ok(o);
        };
        let action = match self.config.mode {
            Mode::Report => OutcomeAction::Reported,
            Mode::Enforce => {
                match (&plan.action, target) {
                    (PlanAction::Put(text), Target::Repository(r)) => self.ecr.set_repository_policy(r, text).await?,
                    (PlanAction::Delete, Target::Repository(r)) => self.ecr.delete_repository_policy(r).await?,
                    (PlanAction::Put(text), Target::Registry) => self.ecr.put_registry_policy(text).await?,
                    (PlanAction::Delete, Target::Registry) => self.ecr.delete_registry_policy().await?,
                    (PlanAction::Unchanged, _) => {}
                }
                OutcomeAction::Written
            }
        };
        self.audit.emit(json!({
            "audit": if action == OutcomeAction::Written { "policy_written" } else { "policy_would_be_written" },
            "mode": mode_name(self.config.mode),
            "write": write,
            "target": target.kind(),
            "repository": target.repository(),
            "account": account,
            "region": region,
            "policy_before": policy_json(plan.before.as_ref()),
            "policy_after": policy_json(plan.after.as_ref()),
            "added": added,
        }));
        Ok(Outcome {
            action,
            target: Some(target.kind()),
            repository: target.repository(),
            write: Some(write),
            removed,
            added,
            reason: None,
        })
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::Report => "report",
    }
}
