//! What a function runs on: the registry an event or a sweep names, reached with the right
//! credentials, under the config in force now. [`Service`] builds one [`Guard`] per account and
//! Region (cached, built again when the config changes) and hands the event to it, so every path
//! still goes through `Guard::handle` and `Guard::sweep` unchanged. A single-account deployment
//! has one registry, its own; a central one (the config's `member_role`) reaches every member
//! account through its member role, and one account's missing role never affects another.

use crate::{
    access::{AccessError, AccountAccess},
    audit::AuditSink,
    config_store::LiveConfig,
    engine::{system_clock, Accepts, Backoff, Clock, Guard, HandlerError, Outcome, VERIFY_DELAY},
    event::{decode, Decoded, EventError},
    org::{plan_sweep, AccountDirectory, Fanout, SweepPlan},
    port::EcrPolicies,
    settings::Settings,
    sweep::{SweepOptions, SweepSummary},
};
use policy_core::config::GuardConfig;
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

/// What the function crates call: one registry ([`Guard`]) or every registry a deployment
/// guards ([`Service`])
pub trait Dispatch: Send + Sync {
    /// Decodes an event and acts on it, in the registry it names, when its kind is in `accepts`
    fn dispatch(&self, payload: &Value, accepts: Accepts)
        -> impl Future<Output = Result<Outcome, HandlerError>> + Send;
    /// Sweeps one registry; an account this deployment does not guard is refused
    fn sweep_registry(
        &self,
        account: &str,
        region: &str,
        options: SweepOptions,
    ) -> impl Future<Output = Result<SweepSummary, HandlerError>> + Send;
    /// The account a sweep covers when none is named
    fn home_account(&self) -> Option<&str>;
    /// Where audit lines go
    fn audit(&self) -> &dyn AuditSink;
}

fn not_this_registry(account: &str, own: &str) -> HandlerError {
    EventError(format!("account `{account}` is not this registry's (`{own}`)")).into()
}

impl<P: EcrPolicies> Dispatch for Guard<P> {
    async fn dispatch(&self, payload: &Value, accepts: Accepts) -> Result<Outcome, HandlerError> {
        self.handle(payload, accepts).await
    }

    async fn sweep_registry(
        &self,
        account: &str,
        region: &str,
        options: SweepOptions,
    ) -> Result<SweepSummary, HandlerError> {
        if let Some(own) = self.own_account.as_deref().filter(|own| *own != account) {
            return Err(not_this_registry(account, own));
        }
        self.sweep(account, region, options, &|_, _| {}).await
    }

    fn home_account(&self) -> Option<&str> {
        self.own_account.as_deref()
    }

    fn audit(&self) -> &dyn AuditSink {
        self.audit.as_ref()
    }
}

type Cache<E> = Mutex<HashMap<(String, String), (u64, Arc<Guard<E>>)>>;

/// Registries whose guards a warm environment keeps. The organisation sweep hands one
/// environment account after account, and each guard holds its SDK clients and credentials
/// (about 0.35 MB each in `bench/org_sweep.py`), so the cache holds the most recent few dozen,
/// not the whole organisation; a guard evicted is built again with one `AssumeRole`.
pub const MAX_CACHED_GUARDS: usize = 64;

/// The registries a deployment guards, each through a [`Guard`] built on first use
pub struct Service<A: AccountAccess> {
    /// Credentials per account
    pub access: A,
    /// The config in force
    pub config: LiveConfig,
    /// `GUARD_ROLE_ARN`: the functions' own roles
    pub own_role_arns: Vec<String>,
    /// `GUARD_ACCOUNT_ID`: the account the functions run in
    pub own_account: Option<String>,
    /// Audit lines, for every guard built
    pub audit: Arc<dyn AuditSink>,
    /// The clock every guard uses
    pub clock: Clock,
    /// How long guards wait for a new repository
    pub creation_backoff: Backoff,
    /// How long guards wait before checking a registry grant
    pub verify_delay: Duration,
    /// The findings outlets a config turns on (none by default)
    pub outlets: OutletFactory,
    guards: Cache<A::Ecr>,
}

