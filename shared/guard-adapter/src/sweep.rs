//! The reconcile sweep: every repository, then the registry policy, through exactly the same
//! engine calls as the event handlers. Bounded concurrency, one repository's failure recorded
//! without stopping the rest, and a time budget so a Lambda stops cleanly and says where; a
//! registry larger than one invocation is continued from there (`start_at`).

use crate::{
    engine::{partition_of, Guard, HandlerError, Outcome, OutcomeAction},
    outlets::{asff::Scope, FindingRecord, Subject},
    port::EcrPolicies,
};
use futures_util::{stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::atomic::{AtomicUsize, Ordering},
    time::Instant,
};

/// How to run a sweep
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// Repositories handled at once (the SDK's retry and backoff absorb throttling)
    pub concurrency: usize,
    /// Start no repository after this instant (the Lambda's deadline less a margin)
    pub deadline: Option<Instant>,
    /// Continue a sweep that stopped: only repositories whose names sort at or after this one
    /// (a previous summary's `stopped_at`)
    pub start_at: Option<String>,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            concurrency: 8,
            deadline: None,
            start_at: None,
        }
    }
}

/// One finding: a grant removed, pinned, reported (report-mode rule) or kept with a note
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The policy it is in: `repository` or `registry`
    pub target: &'static str,
    /// The repository
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The rule
    pub rule: &'static str,
    /// Why
    pub reason: String,
    /// The statement label
    pub statement: String,
    /// The principal, when only it was concerned
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// `removed`, `pinned`, `reported` or `kept`
    pub disposition: &'static str,
}

/// A repository (or the registry) the sweep could not handle
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The repository (or a template's `template:PREFIX`), absent for the registry
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The error
    pub error: String,
    /// Whether a later sweep may succeed
    pub retryable: bool,
}

/// An approved exception that ends soon: someone should renew it or let the grant go
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExpiringException {
    /// Index in `exceptions`
    pub index: usize,
    /// Its grantee
    pub grantee: String,
    /// The first day it no longer applies
    pub expires: String,
    /// Whole days left
    pub days_left: i64,
    /// Why it was approved
    pub reason: String,
}

/// The sweep's one JSON summary
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepSummary {
    /// The registry's account
    pub account: String,
    /// The registry's Region
    pub region: String,
    /// `enforce` or `report`
    pub mode: &'static str,
    /// Repositories listed
    pub repositories_seen: usize,
    /// Already compliant
    pub compliant: usize,
    /// Written, or that would be written by report-mode rules
    pub changed: usize,
    /// Of those, the ones where nothing was written (report-mode rules)
    pub reported: usize,
    /// Exempt, or gone before we looked
    pub skipped: usize,
    /// Could not be handled
    pub failed: Vec<Failure>,
    /// Findings counted by rule
    pub findings_by_rule: BTreeMap<&'static str, usize>,
    /// Every finding
    pub findings: Vec<Finding>,
    /// Repositories policies written or reported (names)
    pub changed_repositories: Vec<String>,
    /// What happened to the registry policy (absent when the budget ran out first)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<OutcomeAction>,
    /// What happened to each repository creation template, by prefix (those the guard keeps
    /// included)
    pub templates: BTreeMap<String, OutcomeAction>,
    /// Approved exceptions that end within 14 days
    pub exceptions_expiring: Vec<ExpiringException>,
    /// Security Hub findings of the guard this sweep no longer saw, resolved (`PASSED`,
    /// `ARCHIVED`)
    pub resolved_findings: usize,
    /// False when the time budget ran out
    pub complete: bool,
    /// The first repository not handled, when the budget ran out: the next part's `start_at`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    /// Where this part of a continued sweep began (with the parts before it absorbed: where the
    /// first of them began)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// Wall time
    pub elapsed_ms: u64,
}

impl SweepSummary {
    /// The summary of a registry that could not be reached at all (its member role is missing
    /// or refused): nothing seen, the reason under `failed`, incomplete
    pub fn unreachable(account: &str, region: &str, mode: &'static str, error: String, retryable: bool) -> Self {
        SweepSummary {
            account: account.to_owned(),
            region: region.to_owned(),
            mode,
            repositories_seen: 0,
            compliant: 0,
            changed: 0,
            reported: 0,
            skipped: 0,
            failed: vec![Failure {
                repository: None,
                error,
                retryable,
            }],
            findings_by_rule: BTreeMap::new(),
            findings: vec![],
            changed_repositories: vec![],
            registry: None,
            templates: BTreeMap::new(),
            exceptions_expiring: vec![],
            resolved_findings: 0,
            complete: false,
            stopped_at: None,
            start_at: None,
            elapsed_ms: 0,
        }
    }

