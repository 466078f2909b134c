//! Pure, synchronous model of AWS IAM policies as Amazon ECR uses them: lossless parsing and
//! serialisation, normalisation and equivalence, the ECR action catalogue, condition operators,
//! allow/deny evaluation and access analysis. No I/O, no async, no AWS SDK.
//!
//! No feature flags.

pub mod access;
pub mod actions;
pub mod condition;
pub mod error;
pub mod eval;
pub mod json;
pub mod limits;
pub mod model;
pub mod normalize;
pub mod wildcard;

pub use access::{analyze, analyze_statement, Reach, StatementAccess};
pub use actions::{AccessLevel, ActionClass, ActionInfo, ActionSet};
pub use condition::{Context, ContextValue, Operator};
pub use error::{EvalError, ParseError};
pub use eval::{evaluate, Decision, Request, RequestPrincipal};
pub use limits::{check_size, SizeError, MAX_POLICY_CHARS};
pub use model::{Effect, OneOrMany, Policy, Principal, PrincipalKind, Statement, Version};
pub use normalize::{diff, equivalent, normalize, PolicyDiff};
