//! template.yaml against the code: every function crate has a resource and every resource a
//! crate, built for arm64 with cargo-lambda; each role holds exactly the `ecr:` actions its
//! function's code calls; each rule matches exactly the events its function acts on (read from
//! the pattern, and tried on moto's EventBridge with every sample event); every function has
//! retries and dead letters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use guard_adapter::{
    engine::ecr_actions_for,
    event::{decode, Decoded, API_CALL, CLOUDTRAIL_EVENTS, ECR_SOURCE, NATIVE_EVENTS, SERVICE_EVENT},
    outlets::{outlet_actions_for, outlet_switch},
    Accepts,
};
use scenarios::{moto_json, root, ACCOUNT, REGION};
use serde_json::json;
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

/// What an EventBridge rule matches, in the decoder's terms
#[derive(Debug, Default, PartialEq, Eq)]
struct Matches {
    /// CloudTrail records: (detail-type, event name, failed)
    cloudtrail: BTreeSet<(String, String, bool)>,
    /// Native ECR events: (detail-type, detail field, value)
    native: BTreeSet<(String, String, String)>,
}

/// The roles the template gives its functions (`<FunctionId>Role`), as the rules name them
fn role_refs(t: &Value) -> BTreeSet<String> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, _)| format!("{}Role.Arn", id.as_str().unwrap()))
        .collect()
}

/// The `!GetAtt X.Arn` references in a list
fn get_atts(v: &Value) -> BTreeSet<String> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|item| match item {
            Value::Tagged(tagged) if tagged.tag == "GetAtt" => tagged.value.as_str().map(str::to_owned),
            _ => None,
        })
        .collect()
}

