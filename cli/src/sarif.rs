//! SARIF 2.1.0 output (OASIS): one run of the tool `ecr-policy-guard`, a rule per guard rule,
//! a result per finding with its level, message, location and a partial fingerprint that stays
//! the same for the same resource, rule and principal, so code scanning tracks an alert across
//! runs.

use crate::{
    check::Entry,
    iac::{UNKNOWN_AFTER_APPLY, UNRESOLVED},
};
use guard_adapter::sweep::Finding as SweepFinding;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use policy_core::guard::{Rule, Severity};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The schema the output names
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The name of the fingerprint in `partialFingerprints`; the suffix changes with its recipe
pub const FINGERPRINT: &str = "ecrPolicyGuard/v1";

/// A rule as SARIF describes it
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RuleInfo {
    /// The id: the rule's name
    pub id: &'static str,
    /// One sentence
    pub description: &'static str,
    /// `error` or `warning`
    pub level: &'static str,
    /// GitHub code scanning's `security-severity`, 0.0 to 10.0
    pub severity: &'static str,
}

const fn info(id: &'static str, description: &'static str, level: &'static str, severity: &'static str) -> RuleInfo {
    RuleInfo {
        id,
        description,
        level,
        severity,
    }
}

/// Every guard rule, in the order the README lists them
/// How SARIF shows a guard rule: its description and severity come from `policy-core`, so a
/// new rule needs nothing here
pub fn guard_rule(rule: Rule) -> RuleInfo {
    let (level, severity) = match rule.severity() {
        Severity::Critical => ("error", "9.0"),
        Severity::High => ("error", "7.5"),
        Severity::Medium => ("warning", "5.0"),
        Severity::Low => ("note", "2.0"),
    };
    info(rule.as_str(), rule.description(), level, severity)
}

/// The command line's own rules
pub const CLI_RULES: [RuleInfo; 5] = [
    info(
        "unknown-operator",
        "A condition operator IAM does not know: the guard refuses such a policy",
        "error",
        "4.0",
    ),
    info(
        "unknown-action",
        "An `ecr:` action pattern that covers no ECR action",
        "warning",
        "3.0",
    ),
    info(
        "missing-baseline",
        "A statement of the repository's baseline is missing",
        "warning",
        "3.0",
    ),
    info(
        UNRESOLVED,
        "A value known only when CloudFormation deploys the template: not judged",
        "warning",
        "3.0",
    ),
    info(
        UNKNOWN_AFTER_APPLY,
        "A value Terraform knows only after apply: not judged",
        "warning",
        "3.0",
    ),
];

/// Every rule
pub fn rules() -> Vec<RuleInfo> {
    Rule::ALL.iter().map(|r| guard_rule(*r)).chain(CLI_RULES).collect()
}

/// One result, before it is SARIF
#[derive(Clone, Debug, PartialEq)]
pub struct Result {
    /// The rule's id
    pub rule: String,
    /// The message
    pub message: String,
    /// The file, when the finding is in one
    pub file: Option<String>,
    /// The line, when known
    pub line: Option<usize>,
    /// The resource: (name, fully qualified name)
    pub resource: Option<(String, String)>,
    /// What identifies the finding across runs
    pub fingerprint: Vec<String>,
    /// Extra properties
    pub properties: Map<String, Value>,
}

// RFC 3986 unreserved characters and the path separator stay; the rest is percent-encoded.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// A file path as a URI reference: relative paths stay relative (to the repository root, where
/// CI runs the check), absolute ones become `file://` URIs
pub fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let path = path.strip_prefix("./").unwrap_or(&path);
    let encoded = utf8_percent_encode(path, PATH).to_string();
    if path.starts_with('/') {
        format!("file://{encoded}")
    } else {
        encoded
    }
}

fn fingerprint(parts: &[String]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The SARIF log of `results`
pub fn log(results: &[Result]) -> Value {
    let known = rules();
    let mut ids: Vec<String> = known.iter().map(|r| r.id.to_owned()).collect();
    let mut descriptors: Vec<Value> = known
        .iter()
        .map(|r| descriptor(r.id, r.description, r.level, r.severity))
        .collect();
    for r in results {
        // A rule this list does not know yet still gets a descriptor.
        if !ids.contains(&r.rule) {
            ids.push(r.rule.clone());
            descriptors.push(descriptor(&r.rule, &r.rule, "warning", "5.0"));
        }
    }
    let index_of = |rule: &str| ids.iter().position(|id| id == rule);
    let level_of = |rule: &str| known.iter().find(|k| k.id == rule).map_or("warning", |k| k.level);
    let sarif_results: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut location = Map::new();
            if let Some(file) = &r.file {
                let mut physical = Map::new();
                physical.insert("artifactLocation".into(), json!({ "uri": uri(file) }));
                if let Some(line) = r.line.filter(|l| *l > 0) {
                    physical.insert("region".into(), json!({ "startLine": line }));
                }
                location.insert("physicalLocation".into(), Value::Object(physical));
            }
            if let Some((name, full)) = &r.resource {
                location.insert(
                    "logicalLocations".into(),
                    json!([{ "name": name, "fullyQualifiedName": full, "kind": "resource" }]),
                );
            }
            let mut result = Map::new();
            result.insert("ruleId".into(), json!(r.rule));
            if let Some(i) = index_of(&r.rule) {
                result.insert("ruleIndex".into(), json!(i));
            }
            // A finding kept by configuration or an approved exception is a note, whatever its rule.
            let level = if r.properties.contains_key("note") {
                "note"
            } else {
                level_of(&r.rule)
            };
            result.insert("level".into(), json!(level));
            result.insert("message".into(), json!({ "text": r.message }));
            result.insert("locations".into(), json!([Value::Object(location)]));
            result.insert(
                "partialFingerprints".into(),
                json!({ FINGERPRINT: fingerprint(&r.fingerprint) }),
            );
            if !r.properties.is_empty() {
                result.insert("properties".into(), Value::Object(r.properties.clone()));
            }
            Value::Object(result)
        })
        .collect();
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "ecr-policy-guard",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": descriptors,
            }},
            "columnKind": "unicodeCodePoints",
            "results": sarif_results,
        }],
    })
}

