//! The three functions end to end against moto's ECR server, driven by the sample events in
//! `events/` and the example config in `config/`. Each scenario asserts the outcome and the final
//! ECR state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use guard_adapter::OutcomeAction;
use policy_core::{evaluate, Context, Decision, Policy, Request, RequestPrincipal};
use scenarios::*;
use serde_json::{json, Value};

const GUARD_ROLE: &str = "arn:aws:iam::123456789012:role/ecr-policy-guard";

fn enforce_config() -> String {
    config(|_| {})
}

async fn enforce(g: &TestGuard, payload: Value) -> Result<guard_adapter::Outcome, guard_adapter::HandlerError> {
    enforce_policy::function_handler(lambda_event(payload), &g.guard).await
}

#[tokio::test]
async fn apply_baseline_on_new_repository_then_its_own_event_is_a_no_op() {
    let _x = exclusive().await;
    // Given a new team repository without a policy
    create_repository("team-payments/api", None).await;
    let g = guard(&enforce_config(), Some(GUARD_ROLE));
    // When apply-baseline sees CreateRepository
    let out = apply_baseline::function_handler(lambda_event(event("cloudtrail-ecr-create-repository.json")), &g.guard)
        .await
        .unwrap();
    // Then the baseline is written
    assert_eq!(out.action, OutcomeAction::Written);
    assert_eq!(out.added.len(), 2);
    let live = repository_policy("team-payments/api").await.unwrap();
    assert_eq!(sids(&live), ["GuardBaselineOrgPull", "GuardBaselineLambdaPull"]);
    assert!(
        live.to_string()
            .contains("arn:aws:lambda:us-east-1:123456789012:function:*"),
        "placeholders filled: {live}"
    );
    assert_eq!(g.writes(), 1);
    // And the SetRepositoryPolicy event our write causes is skipped early (own role)...
    let own = enforce(&g, event("cloudtrail-ecr-set-repository-policy-by-guard.json"))
        .await
        .unwrap();
    assert_eq!(own.action, OutcomeAction::Skipped);
    // ...and, without the role filter, decided from live state as nothing to do.
    let g2 = guard(&enforce_config(), None);
    let again = enforce(&g2, event("cloudtrail-ecr-set-repository-policy-by-guard.json"))
        .await
        .unwrap();
    assert_eq!(again.action, OutcomeAction::Unchanged);
    assert_eq!(g.writes() + g2.writes(), 1, "no second write");
}

#[tokio::test]
async fn apply_baseline_merges_with_existing_policy_and_reverts_public_grant() {
    let _x = exclusive().await;
    let mine = json!({"Sid":"CiPush","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},
        "Action":["ecr:PutImage","ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload"]});
    let public = json!({"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"});
    create_repository(
        "team-payments/api",
        Some(&json!({"Version":"2012-10-17","Statement":[mine, public]})),
    )
    .await;
    let g = guard(&enforce_config(), Some(GUARD_ROLE));
    let out = apply_baseline::function_handler(lambda_event(event("cloudtrail-ecr-create-repository.json")), &g.guard)
        .await
        .unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    let live = repository_policy("team-payments/api").await.unwrap();
    assert_eq!(
        sids(&live),
        ["CiPush", "GuardBaselineOrgPull", "GuardBaselineLambdaPull"]
    );
    assert_eq!(out.findings.len(), 1);
    assert_eq!(out.findings[0].rule, "public");
    // The removed statement is logged verbatim, with the policy before and after.
    let lines = g.audit.lines();
    let removal = lines.iter().find(|l| l["audit"] == "grant_removed").unwrap();
    assert_eq!(removal["statement"], public);
    assert_eq!(removal["rewritten"], Value::Null);
    assert_eq!(removal["repository"], "team-payments/api");
    assert_eq!(sids(&removal["policy_before"]), ["CiPush", "Everyone"]);
    assert_eq!(
        sids(&removal["policy_after"]),
        ["CiPush", "GuardBaselineOrgPull", "GuardBaselineLambdaPull"]
    );
}

