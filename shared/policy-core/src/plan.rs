//! Planners: from the live policy and the config to what should be written. They never do I/O
//! and never return a policy over ECR's size limit. A plan writes only when the result differs
//! in meaning from what is there, so running a planner on its own output plans nothing.
//!
//! Every plan has two views: what is written (the changes of enforced rules) and what enforcing
//! every rule would write (what report mode shows). Repairs count as rules too: restoring a
//! baseline statement is `baseline`, adding a replication source's grant is `replication`.

use crate::{
    config::{render_baseline, Mode},
    error::ParseError,
    eval::{evaluate, Decision, Request, RequestPrincipal},
    guard::{review_registry_policy, review_repository_policy, Finding, GuardContext, Review, Rule},
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

impl PlanAction {
    /// `put` or `delete`, `None` when unchanged
    pub fn write(&self) -> Option<&'static str> {
        match self {
            PlanAction::Unchanged => None,
            PlanAction::Put(_) => Some("put"),
            PlanAction::Delete => Some("delete"),
        }
    }
}

/// A statement a repair adds (or would add)
#[derive(Clone, Debug, PartialEq)]
pub struct Addition {
    /// `baseline` or `replication`
    pub rule: Rule,
    /// The statement as added (a managed statement with the new principal merged in)
    pub statement: Statement,
    /// True when written; false when its rule is in report mode
    pub applied: bool,
}

/// A plan and everything needed to audit it
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// What to write: the changes of enforced rules
    pub action: PlanAction,
    /// What enforcing every rule would write (equal to `action` when every rule is enforced)
    pub would: PlanAction,
    /// The policy as read
    pub before: Option<Policy>,
    /// The policy as written (`None` when there should be none)
    pub after: Option<Policy>,
    /// The policy as enforcing every rule would leave it
    pub would_after: Option<Policy>,
    /// Every finding of the guard rules, with what was done
    pub findings: Vec<Finding>,
    /// Statements added by repairs
    pub additions: Vec<Addition>,
    /// Things a person should know that changed nothing (a refused replication source, a
    /// baseline that does not fit, ...)
    pub notes: Vec<String>,
}

impl Plan {
    /// The statements actually added
    pub fn added(&self) -> impl Iterator<Item = &Statement> {
        self.additions.iter().filter(|a| a.applied).map(|a| &a.statement)
    }
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
        /// The repository (or `registry`)
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
        full: Policy::empty(),
        findings: Vec::new(),
    })
}

/// The policy as written and as enforcing everything would write it
struct Views {
    kept: Policy,
    full: Policy,
}

impl Views {
    /// Applies `f` to the full view, and to the kept view when `rule` is enforced
    fn each(&mut self, rule: Rule, ctx: &GuardContext, mut f: impl FnMut(&mut Policy, bool)) {
        f(&mut self.full, true);
        if ctx.config.rule_mode(rule) == Mode::Enforce {
            f(&mut self.kept, false);
        }
    }
}

fn action_for(what: &str, before: Option<&Policy>, after: &Policy) -> Result<PlanAction, PlanError> {
    Ok(if after.statements.is_empty() {
        if before.is_some() {
            PlanAction::Delete
        } else {
            PlanAction::Unchanged
        }
    } else if before.is_some_and(|b| equivalent(b, after)) {
        PlanAction::Unchanged
    } else {
        PlanAction::Put(after.to_json_checked().map_err(|source| PlanError::TooLarge {
            what: what.to_owned(),
            source,
        })?)
    })
}

fn some_unless_empty(p: Policy) -> Option<Policy> {
    (!p.statements.is_empty()).then_some(p)
}

/// Adds the statements whose Sid is missing; returns those added
fn add_missing(view: &mut Policy, statements: &[Statement]) -> Vec<Statement> {
    let mut added = Vec::new();
    for s in statements {
        let present = view
            .statements
            .iter()
            .any(|have| have.sid.is_some() && have.sid == s.sid);
        if !present {
            added.push(s.clone());
            view.statements.push(s.clone());
        }
    }
    added
}

/// Policy variables in a baseline work only under 2012-10-17. Raising the version changes the
/// meaning of nothing already there when no live value holds `${`.
fn raise_version(view: &mut Policy, base_version: Option<Version>, before_additions: &[Statement]) {
    if base_version == Some(Version::V2012) && view.version != Some(Version::V2012) {
        let live_has_variables = before_additions.iter().any(|s| s.to_value().to_string().contains("${"));
        if !live_has_variables {
            view.version = Some(Version::V2012);
        }
    }
}

