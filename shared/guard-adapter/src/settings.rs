//! Start-up settings from the environment: where the config comes from, and the guard's identity.
//!
//! The config is one JSON document (`GUARD_CONFIG` inline, `GUARD_CONFIG_FILE` a path, or
//! `GUARD_CONFIG_PARAMETER` an SSM parameter, read by [`crate::config_store`]) or, without a
//! document, the field variables (`GUARD_MODE`, `GUARD_TRUSTED_ACCOUNTS`, ...), one per field,
//! each parsed on its own: the template passes each parameter in its own variable, so no
//! parameter value can change the shape of the config.

use crate::engine::partition_of;
use policy_core::config::{member_role_arn, ConfigError, GuardConfig};
use serde_json::{Map, Value};

/// Everything read from the environment at start-up
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The guard configuration
    pub config: GuardConfig,
    /// `GUARD_ROLE_ARN`: the guard's roles (comma-separated, one per function); events their
    /// sessions caused are skipped. In central mode the config's `member_role` joins them.
    pub own_role_arns: Vec<String>,
    /// `GUARD_ACCOUNT_ID`: events of other registries are skipped (in central mode: the account
    /// the functions run in, guarded with their own credentials)
    pub own_account: Option<String>,
}

/// A start-up failure; the message names the variable or field
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// No config source, or more than one
    #[error(
        "set exactly one of `GUARD_CONFIG` (inline json), `GUARD_CONFIG_FILE` (a path) and \
         `GUARD_CONFIG_PARAMETER` (an SSM parameter), or the field variables (`GUARD_MODE`, ...)"
    )]
    NoConfig,
    /// A field variable beside a config document
    #[error("`{var}` is set beside the config document in `{document}`: the document is the whole config")]
    Mixed {
        /// The field variable
        var: &'static str,
        /// The document's variable
        document: &'static str,
    },
    /// `GUARD_CONFIG_PARAMETER` where no SSM reader is at hand (the command line)
    #[error("`GUARD_CONFIG_PARAMETER` (`{0}`) is read by the Lambda functions; pass the config as a file here")]
    ParameterHere(String),
    /// The config file cannot be read
    #[error("cannot read `GUARD_CONFIG_FILE` `{path}`: {source}")]
    File {
        /// The path
        path: String,
        /// Why
        source: std::io::Error,
    },
    /// A field variable that is not what its field takes
    #[error("`{var}`: {problem}")]
    Variable {
        /// The variable
        var: &'static str,
        /// What is wrong
        problem: String,
    },
    /// The config is invalid
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `GUARD_ACCOUNT_ID` is not an account id
    #[error("`GUARD_ACCOUNT_ID` must be a 12-digit account id, found `{0}`")]
    Account(String),
    /// The SSM parameter could not be read or holds no valid config
    #[error("config parameter `{name}`: {problem}")]
    Parameter {
        /// The parameter
        name: String,
        /// What went wrong
        problem: String,
    },
}

/// Where the config comes from
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigSource {
    /// Read once: `GUARD_CONFIG`, `GUARD_CONFIG_FILE` or the field variables
    Fixed(Box<GuardConfig>),
    /// `GUARD_CONFIG_PARAMETER`: an SSM parameter name or ARN, read at start and again after a
    /// time to live
    Parameter(String),
}

/// How a field variable's text becomes the field's JSON value
#[derive(Clone, Copy)]
enum Shape {
    /// The text itself; empty leaves the field to its default
    Text,
    /// `true` or `false`
    Bool,
    /// Comma-separated values (empty: an empty list)
    List,
    /// `ACCOUNT:pull,ACCOUNT:push`
    AccountClasses,
    /// `organization` or comma-separated account ids
    Accounts,
}

