#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use super::{asff::Asff, memory::MemoryOutlets, *};
use crate::{
    audit::MemoryAudit,
    engine::{Accepts, Guard, OutcomeAction},
    memory::InMemoryEcr,
    port::CreationTemplate,
    settings::Settings,
};
use policy_core::{condition::parse_date, Policy};
use serde_json::json;

const OWN: &str = "123456789012";
const PUBLIC: &str =
    r#"{"Statement":[{"Sid":"Anyone","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#;

fn guard(config: &str) -> (Guard<InMemoryEcr>, Arc<MemoryOutlets>, Arc<MemoryAudit>) {
    let settings = Settings::from_vars(|k| (k == "GUARD_CONFIG").then(|| config.to_owned())).unwrap();
    let mut g = Guard::new(InMemoryEcr::new(), settings);
    let outlets = Arc::new(MemoryOutlets::default());
    g.outlets = outlets.outlets();
    let audit = Arc::new(MemoryAudit::default());
    g.audit = audit.clone();
    let day = parse_date("2026-11-20").unwrap();
    g.clock = Arc::new(move || day);
    (g, outlets, audit)
}

fn set_policy(repo: &str) -> Value {
    json!({"source":"aws.ecr","detail-type":"AWS API Call via CloudTrail","account":OWN,"region":"eu-west-1",
        "detail":{"eventSource":"ecr.amazonaws.com","eventName":"SetRepositoryPolicy","requestParameters":{"repositoryName":repo}}})
}

const ACCEPTS: Accepts = &["repository-policy-changed", "registry-policy-changed"];

/// A public repository and a public ROOT creation template, swept: a finding on each kind of
/// target (the registry's too, with a replication source in the config)
async fn sweep_over_every_target(g: &Guard<InMemoryEcr>) {
    g.ecr.put_repository("svc", Some(PUBLIC));
    g.ecr.put_template(CreationTemplate {
        prefix: "ROOT".into(),
        repository_policy: Some(PUBLIC.into()),
        ..CreationTemplate::default()
    });
    g.sweep(OWN, "eu-west-1", Default::default(), &|_, _| {}).await.unwrap();
}

/// A bus event as EventBridge hands it to a Lambda target
fn envelope(e: &BusEvent) -> Value {
    json!({"version": "0", "id": "0d1f6a4e-1b2c-4d5e-8f90-a1b2c3d4e5f6", "detail-type": e.detail_type,
        "source": e.source, "account": OWN, "time": "2026-11-20T00:00:01Z", "region": "eu-west-1",
        "resources": e.resources, "detail": serde_json::from_str::<Value>(&e.detail).unwrap()})
}

/// What import-findings does with the events published from the `from`-th on
async fn import_published(outlets: &Arc<MemoryOutlets>, from: usize) -> Vec<import::Imported> {
    let mut out = vec![];
    for e in outlets.events().iter().skip(from) {
        out.push(import::import_event(&envelope(e), outlets.as_ref()).await.unwrap());
    }
    out
}

fn subject(name: &str) -> Subject<'_> {
    Subject {
        kind: "repository",
        name: Some(name),
        account: OWN,
        region: "eu-west-1",
        partition: "aws",
    }
}

