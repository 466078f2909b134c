//! `check`: the policies of the inputs judged offline, each finding placed at its file, resource
//! and line. A statement holding a value unknown before deployment is reported as such and not
//! judged (neither called clean nor guessed at); the other statements are judged as usual.

use crate::{
    iac::{token, tokens_in, PolicyInput, RepositoryName, Resource, Source, Unknown, UNKNOWN_AFTER_APPLY},
    judge::{judge, CliFinding, Judging, PolicyKind},
};
use policy_core::Policy;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A finding and where it is
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The file, as given
    pub file: String,
    /// The line, when known
    pub line: Option<usize>,
    /// Which rules judged the policy
    pub kind: PolicyKind,
    /// The resource in infrastructure code
    pub resource: Option<Resource>,
    /// The repository name the policy was judged for
    pub repository: Option<String>,
    /// The finding
    pub finding: CliFinding,
}

/// A policy that cannot be judged at all
#[derive(Debug, thiserror::Error)]
#[error("{place}: invalid policy: {message}")]
pub struct InvalidPolicy {
    /// `file`, or `file` line N, resource
    pub place: String,
    /// Why
    pub message: String,
}

/// Judges every source
pub fn check(sources: &[Source], j: &Judging) -> Result<Vec<Entry>, InvalidPolicy> {
    let mut out = Vec::new();
    for s in sources {
        out.extend(check_source(s, j)?);
    }
    Ok(out)
}

fn place(s: &Source) -> String {
    match &s.resource {
        Some(r) => format!("`{}` line {}: {}", s.file, s.line, r.display()),
        None => format!("`{}`", s.file),
    }
}

/// Where each unknown sits in a policy: per statement, or outside any
#[derive(Default)]
struct Scan {
    statements: BTreeMap<usize, Vec<(String, usize)>>,
    outside: Vec<(String, usize)>,
}

fn scan(value: &Value) -> Scan {
    let mut scan = Scan::default();
    let Value::Object(top) = value else {
        return scan;
    };
    for (k, v) in top {
        match (k.as_str(), v) {
            ("Statement", Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let mut found = Vec::new();
                    walk(item, &format!("Statement[{i}]"), &mut found);
                    if !found.is_empty() {
                        scan.statements.insert(i, found);
                    }
                }
            }
            ("Statement", Value::Object(_)) => {
                let mut found = Vec::new();
                walk(v, "Statement", &mut found);
                if !found.is_empty() {
                    scan.statements.insert(0, found);
                }
            }
            _ => walk(v, k, &mut scan.outside),
        }
    }
    scan
}

