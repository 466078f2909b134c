//! The guard's configuration: one JSON document (see config/example.json). Parsing and
//! validation are pure; reading it from the environment is the adapter's job.

use crate::{
    actions::ActionClass,
    error::ParseError,
    guard::{review_repository_policy, GuardContext},
    model::Policy,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// `enforce` writes, `report` only logs what it would write
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Write the planned changes
    Enforce,
    /// Write nothing, report what would change (the default: roll out in report mode first)
    #[default]
    Report,
}

/// Access a trusted account or the organisation may be granted (admin never)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantClass {
    /// Pull and read
    Pull,
    /// Pull and push
    Push,
}

impl GrantClass {
    /// The action class this allows at most
    pub fn ceiling(self) -> ActionClass {
        match self {
            GrantClass::Pull => ActionClass::Pull,
            GrantClass::Push => ActionClass::Push,
        }
    }
}

fn default_org_access() -> GrantClass {
    GrantClass::Pull
}

fn default_services() -> Vec<String> {
    vec!["lambda.amazonaws.com".into(), "codebuild.amazonaws.com".into()]
}

fn default_true() -> bool {
    true
}

fn default_prefix() -> String {
    "*".into()
}

/// A baseline policy for repositories whose name matches a glob
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Glob on the repository name (`*`, `?`), case-sensitive like repository names
    #[serde(rename = "match")]
    pub pattern: String,
    /// The policy; `${AccountId}`, `${Region}`, `${RepositoryName}` and `${Partition}` are filled in
    pub policy: Value,
}

/// The guard configuration
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    /// `enforce` or `report` (default)
    #[serde(default)]
    pub mode: Mode,
    /// The organisation whose members may be granted `org_access`
    #[serde(default)]
    pub org_id: Option<String>,
    /// What organisation-wide grants may reach (default `pull`)
    #[serde(default = "default_org_access")]
    pub org_access: GrantClass,
    /// Other accounts that may be granted access, with the most they may get
    #[serde(default)]
    pub trusted_accounts: BTreeMap<String, GrantClass>,
    /// Service principals that may be granted access
    #[serde(default = "default_services")]
    pub trusted_services: Vec<String>,
    /// Accounts allowed to replicate into this registry
    #[serde(default)]
    pub replication_sources: Vec<String>,
    /// Also grant `ecr:CreateRepository` to replication sources (default true)
    #[serde(default = "default_true")]
    pub replication_create_repository: bool,
    /// Repository name prefix pattern replication grants cover (default `*`)
    #[serde(default = "default_prefix")]
    pub replication_repository_prefix: String,
    /// Baselines, first match wins
    #[serde(default)]
    pub baselines: Vec<Baseline>,
    /// Globs of repository names the guard never touches
    #[serde(default)]
    pub exempt_repositories: Vec<String>,
}

/// A configuration that cannot be used; the message names the field
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not JSON, or a field of the wrong type or name
    #[error("invalid config: {0}")]
    Syntax(String),
    /// A field whose value is not acceptable
    #[error("invalid config field `{field}`: {problem}")]
    Field {
        /// The field path, e.g. `baselines[0].policy`
        field: String,
        /// What is wrong
        problem: String,
    },
}

fn field(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

/// True for a 12-digit account id
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The placeholder account baselines are checked with: the real one is only known per event,
/// and a baseline may only name the own account through `${AccountId}`
const PROBE_ACCOUNT: &str = "000000000000";

impl GuardConfig {
    /// Parses and validates a config document
    pub fn parse(text: &str) -> Result<GuardConfig, ConfigError> {
        let config: GuardConfig = serde_json::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every field, including that each baseline passes the guard rules itself
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(org) = &self.org_id {
            let ok = org.strip_prefix("o-").is_some_and(|rest| {
                (10..=32).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
            if !ok {
                return Err(field(
                    "org_id",
                    format!("`{org}` is not an organization id (`o-` and 10 to 32 characters)"),
                ));
            }
        }
        for id in self.trusted_accounts.keys() {
            if !is_account_id(id) {
                return Err(field(
                    format!("trusted_accounts.{id}"),
                    format!("`{id}` is not a 12-digit account id"),
                ));
            }
        }
        for (i, id) in self.replication_sources.iter().enumerate() {
            if !is_account_id(id) {
                return Err(field(
                    format!("replication_sources[{i}]"),
                    format!("`{id}` is not a 12-digit account id"),
                ));
            }
        }
        if self.replication_repository_prefix.is_empty() {
            return Err(field(
                "replication_repository_prefix",
                "must not be empty (use `*` for every repository)",
            ));
        }
        for (i, s) in self.trusted_services.iter().enumerate() {
            if s.is_empty() || s.contains('*') {
                return Err(field(
                    format!("trusted_services[{i}]"),
                    format!("`{s}` is not a service principal"),
                ));
            }
        }
        for (i, b) in self.baselines.iter().enumerate() {
            let name = format!("baselines[{i}]");
            if b.pattern.is_empty() {
                return Err(field(format!("{name}.match"), "must not be empty"));
            }
            let policy = render_baseline(&b.policy, PROBE_ACCOUNT, "us-east-1", "aws", "probe")
                .map_err(|e| field(format!("{name}.policy"), e.to_string()))?;
            let mut sids = BTreeSet::new();
            for (j, s) in policy.statements.iter().enumerate() {
                match &s.sid {
                    None => {
                        return Err(field(
                            format!("{name}.policy"),
                            format!("statement {j} needs a `Sid`: baselines merge by Sid"),
                        ))
                    }
                    Some(sid) if !sids.insert(sid.clone()) => {
                        return Err(field(format!("{name}.policy"), format!("duplicate Sid `{sid}`")))
                    }
                    Some(_) => {}
                }
            }
            if let Some(op) = policy.unknown_operators().first() {
                return Err(field(
                    format!("{name}.policy"),
                    format!("unknown condition operator `{op}`"),
                ));
            }
            let ctx = GuardContext {
                config: self,
                account: PROBE_ACCOUNT,
            };
            let review = review_repository_policy(&policy, &ctx);
            if let Some(r) = review.removals.first() {
                return Err(field(
                    format!("{name}.policy"),
                    format!(
                        "the guard rules would remove {}: {} ({})",
                        r.label,
                        r.reason,
                        r.rule.as_str()
                    ),
                ));
            }
            policy
                .to_json_checked()
                .map_err(|e| field(format!("{name}.policy"), e.to_string()))?;
        }
        for (i, g) in self.exempt_repositories.iter().enumerate() {
            if g.is_empty() {
                return Err(field(format!("exempt_repositories[{i}]"), "must not be empty"));
            }
        }
        Ok(())
    }

    /// The first baseline whose glob matches the repository name
    pub fn baseline_for(&self, repository: &str) -> Option<&Baseline> {
        self.baselines
            .iter()
            .find(|b| crate::wildcard::wildcard_match(&b.pattern, repository, false))
    }

    /// True when the guard must leave the repository alone
    pub fn is_exempt(&self, repository: &str) -> bool {
        self.exempt_repositories
            .iter()
            .any(|g| crate::wildcard::wildcard_match(g, repository, false))
    }

    /// The most a trusted account may be granted
    pub fn trusted_ceiling(&self, account: &str) -> Option<ActionClass> {
        self.trusted_accounts.get(account).map(|c| c.ceiling())
    }

    /// True for a service principal the config trusts
    pub fn trusts_service(&self, name: &str) -> bool {
        self.trusted_services.iter().any(|s| s.eq_ignore_ascii_case(name))
    }
}

fn fill(v: &Value, subs: &[(&str, &str)]) -> Value {
    match v {
        Value::String(s) => {
            let mut out = s.clone();
            for (k, val) in subs {
                if out.contains(k) {
                    out = out.replace(k, val);
                }
            }
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, subs)).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), fill(x, subs))).collect()),
        other => other.clone(),
    }
}