/// The field variables: one per config field the template sets from a parameter
const FIELDS: &[(&str, &str, Shape)] = &[
    ("GUARD_MODE", "mode", Shape::Text),
    ("GUARD_ORG_ID", "org_id", Shape::Text),
    ("GUARD_ORG_ACCESS", "org_access", Shape::Text),
    ("GUARD_TRUSTED_ACCOUNTS", "trusted_accounts", Shape::AccountClasses),
    ("GUARD_TRUSTED_SERVICES", "trusted_services", Shape::List),
    ("GUARD_UNPINNED_SERVICES", "unpinned_services", Shape::Text),
    ("GUARD_REPLICATION_SOURCES", "replication_sources", Shape::List),
    (
        "GUARD_REPLICATION_CREATE_REPOSITORY",
        "replication_create_repository",
        Shape::Bool,
    ),
    (
        "GUARD_REPLICATION_REPOSITORY_PREFIX",
        "replication_repository_prefix",
        Shape::Text,
    ),
    ("GUARD_EXEMPT_REPOSITORIES", "exempt_repositories", Shape::List),
    ("GUARD_MEMBER_ROLE", "member_role", Shape::Text),
    ("GUARD_ACCOUNTS", "accounts", Shape::Accounts),
    ("GUARD_EXCLUDE_ACCOUNTS", "exclude_accounts", Shape::List),
    ("GUARD_REGIONS", "regions", Shape::List),
    ("GUARD_FINDING_EVENTS", "finding_events", Shape::Bool),
    ("GUARD_SECURITY_HUB", "security_hub", Shape::Bool),
    ("GUARD_NOTIFY_TOPIC_ARN", "notify_topic_arn", Shape::Text),
];

/// The field variables' names (the template sets them from its parameters)
pub fn field_variables() -> impl Iterator<Item = &'static str> {
    FIELDS.iter().map(|(var, ..)| *var)
}

fn list(text: &str) -> Vec<Value> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Value::String(s.to_owned()))
        .collect()
}

fn field_value(var: &'static str, shape: Shape, text: &str) -> Result<Option<Value>, SettingsError> {
    let bad = |problem: String| SettingsError::Variable { var, problem };
    let text = text.trim();
    Ok(match shape {
        Shape::Text => (!text.is_empty()).then(|| Value::String(text.to_owned())),
        Shape::Bool => match text {
            "" => None,
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            other => return Err(bad(format!("`{other}` is neither `true` nor `false`"))),
        },
        Shape::List => Some(Value::Array(list(text))),
        Shape::Accounts => match text {
            "" => None,
            "organization" => Some(Value::String(text.to_owned())),
            _ => Some(Value::Array(list(text))),
        },
        Shape::AccountClasses => {
            let mut map = Map::new();
            for entry in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (account, class) = entry
                    .split_once(':')
                    .ok_or_else(|| bad(format!("entry `{entry}`: expected `ACCOUNT:pull` or `ACCOUNT:push`")))?;
                map.insert(account.trim().to_owned(), Value::String(class.trim().to_owned()));
            }
            Some(Value::Object(map))
        }
    })
}

impl ConfigSource {
    /// Finds the config source in the variables; a document and field variables together are an
    /// error, so that no variable is silently ignored
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<ConfigSource, SettingsError> {
        let non_empty = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let documents: Vec<(&'static str, String)> = ["GUARD_CONFIG", "GUARD_CONFIG_FILE", "GUARD_CONFIG_PARAMETER"]
            .into_iter()
            .filter_map(|k| non_empty(k).map(|v| (k, v)))
            .collect();
        let fields: Vec<(&'static str, &'static str, Shape, String)> = FIELDS
            .iter()
            .filter_map(|(v, f, s)| var(v).map(|text| (*v, *f, *s, text)))
            .collect();
        let first_field = fields.first().map(|(v, ..)| *v);
        match (documents.as_slice(), first_field) {
            ([(document, _)], Some(field_var)) => Err(SettingsError::Mixed {
                var: field_var,
                document,
            }),
            ([("GUARD_CONFIG", text)], None) => Ok(ConfigSource::Fixed(Box::new(GuardConfig::parse(text)?))),
            ([("GUARD_CONFIG_FILE", path)], None) => {
                let text = std::fs::read_to_string(path).map_err(|source| SettingsError::File {
                    path: path.clone(),
                    source,
                })?;
                Ok(ConfigSource::Fixed(Box::new(GuardConfig::parse(&text)?)))
            }
            ([(_, name)], None) => Ok(ConfigSource::Parameter(name.trim().to_owned())),
            ([], Some(_)) => {
                let mut doc = Map::new();
                for (var, field, shape, text) in fields {
                    if let Some(v) = field_value(var, shape, &text)? {
                        doc.insert(field.to_owned(), v);
                    }
                }
                let config = GuardConfig::parse(&Value::Object(doc).to_string())?;
                Ok(ConfigSource::Fixed(Box::new(config)))
            }
            _ => Err(SettingsError::NoConfig),
        }
    }
}

/// The guard's own roles and account from `GUARD_ROLE_ARN` and `GUARD_ACCOUNT_ID`
pub fn identity_from_vars(
    var: impl Fn(&str) -> Option<String>,
) -> Result<(Vec<String>, Option<String>), SettingsError> {
    let non_empty = |k: &str| var(k).filter(|v| !v.trim().is_empty());
    let own_account = non_empty("GUARD_ACCOUNT_ID");
    if let Some(a) = &own_account {
        if !policy_core::config::is_account_id(a) {
            return Err(SettingsError::Account(a.clone()));
        }
    }
    let own_role_arns = non_empty("GUARD_ROLE_ARN")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok((own_role_arns, own_account))
}

impl Settings {
    /// Reads settings through `var` (the process environment in production). An SSM parameter
    /// needs a reader: [`crate::init_lambda`] has one, this refuses it.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let config = match ConfigSource::from_vars(&var)? {
            ConfigSource::Fixed(config) => *config,
            ConfigSource::Parameter(name) => return Err(SettingsError::ParameterHere(name)),
        };
        let (own_role_arns, own_account) = identity_from_vars(&var)?;
        Ok(Settings {
            config,
            own_role_arns,
            own_account,
        })
    }

    /// Reads settings from the process environment
    pub fn from_env() -> Result<Settings, SettingsError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }
}

