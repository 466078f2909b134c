//! Who an Allow statement reaches and what it lets them do: the facts the guard rules judge.
//!
//! A `*` principal is narrowed only by a condition that can only be true for the named
//! organisation or accounts: a positive operator (`StringEquals`, `StringEqualsIgnoreCase`,
//! `StringLike`, `ArnEquals`, `ArnLike`, alone or under `ForAnyValue:`) whose every value names a
//! concrete organisation or account. `...IfExists` and `ForAllValues:` are true when the key is
//! absent, so they narrow only beside `"Null": {KEY: "false"}` on the same key. Anything else
//! narrows nothing: when in doubt, a statement reaches further, never less.
//!
//! Principal keys (`aws:PrincipalOrgID`, `aws:PrincipalOrgPaths`, `aws:PrincipalAccount`,
//! `aws:PrincipalArn`) narrow `*` to IAM principals. Source keys (`aws:SourceAccount`,
//! `aws:SourceArn`, `aws:SourceOwner`, `aws:SourceOrgID`, `aws:SourceOrgPaths`) are present only in
//! service-to-service requests: a `*` narrowed by them alone reaches every AWS service acting for
//! the named accounts, and they pin a `Service` principal to the accounts it may act for.
//!
//! Policy variables that name the resource side (`${aws:ResourceAccount}`, `${aws:ResourceOrgID}`,
//! `${aws:ResourceOrgPaths}`) resolve to the registry's account and the configured organisation
//! (see [`Resolver`]); every other variable takes its value from the request, so it names anyone.

use crate::{
    actions::{ActionClass, ActionSet},
    condition::{arn_parts, key_and_default, pieces, BaseOperator, Operator, Piece, SetQualifier},
    model::{ConditionEntry, Effect, Policy, Principal, PrincipalKind, Statement},
    wildcard::has_wildcard,
};
use std::{
    borrow::Cow,
    collections::{BTreeMap, BTreeSet},
    fmt,
};

/// What a service acts for, from the source conditions of its statement
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// Nothing requires a source: the service may act for any account's resources, or none
    Unpinned,
    /// Resources of this account
    Account(String),
    /// Resources of accounts in this organisation
    Org(String),
    /// Any account: the value as written (a wildcard, an unresolved variable, not an ARN)
    Any(String),
}

/// One grantee a statement reaches
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reach {
    /// Anyone, including anonymous callers
    Public,
    /// Any IAM principal of an organisation
    Org(String),
    /// Any IAM principal of an account
    Account(String),
    /// One user, role or session of an account
    Principal {
        /// The principal's ARN
        arn: String,
        /// Its account
        account: String,
    },
    /// An AWS service acting for the resources of `source`; `name` is `*` for a `*` principal
    /// narrowed only by source conditions (every service)
    Service {
        /// The service principal, or `*`
        name: String,
        /// Whose resources it acts for
        source: Source,
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
            Reach::Service { name, source } => match source {
                Source::Unpinned => write!(f, "service:{name}"),
                Source::Account(a) | Source::Org(a) => write!(f, "service:{name}@{a}"),
                Source::Any(_) => write!(f, "service:{name}@*"),
            },
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
    /// Why conditions on identity keys did not narrow, for the guard's reasons
    pub notes: Vec<String>,
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

    /// Whose resources the service principal `name` may act for (empty when it is not granted)
    pub fn service_sources(&self, name: &str) -> Vec<&Source> {
        self.reach
            .iter()
            .filter_map(|r| match r {
                Reach::Service { name: n, source } if n == name => Some(source),
                _ => None,
            })
            .collect()
    }
}

/// What the resource side's policy variables resolve to when a policy is judged
#[derive(Clone, Copy, Debug, Default)]
pub struct Resolver<'a> {
    /// Variables are substituted (the policy's `Version` is `2012-10-17`)
    pub variables: bool,
    /// `${aws:ResourceAccount}`: the registry's account
    pub account: Option<&'a str>,
    /// `${aws:ResourceOrgID}`, `${aws:ResourceOrgPaths}`: the configured organisation
    pub org: Option<&'a str>,
}

