//! `cargo +nightly fuzz run decode_event -- -max_total_time=60`: any bytes as an EventBridge
//! event: decoding never panics, it decodes, skips or names the problem.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let roles = vec!["arn:aws:iam::123456789012:role/guard".to_owned()];
    let _ = guard_adapter::event::decode(&value, &roles, Some("123456789012"));
});
