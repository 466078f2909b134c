//! The guard rules: which grants in a repository or registry policy are disallowed, and why.
//!
//! Deny statements are always kept. An Allow statement is judged by who it reaches (see
//! [`crate::access`]) and the highest class of ECR action it grants. A disallowed explicit
//! principal is removed from its statement; a disallowed `*` (or `NotPrincipal`, or `NotAction`
//! beyond the own account) cannot be partly removed, so its whole statement goes.

use crate::{
    access::{analyze_statement, aws_reach, source_accounts_named, Reach},
    actions::{lookup, ActionClass, ActionSet},
    config::GuardConfig,
    model::{Effect, Policy, Principal, PrincipalKind, Statement},
    wildcard::{has_wildcard, wildcard_match},
};

/// What the rules are judged against
#[derive(Clone, Copy, Debug)]
pub struct GuardContext<'a> {
    /// The configuration
    pub config: &'a GuardConfig,
    /// The account that owns the registry
    pub account: &'a str,
}

/// Why a grant was removed
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
    /// A service principal not in `trusted_services`
    UntrustedService,
    /// A trusted service pinned to an account that is neither own nor trusted
    ServiceForeignSource,
    /// A federated or canonical-user principal
    ForeignPrincipal,
    /// A registry policy grant other than replication from an allowed source or pull-through
    /// cache for the own account
    RegistryGrant,
}

impl Rule {
    /// Kebab-case name used in logs and outcomes
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
            Rule::ForeignPrincipal => "foreign-principal",
            Rule::RegistryGrant => "registry-grant",
        }
    }
}

/// One removed grant: the statement verbatim before and after, so a person can restore it
#[derive(Clone, Debug, PartialEq)]
pub struct Removal {
    /// Index of the statement in the policy as read
    pub index: usize,
    /// `statement 2 (`Sid`)`
    pub label: String,
    /// The rule
    pub rule: Rule,
    /// Why, with the offending values
    pub reason: String,
    /// The principal removed, `None` when the whole statement was removed
    pub principal: Option<String>,
    /// The statement as read
    pub statement: Statement,
    /// The statement as kept, `None` when it was removed
    pub rewritten: Option<Statement>,
}

/// The result of applying the rules to a policy
#[derive(Clone, Debug, PartialEq)]
pub struct Review {
    /// The policy with disallowed grants removed (may have no statement left)
    pub policy: Policy,
    /// What was removed, in statement order
    pub removals: Vec<Removal>,
}

type Violation = (Rule, String);

fn class_name(c: ActionClass) -> &'static str {
    c.as_str()
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

fn judge_anyone(reach: &Reach, class: ActionClass, ctx: &GuardContext) -> Result<(), Violation> {
    match reach {
        Reach::Public => Err((Rule::Public, format!("grants `{}` to anyone", class_name(class)))),
        Reach::Account(a) => judge_account(a, class, ctx),
        Reach::Org(o) if ctx.config.org_id.as_deref() == Some(o.as_str()) => {
            let ceiling = ctx.config.org_access.ceiling();
            if class <= ceiling {
                Ok(())
            } else {
                Err((
                    Rule::OrgExcessAccess,
                    format!(
                        "grants `{}` to organisation `{o}`, which may have `{}` at most",
                        class_name(class),
                        class_name(ceiling)
                    ),
                ))
            }
        }
        Reach::Org(o) => Err((
            Rule::ForeignOrg,
            format!("grants `{}` to organisation `{o}`", class_name(class)),
        )),
        other => Err((Rule::Public, format!("grants `{}` to `{other}`", class_name(class)))),
    }
}

/// The statement with only the principals `keep` accepts; `None` when none is left
fn retain_principals(s: &Statement, keep: impl Fn(PrincipalKind, &str) -> bool) -> Option<Statement> {
    let mut out = s.clone();
    let block = out.principal.as_mut()?;
    let Principal::Map(map) = &mut block.principal else {
        return Some(out);
    };
    for (kind, ids) in map.iter_mut() {
        ids.retain(|id| keep(*kind, id));
    }
    map.retain(|_, ids| !ids.is_empty());
    (!map.is_empty()).then_some(out)
}

