//! template.yaml and member.yaml against the code: every function crate has a resource and every
//! resource a crate, built for arm64 with cargo-lambda; each role holds exactly the `ecr:` actions
//! its function's code calls; each rule matches exactly the events its function acts on; every
//! function has retries and dead letters; every parameter is validated and reaches the code as
//! a variable the settings read; the member stack forwards exactly what the central functions
//! act on and its role holds exactly what they call; each rule is also tried on moto's EventBridge
//! with every sample event; the organisation sweep's state machine fans
//! out one sweep per account and Region with the payload the sweep takes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use guard_adapter::{
    engine::ecr_actions_for,
    event::{decode, Decoded, API_CALL, CLOUDTRAIL_EVENTS, ECR_SOURCE, NATIVE_EVENTS, SERVICE_EVENT},
    org::{Fanout, SweepPlan},
    outlets::{outlet_actions_for, outlet_switch, EVENT_DETAIL_TYPE, EVENT_SOURCE},
    Accepts,
};
use scenarios::{moto_json, root, ACCOUNT, REGION};
use serde_json::json;
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};

fn load(name: &str) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(root().join(name)).unwrap()).unwrap()
}

fn template() -> Value {
    load("template.yaml")
}

fn member() -> Value {
    load("member.yaml")
}

/// A YAML tag's name and value (`!Sub x` is `("!Sub", x)`)
fn tagged(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((t.tag.to_string(), &t.value)),
        _ => None,
    }
}

/// The policy documents of a function's `Policies` entry: inline, both branches of an `!If`, and
/// a managed policy of the template named by `!Ref`
fn documents<'a>(t: &'a Value, entry: &'a Value) -> Vec<&'a Value> {
    match tagged(entry) {
        Some((tag, args)) if tag == "!If" => {
            let branches = args.as_sequence().unwrap();
            branches[1..].iter().flat_map(|b| documents(t, b)).collect()
        }
        Some((tag, name)) if tag == "!Ref" => match name.as_str().unwrap() {
            "AWS::NoValue" => vec![],
            resource => vec![&t["Resources"][resource]["Properties"]["PolicyDocument"]],
        },
        _ => vec![entry],
    }
}

