//! Seeded fuzzing of the event decoder (the cargo-fuzz target `decode_event` needs nightly):
//! every sample event mutated at random, and arbitrary JSON. Decoding never panics; an error
//! always says `malformed event: `.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use guard_adapter::event::decode;
use proptest::prelude::*;
use serde_json::Value;

fn samples() -> Vec<Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap())
        .collect()
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::String),
        Just(Value::String("123456789012".into())),
        Just(Value::String("aws.ecr".into())),
        Just(Value::String("AWS API Call via CloudTrail".into())),
        Just(Value::String("ECR Replication Action".into())),
        Just(Value::String("SetRepositoryPolicy".into())),
        Just(Value::String("AWS Service Event via CloudTrail".into())),
        Just(Value::String("ECR Pull Through Cache Action".into())),
        Just(Value::String("CreateRepository".into())),
        Just(Value::String("SUCCESS".into())),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z-]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the value at a random path of `v`
fn mutate(v: &mut Value, path: &[prop::sample::Index], new: Value) {
    let mut cur = v;
    for (depth, idx) in path.iter().enumerate() {
        let next = match cur {
            Value::Object(m) if !m.is_empty() => {
                let key = m.keys().nth(idx.index(m.len())).cloned().unwrap();
                m.get_mut(&key).unwrap()
            }
            Value::Array(a) if !a.is_empty() => {
                let i = idx.index(a.len());
                &mut a[i]
            }
            _ => break,
        };
        if depth + 1 == path.len() {
            *next = new;
            return;
        }
        cur = next;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_samples_never_panic(which in any::<prop::sample::Index>(), path in prop::collection::vec(any::<prop::sample::Index>(), 1..6), new in json()) {
        let all = samples();
        let mut v = all[which.index(all.len())].clone();
        mutate(&mut v, &path, new);
        let roles = vec!["arn:aws:iam::123456789012:role/ecr-policy-guard".to_owned()];
        if let Err(e) = decode(&v, &roles, Some("123456789012")) {
            prop_assert!(e.to_string().starts_with("malformed event: "));
        }
    }

    #[test]
    fn arbitrary_json_never_panics(v in json()) {
        let _ = decode(&v, &[], None);
    }
}