    /// The counts without the lists that grow with the registry (`findings`,
    /// `changed_repositories`): what an organisation sweep records per account and Region, each
    /// finding having its own audit line already
    pub fn counts(mut self) -> Self {
        self.findings = vec![];
        self.changed_repositories = vec![];
        self
    }

    /// True when something is left that enforcing would change (a CI gate over report mode):
    /// what was fixed, and findings kept by configuration (`service-unpinned` with
    /// `unpinned_services: keep`), do not count
    pub fn has_findings(&self) -> bool {
        self.reported > 0
            || self.registry == Some(OutcomeAction::Reported)
            || self.templates.values().any(|a| *a == OutcomeAction::Reported)
            || self.findings.iter().any(|f| f.disposition == "reported")
    }
}

/// The summary of the parts of a continued sweep before this one, as the state machine passes it
/// on (`previous`): the counts this part adds its own to
#[derive(Clone, Debug, Deserialize)]
pub struct EarlierParts {
    /// The registry's account
    pub account: String,
    /// The registry's Region
    pub region: String,
    #[serde(default)]
    compliant: usize,
    #[serde(default)]
    changed: usize,
    #[serde(default)]
    reported: usize,
    #[serde(default)]
    skipped: usize,
    #[serde(default)]
    failed: Vec<Failure>,
    #[serde(default)]
    findings_by_rule: BTreeMap<String, usize>,
    #[serde(default)]
    changed_repositories: Vec<String>,
    #[serde(default)]
    resolved_findings: usize,
    #[serde(default)]
    elapsed_ms: u64,
    #[serde(default)]
    start_at: Option<String>,
}

impl EarlierParts {
    /// A rule name among its counts that is no rule (checked before anything is swept)
    pub fn unknown_rule(&self) -> Option<&str> {
        self.findings_by_rule
            .keys()
            .map(String::as_str)
            .find(|name| policy_core::Rule::from_name(name).is_none())
    }
}

impl SweepSummary {
    /// Adds what the earlier parts of this registry's sweep did to this part's summary, so the
    /// last part's summary counts the whole registry. Their findings are in their own summaries
    /// and audit lines; their rule counts are kept (a name that is no rule is left out: see
    /// [`EarlierParts::unknown_rule`]).
    pub fn absorb(&mut self, earlier: EarlierParts) {
        for (name, n) in earlier.findings_by_rule {
            if let Some(rule) = policy_core::Rule::from_name(&name) {
                *self.findings_by_rule.entry(rule.as_str()).or_default() += n;
            }
        }
        // An earlier part listed this part's repositories too but stopped before them: what it
        // handled (every one it started is counted once) plus this part's listing.
        self.repositories_seen += earlier.compliant + earlier.changed + earlier.skipped + earlier.failed.len();
        self.compliant += earlier.compliant;
        self.changed += earlier.changed;
        self.reported += earlier.reported;
        self.skipped += earlier.skipped;
        self.resolved_findings += earlier.resolved_findings;
        self.elapsed_ms += earlier.elapsed_ms;
        let mine = std::mem::replace(&mut self.failed, earlier.failed);
        self.failed.extend(mine);
        let mine = std::mem::replace(&mut self.changed_repositories, earlier.changed_repositories);
        self.changed_repositories.extend(mine);
        self.start_at = earlier.start_at;
    }
}

/// What the sweep saw, for the outlets
#[derive(Default)]
struct Seen {
    /// Every record of every target
    records: Vec<FindingRecord>,
    /// Resources whose policy the sweep wrote
    written: BTreeSet<String>,
    /// Resources the sweep failed to judge: their findings are neither seen nor gone
    unsure: BTreeSet<String>,
    /// The template listing failed
    no_templates: bool,
}

impl Seen {
    fn add(&mut self, o: &Outcome) {
        if o.action == OutcomeAction::Written {
            if let Some(r) = o.records.first() {
                self.written.insert(r.resource.clone());
            }
        }
        self.records.extend(o.records.iter().cloned());
    }
}

enum Step {
    Done(Result<Outcome, HandlerError>),
    NotStarted,
}

fn findings_of(outcome: &Outcome) -> impl Iterator<Item = Finding> + '_ {
    outcome.findings.iter().map(|r| Finding {
        target: outcome.target.unwrap_or("repository"),
        repository: outcome.repository.clone(),
        rule: r.rule,
        reason: r.reason.clone(),
        statement: r.statement.clone(),
        principal: r.principal.clone(),
        disposition: r.disposition,
    })
}

