//! Grants a trusted replication source `ecr:ReplicateImage` (and `ecr:CreateRepository`) in the registry policy after a failed cross-account replication.
//!
//! The work is the shared engine's ([`guard_adapter::Guard`]), so every function and the sweep
//! apply exactly the same rules; this crate decides which events it acts on.

use guard_adapter::{Accepts, Dispatch, HandlerError, Outcome};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The event kinds this function acts on; every other event is skipped
pub const ACCEPTS: Accepts = &["replication-failed"];

/// The Lambda handler: `guards` is one registry's guard, or a central deployment's service that
/// acts in the account the event names
pub async fn function_handler<D: Dispatch>(event: LambdaEvent<Value>, guards: &D) -> Result<Outcome, HandlerError> {
    guards.dispatch(&event.payload, ACCEPTS).await
}
