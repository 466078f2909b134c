//! Runs the JSON case corpus in tests/cases (format in tests/cases/README.md): one test per file,
//! every failing case reported with its name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use policy_core::{
    actions, analyze,
    condition::{evaluate_block, ContextValue},
    equivalent, evaluate, Context, Decision, Policy, Request, RequestPrincipal,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    source: Option<String>,
    kind: String,
    policy: Option<Value>,
    text: Option<String>,
    error_contains: Option<Vec<String>>,
    a: Option<Value>,
    b: Option<Value>,
    pattern: Option<String>,
    action: Option<String>,
    condition: Option<Value>,
    context: Option<BTreeMap<String, Value>>,
    version: Option<String>,
    request: Option<RequestCase>,
    unknown_operators: Option<Vec<String>>,
    unknown_actions: Option<Vec<String>>,
    registry: Option<bool>,
    /// Fields merged over the fixed guard config (`guard` cases)
    config: Option<Value>,
    /// Findings that keep the grant (`guard` cases): `service-unpinned` kept by config
    kept: Option<Vec<RemovalExpectation>>,
    /// The repository names the policy applies to (`guard` cases; exceptions need it)
    scope: Option<String>,
    /// The date of judgement, `YYYY-MM-DD` (`guard` cases; exceptions need it)
    now: Option<String>,
    /// What `${aws:ResourceAccount}` resolves to (`access` cases)
    resource_account: Option<String>,
    /// What `${aws:ResourceOrgID}` resolves to (`access` cases)
    org_id: Option<String>,
    expected: Option<Value>,
}

/// The fixed config every `guard` case is judged with (tests/cases/README.md)
const GUARD_CONFIG: &str = r#"{"mode":"enforce","org_id":"o-a1b2c3d4e5","org_access":"pull",
    "trusted_accounts":{"111122223333":"pull","444455556666":"push"},
    "trusted_services":["lambda.amazonaws.com","codebuild.amazonaws.com"],
    "replication_sources":["777788889999"]}"#;
const GUARD_ACCOUNT: &str = "123456789012";

