//! The command line's arguments (clap derive): `sweep`, `check`, `perimeter`, `completions`.

use crate::output::Output;
use clap::{parser::ValueSource, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// Keep ECR repository and registry policies the way the organisation wants them
#[derive(Debug, Parser)]
#[command(
    name = "ecr-policy-guard",
    version,
    after_help = "The config comes from --config FILE, else GUARD_CONFIG / GUARD_CONFIG_FILE. \
                  The account from --account, else GUARD_ACCOUNT_ID.\nExit: 0 clean, 1 findings, 2 errors."
)]
pub struct Cli {
    /// What to do
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sweep every repository and the registry policy of the account, with the standard AWS
    /// credential chain and AWS_ENDPOINT_URL; prints one JSON summary
    #[command(after_help = "Exit: 0 clean (or fixed), 1 findings in report mode, 2 errors or an incomplete sweep.")]
    Sweep(SweepArgs),
    /// Lint policies offline against the config: a policy file, a CloudFormation or SAM template,
    /// a Terraform plan (`terraform show -json`), or repository creation templates; prints each
    /// finding with its statement
    #[command(
        after_help = "Values known only at deployment (CloudFormation intrinsics, Terraform's \
                            unknown after apply) are findings too, never taken as clean.\n\
                            Exit: 0 clean, 1 findings, 2 errors."
    )]
    Check(CheckArgs),
    /// Write the organisation perimeter: a resource control policy (RCP) that denies ECR access
    /// outside what the config allows, in every member account of `org_id`
    #[command(
        after_help = "Attach it with `aws organizations create-policy --type RESOURCE_CONTROL_POLICY \
                            --content file://FILE` and `aws organizations attach-policy`. Notes on what \
                            the policy cannot express go to standard error.\n\
                            Exit: 0 written, 2 errors (no `org_id`, over the 5,120-character limit)."
    )]
    Perimeter(PerimeterArgs),

    /// Config documents: `config validate FILE` checks one before it goes into an SSM parameter
    /// (`GUARD_CONFIG_PARAMETER`) or `GUARD_CONFIG_FILE`
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a completion script for a shell
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

/// `config`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load a config document exactly as the functions do; print what it configures
    #[command(after_help = "Exit: 0 valid, 2 invalid (the message names the field) or unreadable.")]
    Validate {
        /// The JSON config document
        #[arg(value_name = "FILE")]
        file: String,
    },
}

/// Options `sweep` and `check` share
#[derive(Clone, Debug, Args)]
pub struct Common {
    /// The config file (else the inline JSON in GUARD_CONFIG)
    #[arg(long, env = "GUARD_CONFIG_FILE", value_name = "FILE")]
    pub config: Option<String>,
    /// The account that owns the registry
    #[arg(long, env = "GUARD_ACCOUNT_ID", value_name = "ID", value_parser = account_id)]
    pub account: Option<String>,
}

/// `sweep`
#[derive(Clone, Debug, Args)]
pub struct SweepArgs {
    /// Write nothing, whatever the config's mode
    #[arg(long)]
    pub report: bool,
    /// Repositories handled at once
    #[arg(long, env = "GUARD_SWEEP_CONCURRENCY", value_name = "N", default_value_t = 8, value_parser = positive)]
    pub concurrency: usize,
    /// `json` prints the whole summary; `text` and `sarif` its findings
    #[arg(long, value_enum, default_value_t = Output::Json)]
    pub output: Output,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: Common,
}

/// `check`
#[derive(Clone, Debug, Args)]
#[command(group = clap::ArgGroup::new("input").required(true).multiple(true).args(["files", "template", "registry_policy"]))]
pub struct CheckArgs {
    /// Policy files, CloudFormation/SAM templates (YAML or JSON), Terraform plans (JSON)
    #[arg(value_name = "FILE")]
    pub files: Vec<String>,
    /// Judge policy files as registry policies
    #[arg(long, conflicts_with = "registry_policy")]
    pub registry: bool,
    /// The repository a policy file is for: exemption and the missing baseline statements
    #[arg(long, value_name = "NAME")]
    pub repository: Option<String>,
    /// The registry policy the repository is also reached through: its findings are reported too
    #[arg(long, value_name = "FILE")]
    pub registry_policy: Option<String>,
    /// The output of `aws ecr describe-repository-creation-templates`: each template's policy
    /// judged as a repository policy, its prefix as the repository name
    #[arg(long, value_name = "FILE")]
    pub template: Option<String>,
    /// Region for `AWS::Region` / `AWS::Partition` in templates and for baselines
    #[arg(long, env = "AWS_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// How findings are printed
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: Common,
}

