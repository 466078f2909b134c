//! The command line: `sweep` a registry (report or enforce), `check` policies and infrastructure
//! code offline, write the organisation `perimeter` (a resource control policy), `completions` for
//! shells.
//!
//! Exit codes: 0 clean, 1 findings (a CI gate), 2 usage, config, input or run errors.
//!
//! Modules: [`args`] (clap), [`iac`] and [`tree`] (reading inputs, with lines), [`judge`] (the
//! one call into the policy core's review and plan), [`check`] (placing findings), [`output`]
//! and [`sarif`] (rendering), [`progress`] (the sweep's bar).

pub mod args;
pub mod check;
pub mod iac;
pub mod judge;
pub mod output;
pub mod progress;
pub mod sarif;
pub mod tree;

use guard_adapter::{settings::Settings, sweep::SweepSummary};

/// Exit code: nothing found
pub const EXIT_CLEAN: i32 = 0;
/// Exit code: findings
pub const EXIT_FINDINGS: i32 = 1;
/// Exit code: usage, config, input or run error
pub const EXIT_ERROR: i32 = 2;

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

/// SSM Parameter Store's size limits: standard tier, advanced tier
const PARAMETER_TIERS: (usize, usize) = (4096, 8192);

/// `config validate FILE`: the config parsed and validated exactly as the functions load it; a
/// line saying what it configures and which SSM parameter tier holds it, or the error naming the
/// field
pub fn validate_config(path: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    let config = policy_core::GuardConfig::parse(&text).map_err(|e| format!("`{path}`: {e}"))?;
    let scope = match &config.member_role {
        Some(role) => format!("central mode through `{role}`"),
        None => "one registry".to_owned(),
    };
    let size = text.len();
    let tier = if size <= PARAMETER_TIERS.0 {
        "fits a standard-tier SSM parameter"
    } else if size <= PARAMETER_TIERS.1 {
        "needs an advanced-tier SSM parameter"
    } else {
        "too large for an SSM parameter (8,192 bytes): use GUARD_CONFIG_FILE"
    };
    Ok(format!(
        "`{path}`: valid config: mode `{}`, {} baselines, {scope}; {size} bytes, {tier}\n",
        config.mode.label(),
        config.baselines.len()
    ))
}

/// Exit code of a sweep: findings in report mode fail a CI gate; failures are errors
pub fn sweep_exit_code(summary: &SweepSummary) -> i32 {
    if !summary.failed.is_empty() || !summary.complete {
        EXIT_ERROR
    } else if summary.has_findings() {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    }
}

/// The organisation perimeter for `settings`' config: the policy, and notes on what it does not
/// reflect
pub fn run_perimeter(settings: &Settings) -> Result<policy_core::Perimeter, String> {
    policy_core::perimeter(&settings.config).map_err(|e| e.to_string())
}

/// What `check` found, and the inputs it read
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckRun {
    /// Every finding, in input order
    pub entries: Vec<check::Entry>,
    /// The files read
    pub files: Vec<String>,
}

/// Reads and judges `check`'s inputs against `settings`
pub fn run_check(a: &args::CheckArgs, settings: &Settings) -> Result<CheckRun, String> {
    let judged_account = a.common.account.clone().or_else(|| settings.own_account.clone());
    let pseudo = iac::Pseudo {
        account: judged_account.clone(),
        region: a.region.clone(),
    };
    // Without an account the rules still need one: a placeholder no real grant names.
    let account = judged_account.unwrap_or_else(|| "000000000000".to_owned());
    let region = a.region.clone().unwrap_or_else(|| "us-east-1".to_owned());
    let partition = guard_adapter::engine::partition_of(&region);
    let opts = iac::ReadOptions {
        pseudo: pseudo.clone(),
        registry: a.registry,
        repository: a.repository.clone(),
    };
    let mut sources = Vec::new();
    let mut files = Vec::new();
    for file in &a.files {
        let (kind, found) = iac::read_file(file, &opts).map_err(|e| e.to_string())?;
        if kind != iac::InputKind::Policy && (a.registry || a.repository.is_some()) {
            return Err(format!(
                "`{file}` is {}: `--registry` and `--repository` apply to policy files (templates and plans say which policy each resource holds)",
                kind.describe()
            ));
        }
        sources.extend(found);
        files.push(file.clone());
    }
    let expect = |file: &str, want: iac::InputKind, opts: &iac::ReadOptions| -> Result<Vec<iac::Source>, String> {
        let (kind, found) = iac::read_file(file, opts).map_err(|e| e.to_string())?;
        if kind == want {
            Ok(found)
        } else {
            Err(iac::InputError::Expected {
                file: file.to_owned(),
                found: kind.describe(),
                expected: want.describe(),
            }
            .to_string())
        }
    };
    if let Some(file) = &a.registry_policy {
        let registry = iac::ReadOptions {
            registry: true,
            repository: None,
            ..opts.clone()
        };
        sources.extend(expect(file, iac::InputKind::Policy, &registry)?);
        files.push(file.clone());
    }
    if let Some(file) = &a.template {
        sources.extend(expect(file, iac::InputKind::CreationTemplates, &opts)?);
        files.push(file.clone());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let judging = judge::Judging {
        config: &settings.config,
        account: &account,
        region: &region,
        partition,
        now,
    };
    let entries = check::check(&sources, &judging).map_err(|e| e.to_string())?;
    Ok(CheckRun { entries, files })
}
