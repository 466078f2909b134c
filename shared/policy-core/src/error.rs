//! Errors of the policy core.

/// A policy document that cannot be read
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not JSON, or JSON with duplicate keys
    #[error("invalid policy json: {0}")]
    Json(String),
    /// JSON that is not a policy IAM accepts; the message names the statement and key
    #[error("{0}")]
    Invalid(String),
}

/// A request that cannot be evaluated
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// IAM would reject the policy, so no answer is honest
    #[error("{statement}: unknown condition operator `{operator}`")]
    UnknownOperator {
        /// The statement label
        statement: String,
        /// The operator as written
        operator: String,
    },
}
