//! Wiring only: arguments, settings, the SDK client, then the library.

use clap::CommandFactory;
use ecr_policy_guard::{
    args::{self, Cli, Command, ConfigCommand},
    load_settings, output,
    progress::{Progress, ProgressAudit},
    run_check, run_perimeter, sweep_exit_code, validate_config, EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS,
};
use guard_adapter::{sdk::SdkEcr, sweep::SweepOptions, Guard};
use policy_core::config::Mode;
use std::io::{IsTerminal, Write};

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

#[tokio::main]
async fn main() {
    std::process::exit(run().await);
}

async fn run() -> i32 {
    let parsed = match args::parse(std::env::args_os()) {
        Ok(p) => p,
        Err(e) => {
            // Help and version go to standard output with 0; usage errors to standard error with 2.
            let _ = e.print();
            return e.exit_code();
        }
    };
    // `GUARD_CONFIG_FILE` is read by the settings themselves, beside `GUARD_CONFIG`.
    let config_flag = |c: &args::Common| c.config.clone().filter(|_| parsed.config_on_command_line);
    match parsed.cli.command {
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "ecr-policy-guard", &mut std::io::stdout());
            EXIT_CLEAN
        }
        Command::Perimeter(ref a) => {
            let flag = a.config.clone().filter(|_| parsed.config_on_command_line);
            let settings = match load_settings(flag.as_deref(), env) {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            let perimeter = match run_perimeter(&settings) {
                Ok(p) => p,
                Err(e) => return fail(&e),
            };
            for note in &perimeter.notes {
                eprintln!("note: {note}");
            }
            let text = perimeter.text();
            match &a.output {
                Some(path) => match std::fs::write(path, text) {
                    Ok(()) => EXIT_CLEAN,
                    Err(e) => fail(&format!("cannot write `{path}`: {e}")),
                },
                None => {
                    print(&text);
                    EXIT_CLEAN
                }
            }
        }
        Command::Config(ConfigCommand::Validate { ref file }) => match validate_config(file) {
            Ok(line) => {
                print(&line);
                EXIT_CLEAN
            }
            Err(e) => fail(&e),
        },
        Command::Check(ref a) => {
            let settings = match load_settings(config_flag(&a.common).as_deref(), env) {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            match run_check(a, &settings) {
                Ok(run) => {
                    print(&output::check(&run.entries, &run.files, a.output));
                    // Findings kept by configuration or an approved exception inform; they do not fail.
                    if run.entries.iter().all(|e| e.finding.note.is_some()) {
                        EXIT_CLEAN
                    } else {
                        EXIT_FINDINGS
                    }
                }
                Err(e) => fail(&e),
            }
        }
        Command::Sweep(ref a) => {
            let mut settings = match load_settings(config_flag(&a.common).as_deref(), env) {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            if a.report {
                settings.config.mode = policy_core::Modes::all(Mode::Report);
            }
            let Some(account) = a.common.account.clone().or(settings.own_account.clone()) else {
                return fail("pass `--account` or set `GUARD_ACCOUNT_ID`");
            };
            let sdk = guard_adapter::sdk_config().await;
            let Some(region) = sdk.region().map(|r| r.to_string()) else {
                return fail("no region: set `AWS_REGION` or a profile region");
            };
            let mut guard = Guard::new(
                SdkEcr::new(aws_sdk_ecr::Client::new(&sdk), Some(account.clone())),
                settings,
            );
            let progress = Progress::new(std::io::stderr().is_terminal());
            // Standard output carries the result; the audit trail goes to standard error.
            guard.audit = std::sync::Arc::new(ProgressAudit {
                progress: progress.clone(),
            });
            let options = SweepOptions {
                concurrency: a.concurrency,
                deadline: None,
                start_at: None,
            };
            let result = guard
                .sweep(&account, &region, options, &|done, total| progress.update(done, total))
                .await;
            progress.finish();
            match result {
                Ok(summary) => {
                    print(&output::sweep(&summary, a.output, &account, &region));
                    sweep_exit_code(&summary)
                }
                Err(e) => fail(&e.to_string()),
            }
        }
    }
}

fn print(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn fail(message: &str) -> i32 {
    eprintln!("error: {message}");
    EXIT_ERROR
}
