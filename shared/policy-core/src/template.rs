//! Repository creation templates: the `repositoryPolicy` ECR gives every repository it creates
//! under a namespace (pull-through cache, replication, create-on-push). A template's policy is a
//! repository policy, judged by the same rules; its namespace plays the repository name for
//! `exempt_repositories` and baselines.
//!
//! A template with prefix `team` applies to `team/...` (ECR assumes the `/`); `ROOT` applies to
//! every repository no more specific template matches. A baseline reaches a template only when
//! its glob matches every name the template applies to, and no earlier baseline matches some of
//! them: a template holds one policy for its whole namespace.

use crate::{
    config::GuardConfig,
    guard::GuardContext,
    plan::{plan_repository_like, Plan, PlanError},
    wildcard::{covers, has_wildcard, intersects},
    Policy,
};
use serde_json::Value;

/// The prefix ECR uses for the template that applies to every repository
pub const ROOT: &str = "ROOT";

/// The repository names a template applies to, as a glob
pub fn namespace(prefix: &str) -> String {
    if prefix == ROOT {
        "*".to_owned()
    } else {
        format!("{prefix}/*")
    }
}

/// What a template's namespace gets from the baselines
#[derive(Clone, Debug, PartialEq)]
pub enum TemplateBaseline<'a> {
    /// No baseline matches the namespace
    None,
    /// This baseline (index in `baselines`) matches every name of the namespace
    Baseline {
        /// Index in `baselines`
        index: usize,
        /// The baseline policy, placeholders unfilled
        policy: &'a Value,
    },
    /// An earlier baseline matches only some names of the namespace: no one policy fits them all
    Ambiguous {
        /// Index of the baseline that matches part of the namespace
        index: usize,
    },
    /// The baseline fills `${RepositoryName}`, which a template cannot
    PerRepository {
        /// Index in `baselines`
        index: usize,
    },
}

impl GuardConfig {
    /// The baseline a creation template for `prefix` should hold. `more_specific` lists the
    /// other templates' prefixes: names under them get their own template, so a baseline that
    /// only matches inside one of them does not make this namespace ambiguous (ROOT's case).
    pub fn template_baseline(&self, prefix: &str, more_specific: &[String]) -> TemplateBaseline<'_> {
        let pattern = namespace(prefix);
        let own = |q: &&String| q.as_str() != prefix && (prefix == ROOT || q.starts_with(&format!("{prefix}/")));
        let inner: Vec<String> = more_specific.iter().filter(own).map(|q| namespace(q)).collect();
        for (index, b) in self.baselines.iter().enumerate() {
            if covers(&b.pattern, &pattern) {
                if b.policy.to_string().contains("${RepositoryName}") {
                    return TemplateBaseline::PerRepository { index };
                }
                return TemplateBaseline::Baseline {
                    index,
                    policy: &b.policy,
                };
            }
            let only_inside_others = inner.iter().any(|q| covers(q, &b.pattern));
            if intersects(&b.pattern, &pattern) && !only_inside_others {
                return TemplateBaseline::Ambiguous { index };
            }
        }
        TemplateBaseline::None
    }

    /// True when every repository the template applies to is exempt
    pub fn is_exempt_template(&self, prefix: &str) -> bool {
        self.is_exempt_pattern(&namespace(prefix))
    }

    /// With `baseline_templates`, the templates the guard keeps: `(prefix, baseline index)` for
    /// each baseline whose glob is a namespace (`team/*`, or `*` for `ROOT`). Other globs
    /// (`team-*`) match no one namespace: ECR's templates match `prefix/`, not arbitrary text.
    pub fn managed_templates(&self) -> Vec<(String, usize)> {
        if !self.baseline_templates {
            return Vec::new();
        }
        self.baselines
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let prefix = if b.pattern == "*" {
                    ROOT.to_owned()
                } else {
                    let ns = b.pattern.strip_suffix("/*")?;
                    if ns.is_empty() || has_wildcard(ns) || ns == ROOT {
                        return None;
                    }
                    ns.to_owned()
                };
                Some((prefix, i))
            })
            .collect()
    }
}

