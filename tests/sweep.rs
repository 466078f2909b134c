//! The sweep against moto: 200 repositories with compliant, public, foreign, missing-baseline
//! and exempt policies. Report mode changes nothing; enforce fixes all; a second enforce run
//! writes nothing; an injected failure on one repository is reported and the rest complete.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use guard_adapter::{
    engine::{HandlerError, OutcomeAction},
    sweep::{SweepOptions, SweepSummary},
};
use policy_core::{guard::review_repository_policy, GuardConfig, GuardContext, Policy};
use scenarios::*;
use serde_json::{json, Value};
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

const PER_KIND: usize = 40;

fn statements(kind: &str) -> Option<Value> {
    let own = json!({"Sid":"OwnCi","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"ecr:*"});
    Some(match kind {
        "ok" => {
            json!([own, {"Sid":"TrustedPull","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}])
        }
        "public" => json!([own, {"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]),
        "foreign" => {
            json!([own, {"Sid":"Partner","Effect":"Allow","Principal":{"AWS":["111122223333","999988887777"]},"Action":"ecr:BatchGetImage"}])
        }
        "sandbox" => json!([{"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":"ecr:*"}]),
        _ => return None,
    })
}

/// (name, kind) of the 200 repositories
fn repositories() -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for i in 0..PER_KIND {
        out.push((format!("svc/ok-{i:02}"), "ok"));
        out.push((format!("svc/public-{i:02}"), "public"));
        out.push((format!("svc/foreign-{i:02}"), "foreign"));
        out.push((format!("team-{i:02}/api"), "team"));
        out.push((format!("sandbox-{i:02}"), "sandbox"));
    }
    out
}

async fn populate() {
    let c = client();
    for (name, kind) in repositories() {
        c.create_repository().repository_name(&name).send().await.unwrap();
        if let Some(st) = statements(kind) {
            let p = json!({"Version":"2012-10-17","Statement":st});
            c.set_repository_policy()
                .repository_name(&name)
                .policy_text(p.to_string())
                .send()
                .await
                .unwrap();
        }
    }
}

async fn snapshot() -> BTreeMap<String, Option<Value>> {
    let mut out = BTreeMap::new();
    for (name, _) in repositories() {
        out.insert(name.clone(), repository_policy(&name).await);
    }
    out
}

fn config_for(mode: &str) -> String {
    config(|c| c["mode"] = json!(mode))
}

#[tokio::test]
async fn sweep_reports_then_enforces_then_converges() {
    let _x = exclusive().await;
    populate().await;
    let before = snapshot().await;
    assert_eq!(before.len(), 5 * PER_KIND);

    // Report mode: every finding listed, nothing written.
    let g = guard(&config_for("report"), None);
    let s = g
        .guard
        .sweep(ACCOUNT, REGION, SweepOptions::default(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(s.mode, "report");
    assert_eq!(s.repositories_seen, 200);
    assert_eq!((s.compliant, s.changed, s.skipped), (PER_KIND, 3 * PER_KIND, PER_KIND));
    assert!(s.failed.is_empty() && s.complete);
    assert_eq!(
        s.findings_by_rule,
        BTreeMap::from([("foreign-account", PER_KIND), ("public", PER_KIND)])
    );
    assert_eq!(s.findings.len(), 2 * PER_KIND);
    assert_eq!(g.writes(), 0);
    assert_eq!(snapshot().await, before, "report mode changed something");

    // Enforce: everything fixed.
    let g = guard(&config_for("enforce"), None);
    let s = g
        .guard
        .sweep(ACCOUNT, REGION, SweepOptions::default(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!((s.compliant, s.changed, s.skipped), (PER_KIND, 3 * PER_KIND, PER_KIND));
    // One write per repository to fix, and the registry policy: the configured replication source
    // gets its grant from the sweep (not only from a failure event).
    assert_eq!(s.registry, Some(OutcomeAction::Written));
    assert_eq!(g.writes(), 3 * PER_KIND + 1);
    let config = GuardConfig::parse(&config_for("enforce")).unwrap();
    let ctx = GuardContext::new(&config, ACCOUNT, REGION, "aws");
    for (name, policy) in snapshot().await {
        let policy = policy.unwrap_or_else(|| panic!("{name} has no policy"));
        if name.starts_with("sandbox-") {
            assert_eq!(Some(policy), before[&name], "exempt {name} touched");
            continue;
        }
        let parsed = Policy::parse(&policy.to_string()).unwrap();
        assert!(
            review_repository_policy(&parsed, &ctx)
                .findings
                .iter()
                .all(|f| !f.disposition.changes()),
            "{name} still has disallowed grants"
        );
        if name.starts_with("team-") {
            assert_eq!(
                sids(&policy),
                ["GuardBaselineOrgPull", "GuardBaselineLambdaPull"],
                "{name}"
            );
        } else {
            assert!(sids(&policy).contains(&"OwnCi".to_owned()), "{name} lost its own grant");
        }
        if name.starts_with("svc/foreign-") {
            assert!(
                policy.to_string().contains("111122223333") && !policy.to_string().contains("999988887777"),
                "{name}"
            );
        }
    }

    // A second enforce run writes nothing.
    let g = guard(&config_for("enforce"), None);
    let s = g
        .guard
        .sweep(ACCOUNT, REGION, SweepOptions::default(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!((s.compliant, s.changed, s.skipped), (4 * PER_KIND, 0, PER_KIND));
    assert_eq!(s.registry, Some(OutcomeAction::Unchanged));
    assert_eq!(g.writes(), 0);

    // One repository fails: recorded, the rest complete.
    let g = guard_failing(&config_for("enforce"), None, Some("svc/ok-07"));
    let s = sweep_with(
        &g,
        SweepOptions {
            concurrency: 3,
            ..SweepOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.failed.len(), 1);
    assert_eq!(s.failed[0].repository.as_deref(), Some("svc/ok-07"));
    assert!(s.failed[0].retryable && s.failed[0].error.contains("injected failure"));
    assert_eq!((s.compliant, s.skipped), (4 * PER_KIND - 1, PER_KIND));
    assert!(s.complete);

    // A budget already spent: nothing started, and the summary says where it stopped.
    let g = guard(&config_for("enforce"), None);
    let s = sweep_with(
        &g,
        SweepOptions {
            deadline: Some(Instant::now()),
            ..SweepOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(!s.complete);
    // The first repository in name order, whatever order the listing came in (moto lists in
    // creation order, where `svc/ok-00` is first).
    let first = repositories().into_iter().map(|(n, _)| n).min().unwrap();
    assert_eq!(s.stopped_at.as_deref(), Some(first.as_str()));
    assert_eq!(s.registry, None);
}

/// One sweep of the guard's registry with these options
async fn sweep_with(g: &TestGuard, options: SweepOptions) -> Result<SweepSummary, HandlerError> {
    g.guard.sweep(ACCOUNT, REGION, options, &|_, _| {}).await
}

#[tokio::test]
async fn a_sweep_stopped_by_its_deadline_continues_where_it_stopped_then_does_the_registry() {
    let _x = exclusive().await;
    populate().await;
    put_registry_policy(
        &json!({"Version":"2012-10-17","Statement":[{"Sid":"Stranger","Effect":"Allow",
        "Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"ecr:ReplicateImage","Resource":"*"}]}),
    )
    .await;
    let mut names: Vec<String> = repositories().into_iter().map(|(n, _)| n).collect();
    names.sort();
    let g = guard(&config_for("enforce"), None);

    // Part one: the deadline comes once 45 repositories are done (one at a time; the progress
    // callback waits it out): the 40 sandboxes, then `svc/foreign-00` to `-04`.
    let stop_after = 45;
    let deadline = Instant::now() + Duration::from_secs(5);
    let wait_out = |done: usize, _| {
        if done == stop_after {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        }
    };
    let one = SweepOptions {
        concurrency: 1,
        deadline: Some(deadline),
        start_at: None,
    };
    let part1 = g.guard.sweep(ACCOUNT, REGION, one, &wait_out).await.unwrap();
    assert!(!part1.complete);
    let stopped_at = part1.stopped_at.clone().unwrap();
    assert_eq!(stopped_at, names[stop_after]);
    assert_eq!(stopped_at, "svc/foreign-05");
    assert_eq!(part1.compliant + part1.changed + part1.skipped, stop_after);
    assert_eq!((part1.changed, part1.registry), (5, None));
    assert!(repository_policy("svc/foreign-05")
        .await
        .unwrap()
        .to_string()
        .contains("999988887777"));
    assert!(registry_policy().await.unwrap().to_string().contains("999988887777"));

    // Part two, as the state machine sends it: the same payload with `start_at` from part one's
    // `stopped_at` and part one's counts as `previous`; the rest, then the registry, and the
    // answer counts both parts.
    let mut payload = event("scheduled-sweep.json");
    payload["summary"] = json!("counts");
    payload["start_at"] = json!(stopped_at);
    payload["previous"] = serde_json::to_value(part1.clone().counts()).unwrap();
    let part2 = sweep::function_handler(lambda_event(payload.clone()), &g.guard)
        .await
        .unwrap();
    assert!(part2.complete && part2.stopped_at.is_none());
    assert_eq!(part2.start_at, None, "the parts together began at the beginning");
    assert_eq!(part2.repositories_seen, names.len());
    assert_eq!(
        (part2.compliant, part2.changed, part2.skipped),
        (PER_KIND, 3 * PER_KIND, PER_KIND)
    );
    // Forty repositories (five in part one) and the registry's stranger.
    assert_eq!(part2.findings_by_rule["foreign-account"], PER_KIND + 1);
    // Its own audit line counts only itself.
    let own: Vec<Value> = g
        .audit
        .lines()
        .into_iter()
        .filter(|l| l["audit"] == "sweep_summary")
        .collect();
    assert_eq!(own.len(), 1, "part one was swept directly, not through the function");
    assert_eq!(own[0]["summary"]["repositories_seen"], names.len() - stop_after);
    assert_eq!(part2.registry, Some(OutcomeAction::Written));
    assert!(!registry_policy().await.unwrap().to_string().contains("999988887777"));
    // Together: the writes of one whole sweep (each repository to fix once, and the registry),
    // after which a whole sweep finds nothing left to do.
    assert_eq!(g.writes(), 3 * PER_KIND + 1);
    let whole = sweep_with(&g, SweepOptions::default()).await.unwrap();
    assert_eq!((whole.changed, whole.registry), (0, Some(OutcomeAction::Unchanged)));
    assert_eq!(g.writes(), 3 * PER_KIND + 1);

    // A part that starts nothing (its deadline came first) fails instead of asking to be
    // continued at the same place for ever.
    let stuck = sweep_with(
        &g,
        SweepOptions {
            concurrency: 8,
            deadline: Some(Instant::now()),
            start_at: Some("svc/ok-00".into()),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        stuck.to_string(),
        "the sweep continued at `svc/ok-00` started no repository before its deadline"
    );
    assert!(!stuck.is_retryable());

    // `previous` must be this registry's summary; `start_at` must be a name. Refused before
    // anything is swept: a repository made public again stays as it is.
    let public = json!({"Version":"2012-10-17","Statement":statements("public").unwrap()});
    client()
        .set_repository_policy()
        .repository_name("svc/public-00")
        .policy_text(public.to_string())
        .send()
        .await
        .unwrap();
    let writes = g.writes();
    let bad: [(&str, Value, &str); 3] = [
        (
            "/previous/account",
            json!("999988887777"),
            "`previous` is the sweep of `999988887777` in `us-east-1`, not of `123456789012` in `us-east-1`",
        ),
        (
            "/previous/findings_by_rule",
            json!({"nonsense": 1}),
            "`previous` counts an unknown rule `nonsense`",
        ),
        ("/start_at", json!(7), "`start_at` must be a repository name, found `7`"),
    ];
    for (pointer, value, error) in bad {
        let mut other = payload.clone();
        *other.pointer_mut(pointer).unwrap() = value;
        let e = sweep::function_handler(lambda_event(other), &g.guard)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), format!("malformed event: {error}"));
    }
    assert_eq!(g.writes(), writes);
    assert_eq!(repository_policy("svc/public-00").await, Some(public));
}

#[tokio::test]
async fn sweep_lambda_handles_a_scheduled_event_and_the_registry() {
    let _x = exclusive().await;
    create_repository(
        "svc/public",
        Some(&json!({"Version":"2012-10-17","Statement":statements("public").unwrap()})),
    )
    .await;
    put_registry_policy(
        &json!({"Version":"2012-10-17","Statement":[{"Sid":"Stranger","Effect":"Allow",
        "Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"ecr:ReplicateImage","Resource":"*"}]}),
    )
    .await;
    let g = guard(&config_for("enforce"), None);
    let s = sweep::function_handler(lambda_event(event("scheduled-sweep.json")), &g.guard)
        .await
        .unwrap();
    assert_eq!((s.repositories_seen, s.changed), (1, 1));
    assert_eq!(s.registry, Some(OutcomeAction::Written));
    assert_eq!(
        s.findings_by_rule,
        BTreeMap::from([("public", 1), ("foreign-account", 1)])
    );
    // The stranger is gone; the sweep granted the configured replication source.
    let registry = registry_policy().await.unwrap();
    assert_eq!(sids(&registry), ["EcrPolicyGuardReplication"]);
    assert!(!registry.to_string().contains("999988887777"));
    assert!(registry.to_string().contains("777788889999"));
    // A payload naming another account is refused.
    let mut other = event("scheduled-sweep.json");
    other["account"] = json!("999988887777");
    assert!(sweep::function_handler(lambda_event(other), &g.guard).await.is_err());
}
