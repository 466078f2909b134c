//! The shell around policy-core: the ECR port and its SDK adapter, an in-memory fake, config
//! loading, event decoding, the audit log, and the engine every function shares.

pub mod audit;
pub mod engine;
pub mod event;
pub mod memory;
pub mod outlets;
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
    let outlets = outlets_from(&settings.config, &sdk_config);
    let mut guard = Guard::new(sdk::SdkEcr::new(client, settings.own_account.clone()), settings);
    guard.outlets = outlets;
    Ok(guard)
}

/// The findings outlets the config turns on, over SDK clients from `sdk_config`. Their calls get
/// a shorter budget than ECR's: a delivery must never hold the handler near its timeout.
pub fn outlets_from(config: &policy_core::GuardConfig, sdk_config: &aws_config::SdkConfig) -> outlets::Outlets {
    let conf = sdk_config
        .to_builder()
        .retry_config(
            sdk_config
                .retry_config()
                .cloned()
                .unwrap_or_else(aws_config::retry::RetryConfig::standard)
                .with_max_attempts(3),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(std::time::Duration::from_secs(3))
                .operation_timeout(std::time::Duration::from_secs(8))
                .build(),
        )
        .build();
    outlets::Outlets {
        events: config
            .finding_events
            .then(|| std::sync::Arc::new(outlets::sdk::SdkEventBus::new(aws_sdk_eventbridge::Client::new(&conf))) as _),
        hub: config.security_hub.then(|| {
            std::sync::Arc::new(outlets::sdk::SdkSecurityHub::new(aws_sdk_securityhub::Client::new(
                &conf,
            ))) as _
        }),
        chat: config.notify_topic_arn.as_ref().map(|topic| {
            std::sync::Arc::new(outlets::sdk::SdkSns::new(
                aws_sdk_sns::Client::new(&conf),
                topic.clone(),
            )) as _
        }),
        ..outlets::Outlets::default()
    }
}

/// The SDK configuration from the standard chain, with more patient retries than the default:
/// a sweep of many repositories meets throttling, and backing off beats failing
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
        .load()
        .await
}
