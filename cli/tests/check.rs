//! `ecr-policy-guard check` over the sample infrastructure code in `tests/iac/` (a SAM template,
//! CloudFormation templates in YAML and JSON, a Terraform plan, creation templates): the exact
//! findings with resource, rule and line, the unknown values, the exit codes, and SARIF output
//! validated against the OASIS SARIF 2.1.0 schema. Offline: no AWS endpoint is involved.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use scenarios::{root, ACCOUNT, REGION};
use serde_json::Value;
use std::process::{Command, Output};

/// Runs the binary from the workspace root with the example config, the account and region
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ecr-policy-guard"));
    c.args(args)
        .current_dir(root())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GUARD_CONFIG_FILE", "config/example.json")
        .env("GUARD_ACCOUNT_ID", ACCOUNT)
        .env("AWS_REGION", REGION);
    for (k, v) in env {
        if v.is_empty() {
            c.env_remove(k);
        } else {
            c.env(k, v);
        }
    }
    c.output().unwrap()
}

fn check(args: &[&str]) -> Output {
    run(&[&["check"], args].concat(), &[])
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// (resource or policy kind, rule, line) of each finding of `--output json`
fn findings(o: &Output) -> Vec<(String, String, u64)> {
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(o), stderr(o)));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let whose = f["resource"]["name"]
                .as_str()
                .or(f["policy"].as_str())
                .unwrap()
                .to_owned();
            (
                whose,
                f["rule"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn expect(list: &[(&str, &str, u64)]) -> Vec<(String, String, u64)> {
    list.iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), *c))
        .collect()
}

/// Parses SARIF output and validates it against the schema
fn sarif(o: &Output) -> Value {
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(o), stderr(o)));
    support::assert_valid_sarif(&v);
    v
}

