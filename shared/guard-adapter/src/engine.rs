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
    /// Another writer kept changing the policy between our read and our write
    #[error("the policy kept changing under us after {0} attempts")]
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

/// The ECR API actions the engine calls for an event kind. The template gives each function's
/// role exactly these (checked by tests/template.rs), and the tests below check them against the
/// calls the engine really makes.
pub fn ecr_actions(kind: &str) -> &'static [&'static str] {
    match kind {
        "repository-created" | "repository-policy-changed" => &[
            "ecr:DeleteRepositoryPolicy",
            "ecr:GetRepositoryPolicy",
            "ecr:SetRepositoryPolicy",
        ],
        "registry-policy-changed" => &[
            "ecr:DeleteRegistryPolicy",
            "ecr:GetRegistryPolicy",
            "ecr:PutRegistryPolicy",
        ],
        "replication-failed" => &["ecr:GetRegistryPolicy", "ecr:PutRegistryPolicy"],
        "sweep" => &[
            "ecr:DeleteRegistryPolicy",
            "ecr:DeleteRepositoryPolicy",
            "ecr:DescribeRepositories",
            "ecr:GetRegistryPolicy",
            "ecr:GetRepositoryPolicy",
            "ecr:PutRegistryPolicy",
            "ecr:SetRepositoryPolicy",
        ],
        _ => &[],
    }
}

/// The ECR API actions a function that accepts these kinds may call
pub fn ecr_actions_for(accepts: Accepts) -> std::collections::BTreeSet<&'static str> {
    accepts.iter().flat_map(|k| ecr_actions(k).iter().copied()).collect()
}

/// The shell: a port, the config and where audit lines go
pub struct Guard<P> {
    /// ECR
    pub ecr: P,
    /// The config
    pub config: GuardConfig,
    /// The guard's roles (their own events are skipped)
    pub own_role_arns: Vec<String>,
    /// The registry account, when configured
    pub own_account: Option<String>,
    /// Audit lines
    pub audit: Arc<dyn AuditSink>,
    /// Waiting for new repositories
    pub creation_backoff: Backoff,
    /// Read-back checks after a registry write, against concurrent writers
    pub registry_attempts: usize,
    /// Wait before a read-back check (longer than [`MAX_READ_TO_WRITE`])
    pub verify_delay: Duration,
}

/// Plans made again when the policy changes between planning and writing
const WRITE_ATTEMPTS: usize = 4;

/// A plan older than this is not written: the policy is read again. Bounding every guard
/// writer's read-to-write time is what makes the registry grant's check after a delay sound: a
/// concurrent writer that read before our write has written (stale or not) by then.
pub const MAX_READ_TO_WRITE: Duration = Duration::from_secs(1);

/// How long a registry grant waits after writing before it checks the grant is still there
pub const VERIFY_DELAY: Duration = Duration::from_millis(1500);

fn same_meaning(a: Option<&Policy>, b: Option<&Policy>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => policy_core::equivalent(a, b),
        _ => false,
    }
}

