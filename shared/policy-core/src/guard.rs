//! The guard rules: which grants in a repository or registry policy are disallowed, and why.
//!
//! Deny statements are always kept. An Allow statement is judged by who it reaches (see
//! [`crate::access`]) and the highest class of ECR action it grants. A disallowed explicit
//! principal is removed from its statement; a disallowed `*` (or `NotPrincipal`, or `NotAction`
//! beyond the own account) cannot be partly removed, so its whole statement goes.
//!
//! A registry policy is judged by what registry policy scope V2 enforces: every Allow is a grant
//! on the repositories its `Resource` covers, judged like a repository grant, plus the replication
//! rule (a replication source may hold `ecr:ReplicateImage` and `ecr:CreateRepository` within
//! `replication_repository_prefix`). Under V1 a registry policy can only hold three actions, so
//! the same judgement gives the V1 answer too.
//!
//! Each rule's mode (`enforce` or `report`) decides whether its changes are applied; findings of
//! report-mode rules are returned with the change they would make, and the policy keeps the grant.

use crate::{
    access::{analyze_statement, aws_reach, Reach, Resolver, Source, StatementAccess},
    actions::{lookup, ActionClass, ActionSet},
    condition::arn_parts,
    config::{GuardConfig, Mode, UnpinnedServices},
    exception::{Grantee, EXPIRY_WARNING_DAYS},
    model::{
        ConditionEntry, ConditionKey, ConditionValue, Effect, OneOrMany, Policy, Principal, PrincipalKind, Statement,
    },
    wildcard::{has_wildcard, wildcard_match},
};

/// What the rules are judged against
#[derive(Clone, Copy, Debug)]
pub struct GuardContext<'a> {
    /// The configuration
    pub config: &'a GuardConfig,
    /// The account that owns the registry
    pub account: &'a str,
    /// The registry's region
    pub region: &'a str,
    /// The registry's partition (`aws`, `aws-cn`, ...)
    pub partition: &'a str,
    /// The repository names a repository-policy document applies to (a name, or a template's
    /// namespace glob); approved exceptions apply only when it is known
    pub scope: Option<&'a str>,
    /// Now, in seconds since the epoch; approved exceptions apply only when it is known
    pub now: Option<f64>,
}

impl<'a> GuardContext<'a> {
    /// A context for one registry
    pub fn new(config: &'a GuardConfig, account: &'a str, region: &'a str, partition: &'a str) -> Self {
        GuardContext {
            config,
            account,
            region,
            partition,
            scope: None,
            now: None,
        }
    }

    /// The same context judging a document that applies to `scope` (a repository name or glob)
    pub fn for_scope(self, scope: &'a str) -> Self {
        GuardContext {
            scope: Some(scope),
            ..self
        }
    }

    /// The same context at `now` (seconds since the epoch), for approved exceptions
    pub fn at(self, now: f64) -> Self {
        GuardContext { now: Some(now), ..self }
    }

    /// How a policy's resource-side variables resolve in this registry
    pub fn resolver(&self, policy: &Policy) -> Resolver<'a> {
        Resolver {
            variables: policy.variables_enabled(),
            account: Some(self.account),
            org: self.config.org_id.as_deref(),
        }
    }
}

/// Why a grant was found
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// `*` (any form), `NotPrincipal` with Allow, not narrowed to the organisation or trusted accounts
    Public,
    /// Allow with `NotAction` to anyone outside the own account
    NotAction,
    /// A principal or narrowed `*` of an account that is neither own nor trusted
    ForeignAccount,
    /// A trusted account granted more than its class
    ExcessAccess,
    /// `*` narrowed to an organisation other than `org_id`
    ForeignOrg,
    /// The organisation granted more than `org_access`
    OrgExcessAccess,
    /// A service principal not in `trusted_services`, or every service (`*` narrowed only by
    /// source conditions)
    UntrustedService,
    /// A service pinned to an account or organisation that is neither own nor trusted, or to any
    ServiceForeignSource,
    /// A trusted service that may act for any account's resources (the confused deputy)
    ServiceUnpinned,
    /// A federated or canonical-user principal
    ForeignPrincipal,
    /// A replication source's grant in the registry policy beyond `replication_repository_prefix`
    RegistryGrant,
    /// A baseline statement missing (restored)
    Baseline,
    /// A replication source's registry grant missing (added)
    Replication,
}

impl Rule {
    /// Every rule, in the order the README lists them
    pub const ALL: &'static [Rule] = &[
        Rule::Public,
        Rule::NotAction,
        Rule::ForeignAccount,
        Rule::ExcessAccess,
        Rule::ForeignOrg,
        Rule::OrgExcessAccess,
        Rule::UntrustedService,
        Rule::ServiceForeignSource,
        Rule::ServiceUnpinned,
        Rule::ForeignPrincipal,
        Rule::RegistryGrant,
        Rule::Baseline,
        Rule::Replication,
    ];

    /// Kebab-case name used in config, logs and outcomes
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Public => "public",
            Rule::NotAction => "not-action",
            Rule::ForeignAccount => "foreign-account",
            Rule::ExcessAccess => "excess-access",
            Rule::ForeignOrg => "foreign-org",
            Rule::OrgExcessAccess => "org-excess-access",
            Rule::UntrustedService => "untrusted-service",
            Rule::ServiceForeignSource => "service-foreign-source",
            Rule::ServiceUnpinned => "service-unpinned",
            Rule::ForeignPrincipal => "foreign-principal",
            Rule::RegistryGrant => "registry-grant",
            Rule::Baseline => "baseline",
            Rule::Replication => "replication",
        }
    }

    /// The rule named `name`
    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.as_str() == name)
    }

    /// How bad a finding of this rule is
    pub fn severity(self) -> Severity {
        match self {
            Rule::Public | Rule::NotAction => Severity::Critical,
            Rule::ForeignAccount
            | Rule::ForeignOrg
            | Rule::UntrustedService
            | Rule::ServiceForeignSource
            | Rule::ForeignPrincipal => Severity::High,
            Rule::ExcessAccess | Rule::OrgExcessAccess | Rule::RegistryGrant => Severity::Medium,
            Rule::ServiceUnpinned | Rule::Baseline | Rule::Replication => Severity::Low,
        }
    }

    /// One line on what the rule finds
    pub fn description(self) -> &'static str {
        match self {
            Rule::Public => "a grant to anyone: `*` not narrowed to the organisation or trusted accounts",
            Rule::NotAction => "an Allow with NotAction to principals outside the own account",
            Rule::ForeignAccount => "a grant to an account that is neither own nor trusted",
            Rule::ExcessAccess => "a trusted account granted more than its class",
            Rule::ForeignOrg => "a grant to another organisation",
            Rule::OrgExcessAccess => "the organisation granted more than org_access",
            Rule::UntrustedService => "a grant to a service that is not trusted, or to every service",
            Rule::ServiceForeignSource => "a service pinned to an account that is neither own nor trusted, or to any",
            Rule::ServiceUnpinned => "a trusted service that may act for any account's resources (confused deputy)",
            Rule::ForeignPrincipal => "a grant to a federated or canonical-user principal",
            Rule::RegistryGrant => "a replication grant beyond replication_repository_prefix",
            Rule::Baseline => "a baseline statement missing from the policy",
            Rule::Replication => "a replication source without its registry grant",
        }
    }
}

