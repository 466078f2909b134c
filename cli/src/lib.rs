//! The command line: `sweep` a registry (report or enforce) and `check` a policy file offline.
//!
//! Exit codes: 0 clean, 1 findings (a CI gate), 2 usage, config or run errors.

use guard_adapter::{settings::Settings, sweep::SweepSummary};
use policy_core::{
    config::GuardConfig,
    guard::{review_registry_policy, review_repository_policy, GuardContext},
    plan::{plan_repository, PlanAction},
    Policy,
};
use std::fmt::Write as _;

/// Usage text
pub const USAGE: &str = "usage:
  ecr-policy-guard sweep [--report] [--account ID] [--concurrency N] [--config FILE]
  ecr-policy-guard check POLICY.json [--registry] [--repository NAME] [--account ID] [--config FILE]

sweep   every repository and the registry policy of the account, with the standard AWS
        credential chain and AWS_ENDPOINT_URL; prints one JSON summary
check   lints a policy file offline against the config; prints each finding with its statement

The config comes from --config FILE, else GUARD_CONFIG / GUARD_CONFIG_FILE. The account from
--account, else GUARD_ACCOUNT_ID. Exit: 0 clean, 1 findings, 2 errors.";

/// A parsed command line
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `sweep`
    Sweep {
        /// `--report`: write nothing whatever the config says
        report: bool,
        /// `--account`
        account: Option<String>,
        /// `--concurrency`
        concurrency: usize,
        /// `--config`
        config: Option<String>,
    },
    /// `check`
    Check {
        /// The policy file
        file: String,
        /// `--registry`: judge it as a registry policy
        registry: bool,
        /// `--repository`: also check the baseline for this repository name
        repository: Option<String>,
        /// `--account`
        account: Option<String>,
        /// `--config`
        config: Option<String>,
    },
    /// `--help`
    Help,
}

/// Parses arguments (without the program name)
pub fn parse_args(args: &[String]) -> Result<Command, String> {
    let mut it = args.iter();
    let sub = it.next().map(String::as_str);
    let mut report = false;
    let mut registry = false;
    let mut account = None;
    let mut config = None;
    let mut repository = None;
    let mut concurrency = 8usize;
    let mut positional = Vec::new();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("`{name}` needs a value"));
        match a.as_str() {
            "--report" => report = true,
            "--registry" => registry = true,
            "--account" => account = Some(value("--account")?),
            "--config" => config = Some(value("--config")?),
            "--repository" => repository = Some(value("--repository")?),
            "--concurrency" => {
                let v = value("--concurrency")?;
                concurrency = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("`--concurrency` must be a positive number, found `{v}`"))?;
            }
            "-h" | "--help" => return Ok(Command::Help),
            s if s.starts_with('-') => return Err(format!("unknown option `{s}`")),
            s => positional.push(s.to_owned()),
        }
    }
    match sub {
        Some("sweep") if positional.is_empty() => Ok(Command::Sweep {
            report,
            account,
            concurrency,
            config,
        }),
        Some("check") => match positional.as_slice() {
            [file] => Ok(Command::Check {
                file: file.clone(),
                registry,
                repository,
                account,
                config,
            }),
            _ => Err("`check` takes one policy file".into()),
        },
        Some("-h" | "--help" | "help") | None => Ok(Command::Help),
        Some(other) => Err(format!("unknown command `{other}`")),
    }
}

/// Loads settings: `--config FILE` wins over the environment
pub fn load_settings(config: Option<&str>, var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
    match config {
        Some(path) => Settings::from_vars(|k| match k {
            "GUARD_CONFIG_FILE" => Some(path.to_owned()),
            "GUARD_CONFIG" => None,
            other => var(other),
        }),
        None => Settings::from_vars(var),
    }
    .map_err(|e| e.to_string())
}

/// What `check` found
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// One entry per finding that would change the policy, printable
    pub findings: Vec<String>,
    /// Findings that keep the grant (printed, not a failure)
    pub notes: Vec<String>,
}