/// A pause of 20 to 150 ms, different per caller and call: concurrent writers re-check at
/// different moments, so one's lost update is seen after the other's write has landed
fn jitter(seed: &str) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(seed.as_bytes());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    Duration::from_millis(20 + h.finish() % 130)
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
            own_role_arns: settings.own_role_arns,
            own_account: settings.own_account,
            audit: Arc::new(crate::audit::StdoutAudit),
            creation_backoff: Backoff::default(),
            registry_attempts: 8,
            verify_delay: VERIFY_DELAY,
        }
    }

    /// Decodes an event and acts on it when its kind is in `accepts`
    pub async fn handle(&self, payload: &Value, accepts: Accepts) -> Result<Outcome, HandlerError> {
        let decoded = decode(payload, &self.own_role_arns, self.own_account.as_deref())?;
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
        // Boxed: the state machines of the four paths nest deeply, and boxing keeps the
        // handler's future small (and within rustc's layout depth in release builds).
        match event {
            GuardEvent::RepositoryCreated { repository } => {
                Box::pin(self.enforce_repository(&account, &region, &repository, true)).await
            }
            GuardEvent::RepositoryPolicyChanged { repository, .. } => {
                Box::pin(self.enforce_repository(&account, &region, &repository, false)).await
            }
            GuardEvent::RegistryPolicyChanged { .. } => Box::pin(self.enforce_registry(&account, &region)).await,
            GuardEvent::ReplicationFailed { source_account, .. } => {
                Box::pin(self.grant_replication(&account, &region, &source_account)).await
            }
            // Decoded so that a function can take it up later; none does yet.
            GuardEvent::CreationTemplateChanged { prefix } => Ok(Outcome::skipped(format!(
                "repository creation template `{prefix}` changed: not handled yet"
            ))),
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
        let ctx = GuardContext {
            config: &self.config,
            account,
        };
        let target = Target::Repository(repository);
        self.reconcile(target, account, region, wait_for_creation, |live| {
            plan_repository(live, repository, &ctx, region, partition_of(region))
        })
        .await
    }

    /// Applies the registry rules to the registry policy
    pub async fn enforce_registry(&self, account: &str, region: &str) -> Result<Outcome, HandlerError> {
        let ctx = GuardContext {
            config: &self.config,
            account,
        };
        self.reconcile(Target::Registry, account, region, false, |live| {
            plan_registry(live, &ctx)
        })
        .await
    }

    /// The live policy of a target; `None` when the repository is gone
    async fn read_target(
        &self,
        target: Target<'_>,
        wait_for_creation: bool,
    ) -> Result<Option<Option<Policy>>, HandlerError> {
        match target {
            Target::Repository(repository) => match self.read_repository(repository, wait_for_creation).await? {
                Some(text) => Ok(Some(parse_live(text, &format!("repository policy of `{repository}`"))?)),
                None => Ok(None),
            },
            Target::Registry => Ok(Some(parse_live(
                self.ecr.get_registry_policy().await?,
                "registry policy",
            )?)),
        }
    }

    /// Plans from the live policy and writes. Just before writing, the policy is read again: if
    /// it changed since it was planned against (another writer, a delete), the plan is made
    /// again from what is there now, so the guard never writes over a change it has not seen.
    async fn reconcile(
        &self,
        target: Target<'_>,
        account: &str,
        region: &str,
        wait_for_creation: bool,
        planner: impl Fn(Option<&Policy>) -> Result<Plan, PlanError>,
    ) -> Result<Outcome, HandlerError> {
        let gone = |t: Target| {
            Outcome::skipped(format!(
                "repository `{}` no longer exists",
                t.repository().unwrap_or_default()
            ))
        };
        let Some(mut live) = self.read_target(target, wait_for_creation).await? else {
            return Ok(gone(target));
        };
        for _ in 0..WRITE_ATTEMPTS {
            let plan = planner(live.as_ref())?;
            if plan.action == PlanAction::Unchanged || self.config.mode == Mode::Report {
                return self.apply(target, account, region, plan).await;
            }
            let read_at = std::time::Instant::now();
            let Some(now) = self.read_target(target, false).await? else {
                return Ok(gone(target));
            };
            if same_meaning(live.as_ref(), now.as_ref()) && read_at.elapsed() < MAX_READ_TO_WRITE {
                return self.apply(target, account, region, plan).await;
            }
            live = now;
        }
        Err(HandlerError::Contended(WRITE_ATTEMPTS))
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
            let read_at = std::time::Instant::now();
            let live = parse_live(self.ecr.get_registry_policy().await?, "registry policy")?;
            let plan = plan_replication_grant(live.as_ref(), source, &ctx, region, partition_of(region))?;
            if plan.action == PlanAction::Unchanged {
                if let Some(o) = written {
                    return Ok(o);
                }
                // A refused source or a blocking Deny: `apply` logs the finding; nothing was done.
                let refused = !plan.findings.is_empty();
                let mut o = self.apply(Target::Registry, account, region, plan).await?;
                if refused {
                    o.action = OutcomeAction::Skipped;
                }
                return Ok(o);
            }
            if attempt == attempts {
                break;
            }
            if read_at.elapsed() >= MAX_READ_TO_WRITE {
                // Too old to write safely: read again.
                continue;
            }
            let outcome = self.apply(Target::Registry, account, region, plan).await?;
            if self.config.mode == Mode::Report {
                return Ok(outcome);
            }
            written.get_or_insert(outcome);
            // Every concurrent guard writer that read before our write has written by now (their
            // read-to-write time is bounded): if ours was lost, the next plan is not empty.
            tokio::time::sleep(self.verify_delay + jitter(source)).await;
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
        for f in &plan.findings {
            self.audit.emit(
                json!({"audit": "finding", "mode": mode_name(self.config.mode), "target": target.kind(),
                "repository": target.repository(), "account": account, "region": region, "finding": f}),
            );
        }
        let reason = (!plan.findings.is_empty()).then(|| plan.findings.join("; "));
        let write = match &plan.action {
            PlanAction::Unchanged => None,
            PlanAction::Put(_) => Some("put"),
            PlanAction::Delete => Some("delete"),
        };
        let Some(write) = write else {
            let mut o = self.unchanged(target);
            o.removed = removed;
            o.reason = reason;
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
        // Logged once the write has landed (or in report mode): a failed write removed nothing.
        for r in &plan.removals {
            self.audit_removal(target, account, region, r, &plan);
        }
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
            reason,
        })
    }
}