/// The baseline for one repository: placeholders filled, parsed. Only the four guard
/// placeholders are replaced; IAM policy variables such as `${aws:username}` are left alone.
pub fn render_baseline(
    policy: &Value,
    account: &str,
    region: &str,
    partition: &str,
    repository: &str,
) -> Result<Policy, ParseError> {
    let filled = fill(
        policy,
        &[
            ("${AccountId}", account),
            ("${Region}", region),
            ("${Partition}", partition),
            ("${RepositoryName}", repository),
        ],
    );
    Policy::from_value(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = GuardConfig::parse("{}").unwrap();
        assert_eq!(c.mode, Mode::Report);
        assert_eq!(c.org_access, GrantClass::Pull);
        assert!(c.trusts_service("Lambda.amazonaws.com"));
        assert!(c.replication_create_repository);
        assert_eq!(c.replication_repository_prefix, "*");
    }

    #[test]
    fn errors_name_the_field() {
        let e = GuardConfig::parse(r#"{"trusted_accounts":{"12345":"pull"}}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "invalid config field `trusted_accounts.12345`: `12345` is not a 12-digit account id"
        );
        let e = GuardConfig::parse(r#"{"trusted_accounts":{"111122223333":"admin"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `admin`"), "{e}");
        let e = GuardConfig::parse(r#"{"mode":"enforce","colour":"blue"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `colour`"), "{e}");
        let e = GuardConfig::parse(r#"{"org_id":"o-*"}"#).unwrap_err().to_string();
        assert!(e.starts_with("invalid config field `org_id`"), "{e}");
    }

    #[test]
    fn baseline_rejected_by_guard_rules_is_a_config_error() {
        let public = r#"{"baselines":[{"match":"*","policy":{"Version":"2012-10-17","Statement":[
            {"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}}]}"#;
        let e = GuardConfig::parse(public).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid config field `baselines[0].policy`: the guard rules would remove"),
            "{e}"
        );
        let no_sid = r#"{"baselines":[{"match":"*","policy":{"Statement":[
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${AccountId}:root"},"Action":"ecr:*"}]}}]}"#;
        assert!(GuardConfig::parse(no_sid)
            .unwrap_err()
            .to_string()
            .contains("needs a `Sid`"));
        let own = r#"{"baselines":[{"match":"team-*","policy":{"Statement":[
            {"Sid":"Own","Effect":"Allow","Principal":{"AWS":"arn:${Partition}:iam::${AccountId}:root"},"Action":"ecr:*"}]}}]}"#;
        let c = GuardConfig::parse(own).unwrap();
        assert!(c.baseline_for("team-a").is_some());
        assert!(c.baseline_for("other").is_none());
    }

    #[test]
    fn render_fills_only_guard_placeholders() {
        let v: Value = serde_json::from_str(
            r#"{"Statement":{"Sid":"S","Effect":"Allow","Principal":{"AWS":"arn:${Partition}:iam::${AccountId}:root"},
            "Action":"ecr:*","Resource":"arn:aws:ecr:${Region}:${AccountId}:repository/${RepositoryName}/${aws:username}"}}"#,
        )
        .unwrap();
        let p = render_baseline(&v, "123456789012", "eu-west-1", "aws", "app").unwrap();
        let text = p.to_json();
        assert!(text.contains("arn:aws:iam::123456789012:root"));
        assert!(text.contains("arn:aws:ecr:eu-west-1:123456789012:repository/app/${aws:username}"));
    }
}