/// Builds the findings outlets a config turns on
pub type OutletFactory = Arc<dyn Fn(&GuardConfig) -> crate::outlets::Outlets + Send + Sync>;

impl<A: AccountAccess> Service<A> {
    /// A service over `access` with this config and identity, audit on standard output
    pub fn new(access: A, config: LiveConfig, own_role_arns: Vec<String>, own_account: Option<String>) -> Self {
        Service {
            access,
            config,
            own_role_arns,
            own_account,
            audit: Arc::new(crate::audit::StdoutAudit),
            clock: system_clock(),
            creation_backoff: Backoff::default(),
            verify_delay: VERIFY_DELAY,
            outlets: Arc::new(|_| crate::outlets::Outlets::default()),
            guards: Mutex::new(HashMap::new()),
        }
    }

    /// The functions' roles and, in central mode, the member role pattern: the sessions of both
    /// are the guard's own, whose events are skipped
    fn own_roles(&self, config: &GuardConfig) -> Vec<String> {
        let mut roles = self.own_role_arns.clone();
        roles.extend(config.member_role.clone());
        roles
    }

    /// The guard of one registry: cached per account and Region until the config changes
    pub async fn guard(
        &self,
        account: &str,
        region: &str,
        config: &Arc<GuardConfig>,
        generation: u64,
    ) -> Result<Arc<Guard<A::Ecr>>, AccessError> {
        let key = (account.to_owned(), region.to_owned());
        {
            let cache = self.guards.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((g, guard)) = cache.get(&key) {
                if *g == generation {
                    return Ok(guard.clone());
                }
            }
        }
        let ecr = self
            .access
            .ecr(account, region, config.member_role.as_deref())
            .await
            .inspect_err(|e| {
                self.audit
                    .emit(json!({"audit": "access_error", "account": account, "region": region,
                    "error": e.to_string(), "retryable": e.is_retryable()}));
            })?;
        let settings = Settings {
            config: (**config).clone(),
            own_role_arns: self.own_roles(config),
            own_account: Some(account.to_owned()),
        };
        let mut guard = Guard::new(ecr, settings);
        guard.audit = self.audit.clone();
        guard.clock = self.clock.clone();
        guard.creation_backoff = self.creation_backoff;
        guard.verify_delay = self.verify_delay;
        guard.outlets = (self.outlets)(config);
        let guard = Arc::new(guard);
        let mut cache = self.guards.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_GUARDS && !cache.contains_key(&key) {
            // Guards of an older config first; then any one (random eviction: no bookkeeping
            // on the hot path, and a miss costs one AssumeRole).
            cache.retain(|_, (g, _)| *g == generation);
            if cache.len() >= MAX_CACHED_GUARDS {
                if let Some(k) = cache.keys().next().cloned() {
                    cache.remove(&k);
                }
            }
        }
        cache.insert(key, (generation, guard.clone()));
        Ok(guard)
    }

    /// Whether this deployment acts on `account` under `config`
    fn scope(&self, config: &GuardConfig, account: &str) -> Result<(), String> {
        if config.is_central() {
            return config.account_scope(account);
        }
        match self.own_account.as_deref() {
            Some(own) if own != account => Err(format!("event for registry `{account}`, not this one (`{own}`)")),
            _ => Ok(()),
        }
    }

    /// The organisation sweep's plan under the config in force
    pub async fn plan(
        &self,
        directory: &impl AccountDirectory,
        home_region: &str,
        fanout: Fanout,
    ) -> Result<SweepPlan, HandlerError> {
        let (config, _) = self.config.current().await;
        Ok(plan_sweep(&config, directory, home_region, fanout).await?)
    }
}

