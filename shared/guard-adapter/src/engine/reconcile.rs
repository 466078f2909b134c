//! The one reconcile path every target and every trigger shares: read the live policy, plan with
//! policy-core, read again only when the plan waited, write only when the meaning changes, audit,
//! report.

use super::{
    outcome::{GrantFinding, HandlerError, Outcome, OutcomeAction},
    partition_of, Guard,
};
use crate::{
    outlets::{records, Subject},
    port::{CreationTemplate, EcrPolicies, PortError},
};
use policy_core::{
    plan::{plan_registry, plan_replication_grant, plan_repository, Plan, PlanAction, PlanError},
    template::{namespace, plan_template},
    Disposition, Finding, GuardContext, Policy,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Plans made again when the policy changes between planning and writing
const WRITE_ATTEMPTS: usize = 4;

/// A plan older than this is not written: the policy is read again. Bounding every guard
/// writer's read-to-write time is what makes the registry grant's check after a delay sound: a
/// concurrent writer that read before our write has written (stale or not) by then.
pub const MAX_READ_TO_WRITE: Duration = Duration::from_secs(1);

/// A plan whose read started less than this long ago is written without reading again: a second
/// read would see the same instant. A plan that waited (SDK retries, a repository not yet
/// visible, a slow call) is checked against a fresh read first.
pub const FRESH_READ: Duration = Duration::from_millis(250);

/// How long a registry grant waits after writing before it checks the grant is still there
pub const VERIFY_DELAY: Duration = Duration::from_millis(1500);

/// Where a plan is read from and written to
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Repository(&'a str),
    Registry,
    /// A repository creation template's `repositoryPolicy`, by prefix
    Template(&'a str),
}

impl Target<'_> {
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Target::Repository(_) => "repository",
            Target::Registry => "registry",
            Target::Template(_) => "template",
        }
    }

    /// The repository, or the template's prefix
    pub(crate) fn name(self) -> Option<String> {
        match self {
            Target::Repository(r) | Target::Template(r) => Some(r.to_owned()),
            Target::Registry => None,
        }
    }

    fn what(self) -> String {
        match self {
            Target::Repository(r) => format!("repository policy of `{r}`"),
            Target::Registry => "registry policy".to_owned(),
            Target::Template(p) => format!("repository policy of creation template `{p}`"),
        }
    }

    fn gone(self) -> Outcome {
        match self {
            Target::Template(p) => Outcome::skipped(format!("creation template `{p}` no longer exists")),
            _ => Outcome::skipped(format!(
                "repository `{}` no longer exists",
                self.name().unwrap_or_default()
            )),
        }
    }
}

/// What was read: the policy, and for a template every other field, to write back unchanged
pub(crate) struct Live {
    pub(crate) policy: Option<Policy>,
    pub(crate) template: Option<CreationTemplate>,
}

impl Live {
    fn of_template(t: CreationTemplate, what: &str) -> Result<Live, HandlerError> {
        Ok(Live {
            policy: parse_live(t.repository_policy.clone(), what)?,
            template: Some(t),
        })
    }
}

/// The repository-creation uses a template the guard creates is applied to
pub const TEMPLATE_APPLIED_FOR: &[&str] = &["REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH"];

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

impl<P: EcrPolicies> Guard<P> {
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

    /// The live state of a target; `None` when the repository or template is gone
    async fn read_target(&self, target: Target<'_>, wait_for_creation: bool) -> Result<Option<Live>, HandlerError> {
        let what = target.what();
        match target {
            Target::Repository(repository) => match self.read_repository(repository, wait_for_creation).await? {
                Some(text) => Ok(Some(Live {
                    policy: parse_live(text, &what)?,
                    template: None,
                })),
                None => Ok(None),
            },
            Target::Registry => Ok(Some(Live {
                policy: parse_live(self.ecr.get_registry_policy().await?, &what)?,
                template: None,
            })),
            Target::Template(prefix) => match self.ecr.get_creation_template(prefix).await? {
                Some(t) => Ok(Some(Live::of_template(t, &what)?)),
                None => Ok(None),
            },
        }
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
        let ctx = GuardContext::new(&self.config, account, region, partition_of(region))
            .for_scope(repository)
            .at((self.clock)());
        let target = Target::Repository(repository);
        self.reconcile(target, account, region, wait_for_creation, |live| {
            plan_repository(live, repository, &ctx)
        })
        .await
    }

