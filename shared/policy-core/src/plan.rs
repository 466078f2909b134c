//! Planners: from the live policy and the config to what should be written. They never do I/O
//! and never return a policy over ECR's size limit. A plan writes only when the result differs
//! in meaning from what is there, so running a planner on its own output plans nothing.

use crate::{
    config::render_baseline,
    error::ParseError,
    eval::{evaluate, Decision, Request, RequestPrincipal},
    guard::{review_registry_policy, review_repository_policy, GuardContext, Removal, Review},
    limits::SizeError,
    model::{Effect, ListBlock, OneOrMany, Policy, Principal, PrincipalBlock, PrincipalKind, Statement, Version},
    normalize::{equivalent, normalize_statement},
    Context,
};
use std::collections::BTreeMap;

/// What to do to the live policy
#[derive(Clone, Debug, PartialEq)]
pub enum PlanAction {
    /// Nothing: the live policy already means what it should
    Unchanged,
    /// Write this policy text
    Put(String),
    /// Delete the policy: nothing is left to grant
    Delete,
}

/// A plan and everything needed to audit it
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// What to do
    pub action: PlanAction,
    /// The policy as read
    pub before: Option<Policy>,
    /// The policy as it should be (`None` when there should be none)
    pub after: Option<Policy>,
    /// Grants removed by the guard rules
    pub removals: Vec<Removal>,
    /// Statements added (baseline or replication grant)
    pub added: Vec<Statement>,
    /// Things a person should know that changed nothing (a refused replication source, ...)
    pub findings: Vec<String>,
}

/// A plan that cannot be made; nothing should be written
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The result would be over ECR's limit
    #[error("planned {what}: {source}")]
    TooLarge {
        /// Which policy
        what: String,
        /// The size
        source: SizeError,
    },
    /// The live policy has an operator IAM does not know: we cannot judge it
    #[error("live {what}: unknown condition operator `{operator}`: refusing to judge it")]
    UnknownOperator {
        /// Which policy
        what: String,
        /// The operator
        operator: String,
    },
    /// The baseline does not render to a policy
    #[error("baseline for `{repository}`: {source}")]
    Baseline {
        /// The repository
        repository: String,
        /// Why
        source: ParseError,
    },
}

fn refuse_unknown(live: Option<&Policy>, what: &str) -> Result<(), PlanError> {
    match live.and_then(|p| p.unknown_operators().first().map(|s| (*s).to_owned())) {
        Some(operator) => Err(PlanError::UnknownOperator {
            what: what.to_owned(),
            operator,
        }),
        None => Ok(()),
    }
}

/// The live policy with the rules applied, or an empty one to add statements to
fn reviewed(live: Option<&Policy>, review: impl Fn(&Policy) -> Review) -> Review {
    live.map(review).unwrap_or_else(|| Review {
        policy: Policy::empty(),
        removals: Vec::new(),
    })
}

fn finish(
    what: &str,
    before: Option<&Policy>,
    after: Policy,
    removals: Vec<Removal>,
    added: Vec<Statement>,
    findings: Vec<String>,
) -> Result<Plan, PlanError> {
    let (action, after) = if after.statements.is_empty() {
        (
            if before.is_some() {
                PlanAction::Delete
            } else {
                PlanAction::Unchanged
            },
            None,
        )
    } else if before.is_some_and(|b| equivalent(b, &after)) {
        (PlanAction::Unchanged, Some(after))
    } else {
        let text = after.to_json_checked().map_err(|source| PlanError::TooLarge {
            what: what.to_owned(),
            source,
        })?;
        (PlanAction::Put(text), Some(after))
    };
    Ok(Plan {
        action,
        before: before.cloned(),
        after,
        removals,
        added,
        findings,
    })
}