#[tokio::test]
async fn apply_baseline_waits_for_a_repository_not_yet_visible() {
    let _x = exclusive().await;
    let g = guard(&enforce_config(), None);
    // The event arrives before the repository is visible: create it a little later.
    let later = tokio::spawn(async {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        create_repository("team-payments/api", None).await;
    });
    let out = apply_baseline::function_handler(lambda_event(event("cloudtrail-ecr-create-repository.json")), &g.guard)
        .await
        .unwrap();
    later.await.unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    assert!(repository_policy("team-payments/api").await.is_some());
}

#[tokio::test]
async fn apply_baseline_on_a_repository_that_never_appears_is_retryable() {
    let _x = exclusive().await;
    let g = guard(&enforce_config(), None);
    let err = apply_baseline::function_handler(lambda_event(event("cloudtrail-ecr-create-repository.json")), &g.guard)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(g.writes(), 0);
}

/// Repositories ECR creates itself (pull through cache, replication, create-on-push) and one a
/// service creates by API call: each shape the decoder knows reaches apply-baseline, which writes
/// the baseline once; a pull through cache sync after that finds nothing to do.
#[tokio::test]
async fn apply_baseline_on_every_repository_ecr_or_a_service_creates() {
    let _x = exclusive().await;
    let g = guard(&enforce_config(), Some(GUARD_ROLE));
    for (file, repository) in [
        (
            "cloudtrail-ecr-service-event-create-repository-pull-through-cache.json",
            "team-hub/library/alpine",
        ),
        (
            "cloudtrail-ecr-service-event-create-repository-replication.json",
            "team-payments/worker",
        ),
        (
            "cloudtrail-ecr-service-event-create-repository-on-push.json",
            "team-payments/batch",
        ),
        (
            "cloudtrail-ecr-create-repository-by-service.json",
            "team-payments/importer",
        ),
    ] {
        // The test stands in for ECR, which has created the repository by the time the event comes.
        create_repository(repository, None).await;
        let writes = g.writes();
        let out = apply_baseline::function_handler(lambda_event(event(file)), &g.guard)
            .await
            .unwrap();
        assert_eq!(out.action, OutcomeAction::Written, "{file}");
        assert_eq!(out.repository.as_deref(), Some(repository), "{file}");
        let live = repository_policy(repository).await.unwrap();
        assert_eq!(
            sids(&live),
            ["GuardBaselineOrgPull", "GuardBaselineLambdaPull"],
            "{file}"
        );
        assert_eq!(g.writes(), writes + 1, "{file}");
    }
    // The native pull through cache event for the same repository: its baseline is there.
    let writes = g.writes();
    let out = apply_baseline::function_handler(
        lambda_event(event("ecr-pull-through-cache-action-success.json")),
        &g.guard,
    )
    .await
    .unwrap();
    assert_eq!(out.action, OutcomeAction::Unchanged);
    assert_eq!(out.repository.as_deref(), Some("team-hub/library/alpine"));
    assert_eq!(g.writes(), writes, "no second write");
    // A failed sync names no repository to act on.
    let out = apply_baseline::function_handler(
        lambda_event(event("ecr-pull-through-cache-action-failed.json")),
        &g.guard,
    )
    .await
    .unwrap();
    assert_eq!(out.action, OutcomeAction::Skipped);
    assert!(out.reason.unwrap().contains("`FAILED`"));
    assert_eq!(g.writes(), writes);
}

/// Native pull through cache events are best effort, CloudTrail's can be late: either one alone
/// brings the baseline
#[tokio::test]
async fn a_pull_through_cache_sync_alone_brings_the_baseline() {
    let _x = exclusive().await;
    create_repository("team-hub/library/alpine", None).await;
    let g = guard(&enforce_config(), Some(GUARD_ROLE));
    let out = apply_baseline::function_handler(
        lambda_event(event("ecr-pull-through-cache-action-success.json")),
        &g.guard,
    )
    .await
    .unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    let live = repository_policy("team-hub/library/alpine").await.unwrap();
    assert_eq!(sids(&live), ["GuardBaselineOrgPull", "GuardBaselineLambdaPull"]);
    // The CloudTrail service event arriving after it changes nothing.
    let out = apply_baseline::function_handler(
        lambda_event(event(
            "cloudtrail-ecr-service-event-create-repository-pull-through-cache.json",
        )),
        &g.guard,
    )
    .await
    .unwrap();
    assert_eq!(out.action, OutcomeAction::Unchanged);
    assert_eq!(g.writes(), 1);
}