/// Severity of a finding, as security tools rank them
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// A repair or a note
    Low,
    /// More access than allowed to a grantee that is allowed some
    Medium,
    /// Access for someone outside what the config allows
    High,
    /// Access for anyone
    Critical,
}

impl Severity {
    /// Uppercase label (Security Hub's names)
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// What was done about a finding
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Disposition {
    /// The grant (or the statement) is removed
    Removed,
    /// The statement is rewritten to pin a service to the own account
    Pinned,
    /// The rule is in report mode: the grant is kept; `rewritten` shows what enforcing would write
    Reported,
    /// Kept by configuration (`unpinned_services: keep`): a finding only
    Kept,
    /// Kept by an approved exception until its end date
    Excepted,
}

impl Disposition {
    /// Lowercase name for logs and outcomes
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Removed => "removed",
            Disposition::Pinned => "pinned",
            Disposition::Reported => "reported",
            Disposition::Kept => "kept",
            Disposition::Excepted => "excepted",
        }
    }

    /// True when the finding changes the policy written
    pub fn changes(self) -> bool {
        matches!(self, Disposition::Removed | Disposition::Pinned)
    }
}

/// One finding about a statement: the statement verbatim before and after, so a person can
/// restore anything the guard took away
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// Index of the statement in the policy as read
    pub index: usize,
    /// `statement 2 (`Sid`)`
    pub label: String,
    /// The rule
    pub rule: Rule,
    /// Why, with the offending values and why conditions did not narrow
    pub reason: String,
    /// The principal concerned, `None` when the whole statement is
    pub principal: Option<String>,
    /// The statement as read
    pub statement: Statement,
    /// The statement as enforcing this finding leaves it, `None` when it goes
    pub rewritten: Option<Statement>,
    /// What was done
    pub disposition: Disposition,
}

/// The result of applying the rules to a policy
#[derive(Clone, Debug, PartialEq)]
pub struct Review {
    /// The policy with the changes of enforced rules applied (may have no statement left)
    pub policy: Policy,
    /// The policy with every change applied, whatever the rules' modes
    pub full: Policy,
    /// Every finding, in statement order
    pub findings: Vec<Finding>,
}

impl Review {
    /// The findings that change the policy when enforced (removals and pins)
    pub fn changes(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.disposition.changes() || f.disposition == Disposition::Reported)
    }
}

type Violation = (Rule, String);

fn class_name(c: ActionClass) -> &'static str {
    c.as_str()
}

/// ` (why conditions did not narrow)` for a reason, empty when there is nothing to say
fn because(access: &StatementAccess) -> String {
    if access.notes.is_empty() {
        String::new()
    } else {
        format!(": {}", access.notes.join("; "))
    }
}

/// Judges one account reached with a class of access
fn judge_account(account: &str, class: ActionClass, ctx: &GuardContext) -> Result<(), Violation> {
    if account == ctx.account {
        return Ok(());
    }
    match ctx.config.trusted_ceiling(account) {
        Some(ceiling) if class <= ceiling => Ok(()),
        Some(ceiling) => Err((
            Rule::ExcessAccess,
            format!(
                "grants `{}` to trusted account `{account}`, which may have `{}` at most",
                class_name(class),
                class_name(ceiling)
            ),
        )),
        None => Err((
            Rule::ForeignAccount,
            format!(
                "grants `{}` to account `{account}`, which is not trusted",
                class_name(class)
            ),
        )),
    }
}

fn judge_org(org: &str, class: ActionClass, ctx: &GuardContext) -> Result<(), Violation> {
    if ctx.config.org_id.as_deref() != Some(org) {
        return Err((
            Rule::ForeignOrg,
            format!("grants `{}` to organisation `{org}`", class_name(class)),
        ));
    }
    let ceiling = ctx.config.org_access.ceiling();
    if class <= ceiling {
        Ok(())
    } else {
        Err((
            Rule::OrgExcessAccess,
            format!(
                "grants `{}` to organisation `{org}`, which may have `{}` at most",
                class_name(class),
                class_name(ceiling)
            ),
        ))
    }
}

/// Judges a service acting for `source`; `Ok(true)` when it is unpinned (a finding of its own)
fn judge_service_source(
    name: &str,
    source: &Source,
    class: ActionClass,
    ctx: &GuardContext,
) -> Result<bool, Violation> {
    let foreign = |(rule, why): Violation, whose: String| {
        let rule = match rule {
            Rule::ForeignAccount | Rule::ForeignOrg => Rule::ServiceForeignSource,
            other => other,
        };
        (rule, format!("service `{name}` acts for {whose}: {why}"))
    };
    match source {
        Source::Unpinned => Ok(true),
        Source::Account(a) => judge_account(a, class, ctx)
            .map(|()| false)
            .map_err(|v| foreign(v, format!("account `{a}`"))),
        Source::Org(o) => judge_org(o, class, ctx)
            .map(|()| false)
            .map_err(|v| foreign(v, format!("organisation `{o}`"))),
        Source::Any(value) => Err((
            Rule::ServiceForeignSource,
            format!("service `{name}` is pinned to any account: `{value}` names no one account"),
        )),
    }
}

