//! `cargo +nightly fuzz run parse_policy -- -max_total_time=60`: the parser, analysis and
//! evaluation must never panic, and whatever parses must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_core::{analyze, evaluate, Context, Policy, Request, RequestPrincipal};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(policy) = Policy::parse(text) else { return };
    let again = Policy::parse(&policy.to_json());
    assert_eq!(again.as_ref(), Ok(&policy));
    let _ = analyze(&policy);
    let request = Request {
        principal: RequestPrincipal::Anonymous,
        action: "ecr:BatchGetImage".into(),
        resource: None,
        context: Context::new(),
    };
    let _ = evaluate(&policy, &request);
});
