//! Structured audit log: one JSON object per line. Every removed grant is logged with the
//! statement verbatim before and after, plus the whole policy before and after, so a person can
//! restore anything the guard took away.

use serde_json::Value;
use std::{io::Write, sync::Mutex};

/// Where audit lines go
pub trait AuditSink: Send + Sync {
    /// Records one line
    fn emit(&self, line: Value);
}

/// Standard output, which Lambda sends to CloudWatch Logs
#[derive(Debug, Default)]
pub struct StdoutAudit;

impl AuditSink for StdoutAudit {
    fn emit(&self, line: Value) {
        let mut out = std::io::stdout().lock();
        // Losing stdout leaves nowhere to report to; the write itself is best effort.
        let _ = writeln!(out, "{line}");
    }
}

/// Standard error, for the command line, whose standard output is its result
#[derive(Debug, Default)]
pub struct StderrAudit;

impl AuditSink for StderrAudit {
    fn emit(&self, line: Value) {
        let mut out = std::io::stderr().lock();
        let _ = writeln!(out, "{line}");
    }
}

/// Keeps lines in memory, for tests
#[derive(Debug, Default)]
pub struct MemoryAudit {
    lines: Mutex<Vec<Value>>,
}

impl MemoryAudit {
    /// The lines so far
    pub fn lines(&self) -> Vec<Value> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl AuditSink for MemoryAudit {
    fn emit(&self, line: Value) {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }
}
