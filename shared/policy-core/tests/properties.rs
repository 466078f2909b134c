//! Property tests: parse -> serialise -> parse is the identity, normalisation is idempotent, and
//! the parser never panics on arbitrary input (a seeded stand-in for the cargo-fuzz target, so
//! it runs on stable in CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use policy_core::{analyze, equivalent, evaluate, normalize, Context, Policy, Request, RequestPrincipal};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn one_or_many(s: impl Strategy<Value = String> + Clone + 'static) -> BoxedStrategy<Value> {
    prop_oneof![
        s.clone().prop_map(Value::String),
        prop::collection::vec(s, 0..4).prop_map(|v| Value::Array(v.into_iter().map(Value::String).collect())),
    ]
    .boxed()
}

fn account() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        Just("111122223333".to_owned()),
        Just("444455556666".to_owned()),
        "[0-9]{12}"
    ]
}

fn aws_id() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        Just("*".to_owned()),
        account(),
        account().prop_map(|a| format!("arn:aws:iam::{a}:root")),
        (account(), "[a-zA-Z0-9+=,.@_-]{1,12}").prop_map(|(a, r)| format!("arn:aws:iam::{a}:role/{r}")),
        "AROA[A-Z0-9]{16}",
        Just("arn:aws:iam::*:root".to_owned()),
    ]
}

fn action() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        Just("*".to_owned()),
        Just("ecr:*".to_owned()),
        Just("ECR:batchgetimage".to_owned()),
        Just("ecr:BatchGetImage".to_owned()),
        Just("ecr:PutImage".to_owned()),
        Just("e?r:*Image*".to_owned()),
        Just("s3:GetObject".to_owned()),
        "ecr:[A-Za-z?*]{1,20}",
    ]
}

fn cond_value() -> BoxedStrategy<Value> {
    prop_oneof![
        "[ -~]{0,16}".prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e9f64..1e9f64).prop_map(|f| json!(f)),
        Just(json!("${aws:username}")),
        Just(json!("o-abc123def4")),
    ]
    .boxed()
}

fn operator() -> impl Strategy<Value = String> + Clone {
    let base = prop_oneof![
        Just("StringEquals"),
        Just("StringNotEquals"),
        Just("StringLike"),
        Just("stringequalsignorecase"),
        Just("ArnLike"),
        Just("ArnEquals"),
        Just("NumericLessThan"),
        Just("DateGreaterThan"),
        Just("Bool"),
        Just("IpAddress"),
        Just("Null"),
        Just("StringEqualz"),
    ];
    (
        prop_oneof![Just(""), Just("ForAnyValue:"), Just("ForAllValues:")],
        base,
        any::<bool>(),
    )
        .prop_map(|(q, b, ifx)| format!("{q}{b}{}", if ifx && b != "Null" { "IfExists" } else { "" }))
}

fn condition() -> BoxedStrategy<Value> {
    let key = prop_oneof![
        Just("aws:PrincipalOrgID".to_owned()),
        Just("aws:SourceAccount".to_owned()),
        Just("AWS:sourceaccount".to_owned()),
        Just("aws:PrincipalArn".to_owned()),
        "[a-z]{1,6}:[A-Za-z/]{1,10}",
    ];
    let values = prop_oneof![
        cond_value(),
        prop::collection::vec(cond_value(), 0..3).prop_map(Value::Array)
    ];
    prop::collection::btree_map(operator(), prop::collection::btree_map(key, values, 1..3), 1..3)
        .prop_map(|m| {
            Value::Object(
                m.into_iter()
                    .map(|(op, keys)| (op, Value::Object(keys.into_iter().collect::<Map<_, _>>())))
                    .collect(),
            )
        })
        .boxed()
}

fn principal() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(json!("*")),
        one_or_many(aws_id()).prop_map(|v| json!({ "AWS": v })),
        one_or_many(prop_oneof![
            Just("codebuild.amazonaws.com".to_owned()),
            Just("lambda.amazonaws.com".to_owned())
        ])
        .prop_map(|v| json!({ "Service": v })),
        (
            one_or_many(aws_id()),
            one_or_many(Just("cognito-identity.amazonaws.com".to_owned()))
        )
            .prop_map(|(a, f)| json!({ "AWS": a, "Federated": f })),
    ]
    .boxed()
}