enum Verdict {
    Keep,
    Remove(Violation),
    Rewrite(Box<Statement>, Vec<(String, Violation)>),
}

fn judge_explicit(s: &Statement, judge: impl Fn(PrincipalKind, &str) -> Result<(), Violation>) -> Verdict {
    let mut removed: Vec<(String, Violation)> = Vec::new();
    if let Some(Principal::Map(map)) = s.principal.as_ref().filter(|b| !b.negated).map(|b| &b.principal) {
        for (kind, ids) in map {
            for id in ids.iter() {
                if let Err(v) = judge(*kind, id) {
                    removed.push((id.clone(), v));
                }
            }
        }
    }
    if removed.is_empty() {
        return Verdict::Keep;
    }
    let keep = |_: PrincipalKind, id: &str| !removed.iter().any(|(r, _)| r == id);
    match retain_principals(s, keep) {
        Some(rewritten) => Verdict::Rewrite(Box::new(rewritten), removed),
        None => {
            let reason = removed
                .iter()
                .map(|(id, (_, why))| format!("`{id}` {why}"))
                .collect::<Vec<_>>()
                .join("; ");
            let rule = removed.first().map(|(_, (r, _))| *r).unwrap_or(Rule::ForeignAccount);
            Verdict::Remove((rule, format!("no principal left: {reason}")))
        }
    }
}

fn judge_repository_statement(s: &Statement, index: usize, ctx: &GuardContext) -> Verdict {
    if s.effect == Effect::Deny {
        return Verdict::Keep;
    }
    let access = analyze_statement(s, index);
    // A statement that allows no ECR action grants nothing here.
    let Some(class) = access.class() else {
        return Verdict::Keep;
    };
    if let Some(reach) = &access.anyone {
        for r in reach {
            if let Err(v) = judge_anyone(r, class, ctx) {
                return Verdict::Remove(v);
            }
        }
    }
    if s.action.negated {
        let outside = access
            .reach
            .iter()
            .find(|r| !matches!(r, Reach::Account(a) | Reach::Principal { account: a, .. } if a == ctx.account));
        if let Some(r) = outside {
            return Verdict::Remove((
                Rule::NotAction,
                format!("allows every action but those listed to `{r}`"),
            ));
        }
    }
    let named_sources = source_accounts_named(s);
    judge_explicit(s, |kind, id| match kind {
        PrincipalKind::Aws => match aws_reach(id) {
            // The `*` part was judged above.
            None | Some(Reach::UniqueId(_)) => Ok(()),
            Some(Reach::Account(a)) | Some(Reach::Principal { account: a, .. }) => judge_account(&a, class, ctx),
            Some(other) => Err((
                Rule::ForeignPrincipal,
                format!("grants `{}` to `{other}`", class_name(class)),
            )),
        },
        PrincipalKind::Service => {
            if !ctx.config.trusts_service(id) {
                return Err((Rule::UntrustedService, format!("service `{id}` is not trusted")));
            }
            // Every account the source conditions name counts (the concrete pins among them),
            // IfExists included; a wildcard
            // account is anyone's. Trusted accounts keep their class ceiling through a service.
            for a in &named_sources {
                if has_wildcard(a) || a.contains("${") {
                    return Err((
                        Rule::ServiceForeignSource,
                        format!("service `{id}` is pinned to any account (`{a}`)"),
                    ));
                }
                if let Err((rule, why)) = judge_account(a, class, ctx) {
                    let rule = if rule == Rule::ForeignAccount {
                        Rule::ServiceForeignSource
                    } else {
                        rule
                    };
                    return Err((rule, format!("service `{id}` is pinned to account `{a}`: {why}")));
                }
            }
            Ok(())
        }
        PrincipalKind::Federated | PrincipalKind::CanonicalUser => Err((
            Rule::ForeignPrincipal,
            format!("grants `{}` to `{id}` outside the account", class_name(class)),
        )),
    })
}

