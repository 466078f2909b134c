//! A canonical form of a policy's meaning, for equivalence and diffs.
//!
//! Dropped: `Sid`, `Id`, statement and value order, duplicates, one-vs-many shape, the case of
//! action names, condition keys and operator names, account id vs `arn:PARTITION:iam::ID:root`,
//! `"*"` vs `{"AWS": "*"}`, `ArnEquals` vs `ArnLike`. The version is kept only where a value holds
//! a policy variable, the one place it changes meaning.

use crate::{
    condition::{BaseOperator, Operator},
    model::{
        ConditionEntry, ConditionKey, ConditionValue, Effect, ListBlock, OneOrMany, Policy, Principal, PrincipalBlock,
        PrincipalKind, Statement, Version,
    },
};
use serde_json::Value;
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

/// Principals in canonical form
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NormalPrincipal {
    /// Everyone
    Any,
    /// Kind to ids
    Map(BTreeMap<PrincipalKind, BTreeSet<String>>),
}

/// One condition in canonical form: operator, lowercase key, values
pub type NormalCondition = (String, String, BTreeSet<String>);

/// A statement's meaning
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NormalStatement {
    /// Effect
    pub effect: Effect,
    /// Negated flag and principals
    pub principal: Option<(bool, NormalPrincipal)>,
    /// Negated flag and lowercase action patterns
    pub action: (bool, BTreeSet<String>),
    /// Negated flag and resource patterns
    pub resource: Option<(bool, BTreeSet<String>)>,
    /// Conditions (ANDed)
    pub condition: BTreeSet<NormalCondition>,
    /// Unknown keys as canonical JSON
    pub extra: BTreeMap<String, String>,
}

/// A policy's meaning
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NormalPolicy {
    /// The version, only when a value holds a policy variable
    pub version: Option<Version>,
    /// The statements, deduplicated
    pub statements: BTreeSet<NormalStatement>,
    /// Unknown top-level keys as canonical JSON
    pub extra: BTreeMap<String, String>,
}

/// JSON text with object keys sorted, so equal values give equal text
pub fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, String> = m.iter().map(|(k, v)| (k, canonical_json(v))).collect();
            let body: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canonical_json).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// The account of `123456789012` or `arn:PARTITION:iam::123456789012:root`; partitions are
/// disjoint, so the partition adds nothing within one policy
fn account_of_root(id: &str) -> Option<&str> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        return Some(id);
    }
    let p = crate::condition::arn_parts(id)?;
    (p[0] == "arn" && p[2] == "iam" && p[3].is_empty() && p[5] == "root").then_some(p[4])
}

fn principal(p: &Principal) -> NormalPrincipal {
    let Principal::Map(map) = p else {
        return NormalPrincipal::Any;
    };
    let mut out = BTreeMap::new();
    for (kind, ids) in map {
        let set: BTreeSet<String> = ids
            .iter()
            .map(|id| match kind {
                PrincipalKind::Aws => account_of_root(id).unwrap_or(id).to_owned(),
                PrincipalKind::Service => id.to_ascii_lowercase(),
                _ => id.clone(),
            })
            .collect();
        if *kind == PrincipalKind::Aws && set.contains("*") {
            return NormalPrincipal::Any;
        }
        if !set.is_empty() {
            out.insert(*kind, set);
        }
    }
    NormalPrincipal::Map(out)
}

fn list(block: &ListBlock, lowercase: bool) -> (bool, BTreeSet<String>) {
    let set: BTreeSet<String> = block
        .values
        .iter()
        .map(|v| if lowercase { v.to_lowercase() } else { v.clone() })
        .collect();
    if set.contains("*") {
        return (block.negated, BTreeSet::from(["*".to_owned()]));
    }
    (block.negated, set)
}

fn operator_name(op: Option<Operator>, raw: &str) -> String {
    match op {
        Some(mut op) => {
            op.base = match op.base {
                BaseOperator::ArnEquals => BaseOperator::ArnLike,
                BaseOperator::ArnNotEquals => BaseOperator::ArnNotLike,
                b => b,
            };
            op.canonical()
        }
        // Unknown operators are compared as written: we cannot know what they mean.
        None => raw.to_owned(),
    }
}