impl<'a> Resolver<'a> {
    /// No resource-side facts: only the policy's own version counts
    pub fn for_policy(policy: &Policy) -> Resolver<'a> {
        Resolver {
            variables: policy.variables_enabled(),
            account: None,
            org: None,
        }
    }

    /// The value with resource-side variables substituted; `Err` says why it has no known value.
    /// The substituted text is used to judge only: written policies are never rewritten.
    pub fn resolve<'v>(&self, raw: &'v str) -> Result<Cow<'v, str>, String> {
        if !raw.contains("${") {
            return Ok(Cow::Borrowed(raw));
        }
        if !self.variables {
            return Err(format!(
                "`{raw}` is literal text: policy variables are substituted only under `\"Version\": \"2012-10-17\"`"
            ));
        }
        let mut out = String::new();
        for piece in pieces(raw) {
            let inner = match piece {
                Piece::Text(t) => {
                    out.push_str(t);
                    continue;
                }
                Piece::Variable(inner) => inner,
            };
            let (key, _) = key_and_default(inner);
            let value = match key.to_ascii_lowercase().as_str() {
                "aws:resourceaccount" => self.account.map(str::to_owned),
                "aws:resourceorgid" => self.org.map(str::to_owned),
                // The resource's organisation paths all start with its organisation's id.
                "aws:resourceorgpaths" => self.org.map(|o| format!("{o}/")),
                _ => None,
            };
            match value {
                Some(v) => out.push_str(&v),
                None if key.eq_ignore_ascii_case("aws:resourceorgid") || key.eq_ignore_ascii_case("aws:resourceorgpaths") => {
                    return Err(format!(
                        "`${{{inner}}}` is known only when `org_id` is configured"
                    ))
                }
                None if matches!(inner, "*" | "?" | "$") => {
                    return Err(format!("`{raw}` holds the literal escape `${{{inner}}}`, not an id"))
                }
                None if inner.contains(',') => {
                    return Err(format!(
                        "`${{{inner}}}` takes its value from the request (its default applies only when the key is absent), so it names anyone"
                    ))
                }
                None => {
                    return Err(format!(
                        "`${{{inner}}}` takes its value from the request, so it names anyone"
                    ))
                }
            }
        }
        Ok(Cow::Owned(out))
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

/// The identity condition keys and what their values name
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    PrincipalAccount,
    PrincipalOrg,
    SourceAccount,
    SourceOrg,
}

#[derive(Clone, Copy)]
enum Shape {
    AccountId,
    Arn,
    OrgId,
    OrgPath,
}

fn family(key_lower: &str) -> Option<(Family, Shape)> {
    Some(match key_lower {
        "aws:principalaccount" => (Family::PrincipalAccount, Shape::AccountId),
        "aws:principalarn" => (Family::PrincipalAccount, Shape::Arn),
        "aws:principalorgid" => (Family::PrincipalOrg, Shape::OrgId),
        "aws:principalorgpaths" => (Family::PrincipalOrg, Shape::OrgPath),
        "aws:sourceaccount" | "aws:sourceowner" => (Family::SourceAccount, Shape::AccountId),
        "aws:sourcearn" => (Family::SourceAccount, Shape::Arn),
        "aws:sourceorgid" => (Family::SourceOrg, Shape::OrgId),
        "aws:sourceorgpaths" => (Family::SourceOrg, Shape::OrgPath),
        _ => return None,
    })
}

fn extract(shape: Shape, value: &str, base: BaseOperator) -> Option<String> {
    // Organisation ids are lowercase: under StringEqualsIgnoreCase any spelling names the same one.
    let fold = |s: String| {
        if base == BaseOperator::StringEqualsIgnoreCase {
            s.to_ascii_lowercase()
        } else {
            s
        }
    };
    match shape {
        Shape::AccountId => concrete(value),
        Shape::Arn => concrete_account(value, base),
        Shape::OrgId => concrete(value).map(fold).filter(|o| o.starts_with("o-")),
        Shape::OrgPath => concrete(value.split('/').next()?)
            .map(fold)
            .filter(|o| o.starts_with("o-")),
    }
}

