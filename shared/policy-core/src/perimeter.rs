//! The organisation perimeter: the guard config as an AWS Organizations resource control policy
//! (RCP) that denies ECR access outside what the config allows, in every member account at once.
//!
//! What the RCP language allows (AWS Organizations User Guide, "RCP syntax",
//! <https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps_syntax.html>):
//! `Version` must be `2012-10-17`; `Effect` must be `Deny`; `Principal` must be `"*"` (principals
//! are told apart by conditions); `Action` must name the service (`ecr:...`, never a bare `*`);
//! `Resource` or `NotResource` is required; `NotPrincipal` and `NotAction` are not supported. Every
//! character counts against the 5,120-character limit, whitespace included
//! (<https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html>).
//! The same page: RCPs do not apply to resources in the management account, and do not apply to
//! calls made by service-linked roles.
//!
//! The statements follow AWS's data-perimeter examples
//! (aws-samples/data-perimeter-policy-examples, `resource_control_policies/identity_perimeter_rcp.json`,
//! which lists `ecr:*` since June 2025): `EnforceOrgIdentities` denies principals outside the
//! organisation and the trusted accounts, with `BoolIfExists aws:PrincipalIsAWSService false` so
//! AWS service principals are judged by whom they act for instead; `EnforceConfusedDeputyProtection`
//! denies a service principal acting for an account outside them, only when the request carries
//! `aws:SourceAccount` (`Null` false), so services that name no source are left alone. No
//! exception is written for service-linked roles: RCPs never apply to them.
//!
//! Beyond the examples, class ceilings: for each group of ECR actions that the same grantees may
//! perform (pull, push, replication, admin; see [`crate::actions`]), a statement denies everyone
//! else. The actions are listed exactly as the catalogue classes them (never `NotAction`: in a
//! Deny it would deny every other service's actions too, and RCPs reject it), as compact
//! `ecr:Prefix*` patterns that cover no action of another group.
//!
//! The own account (the resource's) is never denied. RCPs cover only member accounts' resources,
//! so the caller from the resource's own account is a member of `org_id`: the outside-identity
//! statements, and every ceiling that spares the organisation's members, let it in with no policy
//! variable. A ceiling that denies the members too (actions above `org_access`) must tell the own
//! account from the other members, through `${aws:ResourceAccount}` among the spared accounts.
//! The RCP pages do not say whether policy variables are substituted in RCPs (the IAM User
//! Guide's page on policy variables lists identity, resource, session, VPC endpoint and service
//! control policies); AWS's own managed RCP for projects in its new account experience uses
//! `${aws:ResourceOrgID}`. Designed for both answers: each statement that names
//! `${aws:ResourceAccount}` also requires `aws:ResourceAccount` to equal `${aws:ResourceAccount}`,
//! true exactly when the variable is substituted. Were it taken as literal text, those statements
//! would match nothing and the perimeter would fall back to the others: never denying the own
//! account either way.

use crate::{
    actions::{catalogue, ActionClass, ActionInfo, ActionSet},
    condition::Operator,
    config::{GuardConfig, Mode},
    guard::registry_source_actions,
    model::{
        ConditionEntry, ConditionKey, ConditionValue, Effect, ListBlock, OneOrMany, Policy, Principal, PrincipalBlock,
        Statement,
    },
};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// AWS Organizations' limit on an RCP's text, whitespace included
pub const MAX_RCP_CHARS: usize = 5_120;

/// The own account, as the request's resource account (see the module docs on variables)
const OWN: &str = "${aws:ResourceAccount}";