/// Judges what a `*` reaches, as narrowed by its conditions
fn judge_anyone(
    reach: &Reach,
    class: ActionClass,
    access: &StatementAccess,
    ctx: &GuardContext,
    account_rule: &dyn Fn(&str) -> Result<(), Violation>,
) -> Result<(), Violation> {
    match reach {
        Reach::Public => Err((
            Rule::Public,
            format!("grants `{}` to anyone{}", class_name(class), because(access)),
        )),
        Reach::Account(a) => account_rule(a),
        Reach::Org(o) => judge_org(o, class, ctx),
        Reach::Service { source, .. } => {
            let whose = match source {
                Source::Account(a) => format!("account `{a}`"),
                Source::Org(o) => format!("organisation `{o}`"),
                Source::Any(v) => format!("`{v}`"),
                Source::Unpinned => "any account".to_owned(),
            };
            if !ctx.config.trusts_every_service() {
                return Err((
                    Rule::UntrustedService,
                    format!(
                        "grants `{}` to every AWS service acting for {whose}: source keys such as `aws:SourceAccount` are absent from direct calls, so this `*` reaches services only, and `trusted_services` does not include `*`",
                        class_name(class)
                    ),
                ));
            }
            judge_service_source("*", source, class, ctx).map(|_| ())
        }
        other => Err((
            Rule::Public,
            format!("grants `{}` to `{other}`{}", class_name(class), because(access)),
        )),
    }
}

/// One problem with a statement, before modes and exceptions decide what is done
enum Issue {
    /// The whole statement
    Statement(Violation),
    /// One principal: removed
    Principal(PrincipalKind, String, Violation),
    /// A trusted service that acts for anyone's resources
    Unpinned(String, String),
    /// A violation an approved exception covers: kept, reported as excepted (the principal, or
    /// `None` for the statement's `*` part)
    Excepted(Option<String>, Violation),
}

/// The grantee an exception would have to name for this principal
fn grantee_of(kind: PrincipalKind, id: &str) -> Option<Grantee> {
    match (kind, aws_reach(id)) {
        (PrincipalKind::Aws, Some(Reach::Account(a))) => Some(Grantee::Account(a)),
        (PrincipalKind::Aws, Some(Reach::Principal { arn, .. })) => Some(Grantee::Principal(arn)),
        (PrincipalKind::Service, _) => Some(Grantee::Service(id.to_owned())),
        _ => None,
    }
}

/// The grantee a `*` narrowed to `reach` amounts to
fn grantee_of_reach(reach: &Reach) -> Option<Grantee> {
    match reach {
        Reach::Account(a) => Some(Grantee::Account(a.clone())),
        Reach::Org(o) => Some(Grantee::Org(o.clone())),
        _ => None,
    }
}

/// The violation with the approved exception that keeps it appended, when one covers `grantee`
/// holding `class` on every repository of `scopes`
fn excepted(
    v: &Violation,
    grantee: &Grantee,
    class: ActionClass,
    scopes: &[String],
    ctx: &GuardContext,
) -> Option<Violation> {
    let now = ctx.now?;
    if scopes.is_empty() {
        return None;
    }
    let (i, x) = ctx
        .config
        .exceptions
        .iter()
        .enumerate()
        .find(|(_, x)| x.active(now) && scopes.iter().all(|scope| x.covers(scope, grantee, class, v.0)))?;
    let days = x.days_left(now);
    let soon = if (days as f64) < EXPIRY_WARNING_DAYS {
        format!(", in {days} days")
    } else {
        String::new()
    };
    Some((
        v.0,
        format!(
            "{}; kept by `exceptions[{i}]` for {grantee} until `{}`{soon}: {}",
            v.1, x.expires, x.reason
        ),
    ))
}

fn judge_principals(
    s: &Statement,
    mut judge: impl FnMut(PrincipalKind, &str) -> Result<Option<String>, Violation>,
) -> Vec<Issue> {
    let mut issues = Vec::new();
    if let Some(Principal::Map(map)) = s.principal.as_ref().filter(|b| !b.negated).map(|b| &b.principal) {
        for (kind, ids) in map {
            for id in ids.iter() {
                match judge(*kind, id) {
                    Ok(None) => {}
                    Ok(Some(why)) => issues.push(Issue::Unpinned(id.clone(), why)),
                    Err(v) => issues.push(Issue::Principal(*kind, id.clone(), v)),
                }
            }
        }
    }
    issues
}

/// Judges an explicit service principal: trusted, and acting only for allowed accounts
fn judge_service(
    id: &str,
    access: &StatementAccess,
    class: ActionClass,
    ctx: &GuardContext,
) -> Result<Option<String>, Violation> {
    if !ctx.config.trusts_service(id) {
        return Err((Rule::UntrustedService, format!("service `{id}` is not trusted")));
    }
    let mut unpinned = false;
    for source in access.service_sources(id) {
        unpinned |= judge_service_source(id, source, class, ctx)?;
    }
    Ok(unpinned.then(|| {
        format!(
            "trusted service `{id}` may act for any account's resources (no exact `aws:SourceAccount`, `aws:SourceArn` or `aws:SourceOrgID` condition): the confused-deputy pattern{}",
            because(access)
        )
    }))
}

/// Judges one Allow statement: its `*` part, `NotAction`, then each explicit principal, accounts
/// judged by `account_rule`; exceptions apply over `scopes` (the repository names it reaches)
fn judge_statement(
    s: &Statement,
    access: &StatementAccess,
    class: ActionClass,
    scopes: &[String],
    ctx: &GuardContext,
    account_rule: &dyn Fn(&str) -> Result<(), Violation>,
) -> Vec<Issue> {
    let mut issues = match judge_anyone_part(s, access, class, ctx, scopes, account_rule) {
        Ok(issues) => issues,
        Err(v) => return vec![Issue::Statement(v)],
    };
    if let Some(v) = not_action(s, access, ctx) {
        return vec![Issue::Statement(v)];
    }
    issues.extend(judge_principals(s, |kind, id| match kind {
        PrincipalKind::Aws => match aws_reach(id) {
            // The `*` part was judged above.
            None | Some(Reach::UniqueId(_)) => Ok(None),
            Some(Reach::Account(a)) | Some(Reach::Principal { account: a, .. }) => account_rule(&a).map(|()| None),
            Some(other) => Err((
                Rule::ForeignPrincipal,
                format!("grants `{}` to `{other}`", class_name(class)),
            )),
        },
        PrincipalKind::Service => judge_service(id, access, class, ctx),
        PrincipalKind::Federated | PrincipalKind::CanonicalUser => Err((
            Rule::ForeignPrincipal,
            format!("grants `{}` to `{id}` outside the account", class_name(class)),
        )),
    }));
    apply_exceptions(issues, class, scopes, ctx)
}