fn statement() -> BoxedStrategy<Value> {
    (
        prop::option::of("[ -~]{0,12}"),
        prop_oneof![Just("Allow"), Just("Deny")],
        prop::option::of((any::<bool>(), principal())),
        (any::<bool>(), one_or_many(action())),
        prop::option::of((
            any::<bool>(),
            one_or_many("arn:aws:ecr:[a-z0-9-]{0,9}:[0-9*]{0,12}:repository/[a-z*${}:]{0,12}"),
        )),
        prop::option::of(condition()),
        prop::option::of(cond_value()),
    )
        .prop_map(
            |(sid, effect, principal, (not_action, actions), resource, condition, extra)| {
                let mut m = Map::new();
                if let Some(sid) = sid {
                    m.insert("Sid".into(), json!(sid));
                }
                m.insert("Effect".into(), json!(effect));
                if let Some((not, p)) = principal {
                    m.insert(if not { "NotPrincipal" } else { "Principal" }.into(), p);
                }
                m.insert(if not_action { "NotAction" } else { "Action" }.into(), actions);
                if let Some((not, r)) = resource {
                    m.insert(if not { "NotResource" } else { "Resource" }.into(), r);
                }
                if let Some(c) = condition {
                    m.insert("Condition".into(), c);
                }
                if let Some(x) = extra {
                    m.insert("x-extra".into(), x);
                }
                Value::Object(m)
            },
        )
        .boxed()
}

fn policy() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just(None), Just(Some("2012-10-17")), Just(Some("2008-10-17"))],
        prop::option::of("[a-z0-9-]{1,10}"),
        prop_oneof![
            statement().prop_map(|s| (s, true)),
            prop::collection::vec(statement(), 0..5).prop_map(|v| (Value::Array(v), false))
        ],
    )
        .prop_map(|(version, id, (statements, _))| {
            let mut m = Map::new();
            if let Some(v) = version {
                m.insert("Version".into(), json!(v));
            }
            if let Some(id) = id {
                m.insert("Id".into(), json!(id));
            }
            m.insert("Statement".into(), statements);
            Value::Object(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parse_serialise_parse_is_identity(v in policy()) {
        let text = v.to_string();
        let p = Policy::parse(&text).unwrap();
        // Lossless: the same JSON value comes back, and parsing it again gives the same model.
        prop_assert_eq!(&p.to_value(), &v);
        let again = Policy::parse(&p.to_json()).unwrap();
        prop_assert_eq!(again, p);
    }

    #[test]
    fn normalisation_is_idempotent(v in policy()) {
        let p = Policy::parse(&v.to_string()).unwrap();
        let n = normalize(&p);
        let canonical = n.to_policy();
        prop_assert_eq!(normalize(&canonical), n);
        prop_assert!(equivalent(&p, &canonical));
        // The canonical document is itself a valid, lossless policy.
        let reparsed = Policy::parse(&canonical.to_json()).unwrap();
        prop_assert_eq!(reparsed.to_value(), canonical.to_value());
    }

    #[test]
    fn analysis_and_evaluation_never_panic(v in policy(), action in action(), acct in account()) {
        let p = Policy::parse(&v.to_string()).unwrap();
        let _ = analyze(&p);
        let request = Request {
            principal: RequestPrincipal::Arn { arn: format!("arn:aws:iam::{acct}:role/x"), unique_id: None },
            action,
            resource: Some(format!("arn:aws:ecr:us-east-1:{acct}:repository/app")),
            context: Context::new().with("aws:username", "bob"),
        };
        // Unknown operators are an error, never a guess.
        match evaluate(&p, &request) {
            Ok(_) => prop_assert!(p.unknown_operators().is_empty()),
            Err(_) => prop_assert!(!p.unknown_operators().is_empty()),
        }
    }

    /// Seeded fuzzing of the parser: arbitrary text, and valid policies with bytes mutated.
    #[test]
    fn parser_never_panics_on_text(text in "\\PC{0,200}") {
        let _ = Policy::parse(&text);
    }

    #[test]
    fn parser_never_panics_on_mutations(v in policy(), cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<char>()), 1..6)) {
        let mut chars: Vec<char> = v.to_string().chars().collect();
        for (at, c) in cuts {
            if chars.is_empty() { break; }
            let i = at.index(chars.len());
            chars[i] = c;
        }
        let text: String = chars.into_iter().collect();
        if let Ok(p) = Policy::parse(&text) {
            // Whatever parses must serialise to something that parses to the same model.
            prop_assert_eq!(Policy::parse(&p.to_json()).unwrap(), p);
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(Policy::parse(&text).is_err());
    let obj = format!(r#"{{"Statement":{}{}}}"#, r#"{"a":"#.repeat(50_000), "}".repeat(50_000));
    assert!(Policy::parse(&obj).is_err());
}