    /// Applies the registry rules, the registry baseline and the replication grants to the
    /// registry policy
    pub async fn enforce_registry(&self, account: &str, region: &str) -> Result<Outcome, HandlerError> {
        let ctx = GuardContext::new(&self.config, account, region, partition_of(region)).at((self.clock)());
        self.reconcile(Target::Registry, account, region, false, |live| {
            plan_registry(live, &ctx)
        })
        .await
    }

    /// Judges a creation template's `repositoryPolicy` (as read, or `listed` by the sweep) and
    /// repairs it, every other field unchanged. A template the guard keeps for a baseline
    /// (`baseline_templates`) that does not exist is created.
    pub async fn enforce_template(
        &self,
        account: &str,
        region: &str,
        prefix: &str,
        listed: Option<(CreationTemplate, Instant)>,
        others: &[String],
    ) -> Result<Outcome, HandlerError> {
        if self.config.is_exempt_template(prefix) {
            return Ok(Outcome::skipped(format!(
                "creation template `{prefix}` applies only to exempt repositories"
            )));
        }
        let scope = namespace(prefix);
        let ctx = GuardContext::new(&self.config, account, region, partition_of(region))
            .for_scope(&scope)
            .at((self.clock)());
        // Templates the guard keeps will exist: their namespaces are not this one's to fill.
        let mut more_specific: Vec<String> = self.config.managed_templates().into_iter().map(|(p, _)| p).collect();
        more_specific.extend(others.iter().cloned());
        let target = Target::Template(prefix);
        let managed = self.config.managed_templates().iter().any(|(p, _)| p == prefix);
        let pre_read = match listed {
            Some((t, listed_at)) => (Live::of_template(t, &target.what())?, listed_at),
            None => {
                let read_at = Instant::now();
                match self.read_target(target, false).await? {
                    Some(live) => (live, read_at),
                    None if managed => return self.create_template(&ctx, prefix, &more_specific).await,
                    None => return Ok(target.gone()),
                }
            }
        };
        self.reconcile_from(target, account, region, Some(pre_read), |live| {
            plan_template(live, prefix, &more_specific, &ctx)
        })
        .await
    }

    /// Creates the template the guard keeps for a baseline namespace
    async fn create_template(
        &self,
        ctx: &GuardContext<'_>,
        prefix: &str,
        more_specific: &[String],
    ) -> Result<Outcome, HandlerError> {
        let plan = plan_template(None, prefix, more_specific, ctx)?;
        let target = Target::Template(prefix);
        let Some(text) = (match (&plan.action, &plan.would) {
            (PlanAction::Put(t), _) => Some(t.clone()),
            _ => None,
        }) else {
            // Report mode, or a baseline that cannot be templated: say so, create nothing.
            return self.apply(target, ctx.account, ctx.region, plan, None).await;
        };
        let template = CreationTemplate {
            prefix: prefix.to_owned(),
            repository_policy: Some(text),
            description: Some(format!(
                "ecr-policy-guard: baseline policy for repositories ECR creates under `{}`",
                namespace(prefix)
            )),
            applied_for: TEMPLATE_APPLIED_FOR.iter().map(|s| (*s).to_owned()).collect(),
            ..CreationTemplate::default()
        };
        self.ecr.create_creation_template(&template).await?;
        let mut o = self.apply(target, ctx.account, ctx.region, plan, None).await?;
        o.write = Some("create");
        Ok(o)
    }