fn walk(v: &Value, path: &str, out: &mut Vec<(String, usize)>) {
    match v {
        Value::String(s) => out.extend(tokens_in(s).into_iter().map(|n| (path.to_owned(), n))),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(m) => {
            for (k, item) in m {
                walk(item, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// A finding for an unknown value: `subject` depends on it, so `consequence`
fn unknown_finding(u: &Unknown, subject: &str, consequence: &str, detail: String) -> CliFinding {
    let reason = match u.rule {
        // Terraform names the attribute itself.
        UNKNOWN_AFTER_APPLY => format!("{} is known only after apply: {consequence}", u.what),
        _ => format!("{subject} depends on {}: {consequence}", u.what),
    };
    CliFinding {
        detail: Some(detail),
        ..CliFinding::new(u.rule, reason)
    }
}

/// A statement for people: each unknown shown as what it depends on
fn readable(v: &Value, unknowns: &[Unknown]) -> Value {
    match v {
        Value::String(s) => {
            let mut out = s.clone();
            for n in tokens_in(s) {
                if let Some(u) = unknowns.get(n) {
                    out = out.replace(&token(n), &format!("<unresolved: {}>", u.what.replace('`', "")));
                }
            }
            Value::String(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| readable(i, unknowns)).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, i)| (k.clone(), readable(i, unknowns))).collect()),
        other => other.clone(),
    }
}

fn label(index: usize, statement: Option<&Value>) -> String {
    match statement.and_then(|s| s.get("Sid")).and_then(Value::as_str) {
        Some(sid) if tokens_in(sid).is_empty() => format!("statement {index} (`{sid}`)"),
        _ => format!("statement {index}"),
    }
}

fn check_source(s: &Source, j: &Judging) -> Result<Vec<Entry>, InvalidPolicy> {
    let mut found: Vec<(Option<usize>, CliFinding)> = Vec::new();
    let invalid = |message: String| InvalidPolicy {
        place: place(s),
        message,
    };
    let unknown = |n: usize| s.unknowns.get(n);
    let repository = match &s.repository {
        // The guard never judges an exempt repository, nor does `check`: unknown values included.
        RepositoryName::Known(name) if s.kind == PolicyKind::Repository && j.config.is_exempt(name) => {
            return Ok(Vec::new())
        }
        RepositoryName::Known(name) if s.kind == PolicyKind::Template && j.config.is_exempt_template(name) => {
            return Ok(Vec::new())
        }
        RepositoryName::Known(name) => Some(name.clone()),
        RepositoryName::None => None,
        RepositoryName::Unknown(u) => {
            // The name matters only when the config says something about names.
            if !j.config.baselines.is_empty() || !j.config.exempt_repositories.is_empty() {
                found.push((
                    Some(u.line),
                    unknown_finding(
                        u,
                        "the repository name",
                        "exemption and baseline are not checked",
                        "repository-name".to_owned(),
                    ),
                ));
            }
            None
        }
    };
    let value = match &s.policy {
        PolicyInput::Unknown => {
            for u in &s.unknowns {
                found.push((
                    Some(u.line),
                    unknown_finding(u, "the policy", "the policy is not judged", "policy".to_owned()),
                ));
            }
            return Ok(place_all(s, repository, found));
        }
        PolicyInput::Text(text) => match serde_json::from_str::<Value>(text) {
            Ok(v) => v,
            // Unknown values inside a `!Sub` string may be what breaks its JSON.
            Err(_) if !tokens_in(text).is_empty() => {
                for n in tokens_in(text) {
                    if let Some(u) = unknown(n) {
                        found.push((
                            Some(u.line),
                            unknown_finding(u, "the policy text", "the policy is not judged", "policy".to_owned()),
                        ));
                    }
                }
                return Ok(place_all(s, repository, found));
            }
            Err(e) => {
                return Err(invalid(match Policy::parse(text) {
                    Err(pe) => pe.to_string(),
                    Ok(_) => e.to_string(),
                }))
            }
        },
        PolicyInput::Value(v) => v.clone(),
    };
    let scan = scan(&value);
    if !scan.outside.is_empty() {
        for (path, n) in &scan.outside {
            if let Some(u) = unknown(*n) {
                found.push((
                    Some(u.line),
                    unknown_finding(u, &format!("`{path}`"), "the policy is not judged", path.clone()),
                ));
            }
        }
        return Ok(place_all(s, repository, found));
    }
    let statements: Vec<Value> = match value.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let mut unresolved_sids = BTreeSet::new();
    for (i, tokens) in &scan.statements {
        let statement = statements.get(*i);
        if let Some(sid) = statement.and_then(|st| st.get("Sid")).and_then(Value::as_str) {
            unresolved_sids.insert(sid.to_owned());
        }
        for (path, n) in tokens {
            if let Some(u) = unknown(*n) {
                found.push((
                    Some(u.line),
                    CliFinding {
                        index: Some(*i),
                        label: Some(label(*i, statement)),
                        statement: statement.map(|st| readable(st, &s.unknowns)),
                        ..unknown_finding(
                            u,
                            &format!("`{path}`"),
                            "the statement is not judged",
                            format!("{path} {}", u.what),
                        )
                    },
                ));
            }
        }
    }
    // The statements left to judge, and where each was in the policy as read.
    let kept: Vec<usize> = (0..statements.len())
        .filter(|i| !scan.statements.contains_key(i))
        .collect();
    let policy = match &s.policy {
        PolicyInput::Text(text) if scan.statements.is_empty() => Policy::parse(text),
        _ if scan.statements.is_empty() => Policy::from_value(value.clone()),
        _ if kept.is_empty() => return Ok(place_all(s, repository, found)),
        _ => {
            let mut m = match value {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            let judged = kept.iter().filter_map(|i| statements.get(*i).cloned()).collect();
            m.insert("Statement".to_owned(), Value::Array(judged));
            Policy::from_value(Value::Object(m))
        }
    }
    .map_err(|e| invalid(e.to_string()))?;
    for mut f in judge(&policy, s.kind, repository.as_deref(), j).map_err(invalid)? {
        if let Some(judged) = f.index {
            let original = kept.get(judged).copied().unwrap_or(judged);
            f.index = Some(original);
            f.label = policy.statements.get(judged).map(|st| st.label(original));
        }
        // A baseline statement whose Sid is in a statement not judged may well be there.
        if f.rule == "missing-baseline" && f.detail.as_ref().is_some_and(|sid| unresolved_sids.contains(sid)) {
            continue;
        }
        found.push((None, f));
    }
    Ok(place_all(s, repository, found))
}

fn place_all(s: &Source, repository: Option<String>, found: Vec<(Option<usize>, CliFinding)>) -> Vec<Entry> {
    found
        .into_iter()
        .map(|(line, finding)| Entry {
            file: s.file.clone(),
            line: line
                .or_else(|| finding.index.and_then(|i| s.statement_lines.get(i).copied()))
                .or(Some(s.line)),
            kind: s.kind,
            resource: s.resource.clone(),
            repository: repository.clone(),
            finding,
        })
        .collect()
}
