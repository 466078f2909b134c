//! The `ecr-policy-guard` binary against moto: `sweep --report` exits 1 on findings and writes
//! nothing, `sweep` fixes, a clean registry exits 0; `check` lints files offline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use scenarios::*;
use serde_json::{json, Value};
use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ecr-policy-guard"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", moto_endpoint())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("GUARD_CONFIG_FILE", root().join("config/example.json"))
        .env("GUARD_ACCOUNT_ID", ACCOUNT)
        .output()
        .unwrap()
}

fn summary(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test]
async fn sweep_report_gate_then_enforce() {
    let _x = exclusive().await;
    let public = json!({"Version":"2012-10-17","Statement":[{"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},
        {"Sid":"Own","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:*"}]});
    create_repository("svc/public", Some(&public)).await;
    let out = cli(&["sweep", "--report"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let s = summary(&out);
    assert_eq!(s["mode"], "report");
    assert_eq!(s["findings_by_rule"]["public"], 1);
    // Standard error is not a terminal here: no progress bar is drawn on it.
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\r'));
    // The same findings as text and as SARIF (the repository as a logical location).
    let out = cli(&["sweep", "--report", "--output", "text"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("repository `svc/public`: statement 0 (`Everyone`): public: grants `pull` to anyone\n"),
        "{text}"
    );
    assert!(
        text.ends_with("1 repositories (report mode): 0 compliant, 1 changed, 0 skipped, 0 failed\n"),
        "{text}"
    );
    let out = cli(&["sweep", "--report", "--output", "sarif"]);
    assert_eq!(out.status.code(), Some(1));
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    support::assert_valid_sarif(&log);
    let result = &log["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "public");
    assert_eq!(result["level"], "error");
    assert_eq!(result["locations"][0]["logicalLocations"][0]["name"], "svc/public");
    assert_eq!(
        result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/svc/public")
    );
    assert_eq!(repository_policy("svc/public").await.unwrap(), public);
    let out = cli(&["sweep"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(summary(&out)["changed"], 1);
    assert_eq!(sids(&repository_policy("svc/public").await.unwrap()), ["Own"]);
    let out = cli(&["sweep", "--report"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(summary(&out)["compliant"], 1);
}

#[test]
fn config_validate_names_the_field_and_exits_2() {
    let dir = std::env::temp_dir().join(format!("epg-cli-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let example = root().join("config/example.json");
    let out = cli(&["config", "validate", example.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.contains("valid config: mode `enforce`, 1 baselines, one registry"),
        "{line}"
    );
    assert!(line.contains("fits a standard-tier SSM parameter"), "{line}");
    let central = dir.join("central.json");
    std::fs::write(
        &central,
        r#"{"member_role":"arn:${Partition}:iam::${AccountId}:role/ecr-policy-guard-member","accounts":"organization"}"#,
    )
    .unwrap();
    let out = cli(&["config", "validate", central.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("central mode through `arn:${Partition}:iam::${AccountId}:role/ecr-policy-guard-member`"));
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"mode":"enforce","trusted_accounts":{"12345":"pull"}}"#).unwrap();
    let out = cli(&["config", "validate", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: `{}`: invalid config field `trusted_accounts.12345`: `12345` is not a 12-digit account id\n",
            bad.display()
        )
    );
    let out = cli(&["config", "validate", dir.join("missing.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: cannot read `"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_lints_a_policy_file_offline() {
    let dir = std::env::temp_dir().join(format!("epg-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"Statement":[{"Sid":"Partner","Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::999988887777:root"]},"Action":"ecr:BatchGetImage"}]}"#).unwrap();
    let out = cli(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("statement 0 (`Partner`): foreign-account: grants `pull` to account `999988887777`"),
        "{text}"
    );
    assert!(text.contains(r#"{"Sid":"Partner""#), "the statement is printed: {text}");
    let good = dir.join("good.json");
    std::fs::write(
        &good,
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"ecr:BatchGetImage"}]}"#,
    )
    .unwrap();
    assert_eq!(cli(&["check", good.to_str().unwrap()]).status.code(), Some(0));
    // The baseline for a team repository is missing from the good file.
    let out = cli(&["check", good.to_str().unwrap(), "--repository", "team-x/api"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("missing-baseline: `GuardBaselineOrgPull`"));
    let broken = dir.join("broken.json");
    std::fs::write(
        &broken,
        r#"{"Statement":[{"Effect":"Allow","Effect":"Deny","Action":"*"}]}"#,
    )
    .unwrap();
    let out = cli(&["check", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("duplicate key `Effect`"));
    assert_eq!(cli(&["frobnicate"]).status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