#[test]
fn sam_template_findings_name_resource_rule_and_line() {
    let o = check(&["tests/iac/sam-app.yaml", "--output", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        findings(&o),
        expect(&[
            ("BaseImageMirror", "unresolved", 84),
            ("BaseImageMirror", "public", 88),
            ("PartnerFeedRepository", "unresolved", 106),
        ])
    );
    // The repository with the baseline, own-account and pinned-service grants is clean.
    let text = stdout(&check(&["tests/iac/sam-app.yaml"]));
    assert!(!text.contains("OrdersRepository"), "{text}");
    assert!(
        text.contains(
            "tests/iac/sam-app.yaml:106: `PartnerFeedRepository` (AWS::ECR::Repository `RepositoryPolicyText`): \
         statement 0 (`PartnerOrgPull`): unresolved: `Statement[0].Condition.StringEquals.aws:PrincipalOrgID` \
         depends on `!Ref` to parameter `PartnerOrgId`: the statement is not judged"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "tests/iac/sam-app.yaml:84: `BaseImageMirror` (AWS::ECR::Repository `RepositoryPolicyText`): unresolved: \
         the repository name depends on parameter `Stage` in `!Sub`: exemption and baseline are not checked"
        ),
        "{text}"
    );
    assert!(
        text.contains(r#""aws:PrincipalOrgID":"<unresolved: !Ref to parameter PartnerOrgId>""#),
        "{text}"
    );
}

#[test]
fn pseudo_parameters_resolve_only_when_given() {
    // Without an account and a region, `AWS::AccountId`, `AWS::Region` and `AWS::Partition` are
    // unknown: the statements built from them are reported, not taken as the own account.
    let o = run(
        &["check", "tests/iac/sam-app.yaml", "--output", "json"],
        &[("GUARD_ACCOUNT_ID", ""), ("AWS_REGION", "")],
    );
    assert_eq!(o.status.code(), Some(1));
    let orders: Vec<_> = findings(&o).into_iter().filter(|f| f.0 == "OrdersRepository").collect();
    assert_eq!(
        orders,
        expect(&[
            ("OrdersRepository", "unresolved", 50),
            ("OrdersRepository", "unresolved", 50),
            ("OrdersRepository", "unresolved", 50),
            ("OrdersRepository", "unresolved", 54),
            ("OrdersRepository", "unresolved", 54),
        ])
    );
    let text = stdout(&run(
        &["check", "tests/iac/sam-app.yaml"],
        &[("GUARD_ACCOUNT_ID", ""), ("AWS_REGION", "")],
    ));
    assert!(
        text.contains("depends on `AWS::AccountId` (pass `--account`) in `!Sub`"),
        "{text}"
    );
    assert!(
        text.contains("depends on `AWS::Region` (pass `--region`) in `!Sub`"),
        "{text}"
    );
    // `--account` and `--region` on the command line resolve them again.
    let o = run(
        &[
            "check",
            "tests/iac/sam-app.yaml",
            "--output",
            "json",
            "--account",
            ACCOUNT,
            "--region",
            REGION,
        ],
        &[("GUARD_ACCOUNT_ID", ""), ("AWS_REGION", "")],
    );
    assert!(findings(&o).iter().all(|f| f.0 != "OrdersRepository"));
}

#[test]
fn cloudformation_yaml_registry_policy_creation_templates_and_unknowns() {
    let o = check(&["tests/iac/cfn-registry.yaml", "--output", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        findings(&o),
        expect(&[
            // The org-wide pull in the registry policy is kept: scope V2 makes it legitimate.
            ("ReplicationTemplate", "foreign-account", 67),
            ("ReplicationTemplate", "missing-baseline", 67),
            ("ReplicationTemplate", "missing-baseline", 67),
            ("BuildCacheRepository", "unresolved", 79),
            ("BuildCacheRepository", "unresolved", 84),
        ])
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = &v["findings"];
    assert_eq!(f[0]["policy"], "creation template policy");
    // The creation template's prefix names its namespace (`team-replicated/*`): the `team-*`
    // baseline matches every name in it, so it applies.
    assert_eq!(f[1]["repository"], "team-replicated");
    assert_eq!(f[1]["reason"], "`GuardBaselineOrgPull` would be added");
    assert_eq!(
        f[3]["reason"],
        "`Statement[0].Principal.AWS` depends on `!GetAtt` `BuildRole.Arn`: the statement is not judged"
    );
    assert_eq!(
        f[4]["reason"],
        "`Statement[1].Principal.AWS` depends on parameter `BuildAccountId` in `!Sub`: the statement is not judged"
    );
    // The ROOT template (a `!Sub |` JSON string) is clean; the exempt sandbox is never judged.
    let text = stdout(&check(&["tests/iac/cfn-registry.yaml"]));
    assert!(
        !text.contains("PullThroughCacheTemplate") && !text.contains("SandboxRepository"),
        "{text}"
    );
}

#[test]
fn cloudformation_json_template() {
    let o = check(&["tests/iac/cfn-repositories.json", "--output", "json"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        findings(&o),
        expect(&[
            ("LoaderRepository", "excess-access", 47),
            ("PartnerRepository", "unresolved", 70),
        ])
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["findings"][1]["reason"],
        "the policy depends on `Fn::If` on condition `PartnerPolicy`: the policy is not judged"
    );
}

#[test]
fn terraform_plan_with_unknown_after_apply() {
    let o = check(&["tests/iac/terraform-plan.json", "--output", "json"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        findings(&o),
        expect(&[
            (
                "aws_ecr_repository_creation_template.pull_through",
                "untrusted-service",
                239
            ),
            ("aws_ecr_repository_policy.payments", "foreign-account", 292),
            ("aws_ecr_repository_policy.scratch", "unknown-after-apply", 322),
            ("aws_ecr_repository_policy.worker", "unknown-after-apply", 345),
        ])
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = &v["findings"];
    assert_eq!(f[1]["principal"], "arn:aws:iam::999988887777:root");
    assert_eq!(
        f[2]["reason"],
        "`repository` is known only after apply: exemption and baseline are not checked"
    );
    assert_eq!(
        f[3]["reason"],
        "`policy` is known only after apply: the policy is not judged"
    );
    // The deleted resource (a public policy) and the module's clean policy give nothing.
    let text = stdout(&check(&["tests/iac/terraform-plan.json"]));
    assert!(!text.contains("legacy") && !text.contains("module.tools"), "{text}");
}

#[test]
fn creation_templates_from_the_api_and_registry_policy_beside_a_repository_policy() {
    let o = check(&["--template", "tests/iac/creation-templates.json", "--output", "json"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(findings(&o), expect(&[("ROOT", "public", 12)]));
    assert!(stdout(&check(&["--template", "tests/iac/creation-templates.json"]))
        .contains("tests/iac/creation-templates.json:12: template `ROOT`: statement 0 (`PublicPull`): public: grants `pull` to anyone"));
    let o = check(&[
        "tests/iac/repository-policy.json",
        "--registry-policy",
        "tests/iac/registry-policy.json",
        "--output",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        findings(&o),
        expect(&[
            ("repository policy", "foreign-account", 10),
            ("registry policy", "public", 11),
        ])
    );
    let text = stdout(&check(&[
        "tests/iac/repository-policy.json",
        "--registry-policy",
        "tests/iac/registry-policy.json",
    ]));
    assert!(
        text.contains("tests/iac/registry-policy.json:11: registry policy: statement 1 (`EveryonePull`): public"),
        "{text}"
    );
    assert!(
        text.contains(
            "tests/iac/repository-policy.json:10: repository policy: statement 1 (`VendorPull`): foreign-account"
        ),
        "{text}"
    );
    // `--template` takes only the output of describe-repository-creation-templates.
    let o = check(&["--template", "tests/iac/sam-app.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o)
        .contains("`tests/iac/sam-app.yaml` is a cloudformation or sam template, not repository creation templates"));
}

#[test]
fn sarif_is_valid_with_rules_locations_and_stable_fingerprints() {
    let all = [
        "tests/iac/sam-app.yaml",
        "tests/iac/cfn-registry.yaml",
        "tests/iac/cfn-repositories.json",
        "tests/iac/terraform-plan.json",
        "--template",
        "tests/iac/creation-templates.json",
        "--output",
        "sarif",
    ];
    let o = check(&all);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let log = sarif(&o);
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "ecr-policy-guard");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for id in [
        "public",
        "foreign-account",
        "registry-grant",
        "unresolved",
        "unknown-after-apply",
        "missing-baseline",
    ] {
        assert!(rules.contains(&id), "{id} in {rules:?}");
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 3 + 5 + 2 + 4 + 1);
    let public = results
        .iter()
        .find(|r| {
            r["ruleId"] == "public"
                && r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "tests/iac/sam-app.yaml"
        })
        .unwrap();
    assert_eq!(public["level"], "error");
    assert_eq!(rules[public["ruleIndex"].as_u64().unwrap() as usize], "public");
    assert_eq!(public["locations"][0]["physicalLocation"]["region"]["startLine"], 88);
    assert_eq!(public["locations"][0]["logicalLocations"][0]["name"], "BaseImageMirror");
    assert_eq!(
        public["message"]["text"],
        "public: grants `pull` to anyone, in statement 0 (`AnyonePull`) of `BaseImageMirror` (AWS::ECR::Repository `RepositoryPolicyText`)"
    );
    let foreign = results
        .iter()
        .find(|r| r["ruleId"] == "foreign-account" && r["message"]["text"].as_str().unwrap().contains("payments"))
        .unwrap();
    assert!(foreign["message"]["text"]
        .as_str()
        .unwrap()
        .contains("(principal `arn:aws:iam::999988887777:root`)"));
    assert_eq!(foreign["level"], "error");
    let unknown = results.iter().find(|r| r["ruleId"] == "unknown-after-apply").unwrap();
    assert_eq!(unknown["level"], "warning");
    // Fingerprints: one per finding here, and the same when the file's lines move.
    let prints = |log: &Value| -> Vec<String> {
        log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["partialFingerprints"]["ecrPolicyGuard/v1"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let first = prints(&log);
    let mut unique = first.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), first.len());
    let dir = std::env::temp_dir().join(format!("epg-sarif-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("tests/iac")).unwrap();
    for f in [
        "sam-app.yaml",
        "cfn-registry.yaml",
        "cfn-repositories.json",
        "terraform-plan.json",
        "creation-templates.json",
    ] {
        let text = std::fs::read_to_string(root().join("tests/iac").join(f)).unwrap();
        // Blank lines before the document: every line moves, nothing else changes.
        std::fs::write(dir.join("tests/iac").join(f), format!("\n\n\n{text}")).unwrap();
    }
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::copy(root().join("config/example.json"), dir.join("config/example.json")).unwrap();
    let moved = Command::new(env!("CARGO_BIN_EXE_ecr-policy-guard"))
        .arg("check")
        .args(all)
        .current_dir(&dir)
        .env_clear()
        .env("GUARD_CONFIG_FILE", "config/example.json")
        .env("GUARD_ACCOUNT_ID", ACCOUNT)
        .env("AWS_REGION", REGION)
        .output()
        .unwrap();
    let moved_log = sarif(&moved);
    assert_eq!(prints(&moved_log), first);
    assert_eq!(
        moved_log["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["region"]["startLine"],
        91
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn exit_codes_clean_usage_and_errors() {
    let dir = std::env::temp_dir().join(format!("epg-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let clean = dir.join("clean.yaml");
    std::fs::write(
        &clean,
        "Resources:\n  Repo:\n    Type: AWS::ECR::Repository\n    Properties:\n      RepositoryName: svc/api\n      RepositoryPolicyText:\n        Statement:\n          - Effect: Allow\n            Principal: {AWS: !Sub 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root'}\n            Action: ecr:*\n",
    )
    .unwrap();
    let clean = clean.to_str().unwrap();
    let o = check(&[clean]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), format!("{clean}: no findings\n"));
    // A clean SARIF log is valid too, with no results.
    let log = sarif(&check(&[clean, "--output", "sarif"]));
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));
    // An invalid policy in a template is an error naming the file, line and resource.
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "Resources:\n  Repo:\n    Type: AWS::ECR::Repository\n    Properties:\n      RepositoryPolicyText:\n        Statement:\n          - Effect: allow\n            Principal: '*'\n            Action: ecr:*\n").unwrap();
    let o = check(&[broken.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!(
            "`{}` line 6: `Repo` (AWS::ECR::Repository `RepositoryPolicyText`): invalid policy: ",
            broken.display()
        )),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("invalid `Effect` value `allow`"), "{}", stderr(&o));
    // Usage errors exit 2, as before clap.
    for args in [
        &["check"][..],
        &["check", "tests/iac/sam-app.yaml", "--output", "xml"],
        &["check", "tests/iac/sam-app.yaml", "--account", "12345"],
        &["check", "tests/iac/sam-app.yaml", "--registry"],
        &["check", "tests/iac/nope.json"],
        &["frobnicate"],
    ] {
        assert_eq!(run(args, &[]).status.code(), Some(2), "{args:?}");
    }
    assert!(stderr(&check(&["tests/iac/sam-app.yaml", "--registry"]))
        .contains("`--registry` and `--repository` apply to policy files"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_completions_and_environment() {
    let o = run(&["check", "--help"], &[]);
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    for text in [
        "prints each",
        "[env: GUARD_CONFIG_FILE=",
        "[env: GUARD_ACCOUNT_ID=",
        "--registry-policy <FILE>",
        "--output <OUTPUT>",
        "Exit: 0 clean, 1 findings, 2 errors.",
    ] {
        assert!(help.contains(text), "{text} in {help}");
    }
    assert!(
        stdout(&run(&["sweep", "--help"], &[])).contains("with the standard AWS credential chain and AWS_ENDPOINT_URL")
    );
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let o = run(&["completions", shell], &[]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        assert!(stdout(&o).contains("ecr-policy-guard"), "{shell}");
    }
    assert!(stdout(&run(&["completions", "bash"], &[])).contains("--registry-policy"));
    // The config inline in `GUARD_CONFIG` still works when no file is named.
    let inline = r#"{"trusted_accounts":{"111122223333":"pull"}}"#;
    let o = run(
        &["check", "tests/iac/repository-policy.json", "--output", "json"],
        &[("GUARD_CONFIG_FILE", ""), ("GUARD_CONFIG", inline)],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // 444455556666 is not trusted under this config (it is under the example's): no principal
    // of `VendorPull` is left, so the statement goes.
    assert_eq!(findings(&o), expect(&[("repository policy", "foreign-account", 10)]));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["findings"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("no principal left: "),
        "{v}"
    );
    // Both variables set is the settings' error, as it always was; `--config` wins over them.
    let o = run(
        &["check", "tests/iac/repository-policy.json"],
        &[("GUARD_CONFIG", inline)],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("set exactly one of `GUARD_CONFIG`"));
    let o = run(
        &[
            "check",
            "tests/iac/repository-policy.json",
            "--config",
            "config/example.json",
        ],
        &[("GUARD_CONFIG", inline)],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}