fn statement(json: &str) -> Statement {
    Policy::parse(&format!(r#"{{"Statement":[{json}]}}"#))
        .unwrap()
        .statements[0]
        .clone()
}

#[test]
fn ids_are_stable_per_target_rule_and_principal() {
    let s = statement(
        r#"{"Sid":"A","Effect":"Allow","Principal":{"AWS":["999988887777","888877776666"]},"Action":"ecr:*"}"#,
    );
    let id = finding_id(&subject("svc"), "foreign-account", Some("999988887777"), &s);
    assert!(
        id.starts_with("ecr-policy-guard/v1/123456789012/eu-west-1/repository/foreign-account/"),
        "{id}"
    );
    assert_eq!(
        id.len(),
        "ecr-policy-guard/v1/123456789012/eu-west-1/repository/foreign-account/".len() + 32
    );
    // Another statement granting the same principal: the same finding.
    let other =
        statement(r#"{"Sid":"B","Effect":"Allow","Principal":{"AWS":"999988887777"},"Action":"ecr:BatchGetImage"}"#);
    assert_eq!(
        id,
        finding_id(&subject("svc"), "foreign-account", Some("999988887777"), &other)
    );
    for different in [
        finding_id(&subject("svc"), "foreign-account", Some("888877776666"), &s),
        finding_id(&subject("svc"), "excess-access", Some("999988887777"), &s),
        finding_id(&subject("api"), "foreign-account", Some("999988887777"), &s),
    ] {
        assert_ne!(id, different);
    }
    // A whole statement: its Sid; without one, its normal form (order and one-vs-many ignored).
    let a =
        statement(r#"{"Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}"#);
    let b = statement(
        r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["ecr:GetDownloadUrlForLayer","ecr:BatchGetImage"]}"#,
    );
    assert_eq!(
        finding_id(&subject("svc"), "public", None, &a),
        finding_id(&subject("svc"), "public", None, &b)
    );
    let sid = |j: &str| finding_id(&subject("svc"), "public", None, &statement(j));
    assert_eq!(
        sid(r#"{"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"ecr:*"}"#),
        sid(r#"{"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}"#)
    );
}

#[test]
fn timestamps_are_fixed_width_utc() {
    assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339(parse_date("2027-04-01").unwrap()), "2027-04-01T00:00:00.000Z");
    let t = aws_sdk_ecr::primitives::DateTime::from_str(
        "2024-02-29T23:59:58.789Z",
        aws_sdk_ecr::primitives::DateTimeFormat::DateTime,
    )
    .unwrap();
    assert_eq!(rfc3339(t.as_secs_f64()), "2024-02-29T23:59:58.789Z");
}

#[tokio::test]
async fn one_removal_reaches_every_outlet_in_its_documented_shape() {
    let (g, outlets, audit) = guard(r#"{"mode":"enforce"}"#);
    g.ecr.put_repository("svc", Some(PUBLIC));
    let out = g.handle(&set_policy("svc"), ACCEPTS).await.unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    let events = outlets.events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].source, events[0].detail_type),
        (EVENT_SOURCE, EVENT_DETAIL_TYPE)
    );
    assert_eq!(
        events[0].resources,
        ["arn:aws:ecr:eu-west-1:123456789012:repository/svc"]
    );
    let detail: Value = serde_json::from_str(&events[0].detail).unwrap();
    assert_eq!(detail["rule"], "public");
    assert_eq!(detail["severity"], "CRITICAL");
    assert_eq!(detail["disposition"], "removed");
    assert_eq!(detail["mode"], "enforce");
    assert_eq!(detail["trigger"], "event");
    assert_eq!(detail["target"], "repository");
    assert_eq!(detail["repository"], "svc");
    assert_eq!(detail["observed_at"], "2026-11-20T00:00:00.000Z");
    assert_eq!(
        detail["statement"],
        json!({"Sid":"Anyone","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"})
    );
    let id = detail["id"].as_str().unwrap();
    // The handler left Security Hub to import-findings, which imports the event fixed at once:
    // resolved.
    assert!(outlets.findings().is_empty());
    import_published(&outlets, 0).await;
    let f = &outlets.findings()[id];
    let asff = f.to_json();
    assert_eq!(asff["SchemaVersion"], "2018-10-08");
    assert_eq!(
        asff["ProductArn"],
        "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
    );
    assert_eq!(asff["GeneratorId"], "ecr-policy-guard/public");
    assert_eq!(asff["AwsAccountId"], OWN);
    assert_eq!(asff["FindingProviderFields"]["Severity"]["Label"], "CRITICAL");
    assert_eq!(asff["Resources"][0]["Type"], "AwsEcrRepository");
    assert_eq!(
        asff["Resources"][0]["Details"]["AwsEcrRepository"]["RepositoryName"],
        "svc"
    );
    assert_eq!((f.compliance.as_str(), f.record_state.as_str()), ("PASSED", "ARCHIVED"));
    assert_eq!(f.created_at, f.updated_at);
    // One chat message for the target.
    let messages = outlets.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].0,
        "ecr-policy-guard: repository `svc` in 123456789012 eu-west-1"
    );
    let m: Value = serde_json::from_str(&messages[0].1).unwrap();
    assert_eq!(
        (m["version"].as_str(), m["source"].as_str()),
        (Some("1.0"), Some("custom"))
    );
    assert_eq!(m["content"]["textType"], "client-markdown");
    assert_eq!(
        m["content"]["title"],
        ":rotating_light: ecr-policy-guard removed or pinned 1 grant on repository `svc`"
    );
    let description = m["content"]["description"].as_str().unwrap();
    assert!(
        description.starts_with("• *public* (CRITICAL) removed: "),
        "{description}"
    );
    assert_eq!(
        m["metadata"]["threadId"],
        "arn:aws:ecr:eu-west-1:123456789012:repository/svc"
    );
    assert!(audit.lines().iter().all(|l| l["audit"] != "delivery_failed"));
}

