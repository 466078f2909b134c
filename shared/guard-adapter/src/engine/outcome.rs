//! What a handler returns and how it fails.

use crate::{event::EventError, port::PortError};
use policy_core::{plan::PlanError, Finding, ParseError};
use serde::Serialize;
use serde_json::Value;

/// What a handler did
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeAction {
    /// A policy was written or deleted
    Written,
    /// The live policy was already right
    Unchanged,
    /// Not ours to act on (another event, another registry, exempt, refused)
    Skipped,
    /// Nothing was written, but enforcing a report-mode rule would write: what was logged
    Reported,
}

/// One finding as the outcome reports it (the audit log has the statement verbatim)
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GrantFinding {
    /// The rule
    pub rule: &'static str,
    /// Why
    pub reason: String,
    /// The statement label
    pub statement: String,
    /// The principal concerned, absent when the whole statement is
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// `removed`, `pinned`, `reported` (would be removed or pinned), `kept` (by configuration)
    /// or `excepted` (by an approved exception)
    pub disposition: &'static str,
}

impl From<&Finding> for GrantFinding {
    fn from(f: &Finding) -> Self {
        GrantFinding {
            rule: f.rule.as_str(),
            reason: f.reason.clone(),
            statement: f.label.clone(),
            principal: f.principal.clone(),
            disposition: f.disposition.as_str(),
        }
    }
}

/// The JSON a handler returns
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    /// What happened
    pub action: OutcomeAction,
    /// `repository`, `registry` or `template`, absent when skipped before reading anything
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<&'static str>,
    /// The repository (or a creation template's prefix)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// `put` or `delete` when written, or what would be written when reported
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write: Option<&'static str>,
    /// Every finding of the guard rules, with what was done
    pub findings: Vec<GrantFinding>,
    /// Statements added (baseline, replication grants)
    pub added: Vec<Value>,
    /// Statements that enforcing a report-mode repair would add
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_add: Vec<Value>,
    /// Why it was skipped, or what a person should know
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Every finding and repair as the outlets receive it (delivered by the caller: a handler
    /// at once, the sweep in batches)
    #[serde(skip)]
    pub records: Vec<crate::outlets::FindingRecord>,
}

impl Outcome {
    /// Skipped, with the reason
    pub fn skipped(reason: impl Into<String>) -> Outcome {
        Outcome {
            action: OutcomeAction::Skipped,
            target: None,
            repository: None,
            write: None,
            findings: vec![],
            added: vec![],
            would_add: vec![],
            reason: Some(reason.into()),
            records: vec![],
        }
    }

    /// Findings that removed, pinned or would remove or pin a grant
    pub fn changes(&self) -> impl Iterator<Item = &GrantFinding> {
        self.findings
            .iter()
            .filter(|f| matches!(f.disposition, "removed" | "pinned" | "reported"))
    }
}

/// A handler failure
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// The event is not one we can read: never retried
    #[error(transparent)]
    Event(#[from] EventError),
    /// An ECR call failed
    #[error("ecr {0}")]
    Ecr(#[from] PortError),
    /// The live policy is not a policy we can read: nothing is written
    #[error("live {what} cannot be read: {source}")]
    LivePolicy {
        /// Which policy
        what: String,
        /// Why
        source: ParseError,
    },
    /// No acceptable plan (oversize, unknown operator): nothing is written
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Another writer kept changing the policy between our read and our write
    #[error("the policy kept changing under us after {0} attempts")]
    Contended(usize),
    /// The registry cannot be reached (central mode: the member role is missing or refused)
    #[error(transparent)]
    Access(#[from] crate::access::AccessError),
    /// The organisation sweep cannot be planned
    #[error(transparent)]
    SweepPlan(#[from] crate::org::PlanError),
    /// A continued sweep started no repository before its deadline: continuing again would loop
    #[error("the sweep continued at `{0}` started no repository before its deadline")]
    NoProgress(String),
}

impl HandlerError {
    /// True when the same event may succeed later
    pub fn is_retryable(&self) -> bool {
        match self {
            HandlerError::Ecr(e) => e.is_retryable() || matches!(e, PortError::RepositoryNotFound(_)),
            HandlerError::Contended(_) => true,
            HandlerError::Access(e) => e.is_retryable(),
            HandlerError::SweepPlan(e) => matches!(e, crate::org::PlanError::Directory(_)),
            _ => false,
        }
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        let kind = match &e {
            HandlerError::Event(_) => "MalformedEvent",
            HandlerError::Ecr(_) => "EcrError",
            HandlerError::LivePolicy { .. } => "UnreadablePolicy",
            HandlerError::Plan(_) => "PlanRefused",
            HandlerError::Contended(_) => "Contended",
            HandlerError::Access(_) => "AccessDenied",
            HandlerError::SweepPlan(_) => "SweepPlan",
            HandlerError::NoProgress(_) => "NoProgress",
        };
        let class = if e.is_retryable() { "Retryable" } else { "NonRetryable" };
        lambda_runtime::Diagnostic {
            error_type: format!("{class}.{kind}"),
            error_message: e.to_string(),
        }
    }
}
