//! Security Hub import of the findings handlers publish. The event handlers do not call Security
//! Hub: its SDK client alone made their binaries half as large again, and an import is not
//! part of a repair. They publish each [`FindingRecord`] as an EventBridge event; the
//! `import-findings` function receives those of `trigger` `event` through a rule on the same bus
//! and imports them here, with EventBridge's retries and the dead-letter queue behind it. The
//! sweep imports its own findings directly (it also reads and resolves them).
//!
//! The event is checked before anything is imported: the source and detail-type, every field
//! of the record, and the closed sets its rule, target, disposition, mode and trigger come from.
//! A finding's `UpdatedAt` is the time the guard saw it, so an older event delivered late never
//! overwrites a newer state (Security Hub keeps the later `UpdatedAt`).

use super::{asff::Asff, FindingRecord, FindingsHub, EVENT_DETAIL_TYPE, EVENT_SOURCE, ID_PREFIX};
use crate::port::PortError;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use policy_core::{Mode, Rule};
use serde::Deserialize;
use serde_json::Value;

/// Why a finding event was not imported
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not one of the guard's finding events
    #[error("event `{source_name}` / `{detail_type}` is not an ecr-policy-guard finding (want `{EVENT_SOURCE}` / `{EVENT_DETAIL_TYPE}`)")]
    NotAFinding {
        /// The event's `source`
        source_name: String,
        /// The event's `detail-type`
        detail_type: String,
    },
    /// The detail is not a finding record
    #[error("finding event detail is malformed at `{path}`: {message}")]
    Malformed {
        /// Where in the detail
        path: String,
        /// What is wrong
        message: String,
    },
    /// A field outside its closed set
    #[error("finding has an unknown {field} `{value}`")]
    Unknown {
        /// The field
        field: &'static str,
        /// Its value
        value: String,
    },
    /// Security Hub refused the finding
    #[error("security hub refused finding `{id}`: `{code}` {message}")]
    Refused {
        /// The finding's id
        id: String,
        /// Security Hub's error code
        code: String,
        /// Its message
        message: String,
    },
    /// The call failed (after the SDK's retries)
    #[error(transparent)]
    Port(#[from] PortError),
}

/// The record as it travels in an event's `detail`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    id: String,
    account: String,
    region: String,
    target: String,
    #[serde(default)]
    repository: Option<String>,
    resource: String,
    rule: String,
    // Severity and title follow from the rule; they must be there (the record carries them for
    // people and rules on the bus) but are not trusted over it.
    #[allow(dead_code)]
    severity: serde::de::IgnoredAny,
    #[allow(dead_code)]
    title: serde::de::IgnoredAny,
    reason: String,
    #[serde(default)]
    principal: Option<String>,
    statement_label: String,
    statement: Value,
    rewritten: Value,
    disposition: String,
    mode: Mode,
    trigger: String,
    observed_at: String,
}

/// Where and why a payload is not the shape wanted
fn malformed(e: serde_path_to_error::Error<serde_json::Error>) -> ImportError {
    ImportError::Malformed {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    }
}

fn known(field: &'static str, value: &str, set: &[&'static str]) -> Result<&'static str, ImportError> {
    set.iter()
        .copied()
        .find(|k| *k == value)
        .ok_or_else(|| ImportError::Unknown {
            field,
            value: value.to_owned(),
        })
}

/// Every [`policy_core::Disposition`]'s name, and `added` (a repair)
const DISPOSITIONS: &[&str] = &["removed", "pinned", "reported", "kept", "excepted", "added"];