impl<A: AccountAccess> Dispatch for Service<A> {
    async fn dispatch(&self, payload: &Value, accepts: Accepts) -> Result<Outcome, HandlerError> {
        let (config, generation) = self.config.current().await;
        // Decoded here for the account and Region (and to skip the guard's own sessions before
        // any credentials are fetched); the registry's guard decodes it again.
        let (account, region, kind) = match decode(payload, &self.own_roles(&config), None)? {
            Decoded::Skip(reason) => return Ok(Outcome::skipped(reason)),
            Decoded::Event { account, region, event } => (account, region, event.kind()),
        };
        if !accepts.contains(&kind) {
            return Ok(Outcome::skipped(format!(
                "`{kind}` events are not handled by this function"
            )));
        }
        if let Err(reason) = self.scope(&config, &account) {
            return Ok(Outcome::skipped(reason));
        }
        let guard = self.guard(&account, &region, &config, generation).await?;
        guard.handle(payload, accepts).await
    }

    async fn sweep_registry(
        &self,
        account: &str,
        region: &str,
        options: SweepOptions,
    ) -> Result<SweepSummary, HandlerError> {
        let (config, generation) = self.config.current().await;
        if !config.is_central() {
            if let Some(own) = self.own_account.as_deref().filter(|own| *own != account) {
                return Err(not_this_registry(account, own));
            }
        }
        self.scope(&config, account).map_err(EventError)?;
        match self.guard(account, region, &config, generation).await {
            Ok(guard) => guard.sweep(account, region, options, &|_, _| {}).await,
            // One account's missing role is that account's finding, not the sweep's failure.
            Err(e) => Ok(SweepSummary::unreachable(
                account,
                region,
                config.mode.label(),
                e.to_string(),
                e.is_retryable(),
            )),
        }
    }

    fn home_account(&self) -> Option<&str> {
        self.own_account.as_deref()
    }

    fn audit(&self) -> &dyn AuditSink {
        self.audit.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{access::MemoryAccess, audit::MemoryAudit, engine::OutcomeAction};

    const CENTRAL: &str = "999999999999";
    const MEMBERS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];
    const PUBLIC: &str =
        r#"{"Statement":[{"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#;

    fn service(config: &str) -> (Service<MemoryAccess>, Arc<MemoryAudit>) {
        let access = MemoryAccess::new(Some(CENTRAL));
        let config = LiveConfig::fixed(GuardConfig::parse(config).unwrap());
        let mut s = Service::new(
            access,
            config,
            vec![format!("arn:aws:iam::{CENTRAL}:role/ecr-policy-guard/enforce")],
            Some(CENTRAL.to_owned()),
        );
        let audit = Arc::new(MemoryAudit::default());
        s.audit = audit.clone();
        (s, audit)
    }

    fn set_policy(account: &str, issuer: Option<&str>) -> Value {
        let mut detail = json!({"eventSource":"ecr.amazonaws.com","eventName":"SetRepositoryPolicy",
            "requestParameters":{"repositoryName":"app"}});
        if let Some(i) = issuer {
            detail["userIdentity"] = json!({"sessionContext":{"sessionIssuer":{"arn": i}}});
        }
        json!({"source":"aws.ecr","detail-type":"AWS API Call via CloudTrail","account":account,"region":"eu-west-1","detail":detail})
    }

    #[tokio::test]
    async fn a_warm_environment_keeps_a_bounded_number_of_guards() {
        let (s, _) = service(CENTRAL_CONFIG);
        let (config, generation) = s.config.current().await;
        let accounts: Vec<String> = (0..MAX_CACHED_GUARDS + 10)
            .map(|i| format!("{:012}", 100 + i))
            .collect();
        for a in &accounts {
            s.access.add_role(a);
            s.guard(a, "eu-west-1", &config, generation).await.unwrap();
        }
        let cached = |s: &Service<MemoryAccess>| s.guards.lock().unwrap().len();
        assert_eq!(cached(&s), MAX_CACHED_GUARDS);
        // The latest is kept, and asking again for it builds nothing new.
        let last = accounts.last().unwrap();
        let a = s.guard(last, "eu-west-1", &config, generation).await.unwrap();
        let b = s.guard(last, "eu-west-1", &config, generation).await.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(cached(&s), MAX_CACHED_GUARDS);
    }

    const CENTRAL_CONFIG: &str =
        r#"{"mode":"enforce","member_role":"arn:${Partition}:iam::${AccountId}:role/ecr-policy-guard-member"}"#;