/// Plans a repository policy: the guard rules on the live policy, then the baseline's
/// statements whose Sid is missing. `partition` and `region` fill the baseline's placeholders.
pub fn plan_repository(
    live: Option<&Policy>,
    repository: &str,
    ctx: &GuardContext,
    region: &str,
    partition: &str,
) -> Result<Plan, PlanError> {
    let what = format!("repository policy of `{repository}`");
    refuse_unknown(live, &what)?;
    let reviewed = reviewed(live, |p| review_repository_policy(p, ctx));
    let mut after = reviewed.policy.clone();
    let mut added = Vec::new();
    if let Some(baseline) = ctx.config.baseline_for(repository) {
        let base = render_baseline(&baseline.policy, ctx.account, region, partition, repository).map_err(|source| {
            PlanError::Baseline {
                repository: repository.to_owned(),
                source,
            }
        })?;
        for s in base.statements {
            let present = after
                .statements
                .iter()
                .any(|have| have.sid.is_some() && have.sid == s.sid);
            if !present {
                added.push(s.clone());
                after.statements.push(s);
            }
        }
        // Policy variables in the baseline work only under 2012-10-17. Raising the version
        // changes the meaning of nothing already there when no live value holds `${`.
        if !added.is_empty() && base.version == Some(Version::V2012) && after.version != Some(Version::V2012) {
            let live_has_variables = reviewed
                .policy
                .statements
                .iter()
                .any(|s| s.to_value().to_string().contains("${"));
            if !live_has_variables {
                after.version = Some(Version::V2012);
            }
        }
    }
    match finish(&what, live, after, reviewed.removals.clone(), added, Vec::new()) {
        // Removing a disallowed grant never waits on the baseline fitting: write the removals
        // alone and say why the baseline was not restored.
        Err(PlanError::TooLarge { source, .. }) => {
            let finding = format!(
                "baseline statements not added: the policy would be `{}` characters, over ecr's limit of {}",
                source.chars,
                crate::MAX_POLICY_CHARS
            );
            finish(
                &what,
                live,
                reviewed.policy,
                reviewed.removals,
                Vec::new(),
                vec![finding],
            )
        }
        other => other,
    }
}

/// Plans the registry policy: keep replication grants to allowed sources and pull-through-cache
/// grants to the own account, remove every other Allow
pub fn plan_registry(live: Option<&Policy>, ctx: &GuardContext) -> Result<Plan, PlanError> {
    refuse_unknown(live, "registry policy")?;
    let r = reviewed(live, |p| review_registry_policy(p, ctx));
    finish("registry policy", live, r.policy, r.removals, Vec::new(), Vec::new())
}

/// Sid of the statements this planner manages
pub const REPLICATION_SID: &str = "EcrPolicyGuardReplication";

/// The actions and resource a replication grant gives, from the config
fn replication_grant(ctx: &GuardContext, region: &str, partition: &str) -> (Vec<String>, String) {
    let mut actions = Vec::new();
    if ctx.config.replication_create_repository {
        actions.push("ecr:CreateRepository".to_owned());
    }
    actions.push("ecr:ReplicateImage".to_owned());
    let resource = format!(
        "arn:{partition}:ecr:{region}:{}:repository/{}",
        ctx.account, ctx.config.replication_repository_prefix
    );
    (actions, resource)
}

fn decision(policy: &Policy, source: &str, action: &str, resource: &str) -> Decision {
    let request = Request {
        principal: RequestPrincipal::Account(source.to_owned()),
        action: action.to_owned(),
        // The resource pattern as literal text: a statement covers it when its own pattern
        // matches the whole prefix, e.g. `repository/*` covers `repository/prod-*`.
        resource: Some(resource.to_owned()),
        context: Context::new(),
    };
    // Unknown operators were refused before we get here.
    evaluate(policy, &request).unwrap_or(Decision::ImplicitDeny)
}

