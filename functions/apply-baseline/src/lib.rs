//! Applies the matching baseline to a new repository (every CloudTrail `CreateRepository`, API call or ECR service event, and every successful `ECR Pull Through Cache Action`), merged with whatever policy it has by then and checked by the guard rules.
//!
//! The work is the shared engine's ([`guard_adapter::Guard`]), so every function and the sweep
//! apply exactly the same rules; this crate decides which events it acts on.

use guard_adapter::{Accepts, EcrPolicies, Guard, HandlerError, Outcome};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The event kinds this function acts on; every other event is skipped
pub const ACCEPTS: Accepts = &["repository-created"];

/// The Lambda handler
pub async fn function_handler<P: EcrPolicies>(
    event: LambdaEvent<Value>,
    guard: &Guard<P>,
) -> Result<Outcome, HandlerError> {
    guard.handle(&event.payload, ACCEPTS).await
}