fn merge_baseline(views: &mut Views, base: &Policy, ctx: &GuardContext) -> Vec<Addition> {
    let mut additions = Vec::new();
    views.each(Rule::Baseline, ctx, |view, full| {
        let existing = view.statements.clone();
        let added = add_missing(view, &base.statements);
        if !added.is_empty() {
            raise_version(view, base.version, &existing);
        }
        if full {
            additions.extend(added.into_iter().map(|statement| Addition {
                rule: Rule::Baseline,
                statement,
                applied: ctx.config.rule_mode(Rule::Baseline) == Mode::Enforce,
            }));
        }
    });
    additions
}

/// Turns the views into a plan. Removing a disallowed grant never waits on repairs fitting: a
/// view over ECR's limit is written without its additions, and a note says why.
fn finish(
    what: &str,
    before: Option<&Policy>,
    reviewed: Review,
    views: Views,
    mut additions: Vec<Addition>,
    mut notes: Vec<String>,
) -> Result<Plan, PlanError> {
    // A view over the limit falls back to the reviewed policy without additions.
    let mut fit = |view: Policy, without: &Policy, label: &str| -> Result<(PlanAction, Policy, bool), PlanError> {
        match action_for(what, before, &view) {
            Err(PlanError::TooLarge { source, .. }) => {
                notes.push(format!(
                    "{label} not added: the policy would be `{}` characters, over ecr's limit of {}",
                    source.chars,
                    crate::MAX_POLICY_CHARS
                ));
                Ok((action_for(what, before, without)?, without.clone(), true))
            }
            other => Ok((other?, view, false)),
        }
    };
    let label = if additions.iter().any(|a| a.rule == Rule::Replication) {
        "repairs"
    } else {
        "baseline statements"
    };
    let (action, kept, kept_dropped) = fit(views.kept, &reviewed.policy, label)?;
    let (would, full, full_dropped) = fit(views.full, &reviewed.full, label)?;
    notes.dedup();
    if full_dropped {
        additions.clear();
    } else if kept_dropped {
        additions.iter_mut().for_each(|a| a.applied = false);
    }
    Ok(Plan {
        action,
        would,
        before: before.cloned(),
        after: some_unless_empty(kept),
        would_after: some_unless_empty(full),
        findings: reviewed.findings,
        additions,
        notes,
    })
}

fn views_of(r: &Review) -> Views {
    Views {
        kept: r.policy.clone(),
        full: r.full.clone(),
    }
}

/// Plans a repository policy (or a creation template's, `repository` being its namespace): the
/// guard rules on the live policy, then the baseline's statements whose Sid is missing.
pub fn plan_repository(live: Option<&Policy>, repository: &str, ctx: &GuardContext) -> Result<Plan, PlanError> {
    let what = format!("repository policy of `{repository}`");
    plan_repository_like(
        live,
        &what,
        ctx.config.baseline_for(repository).map(|b| &b.policy),
        repository,
        ctx,
    )
}

/// Plans a repository-policy document with a given baseline (`None`: no baseline applies)
pub fn plan_repository_like(
    live: Option<&Policy>,
    what: &str,
    baseline: Option<&serde_json::Value>,
    name: &str,
    ctx: &GuardContext,
) -> Result<Plan, PlanError> {
    refuse_unknown(live, what)?;
    let reviewed = reviewed(live, |p| review_repository_policy(p, ctx));
    let mut views = views_of(&reviewed);
    let mut additions = Vec::new();
    if let Some(baseline) = baseline {
        let base = render_baseline(baseline, ctx.account, ctx.region, ctx.partition, name).map_err(|source| {
            PlanError::Baseline {
                repository: name.to_owned(),
                source,
            }
        })?;
        additions = merge_baseline(&mut views, &base, ctx);
    }
    finish(what, live, reviewed, views, additions, Vec::new())
}

/// Sid of the statements this planner manages
pub const REPLICATION_SID: &str = "EcrPolicyGuardReplication";