/// A config that cannot be turned into an RCP
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PerimeterError {
    /// No organisation to draw the perimeter around
    #[error(
        "the perimeter needs `org_id`: a resource control policy applies inside one organisation, \
         and it recognises the own account as a member of it (`aws:PrincipalOrgID`), which needs no \
         policy variable; set `org_id` to the organisation the policy is attached in"
    )]
    NoOrg,
    /// Over the size limit even without whitespace
    #[error(
        "the perimeter is `{chars}` characters, over the {MAX_RCP_CHARS}-character limit of a resource \
         control policy: it names `{accounts}` trusted accounts and replication sources, each in up \
         to {repeats} statements; trust fewer accounts (or bring them into the organisation). It \
         cannot be split into two policies: each would deny the accounts only the other allows"
    )]
    TooLarge {
        /// Characters of the compact text, with its final newline
        chars: usize,
        /// Distinct accounts the policy names
        accounts: usize,
        /// The most statements one account is named in
        repeats: usize,
    },
}

/// The generated RCP, with what it cannot express
#[derive(Clone, Debug, PartialEq)]
pub struct Perimeter {
    /// The policy
    pub policy: Policy,
    /// Parts of the config the RCP does not reflect, one sentence each
    pub notes: Vec<String>,
}

impl Perimeter {
    /// The text to attach, with a final newline: laid out for reading (see [`layout`]) when that
    /// fits the limit, else compact, which always fits ([`perimeter`] checked it). AWS counts
    /// every character of the file, whitespace included.
    pub fn text(&self) -> String {
        let value = self.policy.to_value();
        let mut out = String::new();
        layout(&value, 0, 0, &mut out);
        out.push('\n');
        if out.chars().count() <= MAX_RCP_CHARS {
            out
        } else {
            format!("{value}\n")
        }
    }
}

/// Lines of the laid-out text are at most this wide where values allow
const WIDTH: usize = 100;

