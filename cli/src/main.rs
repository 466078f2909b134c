//! Wiring only: arguments, settings, the SDK client, then the library.

use ecr_policy_guard::{check, load_settings, parse_args, progress_line, sweep_exit_code, Command, USAGE};
use guard_adapter::{sdk::SdkEcr, sweep::SweepOptions, Guard};
use policy_core::config::Mode;
use std::io::{IsTerminal, Write};

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(run(&args).await);
}

async fn run(args: &[String]) -> i32 {
    let command = match parse_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return 2;
        }
    };
    match command {
        Command::Help => {
            println!("{USAGE}");
            0
        }
        Command::Check {
            file,
            registry,
            repository,
            account,
            config,
        } => {
            let settings = match load_settings(config.as_deref(), env) {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            let account = account
                .or(settings.own_account.clone())
                .unwrap_or_else(|| "000000000000".into());
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => return fail(&format!("cannot read `{file}`: {e}")),
            };
            match check(&text, &settings.config, &account, registry, repository.as_deref()) {
                Ok(report) if report.findings.is_empty() => {
                    for n in &report.notes {
                        println!("{file}: note: {n}");
                    }
                    println!("{file}: no findings");
                    0
                }
                Ok(report) => {
                    for f in &report.findings {
                        println!("{file}: {f}");
                    }
                    1
                }
                Err(e) => fail(&format!("{file}: {e}")),
            }
        }
        Command::Sweep {
            report,
            account,
            concurrency,
            config,
        } => {
            let mut settings = match load_settings(config.as_deref(), env) {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            if report {
                settings.config.mode = policy_core::Modes::all(Mode::Report);
            }
            let Some(account) = account.or(settings.own_account.clone()) else {
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
            // Standard output carries the summary; the audit trail goes to standard error.
            guard.audit = std::sync::Arc::new(guard_adapter::audit::StderrAudit);
            let tty = std::io::stderr().is_terminal();
            let progress = |done: usize, total: usize| {
                if tty {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "{}", progress_line(done, total));
                    let _ = err.flush();
                }
            };
            let options = SweepOptions {
                concurrency,
                deadline: None,
            };
            let summary = match guard.sweep(&account, &region, options, &progress).await {
                Ok(s) => s,
                Err(e) => return fail(&e.to_string()),
            };
            if tty {
                eprintln!();
            }
            match serde_json::to_string_pretty(&summary) {
                Ok(text) => println!("{text}"),
                Err(e) => return fail(&e.to_string()),
            }
            sweep_exit_code(&summary)
        }
    }
}

fn fail(message: &str) -> i32 {
    eprintln!("error: {message}");
    2
}