/// True when `issuer` (a CloudTrail session issuer ARN) is one of the guard's own roles in the
/// account and Region of the event: an own role is an ARN, or a pattern (the config's
/// `member_role`) with `${AccountId}` and `${Partition}` filled from the event
pub fn is_own_role(own_roles: &[String], issuer: &str, account: &str, region: &str) -> bool {
    own_roles.iter().any(|role| {
        if role.contains("${") {
            member_role_arn(role, account, partition_of(region)) == issuer
        } else {
            role == issuer
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_core::config::{Accounts, GrantClass};
    use std::collections::BTreeMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn config_sources() {
        let none = Settings::from_vars(|_| None).unwrap_err();
        assert!(none
            .to_string()
            .starts_with("set exactly one of `GUARD_CONFIG` (inline json)"));
        let s = Settings::from_vars(|k| (k == "GUARD_CONFIG").then(|| r#"{"mode":"enforce"}"#.to_owned())).unwrap();
        assert_eq!(s.config.mode, policy_core::Modes::all(policy_core::Mode::Enforce));
        let roles = Settings::from_vars(|k| match k {
            "GUARD_CONFIG" => Some("{}".to_owned()),
            "GUARD_ROLE_ARN" => Some("arn:aws:iam::1:role/a, arn:aws:iam::1:role/b".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(roles.own_role_arns, ["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"]);
        let bad = Settings::from_vars(|k| (k == "GUARD_CONFIG").then(|| r#"{"replication_sources":["x"]}"#.to_owned()));
        assert_eq!(
            bad.unwrap_err().to_string(),
            "invalid config field `replication_sources[0]`: `x` is not a 12-digit account id"
        );
        let missing = Settings::from_vars(|k| (k == "GUARD_CONFIG_FILE").then(|| "/nonexistent/guard.json".to_owned()));
        assert!(missing
            .unwrap_err()
            .to_string()
            .starts_with("cannot read `GUARD_CONFIG_FILE` `/nonexistent/guard.json`"));
        let two = Settings::from_vars(vars(&[
            ("GUARD_CONFIG", "{}"),
            ("GUARD_CONFIG_PARAMETER", "/guard/config"),
        ]));
        assert!(matches!(two, Err(SettingsError::NoConfig)));
        assert_eq!(
            ConfigSource::from_vars(vars(&[("GUARD_CONFIG_PARAMETER", "/guard/config")])).unwrap(),
            ConfigSource::Parameter("/guard/config".into())
        );
        assert_eq!(
            Settings::from_vars(vars(&[("GUARD_CONFIG_PARAMETER", "/guard/config")]))
                .unwrap_err()
                .to_string(),
            "`GUARD_CONFIG_PARAMETER` (`/guard/config`) is read by the Lambda functions; pass the config as a file here"
        );
    }

    #[test]
    fn field_variables_build_the_config_each_on_its_own() {
        // What the template sets from its parameters: a quote or a brace in a value stays text.
        let s = Settings::from_vars(vars(&[
            ("GUARD_MODE", "enforce"),
            ("GUARD_ORG_ID", ""),
            ("GUARD_ORG_ACCESS", "push"),
            ("GUARD_TRUSTED_ACCOUNTS", "111122223333:pull, 444455556666:push"),
            ("GUARD_TRUSTED_SERVICES", "lambda.amazonaws.com"),
            ("GUARD_REPLICATION_SOURCES", ""),
            ("GUARD_REPLICATION_CREATE_REPOSITORY", "false"),
            ("GUARD_REPLICATION_REPOSITORY_PREFIX", "mirror/*"),
            ("GUARD_EXEMPT_REPOSITORIES", "sandbox-*,tmp/*"),
            (
                "GUARD_MEMBER_ROLE",
                "arn:aws:iam::${AccountId}:role/ecr-policy-guard-member",
            ),
            ("GUARD_ACCOUNTS", "organization"),
            ("GUARD_REGIONS", "eu-west-1,us-east-1"),
        ]))
        .unwrap();
        let c = &s.config;
        assert_eq!(c.mode, policy_core::Modes::all(policy_core::Mode::Enforce));
        assert_eq!(c.org_id, None);
        assert_eq!(c.org_access, GrantClass::Push);
        assert_eq!(
            c.trusted_accounts,
            BTreeMap::from([
                ("111122223333".to_owned(), GrantClass::Pull),
                ("444455556666".to_owned(), GrantClass::Push)
            ])
        );
        assert_eq!(c.trusted_services, ["lambda.amazonaws.com"]);
        assert!(c.replication_sources.is_empty());
        assert!(!c.replication_create_repository);
        assert_eq!(c.replication_repository_prefix, "mirror/*");
        assert_eq!(c.exempt_repositories, ["sandbox-*", "tmp/*"]);
        assert_eq!(c.accounts, Some(Accounts::Organization));
        assert_eq!(c.regions, ["eu-west-1", "us-east-1"]);
        let listed = Settings::from_vars(vars(&[
            ("GUARD_MEMBER_ROLE", "arn:aws:iam::${AccountId}:role/m"),
            ("GUARD_ACCOUNTS", "111111111111,222222222222"),
        ]))
        .unwrap();
        assert_eq!(
            listed.config.accounts,
            Some(Accounts::Listed(vec!["111111111111".into(), "222222222222".into()]))
        );
        let err = |pairs: &[(&str, &str)]| Settings::from_vars(vars(pairs)).unwrap_err().to_string();
        assert_eq!(
            err(&[("GUARD_TRUSTED_ACCOUNTS", "111122223333")]),
            "`GUARD_TRUSTED_ACCOUNTS`: entry `111122223333`: expected `ACCOUNT:pull` or `ACCOUNT:push`"
        );
        assert_eq!(
            err(&[("GUARD_REPLICATION_CREATE_REPOSITORY", "yes")]),
            "`GUARD_REPLICATION_CREATE_REPOSITORY`: `yes` is neither `true` nor `false`"
        );
        assert_eq!(
            err(&[("GUARD_TRUSTED_ACCOUNTS", "12345:pull")]),
            "invalid config field `trusted_accounts.12345`: `12345` is not a 12-digit account id"
        );
        // A value with a quote is a value, not json: the org id is refused as an org id.
        assert!(err(&[("GUARD_ORG_ID", r#"o-abc","org_access":"push"#)]).starts_with("invalid config field `org_id`"));
        assert_eq!(
            err(&[("GUARD_CONFIG_PARAMETER", "/guard/config"), ("GUARD_MODE", "enforce")]),
            "`GUARD_MODE` is set beside the config document in `GUARD_CONFIG_PARAMETER`: the document is the whole config"
        );
    }

    #[test]
    fn own_roles_may_be_member_role_patterns() {
        let own = vec![
            "arn:aws:iam::123456789012:role/ecr-policy-guard/sweep".to_owned(),
            "arn:${Partition}:iam::${AccountId}:role/ecr-policy-guard-member".to_owned(),
        ];
        let member = "arn:aws:iam::111111111111:role/ecr-policy-guard-member";
        assert!(is_own_role(&own, member, "111111111111", "eu-west-1"));
        assert!(is_own_role(&own, &own[0], "111111111111", "eu-west-1"));
        // Another account's member role, another partition, or the bare pattern are not ours.
        assert!(!is_own_role(&own, member, "222222222222", "eu-west-1"));
        assert!(!is_own_role(&own, member, "111111111111", "cn-north-1"));
        assert!(!is_own_role(&own, &own[1], "111111111111", "eu-west-1"));
    }
}
