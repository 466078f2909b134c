//! Central mode on moto, several accounts in one server: the central account (moto's default,
//! where the functions run) reaches each member account through its member role (STS
//! `AssumeRole`; later calls act in the role's account). Events from members are repaired in
//! their own account and nowhere else; a member whose role is missing is a clear, retryable error
//! for that account while the others are repaired; the organisation sweep plans from AWS
//! Organizations (paginated) and sweeps every member in two Regions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use guard_adapter::{
    access::{session_name, SdkAccess},
    audit::MemoryAudit,
    config_store::LiveConfig,
    engine::Backoff,
    OutcomeAction, Service,
};
use policy_core::GuardConfig;
use scenarios::*;
use serde_json::{json, Value};
use std::{sync::Arc, time::Duration};

const MEMBER_ROLE: &str = "ecr-policy-guard-member";
/// The central functions' roles live under this path (template.yaml `RolePath`)
const CENTRAL_ROLE: &str = "arn:aws:iam::123456789012:role/ecr-policy-guard/central-EnforcePolicyFunctionRole-X";
const REPOSITORY: &str = "team-payments/api";

/// A public grant beside the account's own CI role
fn public(account: &str) -> Value {
    json!({"Version":"2012-10-17","Statement":[
        {"Sid":"AllowPublicPull","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]},
        {"Sid":"OwnCi","Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{account}:role/ci")},"Action":"ecr:*"}]})
}

/// The member stack's role, as member.yaml writes its trust policy (moto does not evaluate it)
fn deploy_member_role(account: &str) {
    create_role(
        account,
        MEMBER_ROLE,
        &json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{ACCOUNT}:root")},
            "Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:PrincipalArn":format!("arn:aws:iam::{ACCOUNT}:role/ecr-policy-guard/*")}}}]}),
    );
}

fn central_config(extra: impl FnOnce(&mut Value)) -> String {
    config(|c| {
        c["member_role"] = json!(format!("arn:${{Partition}}:iam::${{AccountId}}:role/{MEMBER_ROLE}"));
        extra(c);
    })
}

/// The central functions' service, as `init_lambda` builds it in the central account
async fn central(config_json: &str) -> (Service<SdkAccess>, Arc<MemoryAudit>) {
    let access = SdkAccess::new(
        moto_sdk_config().await,
        Some(ACCOUNT.to_owned()),
        session_name(Some("central-test")),
    );
    let config = LiveConfig::fixed(GuardConfig::parse(config_json).unwrap());
    let mut service = Service::new(access, config, vec![CENTRAL_ROLE.to_owned()], Some(ACCOUNT.to_owned()));
    let audit = Arc::new(MemoryAudit::default());
    service.audit = audit.clone();
    service.creation_backoff = Backoff {
        attempts: 6,
        first_delay: Duration::from_millis(100),
    };
    (service, audit)
}

async fn create_in(account: &str, region: &str, name: &str, policy: Option<&Value>) {
    create_repository_with(&ecr_in(account, region).await, name, policy).await;
}

async fn policy_in(account: &str, region: &str, name: &str) -> Option<Value> {
    let out = ecr_in(account, region)
        .await
        .get_repository_policy()
        .repository_name(name)
        .send()
        .await;
    out.ok()
        .and_then(|o| o.policy_text)
        .map(|t| serde_json::from_str(&t).unwrap())
}

async fn registry_in(account: &str) -> Option<Value> {
    let out = ecr_in(account, REGION).await.get_registry_policy().send().await;
    out.ok()
        .and_then(|o| o.policy_text)
        .map(|t| serde_json::from_str(&t).unwrap())
}

const MEMBERS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];
const NO_ROLE: &str = "444444444444";

