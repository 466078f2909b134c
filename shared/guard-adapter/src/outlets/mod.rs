//! Findings people see and act on. Every finding of a review (report mode), every removal or pin
//! and every repair (enforce mode) becomes one [`FindingRecord`], built here without I/O from the
//! plan the engine wrote; the same record then goes to up to three outlets:
//!
//! - **EventBridge**: a custom event on the account's default bus (`source`
//!   [`EVENT_SOURCE`], `detail-type` [`EVENT_DETAIL_TYPE`], `detail` the record), so findings
//!   are routed with rules people already know;
//! - **Security Hub**: ASFF through `BatchImportFindings` ([`asff`]); a fixed finding is resolved
//!   by importing its id again, `PASSED` and `ARCHIVED`. The sweep imports directly; a handler's
//!   findings travel as EventBridge events to `import-findings` ([`import`]), which keeps the
//!   Security Hub client out of the handlers;
//! - **SNS**: one short message per target in the custom notification format of Amazon Q
//!   Developer in chat applications ([`chat`]), which Slack and Teams channels show.
//!
//! The record building, the stable id and the renderings are pure and live here, beside the
//! outlets, rather than in policy-core: they are about AWS delivery formats (ASFF, EventBridge,
//! chat) and this registry's ARNs, not about IAM semantics, and policy-core stays free of them.
//!
//! A delivery never fails or undoes enforcement: each outlet is tried with backoff, then a failure
//! is written to the audit log as a `delivery_failed` line holding the records, and the handler
//! returns its outcome. The audit log stays the record of truth.

pub mod asff;
pub mod chat;
pub mod import;
pub mod memory;
pub mod sdk;

use crate::{audit::AuditSink, engine::Backoff, port::PortError};
use futures_util::future::BoxFuture;
use policy_core::{
    normalize::{canonical_json, normalize_statement},
    plan::Plan,
    Disposition, GuardConfig, Statement,
};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

/// The `source` of the guard's EventBridge events (custom sources may not start with `aws.`)
pub const EVENT_SOURCE: &str = "ecr-policy-guard";
/// The `detail-type` of the guard's EventBridge events
pub const EVENT_DETAIL_TYPE: &str = "ECR Policy Guard Finding";
/// The start of every finding id; the version changes with the id's recipe
pub const ID_PREFIX: &str = "ecr-policy-guard/v1";

/// What a finding is about: a repository's policy, the registry policy, or a repository
/// creation template's policy, in one account and Region
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subject<'a> {
    /// `repository`, `registry` or `template`
    pub kind: &'static str,
    /// The repository, or the template's prefix
    pub name: Option<&'a str>,
    /// The registry's account
    pub account: &'a str,
    /// The Region
    pub region: &'a str,
    /// The partition of the Region
    pub partition: &'a str,
}

impl Subject<'_> {
    /// The resource's identifier: a repository's ARN; for the registry policy and creation
    /// templates, which have no ARN of their own, a readable id in the same shape (not an ARN)
    pub fn resource_id(&self) -> String {
        let (p, r, a) = (self.partition, self.region, self.account);
        let name = self.name.unwrap_or_default();
        match self.kind {
            "repository" => format!("arn:{p}:ecr:{r}:{a}:repository/{name}"),
            "template" => format!("ecr:{r}:{a}:repository-creation-template/{name}"),
            _ => format!("ecr:{r}:{a}:registry-policy"),
        }
    }
}

