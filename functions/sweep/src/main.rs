//! Wiring only: settings and the SDK clients once at start-up, then the runtime loop.

fn main() -> Result<(), lambda_runtime::Error> {
    // 8 MiB worker stacks: the sweep reads Security Hub findings, whose SDK deserializer keeps
    // every ASFF resource type in one large frame.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 * 1024 * 1024)
        .build()?
        .block_on(async {
            lambda_runtime::tracing::init_default_subscriber();
            let sdk_config = guard_adapter::sdk_config().await;
            // Used only by the organisation sweep's plan (`accounts: organization`).
            let directory = sweep::SdkOrganizations::new(aws_sdk_organizations::Client::new(&sdk_config), None);
            let service = guard_adapter::init_service(sdk_config).await?;
            lambda_runtime::run(lambda_runtime::service_fn(|event| {
                sweep::handler(event, &service, &directory)
            }))
            .await
        })
}