/// A value on one line, with a space after `:` and `,`
fn inline(v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                inline(x, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, x)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                inline(x, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Indented JSON that keeps short values on one line: a value that fits in [`WIDTH`] from where it
/// starts (`column`) is written inline; otherwise an object puts each member on its own line and
/// an array of strings fills lines. About a fifth larger than compact text, where plain two-space
/// indentation is about three fifths larger and overflows the limit sooner.
fn layout(v: &Value, depth: usize, column: usize, out: &mut String) {
    let mut one = String::new();
    inline(v, &mut one);
    let indent = |d: usize| "  ".repeat(d);
    // One column kept for the comma that may follow.
    if column + one.chars().count() < WIDTH || !(v.is_array() || v.is_object()) {
        out.push_str(&one);
        return;
    }
    let inner = indent(depth + 1);
    match v {
        Value::Object(map) => {
            out.push_str("{\n");
            for (i, (k, x)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                let key = format!("{inner}{}: ", Value::String(k.clone()));
                out.push_str(&key);
                layout(x, depth + 1, key.chars().count(), out);
            }
            out.push('\n');
        }
        Value::Array(items) if items.iter().all(|x| !(x.is_array() || x.is_object())) => {
            out.push_str("[\n");
            let mut line = String::new();
            for (i, x) in items.iter().enumerate() {
                let text = x.to_string();
                let last = i + 1 == items.len();
                let piece = if last { text } else { format!("{text},") };
                if !line.is_empty() && inner.len() + line.chars().count() + 1 + piece.chars().count() >= WIDTH {
                    out.push_str(&inner);
                    out.push_str(&line);
                    out.push('\n');
                    line.clear();
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(&piece);
            }
            out.push_str(&inner);
            out.push_str(&line);
            out.push('\n');
        }
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                out.push_str(&inner);
                layout(x, depth + 1, inner.len(), out);
            }
            out.push('\n');
        }
        _ => {}
    }
    out.push_str(&indent(depth));
    out.push(if v.is_object() { '}' } else { ']' });
}

/// Who may perform a group of actions, besides the own account
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Grantees {
    /// Accounts, by id
    accounts: BTreeSet<String>,
    /// Every member of `org_id`
    org: bool,
}

/// Whether an action is of a kind, given the replication actions
type IsKind = fn(&ActionInfo, ActionSet) -> bool;

/// The four kinds of action the ceilings tell apart, for `Sid`s
const KINDS: [(&str, IsKind); 4] = [
    ("Pull", |a, _| a.class() == ActionClass::Pull),
    ("Push", |a, r| a.class() == ActionClass::Push && !r.contains(a)),
    ("Replication", |a, r| r.contains(a)),
    ("Admin", |a, _| a.class() == ActionClass::Admin),
];

/// The actions of a set as few `ecr:` patterns as possible, each covering only actions of the
/// set: for each action the shortest `ecr:Prefix*` that stays inside the set, else its exact
/// name. Two such prefixes never overlap (the shorter would have been chosen for both).
pub fn action_patterns(set: ActionSet) -> Vec<String> {
    if set == ActionSet::all() {
        return vec!["ecr:*".to_owned()];
    }
    let mut out = BTreeSet::new();
    for a in set.iter() {
        let rest = a.name.strip_prefix("ecr:").unwrap_or(a.name);
        let prefix = rest
            .char_indices()
            .map(|(i, c)| i + c.len_utf8())
            .filter_map(|end| rest.get(..end))
            .map(|p| format!("ecr:{p}*"))
            .find(|p| ActionSet::from_pattern(p).is_subset(set));
        out.insert(prefix.unwrap_or_else(|| a.name.to_owned()));
    }
    out.into_iter().collect()
}

fn values(items: Vec<String>) -> OneOrMany<ConditionValue> {
    OneOrMany::from_vec(items.into_iter().map(ConditionValue::String).collect())
}

fn entry(op: &str, keys: Vec<(&str, Vec<String>)>) -> ConditionEntry {
    ConditionEntry {
        raw: op.to_owned(),
        operator: Operator::parse(op),
        keys: keys
            .into_iter()
            .map(|(key, v)| ConditionKey {
                key: key.to_owned(),
                values: values(v),
            })
            .collect(),
    }
}

fn one(s: &str) -> Vec<String> {
    vec![s.to_owned()]
}

/// A Deny for everyone (`Principal: "*"`, as RCPs require) on `resource`
fn deny(sid: String, actions: Vec<String>, resource: ListBlock, condition: Vec<ConditionEntry>) -> Statement {
    Statement {
        sid: Some(sid),
        effect: Effect::Deny,
        principal: Some(PrincipalBlock {
            negated: false,
            principal: Principal::Any,
        }),
        action: ListBlock {
            negated: false,
            values: OneOrMany::from_vec(actions),
        },
        resource: Some(resource),
        condition: Some(condition),
        extra: Map::new(),
    }
}

/// Whose requests a statement judges, and by which keys
#[derive(Clone, Copy)]
enum Side {
    /// IAM principals (and anonymous callers) by `aws:PrincipalAccount` / `aws:PrincipalOrgID`;
    /// AWS service principals excluded (`BoolIfExists`, as the data-perimeter examples do)
    Identities,
    /// AWS service principals that name a source, by `aws:SourceAccount` / `aws:SourceOrgID`
    Services,
}

impl Side {
    fn keys(self) -> (&'static str, &'static str) {
        match self {
            Side::Identities => ("aws:PrincipalAccount", "aws:PrincipalOrgID"),
            Side::Services => ("aws:SourceAccount", "aws:SourceOrgID"),
        }
    }

    /// The conditions that select this side's requests
    fn selector(self) -> Vec<ConditionEntry> {
        match self {
            Side::Identities => vec![entry("BoolIfExists", vec![("aws:PrincipalIsAWSService", one("false"))])],
            Side::Services => vec![
                entry("Null", vec![("aws:SourceAccount", one("false"))]),
                entry("Bool", vec![("aws:PrincipalIsAWSService", one("true"))]),
            ],
        }
    }

    fn sid_infix(self) -> &'static str {
        match self {
            Side::Identities => "",
            Side::Services => "Services",
        }
    }
}

/// What the statements share: the organisation and the resources the perimeter covers
struct Frame<'a> {
    org: &'a str,
    /// `Resource: "*"`, or `NotResource` with the exempt repositories
    exempt: Vec<String>,
}

