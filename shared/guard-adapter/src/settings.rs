//! Start-up settings from the environment: the config document and the guard's identity.

use policy_core::config::{ConfigError, GuardConfig};

/// Everything read from the environment at start-up
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The guard configuration
    pub config: GuardConfig,
    /// `GUARD_ROLE_ARN`: the guard's roles (comma-separated, one per function); events their
    /// sessions caused are skipped
    pub own_role_arns: Vec<String>,
    /// `GUARD_ACCOUNT_ID`: events of other registries are skipped
    pub own_account: Option<String>,
}

/// A start-up failure; the message names the variable or field
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// Neither or both of the config variables
    #[error("set exactly one of `GUARD_CONFIG` (inline json) and `GUARD_CONFIG_FILE` (a path)")]
    NoConfig,
    /// The config file cannot be read
    #[error("cannot read `GUARD_CONFIG_FILE` `{path}`: {source}")]
    File {
        /// The path
        path: String,
        /// Why
        source: std::io::Error,
    },
    /// The config is invalid
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `GUARD_ACCOUNT_ID` is not an account id
    #[error("`GUARD_ACCOUNT_ID` must be a 12-digit account id, found `{0}`")]
    Account(String),
}

impl Settings {
    /// Reads settings through `var` (the process environment in production)
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let non_empty = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let text = match (non_empty("GUARD_CONFIG"), non_empty("GUARD_CONFIG_FILE")) {
            (Some(inline), None) => inline,
            (None, Some(path)) => {
                std::fs::read_to_string(&path).map_err(|source| SettingsError::File { path, source })?
            }
            _ => return Err(SettingsError::NoConfig),
        };
        let config = GuardConfig::parse(&text)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_sources() {
        let none = Settings::from_vars(|_| None).unwrap_err();
        assert_eq!(
            none.to_string(),
            "set exactly one of `GUARD_CONFIG` (inline json) and `GUARD_CONFIG_FILE` (a path)"
        );
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
    }
}