/// One finding as every outlet receives it; serialised, it is the `detail` of the EventBridge
/// event
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FindingRecord {
    /// Stable: the same account, Region, target, rule and principal give the same id
    pub id: String,
    /// The registry's account
    pub account: String,
    /// The Region
    pub region: String,
    /// `repository`, `registry` or `template` (a repository creation template)
    pub target: &'static str,
    /// The repository, or the template's prefix; absent for the registry policy
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The repository's ARN, or the registry policy's or template's id (see
    /// [`Subject::resource_id`])
    pub resource: String,
    /// The rule
    pub rule: &'static str,
    /// `CRITICAL`, `HIGH`, `MEDIUM` or `LOW`, by rule
    pub severity: &'static str,
    /// What the rule finds, in one line
    pub title: &'static str,
    /// Why, with the offending values
    pub reason: String,
    /// The principal concerned, absent when the whole statement is
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Which statement: ``statement 2 (`Sid`)``
    pub statement_label: String,
    /// The statement verbatim, as read (or as added, for a repair)
    pub statement: Value,
    /// The statement as enforcing leaves it (`null` when it goes, or for a repair)
    pub rewritten: Value,
    /// What was done: `removed`, `pinned`, `added` (a repair), `reported` (report mode: would be
    /// removed, pinned or added), `kept` (by configuration) or `excepted` (approved exception)
    pub disposition: &'static str,
    /// The rule's mode: `enforce` or `report`
    pub mode: &'static str,
    /// `event` (a handler) or `sweep`
    pub trigger: &'static str,
    /// When the guard saw it, RFC 3339 UTC with milliseconds
    pub observed_at: String,
}

impl FindingRecord {
    /// True when the guard changed the policy (nothing is left to do about it)
    pub fn fixed(&self) -> bool {
        matches!(self.disposition, "removed" | "pinned" | "added")
    }

    /// True for what a person is told in chat: a change made, or one report mode holds back
    pub fn notable(&self) -> bool {
        self.fixed() || self.disposition == "reported"
    }

    /// The record as JSON
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The stable id of a finding. For a finding about one principal, the principal identifies it;
/// for one about a whole statement, the statement's `Sid` when it has one, else the statement in
/// normal form (order, case and one-versus-many do not change it). Hashed (SHA-256, 128 bits
/// kept) so ids stay short and hold no characters Security Hub or a chat may refuse.
pub fn finding_id(subject: &Subject, rule: &str, principal: Option<&str>, statement: &Statement) -> String {
    let about = match (principal, &statement.sid) {
        (Some(p), _) => format!("principal:{p}"),
        (None, Some(sid)) if !sid.is_empty() => format!("sid:{sid}"),
        (None, _) => format!(
            "statement:{}",
            canonical_json(&normalize_statement(statement).to_statement().to_value())
        ),
    };
    let mut h = Sha256::new();
    for part in [
        subject.account,
        subject.region,
        subject.kind,
        subject.name.unwrap_or_default(),
        rule,
        &about,
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let hex: String = h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{ID_PREFIX}/{}/{}/{}/{rule}/{hex}",
        subject.account, subject.region, subject.kind
    )
}

/// Seconds since the epoch as RFC 3339 UTC with milliseconds (`2026-04-01T09:30:00.000Z`): one
/// fixed width, so the text orders like the time
pub fn rfc3339(secs: f64) -> String {
    let millis = (secs * 1000.0).round().max(0.0) as i64;
    let (days, ms) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// An RFC 3339 time (as [`rfc3339`] writes it, or with another precision) as seconds since the
/// epoch
pub fn parse_rfc3339(text: &str) -> Option<f64> {
    aws_sdk_ecr::primitives::DateTime::from_str(text, aws_sdk_ecr::primitives::DateTimeFormat::DateTime)
        .ok()
        .map(|d| d.as_secs_f64())
}

/// Every finding and repair of a plan as records (pure: `observed_at` is the caller's clock)
pub fn records(subject: &Subject, plan: &Plan, config: &GuardConfig, observed_at: f64) -> Vec<FindingRecord> {
    let at = rfc3339(observed_at);
    let record = |rule: policy_core::Rule,
                  principal: Option<&str>,
                  statement: &Statement,
                  label: String,
                  reason: String,
                  rewritten: Value,
                  disposition: &'static str| FindingRecord {
        id: finding_id(subject, rule.as_str(), principal, statement),
        account: subject.account.to_owned(),
        region: subject.region.to_owned(),
        target: subject.kind,
        repository: subject.name.map(str::to_owned),
        resource: subject.resource_id(),
        rule: rule.as_str(),
        severity: rule.severity().as_str(),
        title: rule.description(),
        reason,
        principal: principal.map(str::to_owned),
        statement_label: label,
        statement: statement.to_value(),
        rewritten,
        disposition,
        mode: config.rule_mode(rule).as_str(),
        trigger: "event",
        observed_at: at.clone(),
    };
    let mut out: Vec<FindingRecord> = plan
        .findings
        .iter()
        .map(|f| {
            record(
                f.rule,
                f.principal.as_deref(),
                &f.statement,
                f.label.clone(),
                f.reason.clone(),
                f.rewritten.as_ref().map_or(Value::Null, Statement::to_value),
                f.disposition.as_str(),
            )
        })
        .collect();
    for a in &plan.additions {
        let sid = a.statement.sid.clone().unwrap_or_default();
        let reason = match a.rule {
            policy_core::Rule::Replication => {
                format!("the registry policy lacked the replication grant `{sid}` for a trusted source")
            }
            _ => format!("the baseline statement `{sid}` was missing"),
        };
        out.push(record(
            a.rule,
            None,
            &a.statement,
            format!("statement `{sid}`"),
            reason,
            Value::Null,
            if a.applied {
                "added"
            } else {
                Disposition::Reported.as_str()
            },
        ));
    }
    out
}

/// One custom event for the default bus
#[derive(Clone, Debug, PartialEq)]
pub struct BusEvent {
    /// `source`
    pub source: &'static str,
    /// `detail-type`
    pub detail_type: &'static str,
    /// `detail`, JSON text
    pub detail: String,
    /// `resources`: ARNs only (a repository's)
    pub resources: Vec<String>,
}

impl BusEvent {
    /// The event of one record
    pub fn of(record: &FindingRecord) -> BusEvent {
        BusEvent {
            source: EVENT_SOURCE,
            detail_type: EVENT_DETAIL_TYPE,
            detail: record.to_value().to_string(),
            resources: if record.resource.starts_with("arn:") {
                vec![record.resource.clone()]
            } else {
                vec![]
            },
        }
    }