/// The canonical form of one statement
pub fn normalize_statement(s: &Statement) -> NormalStatement {
    let mut condition = BTreeSet::new();
    for e in s.condition.iter().flatten() {
        let name = operator_name(e.operator, &e.raw);
        let fold = e.operator.is_some_and(|o| {
            matches!(
                o.base.positive(),
                BaseOperator::StringEqualsIgnoreCase | BaseOperator::Bool | BaseOperator::Null
            )
        });
        for k in &e.keys {
            let values = k
                .values
                .iter()
                .map(|v| {
                    let t = v.as_text();
                    if fold {
                        t.to_lowercase()
                    } else {
                        t.into_owned()
                    }
                })
                .collect();
            condition.insert((name.clone(), k.key.to_lowercase(), values));
        }
    }
    NormalStatement {
        effect: s.effect,
        principal: s.principal.as_ref().map(|p| (p.negated, principal(&p.principal))),
        action: list(&s.action, true),
        resource: s.resource.as_ref().map(|r| list(r, false)),
        condition,
        extra: s.extra.iter().map(|(k, v)| (k.clone(), canonical_json(v))).collect(),
    }
}

fn mentions_variable(s: &Statement) -> bool {
    let in_resource = s
        .resource
        .iter()
        .flat_map(|r| r.values.iter())
        .any(|v| v.contains("${"));
    let in_condition = s
        .condition
        .iter()
        .flatten()
        .flat_map(|e| &e.keys)
        .flat_map(|k| k.values.iter())
        .any(|v| v.as_text().contains("${"));
    in_resource || in_condition
}

/// The canonical form of a policy
pub fn normalize(p: &Policy) -> NormalPolicy {
    let version = p
        .statements
        .iter()
        .any(mentions_variable)
        .then(|| p.version.unwrap_or(Version::V2008));
    NormalPolicy {
        version,
        statements: p.statements.iter().map(normalize_statement).collect(),
        extra: p.extra.iter().map(|(k, v)| (k.clone(), canonical_json(v))).collect(),
    }
}

impl NormalPolicy {
    /// A policy document in canonical form (sorted, arrays everywhere, account ids bare); it
    /// normalises back to `self`
    pub fn to_policy(&self) -> Policy {
        Policy {
            version: self.version,
            id: None,
            statements: self.statements.iter().map(NormalStatement::to_statement).collect(),
            single_statement: false,
            extra: self
                .extra
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), serde_json::from_str(v).ok()?)))
                .collect(),
        }
    }
}

impl NormalStatement {
    /// The statement in canonical form
    pub fn to_statement(&self) -> Statement {
        let many = |set: &BTreeSet<String>| OneOrMany::Many(set.iter().cloned().collect());
        let principal = self.principal.as_ref().map(|(negated, p)| PrincipalBlock {
            negated: *negated,
            principal: match p {
                NormalPrincipal::Any => Principal::Any,
                NormalPrincipal::Map(m) => Principal::Map(m.iter().map(|(k, ids)| (*k, many(ids))).collect()),
            },
        });
        let mut entries: Vec<ConditionEntry> = Vec::new();
        for (op, key, values) in &self.condition {
            let values = OneOrMany::Many(values.iter().cloned().map(ConditionValue::String).collect());
            let entry = match entries.iter_mut().find(|e| e.raw == *op) {
                Some(e) => e,
                None => {
                    entries.push(ConditionEntry {
                        raw: op.clone(),
                        operator: Operator::parse(op),
                        keys: Vec::new(),
                    });
                    match entries.last_mut() {
                        Some(e) => e,
                        None => continue,
                    }
                }
            };
            // Keys that differ only in case are ANDed conditions; a JSON object cannot hold the
            // same key twice, so later ones get a different (equivalent) spelling.
            let mut spelled = key.clone();
            let mut i = 0;
            while entry.keys.iter().any(|k| k.key == spelled) {
                spelled = key
                    .char_indices()
                    .map(|(j, c)| if j <= i { c.to_ascii_uppercase() } else { c })
                    .collect();
                i += 1;
            }
            entry.keys.push(ConditionKey { key: spelled, values });
        }
        Statement {
            sid: None,
            effect: self.effect,
            principal,
            action: ListBlock {
                negated: self.action.0,
                values: many(&self.action.1),
            },
            resource: self.resource.as_ref().map(|(negated, set)| ListBlock {
                negated: *negated,
                values: many(set),
            }),
            condition: (!entries.is_empty()).then_some(entries),
            extra: self
                .extra
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), serde_json::from_str(v).ok()?)))
                .collect(),
        }
    }
}

