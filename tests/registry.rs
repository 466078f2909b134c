//! The registry policy under scope V2 and repository creation templates, against moto with the
//! project's extension (scripts/moto_ext): V2 grants judged like repository grants, the registry
//! baseline restored after a delete, a public `ROOT` template repaired with every other field
//! kept, templates kept for namespace baselines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use aws_sdk_ecr::types::{ImageTagMutability, RctAppliedFor, Tag};
use guard_adapter::OutcomeAction;
use scenarios::*;
use serde_json::{json, Value};

const REPO: &str = "arn:aws:ecr:us-east-1:123456789012:repository/*";

async fn enforce_registry(g: &TestGuard, event_name: &str) -> guard_adapter::Outcome {
    enforce_policy::function_handler(lambda_event(event(event_name)), &g.guard)
        .await
        .unwrap()
}

#[tokio::test]
async fn scope_v2_registry_grants_are_judged_like_repository_grants() {
    let _x = exclusive().await;
    // moto (with the extension) takes any ECR action in a V2 registry policy, as ECR does.
    let org_pull = json!({"Sid":"OrgPull","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],
        "Resource":REPO,"Condition":{"StringEquals":{"aws:PrincipalOrgID":"${aws:ResourceOrgID}"}}});
    let trusted = json!({"Sid":"Trusted","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:root"]},
        "Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:PutImage"],"Resource":REPO});
    let public =
        json!({"Sid":"PublicPull","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Resource":REPO});
    let own = json!({"Sid":"Own","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:*","Resource":"*"});
    let replication = json!({"Sid":"Replication","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::777788889999:root"},
        "Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":REPO});
    put_registry_policy(&json!({"Version":"2012-10-17","Statement":[org_pull, trusted, public, own, replication]}))
        .await;
    let g = guard(&config(|_| {}), None);
    let out = enforce_registry(&g, "cloudtrail-ecr-put-registry-policy.json").await;
    assert_eq!(out.action, OutcomeAction::Written);
    let got: Vec<(&str, Option<&str>)> = out.changes().map(|f| (f.rule, f.principal.as_deref())).collect();
    assert_eq!(
        got,
        [
            // A trusted pull account is reduced to what its class allows: its principal goes, the
            // push account keeps the statement.
            ("excess-access", Some("arn:aws:iam::111122223333:root")),
            ("public", None),
        ]
    );
    let live = registry_policy().await.unwrap();
    assert_eq!(sids(&live), ["OrgPull", "Trusted", "Own", "Replication"]);
    assert!(!live.to_string().contains("111122223333"));
    // The org-wide pull is kept exactly as written (the variable is never rewritten).
    assert!(live.to_string().contains("${aws:ResourceOrgID}"));
    // Converged: our own write's event changes nothing.
    let again = enforce_registry(&g, "cloudtrail-ecr-put-registry-policy.json").await;
    assert_eq!(again.action, OutcomeAction::Unchanged);
    assert_eq!(g.writes(), 1);
}

#[tokio::test]
async fn the_registry_baseline_is_restored_after_delete_registry_policy() {
    let _x = exclusive().await;
    let baseline = json!({"Version":"2012-10-17","Statement":[{"Sid":"GuardRegistryOrgPull","Effect":"Allow","Principal":"*",
        "Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":"arn:${Partition}:ecr:${Region}:${AccountId}:repository/*",
        "Condition":{"StringEquals":{"aws:PrincipalOrgID":"${aws:ResourceOrgID}"}}}]});
    let g = guard(&config(|c| c["registry_baseline"] = baseline.clone()), None);
    // Given a registry policy someone deleted (there is none)
    assert_eq!(registry_policy().await, None);
    // When enforce-policy sees the DeleteRegistryPolicy event
    let out = enforce_registry(&g, "cloudtrail-ecr-delete-registry-policy.json").await;
    // Then the baseline is back, and the replication source's grant beside it
    assert_eq!(out.action, OutcomeAction::Written);
    let live = registry_policy().await.unwrap();
    assert_eq!(sids(&live), ["GuardRegistryOrgPull", "EcrPolicyGuardReplication"]);
    assert!(live.to_string().contains(REPO), "placeholders filled: {live}");
    // A grant-replication run merges beside it and changes nothing more.
    let grant =
        grant_replication::function_handler(lambda_event(event("ecr-replication-action-failed.json")), &g.guard)
            .await
            .unwrap();
    assert_eq!(grant.action, OutcomeAction::Unchanged);
    // Remove the baseline statement only: it comes back, the rest untouched.
    let mut edited = live.clone();
    edited["Statement"].as_array_mut().unwrap().remove(0);
    put_registry_policy(&edited).await;
    let out = enforce_registry(&g, "cloudtrail-ecr-put-registry-policy.json").await;
    assert_eq!(out.action, OutcomeAction::Written);
    assert_eq!(
        sids(&registry_policy().await.unwrap()),
        ["EcrPolicyGuardReplication", "GuardRegistryOrgPull"]
    );
    assert_eq!(g.writes(), 2);
}