    /// What EventBridge counts toward a `PutEvents` request's 256 KB: the entry's strings and
    /// 14 bytes for its time
    fn size(&self) -> usize {
        14 + self.source.len()
            + self.detail_type.len()
            + self.detail.len()
            + self.resources.iter().map(String::len).sum::<usize>()
    }
}

/// `PutEvents` takes at most 10 entries and 256 KB a request (EventBridge quotas)
pub const EVENTS_PER_CALL: usize = 10;
const EVENT_BYTES_PER_CALL: usize = 240 * 1024;
/// `BatchImportFindings` takes at most 100 findings a request
pub const FINDINGS_PER_CALL: usize = 100;

/// The account's default EventBridge bus
pub trait EventBus: Send + Sync {
    /// `PutEvents`; an entry EventBridge refused is an error naming it
    fn put_events<'a>(&'a self, events: &'a [BusEvent]) -> BoxFuture<'a, Result<(), PortError>>;
}

/// A finding Security Hub did not take
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportFailure {
    /// The finding's id
    pub id: String,
    /// Security Hub's error code
    pub code: String,
    /// Its message
    pub message: String,
}

/// Security Hub, as the account's default product
pub trait FindingsHub: Send + Sync {
    /// `BatchImportFindings` of at most 100 findings; the ones refused come back
    fn import<'a>(&'a self, findings: &'a [asff::Asff]) -> BoxFuture<'a, Result<Vec<ImportFailure>, PortError>>;
    /// `GetFindings`: the guard's active findings in this account and Region (every page)
    fn active<'a>(&'a self, scope: &'a asff::Scope) -> BoxFuture<'a, Result<Vec<asff::Asff>, PortError>>;
}

/// An SNS topic that a chat channel reads
pub trait Notifier: Send + Sync {
    /// `Publish` one message
    fn publish<'a>(&'a self, subject: &'a str, message: &'a str) -> BoxFuture<'a, Result<(), PortError>>;
}

