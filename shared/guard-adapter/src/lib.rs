//! The shell around policy-core: the ECR port and its SDK adapter, an in-memory fake, config
//! loading (environment, file, SSM Parameter Store), event decoding, the audit log, the engine
//! every function shares, and the service that reaches each registry with the right credentials
//! (one account, or every member account of an organisation through its member role).

pub mod access;
pub mod audit;
pub mod config_store;
pub mod engine;
pub mod event;
pub mod memory;
pub mod org;
pub mod port;
pub mod sdk;
pub mod service;
pub mod settings;
pub mod sweep;

pub use engine::{Accepts, Guard, HandlerError, Outcome, OutcomeAction};
pub use port::{EcrPolicies, PortError};
pub use service::{Dispatch, Service};
pub use settings::Settings;

use std::sync::Arc;

/// Start-up for a Lambda: the config (inline, file, field variables, or an SSM parameter read
/// now and refreshed after [`config_store::CONFIG_TTL`]; a bad config fails here, naming the
/// field), the identity, and the SDK configuration from the standard chain (`AWS_ENDPOINT_URL`
/// included)
pub async fn init_lambda() -> Result<Service<access::SdkAccess>, lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    init_service(sdk_config().await).await
}

/// [`init_lambda`] without the tracing set-up, over an SDK configuration already loaded (a
/// function that needs other clients too loads it once)
pub async fn init_service(
    sdk_config: aws_config::SdkConfig,
) -> Result<Service<access::SdkAccess>, lambda_runtime::Error> {
    let var = |k: &str| std::env::var(k).ok();
    let (own_role_arns, own_account) = settings::identity_from_vars(var)?;
    let config = match settings::ConfigSource::from_vars(var)? {
        settings::ConfigSource::Fixed(config) => config_store::LiveConfig::fixed(*config),
        settings::ConfigSource::Parameter(name) => {
            config_store::LiveConfig::parameter(
                name,
                Arc::new(config_store::SdkParameters::new(aws_sdk_ssm::Client::new(&sdk_config))),
                config_store::CONFIG_TTL,
                engine::system_clock(),
                Arc::new(audit::StdoutAudit),
            )
            .await?
        }
    };
    let session = access::session_name(var("AWS_LAMBDA_FUNCTION_NAME").as_deref());
    let access = access::SdkAccess::new(sdk_config, own_account.clone(), session);
    Ok(Service::new(access, config, own_role_arns, own_account))
}

/// The SDK configuration from the standard chain, with more patient retries than the default:
/// a sweep of many repositories meets throttling, and backing off beats failing
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
        .load()
        .await
}