fn public_policy() -> Value {
    json!({"Version":"2012-10-17","Statement":[{"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]},
        {"Sid":"OwnPush","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"ecr:*"}]})
}

const LIFECYCLE: &str = r#"{"rules":[{"rulePriority":1,"description":"expire untagged","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}"#;

/// A ROOT template as a team would write one: tags, lifecycle, mutability, and a public pull
async fn create_public_root_template() {
    client()
        .create_repository_creation_template()
        .prefix("ROOT")
        .description("pull-through cache defaults")
        .applied_for(RctAppliedFor::PullThroughCache)
        .applied_for(RctAppliedFor::Replication)
        .image_tag_mutability(ImageTagMutability::Immutable)
        .resource_tags(Tag::builder().key("team").value("platform").build().unwrap())
        .lifecycle_policy(LIFECYCLE)
        .repository_policy(public_policy().to_string())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_public_root_template_is_repaired_and_keeps_every_other_field() {
    let _x = exclusive().await;
    create_public_root_template().await;
    let before = creation_template("ROOT").await.unwrap();
    let g = guard(&config(|_| {}), None);
    let s = g
        .guard
        .sweep(ACCOUNT, REGION, Default::default(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(s.templates.get("ROOT"), Some(&OutcomeAction::Written), "{s:?}");
    let f = s.findings.iter().find(|f| f.target == "template").unwrap();
    assert_eq!((f.rule, f.repository.as_deref()), ("public", Some("ROOT")));
    let after = creation_template("ROOT").await.unwrap();
    let policy: Value = serde_json::from_str(after.repository_policy().unwrap()).unwrap();
    assert_eq!(sids(&policy), ["OwnPush"]);
    // Every other field exactly as it was.
    assert_eq!(after.description(), before.description());
    assert_eq!(after.applied_for(), before.applied_for());
    assert_eq!(after.image_tag_mutability(), before.image_tag_mutability());
    assert_eq!(after.resource_tags(), before.resource_tags());
    assert_eq!(after.lifecycle_policy(), before.lifecycle_policy());
    assert_eq!(after.encryption_configuration(), before.encryption_configuration());
    // The removed statement is in the audit trail verbatim.
    let line = g
        .audit
        .lines()
        .into_iter()
        .find(|l| l["audit"] == "grant_removed")
        .unwrap();
    assert_eq!(line["target"], "template");
    assert_eq!(line["statement"]["Sid"], "Everyone");
    // A second sweep writes nothing.
    let writes = g.writes();
    let s = g
        .guard
        .sweep(ACCOUNT, REGION, Default::default(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(s.templates.get("ROOT"), Some(&OutcomeAction::Unchanged));
    assert_eq!(g.writes(), writes);
}

#[tokio::test]
async fn report_mode_leaves_a_template_alone() {
    let _x = exclusive().await;
    create_public_root_template().await;
    let before = creation_template("ROOT").await.unwrap();
    let g = guard(&config(|c| c["mode"] = json!("report")), None);
    let s = g
        .guard
        .sweep(ACCOUNT, REGION, Default::default(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(s.templates.get("ROOT"), Some(&OutcomeAction::Reported));
    assert!(s.has_findings());
    assert_eq!(g.writes(), 0);
    assert_eq!(creation_template("ROOT").await.unwrap(), before);
}

#[tokio::test]
async fn baseline_templates_create_then_repair_their_template() {
    let _x = exclusive().await;
    // The example config's baseline, for the `team/*` namespace, kept as a template.
    let cfg = config(|c| {
        c["baseline_templates"] = json!(true);
        c["baselines"][0]["match"] = json!("team/*");
    });
    let g = guard(&cfg, None);
    let s = g
        .guard
        .sweep(ACCOUNT, REGION, Default::default(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(s.templates.get("team"), Some(&OutcomeAction::Written), "{s:?}");
    let created = creation_template("team").await.unwrap();
    let policy: Value = serde_json::from_str(created.repository_policy().unwrap()).unwrap();
    assert_eq!(sids(&policy), ["GuardBaselineOrgPull", "GuardBaselineLambdaPull"]);
    assert!(policy
        .to_string()
        .contains("arn:aws:lambda:us-east-1:123456789012:function:*"));
    assert_eq!(created.applied_for().len(), 3);
    // Someone replaces the policy with a public grant: the template event repairs it, keeping
    // the other fields; a second run writes nothing.
    client()
        .update_repository_creation_template()
        .prefix("team")
        .repository_policy(public_policy().to_string())
        .send()
        .await
        .unwrap();
    let writes = g.writes();
    let out = g
        .guard
        .enforce_template(ACCOUNT, REGION, "team", None, &[])
        .await
        .unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    let repaired: Value =
        serde_json::from_str(creation_template("team").await.unwrap().repository_policy().unwrap()).unwrap();
    assert_eq!(
        sids(&repaired),
        ["OwnPush", "GuardBaselineOrgPull", "GuardBaselineLambdaPull"]
    );
    assert_eq!(
        creation_template("team").await.unwrap().description(),
        created.description()
    );
    let again = g
        .guard
        .enforce_template(ACCOUNT, REGION, "team", None, &[])
        .await
        .unwrap();
    assert_eq!(again.action, OutcomeAction::Unchanged);
    let s = g
        .guard
        .sweep(ACCOUNT, REGION, Default::default(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(s.templates.get("team"), Some(&OutcomeAction::Unchanged));
    assert_eq!(g.writes(), writes + 1);
}