/// Function crate name to the event kinds its handler accepts
fn crates() -> BTreeMap<String, Accepts> {
    let known: BTreeMap<&str, Accepts> = [
        ("apply-baseline", apply_baseline::ACCEPTS),
        ("enforce-policy", enforce_policy::ACCEPTS),
        ("grant-replication", grant_replication::ACCEPTS),
        ("sweep", sweep::ACCEPTS),
        ("import-findings", import_findings::ACCEPTS),
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
fn statements(t: &Value, f: &Value) -> Vec<(Option<String>, Value)> {
    let mut out = vec![];
    let entries = f["Properties"]["Policies"].as_sequence().unwrap();
    for policy in entries.iter().flat_map(|e| documents(t, e)) {
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
        for (condition, statement) in statements(&t, f) {
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
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function" && writes_ecr(r))
        .map(|(id, _)| format!("{}Role.Arn", id.as_str().unwrap()))
        .collect()
}

/// True for a function whose code calls ECR (every one but import-findings)
fn writes_ecr(f: &Value) -> bool {
    let binary = f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
    !ecr_actions_for(crates()[binary]).is_empty()
}

/// The `!GetAtt X.Arn` references in a list
fn get_atts(v: &Value) -> BTreeSet<String> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|item| match item {
            Value::Tagged(tagged) if tagged.tag == "GetAtt" => {
                tagged.value.as_str().map(str::to_owned).into_iter().collect()
            }
            // `!If [Condition, !GetAtt X.Arn, !Ref AWS::NoValue]`
            Value::Tagged(tagged) if tagged.tag == "If" => {
                get_atts(&Value::Sequence(tagged.value.as_sequence().unwrap()[1..].to_vec()))
            }
            _ => BTreeSet::new(),
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
            if !writes_ecr(f) {
                // import-findings: the handlers' findings, on the bus they put them on.
                assert_eq!(accepts, import_findings::ACCEPTS);
                assert_eq!(
                    deployed(pattern),
                    json!({"source": [EVENT_SOURCE], "detail-type": [EVENT_DETAIL_TYPE], "detail": {"trigger": ["event"]}}),
                    "{name} {id:?}"
                );
                assert!(p["EventBusName"].is_null(), "{name}: the default bus");
                continue;
            }
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
    assert_eq!(
        schedules,
        BTreeSet::from([
            "OrgSweepSchedule.Arn".to_owned(),
            "SweepFunctionSchedule.Arn".to_owned()
        ])
    );
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
    // A sweep's finding: the sweep imports those itself.
    let by_sweep: Vec<(String, serde_json::Value)> = samples
        .iter()
        .filter(|(_, p)| p["source"] == EVENT_SOURCE)
        .map(|(name, p)| {
            let mut p = p.clone();
            p["detail"]["trigger"] = json!("sweep");
            (format!("{name} from the sweep"), p)
        })
        .collect();
    assert_eq!(by_sweep.len(), 1);
    let mut reached_any = 0;
    for (name, payload) in samples.iter().chain(&by_guard).chain(&by_sweep) {
        let kind = if payload["source"] == EVENT_SOURCE {
            (payload["detail"]["trigger"] == "event").then_some("finding")
        } else {
            match decode(payload, &roles, Some(ACCOUNT)).unwrap() {
                Decoded::Event { event, .. } => Some(event.kind()),
                Decoded::Skip(_) => None,
            }
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
fn outlet_grant(function: &str, action: &str) -> (&'static str, &'static str) {
    match action {
        // Security Hub on also puts the handlers' findings on the bus, for import-findings; the
        // sweep imports its own.
        "events:PutEvents" => (
            if function == "sweep" {
                "HasFindingEvents"
            } else {
                "PublishesFindingEvents"
            },
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
        for (condition, statement) in statements(&t, f) {
            // A statement's own condition, or else the whole function's (import-findings).
            let condition = condition.or_else(|| f["Condition"].as_str().map(str::to_owned));
            for action in strings(&statement["Action"]) {
                if outlet_switch(&action).is_none() {
                    continue;
                }
                let (want_condition, want_resource) = outlet_grant(&name, &action);
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
        show(&c["PublishesFindingEvents"]),
        r#"!Or [!Condition "HasFindingEvents", !Condition "HasSecurityHub"]"#
    );
    assert_eq!(
        show(&c["HasNotifyTopic"]),
        r#"!Not [!Equals [!Ref "NotifyTopicArn", ""]]"#
    );
}

/// The config the template's outlet field variables give with these parameter values (a
/// parameter not given takes its default): each variable is `!If [UseFieldVariables, !Ref
/// PARAMETER, !Ref AWS::NoValue]`, read by the settings like every field variable
fn outlet_config(t: &Value, values: &BTreeMap<&str, String>) -> policy_core::GuardConfig {
    let vars = &t["Globals"]["Function"]["Environment"]["Variables"];
    let mut env = BTreeMap::new();
    for var in ["GUARD_FINDING_EVENTS", "GUARD_SECURITY_HUB", "GUARD_NOTIFY_TOPIC_ARN"] {
        let Value::Tagged(cond) = &vars[var] else {
            panic!("{var} is an !If")
        };
        let branches = cond.value.as_sequence().unwrap();
        assert_eq!(branches[0], "UseFieldVariables", "{var}");
        let Value::Tagged(reference) = &branches[1] else {
            panic!("{var}: !Ref a parameter")
        };
        let param = reference.value.as_str().unwrap();
        let value = values
            .get(param)
            .cloned()
            .unwrap_or_else(|| t["Parameters"][param]["Default"].as_str().unwrap().to_owned());
        env.insert(var.to_owned(), value);
    }
    guard_adapter::Settings::from_vars(|k| env.get(k).cloned())
        .unwrap()
        .config
}

#[test]
fn the_outlet_parameters_render_into_a_valid_config() {
    let t = template();
    let defaults = outlet_config(&t, &BTreeMap::new());
    assert!(defaults.finding_events && !defaults.security_hub && defaults.notify_topic_arn.is_none());
    let topic = "arn:aws:sns:eu-west-1:111122223333:security-chat";
    let all = BTreeMap::from([
        ("FindingEvents", "false".to_owned()),
        ("SecurityHub", "true".to_owned()),
        ("NotifyTopicArn", topic.to_owned()),
    ]);
    let on = outlet_config(&t, &all);
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

/// Resources of one type, by logical id
fn resources<'a>(t: &'a Value, kind: &str) -> BTreeMap<String, &'a Value> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(id, r)| (id.as_str().unwrap().to_owned(), r))
        .collect()
}

/// A rule's pattern with the own-role exclusion taken out (the central rules exclude the central
/// roles, the member rules the member role), and that exclusion
fn without_own_roles(pattern: &Value) -> (Value, Option<Value>) {
    let mut p = pattern.clone();
    let issuer = &mut p["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"];
    let own = issuer
        .as_sequence_mut()
        .and_then(|s| s.get_mut(1))
        .map(|x| std::mem::replace(&mut x["anything-but"], Value::Null));
    (p, own)
}

#[test]
fn every_parameter_is_validated_and_reaches_the_code_as_its_own_variable() {
    for (name, t) in [("template.yaml", template()), ("member.yaml", member())] {
        for (id, p) in t["Parameters"].as_mapping().unwrap() {
            let validated = !p["AllowedPattern"].is_null()
                || !p["AllowedValues"].is_null()
                || (p["Type"] == "Number" && !p["MinValue"].is_null());
            assert!(validated, "{name} {id:?}: neither AllowedPattern nor AllowedValues");
        }
    }
    // No config document is glued together from parameter text: each value is its own variable,
    // and each variable is one the settings read.
    let t = template();
    let vars = t["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap();
    assert!(vars.get("GUARD_CONFIG").is_none(), "GUARD_CONFIG is for local use");
    let fields: BTreeSet<&str> = guard_adapter::settings::field_variables().collect();
    let known = [
        "RUST_LOG",
        "GUARD_ACCOUNT_ID",
        "GUARD_ROLE_ARN",
        "GUARD_CONFIG_PARAMETER",
    ];
    let mut set = BTreeSet::new();
    for (k, v) in vars {
        let k = k.as_str().unwrap();
        assert!(fields.contains(k) || known.contains(&k), "{k} is read by no code");
        if fields.contains(k) {
            // Only without the config parameter: beside a document, a field variable is refused.
            let (tag, args) = tagged(v).unwrap_or_else(|| panic!("{k}: not conditional"));
            assert_eq!(tag, "!If", "{k}");
            assert!(
                args[0] == "UseFieldVariables" || args[0] == "CentralFieldVariables",
                "{k}"
            );
            set.insert(k);
        }
    }
    assert_eq!(
        set, fields,
        "every field variable the settings read is set from a parameter"
    );
}

#[test]
fn member_rules_forward_exactly_what_each_central_rule_matches() {
    let t = template();
    let m = member();
    let member_rules = resources(&m, "AWS::Events::Rule");
    let bus = "arn:${AWS::Partition}:events:${AWS::Region}:${CentralAccountId}:event-bus/${CentralEventBusName}";
    let mut mirrored = BTreeSet::new();
    for (function_id, f) in resources(&t, "AWS::Serverless::Function") {
        for (event_id, e) in f["Properties"]["Events"].as_mapping().unwrap() {
            // import-findings reads the central account's own findings, not a member's events.
            if e["Type"] != "EventBridgeRule" || !writes_ecr(f) {
                continue;
            }
            // SAM names a function's rule FunctionId + EventId; the member rule takes that name.
            let id = format!("{function_id}{}", event_id.as_str().unwrap());
            let rule = member_rules
                .get(&id)
                .unwrap_or_else(|| panic!("member.yaml has no rule {id}"));
            let (central, central_own) = without_own_roles(&e["Properties"]["Pattern"]);
            let (forwarded, member_own) = without_own_roles(&rule["Properties"]["EventPattern"]);
            assert_eq!(forwarded, central, "{id}: the member rule's pattern");
            assert_eq!(central_own.is_some(), member_own.is_some(), "{id}");
            if let Some(own) = member_own {
                let (tag, arn) = tagged(&own[0]).unwrap();
                assert_eq!(
                    (tag.as_str(), arn.as_str().unwrap()),
                    (
                        "!Sub",
                        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${MemberRoleName}"
                    ),
                    "{id}: the member role's own writes are left out"
                );
                assert_eq!(own.as_sequence().unwrap().len(), 1);
            }
            // On the central bus in central mode.
            let (tag, args) = tagged(&e["Properties"]["EventBusName"]).unwrap();
            assert_eq!((tag.as_str(), &args[0]), ("!If", &Value::from("IsCentral")), "{id}");
            let targets = rule["Properties"]["Targets"].as_sequence().unwrap();
            assert_eq!(targets.len(), 1, "{id}");
            assert_eq!(tagged(&targets[0]["Arn"]).unwrap().1.as_str(), Some(bus), "{id}");
            assert_eq!(
                tagged(&targets[0]["RoleArn"]).unwrap().1.as_str(),
                Some("ForwardRole.Arn"),
                "{id}"
            );
            mirrored.insert(id);
        }
    }
    let all: BTreeSet<String> = member_rules.keys().cloned().collect();
    assert_eq!(
        all, mirrored,
        "member.yaml forwards nothing no central function acts on"
    );
    // The bus those targets name is the central stack's, named after it.
    let central_bus = &t["Resources"]["CentralEventBus"];
    assert_eq!(
        tagged(&central_bus["Properties"]["Name"]).unwrap().1.as_str(),
        Some("AWS::StackName")
    );
    let policy = &t["Resources"]["CentralEventBusPolicy"]["Properties"]["Statement"];
    assert_eq!(policy["Action"], "events:PutEvents");
    assert!(
        !policy["Condition"]["StringEquals"]["aws:PrincipalOrgID"].is_null(),
        "organisation only"
    );
}

#[test]
fn the_member_role_holds_exactly_what_the_central_functions_call_and_trusts_only_them() {
    let t = template();
    let m = member();
    let role = &m["Resources"]["MemberRole"]["Properties"];
    let mut granted = BTreeSet::new();
    for p in role["Policies"].as_sequence().unwrap() {
        for st in p["PolicyDocument"]["Statement"].as_sequence().unwrap() {
            assert_eq!(st["Effect"], "Allow");
            granted.extend(strings(&st["Action"]));
        }
    }
    let called: BTreeSet<String> = crates()
        .values()
        .flat_map(|accepts| ecr_actions_for(accepts))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        granted, called,
        "the member role's actions vs every central function's calls"
    );
    let trust = role["AssumeRolePolicyDocument"]["Statement"].as_sequence().unwrap();
    assert_eq!(trust.len(), 1);
    assert_eq!(trust[0]["Action"], "sts:AssumeRole");
    let principal = tagged(&trust[0]["Principal"]["AWS"])
        .unwrap()
        .1
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(principal, "arn:${AWS::Partition}:iam::${CentralAccountId}:root");
    let arn = tagged(&trust[0]["Condition"]["ArnLike"]["aws:PrincipalArn"])
        .unwrap()
        .1
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        arn,
        "arn:${AWS::Partition}:iam::${CentralAccountId}:role${CentralRolePath}*"
    );
    assert_eq!(
        trust[0]["Condition"]["StringLike"]["sts:RoleSessionName"],
        "ecr-policy-guard*"
    );
    assert!(guard_adapter::access::session_name(Some("x")).starts_with("ecr-policy-guard"));
    // The central functions' roles are where that trust looks, and may assume only this role.
    assert_eq!(
        m["Parameters"]["CentralRolePath"]["Default"],
        t["Globals"]["Function"]["RolePath"]
    );
    let assume = &t["Resources"]["MemberRolesPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(assume["Action"], "sts:AssumeRole");
    assert_eq!(
        tagged(&assume["Resource"]).unwrap().1.as_str(),
        Some("arn:${AWS::Partition}:iam::*:role/${MemberRoleName}")
    );
    // The member role's name in the central config pattern is the member stack's.
    let central_pattern = &t["Globals"]["Function"]["Environment"]["Variables"]["GUARD_MEMBER_ROLE"];
    let sub = tagged(&tagged(central_pattern).unwrap().1[1])
        .unwrap()
        .1
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(sub, "arn:${AWS::Partition}:iam::${!AccountId}:role/${MemberRoleName}");
    assert_eq!(m["Parameters"]["MemberRoleName"]["Default"], "ecr-policy-guard-member");
}

/// The keys of an ItemSelector or Parameters block, without the `.$` of paths
fn keys_of_json(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().trim_end_matches(".$").to_owned())
        .collect()
}

#[test]
fn the_org_sweep_fans_out_one_sweep_per_account_and_region_with_the_sweeps_payload() {
    let t = template();
    let sm = &t["Resources"]["OrgSweepStateMachine"];
    assert_eq!(sm["Condition"], "IsCentral");
    let subs = &sm["Properties"]["DefinitionSubstitutions"];
    assert_eq!(
        tagged(&subs["SweepFunctionArn"]).unwrap().1.as_str(),
        Some("SweepFunction.Arn")
    );
    let d = &sm["Properties"]["Definition"];
    let plan_fields: BTreeSet<String> = serde_json::to_value(SweepPlan {
        accounts: vec![],
        regions: vec![],
        source: "config",
        excluded: vec![],
        fanout: Fanout::default(),
    })
    .unwrap()
    .as_object()
    .unwrap()
    .keys()
    .cloned()
    .collect();
    let payload_fields: BTreeSet<String> = sweep::PAYLOAD_FIELDS.iter().map(|f| (*f).to_owned()).collect();

    // Plan: the sweep function with `{"plan": true}`; what is kept are fields of the plan.
    let plan = &d["States"][d["StartAt"].as_str().unwrap()];
    assert_eq!(
        (plan["Type"].as_str(), plan["Resource"].as_str()),
        (Some("Task"), Some("${LambdaInvoke}"))
    );
    assert_eq!(plan["Parameters"]["FunctionName"], "${SweepFunctionArn}");
    assert_eq!(plan["Parameters"]["Payload"]["plan"], true);
    assert!(payload_fields.contains("plan"));
    for (k, path) in plan["ResultSelector"].as_mapping().unwrap() {
        let field = path.as_str().unwrap().trim_start_matches("$.Payload.");
        assert!(plan_fields.contains(field), "{k:?}: `{field}` is no field of the plan");
    }
    let kept = keys(&plan["ResultSelector"]);

    // Accounts: a distributed Map over the plan's accounts, concurrency from the plan, results
    // written per account, one account's failure never failing the run.
    let accounts = &d["States"][plan["Next"].as_str().unwrap()];
    assert_eq!(accounts["Type"], "Map");
    assert_eq!(accounts["ItemsPath"], "$.accounts");
    assert_eq!(accounts["MaxConcurrencyPath"], "$.accounts_at_once");
    assert_eq!(accounts["ToleratedFailurePercentage"], 100);
    assert_eq!(accounts["ItemProcessor"]["ProcessorConfig"]["Mode"], "DISTRIBUTED");
    assert_eq!(accounts["ResultWriter"]["Parameters"]["Bucket"], "${ResultsBucket}");
    for field in ["accounts", "accounts_at_once"] {
        assert!(kept.contains(field), "{field}");
    }
    let per_account = keys(&accounts["ItemSelector"]);
    for k in &per_account {
        assert!(k == "account" || kept.contains(k), "{k}: not passed on by the plan");
    }

    // Regions: an inline Map within each account, at most `regions_at_once` at once.
    let inner = &accounts["ItemProcessor"];
    let regions = &inner["States"][inner["StartAt"].as_str().unwrap()];
    assert_eq!(regions["Type"], "Map");
    assert_eq!(regions["ItemsPath"], "$.regions");
    assert_eq!(regions["MaxConcurrencyPath"], "$.regions_at_once");
    assert_eq!(regions["ItemProcessor"]["ProcessorConfig"]["Mode"], "INLINE");
    assert!(per_account.contains("regions") && per_account.contains("regions_at_once"));

    // Each item: one sweep of one registry, exactly a payload the sweep function reads.
    let item = keys(&regions["ItemSelector"]);
    assert!(item.is_subset(&payload_fields), "{item:?} vs {payload_fields:?}");
    assert!(item.contains("account") && item.contains("region"));
    assert_eq!(regions["ItemSelector"]["region.$"], "$$.Map.Item.Value");
    assert_eq!(regions["ItemSelector"]["summary"], "counts");
    let body = &regions["ItemProcessor"];
    let task = &body["States"][body["StartAt"].as_str().unwrap()];
    assert_eq!(
        (task["Type"].as_str(), task["Resource"].as_str()),
        (Some("Task"), Some("${LambdaInvoke}"))
    );
    assert_eq!(task["Parameters"]["FunctionName"], "${SweepFunctionArn}");
    assert_eq!(task["Parameters"]["Payload.$"], "$");
    assert!(!task["Retry"].is_null());
    // A registry larger than one invocation: the summary beside the item, and while it says it
    // stopped, the same item again from where it stopped.
    let mut stopped = guard_adapter::sweep::SweepSummary::unreachable("1", "r", "enforce", String::new(), false);
    stopped.stopped_at = Some("b".into());
    stopped.start_at = Some("a".into());
    let summary_fields = keys_of_json(&serde_json::to_value(&stopped).unwrap());
    assert_eq!(task["ResultSelector"]["summary.$"], "$.Payload");
    assert_eq!(task["ResultPath"], "$.part");
    let choice = &body["States"][task["Next"].as_str().unwrap()];
    assert_eq!(choice["Type"], "Choice");
    let tests = choice["Choices"][0]["And"].as_sequence().unwrap();
    let tested: BTreeSet<String> = tests
        .iter()
        .map(|c| {
            c["Variable"]
                .as_str()
                .unwrap()
                .trim_start_matches("$.part.summary.")
                .to_owned()
        })
        .collect();
    assert_eq!(tested, ["complete".to_owned(), "stopped_at".to_owned()].into());
    assert!(tested.is_subset(&summary_fields), "{tested:?} vs {summary_fields:?}");
    let next_part = &body["States"][choice["Choices"][0]["Next"].as_str().unwrap()];
    assert_eq!(next_part["Type"], "Pass");
    assert_eq!(next_part["Next"], body["StartAt"]);
    let again = keys(&next_part["Parameters"]);
    assert!(again.is_subset(&payload_fields), "{again:?}");
    assert!(item.is_subset(&again), "{item:?} vs {again:?}");
    assert_eq!(next_part["Parameters"]["start_at.$"], "$.part.summary.stopped_at");
    assert_eq!(next_part["Parameters"]["previous.$"], "$.part.summary");
    let done = &body["States"][choice["Default"].as_str().unwrap()];
    assert_eq!(
        (done["OutputPath"].as_str(), done["End"].as_bool()),
        (Some("$.part.summary"), Some(true))
    );
    // A sweep that fails after its retries is recorded for its account and Region, not fatal.
    let caught = &task["Catch"][0];
    assert_eq!(strings(&caught["ErrorEquals"]), ["States.ALL"]);
    let record = &body["States"][caught["Next"].as_str().unwrap()];
    assert_eq!(record["Type"], "Pass");
    assert_eq!(record["Parameters"]["complete"], false);
    assert!(keys(&record["Parameters"]).is_superset(&["account".to_owned(), "region".to_owned()].into()));

    // The state machine may invoke the sweep, and the sweep may list the organisation's accounts.
    let role = &t["Resources"]["OrgSweepRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
    assert!(role
        .as_sequence()
        .unwrap()
        .iter()
        .any(|s| s["Action"] == "lambda:InvokeFunction"));
    assert_eq!(t["Resources"]["OrgSweepSchedule"]["Condition"], "IsCentral");
}
