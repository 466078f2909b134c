//! Who an Allow statement reaches and what it lets them do: the facts the guard rules judge.
//!
//! A `*` principal is narrowed only by a condition that can only be true for the named
//! organisation or accounts: a positive operator (`StringEquals`, `StringEqualsIgnoreCase`,
//! `StringLike`, `ArnEquals`, `ArnLike`, alone or under `ForAnyValue:`), not `...IfExists` (true
//! when the key is missing) and not `ForAllValues:` (true when the key is missing), whose every
//! value names a concrete organisation or account. Anything else narrows nothing: when in doubt,
//! a statement reaches further, never less.

use crate::{
    actions::{ActionClass, ActionSet},
    condition::{arn_parts, BaseOperator, SetQualifier},
    model::{ConditionEntry, Effect, Policy, Principal, PrincipalKind, Statement},
    wildcard::has_wildcard,
};
use std::{collections::BTreeSet, fmt};

/// One grantee a statement reaches
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reach {
    /// Anyone, including anonymous callers
    Public,
    /// Any principal of an organisation
    Org(String),
    /// Any principal of an account
    Account(String),
    /// One user, role or session of an account
    Principal {
        /// The principal's ARN
        arn: String,
        /// Its account
        account: String,
    },
    /// An AWS service, acting for any account or pinned to one
    Service {
        /// The service principal
        name: String,
        /// The account a source condition pins it to
        account: Option<String>,
    },
    /// A unique id (`AROA...`): what IAM shows for a deleted user or role
    UniqueId(String),
    /// A federated identity provider
    Federated(String),
    /// An S3 canonical user
    Canonical(String),
}

impl fmt::Display for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reach::Public => f.write_str("public"),
            Reach::Org(o) => write!(f, "org:{o}"),
            Reach::Account(a) => write!(f, "account:{a}"),
            Reach::Principal { arn, .. } => write!(f, "principal:{arn}"),
            Reach::Service { name, account: None } => write!(f, "service:{name}"),
            Reach::Service { name, account: Some(a) } => write!(f, "service:{name}@{a}"),
            Reach::UniqueId(u) => write!(f, "unique:{u}"),
            Reach::Federated(id) => write!(f, "federated:{id}"),
            Reach::Canonical(id) => write!(f, "canonical:{id}"),
        }
    }
}

/// What one Allow statement grants
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementAccess {
    /// Index in the policy's statements
    pub index: usize,
    /// Who it reaches, sorted and deduplicated; empty when its conditions exclude everyone
    pub reach: Vec<Reach>,
    /// Who its "anyone" part (`*` in any form, a wildcard account, `NotPrincipal`, no principal)
    /// reaches once its conditions narrow it; `None` when it has no such part. Also in `reach`.
    pub anyone: Option<Vec<Reach>>,
    /// The ECR actions it allows
    pub actions: ActionSet,
    /// `ecr:` patterns that cover no known action (treated as admin)
    pub unknown_actions: Vec<String>,
    /// True when it allows actions of other services too (`*`, `NotAction`, `s3:...`)
    pub other_services: bool,
}

impl StatementAccess {
    /// The highest class granted, `None` when no ECR action is allowed
    pub fn class(&self) -> Option<ActionClass> {
        if self.unknown_actions.is_empty() {
            self.actions.class()
        } else {
            Some(ActionClass::Admin)
        }
    }
}

/// The account an ARN names, when it names a concrete one
fn concrete_account(value: &str, base: BaseOperator) -> Option<String> {
    if value.contains("${") {
        return None;
    }
    let p = arn_parts(value)?;
    let account = p[4];
    // Under StringEqualsIgnoreCase `ARN:AWS:IAM::...` names the same principals.
    let is_arn = if base == BaseOperator::StringEqualsIgnoreCase {
        p[0].eq_ignore_ascii_case("arn")
    } else {
        p[0] == "arn"
    };
    if !is_arn || account.is_empty() || has_wildcard(account) {
        return None;
    }
    // Under StringLike a `*` before the account could swallow colons and move the account.
    if base == BaseOperator::StringLike && p[..4].iter().any(|c| has_wildcard(c)) {
        return None;
    }
    Some(account.to_owned())
}