#[tokio::test]
async fn member_events_are_repaired_in_their_account_and_a_missing_role_stays_that_accounts_error() {
    let _x = exclusive().await;
    for m in MEMBERS {
        deploy_member_role(m);
    }
    for account in [MEMBERS[0], MEMBERS[1], MEMBERS[2], NO_ROLE, ACCOUNT] {
        create_in(account, REGION, REPOSITORY, Some(&public(account))).await;
    }
    let (service, audit) = central(&central_config(|_| {})).await;
    let set_policy = |account: &str| lambda_event(event_in("cloudtrail-ecr-set-repository-policy.json", account));

    // The member without a role first: its error is its own, and every other member goes on.
    let err = enforce_policy::function_handler(set_policy(NO_ROLE), &service)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "cannot assume `arn:aws:iam::{NO_ROLE}:role/{MEMBER_ROLE}` in account `{NO_ROLE}`:"
        )),
        "{message}"
    );
    assert!(message.contains("AccessDenied"), "{message}");
    assert_eq!(
        lambda_runtime::Diagnostic::from(err).error_type,
        "Retryable.AccessDenied"
    );
    assert!(audit
        .lines()
        .iter()
        .any(|l| l["audit"] == "access_error" && l["account"] == NO_ROLE && l["retryable"] == true));

    for (i, m) in MEMBERS.into_iter().enumerate() {
        let out = enforce_policy::function_handler(set_policy(m), &service).await.unwrap();
        assert_eq!(out.action, OutcomeAction::Written, "{m}");
        let live = policy_in(m, REGION, REPOSITORY).await.unwrap();
        // Repaired with this account's baseline: `${AccountId}` is the member's.
        assert_eq!(
            sids(&live),
            ["OwnCi", "GuardBaselineOrgPull", "GuardBaselineLambdaPull"],
            "{m}"
        );
        assert!(
            live.to_string()
                .contains(&format!("arn:aws:lambda:{REGION}:{m}:function:*")),
            "{live}"
        );
        // The members not yet handled still hold their public grant.
        for later in &MEMBERS[i + 1..] {
            assert_eq!(
                policy_in(later, REGION, REPOSITORY).await.unwrap(),
                public(later),
                "{later}"
            );
        }
    }
    // Nowhere else: the central account's own repository and the roleless member are untouched.
    assert_eq!(policy_in(ACCOUNT, REGION, REPOSITORY).await.unwrap(), public(ACCOUNT));
    assert_eq!(policy_in(NO_ROLE, REGION, REPOSITORY).await.unwrap(), public(NO_ROLE));
    let writes = audit.lines().iter().filter(|l| l["audit"] == "policy_written").count();
    assert_eq!(writes, 3);

    // The member role's own write comes back as an event: the guard's own session, skipped.
    let mut own = event_in("cloudtrail-ecr-set-repository-policy.json", MEMBERS[0]);
    own["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] =
        json!(format!("arn:aws:iam::{}:role/{MEMBER_ROLE}", MEMBERS[0]));
    let out = enforce_policy::function_handler(lambda_event(own), &service)
        .await
        .unwrap();
    assert_eq!(out.action, OutcomeAction::Skipped);
    assert!(out.reason.unwrap().contains("the guard's own role"));

    // A new repository in one member gets that member's baseline.
    create_in(MEMBERS[1], REGION, "team-new/svc", None).await;
    let mut created = event_in("cloudtrail-ecr-create-repository.json", MEMBERS[1]);
    created["detail"]["requestParameters"]["repositoryName"] = json!("team-new/svc");
    let out = apply_baseline::function_handler(lambda_event(created), &service)
        .await
        .unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    let live = policy_in(MEMBERS[1], REGION, "team-new/svc").await.unwrap();
    assert!(
        live.to_string().contains(&format!(":{}:function:*", MEMBERS[1])),
        "{live}"
    );
    assert_eq!(policy_in(ACCOUNT, REGION, "team-new/svc").await, None);

    // A failed replication into one member grants the source in that member's registry only.
    let failed = event_in("ecr-replication-action-failed.json", MEMBERS[2]);
    let out = grant_replication::function_handler(lambda_event(failed), &service)
        .await
        .unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    let registry = registry_in(MEMBERS[2]).await.unwrap();
    assert!(registry.to_string().contains("777788889999"), "{registry}");
    assert_eq!(registry_in(ACCOUNT).await, None);
    assert_eq!(registry_in(MEMBERS[0]).await, None);
}

#[tokio::test]
async fn accounts_outside_the_configured_list_are_left_alone() {
    let _x = exclusive().await;
    for m in MEMBERS {
        deploy_member_role(m);
        create_in(m, REGION, REPOSITORY, Some(&public(m))).await;
    }
    let config = central_config(|c| {
        c["accounts"] = json!([MEMBERS[0], MEMBERS[1]]);
        c["exclude_accounts"] = json!([MEMBERS[1]]);
    });
    let (service, _) = central(&config).await;
    let set_policy = |account: &str| lambda_event(event_in("cloudtrail-ecr-set-repository-policy.json", account));
    let out = enforce_policy::function_handler(set_policy(MEMBERS[0]), &service)
        .await
        .unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    for (m, why) in [
        (MEMBERS[1], "account `222222222222` is in `exclude_accounts`"),
        (MEMBERS[2], "account `333333333333` is not in `accounts`"),
    ] {
        let out = enforce_policy::function_handler(set_policy(m), &service).await.unwrap();
        assert_eq!((out.action, out.reason.as_deref()), (OutcomeAction::Skipped, Some(why)));
        assert_eq!(policy_in(m, REGION, REPOSITORY).await.unwrap(), public(m));
    }
    let err = sweep::function_handler(lambda_event(json!({"account": MEMBERS[2], "region": REGION})), &service)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed event: account `333333333333` is not in `accounts`"
    );
}