impl Frame<'_> {
    fn resource(&self, extra: &[String]) -> ListBlock {
        let mut excluded: Vec<String> = extra.to_vec();
        excluded.extend(self.exempt.iter().cloned());
        if excluded.is_empty() {
            ListBlock {
                negated: false,
                values: OneOrMany::One("*".to_owned()),
            }
        } else {
            ListBlock {
                negated: true,
                values: OneOrMany::from_vec(excluded),
            }
        }
    }

    /// Denies every ECR action to whoever is neither in the organisation nor one of `accounts`
    /// (the data-perimeter examples' identity statements). No policy variable: the own account is
    /// a member of the organisation.
    fn outside(&self, side: Side, accounts: &BTreeSet<String>) -> Statement {
        let (account_key, org_key) = side.keys();
        let mut keys = vec![(org_key, one(self.org))];
        if !accounts.is_empty() {
            keys.push((account_key, accounts.iter().cloned().collect()));
        }
        let mut condition = vec![entry("StringNotEqualsIfExists", keys)];
        condition.extend(side.selector());
        let sid = match side {
            Side::Identities => "DenyEcrOutsideOrgAndTrustedAccounts",
            Side::Services => "DenyEcrServicesActingForOutsiders",
        };
        deny(sid.to_owned(), vec!["ecr:*".to_owned()], self.resource(&[]), condition)
    }

    /// Denies `actions` to everyone but the own account and `grantees`, where `everyone` is
    /// whom the outside statement of the side lets in. Written the shorter of two exact ways:
    ///
    /// - "everyone but": the own account (`${aws:ResourceAccount}`), the grantees' accounts and,
    ///   when they may, the organisation's members are spared;
    /// - when the organisation's members may perform the actions: "these accounts", the accounts
    ///   the outside statement lets in that are not grantees, unless they are members. No policy
    ///   variable is needed: an account whose resources the RCP covers is a member.
    fn ceiling(
        &self,
        side: Side,
        actions: ActionSet,
        grantees: &Grantees,
        everyone: &Grantees,
        replication: ActionSet,
    ) -> Statement {
        let (account_key, org_key) = side.keys();
        let others: Vec<String> = everyone.accounts.difference(&grantees.accounts).cloned().collect();
        let mut condition = if grantees.org && others.len() <= grantees.accounts.len() {
            vec![
                entry("StringEquals", vec![(account_key, others)]),
                entry("StringNotEqualsIfExists", vec![(org_key, one(self.org))]),
            ]
        } else {
            let mut allowed = vec![OWN.to_owned()];
            allowed.extend(grantees.accounts.iter().cloned());
            let mut keys = vec![(account_key, allowed)];
            if grantees.org {
                keys.push((org_key, one(self.org)));
            }
            vec![
                entry("StringNotEqualsIfExists", keys),
                // True exactly when policy variables are substituted: see the module docs.
                entry("StringEquals", vec![("aws:ResourceAccount", one(OWN))]),
            ]
        };
        condition.extend(side.selector());
        let kinds: String = KINDS
            .iter()
            .filter(|(_, is)| actions.iter().any(|a| is(a, replication)))
            .map(|(name, _)| *name)
            .collect();
        let sid = format!("DenyEcr{}{kinds}BeyondClass", side.sid_infix());
        deny(sid, action_patterns(actions), self.resource(&[]), condition)
    }
}

/// Who the config lets perform `action`, besides the own account
fn grantees(config: &GuardConfig, action: &ActionInfo, side: Side, replication: ActionSet) -> Grantees {
    let class = action.class();
    let mut accounts: BTreeSet<String> = config
        .trusted_accounts
        .iter()
        .filter(|(_, c)| class <= c.ceiling())
        .map(|(a, _)| a.clone())
        .collect();
    // Replication sources hold their actions through the registry policy (IAM principals only:
    // the guard never lets a service act for a source).
    if matches!(side, Side::Identities) && replication.contains(action) {
        accounts.extend(config.replication_sources.iter().cloned());
    }
    Grantees {
        accounts,
        org: class <= config.org_access.ceiling(),
    }
}