#[tokio::test]
async fn a_reported_finding_is_resolved_under_the_same_id_when_fixed() {
    let (mut g, outlets, _) = guard(r#"{"mode":"report"}"#);
    g.ecr.put_repository("svc", Some(PUBLIC));
    let out = g.handle(&set_policy("svc"), ACCEPTS).await.unwrap();
    assert_eq!(out.action, OutcomeAction::Reported);
    import_published(&outlets, 0).await;
    let held = outlets.findings();
    let (id, f) = held.iter().next().unwrap();
    assert_eq!(
        (f.compliance.as_str(), f.record_state.as_str(), f.workflow.as_str()),
        ("FAILED", "ACTIVE", "NEW")
    );
    let m: Value = serde_json::from_str(&outlets.messages()[0].1).unwrap();
    assert!(m["content"]["title"]
        .as_str()
        .unwrap()
        .contains("found 1 finding it would change (report mode"));
    // Enforced a day later: the same id, now passed and archived, updated later.
    g.config.mode = policy_core::Modes::all(policy_core::Mode::Enforce);
    let later = parse_date("2026-11-21").unwrap();
    g.clock = Arc::new(move || later);
    g.handle(&set_policy("svc"), ACCEPTS).await.unwrap();
    import_published(&outlets, 1).await;
    let held = outlets.findings();
    assert_eq!(held.len(), 1);
    let fixed = &held[id];
    assert_eq!(
        (fixed.compliance.as_str(), fixed.record_state.as_str()),
        ("PASSED", "ARCHIVED")
    );
    assert_eq!(fixed.updated_at, "2026-11-21T00:00:00.000Z");
    // The report's event delivered again, late: its older `UpdatedAt` changes nothing.
    import_published(&outlets, 0).await;
    assert_eq!(outlets.findings()[id].record_state, "ARCHIVED");
}

#[tokio::test]
async fn a_failing_outlet_leaves_enforcement_intact_and_audits_the_records() {
    let (g, outlets, audit) = guard(r#"{"mode":"enforce"}"#);
    g.ecr.put_repository("svc", Some(PUBLIC));
    outlets.fail_with(Some(PortError::Transient {
        operation: "PutEvents",
        message: "connection refused".into(),
    }));
    let out = g.handle(&set_policy("svc"), ACCEPTS).await.unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    assert_eq!(out.findings[0].disposition, "removed");
    assert_eq!(g.ecr.repository_policy("svc"), None);
    let failures: Vec<Value> = audit
        .lines()
        .into_iter()
        .filter(|l| l["audit"] == "delivery_failed")
        .collect();
    let outlets_failed: BTreeSet<&str> = failures.iter().map(|l| l["outlet"].as_str().unwrap()).collect();
    // A handler calls no Security Hub (import-findings does, from the events).
    assert_eq!(outlets_failed, BTreeSet::from(["eventbridge", "sns"]));
    for l in &failures {
        assert_eq!(l["tries"], 2, "{l}");
        assert_eq!(l["records"][0]["rule"], "public", "{l}");
        assert_eq!(l["records"][0]["statement"]["Sid"], "Anyone", "{l}");
    }
    // The removal itself is audited as ever.
    assert!(audit.lines().iter().any(|l| l["audit"] == "grant_removed"));
}

#[tokio::test]
async fn the_sweep_batches_imports_and_resolves_what_it_no_longer_sees() {
    let (mut g, outlets, _) = guard(r#"{"mode":"report"}"#);
    // 250 repositories, each with one public statement: 250 findings.
    for i in 0..250 {
        g.ecr.put_repository(&format!("svc-{i:03}"), Some(PUBLIC));
    }
    let summary = g.sweep(OWN, "eu-west-1", Default::default(), &|_, _| {}).await.unwrap();
    assert_eq!(summary.findings.len(), 250);
    assert_eq!(outlets.import_calls(), [100, 100, 50]);
    assert_eq!(outlets.events().len(), 250);
    // Report mode changed nothing: no chat message from the sweep.
    assert!(outlets.messages().is_empty());
    let detail: Value = serde_json::from_str(&outlets.events()[0].detail).unwrap();
    assert_eq!(detail["trigger"], "sweep");
    // Two fixed by hand, one deleted: the next sweep resolves exactly those three.
    g.ecr.put_repository("svc-000", None);
    g.ecr.put_repository("svc-001", None);
    g.ecr.delete_repository("svc-002");
    let later = parse_date("2026-11-21").unwrap();
    g.clock = Arc::new(move || later);
    let summary = g.sweep(OWN, "eu-west-1", Default::default(), &|_, _| {}).await.unwrap();
    assert_eq!(summary.resolved_findings, 3);
    let archived: Vec<Asff> = outlets
        .findings()
        .into_values()
        .filter(|f| f.record_state == "ARCHIVED")
        .collect();
    let names: BTreeSet<&str> = archived
        .iter()
        .map(|f| f.resource.repository_name.as_deref().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["svc-000", "svc-001", "svc-002"]));
    assert!(archived.iter().all(|f| f.compliance == "PASSED"));
    assert!(archived.iter().all(|f| f.updated_at == "2026-11-21T00:00:00.000Z"));
    // Found again in a later sweep, a finding keeps its first CreatedAt.
    let active: Vec<Asff> = outlets
        .findings()
        .into_values()
        .filter(|f| f.record_state == "ACTIVE")
        .collect();
    assert_eq!(active.len(), 247);
    for f in active {
        assert_eq!(
            (f.created_at.as_str(), f.updated_at.as_str()),
            ("2026-11-20T00:00:00.000Z", "2026-11-21T00:00:00.000Z")
        );
    }
}

#[tokio::test]
async fn declared_outlet_actions_are_exactly_the_calls_made() {
    let handlers: [(&str, Accepts); 4] = [
        ("repository-created", &["repository-created"]),
        ("repository-policy-changed", &["repository-policy-changed"]),
        ("registry-policy-changed", &["registry-policy-changed"]),
        ("replication-failed", &["replication-failed"]),
    ];
    for (kind, accepts) in handlers {
        let (g, outlets, _) = guard(r#"{"mode":"enforce","replication_sources":["777788889999"]}"#);
        g.ecr.put_repository("svc", Some(PUBLIC));
        g.ecr.put_registry(Some(r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"999988887777"},"Action":"ecr:ReplicateImage","Resource":"*"}]}"#));
        let event = match kind {
            "replication-failed" => {
                json!({"source":"aws.ecr","detail-type":"ECR Replication Action","account":OWN,"region":"eu-west-1",
                "detail":{"result":"FAILED","source-account":"777788889999","repository-name":"app"}})
            }
            _ => {
                let name = match kind {
                    "repository-created" => "CreateRepository",
                    "registry-policy-changed" => "PutRegistryPolicy",
                    _ => "SetRepositoryPolicy",
                };
                let mut e = set_policy("svc");
                e["detail"]["eventName"] = json!(name);
                e
            }
        };
        let out = g.handle(&event, accepts).await.unwrap();
        assert_eq!(out.action, OutcomeAction::Written, "{kind}");
        let declared: BTreeSet<&str> = outlet_actions(kind).iter().copied().collect();
        assert_eq!(outlets.calls(), declared, "{kind}");
    }
    let (g, outlets, _) = guard(r#"{"mode":"enforce"}"#);
    sweep_over_every_target(&g).await;
    let declared: BTreeSet<&str> = outlet_actions("sweep").iter().copied().collect();
    assert_eq!(outlets.calls(), declared);
    for action in declared {
        assert!(outlet_switch(action).is_some(), "{action}");
    }
    // import-findings, on a handler's event
    let (g, outlets, _) = guard(r#"{"mode":"enforce"}"#);
    g.ecr.put_repository("svc", Some(PUBLIC));
    g.handle(&set_policy("svc"), ACCEPTS).await.unwrap();
    let event = envelope(&outlets.events()[0]);
    let importer = Arc::new(MemoryOutlets::default());
    import::import_event(&event, importer.as_ref()).await.unwrap();
    let declared: BTreeSet<&str> = outlet_actions("finding").iter().copied().collect();
    assert_eq!(importer.calls(), declared);
}

#[tokio::test]
async fn every_record_survives_the_bus_and_the_importer_checks_each_field() {
    let (g, outlets, _) = guard(r#"{"mode":"report","replication_sources":["777788889999"]}"#);
    sweep_over_every_target(&g).await;
    let events = outlets.events();
    let targets: BTreeSet<String> = events
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.detail).unwrap()["target"].to_string())
        .collect();
    assert_eq!(targets.len(), 3, "repository, registry and template: {targets:?}");
    for e in &events {
        let detail: Value = serde_json::from_str(&e.detail).unwrap();
        let record = FindingRecord::from_detail(&detail).unwrap();
        assert_eq!(record.to_value(), detail);
    }
    // A sweep's event is left to the sweep.
    let importer = Arc::new(MemoryOutlets::default());
    let skipped = import::import_event(&envelope(&events[0]), importer.as_ref())
        .await
        .unwrap();
    assert!(matches!(skipped, import::Imported::Skipped { .. }), "{skipped:?}");
    // Each bad event: its own error, and nothing imported.
    let good = {
        let mut e = envelope(&events[0]);
        e["detail"]["trigger"] = json!("event");
        e
    };
    assert!(matches!(
        import::import_event(&good, importer.as_ref()).await.unwrap(),
        import::Imported::Imported { .. }
    ));
    let bad = |edit: &dyn Fn(&mut Value)| {
        let mut e = good.clone();
        edit(&mut e);
        e
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            bad(&|e| e["source"] = json!("aws.ecr")),
            "event `aws.ecr` / `ECR Policy Guard Finding` is not an ecr-policy-guard finding",
        ),
        (
            bad(&|e| e["detail"].as_object_mut().unwrap().remove("reason").map(drop).unwrap()),
            "malformed at `.`: missing field `reason`",
        ),
        (bad(&|e| e["detail"]["colour"] = json!("red")), "unknown field `colour`"),
        (
            bad(&|e| e["detail"]["rule"] = json!("everything")),
            "unknown rule `everything`",
        ),
        (
            bad(&|e| e["detail"]["disposition"] = json!("ignored")),
            "unknown disposition `ignored`",
        ),
        (
            bad(&|e| e["detail"]["account"] = json!("999988887777")),
            "malformed at `id`",
        ),
        (
            bad(&|e| e["detail"]["observed_at"] = json!("yesterday")),
            "`yesterday` is not an RFC 3339 UTC time",
        ),
        (
            bad(&|e| e["detail"]["mode"] = json!(true)),
            "malformed at `mode`: invalid type",
        ),
        (
            bad(&|e| e["detail"]["mode"] = json!("maybe")),
            "malformed at `mode`: unknown variant `maybe`",
        ),
        (json!([1, 2]), "malformed"),
    ];
    let before = importer.import_calls().len();
    for (event, want) in cases {
        let e = import::import_event(&event, importer.as_ref()).await.unwrap_err();
        assert!(e.to_string().contains(want), "{e} / {want}");
        assert!(!e.is_retryable(), "{e}");
    }
    assert_eq!(importer.import_calls().len(), before);
    // Security Hub down: retryable, so EventBridge tries again; refused: not.
    importer.fail_with(Some(PortError::Transient {
        operation: "BatchImportFindings",
        message: "connection refused".into(),
    }));
    let e = import::import_event(&good, importer.as_ref()).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    let diagnostic: lambda_runtime::Diagnostic = e.into();
    assert_eq!(diagnostic.error_type, "Retryable.SecurityHubError");
}

#[tokio::test]
async fn excepted_and_kept_findings_are_warnings_and_not_chat() {
    let config = r#"{"mode":"enforce","exceptions":[{"repositories":"svc","grantee":{"account":"999988887777"},
        "max":"pull","expires":"2027-04-01","reason":"partner migration, SEC-42"}]}"#;
    let (g, outlets, _) = guard(config);
    g.ecr.put_repository(
        "svc",
        Some(r#"{"Statement":[{"Sid":"Partner","Effect":"Allow","Principal":{"AWS":"999988887777"},"Action":"ecr:BatchGetImage"}]}"#),
    );
    let out = g.handle(&set_policy("svc"), ACCEPTS).await.unwrap();
    assert_eq!(out.findings[0].disposition, "excepted");
    import_published(&outlets, 0).await;
    let f = outlets.findings().into_values().next().unwrap();
    assert_eq!((f.compliance.as_str(), f.record_state.as_str()), ("WARNING", "ACTIVE"));
    assert!(f.description.contains("approved exception"), "{}", f.description);
    assert!(outlets.messages().is_empty());
    assert_eq!(outlets.events().len(), 1);
}