    #[tokio::test]
    async fn each_event_is_repaired_in_its_own_account_and_a_missing_role_is_that_accounts_error() {
        let (s, audit) = service(CENTRAL_CONFIG);
        for m in MEMBERS {
            s.access.registry(m).put_repository("app", Some(PUBLIC));
        }
        s.access.add_role(MEMBERS[0]);
        s.access.add_role(MEMBERS[2]);
        let accepts: Accepts = &["repository-policy-changed"];
        for m in [MEMBERS[0], MEMBERS[2]] {
            let out = s.dispatch(&set_policy(m, None), accepts).await.unwrap();
            assert_eq!(out.action, OutcomeAction::Written, "{m}");
        }
        let err = s.dispatch(&set_policy(MEMBERS[1], None), accepts).await.unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(
            err.to_string(),
            "cannot assume `arn:aws:iam::222222222222:role/ecr-policy-guard-member` in account `222222222222`: \
             AccessDenied: not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/ecr-policy-guard-member"
        );
        assert_eq!(
            lambda_runtime::Diagnostic::from(err).error_type,
            "Retryable.AccessDenied"
        );
        assert_eq!(s.access.registry(MEMBERS[0]).repository_policy("app"), None);
        assert_eq!(
            s.access.registry(MEMBERS[1]).repository_policy("app").as_deref(),
            Some(PUBLIC)
        );
        assert_eq!(s.access.registry(MEMBERS[2]).repository_policy("app"), None);
        assert!(audit
            .lines()
            .iter()
            .any(|l| l["audit"] == "access_error" && l["account"] == MEMBERS[1]));
        // The member role's own write comes back as an event: skipped before any read.
        let own = set_policy(
            MEMBERS[0],
            Some("arn:aws:iam::111111111111:role/ecr-policy-guard-member"),
        );
        let out = s.dispatch(&own, accepts).await.unwrap();
        assert_eq!(out.action, OutcomeAction::Skipped);
        assert!(out.reason.unwrap().contains("the guard's own role"));
        // Another account's member role is not ours there.
        let other = set_policy(
            MEMBERS[0],
            Some("arn:aws:iam::222222222222:role/ecr-policy-guard-member"),
        );
        assert_eq!(
            s.dispatch(&other, accepts).await.unwrap().action,
            OutcomeAction::Unchanged
        );
    }

    #[tokio::test]
    async fn scope_and_single_account_mode() {
        let (s, _) = service(&CENTRAL_CONFIG.replace(r#""mode""#, r#""accounts":["111111111111"],"mode""#));
        let out = s
            .dispatch(&set_policy(MEMBERS[1], None), &["repository-policy-changed"])
            .await
            .unwrap();
        assert_eq!(
            out.reason.as_deref(),
            Some("account `222222222222` is not in `accounts`")
        );
        let e = s
            .sweep_registry(MEMBERS[1], "eu-west-1", SweepOptions::default())
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed event: account `222222222222` is not in `accounts`"
        );
        // A member whose role is missing: the sweep's summary says so, for that account.
        let summary = s
            .sweep_registry(MEMBERS[0], "eu-west-1", SweepOptions::default())
            .await
            .unwrap();
        assert!(!summary.complete);
        assert_eq!(summary.account, MEMBERS[0]);
        assert!(summary.failed[0].retryable && summary.failed[0].error.starts_with("cannot assume"));
        // Without a member role only the own registry is guarded.
        let (single, _) = service(r#"{"mode":"enforce"}"#);
        single.access.registry(CENTRAL).put_repository("app", Some(PUBLIC));
        let out = single
            .dispatch(&set_policy(MEMBERS[0], None), &["repository-policy-changed"])
            .await
            .unwrap();
        assert_eq!(out.action, OutcomeAction::Skipped);
        let out = single
            .dispatch(&set_policy(CENTRAL, None), &["repository-policy-changed"])
            .await
            .unwrap();
        assert_eq!(out.action, OutcomeAction::Written);
        assert!(single
            .sweep_registry(MEMBERS[0], "eu-west-1", SweepOptions::default())
            .await
            .is_err());
    }
}
