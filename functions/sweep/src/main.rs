//! Wiring only: settings and the SDK client once at start-up, then the runtime loop.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let guard = guard_adapter::init_lambda().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        sweep::function_handler(event, &guard)
    }))
    .await
}
