//! The one place the command line asks `policy-core` for a verdict. Every review and plan call
//! is in [`judge`]; the rest of the CLI reads files and renders [`CliFinding`]s.

use policy_core::{
    config::GuardConfig,
    guard::{review_registry_policy, review_repository_policy, GuardContext},
    plan::{plan_repository, PlanAction},
    template::{namespace, plan_template},
    Disposition, Policy,
};
use serde_json::Value;

/// Which rules judge a policy
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyKind {
    /// A repository policy (or a creation template's policy, which becomes one)
    Repository,
    /// The registry policy
    Registry,
    /// A repository creation template's policy: a repository policy for its namespace
    Template,
}

impl PolicyKind {
    /// `repository policy` or `registry policy`
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Repository => "repository policy",
            PolicyKind::Registry => "registry policy",
            PolicyKind::Template => "creation template policy",
        }
    }
}

/// What a policy is judged against
#[derive(Clone, Copy, Debug)]
pub struct Judging<'a> {
    /// The configuration
    pub config: &'a GuardConfig,
    /// The account that owns the registry
    pub account: &'a str,
    /// Fills `${Region}` in baselines
    pub region: &'a str,
    /// Fills `${Partition}` in baselines
    pub partition: &'a str,
    /// Now, in seconds since the epoch: approved exceptions apply until their date
    pub now: f64,
}

/// One finding, as the command line records it
#[derive(Clone, Debug, PartialEq)]
pub struct CliFinding {
    /// The rule (`public`, `foreign-account`, ..., `missing-baseline`, `unresolved`)
    pub rule: String,
    /// Why, with the offending values
    pub reason: String,
    /// The principal concerned, when the finding is about one
    pub principal: Option<String>,
    /// The statement's index in the policy as read, when the finding is about one
    pub index: Option<usize>,
    /// `statement 2 (`Sid`)`
    pub label: Option<String>,
    /// The statement as read (or the baseline statement that would be added)
    pub statement: Option<Value>,
    /// What tells two findings of one rule and resource apart when there is no principal
    /// (the statement's Sid, a path): part of the SARIF fingerprint
    pub detail: Option<String>,
    /// `kept` (by configuration) or `excepted` (an approved exception): a note, not a failure
    pub note: Option<&'static str>,
}

impl CliFinding {
    /// A finding about no statement in particular
    pub fn new(rule: &str, reason: String) -> CliFinding {
        CliFinding {
            rule: rule.to_owned(),
            reason,
            principal: None,
            index: None,
            label: None,
            statement: None,
            detail: None,
            note: None,
        }
    }
}

/// Judges `policy` as the guard would: unknown condition operators and actions, the rules for
/// its kind, and, for a repository policy with a known name, the baseline statements missing.
/// (Callers leave out repositories matching `exempt_repositories`, which the guard never reads.)
pub fn judge(
    policy: &Policy,
    kind: PolicyKind,
    repository: Option<&str>,
    j: &Judging,
) -> Result<Vec<CliFinding>, String> {
    let mut out = Vec::new();
    let mut unknown_operator = false;
    for (i, s) in policy.statements.iter().enumerate() {
        for e in s.condition.iter().flatten().filter(|e| e.operator.is_none()) {
            unknown_operator = true;
            out.push(CliFinding {
                index: Some(i),
                label: Some(s.label(i)),
                detail: Some(e.raw.clone()),
                ..CliFinding::new(
                    "unknown-operator",
                    format!("condition operator `{}` is not one IAM knows", e.raw),
                )
            });
        }
        for a in s
            .action
            .values
            .iter()
            .filter(|a| policy_core::actions::is_unknown_ecr_action(a))
        {
            out.push(CliFinding {
                index: Some(i),
                label: Some(s.label(i)),
                detail: Some(a.clone()),
                ..CliFinding::new("unknown-action", format!("`{a}` covers no ECR action"))
            });
        }
    }
    // A template's prefix stands for its namespace (`team` is `team/*`).
    let scope = match (kind, repository) {
        (PolicyKind::Template, Some(prefix)) => Some(namespace(prefix)),
        (_, repo) => repo.map(str::to_owned),
    };
    let mut ctx = GuardContext::new(j.config, j.account, j.region, j.partition).at(j.now);
    if let Some(scope) = &scope {
        ctx = ctx.for_scope(scope);
    }
    let review = match kind {
        PolicyKind::Repository | PolicyKind::Template => review_repository_policy(policy, &ctx),
        PolicyKind::Registry => review_registry_policy(policy, &ctx),
    };
    out.extend(review.findings.iter().map(|r| CliFinding {
        rule: r.rule.as_str().to_owned(),
        reason: r.reason.clone(),
        principal: r.principal.clone(),
        index: Some(r.index),
        label: Some(r.label.clone()),
        statement: Some(r.statement.to_value()),
        detail: r.statement.sid.clone(),
        note: match r.disposition {
            Disposition::Kept | Disposition::Excepted => Some(r.disposition.as_str()),
            _ => None,
        },
    }));
    // The guard refuses to plan over an operator it does not know; the finding above says so.
    if let (PolicyKind::Repository | PolicyKind::Template, Some(repo), false) = (kind, repository, unknown_operator) {
        let plan = if kind == PolicyKind::Template {
            plan_template(Some(policy), repo, &[], &ctx)
        } else {
            plan_repository(Some(policy), repo, &ctx)
        }
        .map_err(|e| e.to_string())?;
        if plan.would != PlanAction::Unchanged {
            out.extend(plan.additions.iter().map(|a| &a.statement).map(|s| {
                let sid = s.sid.clone().unwrap_or_default();
                CliFinding {
                    statement: Some(s.to_value()),
                    detail: Some(sid.clone()),
                    ..CliFinding::new("missing-baseline", format!("`{sid}` would be added"))
                }
            }));
        }
    }
    Ok(out)
}