/// The outlets a guard delivers findings to (none in the command line and unit tests)
#[derive(Clone)]
pub struct Outlets {
    /// EventBridge (`finding_events`, or `security_hub`: a handler's findings reach Security Hub
    /// as events)
    pub events: Option<Arc<dyn EventBus>>,
    /// Security Hub (`security_hub`), called by the sweep only: handlers [`Outlets::publish`]
    pub hub: Option<Arc<dyn FindingsHub>>,
    /// SNS for chat (`notify_topic_arn`)
    pub chat: Option<Arc<dyn Notifier>>,
    /// Tries per delivery and the first pause (doubling); the SDK clients retry throttling and
    /// transport errors within each try
    pub retry: Backoff,
}

impl Default for Outlets {
    /// No outlet; three tries, 300 ms then 600 ms apart, when some are added
    fn default() -> Self {
        Outlets {
            events: None,
            hub: None,
            chat: None,
            retry: Backoff {
                attempts: 3,
                first_delay: std::time::Duration::from_millis(300),
            },
        }
    }
}

/// The IAM actions the outlets call for an event kind (see [`crate::engine::ecr_actions`]): the
/// template gives each role exactly these, conditioned on the switch of each outlet
pub fn outlet_actions(kind: &str) -> &'static [&'static str] {
    match kind {
        "sweep" => &[
            "events:PutEvents",
            "securityhub:BatchImportFindings",
            "securityhub:GetFindings",
            "sns:Publish",
        ],
        // import-findings
        "finding" => &["securityhub:BatchImportFindings"],
        k if !crate::engine::ecr_actions(k).is_empty() => &["events:PutEvents", "sns:Publish"],
        _ => &[],
    }
}

/// The outlet IAM actions a function that accepts these kinds may call
pub fn outlet_actions_for(accepts: crate::Accepts) -> BTreeSet<&'static str> {
    accepts.iter().flat_map(|k| outlet_actions(k).iter().copied()).collect()
}

/// The config field that turns on the outlet an action belongs to (`events:PutEvents` is also
/// on with `security_hub`, whose handler findings travel as events)
pub fn outlet_switch(action: &str) -> Option<&'static str> {
    match action.split(':').next() {
        Some("events") => Some("finding_events"),
        Some("securityhub") => Some("security_hub"),
        Some("sns") => Some("notify_topic_arn"),
        _ => None,
    }
}

/// Runs `call` until it succeeds, fails for good, or the tries run out
async fn with_retry<T, F>(retry: Backoff, mut call: F) -> (Result<T, PortError>, u32)
where
    F: FnMut() -> BoxFuture<'static, Result<T, PortError>>,
{
    let attempts = retry.attempts.max(1);
    let mut delay = retry.first_delay;
    let mut tried = 0;
    loop {
        tried += 1;
        match call().await {
            Err(e) if e.is_retryable() && tried < attempts => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return (other, tried),
        }
    }
}

fn failed(audit: &dyn AuditSink, outlet: &str, error: &str, tries: u32, records: &[&FindingRecord], extra: Value) {
    let mut line = json!({
        "audit": "delivery_failed",
        "outlet": outlet,
        "error": error,
        "tries": tries,
        "records": records.iter().map(|r| r.to_value()).collect::<Vec<_>>(),
    });
    if let (Some(l), Value::Object(x)) = (line.as_object_mut(), extra) {
        l.extend(x);
    }
    audit.emit(line);
}

impl Outlets {
    /// True when no outlet is configured
    pub fn is_empty(&self) -> bool {
        self.events.is_none() && self.hub.is_none() && self.chat.is_none()
    }