fn concrete(value: &str) -> Option<String> {
    (!value.is_empty() && !has_wildcard(value) && !value.contains("${")).then(|| value.to_owned())
}

/// What a statement's conditions pin the caller to
#[derive(Default)]
struct Narrowing {
    principal_accounts: Option<BTreeSet<String>>,
    source_accounts: Option<BTreeSet<String>>,
    orgs: Option<BTreeSet<String>>,
}

fn intersect(slot: &mut Option<BTreeSet<String>>, values: BTreeSet<String>) {
    *slot = Some(match slot.take() {
        Some(old) => old.intersection(&values).cloned().collect(),
        None => values,
    });
}

impl Narrowing {
    fn from_conditions(entries: &[ConditionEntry]) -> Narrowing {
        let mut n = Narrowing::default();
        for e in entries {
            let Some(op) = e.operator else { continue };
            if op.if_exists || op.set == Some(SetQualifier::ForAllValues) {
                continue;
            }
            let base = op.base;
            if !matches!(
                base,
                BaseOperator::StringEquals
                    | BaseOperator::StringEqualsIgnoreCase
                    | BaseOperator::StringLike
                    | BaseOperator::ArnEquals
                    | BaseOperator::ArnLike
            ) {
                continue;
            }
            for k in &e.keys {
                let key = k.key.to_ascii_lowercase();
                let extract: fn(&str, BaseOperator) -> Option<String> = match key.as_str() {
                    "aws:principalorgid" | "aws:principalaccount" | "aws:sourceaccount" | "aws:sourceowner" => {
                        |v, _| concrete(v)
                    }
                    "aws:principalorgpaths" => |v, base| {
                        let org = v.split('/').next()?;
                        let org = if base == BaseOperator::StringEqualsIgnoreCase {
                            org.to_ascii_lowercase()
                        } else {
                            org.to_owned()
                        };
                        concrete(&org).filter(|o| o.starts_with("o-"))
                    },
                    "aws:principalarn" | "aws:sourcearn" => concrete_account,
                    _ => continue,
                };
                // Every value must be concrete, or the condition narrows nothing. Organisation ids
                // are lowercase: under StringEqualsIgnoreCase any spelling names the same one.
                let fold = base == BaseOperator::StringEqualsIgnoreCase;
                let Some(values) = k
                    .values
                    .iter()
                    .map(|v| extract(&v.as_text(), base).map(|x| if fold { x.to_ascii_lowercase() } else { x }))
                    .collect::<Option<BTreeSet<String>>>()
                    // An empty list is not credited with excluding everyone.
                    .filter(|v| !v.is_empty())
                else {
                    continue;
                };
                let slot = match key.as_str() {
                    "aws:principalorgid" | "aws:principalorgpaths" => &mut n.orgs,
                    "aws:principalaccount" | "aws:principalarn" => &mut n.principal_accounts,
                    _ => &mut n.source_accounts,
                };
                intersect(slot, values);
            }
        }
        n
    }

    /// Accounts a caller must belong to, from every account condition together
    // The principal's and the source's account describe different parties, so both sets are
    // judged (their union), not only what they share.
    fn accounts(&self) -> Option<BTreeSet<String>> {
        match (&self.principal_accounts, &self.source_accounts) {
            (Some(a), Some(b)) => Some(a.union(b).cloned().collect()),
            (Some(a), None) | (None, Some(a)) => Some(a.clone()),
            (None, None) => None,
        }
    }
}