#[derive(Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
struct RemovalExpectation {
    rule: String,
    statement: usize,
    #[serde(default)]
    principal: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestCase {
    principal: BTreeMap<String, String>,
    action: String,
    resource: Option<String>,
    #[serde(default)]
    context: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessExpectation {
    statement: usize,
    reach: Vec<String>,
    class: String,
}

fn context(map: &BTreeMap<String, Value>) -> Context {
    let mut ctx = Context::new();
    for (k, v) in map {
        let v = match v {
            Value::String(s) => ContextValue::Single(s.clone()),
            Value::Array(items) => ContextValue::Multi(
                items
                    .iter()
                    .map(|i| i.as_str().expect("context arrays hold strings").to_owned())
                    .collect(),
            ),
            other => ContextValue::Single(other.to_string()),
        };
        ctx.insert(k, v);
    }
    ctx
}

fn principal(p: &BTreeMap<String, String>) -> RequestPrincipal {
    let get = |k: &str| p.get(k).cloned().unwrap_or_else(|| panic!("principal needs `{k}`"));
    match p.get("type").map(String::as_str) {
        Some("anonymous") => RequestPrincipal::Anonymous,
        Some("account") => RequestPrincipal::Account(get("id")),
        Some("arn") => RequestPrincipal::Arn {
            arn: get("arn"),
            unique_id: p.get("unique_id").cloned(),
        },
        Some("service") => RequestPrincipal::Service(get("name")),
        Some("federated") => RequestPrincipal::Federated(get("id")),
        other => panic!("unknown principal type {other:?}"),
    }
}

fn parse(v: &Value) -> Policy {
    Policy::parse(&v.to_string()).unwrap_or_else(|e| panic!("policy does not parse: {e}"))
}

/// Runs one case; `Err` describes the mismatch
fn run(case: &Case) -> Result<(), String> {
    let expected = || case.expected.clone().expect("case needs `expected`");
    match case.kind.as_str() {
        "parse_ok" => {
            let v = case.policy.as_ref().expect("`policy`");
            let p = Policy::parse(&v.to_string()).map_err(|e| format!("parse failed: {e}"))?;
            let back = p.to_value();
            if &back != v {
                return Err(format!("round trip differs:\n  in:  {v}\n  out: {back}"));
            }
            // And from pretty-printed text too.
            let pretty = serde_json::to_string_pretty(v).unwrap();
            let p2 = Policy::parse(&pretty).map_err(|e| format!("pretty parse failed: {e}"))?;
            if p2 != p {
                return Err("pretty-printed text parses differently".into());
            }
            Ok(())
        }
        "parse_error" => {
            let text = match (&case.text, &case.policy) {
                (Some(t), _) => t.clone(),
                (None, Some(v)) => v.to_string(),
                _ => panic!("`text` or `policy`"),
            };
            match Policy::parse(&text) {
                Ok(_) => Err("parsed, expected an error".into()),
                Err(e) => {
                    let msg = e.to_string();
                    for frag in case.error_contains.iter().flatten() {
                        if !msg.contains(frag.as_str()) {
                            return Err(format!("error `{msg}` lacks `{frag}`"));
                        }
                    }
                    Ok(())
                }
            }
        }
        "findings" => {
            let p = parse(case.policy.as_ref().expect("`policy`"));
            let ops: BTreeSet<&str> = p.unknown_operators().into_iter().collect();
            let want_ops: BTreeSet<&str> = case.unknown_operators.iter().flatten().map(String::as_str).collect();
            let acts: BTreeSet<&str> = p.unknown_actions().into_iter().collect();
            let want_acts: BTreeSet<&str> = case.unknown_actions.iter().flatten().map(String::as_str).collect();
            if ops != want_ops || acts != want_acts {
                return Err(format!(
                    "operators {ops:?} (want {want_ops:?}), actions {acts:?} (want {want_acts:?})"
                ));
            }
            Ok(())
        }
        "equivalent" => {
            let (a, b) = (
                parse(case.a.as_ref().expect("`a`")),
                parse(case.b.as_ref().expect("`b`")),
            );
            let got = equivalent(&a, &b);
            if got != expected().as_bool().expect("bool") {
                return Err(format!(
                    "equivalent = {got}\n  a: {:?}\n  b: {:?}",
                    policy_core::normalize(&a),
                    policy_core::normalize(&b)
                ));
            }
            if equivalent(&b, &a) != got {
                return Err("equivalence is not symmetric".into());
            }
            Ok(())
        }
        "action_match" => {
            let got = actions::action_matches(
                case.pattern.as_ref().expect("`pattern`"),
                case.action.as_ref().expect("`action`"),
            );
            (got == expected().as_bool().expect("bool"))
                .then_some(())
                .ok_or(format!("matched = {got}"))
        }
        "action_expand" => {
            let got: BTreeSet<String> = actions::expand(case.pattern.as_ref().expect("`pattern`"))
                .iter()
                .map(|a| a.name.to_owned())
                .collect();
            let want: BTreeSet<String> = serde_json::from_value(expected()).expect("a list of names");
            (got == want)
                .then_some(())
                .ok_or(format!("expanded to {got:?}, want {want:?}"))
        }
        "condition" => {
            let version = case.version.as_deref().unwrap_or("2012-10-17");
            let policy = serde_json::json!({"Version": version, "Statement": {"Effect": "Allow", "Principal": "*",
                "Action": "*", "Condition": case.condition.clone().expect("`condition`")}});
            let p = parse(&policy);
            let ctx = context(case.context.as_ref().unwrap_or(&BTreeMap::new()));
            let got = evaluate_block(
                p.statements[0].condition.as_deref().unwrap(),
                &ctx,
                p.variables_enabled(),
            )
            .map_err(|op| format!("unknown operator `{op}`"))?;
            (got == expected().as_bool().expect("bool"))
                .then_some(())
                .ok_or(format!("condition = {got}"))
        }
        "evaluate" => {
            let p = parse(case.policy.as_ref().expect("`policy`"));
            let r = case.request.as_ref().expect("`request`");
            let request = Request {
                principal: principal(&r.principal),
                action: r.action.clone(),
                resource: r.resource.clone(),
                context: context(&r.context),
            };
            let got = evaluate(&p, &request).map_err(|e| e.to_string())?;
            let want = match expected().as_str().expect("a decision") {
                "Allow" => Decision::Allow,
                "ExplicitDeny" => Decision::ExplicitDeny,
                "ImplicitDeny" => Decision::ImplicitDeny,
                other => panic!("unknown decision `{other}`"),
            };
            (got == want)
                .then_some(())
                .ok_or(format!("decision {got:?}, want {want:?}"))
        }
        "access" => {
            let p = parse(case.policy.as_ref().expect("`policy`"));
            let want: Vec<AccessExpectation> = serde_json::from_value(expected()).expect("access expectations");
            let resolver = policy_core::Resolver {
                variables: p.variables_enabled(),
                account: case.resource_account.as_deref(),
                org: case.org_id.as_deref(),
            };
            let got = if case.resource_account.is_some() || case.org_id.is_some() {
                policy_core::analyze_with(&p, &resolver)
            } else {
                analyze(&p)
            };
            let got: Vec<(usize, BTreeSet<String>, String)> = got
                .iter()
                .map(|a| {
                    let class = a.class().map(|c| c.as_str()).unwrap_or("none").to_owned();
                    (a.index, a.reach.iter().map(ToString::to_string).collect(), class)
                })
                .collect();
            let want: Vec<(usize, BTreeSet<String>, String)> = want
                .into_iter()
                .map(|w| (w.statement, w.reach.into_iter().collect(), w.class))
                .collect();
            (got == want)
                .then_some(())
                .ok_or(format!("analysis\n  got:  {got:?}\n  want: {want:?}"))
        }
        "guard" => {
            let v = case.policy.as_ref().expect("`policy`");
            let p = parse(v);
            let mut config: Value = serde_json::from_str(GUARD_CONFIG).unwrap();
            for (k, x) in case
                .config
                .iter()
                .flat_map(|c| c.as_object().expect("`config` is an object"))
            {
                config[k] = x.clone();
            }
            let config = policy_core::GuardConfig::parse(&config.to_string()).map_err(|e| e.to_string())?;
            let mut ctx = policy_core::GuardContext::new(&config, GUARD_ACCOUNT, "us-east-1", "aws");
            if let Some(scope) = &case.scope {
                ctx = ctx.for_scope(scope);
            }
            if let Some(now) = &case.now {
                ctx = ctx.at(policy_core::condition::parse_date(now).expect("`now` is a date"));
            }
            let review = if case.registry.unwrap_or(false) {
                policy_core::guard::review_registry_policy(&p, &ctx)
            } else {
                policy_core::guard::review_repository_policy(&p, &ctx)
            };
            let expectations = |changes: bool| {
                let mut got: Vec<RemovalExpectation> = review
                    .findings
                    .iter()
                    .filter(|f| f.disposition.changes() == changes)
                    .map(|r| RemovalExpectation {
                        rule: r.rule.as_str().to_owned(),
                        statement: r.index,
                        principal: r.principal.clone(),
                    })
                    .collect();
                got.sort();
                got
            };
            let mut want: Vec<RemovalExpectation> = serde_json::from_value(expected()).expect("removal expectations");
            want.sort();
            let got = expectations(true);
            if got != want {
                return Err(format!("removals\n  got:  {got:?}\n  want: {want:?}"));
            }
            let mut want_kept = case.kept.clone().unwrap_or_default();
            want_kept.sort();
            let got_kept = expectations(false);
            if got_kept != want_kept {
                return Err(format!("kept findings\n  got:  {got_kept:?}\n  want: {want_kept:?}"));
            }
            // Nothing removed: the policy is kept exactly as written.
            if want.is_empty() && &review.policy.to_value() != v {
                return Err("kept policy differs from the input".into());
            }
            Ok(())
        }
        other => Err(format!("unknown kind `{other}`")),
    }
}

fn run_file(name: &str) -> usize {
    let path = format!("{}/tests/cases/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let cases: Vec<Case> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut names = BTreeSet::new();
    let mut failures = Vec::new();
    for case in &cases {
        assert!(
            names.insert(case.name.clone()),
            "{name}: duplicate case name `{}`",
            case.name
        );
        if let Err(why) = run(case) {
            failures.push(format!("{name} / {}: {why}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    cases.len()
}

#[test]
fn parse_cases() {
    run_file("parse.json");
}

#[test]
fn normalise_cases() {
    run_file("normalise.json");
}

#[test]
fn action_cases() {
    run_file("actions.json");
}

#[test]
fn condition_cases() {
    run_file("conditions.json");
}

#[test]
fn evaluate_cases() {
    run_file("evaluate.json");
}

#[test]
fn access_cases() {
    run_file("access.json");
}

#[test]
fn bypass_cases() {
    run_file("bypass.json");
}

#[test]
fn precision_cases() {
    run_file("precision.json");
}

#[test]
fn corpus_is_large_enough() {
    let dir = format!("{}/tests/cases", env!("CARGO_MANIFEST_DIR"));
    let total: usize = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| {
            let v: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
            v.len()
        })
        .sum();
    assert!(total >= 150, "only {total} cases");
}