    /// Plans from the live policy and writes (see [`Guard::reconcile_from`])
    async fn reconcile(
        &self,
        target: Target<'_>,
        account: &str,
        region: &str,
        wait_for_creation: bool,
        planner: impl Fn(Option<&Policy>) -> Result<Plan, PlanError>,
    ) -> Result<Outcome, HandlerError> {
        // The clock starts before the read: a read that waited (retries, creation) is not fresh.
        let read_at = Instant::now();
        let Some(live) = self.read_target(target, wait_for_creation).await? else {
            return Ok(target.gone());
        };
        self.reconcile_from(target, account, region, Some((live, read_at)), planner)
            .await
    }

    /// Plans from the live state and writes. A plan that waited is checked against a fresh read
    /// first: if the policy changed since it was planned against (another writer, a delete), the
    /// plan is made again from what is there now, so the guard never writes over a change it
    /// had time to miss. `pre_read` is a read already made and when it started (`None`: read
    /// here).
    async fn reconcile_from(
        &self,
        target: Target<'_>,
        account: &str,
        region: &str,
        pre_read: Option<(Live, Instant)>,
        planner: impl Fn(Option<&Policy>) -> Result<Plan, PlanError>,
    ) -> Result<Outcome, HandlerError> {
        let (mut live, mut read_at) = match pre_read {
            Some(read) => read,
            None => {
                let read_at = Instant::now();
                match self.read_target(target, false).await? {
                    Some(live) => (live, read_at),
                    None => return Ok(target.gone()),
                }
            }
        };
        for _ in 0..WRITE_ATTEMPTS {
            let plan = planner(live.policy.as_ref())?;
            if plan.action == PlanAction::Unchanged || read_at.elapsed() < FRESH_READ {
                return self.apply(target, account, region, plan, live.template.as_ref()).await;
            }
            read_at = Instant::now();
            let Some(now) = self.read_target(target, false).await? else {
                return Ok(target.gone());
            };
            if same_meaning(live.policy.as_ref(), now.policy.as_ref()) && read_at.elapsed() < MAX_READ_TO_WRITE {
                return self.apply(target, account, region, plan, now.template.as_ref()).await;
            }
            live = now;
        }
        Err(HandlerError::Contended(WRITE_ATTEMPTS))
    }