/// The ceiling statements of one side: one per group of actions sharing their grantees, except
/// groups whose grantees are everyone the outside-identity statement already lets in
fn ceilings(frame: &Frame, config: &GuardConfig, side: Side, everyone: &Grantees) -> Vec<Statement> {
    let replication = registry_source_actions();
    let mut groups: BTreeMap<Grantees, ActionSet> = BTreeMap::new();
    for a in catalogue() {
        let set = groups.entry(grantees(config, a, side, replication)).or_default();
        *set = set.union(ActionSet::from_pattern(a.name));
    }
    let mut groups: Vec<(Grantees, ActionSet)> = groups.into_iter().filter(|(g, _)| g != everyone).collect();
    // Pull before push before admin: the order a reader expects.
    groups.sort_by_key(|(_, set)| (set.iter().map(ActionInfo::class).min(), set.class()));
    groups
        .iter()
        .map(|(g, set)| frame.ceiling(side, *set, g, everyone, replication))
        .collect()
}

/// Sources may hold the replication actions only on repositories within
/// `replication_repository_prefix` (the guard's `registry-grant` rule); a source that is also a
/// trusted push account (or an organisation member, when the organisation may push) is not bound.
fn replication_prefix(frame: &Frame, config: &GuardConfig) -> Option<Statement> {
    let prefix = &config.replication_repository_prefix;
    let replication = registry_source_actions();
    let bound: Vec<String> = config
        .replication_sources
        .iter()
        .filter(|s| config.trusted_ceiling(s) < Some(ActionClass::Push))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if prefix == "*" || bound.is_empty() {
        return None;
    }
    let mut condition = vec![
        entry(
            "StringEquals",
            vec![("aws:PrincipalAccount", bound), ("aws:ResourceAccount", one(OWN))],
        ),
        entry("StringNotEquals", vec![("aws:PrincipalAccount", one(OWN))]),
    ];
    if config.org_access.ceiling() >= ActionClass::Push {
        condition.push(entry(
            "StringNotEqualsIfExists",
            vec![("aws:PrincipalOrgID", one(frame.org))],
        ));
    }
    condition.extend(Side::Identities.selector());
    let within = format!("arn:*:ecr:*:*:repository/{prefix}");
    Some(deny(
        "DenyEcrReplicationOutsidePrefix".to_owned(),
        action_patterns(replication),
        frame.resource(&[within]),
        condition,
    ))
}