impl FindingRecord {
    /// The record an event's `detail` holds, checked field by field
    pub fn from_detail(detail: &Value) -> Result<FindingRecord, ImportError> {
        let w: Wire = serde_path_to_error::deserialize(detail).map_err(malformed)?;
        let rule = Rule::from_name(&w.rule).ok_or_else(|| ImportError::Unknown {
            field: "rule",
            value: w.rule.clone(),
        })?;
        let target = known("target", &w.target, &["repository", "registry", "template"])?;
        // The id names the account, Region and target it is about: a record whose id says
        // otherwise would file its finding under someone else's.
        let scope = format!("{ID_PREFIX}/{}/{}/{target}/{}/", w.account, w.region, rule.as_str());
        if !w.id.starts_with(&scope) {
            return Err(ImportError::Malformed {
                path: "id".into(),
                message: format!("`{}` does not start with `{scope}`", w.id),
            });
        }
        if super::parse_rfc3339(&w.observed_at).is_none() {
            return Err(ImportError::Malformed {
                path: "observed_at".into(),
                message: format!("`{}` is not an RFC 3339 UTC time", w.observed_at),
            });
        }
        Ok(FindingRecord {
            id: w.id,
            account: w.account,
            region: w.region,
            target,
            repository: w.repository,
            resource: w.resource,
            rule: rule.as_str(),
            severity: rule.severity().as_str(),
            title: rule.description(),
            reason: w.reason,
            principal: w.principal,
            statement_label: w.statement_label,
            statement: w.statement,
            rewritten: w.rewritten,
            disposition: known("disposition", &w.disposition, DISPOSITIONS)?,
            mode: w.mode.as_str(),
            trigger: known("trigger", &w.trigger, &["event", "sweep"])?,
            observed_at: w.observed_at,
        })
    }
}

/// What the importer did with one event
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Imported {
    /// The finding was imported
    Imported {
        /// The finding's id
        id: String,
        /// `Compliance.Status` as imported
        compliance: String,
        /// `RecordState` as imported
        record_state: String,
    },
    /// A sweep's finding: the sweep imports those itself (with their `CreatedAt`)
    Skipped {
        /// The finding's id
        id: String,
        /// Why
        reason: String,
    },
}

/// Imports the finding of one EventBridge event as Lambda receives it; the finding's
/// `UpdatedAt` is when the guard saw it. An error means nothing was imported.
pub async fn import_event(payload: &Value, hub: &dyn FindingsHub) -> Result<Imported, ImportError> {
    let event: EventBridgeEvent<Value> = serde_path_to_error::deserialize(payload).map_err(malformed)?;
    if event.source != EVENT_SOURCE || event.detail_type != EVENT_DETAIL_TYPE {
        return Err(ImportError::NotAFinding {
            source_name: event.source,
            detail_type: event.detail_type,
        });
    }
    let record = FindingRecord::from_detail(&event.detail)?;
    if record.trigger == "sweep" {
        return Ok(Imported::Skipped {
            id: record.id,
            reason: "a sweep's findings are imported by the sweep".into(),
        });
    }
    let at = super::parse_rfc3339(&record.observed_at).unwrap_or_default();
    let finding = Asff::of(&record, None, at);
    let refused = hub.import(std::slice::from_ref(&finding)).await?;
    if let Some(f) = refused.into_iter().next() {
        return Err(ImportError::Refused {
            id: f.id,
            code: f.code,
            message: f.message,
        });
    }
    Ok(Imported::Imported {
        id: finding.id,
        compliance: finding.compliance,
        record_state: finding.record_state,
    })
}

impl ImportError {
    /// True when trying the same event again may succeed (only a failed call)
    pub fn is_retryable(&self) -> bool {
        matches!(self, ImportError::Port(e) if e.is_retryable())
    }
}

impl From<ImportError> for lambda_runtime::Diagnostic {
    fn from(e: ImportError) -> Self {
        let kind = match &e {
            ImportError::NotAFinding { .. } | ImportError::Malformed { .. } | ImportError::Unknown { .. } => {
                "MalformedEvent"
            }
            ImportError::Refused { .. } => "FindingRefused",
            ImportError::Port(_) => "SecurityHubError",
        };
        let class = if e.is_retryable() { "Retryable" } else { "NonRetryable" };
        lambda_runtime::Diagnostic {
            error_type: format!("{class}.{kind}"),
            error_message: e.to_string(),
        }
    }
}
