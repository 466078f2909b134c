//! template.yaml against the code: every function crate has a resource and every resource a
//! crate, built for arm64 with cargo-lambda; each role holds exactly the `ecr:` actions its
//! function's code calls; each rule matches exactly the events its function acts on; every
//! function has retries and dead letters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use guard_adapter::{
    engine::ecr_actions_for,
    event::{CLOUDTRAIL_EVENTS, REPLICATION_DETAIL_TYPE},
    outlets::{outlet_actions_for, outlet_switch},
    Accepts,
};
use scenarios::root;
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};

fn template() -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(root().join("template.yaml")).unwrap()).unwrap()
}

/// Function crate name to the event kinds its handler accepts
fn crates() -> BTreeMap<String, Accepts> {
    let known: BTreeMap<&str, Accepts> = [
        ("apply-baseline", apply_baseline::ACCEPTS),
        ("enforce-policy", enforce_policy::ACCEPTS),
        ("grant-replication", grant_replication::ACCEPTS),
        ("sweep", sweep::ACCEPTS),
    ]
    .into_iter()
    .collect();
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("functions")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let accepts = *known
            .get(name.as_str())
            .unwrap_or_else(|| panic!("functions/{name} is not known to this check: add it"));
        out.insert(name, accepts);
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        _ => vec![],
    }
}

/// Every statement of a function's inline policies, with the condition it is under
/// (`!If [Condition, statement, !Ref AWS::NoValue]`)
fn statements(f: &Value) -> Vec<(Option<String>, Value)> {
    let mut out = vec![];
    for policy in f["Properties"]["Policies"].as_sequence().unwrap() {
        for s in policy["Statement"].as_sequence().into_iter().flatten() {
            match s {
                Value::Tagged(t) if t.tag == "!If" => {
                    let parts = t.value.as_sequence().unwrap();
                    let Value::Tagged(none) = &parts[2] else {
                        panic!("{s:?}: the else branch must be !Ref AWS::NoValue")
                    };
                    assert_eq!(
                        (none.tag.to_string().as_str(), &none.value),
                        ("!Ref", &Value::from("AWS::NoValue"))
                    );
                    out.push((Some(parts[0].as_str().unwrap().to_owned()), parts[1].clone()));
                }
                _ => out.push((None, s.clone())),
            }
        }
    }
    out
}

/// The text of a `!Sub` or `!Ref` value, or a plain string
fn intrinsic(v: &Value) -> String {
    match v {
        Value::Tagged(t) => format!("{} {}", t.tag, t.value.as_str().unwrap_or_default()),
        other => other.as_str().unwrap_or_default().to_owned(),
    }
}

fn functions(t: &Value) -> BTreeMap<String, Value> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, r)| {
            (
                r["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{id:?} names no Binary"))
                    .to_owned(),
                r.clone(),
            )
        })
        .collect()
}

#[test]
fn every_crate_has_a_resource_and_every_resource_a_crate() {
    let t = template();
    let resources: BTreeSet<String> = functions(&t).keys().cloned().collect();
    let crates: BTreeSet<String> = crates().keys().cloned().collect();
    assert_eq!(resources, crates);
    for (name, f) in functions(&t) {
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
    }
    let g = &t["Globals"]["Function"];
    assert_eq!(t["Transform"], "AWS::Serverless-2016-10-31");
    assert_eq!(g["Runtime"], "provided.al2023");
    assert_eq!(g["Handler"], "bootstrap");
    assert_eq!(strings(&g["Architectures"]), ["arm64"]);
}

#[test]
fn each_role_holds_exactly_the_ecr_actions_its_code_calls() {
    let t = template();
    for (name, accepts) in crates() {
        let f = &functions(&t)[&name];
        let mut granted = BTreeSet::new();
        for (condition, statement) in statements(f) {
            assert_eq!(statement["Effect"], "Allow");
            let ecr: Vec<String> = strings(&statement["Action"])
                .into_iter()
                .filter(|a| a.starts_with("ecr:"))
                .collect();
            assert!(
                ecr.is_empty() || condition.is_none(),
                "{name}: ECR access is never conditional"
            );
            granted.extend(ecr);
        }
        let called: BTreeSet<String> = ecr_actions_for(accepts).into_iter().map(str::to_owned).collect();
        assert_eq!(granted, called, "{name}: role actions vs the calls its code makes");
    }
}

