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

/// The line and its newline as one buffer, so it reaches the stream in one write (standard
/// error is unbuffered: formatting straight into it costs a system call per fragment)
fn one_line(line: &Value) -> Vec<u8> {
    let mut buf = line.to_string().into_bytes();
    buf.push(b'\n');
    buf
}

impl AuditSink for StdoutAudit {
    fn emit(&self, line: Value) {
        // Losing stdout leaves nowhere to report to; the write itself is best effort.
        let _ = std::io::stdout().lock().write_all(&one_line(&line));
    }
}

/// Standard error, for the command line, whose standard output is its result
#[derive(Debug, Default)]
pub struct StderrAudit;

impl AuditSink for StderrAudit {
    fn emit(&self, line: Value) {
        let _ = std::io::stderr().lock().write_all(&one_line(&line));
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