impl<P: EcrPolicies> Guard<P> {
    /// Sweeps every repository and then the registry policy of `account` in `region`.
    /// `progress(done, total)` is called as repositories finish.
    pub async fn sweep(
        &self,
        account: &str,
        region: &str,
        options: SweepOptions,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<SweepSummary, HandlerError> {
        let started = Instant::now();
        let mut names = self.ecr.list_repositories().await?;
        // In name order, so that where a sweep stopped is where the next part starts, whatever
        // order the listing came in.
        names.sort_unstable();
        if let Some(from) = options.start_at.as_deref() {
            names.retain(|n| n.as_str() >= from);
        }
        let total = names.len();
        let done = AtomicUsize::new(0);
        let over_budget = || options.deadline.is_some_and(|d| Instant::now() >= d);
        // Owned names: a stream item borrowing from `names` makes the future's `Send` unprovable
        // where the sweep is called through a generic trait (rustc's higher-ranked closure limits).
        let results: Vec<(usize, Step)> = stream::iter(names.iter().cloned().enumerate())
            .map(|(i, name)| {
                let done = &done;
                async move {
                    if over_budget() {
                        return (i, Step::NotStarted);
                    }
                    let r = Box::pin(self.enforce_repository(account, region, &name, false)).await;
                    progress(done.fetch_add(1, Ordering::SeqCst) + 1, total);
                    (i, Step::Done(r))
                }
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        let mut summary = SweepSummary {
            account: account.to_owned(),
            region: region.to_owned(),
            mode: self.config.mode.label(),
            repositories_seen: total,
            compliant: 0,
            changed: 0,
            reported: 0,
            skipped: 0,
            failed: vec![],
            findings_by_rule: BTreeMap::new(),
            findings: vec![],
            changed_repositories: vec![],
            registry: None,
            templates: BTreeMap::new(),
            exceptions_expiring: self.expiring_exceptions(account, region),
            resolved_findings: 0,
            complete: true,
            stopped_at: None,
            start_at: options.start_at.clone(),
            elapsed_ms: 0,
        };
        let mut first_missed: Option<usize> = None;
        let mut seen = Seen::default();
        let mut ordered = results;
        ordered.sort_by_key(|(i, _)| *i);
        for (i, step) in ordered {
            let name = names.get(i).cloned().unwrap_or_default();
            match step {
                Step::NotStarted => {
                    first_missed.get_or_insert(i);
                }
                Step::Done(Err(e)) => {
                    seen.unsure
                        .insert(self.resource_id("repository", Some(&name), account, region));
                    summary.failed.push(Failure {
                        repository: Some(name),
                        retryable: e.is_retryable(),
                        error: e.to_string(),
                    })
                }
                Step::Done(Ok(o)) => {
                    seen.add(&o);
                    match o.action {
                        OutcomeAction::Unchanged => summary.compliant += 1,
                        OutcomeAction::Written | OutcomeAction::Reported => {
                            summary.changed += 1;
                            summary.reported += usize::from(o.action == OutcomeAction::Reported);
                            summary.changed_repositories.push(name);
                        }
                        OutcomeAction::Skipped => summary.skipped += 1,
                    }
                    summary.findings.extend(findings_of(&o));
                }
            }
        }
        if let (Some(0), Some(from)) = (first_missed, options.start_at.as_ref()) {
            // The part before this one stopped here too: another part would do the same.
            return Err(HandlerError::NoProgress(from.clone()));
        }
        if let Some(i) = first_missed {
            summary.complete = false;
            summary.stopped_at = names.get(i).cloned();
        } else {
            // Every repository was started: the templates and the registry are a few requests,
            // done within the deadline's margin, so no part is ever left with only them to do.
            self.sweep_templates(account, region, &mut summary, &mut seen).await;
            match Box::pin(self.enforce_registry(account, region)).await {
                Ok(o) => {
                    seen.add(&o);
                    summary.findings.extend(findings_of(&o));
                    summary.registry = Some(o.action);
                }
                Err(e) => {
                    seen.unsure.insert(self.resource_id("registry", None, account, region));
                    summary.failed.push(Failure {
                        repository: None,
                        retryable: e.is_retryable(),
                        error: e.to_string(),
                    })
                }
            }
        }
        if !self.outlets.is_empty() {
            // Only a sweep that saw the whole registry at once knows which findings are gone.
            let whole = summary.complete && options.start_at.is_none();
            summary.resolved_findings = Box::pin(self.deliver_sweep(account, region, seen, whole)).await;
        }
        for f in &summary.findings {
            *summary.findings_by_rule.entry(f.rule).or_default() += 1;
        }
        summary.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(summary)
    }

    /// Every creation template, then the templates the guard keeps that are missing
    async fn sweep_templates(&self, account: &str, region: &str, summary: &mut SweepSummary, seen: &mut Seen) {
        let failed = |prefix: Option<&str>, e: HandlerError| Failure {
            repository: Some(format!("template:{}", prefix.unwrap_or("*"))),
            retryable: e.is_retryable(),
            error: e.to_string(),
        };
        let listed_at = Instant::now();
        let templates = match self.ecr.list_creation_templates().await {
            Ok(t) => t,
            Err(e) => {
                summary.failed.push(failed(None, e.into()));
                // Which templates exist is unknown: none of their findings may be resolved.
                seen.no_templates = true;
                return;
            }
        };
        let prefixes: Vec<String> = templates.iter().map(|t| t.prefix.clone()).collect();
        let missing = self
            .config
            .managed_templates()
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| !prefixes.contains(p));
        // A template listed a while ago is read again before it is written (see `FRESH_READ`).
        let work: Vec<(String, Option<(crate::port::CreationTemplate, Instant)>)> = templates
            .into_iter()
            .map(|t| (t.prefix.clone(), Some((t, listed_at))))
            .chain(missing.map(|p| (p, None)))
            .collect();
        for (prefix, listed) in work {
            match Box::pin(self.enforce_template(account, region, &prefix, listed, &prefixes)).await {
                Ok(o) => {
                    seen.add(&o);
                    summary.findings.extend(findings_of(&o));
                    summary.templates.insert(prefix, o.action);
                }
                Err(e) => {
                    seen.unsure
                        .insert(self.resource_id("template", Some(&prefix), account, region));
                    summary.failed.push(failed(Some(&prefix), e))
                }
            }
        }
    }

    fn resource_id(&self, kind: &'static str, name: Option<&str>, account: &str, region: &str) -> String {
        Subject {
            kind,
            name,
            account,
            region,
            partition: partition_of(region),
        }
        .resource_id()
    }

    /// Delivers the sweep's records in batches (chat only for the targets it wrote: report-mode
    /// findings the sweep finds again every run go to EventBridge and Security Hub, which key
    /// them by id), then, after a complete sweep, resolves the Security Hub findings it no
    /// longer saw. Returns how many were resolved.
    async fn deliver_sweep(&self, account: &str, region: &str, mut seen: Seen, complete: bool) -> usize {
        let audit = self.audit.as_ref();
        let now = (self.clock)();
        let scope = Scope {
            account: account.to_owned(),
            region: region.to_owned(),
            partition: partition_of(region).to_owned(),
        };
        // Read before importing: what Security Hub holds gives each finding its `CreatedAt`.
        let active = match self.outlets.hub {
            Some(_) => self.outlets.active_findings(&scope, audit).await,
            None => None,
        };
        let created: BTreeMap<String, String> = active
            .iter()
            .flatten()
            .map(|f| (f.id.clone(), f.created_at.clone()))
            .collect();
        for r in &mut seen.records {
            r.trigger = "sweep";
        }
        let written = &seen.written;
        self.outlets
            .deliver(
                &seen.records,
                &|resource| written.contains(resource),
                &created,
                audit,
                now,
            )
            .await;
        let (Some(active), true) = (active, complete) else {
            return 0;
        };
        let ids: BTreeSet<String> = seen.records.iter().map(|r| r.id.clone()).collect();
        let active = if seen.no_templates {
            active
                .into_iter()
                .filter(|f| !f.resource.id.contains(":repository-creation-template/"))
                .collect()
        } else {
            active
        };
        self.outlets
            .resolve_unseen(active, &ids, &seen.unsure, audit, now)
            .await
    }

    /// Approved exceptions ending soon, each also logged as a note
    fn expiring_exceptions(&self, account: &str, region: &str) -> Vec<ExpiringException> {
        let now = (self.clock)();
        self.config
            .expiring_exceptions(now)
            .into_iter()
            .filter_map(|(index, days_left)| {
                let x = self.config.exceptions.get(index)?;
                let e = ExpiringException {
                    index,
                    grantee: x.grantee.to_string(),
                    expires: x.expires.clone(),
                    days_left,
                    reason: x.reason.clone(),
                };
                self.audit.emit(serde_json::json!({"audit": "note", "account": account, "region": region,
                    "note": format!("`exceptions[{index}]` for {} ends on `{}`, in {days_left} days: {}", e.grantee, e.expires, e.reason)}));
                Some(e)
            })
            .collect()
    }
}
