//! Rendering findings: `--output text|json|sarif`.

use crate::{check::Entry, sarif};
use clap::ValueEnum;
use guard_adapter::sweep::SweepSummary;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// How findings are printed
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// One finding a line, with its statement
    Text,
    /// JSON (for `sweep`, the whole summary)
    Json,
    /// SARIF 2.1.0, for code scanning
    Sarif,
}

/// `check`'s findings in `format`; `files` are the inputs, named when nothing was found
pub fn check(entries: &[Entry], files: &[String], format: Output) -> String {
    match format {
        Output::Text if entries.is_empty() => files.iter().map(|f| format!("{f}: no findings\n")).collect(),
        Output::Text => entries.iter().map(text_line).collect(),
        Output::Json => pretty(&json!({ "findings": entries.iter().map(json_entry).collect::<Vec<_>>() })),
        Output::Sarif => pretty(&sarif::log(&entries.iter().map(sarif::from_entry).collect::<Vec<_>>())),
    }
}

fn pretty(v: &Value) -> String {
    // Serialising a `Value` cannot fail: its keys are strings.
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

fn text_line(e: &Entry) -> String {
    let f = &e.finding;
    let mut out = e.file.clone();
    if let Some(line) = e.line {
        let _ = write!(out, ":{line}");
    }
    match &e.resource {
        Some(r) => {
            let _ = write!(out, ": {}", r.display());
        }
        None => {
            let _ = write!(out, ": {}", e.kind.as_str());
        }
    }
    if let Some(label) = &f.label {
        let _ = write!(out, ": {label}");
    }
    match f.note {
        Some(note) => {
            let _ = write!(out, ": {} ({note}): {}", f.rule, f.reason);
        }
        None => {
            let _ = write!(out, ": {}: {}", f.rule, f.reason);
        }
    }
    if let Some(p) = &f.principal {
        let _ = write!(out, " (principal `{p}`)");
    }
    if let Some(s) = &f.statement {
        let _ = write!(out, "\n    {s}");
    }
    out.push('\n');
    out
}

fn json_entry(e: &Entry) -> Value {
    let f = &e.finding;
    json!({
        "file": e.file,
        "line": e.line,
        "policy": e.kind.as_str(),
        "resource": e.resource.as_ref().map(|r| json!({ "name": r.name, "type": r.kind, "property": r.property })),
        "repository": e.repository,
        "statement_label": f.label,
        "rule": f.rule,
        "reason": f.reason,
        "principal": f.principal,
        "statement": f.statement,
        "note": f.note,
    })
}

/// The sweep's summary in `format`
pub fn sweep(summary: &SweepSummary, format: Output, account: &str, region: &str) -> String {
    match format {
        Output::Json => serde_json::to_value(summary).map(|v| pretty(&v)).unwrap_or_default(),
        Output::Sarif => pretty(&sarif::log(
            &summary
                .findings
                .iter()
                .map(|f| sarif::from_sweep(f, account, region))
                .collect::<Vec<_>>(),
        )),
        Output::Text => {
            let mut out = String::new();
            for f in &summary.findings {
                match &f.repository {
                    Some(r) => {
                        let _ = write!(out, "repository `{r}`");
                    }
                    None => out.push_str(f.target),
                }
                let _ = write!(out, ": {}: {}: {}", f.statement, f.rule, f.reason);
                if let Some(p) = &f.principal {
                    let _ = write!(out, " (principal `{p}`)");
                }
                out.push('\n');
            }
            for failure in &summary.failed {
                let _ = writeln!(
                    out,
                    "failed {}: {}",
                    failure
                        .repository
                        .as_deref()
                        .map_or_else(|| "registry".to_owned(), |r| format!("`{r}`")),
                    failure.error
                );
            }
            let _ = writeln!(
                out,
                "{} repositories ({} mode): {} compliant, {} changed, {} skipped, {} failed{}",
                summary.repositories_seen,
                summary.mode,
                summary.compliant,
                summary.changed,
                summary.skipped,
                summary.failed.len(),
                summary
                    .stopped_at
                    .as_deref()
                    .map_or_else(String::new, |s| format!("; stopped before `{s}`"))
            );
            out
        }
    }
}