/// `perimeter`
#[derive(Clone, Debug, Args)]
pub struct PerimeterArgs {
    /// The config file (else the inline JSON in GUARD_CONFIG)
    #[arg(long, env = "GUARD_CONFIG_FILE", value_name = "FILE")]
    pub config: Option<String>,
    /// Write the policy to this file instead of standard output
    #[arg(long, value_name = "FILE")]
    pub output: Option<String>,
}

fn account_id(s: &str) -> Result<String, String> {
    if policy_core::config::is_account_id(s) {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not a 12-digit account id"))
    }
}

fn positive(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("must be a positive number, found `{s}`"))
}

/// Parsed arguments, and whether `--config` was given on the command line (rather than taken
/// from `GUARD_CONFIG_FILE`, which `Settings` reads itself, with `GUARD_CONFIG`)
#[derive(Debug)]
pub struct Parsed {
    /// The arguments
    pub cli: Cli,
    /// `--config` came from the command line
    pub config_on_command_line: bool,
}

/// Parses arguments, the program name first
pub fn parse<I, T>(args: I) -> Result<Parsed, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Cli::command().try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    let config_on_command_line = matches
        .subcommand()
        .map(|(_, m): (&str, &ArgMatches)| m)
        .and_then(|m| m.try_get_raw("config").ok().flatten().map(|_| m.value_source("config")))
        .flatten()
        == Some(ValueSource::CommandLine);
    Ok(Parsed {
        cli,
        config_on_command_line,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn arguments() {
        let p = parse([
            "epg",
            "sweep",
            "--report",
            "--account",
            "123456789012",
            "--concurrency",
            "4",
        ])
        .unwrap();
        let Command::Sweep(s) = p.cli.command else { panic!() };
        assert!(s.report);
        assert_eq!(s.concurrency, 4);
        assert_eq!(s.output, Output::Json);
        assert_eq!(s.common.account.as_deref(), Some("123456789012"));
        let p = parse(["epg", "check", "p.json", "--config", "c.json", "--output", "sarif"]).unwrap();
        assert!(p.config_on_command_line);
        let Command::Check(c) = p.cli.command else { panic!() };
        assert_eq!(c.files, ["p.json"]);
        assert_eq!(c.output, Output::Sarif);
        let err = |args: &[&str]| parse(args.iter().copied()).unwrap_err();
        assert_eq!(err(&["epg", "check"]).exit_code(), 2, "an input is required");
        assert_eq!(err(&["epg", "sweep", "--colour"]).exit_code(), 2);
        assert!(err(&["epg", "sweep", "--concurrency", "0"])
            .to_string()
            .contains("must be a positive number, found `0`"));
        assert!(err(&["epg", "check", "p.json", "--account", "12345"])
            .to_string()
            .contains("`12345` is not a 12-digit account id"));
        assert_eq!(
            err(&["epg", "check", "p.json", "--registry", "--registry-policy", "r.json"]).exit_code(),
            2
        );
        assert_eq!(err(&["epg", "--help"]).exit_code(), 0);
        let p = parse(["epg", "perimeter", "--config", "c.json", "--output", "rcp.json"]).unwrap();
        assert!(p.config_on_command_line);
        let Command::Perimeter(a) = p.cli.command else { panic!() };
        assert_eq!(a.output.as_deref(), Some("rcp.json"));
        assert_eq!(err(&["epg", "perimeter", "--account", "123456789012"]).exit_code(), 2);
        let p = parse(["epg", "config", "validate", "guard.json"]).unwrap();
        let Command::Config(ConfigCommand::Validate { file }) = p.cli.command else {
            panic!()
        };
        assert_eq!(file, "guard.json");
        assert_eq!(err(&["epg", "config", "validate"]).exit_code(), 2);
    }
}