/// The actions and resource a replication grant gives, from the config
fn replication_grant(ctx: &GuardContext) -> (Vec<String>, String) {
    let mut actions = Vec::new();
    if ctx.config.replication_create_repository {
        actions.push("ecr:CreateRepository".to_owned());
    }
    actions.push("ecr:ReplicateImage".to_owned());
    let resource = format!(
        "arn:{}:ecr:{}:{}:repository/{}",
        ctx.partition, ctx.region, ctx.account, ctx.config.replication_repository_prefix
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

/// Adds `source`'s replication grant to a view unless it already holds it; `Err` is a note
fn grant_one(view: &mut Policy, source: &str, ctx: &GuardContext) -> Result<Option<Statement>, String> {
    let (actions, resource) = replication_grant(ctx);
    let decisions: Vec<Decision> = actions.iter().map(|a| decision(view, source, a, &resource)).collect();
    if decisions.iter().all(|d| *d == Decision::Allow) {
        return Ok(None);
    }
    if decisions.contains(&Decision::ExplicitDeny) {
        return Err(format!(
            "a Deny statement in the registry policy blocks replication from `{source}`: not overridden"
        ));
    }
    let principal = format!("arn:{}:iam::{source}:root", ctx.partition);
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
            values: OneOrMany::Many(actions),
        },
        resource: Some(ListBlock {
            negated: false,
            values: OneOrMany::Many(vec![resource]),
        }),
        condition: None,
        extra: Default::default(),
    };
    let shape = normalize_statement(&wanted);
    // Merge into a statement we manage with the same actions and resource, if there is one.
    let managed = view.statements.iter_mut().find(|s| {
        let ours = s.sid.as_deref().is_some_and(|sid| sid.starts_with(REPLICATION_SID));
        let n = normalize_statement(s);
        let only_aws = matches!(&s.principal, Some(PrincipalBlock { negated: false, principal: Principal::Map(m) }) if m.len() == 1 && m.contains_key(&PrincipalKind::Aws));
        ours && only_aws && n.effect == shape.effect && n.action == shape.action && n.resource == shape.resource && n.condition.is_empty()
    });
    Ok(Some(match managed {
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
            let taken = |sid: &str| view.statements.iter().any(|x| x.sid.as_deref() == Some(sid));
            let mut n = 2;
            while s.sid.as_deref().is_some_and(taken) {
                s.sid = Some(format!("{REPLICATION_SID}{n}"));
                n += 1;
            }
            view.statements.push(s.clone());
            s
        }
    }))
}

/// Plans the registry policy: the registry rules (scope V2) on the live policy, the registry
/// baseline's statements whose Sid is missing, and a replication grant for every account in
/// `replication_sources` that does not hold one (a grant the policy's own Deny blocks is noted,
/// never overridden)
pub fn plan_registry(live: Option<&Policy>, ctx: &GuardContext) -> Result<Plan, PlanError> {
    let what = "registry policy";
    refuse_unknown(live, what)?;
    let reviewed = reviewed(live, |p| review_registry_policy(p, ctx));
    let mut views = views_of(&reviewed);
    let mut additions = Vec::new();
    if let Some(baseline) = &ctx.config.registry_baseline {
        let base = render_baseline(baseline, ctx.account, ctx.region, ctx.partition, "").map_err(|source| {
            PlanError::Baseline {
                repository: "registry".to_owned(),
                source,
            }
        })?;
        additions = merge_baseline(&mut views, &base, ctx);
    }
    let mut notes = Vec::new();
    let enforced = ctx.config.rule_mode(Rule::Replication) == Mode::Enforce;
    for source in &ctx.config.replication_sources {
        views.each(Rule::Replication, ctx, |view, full| {
            match grant_one(view, source, ctx) {
                Ok(Some(statement)) if full => additions.push(Addition {
                    rule: Rule::Replication,
                    statement,
                    applied: enforced,
                }),
                Err(note) if full => notes.push(note),
                _ => {}
            }
        });
    }
    finish(what, live, reviewed, views, additions, notes)
}