fn judge_repository_statement(s: &Statement, access: &StatementAccess, ctx: &GuardContext) -> Vec<Issue> {
    // A statement that allows no ECR action grants nothing here.
    let Some(class) = access.class() else {
        return Vec::new();
    };
    let scopes: Vec<String> = ctx.scope.map(str::to_owned).into_iter().collect();
    judge_statement(s, access, class, &scopes, ctx, &|a| judge_account(a, class, ctx))
}

/// Judges the statement's "anyone" part. A disallowed `*` written as one id among others in a
/// principal map is removed alone (the rest keep exactly their access); a bare `*`,
/// `NotPrincipal` or a missing principal cannot be partly removed: `Err` removes the statement.
fn judge_anyone_part(
    s: &Statement,
    access: &StatementAccess,
    class: ActionClass,
    ctx: &GuardContext,
    scopes: &[String],
    account_rule: &dyn Fn(&str) -> Result<(), Violation>,
) -> Result<Vec<Issue>, Violation> {
    let Some(reach) = &access.anyone else {
        return Ok(Vec::new());
    };
    // Every reach judged: the `*` stays only when each one is allowed or approved.
    let mut approved = Vec::new();
    for r in reach {
        if let Err(v) = judge_anyone(r, class, access, ctx, account_rule) {
            match grantee_of_reach(r).and_then(|g| excepted(&v, &g, class, scopes, ctx)) {
                Some(kept) => approved.push(Issue::Excepted(None, kept)),
                None => return anyone_removal(s, v),
            }
        }
    }
    Ok(approved)
}

/// A disallowed `*` written as one id among others in a principal map is removed alone (the
/// rest keep exactly their access); a bare `*`, `NotPrincipal` or a missing principal cannot be
/// partly removed: `Err` removes the statement.
fn anyone_removal(s: &Statement, v: Violation) -> Result<Vec<Issue>, Violation> {
    let Some(Principal::Map(map)) = s.principal.as_ref().filter(|b| !b.negated).map(|b| &b.principal) else {
        return Err(v);
    };
    let anyone_ids: Vec<&String> = map
        .get(&PrincipalKind::Aws)
        .into_iter()
        .flat_map(|ids| ids.iter())
        .filter(|id| aws_reach(id).is_none())
        .collect();
    let total: usize = map.values().map(OneOrMany::len).sum();
    if anyone_ids.len() == total {
        return Err(v);
    }
    Ok(anyone_ids
        .into_iter()
        .map(|id| Issue::Principal(PrincipalKind::Aws, id.clone(), v.clone()))
        .collect())
}

/// Issues an approved exception covers become `Excepted`
fn apply_exceptions(issues: Vec<Issue>, class: ActionClass, scopes: &[String], ctx: &GuardContext) -> Vec<Issue> {
    issues
        .into_iter()
        .map(|issue| match issue {
            Issue::Principal(kind, id, v) => {
                match grantee_of(kind, &id).and_then(|g| excepted(&v, &g, class, scopes, ctx)) {
                    Some(kept) => Issue::Excepted(Some(id), kept),
                    None => Issue::Principal(kind, id, v),
                }
            }
            Issue::Unpinned(id, why) => {
                let v = (Rule::ServiceUnpinned, why);
                match excepted(&v, &Grantee::Service(id.clone()), class, scopes, ctx) {
                    Some(kept) => Issue::Excepted(Some(id), kept),
                    None => Issue::Unpinned(id, v.1),
                }
            }
            other => other,
        })
        .collect()
}

fn not_action(s: &Statement, access: &StatementAccess, ctx: &GuardContext) -> Option<Violation> {
    if !s.action.negated {
        return None;
    }
    let outside = access
        .reach
        .iter()
        .find(|r| !matches!(r, Reach::Account(a) | Reach::Principal { account: a, .. } if a == ctx.account))?;
    Some((
        Rule::NotAction,
        format!("allows every action but those listed to `{outside}`"),
    ))
}

/// How the own account is pinned for a service: Lambda sends `aws:SourceArn` (its function), the
/// services the guard knows to send `aws:SourceAccount` get that
fn pin_condition(service: &str, ctx: &GuardContext) -> (&'static str, &'static str, String) {
    if service.eq_ignore_ascii_case("lambda.amazonaws.com") {
        (
            "ArnLike",
            "aws:SourceArn",
            format!("arn:{}:lambda:{}:{}:function:*", ctx.partition, ctx.region, ctx.account),
        )
    } else {
        ("StringEquals", "aws:SourceAccount", ctx.account.to_owned())
    }
}

/// The statement with an own-account pin for its services, when every principal left is a
/// service pinned the same way; `None` when a pin would change someone else's access
fn pinned(s: &Statement, ctx: &GuardContext) -> Option<Statement> {
    let Some(Principal::Map(map)) = s.principal.as_ref().filter(|b| !b.negated).map(|b| &b.principal) else {
        return None;
    };
    if map.keys().any(|k| *k != PrincipalKind::Service) {
        return None;
    }
    let ids = map.get(&PrincipalKind::Service)?;
    let mut pins = ids.iter().map(|id| pin_condition(id, ctx));
    let first = pins.next()?;
    if pins.any(|p| p != first) {
        return None;
    }
    let (op, key, value) = first;
    let mut out = s.clone();
    let entries = out.condition.get_or_insert_with(Vec::new);
    let entry = match entries.iter_mut().position(|e| e.raw == op) {
        Some(i) => entries.get_mut(i)?,
        None => {
            entries.push(ConditionEntry {
                raw: op.to_owned(),
                operator: crate::condition::Operator::parse(op),
                keys: Vec::new(),
            });
            entries.last_mut()?
        }
    };
    if entry.keys.iter().any(|k| k.key.eq_ignore_ascii_case(key)) {
        return None;
    }
    entry.keys.push(ConditionKey {
        key: key.to_owned(),
        values: OneOrMany::One(ConditionValue::String(value)),
    });
    Some(out)
}

