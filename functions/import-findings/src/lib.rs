//! Imports into Security Hub the findings the event handlers publish on the default bus (`source`
//! `ecr-policy-guard`, `detail-type` `ECR Policy Guard Finding`, `detail.trigger` `event`), so
//! the handlers need no Security Hub client. A finding that cannot be imported is an error:
//! EventBridge retries it, then the dead-letter queue keeps the event.

use guard_adapter::outlets::{
    import::{import_event, ImportError, Imported},
    FindingsHub,
};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// What this function takes: the guard's finding events (see
/// [`guard_adapter::outlets::outlet_actions`])
pub const ACCEPTS: guard_adapter::Accepts = &["finding"];

/// The Lambda handler
pub async fn function_handler(event: LambdaEvent<Value>, hub: &dyn FindingsHub) -> Result<Imported, ImportError> {
    import_event(&event.payload, hub).await
}