/// True when two policies mean the same
pub fn equivalent(a: &Policy, b: &Policy) -> bool {
    normalize(a) == normalize(b)
}

/// The statements one policy has and the other lacks, compared by meaning
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyDiff {
    /// In `before` only
    pub removed: Vec<Statement>,
    /// In `after` only
    pub added: Vec<Statement>,
}

impl PolicyDiff {
    /// True when no statement differs
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }
}

impl fmt::Display for PolicyDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.removed {
            writeln!(f, "- {}", s.to_value())?;
        }
        for s in &self.added {
            writeln!(f, "+ {}", s.to_value())?;
        }
        Ok(())
    }
}

/// A statement-level diff: each statement of `before` is paired with an equal-meaning one of
/// `after` at most once; what is left over is removed or added
pub fn diff(before: &Policy, after: &Policy) -> PolicyDiff {
    let mut remaining: Vec<(NormalStatement, &Statement)> =
        after.statements.iter().map(|s| (normalize_statement(s), s)).collect();
    let mut removed = Vec::new();
    for s in &before.statements {
        let n = normalize_statement(s);
        match remaining.iter().position(|(m, _)| *m == n) {
            Some(i) => {
                remaining.remove(i);
            }
            None => removed.push(s.clone()),
        }
    }
    PolicyDiff {
        removed,
        added: remaining.into_iter().map(|(_, s)| s.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Policy {
        Policy::parse(s).unwrap()
    }

    #[test]
    fn account_forms_and_shapes() {
        let a = p(
            r#"{"Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"ecr:BatchGetImage"}]}"#,
        );
        let b = p(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root"]},"Action":["ECR:batchgetimage"]}}"#,
        );
        assert!(equivalent(&a, &b));
        let c = p(r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"ecr:PutImage"}]}"#);
        assert!(!equivalent(&a, &c));
    }

    #[test]
    fn canonical_policy_normalises_to_itself() {
        let a = p(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","222233334444"],"Service":"X.amazonaws.com"},
            "Action":["ecr:B*","ECR:a"],"Resource":"arn:aws:ecr:*:*:repository/${aws:username}",
            "Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:x"},"stringequalsignorecase":{"AWS:Foo":["B","a"]},"StringEquals":{"k":"1","K":"2"}}}]}"#,
        );
        let n = normalize(&a);
        let again = n.to_policy();
        assert_eq!(normalize(&again), n);
        assert!(equivalent(&a, &again));
    }

    #[test]
    fn diff_pairs_statements_by_meaning() {
        let a = p(
            r#"{"Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Action":"ecr:*"},{"Effect":"Deny","Principal":"*","Action":"ecr:PutImage"}]}"#,
        );
        let b = p(
            r#"{"Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"ecr:putimage"},{"Effect":"Allow","Principal":{"AWS":"1"},"Action":"ecr:*"}]}"#,
        );
        let d = diff(&a, &b);
        assert_eq!(d.removed.len(), 1);
        assert_eq!(d.removed[0].sid.as_deref(), Some("A"));
        assert_eq!(d.added.len(), 1);
        let text = d.to_string();
        assert!(text.starts_with("- {\"Sid\":\"A\""), "{text}");
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let v: Value = serde_json::from_str(r#"{"b":1,"a":{"d":2,"c":[3]}}"#).unwrap();
        assert_eq!(canonical_json(&v), r#"{"a":{"c":[3],"d":2},"b":1}"#);
    }
}