/// The statement with only the principals `keep` accepts; `None` when none is left
fn retain_principals(s: &Statement, keep: impl Fn(&str) -> bool) -> Option<Statement> {
    let mut out = s.clone();
    let block = out.principal.as_mut()?;
    let Principal::Map(map) = &mut block.principal else {
        return Some(out);
    };
    for ids in map.values_mut() {
        ids.retain(|id| keep(id));
    }
    map.retain(|_, ids| !ids.is_empty());
    (!map.is_empty()).then_some(out)
}

/// A statement after the issues `apply` selects: `None` when it goes
fn apply_issues(
    s: &Statement,
    issues: &[Issue],
    apply: impl Fn(Rule) -> bool,
    ctx: &GuardContext,
) -> Option<Statement> {
    let mut gone = Vec::new();
    let mut pin = false;
    for issue in issues {
        match issue {
            Issue::Statement((rule, _)) if apply(*rule) => return None,
            Issue::Principal(_, id, (rule, _)) if apply(*rule) => gone.push(id.as_str()),
            Issue::Unpinned(..) if apply(Rule::ServiceUnpinned) => pin = true,
            _ => {}
        }
    }
    let mut out = if gone.is_empty() {
        s.clone()
    } else {
        retain_principals(s, |id| !gone.contains(&id))?
    };
    if pin {
        match ctx.config.unpinned_services {
            UnpinnedServices::Keep => {}
            UnpinnedServices::Remove => {
                let unpinned: Vec<&str> = issues
                    .iter()
                    .filter_map(|i| match i {
                        Issue::Unpinned(id, _) => Some(id.as_str()),
                        _ => None,
                    })
                    .collect();
                out = retain_principals(&out, |id| !unpinned.contains(&id))?;
            }
            UnpinnedServices::Pin => {
                if let Some(p) = pinned(&out, ctx) {
                    out = p;
                }
            }
        }
    }
    Some(out)
}

fn enforced(rule: Rule, ctx: &GuardContext) -> bool {
    ctx.config.rule_mode(rule) == Mode::Enforce
}