#[test]
fn each_rule_matches_exactly_the_events_its_function_handles() {
    let t = template();
    for (name, accepts) in crates() {
        let f = &functions(&t)[&name];
        let events = f["Properties"]["Events"].as_mapping().unwrap();
        let mut names: BTreeSet<(String, bool)> = BTreeSet::new();
        let mut native = false;
        let mut scheduled = false;
        for (id, e) in events {
            let p = &e["Properties"];
            if e["Type"] == "Schedule" {
                assert!(
                    p["RetryPolicy"]["MaximumRetryAttempts"].as_u64().is_some(),
                    "{name} {id:?}: retry policy"
                );
                assert!(!p["DeadLetterConfig"]["Arn"].is_null(), "{name} {id:?}: dead letters");
                scheduled = true;
                continue;
            }
            assert_eq!(e["Type"], "EventBridgeRule", "{name} {id:?}");
            assert!(
                p["RetryPolicy"]["MaximumRetryAttempts"].as_u64().is_some(),
                "{name} {id:?}: retry policy"
            );
            assert!(!p["DeadLetterConfig"]["Arn"].is_null(), "{name} {id:?}: dead letters");
            let pattern = &p["Pattern"];
            assert_eq!(strings(&pattern["source"]), ["aws.ecr"], "{name} {id:?}");
            let detail_type = strings(&pattern["detail-type"]);
            if detail_type == [REPLICATION_DETAIL_TYPE] {
                assert_eq!(strings(&pattern["detail"]["result"]), ["FAILED"]);
                native = true;
                continue;
            }
            assert_eq!(detail_type, ["AWS API Call via CloudTrail"], "{name} {id:?}");
            assert_eq!(strings(&pattern["detail"]["eventSource"]), ["ecr.amazonaws.com"]);
            let error = &pattern["detail"]["errorCode"][0]["exists"];
            let failed = error
                .as_bool()
                .unwrap_or_else(|| panic!("{name} {id:?}: errorCode must be matched"));
            for n in strings(&pattern["detail"]["eventName"]) {
                names.insert((n, failed));
            }
            if !failed {
                // Successful calls by the guard's own roles are filtered out by the rule too.
                let issuer = &pattern["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"];
                assert!(
                    !issuer[1]["anything-but"].is_null(),
                    "{name} {id:?}: own roles not excluded"
                );
            }
        }
        let want: BTreeSet<(String, bool)> = CLOUDTRAIL_EVENTS
            .iter()
            .filter(|(kind, _, _)| accepts.contains(kind))
            .map(|(_, n, failed)| ((*n).to_owned(), *failed))
            .collect();
        assert_eq!(names, want, "{name}: rule event names vs the function's event kinds");
        assert_eq!(
            native,
            accepts.contains(&"replication-failed"),
            "{name}: ECR Replication Action rule"
        );
        assert_eq!(scheduled, accepts.contains(&"sweep"), "{name}: schedule");
        let on_failure = &f["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
        assert_eq!(on_failure["Type"], "SQS", "{name}: on-failure destination");
    }
}

/// The template condition each outlet's permissions hang on, and the resource each action gets
fn outlet_grant(action: &str) -> (&'static str, &'static str) {
    match action {
        "events:PutEvents" => (
            "HasFindingEvents",
            "!Sub arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default",
        ),
        "securityhub:BatchImportFindings" => (
            "HasSecurityHub",
            "!Sub arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default",
        ),
        "securityhub:GetFindings" => (
            "HasSecurityHub",
            "!Sub arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:hub/default",
        ),
        "sns:Publish" => ("HasNotifyTopic", "!Ref NotifyTopicArn"),
        other => panic!("no expected grant for `{other}`"),
    }
}

#[test]
fn each_role_holds_exactly_the_outlet_actions_its_code_calls_behind_their_switches() {
    let t = template();
    for (name, accepts) in crates() {
        let f = &functions(&t)[&name];
        let mut granted = BTreeSet::new();
        for (condition, statement) in statements(f) {
            for action in strings(&statement["Action"]) {
                if outlet_switch(&action).is_none() {
                    continue;
                }
                let (want_condition, want_resource) = outlet_grant(&action);
                assert_eq!(condition.as_deref(), Some(want_condition), "{name} {action}: condition");
                assert_eq!(
                    intrinsic(&statement["Resource"]),
                    want_resource,
                    "{name} {action}: resource"
                );
                // One action a statement: each has its own resource and nothing rides along.
                assert_eq!(strings(&statement["Action"]).len(), 1, "{name} {action}");
                granted.insert(action);
            }
        }
        let called: BTreeSet<String> = outlet_actions_for(accepts).into_iter().map(str::to_owned).collect();
        assert_eq!(granted, called, "{name}: outlet actions vs the calls its code makes");
    }
    // The conditions are the switches the parameters set.
    fn show(v: &Value) -> String {
        match v {
            Value::Tagged(t) => format!("{} {}", t.tag, show(&t.value)),
            Value::Sequence(items) => format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(", ")),
            other => other
                .as_str()
                .map_or_else(|| format!("{other:?}"), |s| format!("{s:?}")),
        }
    }
    let c = &t["Conditions"];
    assert_eq!(
        show(&c["HasFindingEvents"]),
        r#"!Equals [!Ref "FindingEvents", "true"]"#
    );
    assert_eq!(show(&c["HasSecurityHub"]), r#"!Equals [!Ref "SecurityHub", "true"]"#);
    assert_eq!(
        show(&c["HasNotifyTopic"]),
        r#"!Not [!Equals [!Ref "NotifyTopicArn", ""]]"#
    );
}

/// GUARD_CONFIG as CloudFormation renders it with these parameter values (the `!Sub` template,
/// its variables' `!If`s taken by whether the parameter is empty)
fn rendered_config(t: &Value, values: &BTreeMap<&str, String>) -> String {
    let Value::Tagged(sub) = &t["Globals"]["Function"]["Environment"]["Variables"]["GUARD_CONFIG"] else {
        panic!("GUARD_CONFIG is a !Sub")
    };
    let parts = sub.value.as_sequence().unwrap();
    let mut text = parts[0].as_str().unwrap().to_owned();
    let value = |p: &str| {
        values
            .get(p)
            .cloned()
            .unwrap_or_else(|| match &t["Parameters"][p]["Default"] {
                Value::Number(n) => n.to_string(),
                d => d.as_str().unwrap().to_owned(),
            })
    };
    for (var, v) in parts[1].as_mapping().unwrap() {
        let Value::Tagged(cond) = v else { panic!("{var:?}") };
        let branches = cond.value.as_sequence().unwrap();
        // `HasX` is "parameter X is not empty"; the parameter is the one named in the `!Sub`.
        let Value::Tagged(then) = &branches[1] else {
            panic!("{var:?}")
        };
        let then = then.value.as_str().unwrap();
        let param = then.trim_matches('"').trim_start_matches("${").trim_end_matches('}');
        let rendered = if value(param).is_empty() {
            branches[2].as_str().unwrap().to_owned()
        } else {
            then.replace(&format!("${{{param}}}"), &value(param))
        };
        text = text.replace(&format!("${{{}}}", var.as_str().unwrap()), &rendered);
    }
    let params: Vec<String> = t["Parameters"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    for p in params {
        text = text.replace(&format!("${{{p}}}"), &value(&p));
    }
    text
}

#[test]
fn the_outlet_parameters_render_into_a_valid_config() {
    let t = template();
    let defaults = policy_core::GuardConfig::parse(&rendered_config(&t, &BTreeMap::new())).unwrap();
    assert!(defaults.finding_events && !defaults.security_hub && defaults.notify_topic_arn.is_none());
    let topic = "arn:aws:sns:eu-west-1:111122223333:security-chat";
    let all = BTreeMap::from([
        ("FindingEvents", "false".to_owned()),
        ("SecurityHub", "true".to_owned()),
        ("NotifyTopicArn", topic.to_owned()),
    ]);
    let on = policy_core::GuardConfig::parse(&rendered_config(&t, &all)).unwrap();
    assert!(!on.finding_events && on.security_hub);
    assert_eq!(on.notify_topic_arn.as_deref(), Some(topic));
    // The parameter's pattern takes what the config takes.
    let pattern = t["Parameters"]["NotifyTopicArn"]["AllowedPattern"].as_str().unwrap();
    assert_eq!(
        pattern,
        "^(arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256})?$"
    );
    assert!(policy_core::config::is_topic_arn(topic));
}
