//! Pure, synchronous model of AWS IAM policies as Amazon ECR uses them: lossless parsing and
//! serialisation, normalisation and equivalence, the ECR action catalogue, condition operators,
//! allow/deny evaluation and access analysis, the guard rules and the planners that turn a live
//! policy and the config into a plan, and the organisation perimeter (the config as a resource
//! control policy). No I/O, no async, no AWS SDK.
//!
//! No feature flags.

pub mod access;
pub mod actions;
pub mod condition;
pub mod config;
pub mod error;
pub mod eval;
pub mod exception;
pub mod guard;
pub mod json;
pub mod limits;
pub mod model;
pub mod normalize;
pub mod perimeter;
pub mod plan;
pub mod template;
pub mod wildcard;

pub use access::{analyze, analyze_statement, analyze_with, Reach, Resolver, Source, StatementAccess};
pub use actions::{AccessLevel, ActionClass, ActionInfo, ActionSet};
pub use condition::{Context, ContextValue, Operator};
pub use config::{GuardConfig, Mode, Modes, UnpinnedServices};
pub use error::{EvalError, ParseError};
pub use eval::{evaluate, Decision, Request, RequestPrincipal};
pub use guard::{Disposition, Finding, GuardContext, Review, Rule, Severity};
pub use limits::{check_size, SizeError, MAX_POLICY_CHARS};
pub use model::{Effect, OneOrMany, Policy, Principal, PrincipalKind, Statement, Version};
pub use normalize::{diff, equivalent, normalize, PolicyDiff};
pub use perimeter::{perimeter, Perimeter, PerimeterError, MAX_RCP_CHARS};
pub use plan::{Addition, Plan, PlanAction, PlanError};
