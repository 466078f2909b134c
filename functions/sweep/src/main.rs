//! Wiring only: settings and the SDK client once at start-up, then the runtime loop.

fn main() -> Result<(), lambda_runtime::Error> {
    // 8 MiB worker stacks: the sweep reads Security Hub findings, whose SDK deserializer keeps
    // every ASFF resource type in one large frame.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 * 1024 * 1024)
        .build()?
        .block_on(async {
            let guard = guard_adapter::init_lambda().await?;
            lambda_runtime::run(lambda_runtime::service_fn(|event| {
                sweep::function_handler(event, &guard)
            }))
            .await
        })
}
