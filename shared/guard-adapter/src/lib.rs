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
pub mod outlets;
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
    init_service_with(sdk_config, outlets_from).await
}

/// Builds a function's findings outlets from the config and the SDK configuration
pub type OutletsBuilder = fn(&policy_core::GuardConfig, &aws_config::SdkConfig) -> outlets::Outlets;

/// [`init_service`] with its outlets built by `outlets`: [`outlets_from`] for a handler,
/// [`outlets_with_hub`] for the sweep. A function pointer chosen in `main`, so a handler's binary
/// never references (and never links) the Security Hub client.
pub async fn init_service_with(
    sdk_config: aws_config::SdkConfig,
    outlets: OutletsBuilder,
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
    let outlets_config = sdk_config.clone();
    let access = access::SdkAccess::new(sdk_config, own_account.clone(), session);
    let mut service = Service::new(access, config, own_role_arns, own_account);
    // Findings go to the outlets of the account the functions run in (the central account in
    // central mode), rebuilt when the config changes.
    service.outlets = Arc::new(move |config| outlets(config, &outlets_config));
    Ok(service)
}

/// A handler's findings outlets: EventBridge and chat as the config turns them on, over SDK
/// clients from `sdk_config` (Security Hub on puts findings on the bus, for import-findings)
pub fn outlets_from(config: &policy_core::GuardConfig, sdk_config: &aws_config::SdkConfig) -> outlets::Outlets {
    let conf = outlet_sdk_config(sdk_config);
    outlets::Outlets {
        events: (config.finding_events || config.security_hub)
            .then(|| std::sync::Arc::new(outlets::sdk::SdkEventBus::new(aws_sdk_eventbridge::Client::new(&conf))) as _),
        chat: config.notify_topic_arn.as_ref().map(|topic| {
            std::sync::Arc::new(outlets::sdk::SdkSns::new(
                aws_sdk_sns::Client::new(&conf),
                topic.clone(),
            )) as _
        }),
        ..outlets::Outlets::default()
    }
}

/// The sweep's findings outlets: [`outlets_from`] and Security Hub when the config turns it on
pub fn outlets_with_hub(config: &policy_core::GuardConfig, sdk_config: &aws_config::SdkConfig) -> outlets::Outlets {
    let mut out = outlets_from(config, sdk_config);
    // The sweep imports into Security Hub itself: the bus carries its findings only when
    // finding events are on.
    if !config.finding_events {
        out.events = None;
    }
    out.hub = config.security_hub.then(|| {
        std::sync::Arc::new(outlets::sdk::SdkSecurityHub::new(aws_sdk_securityhub::Client::new(
            &outlet_sdk_config(sdk_config),
        ))) as _
    });
    out
}

/// The outlets' calls get a shorter budget than ECR's: a delivery must never hold the handler
/// near its timeout
fn outlet_sdk_config(sdk_config: &aws_config::SdkConfig) -> aws_config::SdkConfig {
    sdk_config
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
        .build()
}

/// The runtime of a function that calls Security Hub (the sweep, import-findings): worker
/// stacks of 8 MiB, since the SDK's (de)serialisers of `AwsSecurityFinding`, which reaches every
/// ASFF resource type, keep it in one large frame
pub fn runtime_for_security_hub() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 * 1024 * 1024)
        .build()
}

/// The SDK configuration from the standard chain, with more patient retries than the default:
/// a sweep of many repositories meets throttling, and backing off beats failing
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
        .load()
        .await
}
