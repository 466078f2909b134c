//! template.yaml and member.yaml against the code: every function crate has a resource and every
//! resource a crate, built for arm64 with cargo-lambda; each role holds exactly the `ecr:` actions
//! its function's code calls; each rule matches exactly the events its function acts on; every
//! function has retries and dead letters; every parameter is validated and reaches the code as
//! a variable the settings read; the member stack forwards exactly what the central functions
//! act on and its role holds exactly what they call; the organisation sweep's state machine fans
//! out one sweep per account and Region with the payload the sweep takes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use guard_adapter::{
    engine::ecr_actions_for,
    event::{CLOUDTRAIL_EVENTS, REPLICATION_DETAIL_TYPE},
    org::{Fanout, SweepPlan},
    Accepts,
};
use scenarios::root;
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
        let entries = f["Properties"]["Policies"].as_sequence().unwrap();
        for policy in entries.iter().flat_map(|e| documents(&t, e)) {
            for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                assert_eq!(statement["Effect"], "Allow");
                granted.extend(
                    strings(&statement["Action"])
                        .into_iter()
                        .filter(|a| a.starts_with("ecr:")),
                );
            }
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
            if e["Type"] != "EventBridgeRule" {
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
