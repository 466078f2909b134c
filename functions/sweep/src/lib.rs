//! Brings every repository and the registry policy into line, on a schedule and on demand:
//! the install-time pass, the catch-up for lost or late events, and how a config change reaches
//! repositories already there. Same engine and rules as the event handlers.
//!
//! Payload: a scheduled event (its `account` and `region` are used), or a manual invoke
//! `{"account": "...", "region": "...", "concurrency": 8}` where every field is optional
//! (defaults: `GUARD_ACCOUNT_ID`, `AWS_REGION`, `GUARD_SWEEP_CONCURRENCY` or 8).

use guard_adapter::{
    event::EventError,
    sweep::{SweepOptions, SweepSummary},
    Accepts, EcrPolicies, Guard, HandlerError,
};
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The sweep is not an event handler: its kind only ties it to its IAM actions
pub const ACCEPTS: Accepts = &["sweep"];

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

/// The Lambda handler
pub async fn function_handler<P: EcrPolicies>(
    event: LambdaEvent<Value>,
    guard: &Guard<P>,
) -> Result<SweepSummary, HandlerError> {
    let (payload, context) = event.into_parts();
    if !(payload.is_object() || payload.is_null()) {
        return Err(EventError("a sweep payload must be a json object".into()).into());
    }
    let account = field(&payload, "account")
        .map(str::to_owned)
        .or_else(|| guard.own_account.clone())
        .ok_or_else(|| EventError("no `account` in the payload and no `GUARD_ACCOUNT_ID`".into()))?;
    if let Some(own) = &guard.own_account {
        if *own != account {
            return Err(EventError(format!("account `{account}` is not this registry's (`{own}`)")).into());
        }
    }
    let region = field(&payload, "region")
        .map(str::to_owned)
        .or_else(|| std::env::var("AWS_REGION").ok())
        .ok_or_else(|| EventError("no `region` in the payload and no `AWS_REGION`".into()))?;
    let concurrency = payload
        .get("concurrency")
        .and_then(Value::as_u64)
        .or_else(|| {
            std::env::var("GUARD_SWEEP_CONCURRENCY")
                .ok()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(8);
    let options = SweepOptions {
        concurrency: usize::try_from(concurrency).unwrap_or(8).clamp(1, 64),
        deadline: budget(context.deadline, SystemTime::now()),
    };
    guard.sweep(&account, &region, options, &|_, _| {}).await
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
