//! `ecr-policy-guard perimeter`: the resource control policy for a config, on standard output or
//! in a file; the notes on what it cannot express on standard error; exit 2, and no file written,
//! when the config has no `org_id` or the policy cannot fit. Offline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use policy_core::{GuardConfig, Policy, MAX_RCP_CHARS};
use scenarios::root;
use serde_json::{json, Value};
use std::{
    path::PathBuf,
    process::{Command, Output},
};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ecr-policy-guard"));
    c.arg("perimeter")
        .args(args)
        .current_dir(root())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh directory for one test's files
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("epg-perimeter-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_config(d: &std::path::Path, config: &Value) -> String {
    let path = d.join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn writes_the_example_config_perimeter() {
    let out = run(&["--config", "config/example.json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // `config/example.json` enforces every rule and has no exceptions: nothing to note.
    assert_eq!(text(&out.stderr), "");
    let stdout = text(&out.stdout);
    assert!(stdout.chars().count() <= MAX_RCP_CHARS, "{}", stdout.len());
    assert!(stdout.lines().count() > 50, "laid out for reading:\n{stdout}");
    let written = Policy::parse(&stdout).unwrap();
    // The same policy as the library builds, every statement an RCP-shaped Deny.
    let config = GuardConfig::parse(&std::fs::read_to_string(root().join("config/example.json")).unwrap()).unwrap();
    let expected = policy_core::perimeter(&config).unwrap();
    assert_eq!(stdout, expected.text());
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["Version"], "2012-10-17");
    let sids: Vec<&str> = v["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(
        sids,
        [
            "DenyEcrOutsideOrgAndTrustedAccounts",
            "DenyEcrPullBeyondClass",
            "DenyEcrPushBeyondClass",
            "DenyEcrReplicationBeyondClass",
            "DenyEcrAdminBeyondClass",
            "DenyEcrServicesActingForOutsiders",
            "DenyEcrServicesPushReplicationBeyondClass",
            "DenyEcrServicesAdminBeyondClass",
        ]
    );
    for s in &written.statements {
        assert_eq!(s.to_value()["Effect"], "Deny");
        assert_eq!(s.to_value()["Principal"], "*");
        assert_eq!(s.to_value()["NotResource"], "arn:*:ecr:*:*:repository/sandbox-*");
    }
    assert_eq!(
        v["Statement"][0]["Condition"]["StringNotEqualsIfExists"],
        json!({"aws:PrincipalOrgID":"o-a1b2c3d4e5","aws:PrincipalAccount":["111122223333","444455556666","777788889999"]})
    );
    // The same bytes on every run.
    let again = run(&["--config", "config/example.json"], &[]);
    assert_eq!(again.stdout, out.stdout);
}

#[test]
fn output_file_and_inline_config() {
    let d = dir("output");
    let file = d.join("rcp.json");
    let config = std::fs::read_to_string(root().join("config/example.json")).unwrap();
    let out = run(
        &["--output", file.to_str().unwrap()],
        &[("GUARD_CONFIG", config.as_str())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    let written = std::fs::read_to_string(&file).unwrap();
    let from_stdout = run(&["--config", "config/example.json"], &[]);
    assert_eq!(written, text(&from_stdout.stdout));
    // `GUARD_CONFIG_FILE` too.
    let out = run(&[], &[("GUARD_CONFIG_FILE", "config/example.json")]);
    assert_eq!(out.stdout, from_stdout.stdout);
}

#[test]
fn no_org_id_is_an_error_and_writes_nothing() {
    let d = dir("no-org");
    let config = write_config(
        &d,
        &json!({"mode":"enforce","trusted_accounts":{"111122223333":"pull"}}),
    );
    let file = d.join("rcp.json");
    let out = run(&["--config", &config, "--output", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with(
            "error: the perimeter needs `org_id`: a resource control policy applies inside one organisation"
        ),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "");
    assert!(!file.exists());
}

#[test]
fn too_many_accounts_is_an_error_naming_the_size() {
    let d = dir("too-large");
    let accounts: serde_json::Map<String, Value> = (0..120)
        .map(|i| (format!("{:012}", 300_000_000_000u64 + i), json!("push")))
        .collect();
    let config = write_config(
        &d,
        &json!({"mode":"enforce","org_id":"o-a1b2c3d4e5","trusted_accounts":accounts}),
    );
    let file = d.join("rcp.json");
    std::fs::write(&file, "previous").unwrap();
    let out = run(&["--config", &config, "--output", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with("error: the perimeter is `"), "{err}");
    assert!(
        err.contains("characters, over the 5120-character limit of a resource control policy"),
        "{err}"
    );
    assert!(err.contains("`120` trusted accounts and replication sources"), "{err}");
    // A failed run leaves the previous file alone.
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "previous");
}

#[test]
fn notes_go_to_standard_error() {
    let d = dir("notes");
    let config = write_config(
        &d,
        &json!({"org_id":"o-a1b2c3d4e5","exceptions":[{"repositories":"legacy-*","grantee":{"account":"999999999999"},
            "max":"pull","expires":"2099-01-01","reason":"migration, approved by security"}]}),
    );
    let out = run(&["--config", &config], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("note: the config's mode is `report`"), "{err}");
    assert!(
        lines[1].starts_with("note: `exceptions[0]` (account `999999999999` on `legacy-*`"),
        "{err}"
    );
    assert!(Policy::parse(&text(&out.stdout)).is_ok());
}

#[test]
fn usage_and_unwritable_output() {
    let out = run(&["--config", "config/example.json", "--account", "123456789012"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unexpected argument '--account'"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("set exactly one of `GUARD_CONFIG`"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "--config",
            "config/example.json",
            "--output",
            "/nonexistent-dir/rcp.json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("error: cannot write `/nonexistent-dir/rcp.json`"),
        "{}",
        text(&out.stderr)
    );
    let help = run(&["--help"], &[]);
    assert_eq!(help.status.code(), Some(0));
    assert!(
        text(&help.stdout).contains("RESOURCE_CONTROL_POLICY"),
        "{}",
        text(&help.stdout)
    );
}
