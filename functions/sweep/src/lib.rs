//! Brings every repository and the registry policy into line, on a schedule and on demand:
//! the install-time pass, the catch-up for lost or late events, and how a config change reaches
//! repositories already there. Same engine and rules as the event handlers.
//!
//! Payloads ([`PAYLOAD_FIELDS`]):
//! - a scheduled event (its `account` and `region` are used), or a manual invoke
//!   `{"account": "...", "region": "...", "concurrency": 8, "summary": "counts"}` where every
//!   field is optional (defaults: `GUARD_ACCOUNT_ID`, `AWS_REGION`, `GUARD_SWEEP_CONCURRENCY` or
//!   8, the whole summary): one registry. In central mode `account` may be any member account.
//!   `"start_at": "NAME"` continues a sweep whose summary said `"stopped_at": "NAME"` (its
//!   deadline came first): repositories in name order from there, then the registry;
//!   `"previous"`, that summary, is added to this part's (the answer counts every part).
//! - `{"plan": true}` (central mode): the organisation sweep's plan, the first step of the
//!   state machine that fans the sweep out over accounts and Regions.

use aws_sdk_organizations::types::{AccountState, AccountStatus};
use guard_adapter::{
    access::AccountAccess,
    event::EventError,
    org::{AccountDirectory, Fanout, SweepPlan},
    sweep::{EarlierParts, SweepOptions, SweepSummary},
    Accepts, Dispatch, HandlerError, Service,
};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The sweep is not an event handler: its kind only ties it to its IAM actions
pub const ACCEPTS: Accepts = &["sweep"];

/// The payload fields the function reads (the state machine's items are checked against these)
pub const PAYLOAD_FIELDS: &[&str] = &[
    "account",
    "region",
    "concurrency",
    "summary",
    "plan",
    "start_at",
    "previous",
];

/// Time kept back from the Lambda deadline to finish the repositories under way and report
const MARGIN: Duration = Duration::from_secs(20);

/// The instant to stop starting repositories, from the invocation deadline (ms since the epoch);
/// `None` when there is no deadline (0, as in local runs)
pub fn budget(deadline_ms: u64, now: SystemTime) -> Option<Instant> {
    if deadline_ms == 0 {
        return None;
    }
    let now_ms = u64::try_from(now.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()?;
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    // Keep 20 s or a tenth of the time, whichever is less, for the work in flight.
    let margin = MARGIN.min(left / 10);
    Some(Instant::now() + left.saturating_sub(margin))
}

fn field<'a>(payload: &'a Value, key: &str) -> Option<&'a str> {
    payload.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn bounded(n: Option<u64>, default: usize, max: usize) -> usize {
    n.and_then(|n| usize::try_from(n).ok()).unwrap_or(default).clamp(1, max)
}

/// Sweeps one registry (the Lambda handler for every payload but a plan)
pub async fn function_handler<D: Dispatch>(
    event: LambdaEvent<Value>,
    guards: &D,
) -> Result<SweepSummary, HandlerError> {
    let (payload, context) = event.into_parts();
    if !(payload.is_object() || payload.is_null()) {
        return Err(EventError("a sweep payload must be a json object".into()).into());
    }
    let account = field(&payload, "account")
        .map(str::to_owned)
        .or_else(|| guards.home_account().map(str::to_owned))
        .ok_or_else(|| EventError("no `account` in the payload and no `GUARD_ACCOUNT_ID`".into()))?;
    let region = field(&payload, "region")
        .map(str::to_owned)
        .or_else(|| std::env::var("AWS_REGION").ok())
        .ok_or_else(|| EventError("no `region` in the payload and no `AWS_REGION`".into()))?;
    let counts_only = match field(&payload, "summary") {
        None | Some("full") => false,
        Some("counts") => true,
        Some(other) => {
            return Err(EventError(format!("`summary` must be `full` or `counts`, found `{other}`")).into());
        }
    };
    let concurrency = payload
        .get("concurrency")
        .and_then(Value::as_u64)
        .or_else(|| env_number("GUARD_SWEEP_CONCURRENCY"));
    let start_at = match payload.get("start_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(other) => {
            return Err(EventError(format!("`start_at` must be a repository name, found `{other}`")).into());
        }
    };
    let previous = match payload.get("previous") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let p: EarlierParts = serde_json::from_value(v.clone())
                .map_err(|e| EventError(format!("`previous` is not a sweep summary: {e}")))?;
            if (p.account.as_str(), p.region.as_str()) != (account.as_str(), region.as_str()) {
                return Err(EventError(format!(
                    "`previous` is the sweep of `{}` in `{}`, not of `{account}` in `{region}`",
                    p.account, p.region
                ))
                .into());
            }
            if let Some(rule) = p.unknown_rule() {
                return Err(EventError(format!("`previous` counts an unknown rule `{rule}`")).into());
            }
            Some(p)
        }
    };
    let options = SweepOptions {
        concurrency: bounded(concurrency, 8, 64),
        deadline: budget(context.deadline, SystemTime::now()),
        start_at,
    };
    let mut summary = guards.sweep_registry(&account, &region, options).await?;
    // One line per registry swept (per part), whoever invoked it: the organisation's record in
    // the logs.
    guards
        .audit()
        .emit(json!({"audit": "sweep_summary", "summary": summary.clone().counts()}));
    if let Some(p) = previous {
        summary.absorb(p);
    }
    Ok(if counts_only { summary.counts() } else { summary })
}