/// Keys under `Null` whose every value is `false`: they must be present, which makes
/// `...IfExists` and `ForAllValues:` conditions on them exact
fn required_keys(entries: &[ConditionEntry]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut ambiguous = BTreeSet::new();
    for e in entries {
        if e.operator.is_none_or(|op| op.base != BaseOperator::Null) {
            continue;
        }
        for k in &e.keys {
            let key = k.key.to_ascii_lowercase();
            let all_false = !k.values.is_empty() && k.values.iter().all(|v| v.as_text().eq_ignore_ascii_case("false"));
            // A second mention (another case, or `true`) makes the key ambiguous.
            if !all_false || !out.insert(key.clone()) {
                ambiguous.insert(key);
            }
        }
    }
    // A key also required absent (or written twice in different case) proves nothing.
    out.retain(|k| !ambiguous.contains(k));
    out
}

/// What a statement's conditions pin the caller to
#[derive(Default)]
struct Narrowing {
    /// Accounts an IAM principal must belong to (ANDed across keys)
    principal_accounts: Option<BTreeSet<String>>,
    /// Organisations an IAM principal must belong to
    principal_orgs: Option<BTreeSet<String>>,
    /// Accounts a service must act for, from exact conditions
    source_accounts: Option<BTreeSet<String>>,
    /// Organisations a service must act for, from exact conditions
    source_orgs: Option<BTreeSet<String>>,
    /// Every source any positive source condition names, exact or not
    source_named: BTreeSet<Source>,
    /// An exact source condition is present: the service never acts without a source
    source_required: bool,
    /// Why conditions did not narrow
    notes: Vec<String>,
}

fn intersect(slot: &mut Option<BTreeSet<String>>, values: BTreeSet<String>) {
    *slot = Some(match slot.take() {
        Some(old) => old.intersection(&values).cloned().collect(),
        None => values,
    });
}

fn narrowing_operator(op: Operator) -> bool {
    matches!(
        op.base,
        BaseOperator::StringEquals
            | BaseOperator::StringEqualsIgnoreCase
            | BaseOperator::StringLike
            | BaseOperator::ArnEquals
            | BaseOperator::ArnLike
    )
}

