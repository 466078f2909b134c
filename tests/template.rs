//! template.yaml against the code: every function crate has a resource and every resource a
//! crate, built for arm64 with cargo-lambda; each role holds exactly the `ecr:` actions its
//! function's code calls; each rule matches exactly the events its function acts on; every
//! function has retries and dead letters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use guard_adapter::{
    engine::ecr_actions_for,
    event::{CLOUDTRAIL_EVENTS, REPLICATION_DETAIL_TYPE},
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
        for policy in f["Properties"]["Policies"].as_sequence().unwrap() {
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
