//! Approved exceptions: a grant the rules would remove, kept on purpose for a while. Each names
//! repositories (a glob), one grantee, the most it may get, optionally the rule, an end date and
//! the reason. An exception never widens the safety net: a `*` nobody narrowed stays `public`,
//! and `NotAction` stays `not-action`; those rules cannot be excepted.
//!
//! Exceptions live in the config, never in repository tags: whoever may tag a repository would
//! otherwise decide its policy.

use crate::{
    actions::ActionClass,
    condition::{arn_parts, parse_date},
    config::{is_account_id, GrantClass},
    guard::Rule,
    wildcard::{covers, has_wildcard},
};
use serde::Deserialize;

/// Who an exception is for
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Grantee {
    /// An account: its root and every principal in it
    Account(String),
    /// One user or role ARN
    Principal(String),
    /// An organisation (a `*` narrowed to it)
    Org(String),
    /// A service principal
    Service(String),
}

impl std::fmt::Display for Grantee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grantee::Account(a) => write!(f, "account `{a}`"),
            Grantee::Principal(p) => write!(f, "principal `{p}`"),
            Grantee::Org(o) => write!(f, "organisation `{o}`"),
            Grantee::Service(s) => write!(f, "service `{s}`"),
        }
    }
}

/// One approved exception
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    /// Glob of repository names it covers (a registry grant must lie within it)
    pub repositories: String,
    /// Who may keep a grant
    pub grantee: Grantee,
    /// The most the grantee may keep (`pull` or `push`)
    pub max: GrantClass,
    /// Only this rule (any exceptable rule when absent)
    #[serde(default)]
    pub rule: Option<String>,
    /// `YYYY-MM-DD`: the first day (UTC) the exception no longer applies
    pub expires: String,
    /// Why, and who approved it: shown with every finding it keeps
    pub reason: String,
}

/// Rules an exception may cover
pub const EXCEPTABLE: &[Rule] = &[
    Rule::ForeignAccount,
    Rule::ExcessAccess,
    Rule::ForeignOrg,
    Rule::OrgExcessAccess,
    Rule::UntrustedService,
    Rule::ServiceForeignSource,
    Rule::ServiceUnpinned,
];

/// Seconds in a day
const DAY: f64 = 86_400.0;

/// How soon an expiry is worth a warning
pub const EXPIRY_WARNING_DAYS: f64 = 14.0;

impl Exception {
    /// `Err` names what is wrong (the config names the field)
    pub fn validate(&self) -> Result<(), String> {
        if self.repositories.is_empty() {
            return Err("`repositories` must not be empty (use `*` for every repository)".into());
        }
        match &self.grantee {
            Grantee::Account(a) if !is_account_id(a) => return Err(format!("`{a}` is not a 12-digit account id")),
            Grantee::Principal(p) => {
                let ok = arn_parts(p).is_some_and(|x| x[0] == "arn" && is_account_id(x[4]) && !has_wildcard(p));
                if !ok {
                    return Err(format!("`{p}` is not a user or role ARN"));
                }
            }
            Grantee::Org(o) if !o.starts_with("o-") || has_wildcard(o) => {
                return Err(format!("`{o}` is not an organization id"))
            }
            Grantee::Service(s) if s.is_empty() || has_wildcard(s) => {
                return Err(format!("`{s}` is not a service principal"))
            }
            _ => {}
        }
        if let Some(r) = &self.rule {
            let rule = Rule::from_name(r).ok_or_else(|| format!("unknown rule `{r}`"))?;
            if !EXCEPTABLE.contains(&rule) {
                return Err(format!(
                    "rule `{r}` cannot be excepted: an exception never widens `public` or `not-action`"
                ));
            }
        }
        self.expires_at()?;
        if self.reason.trim().is_empty() {
            return Err("`reason` must say why and who approved it".into());
        }
        Ok(())
    }

    /// The instant it stops applying, seconds since the epoch
    pub fn expires_at(&self) -> Result<f64, String> {
        let date_only = self.expires.len() == 10;
        parse_date(&self.expires)
            .filter(|_| date_only)
            .ok_or_else(|| format!("`expires` must be a date `YYYY-MM-DD`, found `{}`", self.expires))
    }

