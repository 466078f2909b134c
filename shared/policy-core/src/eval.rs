//! Allow / deny evaluation of one request against one resource policy: explicit deny wins, then
//! any allow, else implicit deny. Statement order does not matter.

use crate::{
    condition::{arn_parts, evaluate_block, substitute, Context, ContextValue},
    error::EvalError,
    model::{Effect, ListBlock, Policy, Principal, PrincipalKind, Statement},
    wildcard::match_tokens,
};

/// Who makes the request
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestPrincipal {
    /// No credentials
    Anonymous,
    /// An account's root (as `arn:aws:iam::ID:root`)
    Account(String),
    /// A user, role or assumed-role session
    Arn {
        /// The caller's ARN
        arn: String,
        /// The caller's unique id (`AIDA...`, `AROA...`), when known
        unique_id: Option<String>,
    },
    /// An AWS service principal (`codebuild.amazonaws.com`)
    Service(String),
    /// A federated identity provider
    Federated(String),
}

impl RequestPrincipal {
    /// The caller's account, when it has one
    pub fn account(&self) -> Option<&str> {
        match self {
            RequestPrincipal::Account(id) => Some(id),
            RequestPrincipal::Arn { arn, .. } => arn_parts(arn).map(|p| p[4]).filter(|a| !a.is_empty()),
            _ => None,
        }
    }

    /// The caller's partition (`aws` when unknown)
    fn partition(&self) -> &str {
        match self {
            RequestPrincipal::Arn { arn, .. } => arn_parts(arn).map(|p| p[1]).unwrap_or("aws"),
            _ => "aws",
        }
    }

    /// For a role session, the role's ARN (path-less, as sessions name it)
    fn session_role(&self) -> Option<String> {
        let RequestPrincipal::Arn { arn, .. } = self else {
            return None;
        };
        let p = arn_parts(arn)?;
        let rest = p[5].strip_prefix("assumed-role/")?;
        let role = rest.split('/').next()?;
        (p[2] == "sts").then(|| format!("arn:{}:iam::{}:role/{role}", p[1], p[4]))
    }
}

/// One request
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The caller
    pub principal: RequestPrincipal,
    /// `service:Action`
    pub action: String,
    /// The resource ARN; `None` stands for the repository the policy is attached to
    pub resource: Option<String>,
    /// Condition keys
    pub context: Context,
}

/// The outcome of an evaluation
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// An Allow statement matched and no Deny did
    Allow,
    /// A Deny statement matched
    ExplicitDeny,
    /// Nothing matched
    ImplicitDeny,
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn aws_id_matches(id: &str, who: &RequestPrincipal) -> bool {
    if id == "*" {
        return true;
    }
    if is_account_id(id) {
        return who.account() == Some(id);
    }
    if let Some(p) = arn_parts(id) {
        if p[2] == "iam" && p[5] == "root" {
            return who.account() == Some(p[4]) && who.partition() == p[1];
        }
        // A wildcard inside a principal ARN is not a wildcard to IAM: compare literally.
        return match who {
            RequestPrincipal::Arn { arn, .. } => arn == id || who.session_role().as_deref() == Some(id),
            RequestPrincipal::Account(acc) => id == format!("arn:aws:iam::{acc}:root"),
            _ => false,
        };
    }
    matches!(who, RequestPrincipal::Arn { unique_id: Some(u), .. } if u == id)
}

fn principal_matches(principal: &Principal, who: &RequestPrincipal) -> bool {
    match principal {
        Principal::Any => true,
        Principal::Map(map) => map.iter().any(|(kind, ids)| {
            ids.iter().any(|id| match (kind, who) {
                (PrincipalKind::Aws, _) => aws_id_matches(id, who),
                (PrincipalKind::Service, RequestPrincipal::Service(name)) => id.eq_ignore_ascii_case(name),
                (PrincipalKind::Federated, RequestPrincipal::Federated(name)) => id == name,
                _ => false,
            })
        }),
    }
}

fn list_matches(
    block: &ListBlock,
    value: &str,
    case_insensitive: bool,
    ctx: Option<&Context>,
    toks: &mut Vec<crate::wildcard::Tok>,
) -> bool {
    let hit = block.values.iter().any(|pattern| match ctx {
        Some(ctx) => match substitute(pattern, ctx) {
            Some(resolved) => {
                toks.clear();
                resolved.tokens(toks);
                match_tokens(toks, value, case_insensitive)
            }
            // A variable without a value makes the pattern match nothing.
            None => false,
        },
        None => crate::wildcard::wildcard_match(pattern, value, case_insensitive),
    });
    hit != block.negated
}