    /// A handler's delivery: the records to EventBridge and chat at once (Security Hub imports
    /// them from the events). Failures are audited, never returned.
    pub async fn publish(&self, records: &[FindingRecord], audit: &dyn AuditSink) {
        if records.is_empty() {
            return;
        }
        futures_util::join!(
            self.deliver_events(records, audit),
            self.deliver_chat(records, &|_| true, audit),
        );
    }

    /// The sweep's delivery: the records to every outlet at once. `notify(resource)` says which
    /// targets get a chat message; `created` holds the `CreatedAt` of findings Security Hub
    /// already has. Failures are audited, never returned.
    pub async fn deliver(
        &self,
        records: &[FindingRecord],
        notify: &(dyn Fn(&str) -> bool + Sync),
        created: &BTreeMap<String, String>,
        audit: &dyn AuditSink,
        now: f64,
    ) {
        if records.is_empty() {
            return;
        }
        futures_util::join!(
            self.deliver_events(records, audit),
            self.deliver_hub(records, created, audit, now),
            self.deliver_chat(records, notify, audit),
        );
    }

    async fn deliver_events(&self, records: &[FindingRecord], audit: &dyn AuditSink) {
        let Some(bus) = &self.events else { return };
        let mut chunks: Vec<Vec<(BusEvent, &FindingRecord)>> = vec![];
        let mut bytes = 0;
        for r in records {
            let e = BusEvent::of(r);
            let size = e.size();
            match chunks.last_mut() {
                Some(c) if c.len() < EVENTS_PER_CALL && bytes + size <= EVENT_BYTES_PER_CALL => {
                    bytes += size;
                    c.push((e, r));
                }
                _ => {
                    bytes = size;
                    chunks.push(vec![(e, r)]);
                }
            }
        }
        for chunk in chunks {
            let events: Arc<Vec<BusEvent>> = Arc::new(chunk.iter().map(|(e, _)| e.clone()).collect());
            let bus = bus.clone();
            let (result, tries) = with_retry(self.retry, || {
                let (bus, events) = (bus.clone(), events.clone());
                Box::pin(async move { bus.put_events(&events).await })
            })
            .await;
            if let Err(e) = result {
                let rs: Vec<&FindingRecord> = chunk.iter().map(|(_, r)| *r).collect();
                failed(audit, "eventbridge", &e.to_string(), tries, &rs, json!({}));
            }
        }
    }

    async fn deliver_hub(
        &self,
        records: &[FindingRecord],
        created: &BTreeMap<String, String>,
        audit: &dyn AuditSink,
        now: f64,
    ) {
        let Some(hub) = &self.hub else { return };
        // One finding per id in a request: two statements of one policy granting the same
        // principal under the same rule are one finding.
        let mut seen = BTreeSet::new();
        let unique: Vec<&FindingRecord> = records.iter().filter(|r| seen.insert(r.id.clone())).collect();
        let findings: Vec<asff::Asff> = unique
            .iter()
            .map(|r| asff::Asff::of(r, created.get(&r.id).map(String::as_str), now))
            .collect();
        self.import(hub, &findings, &unique, audit).await;
    }

