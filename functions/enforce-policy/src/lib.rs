//! Reverts disallowed grants after `SetRepositoryPolicy`, `DeleteRepositoryPolicy`, `PutRegistryPolicy`, `DeleteRegistryPolicy` or a repository creation template change, re-applying the baseline where it was lost.
//!
//! The work is the shared engine's ([`guard_adapter::Guard`]), so every function and the sweep
//! apply exactly the same rules; this crate decides which events it acts on.

use guard_adapter::{Accepts, EcrPolicies, Guard, HandlerError, Outcome};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The event kinds this function acts on; every other event is skipped
pub const ACCEPTS: Accepts = &[
    "repository-policy-changed",
    "registry-policy-changed",
    "creation-template-changed",
];

/// The Lambda handler
pub async fn function_handler<P: EcrPolicies>(
    event: LambdaEvent<Value>,
    guard: &Guard<P>,
) -> Result<Outcome, HandlerError> {
    guard.handle(&event.payload, ACCEPTS).await
}