    /// True when it applies at `now` (seconds since the epoch)
    pub fn active(&self, now: f64) -> bool {
        self.expires_at().is_ok_and(|end| now < end)
    }

    /// Whole days left at `now` (0 on its last day)
    pub fn days_left(&self, now: f64) -> i64 {
        self.expires_at()
            .map(|end| ((end - now) / DAY).floor() as i64)
            .unwrap_or(0)
    }

    /// True when it covers `grantee` holding `class` for `rule` on every repository `scope`
    /// matches (a name or a glob)
    pub fn covers(&self, scope: &str, grantee: &Grantee, class: ActionClass, rule: Rule) -> bool {
        let grantee_ok = match (&self.grantee, grantee) {
            (Grantee::Account(a), Grantee::Principal(p)) => arn_parts(p).is_some_and(|x| x[4] == a),
            (mine, theirs) => {
                mine == theirs
                    || matches!((mine, theirs), (Grantee::Service(a), Grantee::Service(b)) if a.eq_ignore_ascii_case(b))
            }
        };
        grantee_ok
            && class <= self.max.ceiling()
            && EXCEPTABLE.contains(&rule)
            && self.rule.as_deref().is_none_or(|r| r == rule.as_str())
            && covers(&self.repositories, scope)
    }
}

impl crate::config::GuardConfig {
    /// Active exceptions that end within [`EXPIRY_WARNING_DAYS`] of `now`: `(index, days left)`
    pub fn expiring_exceptions(&self, now: f64) -> Vec<(usize, i64)> {
        self.exceptions
            .iter()
            .enumerate()
            .filter(|(_, x)| x.active(now) && (x.days_left(now) as f64) < EXPIRY_WARNING_DAYS)
            .map(|(i, x)| (i, x.days_left(now)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exception(json: &str) -> Exception {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn validation_names_the_problem() {
        let e = |j: &str| exception(j).validate().unwrap_err();
        assert_eq!(
            e(r#"{"repositories":"*","grantee":{"account":"12"},"max":"pull","expires":"2027-01-01","reason":"r"}"#),
            "`12` is not a 12-digit account id"
        );
        assert!(e(r#"{"repositories":"*","grantee":{"account":"111122223333"},"max":"pull","rule":"public","expires":"2027-01-01","reason":"r"}"#)
            .contains("cannot be excepted"));
        assert_eq!(
            e(
                r#"{"repositories":"*","grantee":{"account":"111122223333"},"max":"pull","expires":"next week","reason":"r"}"#
            ),
            "`expires` must be a date `YYYY-MM-DD`, found `next week`"
        );
        assert!(serde_json::from_str::<Exception>(r#"{"repositories":"*","grantee":{"account":"111122223333"},"max":"admin","expires":"2027-01-01","reason":"r"}"#).is_err());
    }

    #[test]
    fn expiry_and_coverage() {
        let x = exception(
            r#"{"repositories":"team-*","grantee":{"account":"999988887777"},"max":"pull","expires":"2027-01-01","reason":"partner migration, approved by sec"}"#,
        );
        let day = |d: &str| parse_date(d).unwrap();
        assert!(x.active(day("2026-12-31T23:59:59Z")));
        assert!(!x.active(day("2027-01-01")));
        assert_eq!(x.days_left(day("2026-12-20")), 12);
        let acct = Grantee::Account("999988887777".into());
        assert!(x.covers("team-a", &acct, ActionClass::Pull, Rule::ForeignAccount));
        assert!(x.covers(
            "team-*",
            &Grantee::Principal("arn:aws:iam::999988887777:role/ci".into()),
            ActionClass::Pull,
            Rule::ForeignAccount
        ));
        assert!(
            !x.covers("*", &acct, ActionClass::Pull, Rule::ForeignAccount),
            "beyond its repositories"
        );
        assert!(
            !x.covers("team-a", &acct, ActionClass::Push, Rule::ForeignAccount),
            "beyond its class"
        );
        assert!(!x.covers("team-a", &acct, ActionClass::Pull, Rule::Public));
    }
}
