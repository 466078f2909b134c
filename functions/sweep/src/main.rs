//! Wiring only: settings and the SDK clients once at start-up, then the runtime loop.

fn main() -> Result<(), lambda_runtime::Error> {
    guard_adapter::runtime_for_security_hub()?.block_on(async {
        lambda_runtime::tracing::init_default_subscriber();
        let sdk_config = guard_adapter::sdk_config().await;
        // Used only by the organisation sweep's plan (`accounts: organization`).
        let directory = sweep::SdkOrganizations::new(aws_sdk_organizations::Client::new(&sdk_config), None);
        let service = guard_adapter::init_service_with(sdk_config, guard_adapter::outlets_with_hub).await?;
        lambda_runtime::run(lambda_runtime::service_fn(|event| {
            sweep::handler(event, &service, &directory)
        }))
        .await
    })
}