fn review(policy: &Policy, judge: impl Fn(&Statement, usize) -> Verdict) -> Review {
    let mut kept = policy.clone();
    kept.statements.clear();
    let mut removals = Vec::new();
    for (index, s) in policy.statements.iter().enumerate() {
        let label = s.label(index);
        match judge(s, index) {
            Verdict::Keep => kept.statements.push(s.clone()),
            Verdict::Remove((rule, reason)) => removals.push(Removal {
                index,
                label,
                rule,
                reason,
                principal: None,
                statement: s.clone(),
                rewritten: None,
            }),
            Verdict::Rewrite(rewritten, removed) => {
                for (principal, (rule, reason)) in removed {
                    removals.push(Removal {
                        index,
                        label: label.clone(),
                        rule,
                        reason,
                        principal: Some(principal),
                        statement: s.clone(),
                        rewritten: Some((*rewritten).clone()),
                    });
                }
                kept.statements.push(*rewritten);
            }
        }
    }
    Review { policy: kept, removals }
}

/// Applies the repository-policy rules
pub fn review_repository_policy(policy: &Policy, ctx: &GuardContext) -> Review {
    review(policy, |s, i| judge_repository_statement(s, i, ctx))
}

fn action_set(names: &[&str]) -> ActionSet {
    names
        .iter()
        .filter_map(|n| lookup(n))
        .fold(ActionSet::empty(), |acc, a| acc.union(ActionSet::from_pattern(a.name)))
}