impl Narrowing {
    fn from_conditions(entries: &[ConditionEntry], resolver: &Resolver) -> Narrowing {
        let mut n = Narrowing::default();
        let required = required_keys(entries);
        // The same operator written twice in different case: which one IAM reads is not
        // documented, so neither narrows.
        let mut seen_ops: BTreeMap<String, usize> = BTreeMap::new();
        for e in entries {
            if let Some(op) = e.operator {
                *seen_ops.entry(op.canonical()).or_default() += 1;
            }
        }
        for e in entries {
            let Some(op) = e.operator else { continue };
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for k in &e.keys {
                *counts.entry(k.key.to_ascii_lowercase()).or_default() += 1;
            }
            for k in &e.keys {
                let key = k.key.to_ascii_lowercase();
                let Some((fam, shape)) = family(&key) else { continue };
                let name = &k.key;
                let raw_op = &e.raw;
                if op.base.is_negated() {
                    n.notes.push(format!(
                        "`{raw_op}` on `{name}` excludes values, it does not narrow to any"
                    ));
                    continue;
                }
                if !narrowing_operator(op) {
                    n.notes
                        .push(format!("`{raw_op}` cannot name an account or organisation (`{name}`)"));
                    continue;
                }
                if counts.get(&key).copied().unwrap_or(0) > 1 || seen_ops.get(&op.canonical()).copied().unwrap_or(0) > 1
                {
                    n.notes.push(format!(
                        "`{name}` is written more than once under `{raw_op}` in different case: ambiguous"
                    ));
                    continue;
                }
                let exact_when_present = !(op.if_exists || op.set == Some(SetQualifier::ForAllValues));
                let exact = exact_when_present || required.contains(&key);
                let mut concrete_values = BTreeSet::new();
                let mut all_concrete = true;
                for v in k.values.iter() {
                    let raw = v.as_text();
                    let got = resolver.resolve(&raw).and_then(|text| {
                        extract(shape, &text, op.base)
                            .ok_or_else(|| format!("`{raw}` in `{name}` is not one account or organisation"))
                    });
                    match got {
                        Ok(x) => {
                            if matches!(fam, Family::SourceAccount) {
                                n.source_named.insert(Source::Account(x.clone()));
                            } else if matches!(fam, Family::SourceOrg) {
                                n.source_named.insert(Source::Org(x.clone()));
                            }
                            concrete_values.insert(x);
                        }
                        Err(why) => {
                            all_concrete = false;
                            if matches!(fam, Family::SourceAccount | Family::SourceOrg) {
                                n.source_named.insert(Source::Any(raw.into_owned()));
                            }
                            n.notes.push(why);
                        }
                    }
                }
                if k.values.is_empty() {
                    // An empty list is not credited with excluding everyone.
                    n.notes.push(format!("`{name}` lists no value"));
                    continue;
                }
                if matches!(fam, Family::SourceAccount | Family::SourceOrg) && exact {
                    n.source_required = true;
                }
                if !exact {
                    n.notes.push(if op.if_exists {
                        format!(
                            "`{raw_op}` on `{name}` is true when the key is absent (add `\"Null\": {{\"{name}\": \"false\"}}` to make it exact)"
                        )
                    } else {
                        format!("a `ForAllValues:` condition is true when the key is absent (`{name}`)")
                    });
                    continue;
                }
                if !all_concrete {
                    continue;
                }
                let slot = match fam {
                    Family::PrincipalAccount => &mut n.principal_accounts,
                    Family::PrincipalOrg => &mut n.principal_orgs,
                    Family::SourceAccount => &mut n.source_accounts,
                    Family::SourceOrg => &mut n.source_orgs,
                };
                intersect(slot, concrete_values);
            }
        }
        n
    }

    /// Who a `*` reaches once narrowed
    fn anyone(&self) -> Vec<Reach> {
        // The principal's and the source's accounts describe different parties, so both are
        // judged (their union), never only what they share.
        let source_accounts = self.source_accounts.iter().flatten().cloned();
        if let Some(accounts) = &self.principal_accounts {
            return accounts
                .iter()
                .cloned()
                .chain(source_accounts)
                .map(Reach::Account)
                .collect();
        }
        if let Some(orgs) = &self.principal_orgs {
            return orgs
                .iter()
                .cloned()
                .map(Reach::Org)
                .chain(source_accounts.map(Reach::Account))
                .collect();
        }
        // Source keys exist only in service-to-service requests: every service acting there.
        let services = |source: Source| Reach::Service {
            name: "*".to_owned(),
            source,
        };
        if let Some(accounts) = &self.source_accounts {
            return accounts.iter().cloned().map(Source::Account).map(services).collect();
        }
        if let Some(orgs) = &self.source_orgs {
            return orgs.iter().cloned().map(Source::Org).map(services).collect();
        }
        vec![Reach::Public]
    }