fn is_unique_id(id: &str) -> bool {
    id.len() >= 16 && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Reach of one `AWS` principal id; `None` means "anyone" (to be narrowed by conditions)
pub fn aws_reach(id: &str) -> Option<Reach> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Reach::Account(id.to_owned()));
    }
    if let Some(p) = arn_parts(id) {
        let account = p[4];
        if p[0] != "arn" || account.is_empty() || has_wildcard(account) {
            return None;
        }
        // IAM takes no wildcard in a principal ARN; if one is written, assume the whole account.
        if p[5] == "root" || has_wildcard(p[5]) || p[5].is_empty() {
            return Some(Reach::Account(account.to_owned()));
        }
        return Some(Reach::Principal {
            arn: id.to_owned(),
            account: account.to_owned(),
        });
    }
    if is_unique_id(id) {
        return Some(Reach::UniqueId(id.to_owned()));
    }
    // `*`, and anything we cannot read, reaches anyone.
    None
}

/// Every account a statement's positive source-account conditions name, `IfExists` and set
/// qualifiers included: a service is judged against all of them, since a condition that only
/// sometimes applies still lets that account's resources through
pub fn source_accounts_named(s: &Statement) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in s.condition.iter().flatten() {
        let Some(op) = e.operator else { continue };
        if op.base.is_negated() {
            continue;
        }
        for k in &e.keys {
            let key = k.key.to_ascii_lowercase();
            for v in k.values.iter() {
                let text = v.as_text();
                let account = match key.as_str() {
                    "aws:sourceaccount" | "aws:sourceowner" => Some(text.to_string()),
                    "aws:sourcearn" => arn_parts(&text).map(|p| p[4].to_owned()),
                    _ => None,
                };
                out.extend(account.filter(|a| !a.is_empty()));
            }
        }
    }
    out
}

/// Analyses one statement (whatever its effect)
pub fn analyze_statement(s: &Statement, index: usize) -> StatementAccess {
    let narrowing = s
        .condition
        .as_deref()
        .map(Narrowing::from_conditions)
        .unwrap_or_default();
    let mut reach = BTreeSet::new();
    let mut anyone = false;
    match &s.principal {
        None => anyone = true,
        Some(block) if block.negated => anyone = true,
        Some(block) => match &block.principal {
            Principal::Any => anyone = true,
            Principal::Map(map) => {
                for (kind, ids) in map {
                    for id in ids.iter() {
                        match kind {
                            PrincipalKind::Aws => match aws_reach(id) {
                                Some(r) => {
                                    reach.insert(r);
                                }
                                None => anyone = true,
                            },
                            PrincipalKind::Service => match &narrowing.source_accounts {
                                Some(accounts) => reach.extend(accounts.iter().map(|a| Reach::Service {
                                    name: id.clone(),
                                    account: Some(a.clone()),
                                })),
                                None => {
                                    reach.insert(Reach::Service {
                                        name: id.clone(),
                                        account: None,
                                    });
                                }
                            },
                            PrincipalKind::Federated => {
                                reach.insert(Reach::Federated(id.clone()));
                            }
                            PrincipalKind::CanonicalUser => {
                                reach.insert(Reach::Canonical(id.clone()));
                            }
                        }
                    }
                }
            }
        },
    }
    let anyone = anyone.then(|| match (narrowing.accounts(), &narrowing.orgs) {
        (Some(accounts), _) => accounts.into_iter().map(Reach::Account).collect::<Vec<_>>(),
        (None, Some(orgs)) => orgs.iter().cloned().map(Reach::Org).collect(),
        (None, None) => vec![Reach::Public],
    });
    reach.extend(anyone.iter().flatten().cloned());
    let mut actions = ActionSet::empty();
    let mut unknown_actions = Vec::new();
    let mut other_services = s.action.negated;
    for pattern in s.action.values.iter() {
        let set = ActionSet::from_pattern(pattern);
        let is_ecr = pattern.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("ecr:"));
        match (is_ecr, set.is_empty()) {
            // An `ecr:` pattern that covers no known action (see `is_unknown_ecr_action`).
            (true, true) => unknown_actions.push(pattern.clone()),
            (true, false) => {}
            (false, _) => other_services = true,
        }
        actions = actions.union(set);
    }
    if s.action.negated {
        actions = actions.complement();
        unknown_actions.clear();
    }
    StatementAccess {
        index,
        reach: reach.into_iter().collect(),
        anyone,
        actions,
        unknown_actions,
        other_services,
    }
}

