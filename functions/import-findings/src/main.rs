//! Wiring only: the Security Hub client once at start-up, then the runtime loop.

use guard_adapter::outlets::sdk::SdkSecurityHub;

fn main() -> Result<(), lambda_runtime::Error> {
    guard_adapter::runtime_for_security_hub()?.block_on(async {
        lambda_runtime::tracing::init_default_subscriber();
        let sdk_config = guard_adapter::sdk_config().await;
        let hub = SdkSecurityHub::new(aws_sdk_securityhub::Client::new(&sdk_config));
        lambda_runtime::run(lambda_runtime::service_fn(|event| {
            import_findings::function_handler(event, &hub)
        }))
        .await
    })
}
