//! The sweep's progress bar on standard error (count, rate, ETA), hidden when standard error is
//! not a terminal; the audit trail is written above the bar rather than through it.

use guard_adapter::audit::AuditSink;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::io::Write;

/// A progress bar for `progress(done, total)`
#[derive(Clone, Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// Drawn on standard error when `visible` (standard error is a terminal), else hidden
    pub fn new(visible: bool) -> Progress {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        // The template is a constant, checked by a test; a bad one falls back to the default.
        if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
            bar.set_style(style.progress_chars("#>-"));
        }
        bar.set_message("repositories");
        Progress { bar }
    }

    /// What the sweep calls as repositories finish
    pub fn update(&self, done: usize, total: usize) {
        self.bar.set_length(u64::try_from(total).unwrap_or(u64::MAX));
        self.bar.set_position(u64::try_from(done).unwrap_or(u64::MAX));
    }

    /// Removes the bar
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Whether it draws anything
    pub fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }

    /// Position and length so far
    pub fn state(&self) -> (u64, Option<u64>) {
        (self.bar.position(), self.bar.length())
    }
}

const TEMPLATE: &str = "[{elapsed_precise}] [{bar:30}] {pos}/{len} {msg} ({per_sec}, ETA {eta})";

/// Audit lines to standard error, drawn above the progress bar
pub struct ProgressAudit {
    /// The bar to keep clear of
    pub progress: Progress,
}

impl AuditSink for ProgressAudit {
    fn emit(&self, line: Value) {
        let mut buf = line.to_string().into_bytes();
        buf.push(b'\n');
        self.progress.bar.suspend(|| {
            let _ = std::io::stderr().lock().write_all(&buf);
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn template_is_valid_and_counts() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
        let p = Progress::new(false);
        assert!(p.is_hidden());
        p.update(3, 10);
        assert_eq!(p.state(), (3, Some(10)));
    }
}
