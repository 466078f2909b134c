//! The config in SSM Parameter Store (moto's SSM): read at cold start, by name or ARN, from an
//! advanced-tier parameter larger than an environment variable could hold; read again once its
//! time to live has passed (injected clock); a bad value is logged and the last good config goes
//! on working; a missing or invalid parameter at cold start is an error naming it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use guard_adapter::{
    access::{session_name, SdkAccess},
    audit::MemoryAudit,
    config_store::{LiveConfig, SdkParameters, CONFIG_TTL},
    engine::Clock,
    settings::ConfigSource,
    OutcomeAction, Service,
};
use scenarios::*;
use serde_json::{json, Value};
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

const NAME: &str = "/ecr-policy-guard/config";

async fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&moto_sdk_config().await)
}

/// Writes the parameter as operators do (`aws ssm put-parameter --overwrite`)
async fn put(value: &str, tier: aws_sdk_ssm::types::ParameterTier) {
    ssm()
        .await
        .put_parameter()
        .name(NAME)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .tier(tier)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

/// The example config, pretty-printed and padded past the 4 KB an environment variable holds in
/// all (whitespace is still one valid document)
fn document(mode: &str) -> String {
    let c: Value = serde_json::from_str(&config(|c| c["mode"] = json!(mode))).unwrap();
    let text = serde_json::to_string_pretty(&c).unwrap();
    format!("{text}{}", " ".repeat(5000))
}

fn clock_at(now: &Arc<AtomicU64>) -> Clock {
    let now = now.clone();
    Arc::new(move || now.load(Ordering::SeqCst) as f64)
}

async fn live(name: &str, now: &Arc<AtomicU64>, audit: &Arc<MemoryAudit>) -> Result<LiveConfig, String> {
    LiveConfig::parameter(
        name.to_owned(),
        Arc::new(SdkParameters::new(ssm().await)),
        CONFIG_TTL,
        clock_at(now),
        audit.clone(),
    )
    .await
    .map_err(|e| e.to_string())
}

fn public() -> Value {
    json!({"Version":"2012-10-17","Statement":[
        {"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},
        {"Sid":"OwnCi","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"ecr:*"}]})
}

#[tokio::test]
async fn the_ssm_config_is_refreshed_after_its_ttl_and_a_bad_value_keeps_the_last_good_one() {
    let _x = exclusive().await;
    let advanced = aws_sdk_ssm::types::ParameterTier::Advanced;
    put(&document("report"), advanced.clone()).await;
    create_repository("svc/app", Some(&public())).await;
    let now = Arc::new(AtomicU64::new(1_000_000));
    let audit = Arc::new(MemoryAudit::default());
    // What `init_lambda` does with `GUARD_CONFIG_PARAMETER`.
    let source = ConfigSource::from_vars(|k| (k == "GUARD_CONFIG_PARAMETER").then(|| NAME.to_owned())).unwrap();
    assert_eq!(source, ConfigSource::Parameter(NAME.to_owned()));
    let config = live(NAME, &now, &audit).await.unwrap();
    let access = SdkAccess::new(moto_sdk_config().await, Some(ACCOUNT.to_owned()), session_name(None));
    let mut service = Service::new(access, config, vec![], Some(ACCOUNT.to_owned()));
    service.audit = audit.clone();
    let event = || lambda_event(event_for("cloudtrail-ecr-set-repository-policy.json", "svc/app"));

    let out = enforce_policy::function_handler(event(), &service).await.unwrap();
    assert_eq!(out.action, OutcomeAction::Reported, "report mode from the parameter");
    assert_eq!(repository_policy("svc/app").await.unwrap(), public());

    put(&document("enforce"), advanced.clone()).await;
    now.fetch_add(59, Ordering::SeqCst);
    let out = enforce_policy::function_handler(event(), &service).await.unwrap();
    assert_eq!(out.action, OutcomeAction::Reported, "within the time to live");
    now.fetch_add(1, Ordering::SeqCst);
    let out = enforce_policy::function_handler(event(), &service).await.unwrap();
    assert_eq!(out.action, OutcomeAction::Written, "read again after the time to live");
    assert!(audit
        .lines()
        .iter()
        .any(|l| l["audit"] == "config_loaded" && l["generation"] == 1));

    // A bad value: logged loudly, and the last good config (enforce) goes on working.
    put(
        r#"{"mode":"enforce","trusted_accounts":{"12345":"pull"}}"#,
        advanced.clone(),
    )
    .await;
    now.fetch_add(120, Ordering::SeqCst);
    create_repository("svc/other", Some(&public())).await;
    let out = enforce_policy::function_handler(
        lambda_event(event_for("cloudtrail-ecr-set-repository-policy.json", "svc/other")),
        &service,
    )
    .await
    .unwrap();
    assert_eq!(out.action, OutcomeAction::Written);
    let errors: Vec<Value> = audit
        .lines()
        .into_iter()
        .filter(|l| l["audit"] == "config_error")
        .collect();
    assert_eq!(errors.len(), 1, "one read per time to live");
    assert_eq!(errors[0]["parameter"], NAME);
    assert_eq!(
        errors[0]["error"],
        "invalid config field `trusted_accounts.12345`: `12345` is not a 12-digit account id"
    );
    // A good value again is taken up at the next read.
    put(&document("report"), advanced).await;
    now.fetch_add(60, Ordering::SeqCst);
    create_repository("svc/third", Some(&public())).await;
    let out = enforce_policy::function_handler(
        lambda_event(event_for("cloudtrail-ecr-set-repository-policy.json", "svc/third")),
        &service,
    )
    .await
    .unwrap();
    assert_eq!(out.action, OutcomeAction::Reported);
}

#[tokio::test]
async fn cold_start_reads_by_name_or_arn_and_fails_loudly() {
    let _x = exclusive().await;
    let now = Arc::new(AtomicU64::new(0));
    let audit = Arc::new(MemoryAudit::default());
    assert_eq!(
        live(NAME, &now, &audit).await.err().unwrap(),
        format!("config parameter `{NAME}`: no such parameter")
    );
    put(r#"{"mode":"enforce","baselines":[{"match":"*","policy":{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"}]}}]}"#,
        aws_sdk_ssm::types::ParameterTier::Standard).await;
    let e = live(NAME, &now, &audit).await.err().unwrap();
    assert!(
        e.starts_with(&format!(
            "config parameter `{NAME}`: invalid config field `baselines[0].policy`"
        )),
        "{e}"
    );
    put(&config(|_| {}), aws_sdk_ssm::types::ParameterTier::Standard).await;
    let arn = format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{NAME}");
    let by_arn = live(&arn, &now, &audit).await.unwrap();
    assert_eq!(by_arn.current().await.0.mode.label(), "enforce");
}