/// How much of the organisation sweep runs at once: `GUARD_ORG_ACCOUNTS_AT_ONCE` (10),
/// `GUARD_ORG_REGIONS_AT_ONCE` (2), `GUARD_SWEEP_CONCURRENCY` (8)
pub fn fanout_from_env() -> Fanout {
    let d = Fanout::default();
    Fanout {
        accounts_at_once: bounded(env_number("GUARD_ORG_ACCOUNTS_AT_ONCE"), d.accounts_at_once, 1000),
        regions_at_once: bounded(env_number("GUARD_ORG_REGIONS_AT_ONCE"), d.regions_at_once, 40),
        concurrency: bounded(env_number("GUARD_SWEEP_CONCURRENCY"), d.concurrency, 64),
    }
}

/// The organisation sweep's plan (`{"plan": true}`), in the function's own Region by default
pub async fn plan_handler<A: AccountAccess>(
    service: &Service<A>,
    directory: &impl AccountDirectory,
    home_region: &str,
    fanout: Fanout,
) -> Result<SweepPlan, HandlerError> {
    let plan = service.plan(directory, home_region, fanout).await?;
    service
        .audit()
        .emit(json!({"audit": "sweep_plan", "accounts": plan.accounts.len(),
        "regions": plan.regions, "source": plan.source, "excluded": plan.excluded}));
    Ok(plan)
}

/// The Lambda entry point: a plan, or one registry's sweep
pub async fn handler<A: AccountAccess>(
    event: LambdaEvent<Value>,
    service: &Service<A>,
    directory: &impl AccountDirectory,
) -> Result<Value, HandlerError> {
    let to_value =
        |v: Result<Value, serde_json::Error>| v.map_err(|e| EventError(format!("cannot encode the answer: {e}")));
    if event.payload.get("plan").and_then(Value::as_bool) == Some(true) {
        let region = std::env::var("AWS_REGION").unwrap_or_default();
        let plan = plan_handler(service, directory, &region, fanout_from_env()).await?;
        return Ok(to_value(serde_json::to_value(plan))?);
    }
    let summary = function_handler(event, service).await?;
    Ok(to_value(serde_json::to_value(summary))?)
}

/// [`AccountDirectory`] over AWS Organizations `ListAccounts` (every page): callable from the
/// management account or a delegated administrator account
#[derive(Clone, Debug)]
pub struct SdkOrganizations {
    client: aws_sdk_organizations::Client,
    page_size: Option<i32>,
}

impl SdkOrganizations {
    /// Wraps a client; `page_size` sets `MaxResults` (the service's default when `None`)
    pub fn new(client: aws_sdk_organizations::Client, page_size: Option<i32>) -> Self {
        SdkOrganizations { client, page_size }
    }
}

impl AccountDirectory for SdkOrganizations {
    async fn active_accounts(&self) -> Result<Vec<String>, String> {
        let mut pages = self
            .client
            .list_accounts()
            .set_max_results(self.page_size)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_sdk_organizations::error::DisplayErrorContext(&e).to_string())?;
            for account in page.accounts() {
                // `State` replaces `Status` (retired in September 2026); read either.
                let active = match account.state() {
                    Some(state) => *state == AccountState::Active,
                    None => account.status() == Some(&AccountStatus::Active),
                };
                if let (true, Some(id)) = (active, account.id()) {
                    out.push(id.to_owned());
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_keeps_a_margin() {
        let now = SystemTime::now();
        let now_ms = u64::try_from(now.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
        let b = budget(now_ms + 900_000, now).unwrap();
        let left = b.duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(870) && left <= Duration::from_secs(880),
            "{left:?}"
        );
        // A short invocation keeps a tenth.
        let b = budget(now_ms + 10_000, now).unwrap();
        assert!(b.duration_since(Instant::now()) <= Duration::from_secs(9));
        // A deadline in the past: stop at once; none at all: no limit.
        assert!(budget(now_ms - 1, now).unwrap() <= Instant::now());
        assert!(budget(0, now).is_none());
    }
}
