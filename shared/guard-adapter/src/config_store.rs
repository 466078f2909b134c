//! The config in an SSM Parameter Store parameter (`GUARD_CONFIG_PARAMETER`, standard or
//! advanced tier, name or ARN): read at cold start, read again once its time to live has passed.
//! A bad value at cold start fails the start; a bad value later is logged as an error and the
//! last good config goes on working until a good value replaces it.

use crate::{audit::AuditSink, engine::Clock, settings::SettingsError};
use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata};
use futures_util::future::BoxFuture;
use policy_core::config::GuardConfig;
use serde_json::json;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// How long a config read from SSM is used before it is read again: a change reaches every
/// function within a minute, and a busy function makes one `GetParameter` call a minute
pub const CONFIG_TTL: Duration = Duration::from_secs(60);

/// Reads a parameter's value
pub trait ParameterStore: Send + Sync {
    /// `GetParameter` (decrypted, so a `SecureString` works too): the value, or why not
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>>;
}

/// [`ParameterStore`] over `aws-sdk-ssm`
#[derive(Clone, Debug)]
pub struct SdkParameters {
    client: aws_sdk_ssm::Client,
}

impl SdkParameters {
    /// Wraps a client
    pub fn new(client: aws_sdk_ssm::Client) -> Self {
        SdkParameters { client }
    }
}

impl ParameterStore for SdkParameters {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let out = self
                .client
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| match e.code() {
                    Some("ParameterNotFound") => "no such parameter".to_owned(),
                    _ => DisplayErrorContext(&e).to_string(),
                })?;
            out.parameter
                .and_then(|p| p.value)
                .ok_or_else(|| "the parameter has no value".to_owned())
        })
    }
}

/// The config in use and where it came from
struct Current {
    config: Arc<GuardConfig>,
    /// The text it was parsed from: the same text read again changes nothing
    text: String,
    /// Bumped when the config changes, so what was built from the old one is built again
    generation: u64,
    /// When the parameter was last read (or a read last failed), seconds since the epoch
    checked_at: f64,
}

enum Source {
    Fixed(Arc<GuardConfig>),
    Parameter {
        name: String,
        store: Arc<dyn ParameterStore>,
        ttl: Duration,
        current: Mutex<Current>,
    },
}

/// The config the functions use now: fixed at start, or an SSM parameter with a time to live
pub struct LiveConfig {
    source: Source,
    clock: Clock,
    audit: Arc<dyn AuditSink>,
}

impl LiveConfig {
    /// A config that never changes (inline, file, field variables)
    pub fn fixed(config: GuardConfig) -> Self {
        LiveConfig {
            source: Source::Fixed(Arc::new(config)),
            clock: crate::engine::system_clock(),
            audit: Arc::new(crate::audit::StdoutAudit),
        }
    }

    /// Reads the parameter now: a missing parameter or an invalid config is an error naming the
    /// parameter (and the field)
    pub async fn parameter(
        name: String,
        store: Arc<dyn ParameterStore>,
        ttl: Duration,
        clock: Clock,
        audit: Arc<dyn AuditSink>,
    ) -> Result<Self, SettingsError> {
        let (config, text) = read(store.as_ref(), &name)
            .await
            .map_err(|problem| SettingsError::Parameter {
                name: name.clone(),
                problem,
            })?;
        let current = Current {
            config: Arc::new(config),
            text,
            generation: 0,
            checked_at: clock(),
        };
        Ok(LiveConfig {
            source: Source::Parameter {
                name,
                store,
                ttl,
                current: Mutex::new(current),
            },
            clock,
            audit,
        })
    }

    /// The config to use now and its generation; reads the parameter again when the time to live
    /// has passed. A failed read or an invalid value is logged (`"audit":"config_error"`) and the
    /// last good config is returned; the next read is tried a time to live later.
    pub async fn current(&self) -> (Arc<GuardConfig>, u64) {
        let (name, store, ttl, current) = match &self.source {
            Source::Fixed(config) => return (config.clone(), 0),
            Source::Parameter {
                name,
                store,
                ttl,
                current,
            } => (name, store, ttl, current),
        };
        let now = (self.clock)();
        {
            let c = current.lock().unwrap_or_else(|p| p.into_inner());
            if now - c.checked_at < ttl.as_secs_f64() {
                return (c.config.clone(), c.generation);
            }
        }
        // Not holding the lock while reading: two concurrent refreshes read twice, harmlessly.
        let fresh = read(store.as_ref(), name).await;
        let mut c = current.lock().unwrap_or_else(|p| p.into_inner());
        c.checked_at = now;
        match fresh {
            Ok((_, text)) if text == c.text => {}
            Ok((config, text)) => {
                c.config = Arc::new(config);
                c.text = text;
                c.generation += 1;
                self.audit
                    .emit(json!({"audit": "config_loaded", "parameter": name, "generation": c.generation}));
            }
            Err(problem) => {
                tracing::error!(parameter = %name, %problem, "config parameter refused; the last good config stays");
                self.audit
                    .emit(json!({"audit": "config_error", "parameter": name, "error": problem,
                    "kept": format!("the last good config (generation {})", c.generation)}));
            }
        }
        (c.config.clone(), c.generation)
    }
}

async fn read(store: &dyn ParameterStore, name: &str) -> Result<(GuardConfig, String), String> {
    let text = store.get(name).await?;
    let config = GuardConfig::parse(&text).map_err(|e| e.to_string())?;
    Ok((config, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::MemoryAudit;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A parameter held in memory (the scenario tests use moto's SSM)
    #[derive(Default)]
    struct Held(Mutex<Option<String>>);

    impl ParameterStore for Held {
        fn get<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, Result<String, String>> {
            let v = self.0.lock().unwrap().clone();
            Box::pin(async move { v.ok_or_else(|| "no such parameter".to_owned()) })
        }
    }

    #[tokio::test]
    async fn refreshes_after_the_ttl_and_keeps_the_last_good_config() {
        let store = Arc::new(Held::default());
        let now = Arc::new(AtomicU64::new(1_000));
        let t = now.clone();
        let clock: Clock = Arc::new(move || t.load(Ordering::SeqCst) as f64);
        let audit = Arc::new(MemoryAudit::default());
        let load = || LiveConfig::parameter("/guard".into(), store.clone(), CONFIG_TTL, clock.clone(), audit.clone());
        assert_eq!(
            load().await.err().unwrap().to_string(),
            "config parameter `/guard`: no such parameter"
        );
        *store.0.lock().unwrap() = Some(r#"{"mode":"report"}"#.into());
        let live = load().await.unwrap();
        let (c, g) = live.current().await;
        assert_eq!((c.mode.label(), g), ("report", 0));
        *store.0.lock().unwrap() = Some(r#"{"mode":"enforce"}"#.into());
        now.store(1_059, Ordering::SeqCst);
        assert_eq!(live.current().await.0.mode.label(), "report", "within the ttl");
        now.store(1_060, Ordering::SeqCst);
        let (c, g) = live.current().await;
        assert_eq!((c.mode.label(), g), ("enforce", 1));
        *store.0.lock().unwrap() = Some(r#"{"mode":"enforce","trusted_accounts":{"1":"pull"}}"#.into());
        now.store(1_200, Ordering::SeqCst);
        let (c, g) = live.current().await;
        assert_eq!((c.mode.label(), g), ("enforce", 1), "the last good config stays");
        let errors: Vec<_> = audit
            .lines()
            .into_iter()
            .filter(|l| l["audit"] == "config_error")
            .collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0]["error"],
            "invalid config field `trusted_accounts.1`: `1` is not a 12-digit account id"
        );
    }
}