fn descriptor(id: &str, description: &str, level: &str, severity: &str) -> Value {
    json!({
        "id": id,
        "name": id,
        "shortDescription": { "text": description },
        "defaultConfiguration": { "level": level },
        "properties": { "tags": ["security"], "security-severity": severity },
    })
}

/// A `check` finding as a result
pub fn from_entry(e: &Entry) -> Result {
    let f = &e.finding;
    let resource = e
        .resource
        .as_ref()
        .map(|r| (r.name.clone(), format!("{}.{}", r.name, r.property)));
    let mut message = format!("{}: {}", f.rule, f.reason);
    if let Some(p) = &f.principal {
        message.push_str(&format!(" (principal `{p}`)"));
    }
    let whose = match &e.resource {
        Some(r) => r.display(),
        None => format!("the {}", e.kind.as_str()),
    };
    match &f.label {
        Some(l) => message.push_str(&format!(", in {l} of {whose}")),
        None => message.push_str(&format!(", in {whose}")),
    }
    // The resource is its name in infrastructure code, else the file (and the repository).
    let identity = match &e.resource {
        Some(r) => format!("{}:{}", r.kind, r.name),
        None => format!("{}:{}", e.file, e.repository.as_deref().unwrap_or("")),
    };
    let mut properties = Map::new();
    properties.insert("policy".into(), json!(e.kind.as_str()));
    if let Some(note) = e.finding.note {
        properties.insert("note".into(), json!(note));
    }
    if let Some(p) = &f.principal {
        properties.insert("principal".into(), json!(p));
    }
    if let Some(s) = &f.statement {
        properties.insert("statement".into(), s.clone());
    }
    Result {
        rule: f.rule.clone(),
        message,
        file: Some(e.file.clone()),
        line: e.line,
        resource,
        fingerprint: vec![
            identity,
            e.kind.as_str().to_owned(),
            f.rule.clone(),
            f.principal.clone().or_else(|| f.detail.clone()).unwrap_or_default(),
        ],
        properties,
    }
}

/// A sweep finding as a result: no file, the repository (or registry) as a logical location
pub fn from_sweep(f: &SweepFinding, account: &str, region: &str) -> Result {
    let (name, full) = match &f.repository {
        Some(r) => (
            r.clone(),
            format!(
                "arn:{}:ecr:{region}:{account}:repository/{r}",
                guard_adapter::engine::partition_of(region)
            ),
        ),
        None => ("registry".to_owned(), format!("registry {account} {region}")),
    };
    let mut message = format!("{}: {}", f.rule, f.reason);
    if let Some(p) = &f.principal {
        message.push_str(&format!(" (principal `{p}`)"));
    }
    message.push_str(&format!(", in {} of the {} policy of `{name}`", f.statement, f.target));
    let mut properties = Map::new();
    if let Some(p) = &f.principal {
        properties.insert("principal".into(), json!(p));
    }
    properties.insert("disposition".into(), json!(f.disposition));
    if matches!(f.disposition, "kept" | "excepted") {
        properties.insert("note".into(), json!(f.disposition));
    }
    Result {
        rule: f.rule.to_owned(),
        message,
        file: None,
        line: None,
        resource: Some((name, full.clone())),
        fingerprint: vec![
            full,
            f.target.to_owned(),
            f.rule.to_owned(),
            f.principal.clone().unwrap_or_else(|| f.statement.clone()),
        ],
        properties,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn uris_are_references() {
        assert_eq!(uri("./tests/iac/cfn template.yaml"), "tests/iac/cfn%20template.yaml");
        assert_eq!(uri("/tmp/a.json"), "file:///tmp/a.json");
    }

    #[test]
    fn rule_ids_are_unique_and_levels_known() {
        let all = rules();
        let mut ids: Vec<_> = all.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
        assert!(all.iter().all(|r| ["error", "warning", "note"].contains(&r.level)));
    }
}