    /// Grants replication to `source` when it is allowed, merged with the live registry policy.
    /// Registry writes race (other grants, enforce): after writing, read back and plan again;
    /// a lost update shows up as a non-empty plan and is written again.
    pub async fn grant_replication(&self, account: &str, region: &str, source: &str) -> Result<Outcome, HandlerError> {
        let ctx = GuardContext::new(&self.config, account, region, partition_of(region)).at((self.clock)());
        let attempts = self.registry_attempts.max(1);
        let mut written: Option<Outcome> = None;
        for attempt in 0..=attempts {
            let read_at = Instant::now();
            let live = parse_live(self.ecr.get_registry_policy().await?, "registry policy")?;
            let plan = plan_replication_grant(live.as_ref(), source, &ctx)?;
            if plan.action == PlanAction::Unchanged {
                if let Some(o) = written {
                    return Ok(o);
                }
                // A refused source or a blocking Deny: `apply` logs the note; nothing was done.
                let refused = !ctx.config.replication_sources.iter().any(|s| s == source);
                let mut o = self.apply(Target::Registry, account, region, plan, None).await?;
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
            let outcome = self.apply(Target::Registry, account, region, plan, None).await?;
            written.get_or_insert(outcome);
            // Every concurrent guard writer that read before our write has written by now (their
            // read-to-write time is bounded): if ours was lost, the next plan is not empty.
            tokio::time::sleep(self.verify_delay + jitter(source)).await;
        }
        Err(HandlerError::Contended(attempts))
    }

    fn audit_finding(&self, target: Target, account: &str, region: &str, f: &Finding, plan: &Plan) {
        let (audit, after) = match f.disposition {
            Disposition::Removed => ("grant_removed", plan.after.as_ref()),
            Disposition::Pinned => ("grant_pinned", plan.after.as_ref()),
            Disposition::Reported => ("grant_removed", plan.would_after.as_ref()),
            Disposition::Kept | Disposition::Excepted => ("finding", plan.after.as_ref()),
        };
        self.audit.emit(json!({
            "audit": audit,
            "mode": self.config.rule_mode(f.rule).as_str(),
            "disposition": f.disposition.as_str(),
            "target": target.kind(),
            "repository": target.name(),
            "account": account,
            "region": region,
            "rule": f.rule.as_str(),
            "severity": f.rule.severity().as_str(),
            "reason": f.reason,
            "statement_index": f.index,
            "sid": f.statement.sid,
            "principal": f.principal,
            "statement": f.statement.to_value(),
            "rewritten": f.rewritten.as_ref().map(|s| s.to_value()),
            "policy_before": policy_json(plan.before.as_ref()),
            "policy_after": policy_json(after),
        }));
    }

    /// Writes what the plan says (nothing for report-mode rules), logs every finding and write,
    /// and returns the outcome. `template` is the template as read, for a template target.
    async fn apply(
        &self,
        target: Target<'_>,
        account: &str,
        region: &str,
        plan: Plan,
        template: Option<&CreationTemplate>,
    ) -> Result<Outcome, HandlerError> {
        for n in &plan.notes {
            self.audit.emit(
                json!({"audit": "note", "mode": self.config.mode.label(), "target": target.kind(),
                "repository": target.name(), "account": account, "region": region, "note": n}),
            );
        }
        let (action, write) = match (plan.action.write(), plan.would.write()) {
            (Some(w), _) => (OutcomeAction::Written, Some(w)),
            (None, Some(w)) => (OutcomeAction::Reported, Some(w)),
            (None, None) if plan.findings.iter().any(|f| f.disposition == Disposition::Reported) => {
                (OutcomeAction::Reported, None)
            }
            (None, None) => (OutcomeAction::Unchanged, None),
        };
        match (&plan.action, target) {
            (PlanAction::Put(text), Target::Repository(r)) => self.ecr.set_repository_policy(r, text).await?,
            (PlanAction::Delete, Target::Repository(r)) => self.ecr.delete_repository_policy(r).await?,
            (PlanAction::Put(text), Target::Registry) => self.ecr.put_registry_policy(text).await?,
            (PlanAction::Delete, Target::Registry) => self.ecr.delete_registry_policy().await?,
            (PlanAction::Put(_) | PlanAction::Delete, Target::Template(_)) => {
                if let Some(t) = template {
                    let mut t = t.clone();
                    t.repository_policy = match &plan.action {
                        PlanAction::Put(text) => Some(text.clone()),
                        _ => None,
                    };
                    self.ecr.update_creation_template(&t).await?;
                }
            }
            (PlanAction::Unchanged, _) => {}
        }
        // Logged once the write has landed (or when nothing is written): a failed write removed
        // nothing.
        for f in &plan.findings {
            self.audit_finding(target, account, region, f, &plan);
        }
        let added: Vec<Value> = plan.added().map(|s| s.to_value()).collect();
        let would_add: Vec<Value> = plan
            .additions
            .iter()
            .filter(|a| !a.applied)
            .map(|a| a.statement.to_value())
            .collect();
        if action != OutcomeAction::Unchanged {
            let written = action == OutcomeAction::Written;
            self.audit.emit(json!({
                "audit": if written { "policy_written" } else { "policy_would_be_written" },
                "mode": self.config.mode.label(),
                "write": write,
                "target": target.kind(),
                "repository": target.name(),
                "account": account,
                "region": region,
                "policy_before": policy_json(plan.before.as_ref()),
                "policy_after": policy_json(if written { plan.after.as_ref() } else { plan.would_after.as_ref() }),
                "added": added,
                "would_add": would_add,
            }));
        }
        let name = target.name();
        let subject = Subject {
            kind: target.kind(),
            name: name.as_deref(),
            account,
            region,
            partition: partition_of(region),
        };
        let records = records(&subject, &plan, &self.config, (self.clock)());
        Ok(Outcome {
            action,
            target: Some(target.kind()),
            repository: target.name(),
            write,
            findings: plan.findings.iter().map(GrantFinding::from).collect(),
            added,
            would_add,
            reason: (!plan.notes.is_empty()).then(|| plan.notes.join("; ")),
            records,
        })
    }
}
