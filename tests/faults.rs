//! Trust under failure, against moto behind a fault-injecting proxy: throttling and 5xx are
//! retried where AWS's SDK would and are otherwise a retryable error; an unreachable endpoint is a
//! retryable error; a policy deleted between our read and our write is respected; never a
//! partial or empty write. Then concurrent writers on one registry policy, and the loop check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use guard_adapter::OutcomeAction;
use policy_core::{evaluate, Context, Decision, Policy, Request, RequestPrincipal};
use scenarios::*;
use serde_json::{json, Value};

fn public_policy() -> Value {
    json!({"Version":"2012-10-17","Statement":[
        {"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},
        {"Sid":"Own","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:*"}]})
}

async fn enforce(g: &TestGuard, repo: &str) -> Result<guard_adapter::Outcome, guard_adapter::HandlerError> {
    enforce_policy::function_handler(
        lambda_event(event_for("cloudtrail-ecr-set-repository-policy.json", repo)),
        &g.guard,
    )
    .await
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_and_then_succeeds() {
    let _x = exclusive().await;
    create_repository("svc/a", Some(&public_policy())).await;
    let proxy = FaultProxy::start().await;
    proxy.inject("GetRepositoryPolicy", Fault::Throttle, 0, 2);
    let g = guard_at(&config(|_| {}), &proxy.endpoint);
    let out = enforce(&g, "svc/a").await.unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    assert!(
        proxy.calls("GetRepositoryPolicy") >= 3,
        "the throttled reads were retried"
    );
    assert_eq!(sids(&repository_policy("svc/a").await.unwrap()), ["Own"]);
}

#[tokio::test]
async fn persistent_throttling_and_server_errors_are_retryable_and_write_nothing() {
    let _x = exclusive().await;
    for (i, (operation, fault)) in [
        ("SetRepositoryPolicy", Fault::Throttle),
        ("GetRepositoryPolicy", Fault::ServerError),
        ("SetRepositoryPolicy", Fault::ServerError),
    ]
    .into_iter()
    .enumerate()
    {
        let repo = format!("svc/fault-{i}");
        create_repository(&repo, Some(&public_policy())).await;
        let proxy = FaultProxy::start().await;
        proxy.inject(operation, fault.clone(), 0, 100);
        let g = guard_at(&config(|_| {}), &proxy.endpoint);
        let err = enforce(&g, &repo).await.unwrap_err();
        assert!(err.is_retryable(), "{operation} {fault:?}: {err}");
        let diag: lambda_runtime::Diagnostic = err.into();
        assert_eq!(diag.error_type, "Retryable.EcrError");
        assert!(proxy.calls(operation) >= 2, "{operation}: the SDK retried");
        // Nothing partial, nothing empty: the live policy is untouched.
        assert_eq!(
            repository_policy(&repo).await.unwrap(),
            public_policy(),
            "{operation} {fault:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_retryable_error() {
    let _x = exclusive().await;
    create_repository("svc/a", Some(&public_policy())).await;
    let g = guard_at(&config(|_| {}), &dead_endpoint());
    let err = enforce(&g, "svc/a").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(repository_policy("svc/a").await.unwrap(), public_policy());
}

#[tokio::test]
async fn a_policy_deleted_between_read_and_write_is_respected() {
    let _x = exclusive().await;
    // A fresh read is written without reading again: a second read would see the same instant.
    create_repository("svc/fresh", Some(&public_policy())).await;
    let proxy = FaultProxy::start().await;
    let g = guard_at(&config(|_| {}), &proxy.endpoint);
    assert_eq!(enforce(&g, "svc/fresh").await.unwrap().action, OutcomeAction::Written);
    assert_eq!(proxy.calls("GetRepositoryPolicy"), 1, "no re-read after a fresh read");

    // A plan that waited (a slow read) is checked again before writing: deleted in between, the
    // plan is made again from the deleted state.
    create_repository("svc/a", Some(&public_policy())).await;
    proxy.inject(
        "GetRepositoryPolicy",
        Fault::Delay(std::time::Duration::from_millis(400)),
        0,
        1,
    );
    proxy.inject("GetRepositoryPolicy", Fault::DeletePolicyFirst("svc/a".into()), 0, 1);
    let writes = g.writes();
    let out = enforce(&g, "svc/a").await.unwrap();
    assert_eq!(
        out.action,
        OutcomeAction::Unchanged,
        "planned again from the deleted state: {out:?}"
    );
    assert_eq!(repository_policy("svc/a").await, None, "the delete stands");
    assert_eq!(g.writes(), writes);

    // Deleted in the last instant, after that check: our complete, compliant policy lands; the
    // DeleteRepositoryPolicy event then finds it compliant. Never a partial or empty write.
    create_repository("svc/b", Some(&public_policy())).await;
    proxy.inject("SetRepositoryPolicy", Fault::DeletePolicyFirst("svc/b".into()), 0, 1);
    let out = enforce(&g, "svc/b").await.unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    assert_eq!(sids(&repository_policy("svc/b").await.unwrap()), ["Own"]);
    let after = enforce_policy::function_handler(
        lambda_event(event_for("cloudtrail-ecr-delete-repository-policy.json", "svc/b")),
        &g.guard,
    )
    .await
    .unwrap();
    assert_eq!(after.action, OutcomeAction::Unchanged);
}

fn allowed(policy: &Value, source: &str) -> bool {
    let p = Policy::parse(&policy.to_string()).unwrap();
    let r = Request {
        principal: RequestPrincipal::Account(source.into()),
        action: "ecr:ReplicateImage".into(),
        resource: Some("arn:aws:ecr:us-east-1:123456789012:repository/app".into()),
        context: Context::new(),
    };
    evaluate(&p, &r).unwrap() == Decision::Allow
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_grants_and_enforcement_keep_every_allowed_grant() {
    let _x = exclusive().await;
    let sources: Vec<String> = (0..20).map(|i| format!("7777888800{i:02}")).collect();
    let cfg = config(|c| c["replication_sources"] = json!(sources));
    // A disallowed grant, so enforce-policy writes too while the grants land.
    put_registry_policy(
        &json!({"Version":"2012-10-17","Statement":[{"Sid":"Stranger","Effect":"Allow",
        "Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"ecr:ReplicateImage","Resource":"*"}]}),
    )
    .await;
    let g = guard(&cfg, None);
    let grant = |source: &str| {
        let mut e = event("ecr-replication-action-failed.json");
        e["detail"]["source-account"] = json!(source);
        e
    };
    let mut pending: Vec<Value> = sources.iter().map(|s| grant(s)).collect();
    for _ in 0..3 {
        pending.push(event("cloudtrail-ecr-put-registry-policy.json"));
    }
    // All at once; what fails retryably is delivered again, as EventBridge would.
    for round in 0..3 {
        let runs = pending.iter().map(|e| async {
            let is_grant = e["detail-type"] == "ECR Replication Action";
            let r = if is_grant {
                grant_replication::function_handler(lambda_event(e.clone()), &g.guard).await
            } else {
                enforce_policy::function_handler(lambda_event(e.clone()), &g.guard).await
            };
            (e.clone(), r)
        });
        let results = futures_util::future::join_all(runs).await;
        pending = results
            .into_iter()
            .filter_map(|(e, r)| match r {
                Ok(_) => None,
                Err(err) => {
                    assert!(err.is_retryable(), "round {round}: {err}");
                    Some(e)
                }
            })
            .collect();
        if pending.is_empty() {
            break;
        }
    }
    assert!(pending.is_empty(), "{} events still failing", pending.len());
    let live = registry_policy().await.unwrap();
    for s in &sources {
        assert!(allowed(&live, s), "grant for {s} lost: {live}");
    }
    assert!(!allowed(&live, "999988887777"), "the stranger's grant survived: {live}");
}

#[tokio::test]
async fn each_function_fed_its_own_writes_event_ten_times_writes_at_most_once() {
    let _x = exclusive().await;
    let cfg = config(|_| {});
    // apply-baseline: its write is a SetRepositoryPolicy, which it does not act on.
    create_repository("team-payments/api", None).await;
    let g = guard(&cfg, None);
    apply_baseline::function_handler(lambda_event(event("cloudtrail-ecr-create-repository.json")), &g.guard)
        .await
        .unwrap();
    for _ in 0..10 {
        apply_baseline::function_handler(
            lambda_event(event("cloudtrail-ecr-set-repository-policy.json")),
            &g.guard,
        )
        .await
        .unwrap();
        // A duplicate CreateRepository delivery is decided from live state as well.
        apply_baseline::function_handler(lambda_event(event("cloudtrail-ecr-create-repository.json")), &g.guard)
            .await
            .unwrap();
    }
    assert_eq!(g.writes(), 1, "apply-baseline");

    // enforce-policy: its write is a SetRepositoryPolicy (or a PutRegistryPolicy) it acts on.
    create_repository("svc/public", Some(&public_policy())).await;
    put_registry_policy(
        &json!({"Version":"2012-10-17","Statement":[{"Sid":"Stranger","Effect":"Allow",
        "Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"ecr:ReplicateImage","Resource":"*"}]}),
    )
    .await;
    for (name, first) in [
        (
            "repository",
            event_for("cloudtrail-ecr-set-repository-policy.json", "svc/public"),
        ),
        ("registry", event("cloudtrail-ecr-put-registry-policy.json")),
    ] {
        let g = guard(&cfg, None);
        enforce_policy::function_handler(lambda_event(first.clone()), &g.guard)
            .await
            .unwrap();
        let own_event = match name {
            "repository" => event_for("cloudtrail-ecr-set-repository-policy.json", "svc/public"),
            // Any registry-policy event of our write (here a put: stranger out, source grant in).
            _ => event("cloudtrail-ecr-delete-registry-policy.json"),
        };
        for _ in 0..10 {
            let out = enforce_policy::function_handler(lambda_event(own_event.clone()), &g.guard)
                .await
                .unwrap();
            assert_eq!(out.action, OutcomeAction::Unchanged, "{name}");
        }
        assert_eq!(g.writes(), 1, "enforce-policy {name}");
    }

    // grant-replication: its write is a PutRegistryPolicy; duplicates of the failure change nothing.
    // (enforce-policy above already granted the source: start again from no registry policy.)
    client().delete_registry_policy().send().await.unwrap();
    let g = guard(&cfg, None);
    for _ in 0..10 {
        grant_replication::function_handler(lambda_event(event("ecr-replication-action-failed.json")), &g.guard)
            .await
            .unwrap();
        grant_replication::function_handler(lambda_event(event("cloudtrail-ecr-put-registry-policy.json")), &g.guard)
            .await
            .unwrap();
    }
    assert_eq!(g.writes(), 1, "grant-replication");
}