#[tokio::test]
async fn org_sweep_plans_from_organizations_and_sweeps_every_member_and_region() {
    let _x = exclusive().await;
    let base = moto_sdk_config().await;
    let org = aws_sdk_organizations::Client::new(&base);
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let mut members = Vec::new();
    for i in 0..4 {
        let out = org
            .create_account()
            .email(format!("member{i}@example.com"))
            .account_name(format!("member-{i}"))
            .send()
            .await
            .unwrap();
        members.push(out.create_account_status.unwrap().account_id.unwrap());
    }
    // Three members have the member stack; the last one's role is missing.
    let (with_role, without) = members.split_at(3);
    let regions = ["us-east-1", "eu-west-1"];
    for m in with_role {
        deploy_member_role(m);
    }
    for m in &members {
        for r in regions {
            create_in(m, r, &format!("svc/app-{r}"), Some(&public(m))).await;
        }
    }
    let config = central_config(|c| {
        c["accounts"] = json!("organization");
        c["regions"] = json!(regions);
    });
    let (service, audit) = central(&config).await;
    // Two accounts a page: five accounts (the management account too) take three pages.
    let directory = sweep::SdkOrganizations::new(org.clone(), Some(2));

    let plan = sweep::handler(lambda_event(json!({"plan": true})), &service, &directory)
        .await
        .unwrap();
    let mut expected: Vec<String> = members.clone();
    expected.push(ACCOUNT.to_owned());
    expected.sort();
    assert_eq!(plan["accounts"], json!(expected), "{plan}");
    assert_eq!(plan["regions"], json!(regions));
    assert_eq!(plan["source"], "organization");
    assert_eq!(
        (plan["accounts_at_once"].as_u64(), plan["regions_at_once"].as_u64()),
        (Some(10), Some(2))
    );

    // What each Map item does: one sweep of one registry (the state machine's item shape).
    let mut records = Vec::new();
    for account in plan["accounts"].as_array().unwrap() {
        for region in plan["regions"].as_array().unwrap() {
            let item =
                json!({"account": account, "region": region, "concurrency": plan["concurrency"], "summary": "counts"});
            records.push(sweep::handler(lambda_event(item), &service, &directory).await.unwrap());
        }
    }
    assert_eq!(records.len(), 10);
    for r in &records {
        let (account, region) = (r["account"].as_str().unwrap(), r["region"].as_str().unwrap());
        assert_eq!(r["findings"], json!([]), "counts only: {r}");
        if account == ACCOUNT {
            assert_eq!(
                (r["repositories_seen"].as_u64(), r["complete"].as_bool()),
                (Some(0), Some(true)),
                "{r}"
            );
        } else if account == without[0] {
            assert_eq!(r["complete"], false, "{r}");
            assert_eq!(r["failed"][0]["retryable"], true);
            let error = r["failed"][0]["error"].as_str().unwrap();
            assert!(
                error.starts_with(&format!("cannot assume `arn:aws:iam::{account}:role/{MEMBER_ROLE}`")),
                "{error}"
            );
        } else {
            assert_eq!(
                (r["repositories_seen"].as_u64(), r["changed"].as_u64()),
                (Some(1), Some(1)),
                "{r}"
            );
            assert_eq!(r["findings_by_rule"]["public"], 1, "{r}");
            assert!(r["failed"].as_array().unwrap().is_empty(), "{r}");
            let live = policy_in(account, region, &format!("svc/app-{region}")).await.unwrap();
            assert_eq!(sids(&live), ["OwnCi"], "{account} {region}");
        }
    }
    for r in regions {
        assert_eq!(
            policy_in(&without[0], r, &format!("svc/app-{r}")).await.unwrap(),
            public(&without[0])
        );
    }
    // One summary line per registry swept: the organisation's record in the logs.
    let lines = audit.lines();
    let summaries: Vec<&Value> = lines.iter().filter(|l| l["audit"] == "sweep_summary").collect();
    assert_eq!(summaries.len(), 10);
    assert!(lines.iter().any(|l| l["audit"] == "sweep_plan" && l["accounts"] == 5));
}