/// Plans a creation template's `repositoryPolicy`: the repository rules, then the baseline its
/// namespace gets (see [`GuardConfig::template_baseline`]); a note says why a baseline was not
/// applied when one matches only in part or needs `${RepositoryName}`
pub fn plan_template(
    live: Option<&Policy>,
    prefix: &str,
    more_specific: &[String],
    ctx: &GuardContext,
) -> Result<Plan, PlanError> {
    let what = format!("repository policy of creation template `{prefix}`");
    let (baseline, note) = match ctx.config.template_baseline(prefix, more_specific) {
        TemplateBaseline::None => (None, None),
        TemplateBaseline::Baseline { policy, .. } => (Some(policy), None),
        TemplateBaseline::Ambiguous { index } => (
            None,
            Some(format!(
                "baselines[{index}] (`{}`) matches only part of `{}`: the template gets no baseline, each repository still does",
                ctx.config.baselines.get(index).map(|b| b.pattern.as_str()).unwrap_or_default(),
                namespace(prefix)
            )),
        ),
        TemplateBaseline::PerRepository { index } => (
            None,
            Some(format!(
                "baselines[{index}] uses `${{RepositoryName}}`, which a creation template cannot fill: each repository gets it when created"
            )),
        ),
    };
    let mut plan = plan_repository_like(live, &what, baseline, prefix, ctx)?;
    plan.notes.extend(note);
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlanAction;

    fn config(baselines: &str, extra: &str) -> GuardConfig {
        GuardConfig::parse(&format!(r#"{{"mode":"enforce","baselines":{baselines}{extra}}}"#)).unwrap()
    }

    fn own(sid: &str, extra: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{sid}","Effect":"Allow","Principal":{{"AWS":"arn:${{Partition}}:iam::${{AccountId}}:root"}},"Action":"ecr:*"{extra}}}]}}"#
        )
    }

    #[test]
    fn which_baseline_a_namespace_gets() {
        let c = config(
            &format!(
                r#"[{{"match":"team/api*","policy":{}}},{{"match":"team/*","policy":{}}},{{"match":"*","policy":{}}}]"#,
                own("Api", ""),
                own("Team", ""),
                own("All", "")
            ),
            "",
        );
        // `team/api*` matches some of `team/...`: ambiguous for `team`, exact for `team/api`.
        assert_eq!(
            c.template_baseline("team", &[]),
            TemplateBaseline::Ambiguous { index: 0 }
        );
        assert!(matches!(
            c.template_baseline("team/api", &[]),
            TemplateBaseline::Baseline { index: 0, .. }
        ));
        assert!(matches!(
            c.template_baseline("team/web", &[]),
            TemplateBaseline::Baseline { index: 1, .. }
        ));
        assert!(matches!(
            c.template_baseline("prod", &[]),
            TemplateBaseline::Baseline { index: 2, .. }
        ));
        // ROOT: ambiguous, unless the team namespaces have their own templates.
        assert_eq!(c.template_baseline(ROOT, &[]), TemplateBaseline::Ambiguous { index: 0 });
        assert!(matches!(
            c.template_baseline(ROOT, &["team".to_owned()]),
            TemplateBaseline::Baseline { index: 2, .. }
        ));
        let per_repo = config(
            &format!(
                r#"[{{"match":"*","policy":{}}}]"#,
                own("Named", r#","Resource":"arn:aws:ecr:*:*:repository/${RepositoryName}""#)
            ),
            "",
        );
        assert_eq!(
            per_repo.template_baseline(ROOT, &[]),
            TemplateBaseline::PerRepository { index: 0 }
        );
    }

    #[test]
    fn managed_templates_are_namespace_globs_only() {
        let c = config(
            &format!(
                r#"[{{"match":"team/*","policy":{}}},{{"match":"team-*","policy":{}}},{{"match":"*","policy":{}}},{{"match":"a*/*","policy":{}}}]"#,
                own("A", ""),
                own("B", ""),
                own("C", ""),
                own("D", "")
            ),
            r#","baseline_templates":true"#,
        );
        assert_eq!(c.managed_templates(), [("team".to_owned(), 0), (ROOT.to_owned(), 2)]);
    }

    #[test]
    fn a_template_is_judged_like_a_repository_and_gets_its_baseline() {
        let c = config(
            &format!(r#"[{{"match":"team/*","policy":{}}}]"#, own("Team", "")),
            r#","exempt_repositories":["sandbox-*"]"#,
        );
        let ctx = GuardContext::new(&c, "123456789012", "us-east-1", "aws");
        let live = Policy::parse(r#"{"Version":"2012-10-17","Statement":[{"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#).unwrap();
        let plan = plan_template(Some(&live), "team", &[], &ctx).unwrap();
        assert_eq!(plan.findings.len(), 1);
        let PlanAction::Put(text) = &plan.action else {
            panic!("{plan:?}")
        };
        assert!(
            text.contains("arn:aws:iam::123456789012:root") && !text.contains("\"Pub\""),
            "{text}"
        );
        assert!(c.is_exempt_template("sandbox-x"));
        assert!(!c.is_exempt_template(ROOT));
    }
}