/// Analyses every Allow statement of a policy
pub fn analyze(policy: &Policy) -> Vec<StatementAccess> {
    policy
        .statements
        .iter()
        .enumerate()
        .filter(|(_, s)| s.effect == Effect::Allow)
        .map(|(i, s)| analyze_statement(s, i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(policy: &str) -> Vec<String> {
        let p = Policy::parse(policy).unwrap();
        analyze(&p)[0].reach.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn star_is_narrowed_only_by_concrete_positive_conditions() {
        let s = |cond: &str| {
            reach(&format!(
                r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{cond}}}}}"#
            ))
        };
        assert_eq!(
            s(r#"{"StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}"#),
            ["org:o-abc123"]
        );
        assert_eq!(s(r#"{"StringLike":{"aws:PrincipalOrgID":"o-*"}}"#), ["public"]);
        assert_eq!(
            s(r#"{"StringNotEquals":{"aws:PrincipalOrgID":"o-abc123"}}"#),
            ["public"]
        );
        assert_eq!(
            s(r#"{"StringEqualsIfExists":{"aws:PrincipalOrgID":"o-abc123"}}"#),
            ["public"]
        );
        assert_eq!(
            s(r#"{"ForAllValues:StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}"#),
            ["public"]
        );
        assert_eq!(s(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#), ["public"]);
        assert_eq!(
            s(r#"{"StringEquals":{"aws:PrincipalAccount":["111122223333","444455556666"]}}"#),
            ["account:111122223333", "account:444455556666"]
        );
        assert_eq!(
            s(r#"{"StringEquals":{"aws:PrincipalOrgID":"o-abc123","aws:PrincipalAccount":"111122223333"}}"#),
            ["account:111122223333"]
        );
        assert_eq!(
            s(r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/*"}}"#),
            ["account:111122223333"]
        );
        assert_eq!(
            s(r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/x"}}"#),
            ["public"]
        );
        assert_eq!(
            s(r#"{"StringLike":{"aws:PrincipalArn":"arn:*:111122223333:role/x"}}"#),
            ["public"]
        );
    }

    #[test]
    fn principals() {
        assert_eq!(
            reach(r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::*:root"},"Action":"ecr:*"}}"#),
            ["public"]
        );
        assert_eq!(
            reach(
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::222233334444:role/r","AROAEXAMPLEID1234567"]},"Action":"ecr:*"}}"#
            ),
            [
                "account:111122223333",
                "principal:arn:aws:iam::222233334444:role/r",
                "unique:AROAEXAMPLEID1234567"
            ]
        );
        assert_eq!(
            reach(
                r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"codebuild.amazonaws.com"},"Action":"ecr:*","Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"}}}}"#
            ),
            ["service:codebuild.amazonaws.com@123456789012"]
        );
    }

    #[test]
    fn classes() {
        let class = |actions: &str, not: bool| {
            let key = if not { "NotAction" } else { "Action" };
            let p = Policy::parse(&format!(
                r#"{{"Statement":{{"Effect":"Allow","Principal":"*","{key}":{actions}}}}}"#
            ))
            .unwrap();
            analyze(&p)[0].class()
        };
        assert_eq!(
            class(r#"["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]"#, false),
            Some(ActionClass::Pull)
        );
        assert_eq!(class(r#""ecr:PutImage""#, false), Some(ActionClass::Push));
        assert_eq!(class(r#""ecr:GetEverything""#, false), Some(ActionClass::Admin));
        assert_eq!(class(r#""s3:GetObject""#, false), None);
        assert_eq!(class(r#""ecr:*""#, true), None);
        assert_eq!(class(r#""ecr:DeleteRepository""#, true), Some(ActionClass::Admin));
    }
}