/// The RCP for a config: deterministic (the same config gives the same text), within
/// [`MAX_RCP_CHARS`] without whitespace
pub fn perimeter(config: &GuardConfig) -> Result<Perimeter, PerimeterError> {
    let org = config.org_id.as_deref().ok_or(PerimeterError::NoOrg)?;
    // The guard never reads or writes an exempt repository: the perimeter leaves it out too.
    let exempt = config
        .exempt_repositories
        .iter()
        .map(|g| format!("arn:*:ecr:*:*:repository/{g}"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let frame = Frame { org, exempt };
    let trusted: BTreeSet<String> = config.trusted_accounts.keys().cloned().collect();
    let mut identities = trusted.clone();
    identities.extend(config.replication_sources.iter().cloned());
    let mut policy = Policy::empty();
    policy.statements.push(frame.outside(Side::Identities, &identities));
    let everyone = Grantees {
        accounts: identities.clone(),
        org: true,
    };
    policy
        .statements
        .extend(ceilings(&frame, config, Side::Identities, &everyone));
    policy.statements.extend(replication_prefix(&frame, config));
    policy.statements.push(frame.outside(Side::Services, &trusted));
    let everyone = Grantees {
        accounts: trusted,
        org: true,
    };
    policy
        .statements
        .extend(ceilings(&frame, config, Side::Services, &everyone));
    // The compact text and its final newline.
    let chars = policy.to_json().chars().count() + 1;
    if chars > MAX_RCP_CHARS {
        let texts: Vec<String> = policy.statements.iter().map(|s| s.to_value().to_string()).collect();
        let repeats = identities
            .iter()
            .map(|a| texts.iter().filter(|t| t.contains(a.as_str())).count())
            .max()
            .unwrap_or(0);
        return Err(PerimeterError::TooLarge {
            chars,
            accounts: identities.len(),
            repeats,
        });
    }
    Ok(Perimeter {
        policy,
        notes: notes(config),
    })
}

/// What the config holds that the RCP does not reflect
fn notes(config: &GuardConfig) -> Vec<String> {
    let mut out = Vec::new();
    if config.mode.default != Mode::Enforce || config.mode.rules.values().any(|m| *m != Mode::Enforce) {
        out.push(format!(
            "the config's mode is `{}`: the perimeter denies at once what report-mode rules only report",
            config.mode.label()
        ));
    }
    for (i, x) in config.exceptions.iter().enumerate() {
        out.push(format!(
            "`exceptions[{i}]` ({} on `{}` until `{}`) is not part of the perimeter: an organisation policy has no end date or per-repository approval, so the perimeter denies what the exception keeps",
            x.grantee, x.repositories, x.expires
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::lookup;

    fn class_set(f: impl Fn(&ActionInfo) -> bool) -> ActionSet {
        catalogue()
            .iter()
            .filter(|a| f(a))
            .fold(ActionSet::empty(), |s, a| s.union(ActionSet::from_pattern(a.name)))
    }

    fn expand(patterns: &[String]) -> ActionSet {
        patterns
            .iter()
            .fold(ActionSet::empty(), |s, p| s.union(ActionSet::from_pattern(p)))
    }

    #[test]
    fn patterns_cover_each_class_exactly() {
        let replication = registry_source_actions();
        for (name, is) in KINDS {
            let set = class_set(|a| is(a, replication));
            let patterns = action_patterns(set);
            assert_eq!(expand(&patterns), set, "{name}: {patterns:?}");
            // Compact: shorter than the names written out.
            let names: usize = set.iter().map(|a| a.name.len()).sum();
            let written: usize = patterns.iter().map(String::len).sum();
            assert!(written < names, "{name}: {patterns:?}");
        }
        // Unions too, and a prefix that would reach another class is never used.
        let push = class_set(|a| a.class() == ActionClass::Push);
        let p = action_patterns(push);
        assert_eq!(expand(&p), push);
        assert!(p.contains(&"ecr:CreateRepository".to_owned()), "{p:?}");
        assert!(p.contains(&"ecr:PutImage".to_owned()), "{p:?}");
        assert_eq!(action_patterns(ActionSet::all()), ["ecr:*"]);
        let one = ActionSet::from_pattern("ecr:SetRepositoryPolicy");
        assert_eq!(expand(&action_patterns(one)), one);
        assert!(lookup("ecr:SetRepositoryPolicy").is_some());
    }

    #[test]
    fn no_org_is_an_error() {
        let c = GuardConfig::parse(r#"{"trusted_accounts":{"111122223333":"pull"}}"#).unwrap();
        assert_eq!(perimeter(&c).unwrap_err(), PerimeterError::NoOrg);
        assert!(PerimeterError::NoOrg
            .to_string()
            .starts_with("the perimeter needs `org_id`"));
    }

    #[test]
    fn minimal_config_has_the_two_outside_statements_and_the_ceilings() {
        let c = GuardConfig::parse(r#"{"mode":"enforce","org_id":"o-a1b2c3d4e5"}"#).unwrap();
        let p = perimeter(&c).unwrap();
        let sids: Vec<_> = p.policy.statements.iter().filter_map(|s| s.sid.as_deref()).collect();
        assert_eq!(
            sids,
            [
                "DenyEcrOutsideOrgAndTrustedAccounts",
                "DenyEcrPushReplicationAdminBeyondClass",
                "DenyEcrServicesActingForOutsiders",
                "DenyEcrServicesPushReplicationAdminBeyondClass",
            ]
        );
        assert!(p.notes.is_empty());
        assert_eq!(p.policy.to_value()["Statement"][0]["Resource"], "*");
    }

    #[test]
    fn deterministic_and_rcp_shaped() {
        let text = r#"{"mode":"enforce","org_id":"o-a1b2c3d4e5","trusted_accounts":{"444455556666":"push","111122223333":"pull"},
            "replication_sources":["777788889999"],"exempt_repositories":["sandbox-*"]}"#;
        let a = perimeter(&GuardConfig::parse(text).unwrap()).unwrap();
        let b = perimeter(&GuardConfig::parse(text).unwrap()).unwrap();
        assert_eq!(a.text(), b.text());
        assert_eq!(a.policy.version, Some(crate::model::Version::V2012));
        for s in &a.policy.statements {
            assert_eq!(s.effect, Effect::Deny);
            assert_eq!(s.principal.as_ref().map(|p| &p.principal), Some(&Principal::Any));
            assert!(!s.action.negated);
            assert!(s.action.values.iter().all(|v| v.starts_with("ecr:")));
            let r = s.resource.as_ref().unwrap();
            assert!(r.negated && r.values.iter().any(|v| v == "arn:*:ecr:*:*:repository/sandbox-*"));
            assert!(s.sid.as_deref().unwrap().chars().all(|c| c.is_ascii_alphanumeric()));
        }
        assert!(a.text().chars().count() <= MAX_RCP_CHARS);
        // The laid-out text is the same policy, on several lines.
        let text = a.text();
        assert!(text.lines().count() > 50, "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
        assert_eq!(Policy::parse(&text).unwrap(), a.policy);
    }

    #[test]
    fn text_falls_back_to_compact_near_the_limit() {
        let accounts: serde_json::Map<String, serde_json::Value> = (0..30)
            .map(|i| (format!("{:012}", 100_000_000_000u64 + i), serde_json::json!("push")))
            .collect();
        let c = serde_json::json!({"org_id":"o-a1b2c3d4e5","trusted_accounts":accounts});
        let p = perimeter(&GuardConfig::parse(&c.to_string()).unwrap()).unwrap();
        let text = p.text();
        assert_eq!(text, format!("{}\n", p.policy.to_json()));
        assert!(text.chars().count() <= MAX_RCP_CHARS);
    }

    #[test]
    fn too_many_accounts_name_the_size() {
        let accounts: serde_json::Map<String, serde_json::Value> = (0..300)
            .map(|i| (format!("{:012}", 100_000_000_000u64 + i), serde_json::json!("push")))
            .collect();
        let c = serde_json::json!({"org_id":"o-a1b2c3d4e5","trusted_accounts":accounts});
        let e = perimeter(&GuardConfig::parse(&c.to_string()).unwrap()).unwrap_err();
        let PerimeterError::TooLarge { chars, accounts, .. } = e else {
            panic!("{e:?}")
        };
        assert!(chars > MAX_RCP_CHARS);
        assert_eq!(accounts, 300);
        assert!(e
            .to_string()
            .contains(&format!("`{chars}` characters, over the 5120-character limit")));
    }

    #[test]
    fn notes_name_report_mode_and_exceptions() {
        let c = GuardConfig::parse(
            r#"{"org_id":"o-a1b2c3d4e5","exceptions":[{"repositories":"legacy-*","grantee":{"account":"999999999999"},
            "max":"pull","expires":"2099-01-01","reason":"migration, approved by sec"}]}"#,
        )
        .unwrap();
        let p = perimeter(&c).unwrap();
        assert_eq!(p.notes.len(), 2, "{:?}", p.notes);
        assert!(p.notes[0].contains("mode is `report`"), "{}", p.notes[0]);
        assert!(
            p.notes[1].starts_with("`exceptions[0]` (account `999999999999` on `legacy-*` until `2099-01-01`)"),
            "{}",
            p.notes[1]
        );
    }
}