/// Turns a statement's issues into findings and the statement as kept (enforced) and as it would be
fn decide(
    s: &Statement,
    index: usize,
    issues: Vec<Issue>,
    ctx: &GuardContext,
) -> (Option<Statement>, Option<Statement>, Vec<Finding>) {
    if issues.is_empty() {
        return (Some(s.clone()), Some(s.clone()), Vec::new());
    }
    let label = s.label(index);
    let kept = apply_issues(s, &issues, |r| enforced(r, ctx), ctx);
    let full = apply_issues(s, &issues, |_| true, ctx);
    let disposition = |rule: Rule, changes: bool| match (changes, enforced(rule, ctx)) {
        (false, _) => Disposition::Kept,
        (true, false) => Disposition::Reported,
        (true, true) if rule == Rule::ServiceUnpinned && ctx.config.unpinned_services == UnpinnedServices::Pin => {
            Disposition::Pinned
        }
        (true, true) => Disposition::Removed,
    };
    let finding =
        |rule: Rule, reason: String, principal: Option<String>, rewritten: Option<Statement>, changes: bool| Finding {
            index,
            label: label.clone(),
            rule,
            reason,
            principal,
            statement: s.clone(),
            rewritten,
            disposition: disposition(rule, changes),
        };
    let removed_principals: Vec<&Issue> = issues.iter().filter(|i| matches!(i, Issue::Principal(..))).collect();
    let mut findings = Vec::new();
    // Every principal disallowed: one finding for the statement, as it goes whole.
    let all_gone =
        full.is_none() && !removed_principals.is_empty() && !issues.iter().any(|i| matches!(i, Issue::Statement(_)));
    let modes: std::collections::BTreeSet<bool> = removed_principals
        .iter()
        .filter_map(|i| match i {
            Issue::Principal(_, _, (r, _)) => Some(enforced(*r, ctx)),
            _ => None,
        })
        .collect();
    let same_mode = modes.len() <= 1;
    if all_gone && same_mode {
        let reason = removed_principals
            .iter()
            .filter_map(|i| match i {
                Issue::Principal(_, id, (_, why)) => Some(format!("`{id}` {why}")),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("; ");
        let rule = removed_principals
            .iter()
            .find_map(|i| match i {
                Issue::Principal(_, _, (r, _)) => Some(*r),
                _ => None,
            })
            .unwrap_or(Rule::ForeignAccount);
        findings.push(finding(rule, format!("no principal left: {reason}"), None, None, true));
        for issue in &issues {
            match issue {
                Issue::Unpinned(id, why) => findings.push(finding(
                    Rule::ServiceUnpinned,
                    why.clone(),
                    Some(id.clone()),
                    None,
                    true,
                )),
                Issue::Excepted(principal, (rule, why)) => findings.push(Finding {
                    disposition: Disposition::Excepted,
                    ..finding(*rule, why.clone(), principal.clone(), Some(s.clone()), false)
                }),
                _ => {}
            }
        }
        return (kept, full, findings);
    }
    for issue in issues {
        match issue {
            Issue::Statement((rule, reason)) => findings.push(finding(rule, reason, None, None, true)),
            Issue::Excepted(principal, (rule, reason)) => {
                findings.push(Finding {
                    disposition: Disposition::Excepted,
                    ..finding(rule, reason, principal, Some(s.clone()), false)
                });
            }
            Issue::Principal(kind, id, (rule, reason)) => {
                let one = [Issue::Principal(kind, id.clone(), (rule, String::new()))];
                let rewritten = apply_issues(s, &one, |_| true, ctx);
                findings.push(finding(rule, reason, Some(id), rewritten, true));
            }
            Issue::Unpinned(id, reason) => {
                let changes = ctx.config.unpinned_services != UnpinnedServices::Keep;
                let one = [Issue::Unpinned(id.clone(), String::new())];
                let rewritten = apply_issues(s, &one, |_| true, ctx);
                // A pin that would change other principals' access is not made: a finding only.
                let changes = changes && rewritten.as_ref() != Some(s);
                let reason = if ctx.config.unpinned_services == UnpinnedServices::Pin && !changes {
                    format!("{reason}; not pinned: the statement has other principals a pin would change")
                } else {
                    reason
                };
                findings.push(finding(Rule::ServiceUnpinned, reason, Some(id), rewritten, changes));
            }
        }
    }
    (kept, full, findings)
}

fn review(policy: &Policy, judge: impl Fn(&Statement, &StatementAccess) -> Vec<Issue>, ctx: &GuardContext) -> Review {
    let resolver = ctx.resolver(policy);
    let mut kept = policy.clone();
    kept.statements.clear();
    let mut full = kept.clone();
    let mut findings = Vec::new();
    for (index, s) in policy.statements.iter().enumerate() {
        let issues = if s.effect == Effect::Deny {
            Vec::new()
        } else {
            judge(s, &analyze_statement(s, index, &resolver))
        };
        let (k, f, found) = decide(s, index, issues, ctx);
        kept.statements.extend(k);
        full.statements.extend(f);
        findings.extend(found);
    }
    Review {
        policy: kept,
        full,
        findings,
    }
}

/// Applies the repository-policy rules
pub fn review_repository_policy(policy: &Policy, ctx: &GuardContext) -> Review {
    review(policy, |s, a| judge_repository_statement(s, a, ctx), ctx)
}

fn action_set(names: &[&str]) -> ActionSet {
    names
        .iter()
        .filter_map(|n| lookup(n))
        .fold(ActionSet::empty(), |acc, a| acc.union(ActionSet::from_pattern(a.name)))
}

/// What a replication source may hold in the registry policy
pub fn registry_source_actions() -> ActionSet {
    action_set(&["ecr:CreateRepository", "ecr:ReplicateImage"])
}

/// True when every `Resource` of the statement lies within the configured replication prefix
/// (any resource does when the prefix is `*`: a registry policy covers only its own registry)
fn resources_within_prefix(s: &Statement, ctx: &GuardContext) -> bool {
    let prefix = &ctx.config.replication_repository_prefix;
    if prefix == "*" {
        return true;
    }
    let Some(block) = s.resource.as_ref().filter(|b| !b.negated) else {
        return false;
    };
    let allowed = format!("arn:*:ecr:*:{}:repository/{prefix}", ctx.account);
    // The statement's pattern read as literal text: covered when the allowed pattern matches it
    // whole, e.g. `repository/prod-*` covers `repository/prod-app*` but not `*`.
    block.values.iter().all(|r| wildcard_match(&allowed, r, false))
}

/// The repository-name patterns a registry statement covers in this registry; `None` for every
/// repository (no `Resource`, `NotResource`, or a pattern reaching every name)
fn registry_scope(s: &Statement, ctx: &GuardContext) -> Option<Vec<String>> {
    let block = s.resource.as_ref().filter(|b| !b.negated)?;
    let mut names = Vec::new();
    for r in block.values.iter() {
        let Some(p) = arn_parts(r) else {
            // `*` and anything that is not an ARN: every repository.
            return None;
        };
        let here = wildcard_match(p[2], "ecr", true)
            && wildcard_match(p[3], ctx.region, false)
            && wildcard_match(p[4], ctx.account, false);
        if !here {
            continue;
        }
        match p[5].strip_prefix("repository/") {
            Some(name) => names.push(name.to_owned()),
            None if has_wildcard(p[5]) => return None,
            None => {}
        }
    }
    Some(names)
}

/// A registry grant's account judgement: the class rules, plus replication for sources
fn judge_registry_account(
    account: &str,
    s: &Statement,
    access: &StatementAccess,
    class: ActionClass,
    ctx: &GuardContext,
) -> Result<(), Violation> {
    if account == ctx.account {
        return Ok(());
    }
    let ceiling = ctx.config.trusted_ceiling(account);
    let is_source = ctx.config.replication_sources.iter().any(|a| a == account);
    if !is_source {
        return judge_account(account, class, ctx);
    }
    // Beyond what the account's class allows, a source may hold the replication actions.
    let beyond = match ceiling {
        Some(c) => access.actions.above(c),
        None => access.actions,
    };
    let replication = registry_source_actions();
    if access.unknown_actions.is_empty() && beyond.is_subset(replication) {
        if beyond.is_empty() || resources_within_prefix(s, ctx) {
            return Ok(());
        }
        return Err((
            Rule::RegistryGrant,
            format!(
                "grants replication source `{account}` repositories beyond `{}`",
                ctx.config.replication_repository_prefix
            ),
        ));
    }
    let hint = "; as a replication source it may hold `ecr:ReplicateImage` and `ecr:CreateRepository`";
    judge_account(account, class, ctx).map_err(|(rule, why)| (rule, format!("{why}{hint}")))
}

fn judge_registry_statement(s: &Statement, access: &StatementAccess, ctx: &GuardContext) -> Vec<Issue> {
    let Some(class) = access.class() else {
        return Vec::new();
    };
    let scope = registry_scope(s, ctx);
    // A statement covering only exempt repositories (or none of this registry's) is left alone.
    if scope
        .as_ref()
        .is_some_and(|names| names.iter().all(|n| ctx.config.is_exempt_pattern(n)))
    {
        return Vec::new();
    }
    let scopes = scope.unwrap_or_else(|| vec!["*".to_owned()]);
    judge_statement(s, access, class, &scopes, ctx, &|a| {
        judge_registry_account(a, s, access, class, ctx)
    })
}

/// Applies the registry-policy rules (scope V2: every Allow judged as a grant on the repositories
/// its `Resource` covers, plus replication for sources)
pub fn review_registry_policy(policy: &Policy, ctx: &GuardContext) -> Review {
    review(policy, |s, a| judge_registry_statement(s, a, ctx), ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "123456789012";

    /// The test config with `extra` (`,"key":value...`) merged over it
    fn config_with(extra: &str) -> GuardConfig {
        let mut base = serde_json::json!({"mode":"enforce","org_id":"o-abc123def4",
            "trusted_accounts":{"111122223333":"pull","444455556666":"push"},"replication_sources":["777788889999"]});
        let extra: serde_json::Value = serde_json::from_str(&format!("{{{}}}", extra.trim_start_matches(','))).unwrap();
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        GuardConfig::parse(&base.to_string()).unwrap()
    }

    fn config() -> GuardConfig {
        config_with("")
    }

    fn ctx(c: &GuardConfig) -> GuardContext<'_> {
        GuardContext::new(c, OWN, "us-east-1", "aws")
    }

    fn review_repo_with(policy: &str, c: &GuardConfig) -> Review {
        review_repository_policy(&Policy::parse(policy).unwrap(), &ctx(c))
    }

    fn review_repo(policy: &str) -> Review {
        review_repo_with(policy, &config())
    }

    fn rules(r: &Review) -> Vec<&'static str> {
        r.findings.iter().map(|x| x.rule.as_str()).collect()
    }

    #[test]
    fn foreign_principal_is_removed_from_its_statement() {
        let r = review_repo(
            r#"{"Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::999999999999:root"]},"Action":"ecr:BatchGetImage"}]}"#,
        );
        assert_eq!(rules(&r), ["foreign-account"]);
        assert_eq!(
            r.findings[0].principal.as_deref(),
            Some("arn:aws:iam::999999999999:root")
        );
        assert_eq!(
            r.policy.to_value(),
            serde_json::json!({"Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":["111122223333"]},"Action":"ecr:BatchGetImage"}]})
        );
    }

    #[test]
    fn trusted_pull_account_may_not_push() {
        let r = review_repo(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":["ecr:PutImage","ecr:BatchGetImage"]}}"#,
        );
        assert_eq!(rules(&r), ["excess-access"]);
        assert!(r.policy.statements.is_empty());
    }

    #[test]
    fn public_org_and_deny() {
        let r = review_repo(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},
            {"Effect":"Deny","Principal":"*","Action":"ecr:*"},
            {"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc123def4"}}},
            {"Effect":"Allow","Principal":"*","Action":"ecr:PutImage","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc123def4"}}}]}"#,
        );
        assert_eq!(rules(&r), ["public", "org-excess-access"]);
        assert_eq!(r.policy.statements.len(), 2);
    }

    #[test]
    fn services() {
        let r = review_repo(
            r#"{"Statement":[
            {"Sid":"Lambda","Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"ecr:BatchGetImage","Condition":{"StringLike":{"aws:sourceArn":"arn:aws:lambda:us-east-1:123456789012:function:*"}}},
            {"Sid":"Pinned","Effect":"Allow","Principal":{"Service":"codebuild.amazonaws.com"},"Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:SourceAccount":"999999999999"}}},
            {"Sid":"Other","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"ecr:BatchGetImage"}]}"#,
        );
        assert_eq!(rules(&r), ["service-foreign-source", "untrusted-service"]);
        assert_eq!(r.policy.statements.len(), 1);
    }

    #[test]
    fn data_perimeter_idioms_are_kept() {
        let keep = |cond: &str, principal: &str| {
            let p = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"ecr:BatchGetImage","Condition":{cond}}}]}}"#
            );
            rules(&review_repo(&p))
        };
        assert!(keep(
            r#"{"StringEquals":{"aws:PrincipalOrgID":"${aws:ResourceOrgID}"}}"#,
            r#""*""#
        )
        .is_empty());
        assert!(keep(
            r#"{"StringEquals":{"aws:PrincipalAccount":"${aws:ResourceAccount}"}}"#,
            r#""*""#
        )
        .is_empty());
        assert!(keep(
            r#"{"StringEquals":{"aws:SourceAccount":"${aws:ResourceAccount}"}}"#,
            r#"{"Service":"lambda.amazonaws.com"}"#
        )
        .is_empty());
        // The same idioms under 2008-10-17 are literal text, and say so.
        let old = review_repo(
            r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalOrgID":"${aws:ResourceOrgID}"}}}]}"#,
        );
        assert_eq!(rules(&old), ["public"]);
        assert!(
            old.findings[0]
                .reason
                .contains("`${aws:ResourceOrgID}` is literal text"),
            "{}",
            old.findings[0].reason
        );
    }

    #[test]
    fn star_narrowed_only_by_source_keys_reaches_every_service() {
        let p = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"}}}]}"#;
        let r = review_repo(p);
        assert_eq!(rules(&r), ["untrusted-service"]);
        assert!(
            r.findings[0].reason.contains("reaches services only"),
            "{}",
            r.findings[0].reason
        );
        // Unless the config trusts every service.
        let every = config_with(r#","trusted_services":["*"]"#);
        assert!(rules(&review_repo_with(p, &every)).is_empty());
    }

    #[test]
    fn unpinned_services_keep_pin_remove() {
        let p = r#"{"Version":"2012-10-17","Statement":[{"Sid":"LambdaECRImageRetrievalPolicy","Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}"#;
        let keep = review_repo(p);
        assert_eq!(rules(&keep), ["service-unpinned"]);
        assert_eq!(keep.findings[0].disposition, Disposition::Kept);
        assert_eq!(keep.policy, Policy::parse(p).unwrap());
        let pin = review_repo_with(p, &config_with(r#","unpinned_services":"pin""#));
        assert_eq!(pin.findings[0].disposition, Disposition::Pinned);
        let pinned = pin.policy.to_value();
        assert_eq!(
            pinned["Statement"][0]["Condition"],
            serde_json::json!({"ArnLike":{"aws:SourceArn":"arn:aws:lambda:us-east-1:123456789012:function:*"}})
        );
        // The pinned statement is judged pinned: nothing more to do.
        assert!(rules(&review_repo_with(
            &pinned.to_string(),
            &config_with(r#","unpinned_services":"pin""#)
        ))
        .is_empty());
        let remove = review_repo_with(p, &config_with(r#","unpinned_services":"remove""#));
        assert_eq!(remove.findings[0].disposition, Disposition::Removed);
        assert!(remove.policy.statements.is_empty());
        // A statement with other principals is not pinned: that would cut their access.
        let mixed = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"codebuild.amazonaws.com","AWS":"123456789012"},"Action":"ecr:BatchGetImage"}]}"#;
        let r = review_repo_with(mixed, &config_with(r#","unpinned_services":"pin""#));
        assert_eq!(r.findings[0].disposition, Disposition::Kept);
        assert!(r.findings[0].reason.contains("not pinned"));
    }

    #[test]
    fn per_rule_modes_apply_only_enforced_rules() {
        let c = config_with(r#","mode":{"default":"report","public":"enforce"}"#);
        let p = r#"{"Statement":[{"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},
            {"Sid":"Foreign","Effect":"Allow","Principal":{"AWS":"999999999999"},"Action":"ecr:BatchGetImage"}]}"#;
        let r = review_repo_with(p, &c);
        let got: Vec<_> = r.findings.iter().map(|f| (f.rule.as_str(), f.disposition)).collect();
        assert_eq!(
            got,
            [
                ("public", Disposition::Removed),
                ("foreign-account", Disposition::Reported)
            ]
        );
        assert_eq!(r.policy.statements.len(), 1);
        assert!(r.full.statements.is_empty());
    }

    #[test]
    fn registry_v2_grants_are_judged_like_repository_grants() {
        let c = config();
        let p = Policy::parse(r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Rep","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::777788889999:root","arn:aws:iam::999999999999:root"]},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/*"},
            {"Sid":"OrgPull","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc123def4"}}},
            {"Sid":"Own","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:*","Resource":"*"},
            {"Sid":"Trusted","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":["ecr:BatchGetImage","ecr:PutImage"],"Resource":"*"},
            {"Sid":"PublicPull","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Resource":"*"},
            {"Sid":"SourceAll","Effect":"Allow","Principal":{"AWS":"777788889999"},"Action":"ecr:*","Resource":"*"}]}"#).unwrap();
        let r = review_registry_policy(&p, &ctx(&c));
        let got: Vec<_> = r.findings.iter().map(|f| (f.label.as_str(), f.rule.as_str())).collect();
        assert_eq!(
            got,
            [
                ("statement 0 (`Rep`)", "foreign-account"),
                ("statement 3 (`Trusted`)", "excess-access"),
                ("statement 4 (`PublicPull`)", "public"),
                ("statement 5 (`SourceAll`)", "foreign-account"),
            ]
        );
        let sids: Vec<_> = r.policy.statements.iter().filter_map(|s| s.sid.as_deref()).collect();
        assert_eq!(sids, ["Rep", "OrgPull", "Own"]);
    }

    #[test]
    fn registry_source_grants_stay_within_the_replication_prefix() {
        let c =
            GuardConfig::parse(r#"{"replication_sources":["777788889999"],"replication_repository_prefix":"prod-*"}"#)
                .unwrap();
        let judge = |resource: &str| {
            let p = Policy::parse(&format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"777788889999"}},"Action":"ecr:ReplicateImage",{resource}}}]}}"#)).unwrap();
            rules(&review_registry_policy(&p, &ctx(&c)))
        };
        assert!(judge(r#""Resource":"arn:aws:ecr:us-east-1:123456789012:repository/prod-*""#).is_empty());
        assert!(judge(r#""Resource":"arn:aws:ecr:us-east-1:123456789012:repository/prod-api""#).is_empty());
        assert_eq!(judge(r#""Resource":"*""#), ["registry-grant"]);
        assert_eq!(
            judge(r#""Resource":"arn:aws:ecr:us-east-1:123456789012:repository/*""#),
            ["registry-grant"]
        );
        assert_eq!(
            judge(r#""NotResource":"arn:aws:ecr:us-east-1:123456789012:repository/none""#),
            ["registry-grant"]
        );
    }

    #[test]
    fn services_are_judged_against_every_source_account_named() {
        let stmt = |cond: &str, action: &str| {
            format!(
                r#"{{"Statement":[{{"Sid":"S","Effect":"Allow","Principal":{{"Service":"codebuild.amazonaws.com"}},"Action":"{action}"{cond}}}]}}"#
            )
        };
        let rules_of = |p: &str| {
            rules(&review_repo(p))
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        // A condition that only sometimes applies still names a foreign account.
        assert_eq!(
            rules_of(&stmt(
                r#","Condition":{"StringEqualsIfExists":{"aws:SourceAccount":"999999999999"}}"#,
                "ecr:BatchGetImage"
            )),
            ["service-foreign-source"]
        );
        // Any account at all.
        assert_eq!(
            rules_of(&stmt(
                r#","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:codebuild:*:*:project/*"}}"#,
                "ecr:BatchGetImage"
            )),
            ["service-foreign-source"]
        );
        // A trusted pull account keeps its ceiling through a service.
        assert_eq!(
            rules_of(&stmt(
                r#","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}"#,
                "ecr:*"
            )),
            ["excess-access"]
        );
        assert!(rules_of(&stmt(
            r#","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}"#,
            "ecr:BatchGetImage"
        ))
        .is_empty());
        // Pinned to the own account, anything goes; unpinned trusted services are a finding of
        // their own, kept by default.
        assert!(rules_of(&stmt(
            r#","Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"}}"#,
            "ecr:*"
        ))
        .is_empty());
        assert_eq!(rules_of(&stmt("", "ecr:BatchGetImage")), ["service-unpinned"]);
        // Pins on several keys AND: own account and any ARN is own only.
        assert!(rules_of(&stmt(
            r#","Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"},"StringLike":{"aws:SourceArn":"*"}}"#,
            "ecr:*"
        ))
        .is_empty());
    }

    #[test]
    fn principal_and_source_accounts_are_both_judged() {
        let r = review_repo(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalAccount":"999999999999","aws:SourceAccount":"123456789012"}}}}"#,
        );
        assert_eq!(rules(&r), ["foreign-account"]);
        // An empty list is not credited with excluding everyone.
        let r = review_repo(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"StringEquals":{"aws:PrincipalOrgID":[]}}}}"#,
        );
        assert_eq!(rules(&r), ["public"]);
    }

    #[test]
    fn reasons_teach() {
        let r = review_repo(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"ForAllValues:StringEquals":{"aws:PrincipalOrgID":"o-abc123def4"}}}}"#,
        );
        assert_eq!(
            r.findings[0].reason,
            "grants `pull` to anyone: a `ForAllValues:` condition is true when the key is absent (`aws:PrincipalOrgID`)"
        );
        let r = review_repo(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"ecr:BatchGetImage","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:lambda:us-east-1:${aws:PrincipalTag/x}:function:*"}}}}"#,
        );
        assert!(
            r.findings[0]
                .reason
                .contains("`arn:aws:lambda:us-east-1:${aws:PrincipalTag/x}:function:*`"),
            "the whole value, not cut at a colon: {}",
            r.findings[0].reason
        );
    }
}
