//! Which credentials reach a registry: the port [`AccountAccess`] gives the ECR port of one
//! account and Region. Its own account is reached with the function's own credentials; in central
//! mode every other account through the config's `member_role`, assumed with STS
//! ([`SdkAccess`]). The in-memory fake ([`MemoryAccess`]) serves the unit tests.

use crate::{engine::partition_of, memory::InMemoryEcr, port::EcrPolicies, sdk::SdkEcr};
use aws_config::{sts::AssumeRoleProvider, SdkConfig};
use aws_credential_types::{
    provider::{future, ProvideCredentials},
    Credentials,
};
use aws_sdk_ecr::{config::Region, error::DisplayErrorContext};
use policy_core::config::member_role_arn;
use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    sync::{Arc, Mutex},
};

/// A registry the guard cannot reach
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// STS refused the member role: it does not exist (yet), or its trust policy does not name
    /// this function's role. Retryable: a member stack may still be rolling out.
    #[error("cannot assume `{role}` in account `{account}`: {message}")]
    Refused {
        /// The account
        account: String,
        /// The role ARN tried
        role: String,
        /// What STS said
        message: String,
    },
    /// Another account, and no `member_role` to reach it with
    #[error("account `{account}` is not this registry's and no `member_role` is configured")]
    NotGuarded {
        /// The account
        account: String,
    },
}

impl AccessError {
    /// True when trying again may succeed
    pub fn is_retryable(&self) -> bool {
        matches!(self, AccessError::Refused { .. })
    }
}

/// The ECR port of one registry, by account and Region
pub trait AccountAccess: Send + Sync {
    /// The port it gives
    type Ecr: EcrPolicies + 'static;
    /// The registry of `account` in `region`; `member_role` is the config's pattern (central
    /// mode), used for every account but the function's own
    fn ecr(
        &self,
        account: &str,
        region: &str,
        member_role: Option<&str>,
    ) -> impl Future<Output = Result<Self::Ecr, AccessError>> + Send;
}

/// Over the AWS SDK: the function's own credentials for its own account, the member role for
/// every other one
#[derive(Clone, Debug)]
pub struct SdkAccess {
    base: SdkConfig,
    own_account: Option<String>,
    session_name: String,
}

/// The session name the guard's member-role sessions carry (CloudTrail shows it beside the
/// role): `ecr-policy-guard`, then the function's name when it has one, within STS's 64
/// characters of `[\w+=,.@-]`
pub fn session_name(function: Option<&str>) -> String {
    let mut name = String::from("ecr-policy-guard");
    if let Some(f) = function.filter(|f| !f.is_empty()) {
        name.push('-');
        name.extend(f.chars().map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        }));
    }
    name.chars().take(64).collect()
}

impl SdkAccess {
    /// `base` is the function's own configuration (credentials, Region, endpoint)
    pub fn new(base: SdkConfig, own_account: Option<String>, session_name: String) -> Self {
        SdkAccess {
            base,
            own_account,
            session_name,
        }
    }
}

/// Credentials already fetched, handed out once, then the provider's: the first AssumeRole
/// both checks that the role can be assumed (a clear error before any ECR call) and serves the
/// first requests; the client's identity cache asks again before they expire
#[derive(Debug)]
struct Primed {
    first: Mutex<Option<Credentials>>,
    then: AssumeRoleProvider,
}

impl ProvideCredentials for Primed {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        match self.first.lock().ok().and_then(|mut first| first.take()) {
            Some(credentials) => future::ProvideCredentials::ready(Ok(credentials)),
            None => self.then.provide_credentials(),
        }
    }
}

impl AccountAccess for SdkAccess {
    type Ecr = SdkEcr;

    async fn ecr(&self, account: &str, region: &str, member_role: Option<&str>) -> Result<SdkEcr, AccessError> {
        let mut conf = aws_sdk_ecr::config::Builder::from(&self.base);
        if self.base.region().map(Region::as_ref) != Some(region) {
            conf = conf.region(Region::new(region.to_owned()));
        }
        let own = self.own_account.as_deref() == Some(account);
        match member_role {
            // Without a member role every registry is reached as today: with own credentials.
            None if own || self.own_account.is_none() => {}
            None => {
                return Err(AccessError::NotGuarded {
                    account: account.to_owned(),
                })
            }
            Some(_) if own => {}
            Some(pattern) => {
                let role = member_role_arn(pattern, account, partition_of(region));
                let provider = AssumeRoleProvider::builder(role.clone())
                    .session_name(self.session_name.clone())
                    .configure(&self.base)
                    .build()
                    .await;
                let first = provider.provide_credentials().await.map_err(|e| AccessError::Refused {
                    account: account.to_owned(),
                    role,
                    message: DisplayErrorContext(&e).to_string(),
                })?;
                conf = conf.credentials_provider(Primed {
                    first: Mutex::new(Some(first)),
                    then: provider,
                });
            }
        }
        Ok(SdkEcr::new(
            aws_sdk_ecr::Client::from_conf(conf.build()),
            Some(account.to_owned()),
        ))
    }
}

/// In-memory registries by account, for tests: accounts without a member role are refused as
/// STS would refuse them
#[derive(Default)]
pub struct MemoryAccess {
    registries: Mutex<BTreeMap<String, Arc<InMemoryEcr>>>,
    /// Accounts whose member role exists
    roles: Mutex<BTreeSet<String>>,
    own_account: Option<String>,
}

impl MemoryAccess {
    /// No registries yet; `own_account` is reached without a role
    pub fn new(own_account: Option<&str>) -> Self {
        MemoryAccess {
            own_account: own_account.map(str::to_owned),
            ..MemoryAccess::default()
        }
    }

    /// The registry of an account (created empty on first use)
    pub fn registry(&self, account: &str) -> Arc<InMemoryEcr> {
        let mut map = self.registries.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(account.to_owned()).or_default().clone()
    }

    /// Deploys the member role in an account
    pub fn add_role(&self, account: &str) {
        self.roles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(account.to_owned());
    }
}

impl AccountAccess for MemoryAccess {
    type Ecr = Arc<InMemoryEcr>;

    async fn ecr(&self, account: &str, region: &str, member_role: Option<&str>) -> Result<Self::Ecr, AccessError> {
        if self.own_account.as_deref() == Some(account) {
            return Ok(self.registry(account));
        }
        let Some(pattern) = member_role else {
            return Err(AccessError::NotGuarded {
                account: account.to_owned(),
            });
        };
        let role = member_role_arn(pattern, account, partition_of(region));
        if !self.roles.lock().unwrap_or_else(|p| p.into_inner()).contains(account) {
            return Err(AccessError::Refused {
                account: account.to_owned(),
                message: format!("AccessDenied: not authorized to perform: sts:AssumeRole on resource: {role}"),
                role,
            });
        }
        Ok(self.registry(account))
    }
}