/// What the own account may hold in the registry policy: pull-through cache and replication
pub fn registry_own_actions() -> ActionSet {
    action_set(&[
        "ecr:CreateRepository",
        "ecr:BatchImportUpstreamImage",
        "ecr:ReplicateImage",
    ])
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

fn within(actions: ActionSet, allowed: ActionSet) -> bool {
    actions.union(allowed) == allowed
}

fn judge_registry_statement(s: &Statement, index: usize, ctx: &GuardContext) -> Verdict {
    if s.effect == Effect::Deny {
        return Verdict::Keep;
    }
    let access = analyze_statement(s, index);
    if s.action.negated || !access.unknown_actions.is_empty() {
        return Verdict::Remove((
            Rule::RegistryGrant,
            "allows actions a registry policy should not grant".into(),
        ));
    }
    let (own, source) = (registry_own_actions(), registry_source_actions());
    let judge = |account: &str| -> Result<(), Violation> {
        if account == ctx.account {
            return if within(access.actions, own) {
                Ok(())
            } else {
                Err((
                    Rule::RegistryGrant,
                    "grants the own account more than replication and pull-through cache".into(),
                ))
            };
        }
        if ctx.config.replication_sources.iter().any(|a| a == account) {
            return if !within(access.actions, source) {
                Err((
                    Rule::RegistryGrant,
                    format!("grants replication source `{account}` more than replication"),
                ))
            } else if !resources_within_prefix(s, ctx) {
                Err((
                    Rule::RegistryGrant,
                    format!(
                        "grants replication source `{account}` repositories beyond `{}`",
                        ctx.config.replication_repository_prefix
                    ),
                ))
            } else {
                Ok(())
            };
        }
        Err((
            Rule::RegistryGrant,
            format!("grants account `{account}`, which is not a replication source"),
        ))
    };
    if let Some(reach) = &access.anyone {
        for r in reach {
            let verdict = match r {
                Reach::Account(a) => judge(a),
                other => Err((Rule::RegistryGrant, format!("grants registry actions to `{other}`"))),
            };
            if let Err(v) = verdict {
                return Verdict::Remove(v);
            }
        }
    }
    judge_explicit(s, |kind, id| match (kind, aws_reach(id)) {
        (PrincipalKind::Aws, None) => Ok(()),
        (PrincipalKind::Aws, Some(Reach::Account(a)))
        | (PrincipalKind::Aws, Some(Reach::Principal { account: a, .. })) => judge(&a),
        _ => Err((Rule::RegistryGrant, format!("grants registry actions to `{id}`"))),
    })
}

/// Applies the registry-policy rules: keep replication grants to allowed sources and
/// pull-through-cache grants to the own account, remove every other Allow
pub fn review_registry_policy(policy: &Policy, ctx: &GuardContext) -> Review {
    review(policy, |s, i| judge_registry_statement(s, i, ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "123456789012";

    fn config() -> GuardConfig {
        GuardConfig::parse(
            r#"{"org_id":"o-abc123def4","trusted_accounts":{"111122223333":"pull","444455556666":"push"},
            "replication_sources":["777788889999"]}"#,
        )
        .unwrap()
    }

    fn review_repo(policy: &str) -> Review {
        let c = config();
        review_repository_policy(
            &Policy::parse(policy).unwrap(),
            &GuardContext {
                config: &c,
                account: OWN,
            },
        )
    }

    fn rules(r: &Review) -> Vec<&'static str> {
        r.removals.iter().map(|x| x.rule.as_str()).collect()
    }

    #[test]
    fn foreign_principal_is_removed_from_its_statement() {
        let r = review_repo(
            r#"{"Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::999999999999:root"]},"Action":"ecr:BatchGetImage"}]}"#,
        );
        assert_eq!(rules(&r), ["foreign-account"]);
        assert_eq!(
            r.removals[0].principal.as_deref(),
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
    fn registry() {
        let c = config();
        let p = Policy::parse(r#"{"Statement":[
            {"Sid":"Rep","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::777788889999:root","arn:aws:iam::999999999999:root"]},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/*"},
            {"Sid":"Ptc","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ptc"},"Action":["ecr:CreateRepository","ecr:BatchImportUpstreamImage"],"Resource":"*"},
            {"Sid":"All","Effect":"Allow","Principal":{"AWS":"777788889999"},"Action":"ecr:*","Resource":"*"}]}"#).unwrap();
        let r = review_registry_policy(
            &p,
            &GuardContext {
                config: &c,
                account: OWN,
            },
        );
        assert_eq!(rules(&r), ["registry-grant", "registry-grant"]);
        assert_eq!(
            r.removals[0].principal.as_deref(),
            Some("arn:aws:iam::999999999999:root")
        );
        assert_eq!(r.policy.statements.len(), 2);
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
        // Pinned to the own account, anything goes; unpinned trusted services are kept (config contract).
        assert!(rules_of(&stmt(
            r#","Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"}}"#,
            "ecr:*"
        ))
        .is_empty());
        assert!(rules_of(&stmt("", "ecr:BatchGetImage")).is_empty());
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
    fn registry_source_grants_stay_within_the_replication_prefix() {
        let c =
            GuardConfig::parse(r#"{"replication_sources":["777788889999"],"replication_repository_prefix":"prod-*"}"#)
                .unwrap();
        let ctx = GuardContext {
            config: &c,
            account: OWN,
        };
        let judge = |resource: &str| {
            let p = Policy::parse(&format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"777788889999"}},"Action":"ecr:ReplicateImage",{resource}}}]}}"#)).unwrap();
            review_registry_policy(&p, &ctx).removals.len()
        };
        assert_eq!(
            judge(r#""Resource":"arn:aws:ecr:us-east-1:123456789012:repository/prod-*""#),
            0
        );
        assert_eq!(
            judge(r#""Resource":"arn:aws:ecr:us-east-1:123456789012:repository/prod-api""#),
            0
        );
        assert_eq!(judge(r#""Resource":"*""#), 1);
        assert_eq!(
            judge(r#""Resource":"arn:aws:ecr:us-east-1:123456789012:repository/*""#),
            1
        );
        assert_eq!(
            judge(r#""NotResource":"arn:aws:ecr:us-east-1:123456789012:repository/none""#),
            1
        );
    }
}