    /// Imports in batches of 100, each retried with backoff; refusals and failures are audited
    async fn import(
        &self,
        hub: &Arc<dyn FindingsHub>,
        findings: &[asff::Asff],
        records: &[&FindingRecord],
        audit: &dyn AuditSink,
    ) {
        for (i, batch) in findings.chunks(FINDINGS_PER_CALL).enumerate() {
            let start = i * FINDINGS_PER_CALL;
            let rs = records
                .get(start..(start + batch.len()).min(records.len()))
                .unwrap_or(&[]);
            let batch: Arc<Vec<asff::Asff>> = Arc::new(batch.to_vec());
            let (result, tries) = with_retry(self.retry, || {
                let (hub, batch) = (hub.clone(), batch.clone());
                Box::pin(async move { hub.import(&batch).await })
            })
            .await;
            match result {
                Ok(refused) if refused.is_empty() => {}
                Ok(refused) => {
                    let ids: BTreeSet<&str> = refused.iter().map(|f| f.id.as_str()).collect();
                    let which: Vec<&FindingRecord> =
                        rs.iter().copied().filter(|r| ids.contains(r.id.as_str())).collect();
                    let errors: Vec<Value> = refused
                        .iter()
                        .map(|f| json!({"id": f.id, "code": f.code, "message": f.message}))
                        .collect();
                    failed(
                        audit,
                        "security_hub",
                        "findings refused",
                        tries,
                        &which,
                        json!({"refused": errors}),
                    );
                }
                Err(e) => {
                    let findings: Vec<Value> = if rs.is_empty() {
                        batch.iter().map(asff::Asff::to_json).collect()
                    } else {
                        vec![]
                    };
                    failed(
                        audit,
                        "security_hub",
                        &e.to_string(),
                        tries,
                        rs,
                        json!({"findings": findings}),
                    );
                }
            }
        }
    }

    async fn deliver_chat(
        &self,
        records: &[FindingRecord],
        notify: &(dyn Fn(&str) -> bool + Sync),
        audit: &dyn AuditSink,
    ) {
        let Some(sns) = &self.chat else { return };
        let mut by_target: BTreeMap<&str, Vec<&FindingRecord>> = BTreeMap::new();
        for r in records.iter().filter(|r| r.notable() && notify(&r.resource)) {
            by_target.entry(r.resource.as_str()).or_default().push(r);
        }
        for target in by_target.values() {
            let Some(message) = chat::message(target) else { continue };
            let text = Arc::new((chat::subject(target), message.to_string()));
            let sns = sns.clone();
            let (result, tries) = with_retry(self.retry, || {
                let (sns, text) = (sns.clone(), text.clone());
                Box::pin(async move { sns.publish(&text.0, &text.1).await })
            })
            .await;
            if let Err(e) = result {
                failed(audit, "sns", &e.to_string(), tries, target, json!({"message": message}));
            }
        }
    }

    /// The guard's active Security Hub findings in this scope (empty without Security Hub, or
    /// when they cannot be read: the failure is audited)
    pub async fn active_findings(&self, scope: &asff::Scope, audit: &dyn AuditSink) -> Option<Vec<asff::Asff>> {
        let hub = self.hub.as_ref()?;
        let (result, tries) = with_retry(self.retry, || {
            let (hub, scope) = (hub.clone(), scope.clone());
            Box::pin(async move { hub.active(&scope).await })
        })
        .await;
        match result {
            // Security Hub's filters do the work; checked again here so a finding of another
            // product, account or Region is never touched whatever the server returned.
            Ok(found) => Some(found.into_iter().filter(|f| scope.holds(f)).collect()),
            Err(e) => {
                failed(
                    audit,
                    "security_hub",
                    &e.to_string(),
                    tries,
                    &[],
                    json!({"operation": "GetFindings"}),
                );
                None
            }
        }
    }

    /// Resolves the active findings this sweep no longer sees: each is imported again under its
    /// id, `Compliance.Status` `PASSED` and `RecordState` `ARCHIVED`. Findings on `unsure`
    /// resources (the sweep failed to read them) are left as they are. Returns how many.
    pub async fn resolve_unseen(
        &self,
        active: Vec<asff::Asff>,
        seen: &BTreeSet<String>,
        unsure: &BTreeSet<String>,
        audit: &dyn AuditSink,
        now: f64,
    ) -> usize {
        let Some(hub) = &self.hub else { return 0 };
        let resolved: Vec<asff::Asff> = active
            .into_iter()
            .filter(|f| !seen.contains(&f.id) && !unsure.contains(&f.resource.id))
            .map(|f| f.resolved(now))
            .collect();
        self.import(hub, &resolved, &[], audit).await;
        resolved.len()
    }
}

#[cfg(test)]
mod tests;