/// Plans a replication grant for `source` into this registry, merged with what is there
pub fn plan_replication_grant(
    live: Option<&Policy>,
    source: &str,
    ctx: &GuardContext,
    region: &str,
    partition: &str,
) -> Result<Plan, PlanError> {
    refuse_unknown(live, "registry policy")?;
    let unchanged = |findings: Vec<String>| Plan {
        action: PlanAction::Unchanged,
        before: live.cloned(),
        after: live.cloned(),
        removals: vec![],
        added: vec![],
        findings,
    };
    if !ctx.config.replication_sources.iter().any(|s| s == source) {
        return Ok(unchanged(vec![format!(
            "account `{source}` is not in `replication_sources`: no grant"
        )]));
    }
    let (actions, resource) = replication_grant(ctx, region, partition);
    // The registry rules first: a grant never writes back a statement enforce-policy removes.
    let reviewed = reviewed(live, |p| review_registry_policy(p, ctx));
    let removals = reviewed.removals;
    let mut after = reviewed.policy;
    let decisions: Vec<Decision> = actions.iter().map(|a| decision(&after, source, a, &resource)).collect();
    if decisions.iter().all(|d| *d == Decision::Allow) {
        return finish("registry policy", live, after, removals, Vec::new(), Vec::new());
    }
    if decisions.contains(&Decision::ExplicitDeny) {
        return Ok(unchanged(vec![format!(
            "a Deny statement in the registry policy blocks replication from `{source}`: not overridden"
        )]));
    }
    let principal = format!("arn:{partition}:iam::{source}:root");
    let wanted = Statement {
        sid: Some(REPLICATION_SID.to_owned()),
        effect: Effect::Allow,
        principal: Some(PrincipalBlock {
            negated: false,
            principal: Principal::Map(BTreeMap::from([(
                PrincipalKind::Aws,
                OneOrMany::Many(vec![principal.clone()]),
            )])),
        }),
        action: ListBlock {
            negated: false,
            values: OneOrMany::Many(actions.clone()),
        },
        resource: Some(ListBlock {
            negated: false,
            values: OneOrMany::Many(vec![resource.clone()]),
        }),
        condition: None,
        extra: Default::default(),
    };
    let shape = normalize_statement(&wanted);
    // Merge into a statement we manage with the same actions and resource, if there is one.
    let managed = after.statements.iter_mut().find(|s| {
        let ours = s.sid.as_deref().is_some_and(|sid| sid.starts_with(REPLICATION_SID));
        let n = normalize_statement(s);
        let only_aws = matches!(&s.principal, Some(PrincipalBlock { negated: false, principal: Principal::Map(m) }) if m.len() == 1 && m.contains_key(&PrincipalKind::Aws));
        ours && only_aws && n.effect == shape.effect && n.action == shape.action && n.resource == shape.resource && n.condition.is_empty()
    });
    let added = match managed {
        Some(s) => {
            if let Some(PrincipalBlock {
                principal: Principal::Map(m),
                ..
            }) = &mut s.principal
            {
                if let Some(ids) = m.get_mut(&PrincipalKind::Aws) {
                    ids.push(principal);
                }
            }
            s.clone()
        }
        None => {
            let mut s = wanted;
            let taken = |sid: &str| after.statements.iter().any(|x| x.sid.as_deref() == Some(sid));
            let mut n = 2;
            while s.sid.as_deref().is_some_and(taken) {
                s.sid = Some(format!("{REPLICATION_SID}{n}"));
                n += 1;
            }
            after.statements.push(s.clone());
            s
        }
    };
    finish("registry policy", live, after, removals, vec![added], Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GuardConfig;

    const OWN: &str = "123456789012";

    fn config(extra: &str) -> GuardConfig {
        GuardConfig::parse(&format!(
            r#"{{"mode":"enforce","trusted_accounts":{{"111122223333":"pull"}},"replication_sources":["777788889999","777788880000"]{extra}}}"#
        ))
        .unwrap()
    }

    const BASELINE: &str = r#","baselines":[{"match":"team-*","policy":{"Version":"2012-10-17","Statement":[
        {"Sid":"BaselinePull","Effect":"Allow","Principal":{"AWS":"arn:${Partition}:iam::111122223333:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}}]"#;

    #[test]
    fn baseline_on_new_repository_then_fixed_point() {
        let c = config(BASELINE);
        let ctx = GuardContext {
            config: &c,
            account: OWN,
        };
        let plan = plan_repository(None, "team-a", &ctx, "us-east-1", "aws").unwrap();
        let PlanAction::Put(text) = &plan.action else {
            panic!("{plan:?}")
        };
        assert_eq!(plan.added.len(), 1);
        // Our own write comes back as the live policy: nothing more to do.
        let live = Policy::parse(text).unwrap();
        let again = plan_repository(Some(&live), "team-a", &ctx, "us-east-1", "aws").unwrap();
        assert_eq!(again.action, PlanAction::Unchanged);
        // No baseline for other names, no policy: nothing.
        assert_eq!(
            plan_repository(None, "other", &ctx, "us-east-1", "aws").unwrap().action,
            PlanAction::Unchanged
        );
    }

    #[test]
    fn baseline_merges_by_sid_and_guard_still_applies() {
        let c = config(BASELINE);
        let ctx = GuardContext {
            config: &c,
            account: OWN,
        };
        let live = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Mine","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"ecr:*"},
            {"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#,
        )
        .unwrap();
        let plan = plan_repository(Some(&live), "team-a", &ctx, "us-east-1", "aws").unwrap();
        let after = plan.after.unwrap();
        let sids: Vec<_> = after.statements.iter().map(|s| s.sid.clone().unwrap()).collect();
        assert_eq!(sids, ["Mine", "BaselinePull"]);
        assert_eq!(plan.removals.len(), 1);
    }

    #[test]
    fn all_removed_deletes_and_unknown_operator_refuses() {
        let c = config("");
        let ctx = GuardContext {
            config: &c,
            account: OWN,
        };
        let live = Policy::parse(r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:*"}}"#).unwrap();
        assert_eq!(
            plan_repository(Some(&live), "x", &ctx, "us-east-1", "aws")
                .unwrap()
                .action,
            PlanAction::Delete
        );
        let odd = Policy::parse(r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"StringEqualz":{"a":"b"}}}}"#).unwrap();
        let e = plan_repository(Some(&odd), "x", &ctx, "us-east-1", "aws").unwrap_err();
        assert_eq!(
            e.to_string(),
            "live repository policy of `x`: unknown condition operator `StringEqualz`: refusing to judge it"
        );
    }

    #[test]
    fn oversize_baseline_is_left_out_but_removals_still_happen() {
        let c = config(BASELINE);
        let ctx = GuardContext {
            config: &c,
            account: OWN,
        };
        // Given a live policy just under the limit, which the baseline statement would push over
        let stmt = |i: usize| {
            format!(
                r#"{{"Sid":"Own{i:03}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::123456789012:role/r{i:03}"}},"Action":"ecr:BatchGetImage"}}"#
            )
        };
        let public = r#"{"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"ecr:GetDownloadUrlForLayer"}"#;
        let text = |n: usize, pad: usize, extra: &str| {
            let mut all: Vec<String> = (0..n).map(stmt).collect();
            all.push(format!(
                r#"{{"Sid":"Pad{}","Effect":"Allow","Principal":{{"AWS":"123456789012"}},"Action":"ecr:*"}}"#,
                "x".repeat(pad)
            ));
            if !extra.is_empty() {
                all.push(extra.to_owned());
            }
            format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, all.join(","))
        };
        // Filled to 5 characters under the limit, so the freed space never makes room for the baseline.
        let fill = |extra: &str| {
            let mut n = 1;
            while text(n + 1, 0, extra).len() <= crate::MAX_POLICY_CHARS - 5 {
                n += 1;
            }
            let pad = crate::MAX_POLICY_CHARS - 5 - text(n, 0, extra).len();
            text(n, pad, extra)
        };
        // Then without a disallowed grant nothing is written, and the finding says why
        let live = Policy::parse(&fill("")).unwrap();
        let plan = plan_repository(Some(&live), "team-a", &ctx, "us-east-1", "aws").unwrap();
        assert_eq!(plan.action, PlanAction::Unchanged);
        assert!(
            plan.findings[0].contains("over ecr's limit of 10240"),
            "{:?}",
            plan.findings
        );
        // And with one, it is removed all the same, the baseline left out
        let live = Policy::parse(&fill(public)).unwrap();
        let plan = plan_repository(Some(&live), "team-a", &ctx, "us-east-1", "aws").unwrap();
        let PlanAction::Put(written) = &plan.action else {
            panic!("{:?}", plan.action)
        };
        assert!(written.chars().count() <= crate::MAX_POLICY_CHARS);
        assert_eq!(plan.removals.len(), 1);
        assert!(plan.added.is_empty());
        assert_eq!(plan.findings.len(), 1);
    }

    #[test]
    fn baseline_raises_the_version_only_when_nothing_live_changes_meaning() {
        let c = config(BASELINE);
        let ctx = GuardContext {
            config: &c,
            account: OWN,
        };
        let old = Policy::parse(r#"{"Version":"2008-10-17","Statement":[{"Sid":"Mine","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:*"}]}"#).unwrap();
        let plan = plan_repository(Some(&old), "team-a", &ctx, "us-east-1", "aws").unwrap();
        assert_eq!(plan.after.unwrap().version, Some(Version::V2012));
        let vars = Policy::parse(r#"{"Version":"2008-10-17","Statement":[{"Sid":"Mine","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/${aws:username}"}]}"#).unwrap();
        let plan = plan_repository(Some(&vars), "team-a", &ctx, "us-east-1", "aws").unwrap();
        assert_eq!(plan.after.unwrap().version, Some(Version::V2008));
    }

    #[test]
    fn a_grant_never_writes_back_a_disallowed_statement() {
        let c = config("");
        let ctx = GuardContext {
            config: &c,
            account: OWN,
        };
        let live = Policy::parse(r#"{"Statement":[{"Sid":"Stranger","Effect":"Allow","Principal":{"AWS":"999999999999"},"Action":"ecr:ReplicateImage","Resource":"*"}]}"#).unwrap();
        let plan = plan_replication_grant(Some(&live), "777788889999", &ctx, "us-east-1", "aws").unwrap();
        assert_eq!(plan.removals.len(), 1);
        let sids: Vec<_> = plan
            .after
            .unwrap()
            .statements
            .iter()
            .map(|s| s.sid.clone().unwrap())
            .collect();
        assert_eq!(sids, [REPLICATION_SID]);
    }

    #[test]
    fn replication_grant_merges_refuses_and_converges() {
        let c = config("");
        let ctx = GuardContext {
            config: &c,
            account: OWN,
        };
        let p1 = plan_replication_grant(None, "777788889999", &ctx, "us-east-1", "aws").unwrap();
        let PlanAction::Put(t1) = &p1.action else { panic!() };
        let live = Policy::parse(t1).unwrap();
        let p2 = plan_replication_grant(Some(&live), "777788880000", &ctx, "us-east-1", "aws").unwrap();
        let after = p2.after.clone().unwrap();
        assert_eq!(after.statements.len(), 1, "merged into the managed statement");
        let PlanAction::Put(t2) = &p2.action else { panic!() };
        let live2 = Policy::parse(t2).unwrap();
        for src in ["777788889999", "777788880000"] {
            assert_eq!(
                plan_replication_grant(Some(&live2), src, &ctx, "us-east-1", "aws")
                    .unwrap()
                    .action,
                PlanAction::Unchanged
            );
        }
        let refused = plan_replication_grant(Some(&live2), "999999999999", &ctx, "us-east-1", "aws").unwrap();
        assert_eq!(refused.action, PlanAction::Unchanged);
        assert_eq!(refused.findings.len(), 1);
        // And the registry guard accepts what we wrote.
        assert_eq!(plan_registry(Some(&live2), &ctx).unwrap().action, PlanAction::Unchanged);
    }
}