/// Lints policy text against the config, as the guard would judge it in `account`
pub fn check(
    text: &str,
    config: &GuardConfig,
    account: &str,
    registry: bool,
    repository: Option<&str>,
) -> Result<CheckReport, String> {
    let policy = Policy::parse(text).map_err(|e| format!("invalid policy: {e}"))?;
    let mut report = CheckReport::default();
    // The guard never judges an exempt repository: neither does `check`.
    if repository.is_some_and(|r| !registry && config.is_exempt(r)) {
        return Ok(report);
    }
    for op in policy.unknown_operators() {
        report.findings.push(format!(
            "unknown-operator: condition operator `{op}` is not one IAM knows"
        ));
    }
    for a in policy.unknown_actions() {
        report
            .findings
            .push(format!("unknown-action: `{a}` covers no ECR action"));
    }
    let ctx = GuardContext::new(config, account, "us-east-1", "aws");
    let review = if registry {
        review_registry_policy(&policy, &ctx)
    } else {
        review_repository_policy(&policy, &ctx)
    };
    for r in &review.findings {
        let mut line = format!("{}: {}: {}", r.label, r.rule.as_str(), r.reason);
        if let Some(p) = &r.principal {
            let _ = write!(line, " (principal `{p}`)");
        }
        let _ = write!(line, "\n    {}", r.statement.to_value());
        // A finding kept by configuration (an unpinned trusted service) informs, it does not fail.
        if r.disposition == policy_core::Disposition::Kept {
            report.notes.push(line);
        } else {
            report.findings.push(line);
        }
    }
    if let (Some(repo), false) = (repository, registry) {
        let plan = plan_repository(Some(&policy), repo, &ctx).map_err(|e| e.to_string())?;
        if plan.would != PlanAction::Unchanged {
            for s in plan.additions.iter().map(|a| &a.statement) {
                report.findings.push(format!(
                    "missing-baseline: `{}` would be added\n    {}",
                    s.sid.as_deref().unwrap_or(""),
                    s.to_value()
                ));
            }
        }
    }
    Ok(report)
}

/// Exit code of a sweep: findings in report mode fail a CI gate; failures are errors
pub fn sweep_exit_code(summary: &SweepSummary) -> i32 {
    if !summary.failed.is_empty() || !summary.complete {
        2
    } else if summary.has_findings() {
        1
    } else {
        0
    }
}

/// A one-line progress bar
pub fn progress_line(done: usize, total: usize) -> String {
    let width = 30;
    let filled = (done * width).checked_div(total).unwrap_or(width).min(width);
    format!(
        "\r[{}{}] {done}/{total} repositories",
        "#".repeat(filled),
        "-".repeat(width - filled)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse_args(&args("sweep --report --account 123456789012 --concurrency 4")).unwrap(),
            Command::Sweep {
                report: true,
                account: Some("123456789012".into()),
                concurrency: 4,
                config: None
            }
        );
        assert!(matches!(
            parse_args(&args("check p.json --registry")).unwrap(),
            Command::Check { registry: true, .. }
        ));
        assert_eq!(parse_args(&args("check")).unwrap_err(), "`check` takes one policy file");
        assert_eq!(
            parse_args(&args("sweep --colour")).unwrap_err(),
            "unknown option `--colour`"
        );
        assert_eq!(
            parse_args(&args("sweep --concurrency 0")).unwrap_err(),
            "`--concurrency` must be a positive number, found `0`"
        );
        assert_eq!(parse_args(&args("")).unwrap(), Command::Help);
    }

    #[test]
    fn check_reports_statement_and_reason() {
        let config = GuardConfig::parse(r#"{"trusted_accounts":{"111122223333":"pull"}}"#).unwrap();
        let text = r#"{"Statement":[{"Sid":"Mixed","Effect":"Allow","Principal":{"AWS":["111122223333","999988887777"]},"Action":"ecr:BatchGetImage"}]}"#;
        let r = check(text, &config, "123456789012", false, None).unwrap();
        assert_eq!(r.findings.len(), 1);
        assert!(
            r.findings[0]
                .starts_with("statement 0 (`Mixed`): foreign-account: grants `pull` to account `999988887777`"),
            "{}",
            r.findings[0]
        );
        let clean =
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"ecr:BatchGetImage"}]}"#;
        assert!(check(clean, &config, "123456789012", false, None)
            .unwrap()
            .findings
            .is_empty());
        assert!(check("{", &config, "123456789012", false, None)
            .unwrap_err()
            .starts_with("invalid policy: "));
        // An exempt repository is never judged.
        let exempt = GuardConfig::parse(r#"{"exempt_repositories":["sandbox-*"]}"#).unwrap();
        let public = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"}]}"#;
        assert!(check(public, &exempt, "123456789012", false, Some("sandbox-a"))
            .unwrap()
            .findings
            .is_empty());
        assert_eq!(
            check(public, &exempt, "123456789012", false, Some("svc"))
                .unwrap()
                .findings
                .len(),
            1
        );
    }

    #[test]
    fn progress() {
        assert_eq!(
            progress_line(5, 10),
            format!("\r[{}{}] 5/10 repositories", "#".repeat(15), "-".repeat(15))
        );
    }
}