    /// Whose resources a service principal may act for
    fn service_sources(&self) -> Vec<Source> {
        // Exact conditions AND: the service acts only within them, whatever else is named.
        if let Some(accounts) = &self.source_accounts {
            return accounts.iter().cloned().map(Source::Account).collect();
        }
        if let Some(orgs) = &self.source_orgs {
            return orgs.iter().cloned().map(Source::Org).collect();
        }
        let mut out: Vec<Source> = self.source_named.iter().cloned().collect();
        if !self.source_required {
            out.push(Source::Unpinned);
        }
        out
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

/// Analyses one statement (whatever its effect), resolving resource-side variables with `resolver`
pub fn analyze_statement(s: &Statement, index: usize, resolver: &Resolver) -> StatementAccess {
    let narrowing = s
        .condition
        .as_deref()
        .map(|c| Narrowing::from_conditions(c, resolver))
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
                            PrincipalKind::Service => {
                                reach.extend(narrowing.service_sources().into_iter().map(|source| Reach::Service {
                                    name: id.clone(),
                                    source,
                                }))
                            }
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
    let anyone = anyone.then(|| narrowing.anyone());
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
    let mut notes = narrowing.notes;
    notes.dedup();
    StatementAccess {
        index,
        reach: reach.into_iter().collect(),
        anyone,
        actions,
        unknown_actions,
        other_services,
        notes,
    }
}

/// Analyses every Allow statement of a policy (variables resolve to nothing resource-side)
pub fn analyze(policy: &Policy) -> Vec<StatementAccess> {
    analyze_with(policy, &Resolver::for_policy(policy))
}

/// Analyses every Allow statement of a policy with the resource side known
pub fn analyze_with(policy: &Policy, resolver: &Resolver) -> Vec<StatementAccess> {
    policy
        .statements
        .iter()
        .enumerate()
        .filter(|(_, s)| s.effect == Effect::Allow)
        .map(|(i, s)| analyze_statement(s, i, resolver))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach_with(policy: &str, account: Option<&str>, org: Option<&str>) -> Vec<String> {
        let p = Policy::parse(policy).unwrap();
        let r = Resolver {
            variables: p.variables_enabled(),
            account,
            org,
        };
        analyze_with(&p, &r)[0].reach.iter().map(ToString::to_string).collect()
    }

    fn reach(policy: &str) -> Vec<String> {
        reach_with(policy, None, None)
    }

    fn star(cond: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{cond}}}}}"#
        )
    }

    fn service(cond: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"Service":"lambda.amazonaws.com"}},"Action":"ecr:BatchGetImage","Condition":{cond}}}}}"#
        )
    }

    #[test]
    fn star_is_narrowed_only_by_concrete_positive_conditions() {
        let s = |cond: &str| reach(&star(cond));
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
    fn null_false_makes_if_exists_and_for_all_values_exact() {
        let s = |cond: &str| reach(&star(cond));
        assert_eq!(
            s(r#"{"StringEqualsIfExists":{"aws:PrincipalOrgID":"o-abc123"},"Null":{"aws:PrincipalOrgID":"false"}}"#),
            ["org:o-abc123"]
        );
        assert_eq!(
            s(r#"{"ForAllValues:StringEquals":{"aws:PrincipalOrgID":"o-abc123"},"Null":{"aws:principalorgid":false}}"#),
            ["org:o-abc123"]
        );
        // Null on another key, or `true`, proves nothing.
        assert_eq!(
            s(r#"{"StringEqualsIfExists":{"aws:PrincipalOrgID":"o-abc123"},"Null":{"aws:PrincipalAccount":"false"}}"#),
            ["public"]
        );
        assert_eq!(
            s(
                r#"{"StringEqualsIfExists":{"aws:PrincipalOrgID":"o-abc123"},"Null":{"aws:PrincipalOrgID":["false","true"]}}"#
            ),
            ["public"]
        );
    }

    #[test]
    fn keys_in_different_case_under_one_operator_are_ambiguous() {
        assert_eq!(
            reach(&star(
                r#"{"StringEquals":{"aws:PrincipalOrgID":"o-abc123","aws:principalorgid":"o-zzz999"}}"#
            )),
            ["public"]
        );
    }

    #[test]
    fn resource_side_variables_resolve() {
        let idiom = star(r#"{"StringEquals":{"aws:PrincipalOrgID":"${aws:ResourceOrgID}"}}"#);
        assert_eq!(
            reach_with(&idiom, Some("123456789012"), Some("o-abc123")),
            ["org:o-abc123"]
        );
        // Without an org configured it narrows nothing.
        assert_eq!(reach_with(&idiom, Some("123456789012"), None), ["public"]);
        let acct = star(r#"{"StringEquals":{"aws:PrincipalAccount":"${aws:ResourceAccount}"}}"#);
        assert_eq!(reach_with(&acct, Some("123456789012"), None), ["account:123456789012"]);
        // Literal under 2008-10-17.
        let old = acct.replace("2012-10-17", "2008-10-17");
        assert_eq!(reach_with(&old, Some("123456789012"), None), ["public"]);
        // Other variables come from the request.
        let tag = star(r#"{"StringEquals":{"aws:PrincipalAccount":"${aws:PrincipalTag/acct, '111122223333'}"}}"#);
        assert_eq!(reach_with(&tag, Some("123456789012"), None), ["public"]);
        let paths = star(r#"{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"${aws:ResourceOrgPaths}*"}}"#);
        assert_eq!(reach_with(&paths, None, Some("o-abc123")), ["org:o-abc123"]);
    }

    #[test]
    fn source_keys_alone_reach_services_only() {
        let s = |cond: &str| reach_with(&star(cond), Some("123456789012"), Some("o-abc123"));
        assert_eq!(
            s(r#"{"StringEquals":{"aws:SourceAccount":"111122223333"}}"#),
            ["service:*@111122223333"]
        );
        assert_eq!(
            s(r#"{"StringEquals":{"aws:SourceOrgID":"${aws:ResourceOrgID}"}}"#),
            ["service:*@o-abc123"]
        );
        // A principal key beside it: IAM principals, and the source account judged too.
        assert_eq!(
            s(r#"{"StringEquals":{"aws:PrincipalAccount":"999999999999","aws:SourceAccount":"123456789012"}}"#),
            ["account:123456789012", "account:999999999999"]
        );
    }

    #[test]
    fn service_pins_are_anded_and_wildcards_name_any_account() {
        let s = |cond: &str| reach_with(&service(cond), Some("123456789012"), None);
        assert_eq!(s("{}"), ["service:lambda.amazonaws.com"]);
        assert_eq!(
            s(r#"{"StringEquals":{"aws:SourceAccount":"${aws:ResourceAccount}"}}"#),
            ["service:lambda.amazonaws.com@123456789012"]
        );
        assert_eq!(
            s(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:lambda:*"}}"#),
            ["service:lambda.amazonaws.com@*"]
        );
        assert_eq!(
            s(r#"{"StringLike":{"aws:SourceArn":"*"}}"#),
            ["service:lambda.amazonaws.com@*"]
        );
        assert_eq!(
            s(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:lambda:*:*:function:*"}}"#),
            ["service:lambda.amazonaws.com@*"]
        );
        assert_eq!(
            s(r#"{"StringEquals":{"aws:SourceAccount":"123456789012"},"StringLike":{"aws:SourceArn":"*"}}"#),
            ["service:lambda.amazonaws.com@123456789012"]
        );
        // IfExists: the named account, and acting with no source at all.
        assert_eq!(
            s(r#"{"StringEqualsIfExists":{"aws:SourceAccount":"999999999999"}}"#),
            [
                "service:lambda.amazonaws.com",
                "service:lambda.amazonaws.com@999999999999"
            ]
        );
        assert_eq!(
            s(r#"{"StringEqualsIfExists":{"aws:SourceAccount":"123456789012"},"Null":{"aws:SourceAccount":"false"}}"#),
            ["service:lambda.amazonaws.com@123456789012"]
        );
        // A variable whose default fakes an account names any account.
        assert_eq!(
            s(
                r#"{"ArnLike":{"aws:SourceArn":"arn:aws:lambda:us-east-1:${aws:PrincipalTag/a, '123456789012'}:function:*"}}"#
            ),
            ["service:lambda.amazonaws.com@*"]
        );
    }

    #[test]
    fn notes_say_why_nothing_narrowed() {
        let p = Policy::parse(&star(
            r#"{"ForAllValues:StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}"#,
        ))
        .unwrap();
        let a = &analyze(&p)[0];
        assert_eq!(
            a.notes,
            ["a `ForAllValues:` condition is true when the key is absent (`aws:PrincipalOrgID`)"]
        );
        let p = Policy::parse(&star(
            r#"{"StringEquals":{"aws:PrincipalOrgID":"${aws:ResourceOrgID}"}}"#,
        ))
        .unwrap();
        assert_eq!(
            analyze(&p)[0].notes,
            ["`${aws:ResourceOrgID}` is known only when `org_id` is configured"]
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