#[test]
fn each_rule_matches_exactly_the_events_its_function_handles() {
    let t = template();
    let native_types: BTreeSet<&str> = NATIVE_EVENTS.iter().map(|n| n.detail_type).collect();
    let dead_letter_sources = get_atts(
        &t["Resources"]["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Condition"]
            ["ArnEquals"]["aws:SourceArn"],
    );
    let mut rules_seen = BTreeSet::new();
    for (name, accepts) in crates() {
        let f = &functions(&t)[&name];
        let function_id = t["Resources"]
            .as_mapping()
            .unwrap()
            .iter()
            .find(|(_, r)| *r == f)
            .map(|(id, _)| id.as_str().unwrap().to_owned())
            .unwrap();
        let events = f["Properties"]["Events"].as_mapping().unwrap();
        let mut got = Matches::default();
        let mut scheduled = false;
        for (id, e) in events {
            let p = &e["Properties"];
            assert!(
                p["RetryPolicy"]["MaximumRetryAttempts"].as_u64().is_some(),
                "{name} {id:?}: retry policy"
            );
            assert!(!p["DeadLetterConfig"]["Arn"].is_null(), "{name} {id:?}: dead letters");
            if e["Type"] == "Schedule" {
                scheduled = true;
                continue;
            }
            assert_eq!(e["Type"], "EventBridgeRule", "{name} {id:?}");
            // SAM names the rule <FunctionId><EventId>: the queue must take its dead letters.
            let rule = format!("{function_id}{}.Arn", id.as_str().unwrap());
            assert!(
                dead_letter_sources.contains(&rule),
                "{rule} missing from DeadLetterQueuePolicy"
            );
            rules_seen.insert(rule);
            let pattern = &p["Pattern"];
            let keys: BTreeSet<&str> = pattern.as_mapping().unwrap().keys().filter_map(Value::as_str).collect();
            assert_eq!(
                keys,
                BTreeSet::from(["source", "detail-type", "detail"]),
                "{name} {id:?}: pattern keys"
            );
            assert_eq!(strings(&pattern["source"]), [ECR_SOURCE], "{name} {id:?}");
            let detail_types = strings(&pattern["detail-type"]);
            assert!(!detail_types.is_empty(), "{name} {id:?}: detail-type");
            let detail = pattern["detail"].as_mapping().unwrap();
            if detail_types.iter().all(|d| native_types.contains(d.as_str())) {
                // A native rule matches one detail field against values.
                assert_eq!(detail.len(), 1, "{name} {id:?}: one detail field");
                let (field, values) = detail.iter().next().unwrap();
                for d in &detail_types {
                    for v in strings(values) {
                        got.native.insert((d.clone(), field.as_str().unwrap().to_owned(), v));
                    }
                }
                continue;
            }
            for d in &detail_types {
                assert!(d == API_CALL || d == SERVICE_EVENT, "{name} {id:?}: detail-type {d}");
            }
            assert_eq!(strings(&pattern["detail"]["eventSource"]), ["ecr.amazonaws.com"]);
            let error = &pattern["detail"]["errorCode"][0]["exists"];
            let failed = error
                .as_bool()
                .unwrap_or_else(|| panic!("{name} {id:?}: errorCode must be matched"));
            for d in &detail_types {
                for n in strings(&pattern["detail"]["eventName"]) {
                    got.cloudtrail.insert((d.clone(), n, failed));
                }
            }
            if !failed {
                // Successful calls by the guard's own roles are filtered out by the rule too;
                // records without a session issuer (service events, service calls) still match.
                let issuer = &pattern["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"];
                assert_eq!(issuer[0]["exists"].as_bool(), Some(false), "{name} {id:?}: no issuer");
                assert_eq!(
                    get_atts(&issuer[1]["anything-but"]),
                    role_refs(&t),
                    "{name} {id:?}: every guard role excluded"
                );
            }
        }
        let want = Matches {
            cloudtrail: CLOUDTRAIL_EVENTS
                .iter()
                .filter(|e| accepts.contains(&e.kind))
                .map(|e| (e.detail_type.to_owned(), e.event_name.to_owned(), e.failed))
                .collect(),
            native: NATIVE_EVENTS
                .iter()
                .filter(|e| accepts.contains(&e.kind))
                .map(|e| (e.detail_type.to_owned(), e.field.to_owned(), e.value.to_owned()))
                .collect(),
        };
        assert_eq!(got, want, "{name}: what its rules match vs the events its code acts on");
        assert_eq!(scheduled, accepts.contains(&"sweep"), "{name}: schedule");
        let on_failure = &f["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
        assert_eq!(on_failure["Type"], "SQS", "{name}: on-failure destination");
    }
    let schedules: BTreeSet<String> = dead_letter_sources.difference(&rules_seen).cloned().collect();
    assert_eq!(schedules, BTreeSet::from(["SweepFunctionSchedule.Arn".to_owned()]));
}

/// A rule's pattern as EventBridge gets it: `!GetAtt <Function>Role.Arn` as that role's ARN,
/// `!Ref AWS::AccountId` as the account
fn deployed(v: &Value) -> serde_json::Value {
    match v {
        Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| (k.as_str().unwrap().to_owned(), deployed(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Value::Sequence(items) => items.iter().map(deployed).collect(),
        Value::String(s) => s.clone().into(),
        Value::Bool(b) => (*b).into(),
        Value::Tagged(t) if t.tag == "GetAtt" => {
            let role = t.value.as_str().unwrap().strip_suffix(".Arn").unwrap();
            format!("arn:aws:iam::{ACCOUNT}:role/{role}").into()
        }
        Value::Tagged(t) if t.tag == "Ref" && t.value == "AWS::AccountId" => ACCOUNT.into(),
        other => panic!("unexpected in a pattern: {other:?}"),
    }
}

/// The template's rules on a real event bus (moto's EventBridge, each function's rules
/// targeting a queue of its own): every sample event, and each one again as the guard's own
/// role's call, reaches exactly the functions whose code acts on it
#[test]
fn the_rules_route_each_sample_event_to_the_functions_that_act_on_it() {
    let t = template();
    let roles: Vec<String> = role_refs(&t)
        .iter()
        .map(|r| format!("arn:aws:iam::{ACCOUNT}:role/{}", r.strip_suffix(".Arn").unwrap()))
        .collect();
    let mut queues = BTreeMap::new();
    for (name, _) in crates() {
        let f = &functions(&t)[&name];
        let url = moto_json("sqs", "AmazonSQS.CreateQueue", &json!({"QueueName": name}))["QueueUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        for (id, e) in f["Properties"]["Events"].as_mapping().unwrap() {
            if e["Type"] != "EventBridgeRule" {
                continue;
            }
            let rule = format!("{name}-{}", id.as_str().unwrap());
            let pattern = deployed(&e["Properties"]["Pattern"]).to_string();
            moto_json(
                "events",
                "AWSEvents.PutRule",
                &json!({"Name": rule, "EventPattern": pattern}),
            );
            moto_json(
                "events",
                "AWSEvents.PutTargets",
                &json!({"Rule": rule, "Targets": [{"Id": "1", "Arn": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")}]}),
            );
        }
        queues.insert(name, url);
    }
    let mut samples: Vec<(String, serde_json::Value)> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let payload: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), payload)
        })
        .collect();
    samples.sort_by(|a, b| a.0.cmp(&b.0));
    let by_guard: Vec<(String, serde_json::Value)> = samples
        .iter()
        .filter(|(_, p)| p["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"].is_string())
        .map(|(name, p)| {
            let mut p = p.clone();
            p["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = json!(roles[0]);
            (format!("{name} by {}", roles[0]), p)
        })
        .collect();
    assert!(by_guard.len() >= 5);
    let mut reached_any = 0;
    for (name, payload) in samples.iter().chain(&by_guard) {
        let kind = match decode(payload, &roles, Some(ACCOUNT)).unwrap() {
            Decoded::Event { event, .. } => Some(event.kind()),
            Decoded::Skip(_) => None,
        };
        let entry = json!({"Source": payload["source"], "DetailType": payload["detail-type"],
            "Detail": payload["detail"].to_string(), "Resources": payload["resources"]});
        let put = moto_json("events", "AWSEvents.PutEvents", &json!({"Entries": [entry]}));
        assert_eq!(put["FailedEntryCount"], 0, "{name}: {put}");
        for (function, accepts) in crates() {
            let url = &queues[&function];
            let received = moto_json(
                "sqs",
                "AmazonSQS.ReceiveMessage",
                &json!({"QueueUrl": url, "MaxNumberOfMessages": 10}),
            );
            let messages = received["Messages"].as_array().cloned().unwrap_or_default();
            for m in &messages {
                moto_json(
                    "sqs",
                    "AmazonSQS.DeleteMessage",
                    &json!({"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"]}),
                );
            }
            let acts = kind.is_some_and(|k| accepts.contains(&k));
            assert_eq!(
                !messages.is_empty(),
                acts,
                "{name} ({kind:?}): reaches {function} iff its code acts on it"
            );
            reached_any += usize::from(acts);
        }
    }
    assert!(reached_any >= 12, "{reached_any}");
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
