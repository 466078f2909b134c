//! The shell around policy-core: the ECR port and its SDK adapter, an in-memory fake, config
//! loading, event decoding, the audit log, and the engine every function shares.

pub mod audit;
pub mod engine;
pub mod event;
pub mod memory;
pub mod port;
pub mod sdk;
pub mod settings;
pub mod sweep;

pub use engine::{Accepts, Guard, HandlerError, Outcome, OutcomeAction};
pub use port::{EcrPolicies, PortError};
pub use settings::Settings;

/// Start-up for a Lambda: settings from the environment (a bad config fails here, naming the
/// field), the SDK client from the standard chain (`AWS_ENDPOINT_URL` included)
pub async fn init_lambda() -> Result<Guard<sdk::SdkEcr>, lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let sdk_config = sdk_config().await;
    let client = aws_sdk_ecr::Client::new(&sdk_config);
    Ok(Guard::new(
        sdk::SdkEcr::new(client, settings.own_account.clone()),
        settings,
    ))
}

/// The SDK configuration from the standard chain, with more patient retries than the default:
/// a sweep of many repositories meets throttling, and backing off beats failing
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
        .load()
        .await
}