/// Whether a statement applies to the request (principal, action, resource and conditions)
pub fn statement_matches(
    statement: &Statement,
    index: usize,
    request: &Request,
    ctx: &Context,
    variables: bool,
) -> Result<bool, EvalError> {
    let conditions = match &statement.condition {
        Some(entries) => evaluate_block(entries, ctx, variables).map_err(|op| EvalError::UnknownOperator {
            statement: statement.label(index),
            operator: op.to_owned(),
        })?,
        None => true,
    };
    let principal = match &statement.principal {
        // Identity policies have no principal: they apply to whoever holds them.
        None => true,
        Some(block) => principal_matches(&block.principal, &request.principal) != block.negated,
    };
    let mut toks = Vec::new();
    let action = list_matches(&statement.action, &request.action, true, None, &mut toks);
    let resource = match (&statement.resource, &request.resource) {
        (None, _) | (Some(_), None) => true,
        (Some(block), Some(arn)) => list_matches(block, arn, false, variables.then_some(ctx), &mut toks),
    };
    Ok(conditions && principal && action && resource)
}

/// The context with the keys IAM derives from the caller, where the caller did not set them
fn derived_context(request: &Request) -> Context {
    let mut ctx = request.context.clone();
    let mut set = |key: &str, value: String| {
        if !ctx.contains(key) {
            ctx.insert(key, ContextValue::Single(value));
        }
    };
    match &request.principal {
        RequestPrincipal::Account(id) => {
            set("aws:PrincipalAccount", id.clone());
            set("aws:PrincipalArn", format!("arn:aws:iam::{id}:root"));
        }
        RequestPrincipal::Arn { arn, .. } => {
            if let Some(acc) = request.principal.account() {
                set("aws:PrincipalAccount", acc.to_owned());
            }
            set(
                "aws:PrincipalArn",
                request.principal.session_role().unwrap_or_else(|| arn.clone()),
            );
            if let Some(user) = arn_parts(arn).and_then(|p| p[5].strip_prefix("user/")) {
                set("aws:username", user.rsplit('/').next().unwrap_or(user).to_owned());
            }
        }
        RequestPrincipal::Service(name) => set("aws:PrincipalServiceName", name.clone()),
        RequestPrincipal::Anonymous | RequestPrincipal::Federated(_) => {}
    }
    ctx
}

/// Evaluates a request against a resource policy
pub fn evaluate(policy: &Policy, request: &Request) -> Result<Decision, EvalError> {
    let ctx = derived_context(request);
    let variables = policy.variables_enabled();
    let mut allowed = false;
    let mut denied = false;
    for (i, s) in policy.statements.iter().enumerate() {
        if statement_matches(s, i, request, &ctx, variables)? {
            match s.effect {
                Effect::Deny => denied = true,
                Effect::Allow => allowed = true,
            }
        }
    }
    Ok(if denied {
        Decision::ExplicitDeny
    } else if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(principal: RequestPrincipal, action: &str) -> Request {
        Request {
            principal,
            action: action.into(),
            resource: None,
            context: Context::new(),
        }
    }

    #[test]
    fn deny_wins_and_default_is_implicit() {
        let p = Policy::parse(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"},
            {"Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"ecr:PutImage"}]}"#,
        )
        .unwrap();
        let role = RequestPrincipal::Arn {
            arn: "arn:aws:iam::111122223333:role/ci".into(),
            unique_id: None,
        };
        assert_eq!(
            evaluate(&p, &req(role.clone(), "ecr:PutImage")).unwrap(),
            Decision::ExplicitDeny
        );
        assert_eq!(evaluate(&p, &req(role, "ecr:BatchGetImage")).unwrap(), Decision::Allow);
        assert_eq!(
            evaluate(&p, &req(RequestPrincipal::Anonymous, "s3:GetObject")).unwrap(),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn role_principal_covers_its_sessions() {
        let p = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/ci"},"Action":"ecr:*"}}"#,
        )
        .unwrap();
        let session = RequestPrincipal::Arn {
            arn: "arn:aws:sts::111122223333:assumed-role/ci/job-1".into(),
            unique_id: None,
        };
        assert_eq!(evaluate(&p, &req(session, "ecr:PutImage")).unwrap(), Decision::Allow);
        let other = RequestPrincipal::Arn {
            arn: "arn:aws:sts::111122223333:assumed-role/cd/job-1".into(),
            unique_id: None,
        };
        assert_eq!(
            evaluate(&p, &req(other, "ecr:PutImage")).unwrap(),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn unknown_operator_is_an_error() {
        let p = Policy::parse(r#"{"Statement":{"Sid":"X","Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEqualz":{"a":"b"}}}}"#).unwrap();
        let e = evaluate(&p, &req(RequestPrincipal::Anonymous, "ecr:PutImage")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "statement 0 (`X`): unknown condition operator `StringEqualz`"
        );
    }
}