/// Plans the registry policy after a replication from `source` failed: refused (a note, nothing
/// planned) unless `source` is in `replication_sources`; otherwise [`plan_registry`], which
/// grants every source that lacks its grant
pub fn plan_replication_grant(live: Option<&Policy>, source: &str, ctx: &GuardContext) -> Result<Plan, PlanError> {
    refuse_unknown(live, "registry policy")?;
    if !ctx.config.replication_sources.iter().any(|s| s == source) {
        return Ok(Plan {
            action: PlanAction::Unchanged,
            would: PlanAction::Unchanged,
            before: live.cloned(),
            after: live.cloned(),
            would_after: live.cloned(),
            findings: vec![],
            additions: vec![],
            notes: vec![format!("account `{source}` is not in `replication_sources`: no grant")],
        });
    }
    plan_registry(live, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GuardConfig;

    const OWN: &str = "123456789012";

    /// The test config with `extra` (`,"key":value...`) merged over it
    fn config(extra: &str) -> GuardConfig {
        let mut base = serde_json::json!({"mode":"enforce","trusted_accounts":{"111122223333":"pull"},
            "replication_sources":["777788889999","777788880000"]});
        let extra: serde_json::Value = serde_json::from_str(&format!("{{{}}}", extra.trim_start_matches(','))).unwrap();
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        GuardConfig::parse(&base.to_string()).unwrap()
    }

    fn ctx(c: &GuardConfig) -> GuardContext<'_> {
        GuardContext::new(c, OWN, "us-east-1", "aws")
    }

    const BASELINE: &str = r#","baselines":[{"match":"team-*","policy":{"Version":"2012-10-17","Statement":[
        {"Sid":"BaselinePull","Effect":"Allow","Principal":{"AWS":"arn:${Partition}:iam::111122223333:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}}]"#;

    fn sids(p: &Policy) -> Vec<String> {
        p.statements.iter().map(|s| s.sid.clone().unwrap_or_default()).collect()
    }

    #[test]
    fn baseline_on_new_repository_then_fixed_point() {
        let c = config(BASELINE);
        let plan = plan_repository(None, "team-a", &ctx(&c)).unwrap();
        let PlanAction::Put(text) = &plan.action else {
            panic!("{plan:?}")
        };
        assert_eq!(plan.added().count(), 1);
        // Our own write comes back as the live policy: nothing more to do.
        let live = Policy::parse(text).unwrap();
        let again = plan_repository(Some(&live), "team-a", &ctx(&c)).unwrap();
        assert_eq!(again.action, PlanAction::Unchanged);
        // No baseline for other names, no policy: nothing.
        assert_eq!(
            plan_repository(None, "other", &ctx(&c)).unwrap().action,
            PlanAction::Unchanged
        );
    }

    #[test]
    fn baseline_merges_by_sid_and_guard_still_applies() {
        let c = config(BASELINE);
        let live = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Mine","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"ecr:*"},
            {"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#,
        )
        .unwrap();
        let plan = plan_repository(Some(&live), "team-a", &ctx(&c)).unwrap();
        assert_eq!(sids(&plan.after.unwrap()), ["Mine", "BaselinePull"]);
        assert_eq!(plan.findings.len(), 1);
    }

    #[test]
    fn report_mode_writes_nothing_and_says_what_it_would() {
        let c = config(&format!(r#"{BASELINE},"mode":"report""#));
        let live = Policy::parse(r#"{"Version":"2012-10-17","Statement":[{"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#).unwrap();
        let plan = plan_repository(Some(&live), "team-a", &ctx(&c)).unwrap();
        assert_eq!(plan.action, PlanAction::Unchanged);
        let PlanAction::Put(text) = &plan.would else {
            panic!("{plan:?}")
        };
        assert_eq!(sids(&Policy::parse(text).unwrap()), ["BaselinePull"]);
        assert_eq!(plan.additions.len(), 1);
        assert!(!plan.additions[0].applied);
        assert_eq!(plan.added().count(), 0);
    }

    #[test]
    fn all_removed_deletes_and_unknown_operator_refuses() {
        let c = config("");
        let live = Policy::parse(r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:*"}}"#).unwrap();
        assert_eq!(
            plan_repository(Some(&live), "x", &ctx(&c)).unwrap().action,
            PlanAction::Delete
        );
        let odd = Policy::parse(r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"StringEqualz":{"a":"b"}}}}"#).unwrap();
        let e = plan_repository(Some(&odd), "x", &ctx(&c)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "live repository policy of `x`: unknown condition operator `StringEqualz`: refusing to judge it"
        );
    }

    #[test]
    fn oversize_baseline_is_left_out_but_removals_still_happen() {
        let c = config(BASELINE);
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
        // Then without a disallowed grant nothing is written, and the note says why
        let live = Policy::parse(&fill("")).unwrap();
        let plan = plan_repository(Some(&live), "team-a", &ctx(&c)).unwrap();
        assert_eq!(plan.action, PlanAction::Unchanged);
        assert!(plan.notes[0].contains("over ecr's limit of 10240"), "{:?}", plan.notes);
        assert!(plan.additions.is_empty());
        // And with one, it is removed all the same, the baseline left out
        let live = Policy::parse(&fill(public)).unwrap();
        let plan = plan_repository(Some(&live), "team-a", &ctx(&c)).unwrap();
        let PlanAction::Put(written) = &plan.action else {
            panic!("{:?}", plan.action)
        };
        assert!(written.chars().count() <= crate::MAX_POLICY_CHARS);
        assert_eq!(plan.findings.len(), 1);
        assert_eq!(plan.added().count(), 0);
        assert_eq!(plan.notes.len(), 1);
    }

    #[test]
    fn baseline_raises_the_version_only_when_nothing_live_changes_meaning() {
        let c = config(BASELINE);
        let old = Policy::parse(r#"{"Version":"2008-10-17","Statement":[{"Sid":"Mine","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:*"}]}"#).unwrap();
        let plan = plan_repository(Some(&old), "team-a", &ctx(&c)).unwrap();
        assert_eq!(plan.after.unwrap().version, Some(Version::V2012));
        let vars = Policy::parse(r#"{"Version":"2008-10-17","Statement":[{"Sid":"Mine","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/${aws:username}"}]}"#).unwrap();
        let plan = plan_repository(Some(&vars), "team-a", &ctx(&c)).unwrap();
        assert_eq!(plan.after.unwrap().version, Some(Version::V2008));
    }

    #[test]
    fn a_grant_never_writes_back_a_disallowed_statement() {
        let c = config("");
        let live = Policy::parse(r#"{"Statement":[{"Sid":"Stranger","Effect":"Allow","Principal":{"AWS":"999999999999"},"Action":"ecr:ReplicateImage","Resource":"*"}]}"#).unwrap();
        let plan = plan_replication_grant(Some(&live), "777788889999", &ctx(&c)).unwrap();
        assert_eq!(plan.findings.len(), 1);
        assert_eq!(sids(&plan.after.unwrap()), [REPLICATION_SID]);
    }

    #[test]
    fn replication_grants_every_source_refuses_others_and_converges() {
        let c = config("");
        let p1 = plan_replication_grant(None, "777788889999", &ctx(&c)).unwrap();
        let PlanAction::Put(t1) = &p1.action else { panic!() };
        let live = Policy::parse(t1).unwrap();
        assert_eq!(
            live.statements.len(),
            1,
            "both sources merged into the managed statement"
        );
        assert_eq!(p1.additions.len(), 2);
        for src in ["777788889999", "777788880000"] {
            assert_eq!(
                plan_replication_grant(Some(&live), src, &ctx(&c)).unwrap().action,
                PlanAction::Unchanged
            );
        }
        let refused = plan_replication_grant(Some(&live), "999999999999", &ctx(&c)).unwrap();
        assert_eq!(refused.action, PlanAction::Unchanged);
        assert_eq!(refused.notes.len(), 1);
        // And the registry guard accepts what we wrote.
        assert_eq!(
            plan_registry(Some(&live), &ctx(&c)).unwrap().action,
            PlanAction::Unchanged
        );
    }

    #[test]
    fn registry_baseline_is_restored_beside_replication() {
        let c = config(
            r#","org_id":"o-abc123def4","registry_baseline":{"Version":"2012-10-17","Statement":[
            {"Sid":"OrgPull","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],
             "Resource":"arn:${Partition}:ecr:${Region}:${AccountId}:repository/*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"${aws:ResourceOrgID}"}}}]}"#,
        );
        // Deleted registry policy: the baseline and both grants come back.
        let plan = plan_registry(None, &ctx(&c)).unwrap();
        let after = plan.after.clone().unwrap();
        assert_eq!(sids(&after), ["OrgPull", REPLICATION_SID]);
        assert!(after
            .to_json()
            .contains("arn:aws:ecr:us-east-1:123456789012:repository/*"));
        let live = Policy::parse(&after.to_json()).unwrap();
        assert_eq!(
            plan_registry(Some(&live), &ctx(&c)).unwrap().action,
            PlanAction::Unchanged
        );
    }

    #[test]
    fn a_deny_blocking_replication_is_noted_not_overridden() {
        let c = config("");
        let live = Policy::parse(
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"ecr:ReplicateImage","Resource":"*"}]}"#,
        )
        .unwrap();
        let plan = plan_registry(Some(&live), &ctx(&c)).unwrap();
        assert_eq!(plan.action, PlanAction::Unchanged);
        assert_eq!(plan.notes.len(), 2);
    }
}