/// Creation template events reach enforce-policy: a public template is repaired at once (every
/// other field kept); a deleted template the guard keeps is created again; the other functions
/// skip them
#[tokio::test]
async fn creation_template_events_are_enforced() {
    let _x = exclusive().await;
    let public = json!({"Version":"2012-10-17","Statement":[{"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},
        {"Sid":"OrgPull","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}]});
    client()
        .create_repository_creation_template()
        .prefix("team-hub")
        .description("pull through cache repositories")
        .applied_for(aws_sdk_ecr::types::RctAppliedFor::PullThroughCache)
        .repository_policy(public.to_string())
        .send()
        .await
        .unwrap();
    // `team-hub/*` has a namespace baseline the guard keeps as a template.
    let cfg = config(|c| {
        c["baseline_templates"] = json!(true);
        c["baselines"][0]["match"] = json!("team-hub/*");
    });
    let g = guard(&cfg, Some(GUARD_ROLE));
    let payload = event("cloudtrail-ecr-create-repository-creation-template.json");
    for other in [
        apply_baseline::function_handler(lambda_event(payload.clone()), &g.guard).await,
        grant_replication::function_handler(lambda_event(payload.clone()), &g.guard).await,
    ] {
        assert_eq!(other.unwrap().action, OutcomeAction::Skipped);
    }
    let out = enforce(&g, payload).await.unwrap();
    assert_eq!((out.action, out.target), (OutcomeAction::Written, Some("template")));
    let rules: Vec<&str> = out.changes().map(|f| f.rule).collect();
    assert_eq!(rules, ["public"]);
    let t = creation_template("team-hub").await.unwrap();
    let policy: Value = serde_json::from_str(t.repository_policy().unwrap()).unwrap();
    assert_eq!(
        sids(&policy),
        ["OrgPull", "GuardBaselineOrgPull", "GuardBaselineLambdaPull"]
    );
    assert_eq!(t.description(), Some("pull through cache repositories"));
    // The update event of our own write is the guard's role: skipped before any read.
    let mut own = event("cloudtrail-ecr-update-repository-creation-template.json");
    own["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = json!(GUARD_ROLE);
    assert_eq!(enforce(&g, own).await.unwrap().action, OutcomeAction::Skipped);
    // Deleted: the template the guard keeps comes back, with the baseline.
    client()
        .delete_repository_creation_template()
        .prefix("team-hub")
        .send()
        .await
        .unwrap();
    let out = enforce(&g, event("cloudtrail-ecr-delete-repository-creation-template.json"))
        .await
        .unwrap();
    assert_eq!((out.action, out.write), (OutcomeAction::Written, Some("create")));
    let t = creation_template("team-hub").await.unwrap();
    let policy: Value = serde_json::from_str(t.repository_policy().unwrap()).unwrap();
    assert_eq!(sids(&policy), ["GuardBaselineOrgPull", "GuardBaselineLambdaPull"]);
    assert_eq!(g.writes(), 2);
}

/// One scenario per guard rule: the live policy, the rules expected to fire, and the Sids left
/// (`None`: the policy is deleted)
#[tokio::test]
async fn enforce_policy_applies_every_guard_rule() {
    let _x = exclusive().await;
    type Case = (&'static str, Value, Vec<&'static str>, Option<Vec<&'static str>>);
    let cases: Vec<Case> = vec![
        (
            "public",
            json!([{"Sid":"Pub","Effect":"Allow","Principal":{"AWS":["*"]},"Action":"ecr:BatchGetImage"},
                   {"Sid":"Own","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:*"}]),
            vec!["public"],
            Some(vec!["Own"]),
        ),
        (
            "not-action",
            json!([{"Sid":"NA","Effect":"Allow","Principal":{"AWS":"111122223333"},"NotAction":"ecr:DeleteRepository"}]),
            vec!["not-action"],
            None,
        ),
        (
            "foreign-account",
            json!([{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::999988887777:role/x"]},
                    "Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]),
            vec!["foreign-account"],
            Some(vec!["Pull"]),
        ),
        (
            "excess-access",
            json!([{"Sid":"Push","Effect":"Allow","Principal":{"AWS":["111122223333","444455556666"]},"Action":["ecr:PutImage","ecr:BatchGetImage"]}]),
            vec!["excess-access"],
            Some(vec!["Push"]),
        ),
        (
            "foreign-org",
            json!([{"Sid":"Org","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-zzzzzzzzzz"}}}]),
            vec!["foreign-org"],
            None,
        ),
        (
            "org-excess-access",
            json!([{"Sid":"OrgPush","Effect":"Allow","Principal":"*","Action":"ecr:PutImage","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}},
                   {"Sid":"OrgPull","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}]),
            vec!["org-excess-access"],
            Some(vec!["OrgPull"]),
        ),
        (
            "untrusted-service",
            json!([{"Sid":"Svc","Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","codebuild.amazonaws.com"]},"Action":"ecr:BatchGetImage"}]),
            vec!["untrusted-service"],
            Some(vec!["Svc"]),
        ),
        (
            "service-foreign-source",
            json!([{"Sid":"CB","Effect":"Allow","Principal":{"Service":"codebuild.amazonaws.com"},"Action":"ecr:BatchGetImage",
                    "Condition":{"StringEquals":{"aws:SourceAccount":"999988887777"}}}]),
            vec!["service-foreign-source"],
            None,
        ),
        (
            "foreign-principal",
            json!([{"Sid":"Fed","Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"ecr:BatchGetImage"},
                   {"Sid":"Deny","Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository"}]),
            vec!["foreign-principal"],
            Some(vec!["Deny"]),
        ),
    ];
    let g = guard(&enforce_config(), None);
    for (i, (rule, statements, want_rules, want_sids)) in cases.into_iter().enumerate() {
        // Names outside `team-*`, so no baseline is added.
        let repo = format!("svc/rule-{i}-{rule}");
        create_repository(&repo, Some(&json!({"Version":"2012-10-17","Statement":statements}))).await;
        let out = enforce(&g, event_for("cloudtrail-ecr-set-repository-policy.json", &repo))
            .await
            .unwrap();
        assert_eq!(out.action, OutcomeAction::Written, "{rule}");
        // What changed; a trusted service left unpinned is a finding of its own, kept.
        let rules: Vec<&str> = out.changes().map(|r| r.rule).collect();
        assert_eq!(rules, want_rules, "{rule}");
        let live = repository_policy(&repo).await;
        assert_eq!(
            live.as_ref().map(sids),
            want_sids.map(|v| v.iter().map(|s| s.to_string()).collect()),
            "{rule}"
        );
        // Converged: the event of our own write changes nothing.
        let before = g.writes();
        let again = enforce(&g, event_for("cloudtrail-ecr-set-repository-policy.json", &repo))
            .await
            .unwrap();
        assert_ne!(again.action, OutcomeAction::Written, "{rule}");
        assert_eq!(g.writes(), before, "{rule}: second run wrote");
    }
}

#[tokio::test]
async fn enforce_policy_keeps_legitimate_policies_without_writing() {
    let _x = exclusive().await;
    let legit = json!({"Version":"2012-10-17","Statement":[
        {"Sid":"OrgPull","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],
         "Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}},
        {"Sid":"LambdaECRImageRetrievalPolicy","Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},
         "Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Condition":{"StringLike":{"aws:sourceArn":"arn:aws:lambda:us-east-1:123456789012:function:*"}}},
        {"Sid":"TrustedPull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]},
        {"Sid":"PartnerPush","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/ci"},"Action":["ecr:PutImage","ecr:BatchGetImage"]},
        {"Sid":"DeletedRole","Effect":"Allow","Principal":{"AWS":"AROAEXAMPLEDELETED01"},"Action":"ecr:BatchGetImage"},
        {"Sid":"DenyDelete","Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository"}]});
    create_repository("svc/legit", Some(&legit)).await;
    let g = guard(&enforce_config(), None);
    let out = enforce(&g, event_for("cloudtrail-ecr-set-repository-policy.json", "svc/legit"))
        .await
        .unwrap();
    assert_eq!(out.action, OutcomeAction::Unchanged);
    assert!(out.findings.is_empty());
    assert_eq!(g.writes(), 0);
    assert_eq!(repository_policy("svc/legit").await.unwrap(), legit);
}

#[tokio::test]
async fn enforce_policy_reapplies_baseline_after_delete() {
    let _x = exclusive().await;
    create_repository("team-payments/api", None).await;
    let g = guard(&enforce_config(), None);
    let out = enforce(&g, event("cloudtrail-ecr-delete-repository-policy.json"))
        .await
        .unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    assert_eq!(
        sids(&repository_policy("team-payments/api").await.unwrap()),
        ["GuardBaselineOrgPull", "GuardBaselineLambdaPull"]
    );
    // A policy that lost one baseline statement gets it back, and keeps the rest.
    let partial = json!({"Version":"2012-10-17","Statement":[
        {"Sid":"GuardBaselineOrgPull","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage"],"Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}},
        {"Sid":"Mine","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:*"}]});
    client()
        .set_repository_policy()
        .repository_name("team-payments/api")
        .policy_text(partial.to_string())
        .send()
        .await
        .unwrap();
    let out = enforce(&g, event("cloudtrail-ecr-set-repository-policy.json"))
        .await
        .unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    assert_eq!(
        sids(&repository_policy("team-payments/api").await.unwrap()),
        ["GuardBaselineOrgPull", "Mine", "GuardBaselineLambdaPull"]
    );
}

#[tokio::test]
async fn enforce_policy_reverts_registry_policy() {
    let _x = exclusive().await;
    // Only actions a V1 registry policy may hold, so the scenario means the same under either
    // registry policy scope (moto runs with V2, the default; tests/emulator.rs covers V1 and V2).
    put_registry_policy(&json!({"Version":"2012-10-17","Statement":[
        {"Sid":"Replication","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::777788889999:root","arn:aws:iam::999988887777:root"]},
         "Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/*"},
        {"Sid":"PullThroughCache","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ptc"},
         "Action":["ecr:CreateRepository"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/ecr-public/*"},
        {"Sid":"Stranger","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},
         "Action":["ecr:CreateRepository"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/*"}]}))
    .await;
    let g = guard(&enforce_config(), None);
    let out = enforce(&g, event("cloudtrail-ecr-put-registry-policy.json"))
        .await
        .unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    assert_eq!(out.target, Some("registry"));
    let rules: Vec<&str> = out.findings.iter().map(|r| r.rule).collect();
    assert_eq!(rules, ["foreign-account", "foreign-account"]);
    let live = registry_policy().await.unwrap();
    assert_eq!(sids(&live), ["Replication", "PullThroughCache"]);
    assert!(!live.to_string().contains("999988887777"));
    // Converged.
    let again = enforce(&g, event("cloudtrail-ecr-put-registry-policy.json"))
        .await
        .unwrap();
    assert_eq!(again.action, OutcomeAction::Unchanged);
    assert_eq!(g.writes(), 1);
}

fn replicate_allowed(policy: &Value, source: &str) -> bool {
    let p = Policy::parse(&policy.to_string()).unwrap();
    ["ecr:ReplicateImage", "ecr:CreateRepository"].iter().all(|a| {
        let r = Request {
            principal: RequestPrincipal::Account(source.into()),
            action: (*a).into(),
            resource: Some("arn:aws:ecr:us-east-1:123456789012:repository/team-payments/api".into()),
            context: Context::new(),
        };
        evaluate(&p, &r).unwrap() == Decision::Allow
    })
}

#[tokio::test]
async fn grant_replication_for_an_allowed_source_merges_and_converges() {
    let _x = exclusive().await;
    // An existing pull-through-cache grant must survive the merge.
    put_registry_policy(&json!({"Version":"2012-10-17","Statement":[
        {"Sid":"PullThroughCache","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ptc"},
         "Action":["ecr:CreateRepository"],"Resource":"*"}]}))
    .await;
    let g = guard(&enforce_config(), None);
    let out = grant_replication::function_handler(lambda_event(event("ecr-replication-action-failed.json")), &g.guard)
        .await
        .unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    let live = registry_policy().await.unwrap();
    assert_eq!(sids(&live), ["PullThroughCache", "EcrPolicyGuardReplication"]);
    assert!(replicate_allowed(&live, "777788889999"));
    // The CloudTrail form of the same failure, and a repeat: nothing more to write.
    let ct = grant_replication::function_handler(
        lambda_event(event("cloudtrail-ecr-replicate-image-access-denied.json")),
        &g.guard,
    )
    .await
    .unwrap();
    assert_eq!(ct.action, OutcomeAction::Unchanged);
    assert_eq!(g.writes(), 1);
    // And enforce-policy accepts what grant-replication wrote.
    let e = enforce(&g, event("cloudtrail-ecr-put-registry-policy.json"))
        .await
        .unwrap();
    assert_eq!(e.action, OutcomeAction::Unchanged);
}

#[tokio::test]
async fn grant_replication_refuses_an_unknown_source() {
    let _x = exclusive().await;
    let g = guard(&enforce_config(), None);
    let out = grant_replication::function_handler(
        lambda_event(event("ecr-replication-action-failed-untrusted-source.json")),
        &g.guard,
    )
    .await
    .unwrap();
    assert_eq!(out.action, OutcomeAction::Skipped);
    assert!(out
        .reason
        .unwrap()
        .contains("`999988887777` is not in `replication_sources`"));
    assert_eq!(registry_policy().await, None);
    assert_eq!(g.writes(), 0);
    assert!(g.audit.lines().iter().any(|l| l["audit"] == "note"
        && l["target"] == "registry"
        && l["note"].as_str().is_some_and(|f| f.contains("`999988887777`"))));
}

#[tokio::test]
async fn report_mode_writes_nothing_and_reports_what_it_would_do() {
    let _x = exclusive().await;
    let public =
        json!({"Version":"2012-10-17","Statement":[{"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"ecr:*"}]});
    create_repository("team-payments/api", Some(&public)).await;
    let g = guard(&config(|c| c["mode"] = json!("report")), None);
    let out = enforce(&g, event("cloudtrail-ecr-set-repository-policy.json"))
        .await
        .unwrap();
    assert_eq!(out.action, OutcomeAction::Reported);
    assert_eq!(out.findings.len(), 1);
    assert_eq!(out.would_add.len(), 2);
    assert_eq!(g.writes(), 0);
    assert_eq!(repository_policy("team-payments/api").await.unwrap(), public);
    let lines = g.audit.lines();
    assert!(lines
        .iter()
        .any(|l| l["audit"] == "policy_would_be_written" && l["mode"] == "report"));
    let out = grant_replication::function_handler(lambda_event(event("ecr-replication-action-failed.json")), &g.guard)
        .await
        .unwrap();
    assert_eq!(out.action, OutcomeAction::Reported);
    assert_eq!(registry_policy().await, None);
}

#[tokio::test]
async fn exempt_repositories_are_never_touched() {
    let _x = exclusive().await;
    let public =
        json!({"Version":"2012-10-17","Statement":[{"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"ecr:*"}]});
    create_repository("sandbox-alice", Some(&public)).await;
    let g = guard(&enforce_config(), None);
    let out = enforce(
        &g,
        event_for("cloudtrail-ecr-set-repository-policy.json", "sandbox-alice"),
    )
    .await
    .unwrap();
    assert_eq!(out.action, OutcomeAction::Skipped);
    assert_eq!(repository_policy("sandbox-alice").await.unwrap(), public);
    assert_eq!(g.writes(), 0);
}

#[tokio::test]
async fn oversize_result_is_never_written_and_removals_do_not_wait_for_the_baseline() {
    let _x = exclusive().await;
    // Live policies 5 characters under 10,240; the baseline would push them over.
    let stmt = |i: usize| json!({"Sid":format!("Own{i:03}"),"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::123456789012:role/r{i:03}")},"Action":"ecr:BatchGetImage"});
    let doc = |n: usize, pad: usize, extra: &Option<Value>| {
        let mut st: Vec<Value> = (0..n).map(stmt).collect();
        st.push(json!({"Sid":format!("Pad{}", "x".repeat(pad)),"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:*"}));
        st.extend(extra.clone());
        json!({"Version":"2012-10-17","Statement":st})
    };
    let fill = |extra: Option<Value>| {
        let mut n = 1;
        while doc(n + 1, 0, &extra).to_string().len() <= policy_core::MAX_POLICY_CHARS - 5 {
            n += 1;
        }
        let pad = policy_core::MAX_POLICY_CHARS - 5 - doc(n, 0, &extra).to_string().len();
        doc(n, pad, &extra)
    };
    let g = guard(&enforce_config(), None);
    // Nothing disallowed: nothing written, and the outcome says why the baseline is missing.
    let live = fill(None);
    create_repository("team-big", Some(&live)).await;
    let out = enforce(&g, event_for("cloudtrail-ecr-set-repository-policy.json", "team-big"))
        .await
        .unwrap();
    assert_eq!(out.action, OutcomeAction::Unchanged);
    assert!(out.reason.unwrap().contains("over ecr's limit of 10240"));
    assert_eq!(g.writes(), 0);
    assert_eq!(repository_policy("team-big").await.unwrap(), live);
    // A public grant as well: it is removed all the same; the result fits.
    let public = json!({"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"ecr:GetDownloadUrlForLayer"});
    let live = fill(Some(public));
    create_repository("team-big-public", Some(&live)).await;
    let out = enforce(
        &g,
        event_for("cloudtrail-ecr-set-repository-policy.json", "team-big-public"),
    )
    .await
    .unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    assert_eq!(out.findings[0].rule, "public");
    assert!(out.added.is_empty());
    let after = repository_policy("team-big-public").await.unwrap();
    assert!(after.to_string().chars().count() <= policy_core::MAX_POLICY_CHARS);
    assert!(!sids(&after).contains(&"Pub".to_owned()));
}

#[tokio::test]
async fn malformed_events_are_clear_non_retryable_errors() {
    let _x = exclusive().await;
    create_repository("team-payments/api", None).await;
    let g = guard(&enforce_config(), None);
    let dir = root().join("events/bad");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let payload: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for result in [
            enforce(&g, payload.clone()).await,
            apply_baseline::function_handler(lambda_event(payload.clone()), &g.guard).await,
            grant_replication::function_handler(lambda_event(payload.clone()), &g.guard).await,
        ] {
            let err = result.expect_err(&format!("{} should be rejected", path.display()));
            assert!(!err.is_retryable(), "{}: {err}", path.display());
            assert!(err.to_string().starts_with("malformed event: "), "{err}");
            let diag: lambda_runtime::Diagnostic = err.into();
            assert_eq!(diag.error_type, "NonRetryable.MalformedEvent");
        }
        seen += 1;
    }
    assert!(seen >= 4);
    assert_eq!(g.writes(), 0);
    assert_eq!(repository_policy("team-payments/api").await, None);
}

#[tokio::test]
async fn events_not_for_a_function_are_skipped() {
    let _x = exclusive().await;
    let g = guard(&enforce_config(), None);
    for name in [
        "cloudtrail-s3-create-bucket-not-ours.json",
        "cloudtrail-ecr-set-repository-policy-failed.json",
    ] {
        let out = enforce(&g, event(name)).await.unwrap();
        assert_eq!(out.action, OutcomeAction::Skipped, "{name}");
    }
    // Each function acts only on its own events.
    let out = apply_baseline::function_handler(
        lambda_event(event("cloudtrail-ecr-set-repository-policy.json")),
        &g.guard,
    )
    .await
    .unwrap();
    assert_eq!(out.action, OutcomeAction::Skipped);
    let out =
        grant_replication::function_handler(lambda_event(event("cloudtrail-ecr-create-repository.json")), &g.guard)
            .await
            .unwrap();
    assert_eq!(out.action, OutcomeAction::Skipped);
    // An event for another registry.
    let mut other = event("cloudtrail-ecr-set-repository-policy.json");
    other["account"] = json!("999988887777");
    assert_eq!(enforce(&g, other).await.unwrap().action, OutcomeAction::Skipped);
    assert_eq!(g.writes(), 0);
}
