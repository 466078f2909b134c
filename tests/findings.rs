//! Findings in every outlet, on moto: EventBridge (a rule with an SQS target receives the event),
//! Security Hub (a handler's findings through import-findings on the template's own rule, the
//! sweep's directly; `GetFindings` returns what was imported; fixed and unseen findings resolved),
//! SNS (an SQS subscription receives the chat message); batches of 100; failing outlets leave
//! enforcement intact; per-rule modes and approved exceptions on moto's ECR.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use guard_adapter::{
    outlets::{import::Imported, sdk::SdkSecurityHub, EVENT_DETAIL_TYPE, EVENT_SOURCE},
    OutcomeAction,
};
use scenarios::*;
use serde_json::{json, Value};
use std::{collections::BTreeSet, sync::Arc};

const SVC: &str = "svc";

fn public() -> Value {
    json!({"Version":"2012-10-17","Statement":[
        {"Sid":"Anyone","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]},
        {"Sid":"CiPush","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"ecr:PutImage"}]})
}

/// The example config with these outlets and mode
fn config_with(mode: Value, outlets: Value) -> String {
    config(|c| {
        c["mode"] = mode;
        for (k, v) in outlets.as_object().unwrap() {
            c[k] = v.clone();
        }
    })
}

async fn enforce(g: &TestGuard, repository: &str) -> guard_adapter::Outcome {
    enforce_policy::function_handler(
        lambda_event(event_for("cloudtrail-ecr-set-repository-policy.json", repository)),
        &g.guard,
    )
    .await
    .unwrap()
}

fn events() -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(&sdk_config_at(moto_endpoint()))
}

fn hub() -> aws_sdk_securityhub::Client {
    aws_sdk_securityhub::Client::new(&sdk_config_at(moto_endpoint()))
}

fn sns() -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(&sdk_config_at(moto_endpoint()))
}

/// Every finding Security Hub holds, by id (every page)
async fn hub_findings() -> std::collections::BTreeMap<String, aws_sdk_securityhub::types::AwsSecurityFinding> {
    let mut out = std::collections::BTreeMap::new();
    let mut token = None;
    loop {
        let page = hub().get_findings().set_next_token(token).send().await.unwrap();
        for f in page.findings() {
            out.insert(f.id().unwrap().to_owned(), f.clone());
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return out,
        }
    }
}

/// A rule on moto's default bus with `pattern`, whose target is a new queue: returns the queue's
/// URL
async fn route_to_queue(name: &str, pattern: &Value) -> String {
    let (url, arn) = queue(name).await;
    events()
        .put_rule()
        .name(name)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap();
    events()
        .put_targets()
        .rule(name)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    url
}

/// import-findings' rule, exactly as template.yaml has it, on moto's default bus; moto cannot
/// invoke a Rust function, so its target is a queue whose messages are the events the function
/// would receive. Returns the queue's URL.
async fn importer_route() -> String {
    let t: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(root().join("template.yaml")).unwrap()).unwrap();
    let pattern: Value = serde_json::to_value(
        &t["Resources"]["ImportFindingsFunction"]["Properties"]["Events"]["Finding"]["Properties"]["Pattern"],
    )
    .unwrap();
    route_to_queue("import-findings", &pattern).await
}

/// import-findings on each event the route delivered, with moto's Security Hub
async fn import_routed(url: &str) -> Vec<Imported> {
    let hub = SdkSecurityHub::new(hub());
    let mut out = vec![];
    for e in drain(url).await {
        out.push(import_findings::function_handler(lambda_event(e), &hub).await.unwrap());
    }
    out
}

fn state(f: &aws_sdk_securityhub::types::AwsSecurityFinding) -> (String, String) {
    (
        f.compliance().unwrap().status().unwrap().as_str().to_owned(),
        f.record_state().unwrap().as_str().to_owned(),
    )
}

#[tokio::test]
async fn an_eventbridge_rule_routes_the_finding_to_a_queue() {
    let _x = exclusive().await;
    // Given a rule on the default bus matching the guard's findings, with an SQS target
    let pattern = json!({"source": [EVENT_SOURCE], "detail-type": [EVENT_DETAIL_TYPE], "detail": {"severity": ["CRITICAL", "HIGH"]}});
    let url = route_to_queue("ecr-policy-guard-findings", &pattern).await;
    create_repository(SVC, Some(&public())).await;
    let g = guard_with_outlets(&config_with(json!("enforce"), json!({})), moto_endpoint());
    // When enforce-policy removes the public grant
    let out = enforce(&g, SVC).await;
    assert_eq!(out.action, OutcomeAction::Written);
    // Then the queue receives one event in the documented shape
    let got = drain(&url).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let e = &got[0];
    assert_eq!(e["source"], EVENT_SOURCE);
    assert_eq!(e["detail-type"], EVENT_DETAIL_TYPE);
    // (moto leaves the envelope's `account` out of what it sends to SQS; the detail has it)
    assert_eq!(
        e["resources"],
        json!(["arn:aws:ecr:us-east-1:123456789012:repository/svc"])
    );
    let d = &e["detail"];
    assert!(d["id"]
        .as_str()
        .unwrap()
        .starts_with("ecr-policy-guard/v1/123456789012/us-east-1/repository/public/"));
    for (k, v) in [
        ("account", json!(ACCOUNT)),
        ("region", json!(REGION)),
        ("target", json!("repository")),
        ("repository", json!(SVC)),
        ("resource", json!("arn:aws:ecr:us-east-1:123456789012:repository/svc")),
        ("rule", json!("public")),
        ("severity", json!("CRITICAL")),
        ("disposition", json!("removed")),
        ("mode", json!("enforce")),
        ("trigger", json!("event")),
        ("statement", public()["Statement"][0].clone()),
        ("rewritten", Value::Null),
    ] {
        assert_eq!(d[k], v, "{k}: {d}");
    }
    assert_eq!(d["reason"], "grants `pull` to anyone");
    // And the grant is gone, the CI grant kept
    assert_eq!(sids(&repository_policy(SVC).await.unwrap()), ["CiPush"]);
}

#[tokio::test]
async fn security_hub_holds_the_finding_then_resolves_it_when_fixed_or_gone() {
    let _x = exclusive().await;
    hub().enable_security_hub().send().await.unwrap();
    create_repository(SVC, Some(&public())).await;
    create_repository("other", Some(&public())).await;
    let route = importer_route().await;
    let everything = route_to_queue("every-guard-event", &json!({"source": [EVENT_SOURCE]})).await;
    let outlets = json!({"security_hub": true, "finding_events": false});
    // Report mode: the handler publishes the finding (Security Hub on puts it on the bus even
    // with `finding_events` off), import-findings imports it, failed and active
    let report = guard_with_outlets(&config_with(json!("report"), outlets.clone()), moto_endpoint());
    let sweeper = sweeper_with_outlets(&config_with(json!("report"), outlets.clone()), moto_endpoint());
    assert_eq!(enforce(&report, SVC).await.action, OutcomeAction::Reported);
    assert_eq!(enforce(&report, "other").await.action, OutcomeAction::Reported);
    assert!(hub_findings().await.is_empty(), "the handler itself imports nothing");
    let imported = import_routed(&route).await;
    assert_eq!(imported.len(), 2, "{imported:?}");
    let held = hub_findings().await;
    assert_eq!(held.len(), 2);
    let (id, f) = held
        .iter()
        .find(|(_, f)| f.resources()[0].id() == Some("arn:aws:ecr:us-east-1:123456789012:repository/svc"))
        .unwrap();
    assert_eq!(f.schema_version(), Some("2018-10-08"));
    assert_eq!(
        f.product_arn(),
        Some("arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default")
    );
    assert_eq!(f.generator_id(), Some("ecr-policy-guard/public"));
    assert_eq!(f.aws_account_id(), Some(ACCOUNT));
    assert_eq!(
        f.finding_provider_fields()
            .unwrap()
            .severity()
            .unwrap()
            .label()
            .unwrap()
            .as_str(),
        "CRITICAL"
    );
    let r = &f.resources()[0];
    assert_eq!(r.r#type(), Some("AwsEcrRepository"));
    assert_eq!(
        r.details().unwrap().aws_ecr_repository().unwrap().repository_name(),
        Some(SVC)
    );
    assert_eq!(state(f), ("FAILED".to_owned(), "ACTIVE".to_owned()));
    assert_eq!(f.created_at(), f.updated_at());
    // Enforced: the same id, passed and archived, UpdatedAt later
    let enforcing = guard_with_outlets(&config_with(json!("enforce"), outlets.clone()), moto_endpoint());
    assert_eq!(enforce(&enforcing, SVC).await.action, OutcomeAction::Written);
    let imported = import_routed(&route).await;
    assert!(
        matches!(&imported[..], [Imported::Imported { compliance, record_state, .. }]
            if compliance == "PASSED" && record_state == "ARCHIVED"),
        "{imported:?}"
    );
    let held = hub_findings().await;
    assert_eq!(held.len(), 2, "same id: updated, not added");
    assert_eq!(state(&held[id]), ("PASSED".to_owned(), "ARCHIVED".to_owned()));
    assert!(held[id].updated_at() > f.updated_at());
    assert_eq!(drain(&everything).await.len(), 3, "the handlers' three records");
    // Fixed by hand in the other repository: the next sweep no longer sees it and resolves it
    client()
        .delete_repository_policy()
        .repository_name("other")
        .send()
        .await
        .unwrap();
    let summary = sweeper
        .guard
        .sweep(ACCOUNT, REGION, Default::default(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(summary.resolved_findings, 1);
    let held = hub_findings().await;
    let repositories: Vec<_> = held
        .values()
        .filter(|f| f.resources()[0].r#type() == Some("AwsEcrRepository"))
        .collect();
    assert_eq!(repositories.len(), 2);
    assert!(repositories
        .iter()
        .all(|f| state(f) == ("PASSED".to_owned(), "ARCHIVED".to_owned())));
    // The sweep also judged the registry policy (the example config's replication source lacks
    // its grant): that finding is new and open.
    let registry: Vec<_> = held
        .values()
        .filter(|f| f.resources()[0].r#type() == Some("Other"))
        .collect();
    assert_eq!(registry.len(), 1);
    assert_eq!(registry[0].generator_id(), Some("ecr-policy-guard/replication"));
    assert_eq!(state(registry[0]), ("FAILED".to_owned(), "ACTIVE".to_owned()));
    // A sweep that sees nothing new resolves nothing more
    let summary = sweeper
        .guard
        .sweep(ACCOUNT, REGION, Default::default(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(summary.resolved_findings, 0);
    // The sweep imported its own findings and, with `finding_events` off, put nothing on the bus.
    assert!(drain(&everything).await.is_empty());
    assert!(import_routed(&route).await.is_empty());
}

#[tokio::test]
async fn the_sweep_imports_250_findings_in_three_calls_and_throttling_is_retried() {
    let _x = exclusive().await;
    // 25 repositories, each granting 10 foreign accounts beside its own: 250 findings
    for i in 0..25 {
        let mut principals: Vec<String> = (0..10).map(|j| format!("9{i:02}{j:09}")).collect();
        principals.push(format!("arn:aws:iam::{ACCOUNT}:root"));
        let policy = json!({"Version":"2012-10-17","Statement":[
            {"Sid":"Partners","Effect":"Allow","Principal":{"AWS":principals},"Action":"ecr:BatchGetImage"}]});
        create_repository(&format!("app-{i:02}"), Some(&policy)).await;
    }
    let proxy = FaultProxy::start().await;
    // The first import is throttled: the SDK backs off and sends it again.
    proxy.inject("/findings/import", Fault::Throttle, 0, 1);
    // Without replication sources the registry policy has nothing to report: 250 exactly.
    let g = sweeper_with_outlets(
        &config_with(
            json!("report"),
            json!({"security_hub": true, "finding_events": false, "replication_sources": []}),
        ),
        &proxy.endpoint,
    );
    let summary = g
        .guard
        .sweep(ACCOUNT, REGION, Default::default(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(summary.findings.len(), 250);
    assert_eq!(proxy.calls("/findings/import"), 4, "3 batches, one of them sent twice");
    let held = hub_findings().await;
    assert_eq!(held.len(), 250);
    assert!(held
        .values()
        .all(|f| state(f) == ("FAILED".to_owned(), "ACTIVE".to_owned())));
    assert!(g.audit.lines().iter().all(|l| l["audit"] != "delivery_failed"));
    assert_eq!(g.writes(), 0);
}

#[tokio::test]
async fn chat_gets_one_message_per_target_through_sns() {
    let _x = exclusive().await;
    let topic = sns()
        .create_topic()
        .name("ecr-guard-chat")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let (url, arn) = queue("chat").await;
    sns()
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(arn)
        .send()
        .await
        .unwrap();
    create_repository(SVC, Some(&public())).await;
    let g = guard_with_outlets(
        &config_with(
            json!("enforce"),
            json!({"notify_topic_arn": topic, "finding_events": false}),
        ),
        moto_endpoint(),
    );
    assert_eq!(enforce(&g, SVC).await.action, OutcomeAction::Written);
    let got = drain(&url).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["Type"], "Notification");
    assert_eq!(
        got[0]["Subject"],
        "ecr-policy-guard: repository `svc` in 123456789012 us-east-1"
    );
    let m: Value = serde_json::from_str(got[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(m["version"], "1.0");
    assert_eq!(m["source"], "custom");
    assert_eq!(m["content"]["textType"], "client-markdown");
    assert_eq!(
        m["content"]["title"],
        ":rotating_light: ecr-policy-guard removed or pinned 1 grant on repository `svc`"
    );
    let description = m["content"]["description"].as_str().unwrap();
    assert!(
        description.starts_with("• *public* (CRITICAL) removed: statement 0 (`Anyone`)"),
        "{description}"
    );
    assert!(
        description.ends_with("Account `123456789012`, Region `us-east-1`."),
        "{description}"
    );
    assert_eq!(
        m["metadata"]["threadId"],
        "arn:aws:ecr:us-east-1:123456789012:repository/svc"
    );
    assert_eq!(
        m["metadata"]["relatedResources"],
        json!(["arn:aws:ecr:us-east-1:123456789012:repository/svc"])
    );
    // Nothing to change: nothing said.
    assert_eq!(enforce(&g, SVC).await.action, OutcomeAction::Unchanged);
    assert!(drain(&url).await.is_empty());
}

#[tokio::test]
async fn failing_outlets_leave_enforcement_intact_and_audit_the_records() {
    let _x = exclusive().await;
    create_repository(SVC, Some(&public())).await;
    let all = json!({"security_hub": true, "notify_topic_arn": "arn:aws:sns:us-east-1:123456789012:gone"});
    // Every outlet unreachable
    let g = guard_with_outlets(&config_with(json!("enforce"), all.clone()), &dead_endpoint());
    let out = enforce(&g, SVC).await;
    assert_eq!(out.action, OutcomeAction::Written);
    assert_eq!(out.findings[0].disposition, "removed");
    assert_eq!(sids(&repository_policy(SVC).await.unwrap()), ["CiPush"]);
    let lines = g.audit.lines();
    let failed: Vec<&Value> = lines.iter().filter(|l| l["audit"] == "delivery_failed").collect();
    let outlets: BTreeSet<&str> = failed.iter().map(|l| l["outlet"].as_str().unwrap()).collect();
    // A handler leaves Security Hub to import-findings: its findings travel on the bus.
    assert_eq!(outlets, BTreeSet::from(["eventbridge", "sns"]));
    for l in &failed {
        assert_eq!(l["tries"], 2, "{l}");
        assert_eq!(l["records"][0]["statement"], public()["Statement"][0], "{l}");
    }
    // import-findings with Security Hub unreachable: a retryable error (EventBridge tries again,
    // then the dead-letter queue keeps the event). The audited record is the event's detail.
    let event = json!({"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": EVENT_DETAIL_TYPE,
        "source": EVENT_SOURCE, "account": ACCOUNT, "time": "2026-11-26T06:40:38Z", "region": REGION,
        "resources": [], "detail": failed[0]["records"][0]});
    let unreachable = SdkSecurityHub::new(aws_sdk_securityhub::Client::new(&sdk_config_at(&dead_endpoint())));
    let e = import_findings::function_handler(lambda_event(event.clone()), &unreachable)
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(e.to_string().contains("BatchImportFindings"), "{e}");
    // Once it is back, the same event imports.
    hub().enable_security_hub().send().await.unwrap();
    let imported = import_findings::function_handler(lambda_event(event), &SdkSecurityHub::new(hub()))
        .await
        .unwrap();
    assert!(matches!(imported, Imported::Imported { .. }), "{imported:?}");
    assert_eq!(hub_findings().await.len(), 1);
    assert!(lines
        .iter()
        .any(|l| l["audit"] == "grant_removed" && l["rule"] == "public"));
    // Answering with server errors: the same
    create_repository("api", Some(&public())).await;
    let proxy = FaultProxy::start().await;
    proxy.inject("PutEvents", Fault::ServerError, 0, 100);
    let g = guard_with_outlets(&config_with(json!("enforce"), json!({})), &proxy.endpoint);
    assert_eq!(enforce(&g, "api").await.action, OutcomeAction::Written);
    assert_eq!(sids(&repository_policy("api").await.unwrap()), ["CiPush"]);
    assert!(proxy.calls("PutEvents") >= 2, "retried");
    let failed: Vec<Value> = g
        .audit
        .lines()
        .into_iter()
        .filter(|l| l["audit"] == "delivery_failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["outlet"], "eventbridge");
}

#[tokio::test]
async fn per_rule_modes_write_only_the_enforced_rules_change() {
    let _x = exclusive().await;
    let mixed = json!({"Version":"2012-10-17","Statement":[
        {"Sid":"Anyone","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},
        {"Sid":"Partner","Effect":"Allow","Principal":{"AWS":"999988887777"},"Action":"ecr:BatchGetImage"},
        {"Sid":"CiPush","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"ecr:PutImage"}]});
    create_repository(SVC, Some(&mixed)).await;
    let url = route_to_queue("all-findings", &json!({"source": [EVENT_SOURCE]})).await;
    let g = guard_with_outlets(
        &config_with(json!({"default": "report", "public": "enforce"}), json!({})),
        moto_endpoint(),
    );
    let out = enforce(&g, SVC).await;
    assert_eq!(out.action, OutcomeAction::Written);
    let got: Vec<(&str, &str)> = out.findings.iter().map(|f| (f.rule, f.disposition)).collect();
    assert_eq!(got, [("public", "removed"), ("foreign-account", "reported")]);
    // Only the enforced rule's change was written
    assert_eq!(sids(&repository_policy(SVC).await.unwrap()), ["Partner", "CiPush"]);
    assert_eq!(g.writes(), 1);
    let mut seen: Vec<(String, String, String)> = drain(&url)
        .await
        .iter()
        .map(|e| {
            let d = &e["detail"];
            (
                d["rule"].as_str().unwrap().to_owned(),
                d["disposition"].as_str().unwrap().to_owned(),
                d["mode"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("foreign-account".into(), "reported".into(), "report".into()),
            ("public".into(), "removed".into(), "enforce".into())
        ]
    );
}

#[tokio::test]
async fn an_exception_keeps_exactly_its_grant_and_ends_on_its_date() {
    let _x = exclusive().await;
    let config = config(|c| {
        c["exceptions"] = json!([{"repositories": "svc-*", "grantee": {"account": "999988887777"},
            "max": "pull", "expires": "2027-04-01", "reason": "partner migration, SEC-42"}]);
    });
    let partners = json!({"Version":"2012-10-17","Statement":[
        {"Sid":"Partners","Effect":"Allow","Principal":{"AWS":["999988887777","888877776666"]},"Action":"ecr:BatchGetImage"},
        {"Sid":"PartnerPush","Effect":"Allow","Principal":{"AWS":"999988887777"},"Action":"ecr:PutImage"}]});
    create_repository("svc-a", Some(&partners)).await;
    let mut g = guard(&config, None);
    let day = |d: &str| policy_core::condition::parse_date(d).unwrap();
    g.guard.clock = Arc::new(move || day("2027-03-31"));
    // The day before it ends: the excepted pull grant stays; the other account goes, and so
    // does the excepted account's push, which the exception (`max: pull`) does not cover
    let out = enforce(&g, "svc-a").await;
    let got: Vec<(&str, &str, &str)> = out
        .findings
        .iter()
        .map(|f| {
            (
                f.statement.as_str(),
                f.principal.as_deref().unwrap_or("-"),
                f.disposition,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("statement 0 (`Partners`)", "999988887777", "excepted"),
            ("statement 0 (`Partners`)", "888877776666", "removed"),
            ("statement 1 (`PartnerPush`)", "-", "removed"),
        ]
    );
    let live = repository_policy("svc-a").await.unwrap();
    assert_eq!(sids(&live), ["Partners"]);
    assert!(
        live.to_string().contains("999988887777") && !live.to_string().contains("888877776666"),
        "{live}"
    );
    // On its date it no longer applies: the grant goes
    g.guard.clock = Arc::new(move || day("2027-04-01"));
    let out = enforce(&g, "svc-a").await;
    assert_eq!(out.action, OutcomeAction::Written);
    assert_eq!(out.findings[0].disposition, "removed");
    assert_eq!(repository_policy("svc-a").await, None);
}