/// `enforce` or `report`, as logs and summaries name the mode
pub(crate) fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::Report => "report",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{audit::MemoryAudit, memory::InMemoryEcr, port::PortResult, settings::Settings};
    use std::{collections::BTreeSet, sync::Mutex};

    /// Records the IAM action of every call
    struct Recording {
        inner: InMemoryEcr,
        calls: Mutex<BTreeSet<&'static str>>,
    }

    impl Recording {
        fn note(&self, action: &'static str) {
            self.calls.lock().unwrap().insert(action);
        }
    }

    impl EcrPolicies for Recording {
        async fn get_repository_policy(&self, r: &str) -> PortResult<Option<String>> {
            self.note("ecr:GetRepositoryPolicy");
            self.inner.get_repository_policy(r).await
        }
        async fn set_repository_policy(&self, r: &str, t: &str) -> PortResult<()> {
            self.note("ecr:SetRepositoryPolicy");
            self.inner.set_repository_policy(r, t).await
        }
        async fn delete_repository_policy(&self, r: &str) -> PortResult<()> {
            self.note("ecr:DeleteRepositoryPolicy");
            self.inner.delete_repository_policy(r).await
        }
        async fn get_registry_policy(&self) -> PortResult<Option<String>> {
            self.note("ecr:GetRegistryPolicy");
            self.inner.get_registry_policy().await
        }
        async fn put_registry_policy(&self, t: &str) -> PortResult<()> {
            self.note("ecr:PutRegistryPolicy");
            self.inner.put_registry_policy(t).await
        }
        async fn delete_registry_policy(&self) -> PortResult<()> {
            self.note("ecr:DeleteRegistryPolicy");
            self.inner.delete_registry_policy().await
        }
        async fn list_repositories(&self) -> PortResult<Vec<String>> {
            self.note("ecr:DescribeRepositories");
            self.inner.list_repositories().await
        }
    }

    const CONFIG: &str = r#"{"mode":"enforce","replication_sources":["777788889999"],"baselines":[{"match":"team-*","policy":{"Version":"2012-10-17",
        "Statement":[{"Sid":"Own","Effect":"Allow","Principal":{"AWS":"arn:${Partition}:iam::${AccountId}:root"},"Action":"ecr:*"}]}}]}"#;
    const PUBLIC: &str = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"}]}"#;
    const MIXED_REGISTRY: &str = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["999988887777","777788889999"]},"Action":"ecr:ReplicateImage","Resource":"*"}]}"#;
    const BAD_REGISTRY: &str = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"999988887777"},"Action":"ecr:ReplicateImage","Resource":"*"}]}"#;

    fn guard(config: &str) -> (Guard<Recording>, Arc<MemoryAudit>) {
        let settings = Settings::from_vars(|k| (k == "GUARD_CONFIG").then(|| config.to_owned())).unwrap();
        let ecr = Recording {
            inner: InMemoryEcr::new(),
            calls: Mutex::new(BTreeSet::new()),
        };
        let mut g = Guard::new(ecr, settings);
        let audit = Arc::new(MemoryAudit::default());
        g.audit = audit.clone();
        g.creation_backoff = Backoff {
            attempts: 2,
            first_delay: Duration::from_millis(1),
        };
        (g, audit)
    }

    fn event(name: &str, params: Value, extra: Value) -> Value {
        let mut detail = json!({"eventSource":"ecr.amazonaws.com","eventName":name,"requestParameters":params});
        if let (Some(d), Value::Object(x)) = (detail.as_object_mut(), extra) {
            d.extend(x);
        }
        json!({"source":"aws.ecr","detail-type":"AWS API Call via CloudTrail","account":"123456789012","region":"us-east-1","detail":detail})
    }

    fn replication_failed() -> Value {
        json!({"source":"aws.ecr","detail-type":"ECR Replication Action","account":"123456789012","region":"us-east-1",
            "detail":{"result":"FAILED","source-account":"777788889999","repository-name":"app"}})
    }

    #[tokio::test]
    async fn declared_actions_are_exactly_the_calls_made() {
        let all: Accepts = &[
            "repository-created",
            "repository-policy-changed",
            "registry-policy-changed",
            "replication-failed",
        ];
        for kind in all {
            let (g, _) = guard(CONFIG);
            // Drive every path of this kind: a put and a delete where the kind can do both.
            match *kind {
                "repository-created" | "repository-policy-changed" => {
                    let name = if *kind == "repository-created" {
                        "CreateRepository"
                    } else {
                        "SetRepositoryPolicy"
                    };
                    g.ecr.inner.put_repository("team-a", None);
                    g.ecr.inner.put_repository("svc", Some(PUBLIC));
                    for repo in ["team-a", "svc"] {
                        let out = g
                            .handle(&event(name, json!({"repositoryName": repo}), json!({})), all)
                            .await
                            .unwrap();
                        assert_eq!(out.action, OutcomeAction::Written, "{kind} {repo}");
                    }
                }
                "registry-policy-changed" => {
                    for text in [MIXED_REGISTRY, BAD_REGISTRY] {
                        g.ecr.inner.put_registry(Some(text));
                        let out = g
                            .handle(&event("PutRegistryPolicy", json!({}), json!({})), all)
                            .await
                            .unwrap();
                        assert_eq!(out.action, OutcomeAction::Written, "{kind}");
                    }
                }
                "sweep" => {
                    g.ecr.inner.put_repository("team-a", None);
                    g.ecr.inner.put_repository("svc", Some(PUBLIC));
                    g.ecr.inner.put_registry(Some(MIXED_REGISTRY));
                    let s = g
                        .sweep("123456789012", "us-east-1", Default::default(), &|_, _| {})
                        .await
                        .unwrap();
                    assert_eq!((s.changed, s.registry), (2, Some(OutcomeAction::Written)));
                    g.ecr.inner.put_registry(Some(BAD_REGISTRY));
                    let s = g
                        .sweep("123456789012", "us-east-1", Default::default(), &|_, _| {})
                        .await
                        .unwrap();
                    assert_eq!((s.compliant, s.registry), (2, Some(OutcomeAction::Written)));
                }
                _ => {
                    let out = g.handle(&replication_failed(), all).await.unwrap();
                    assert_eq!(out.action, OutcomeAction::Written);
                }
            }
            let calls: BTreeSet<&str> = g.ecr.calls.lock().unwrap().clone();
            let declared: BTreeSet<&str> = ecr_actions(kind).iter().copied().collect();
            assert_eq!(calls, declared, "{kind}");
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retryable_and_write_nothing() {
        let (g, _) = guard(CONFIG);
        g.ecr.inner.put_repository("svc", Some(PUBLIC));
        g.ecr.inner.fail_next(PortError::Transient {
            operation: "GetRepositoryPolicy",
            message: "ThrottlingException: rate exceeded".into(),
        });
        let err = g
            .handle(
                &event("SetRepositoryPolicy", json!({"repositoryName":"svc"}), json!({})),
                &["repository-policy-changed"],
            )
            .await
            .unwrap_err();
        assert!(err.is_retryable());
        let diag: lambda_runtime::Diagnostic = err.into();
        assert_eq!(diag.error_type, "Retryable.EcrError");
        assert_eq!(g.ecr.inner.writes(), 0);
        assert_eq!(g.ecr.inner.repository_policy("svc").as_deref(), Some(PUBLIC));
    }

    #[tokio::test]
    async fn unreadable_or_unknown_live_policies_are_left_alone() {
        let (g, audit) = guard(CONFIG);
        let odd = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"StringEqualz":{"aws:SourceIp":"1.2.3.4"}}}]}"#;
        g.ecr.inner.put_repository("odd", Some(odd));
        g.ecr.inner.put_repository(
            "broken",
            Some(r#"{"Statement":[{"Effect":"Allow","Effect":"Deny","Action":"*"}]}"#),
        );
        let accepts: Accepts = &["repository-policy-changed"];
        let e = g
            .handle(
                &event("SetRepositoryPolicy", json!({"repositoryName":"odd"}), json!({})),
                accepts,
            )
            .await
            .unwrap_err();
        assert!(!e.is_retryable());
        assert!(
            e.to_string().contains("unknown condition operator `StringEqualz`"),
            "{e}"
        );
        let e = g
            .handle(
                &event("SetRepositoryPolicy", json!({"repositoryName":"broken"}), json!({})),
                accepts,
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("duplicate key `Effect`"), "{e}");
        assert_eq!(g.ecr.inner.writes(), 0);
        assert!(audit.lines().is_empty());
    }

    #[tokio::test]
    async fn a_repository_deleted_before_we_look_is_skipped() {
        let (g, _) = guard(CONFIG);
        let out = g
            .handle(
                &event("SetRepositoryPolicy", json!({"repositoryName":"gone"}), json!({})),
                &["repository-policy-changed"],
            )
            .await
            .unwrap();
        assert_eq!(out.action, OutcomeAction::Skipped);
    }
}
