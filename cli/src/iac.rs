//! Reading the inputs `check` takes: a policy document, a CloudFormation or SAM template (YAML or
//! JSON), a Terraform plan in JSON (`terraform show -json`), or the output of
//! `aws ecr describe-repository-creation-templates`. Each becomes a list of [`Source`]s, one per
//! policy found, with where it is and what could not be known before deployment. Nothing here
//! judges a policy.

mod cfn;
mod terraform;

use crate::{
    judge::PolicyKind,
    tree::{self, Node},
};
use serde_json::Value;

pub use cfn::Pseudo;

/// An input that cannot be read
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The file cannot be read
    #[error("cannot read `{file}`: {source}")]
    Read {
        /// The path
        file: String,
        /// Why
        source: std::io::Error,
    },
    /// Neither JSON nor YAML
    #[error("`{file}`: {source}")]
    Syntax {
        /// The path
        file: String,
        /// Why
        source: tree::TreeError,
    },
    /// None of the shapes `check` knows
    #[error(
        "`{file}` is not a policy (no `Statement`), a cloudformation or sam template (no `Resources`), \
         a terraform plan (no `format_version` with `planned_values` or `resource_changes`) \
         nor repository creation templates (no `repositoryCreationTemplates`)"
    )]
    Kind {
        /// The path
        file: String,
    },
    /// Not the shape expected where it is
    #[error("`{file}` line {line}: {message}")]
    Shape {
        /// The path
        file: String,
        /// The line
        line: usize,
        /// What was expected
        message: String,
    },
    /// Given as one kind of input, found another
    #[error("`{file}` is {found}, not {expected}")]
    Expected {
        /// The path
        file: String,
        /// What it is
        found: &'static str,
        /// What the option takes
        expected: &'static str,
    },
}

/// What an input file is
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// A policy document
    Policy,
    /// A CloudFormation or SAM template
    Template,
    /// A Terraform plan
    Plan,
    /// `describe-repository-creation-templates` output
    CreationTemplates,
}

impl InputKind {
    /// For messages
    pub fn describe(self) -> &'static str {
        match self {
            InputKind::Policy => "a policy document",
            InputKind::Template => "a cloudformation or sam template",
            InputKind::Plan => "a terraform plan",
            InputKind::CreationTemplates => "repository creation templates",
        }
    }
}

/// The resource a policy belongs to in infrastructure code
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// CloudFormation logical id, Terraform address, or a creation template's prefix
    pub name: String,
    /// `AWS::ECR::Repository`, `aws_ecr_repository_policy`, `repository creation template`
    pub kind: String,
    /// The property or attribute holding the policy
    pub property: String,
}

impl Resource {
    /// `Repo` (`AWS::ECR::Repository` `RepositoryPolicyText`), or template `prod`
    pub fn display(&self) -> String {
        if self.kind == CREATION_TEMPLATE {
            format!("template `{}`", self.name)
        } else {
            format!("`{}` ({} `{}`)", self.name, self.kind, self.property)
        }
    }
}

/// The kind of a template from `describe-repository-creation-templates`
pub const CREATION_TEMPLATE: &str = "repository creation template";

/// A value that cannot be known before deployment
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unknown {
    /// `unresolved` (CloudFormation) or `unknown-after-apply` (Terraform)
    pub rule: &'static str,
    /// What it depends on: ``parameter `OrgId` ``, ``!GetAtt `Role.Arn` ``
    pub what: String,
    /// Where it is
    pub line: usize,
}

/// Rule of a CloudFormation value known only at deployment
pub const UNRESOLVED: &str = "unresolved";
/// Rule of a Terraform value known only after apply
pub const UNKNOWN_AFTER_APPLY: &str = "unknown-after-apply";

/// The text standing for unknown number `n` inside a resolved policy: a string no policy holds,
/// safe inside JSON text, so a policy given as a `!Sub` string still parses around it
pub fn token(n: usize) -> String {
    format!("<<unresolved:{n}>>")
}

/// The unknowns a string holds, by number
pub fn tokens_in(s: &str) -> Vec<usize> {
    s.split("<<unresolved:")
        .skip(1)
        .filter_map(|rest| rest.split_once(">>").and_then(|(n, _)| n.parse().ok()))
        .collect()
}

/// The policy itself
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyInput {
    /// JSON text (parsed strictly when nothing in it is unknown)
    Text(String),
    /// A structured value (a template's mapping)
    Value(Value),
    /// Entirely unknown: its `unknowns` say why
    Unknown,
}

/// The repository name that decides exemption and baseline
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepositoryName {
    /// None applies (a registry policy, or a policy file without `--repository`)
    None,
    /// Known
    Known(String),
    /// There is one, unknown before deployment
    Unknown(Unknown),
}

/// One policy to judge and where it came from
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    /// The file, as given
    pub file: String,
    /// Which rules judge it
    pub kind: PolicyKind,
    /// The resource in infrastructure code
    pub resource: Option<Resource>,
    /// Line of the policy (1 for a whole file)
    pub line: usize,
    /// Line of each statement, when known
    pub statement_lines: Vec<usize>,
    /// The policy
    pub policy: PolicyInput,
    /// Unknowns, numbered as their tokens in `policy`
    pub unknowns: Vec<Unknown>,
    /// The repository name
    pub repository: RepositoryName,
}

/// How the inputs are read
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// What CloudFormation's pseudo parameters are known to be
    pub pseudo: Pseudo,
    /// `--registry`: a policy document is a registry policy
    pub registry: bool,
    /// `--repository`: a policy document's repository
    pub repository: Option<String>,
}

/// Reads a file: its kind and the policies in it
pub fn read_file(file: &str, opts: &ReadOptions) -> Result<(InputKind, Vec<Source>), InputError> {
    let text = std::fs::read_to_string(file).map_err(|source| InputError::Read {
        file: file.to_owned(),
        source,
    })?;
    read_text(file, &text, opts)
}

/// Reads text as [`read_file`] does
pub fn read_text(file: &str, text: &str, opts: &ReadOptions) -> Result<(InputKind, Vec<Source>), InputError> {
    let root = tree::load(text).map_err(|source| InputError::Syntax {
        file: file.to_owned(),
        source,
    });
    let root = match root {
        Ok(root) => root,
        // A policy must be JSON; let the policy parser say what is wrong with it.
        Err(_)
            if ["\"Resources\"", "\"format_version\""]
                .iter()
                .all(|k| !text.contains(k))
                && text.contains("\"Statement\"") =>
        {
            return Ok((InputKind::Policy, vec![policy_document(file, text, None, opts)]))
        }
        Err(e) => return Err(e),
    };
    let has = |k: &str| root.get(k).is_some();
    if has("Resources") {
        Ok((InputKind::Template, cfn::read(file, &root, &opts.pseudo)?))
    } else if has("format_version") && (has("planned_values") || has("resource_changes")) {
        Ok((InputKind::Plan, terraform::read(file, &root)?))
    } else if has("repositoryCreationTemplates") {
        Ok((InputKind::CreationTemplates, creation_templates(file, &root)?))
    } else if has("Statement") {
        Ok((InputKind::Policy, vec![policy_document(file, text, Some(&root), opts)]))
    } else {
        Err(InputError::Kind { file: file.to_owned() })
    }
}

/// Lines of the statements of a policy node: each item of `Statement`, or the one statement
pub fn statement_lines(policy: &Node) -> Vec<usize> {
    match policy.get("Statement") {
        Some(s) => match s.as_seq() {
            Some(items) => items.iter().map(|n| n.line).collect(),
            None => vec![s.line],
        },
        None => Vec::new(),
    }
}

fn policy_document(file: &str, text: &str, root: Option<&Node>, opts: &ReadOptions) -> Source {
    let (kind, repository) = if opts.registry {
        (PolicyKind::Registry, RepositoryName::None)
    } else {
        (
            PolicyKind::Repository,
            opts.repository
                .clone()
                .map_or(RepositoryName::None, RepositoryName::Known),
        )
    };
    Source {
        file: file.to_owned(),
        kind,
        resource: None,
        line: 1,
        statement_lines: root.map(statement_lines).unwrap_or_default(),
        policy: PolicyInput::Text(text.to_owned()),
        unknowns: Vec::new(),
        repository,
    }
}

fn shape(file: &str, node: &Node, message: impl Into<String>) -> InputError {
    InputError::Shape {
        file: file.to_owned(),
        line: node.line,
        message: message.into(),
    }
}

/// `{"registryId": ..., "repositoryCreationTemplates": [{"prefix", "repositoryPolicy", ...}]}`:
/// each template's policy is a repository policy, its prefix playing the repository's name
fn creation_templates(file: &str, root: &Node) -> Result<Vec<Source>, InputError> {
    let list = root.get("repositoryCreationTemplates").unwrap_or(root);
    let items = list
        .as_seq()
        .ok_or_else(|| shape(file, list, "`repositoryCreationTemplates` must be a list"))?;
    let mut out = Vec::new();
    for t in items {
        let prefix = t
            .get("prefix")
            .and_then(Node::as_str)
            .ok_or_else(|| shape(file, t, "a repository creation template without a `prefix` string"))?;
        let Some(policy) = t.get("repositoryPolicy") else {
            continue;
        };
        let text = policy
            .as_str()
            .ok_or_else(|| shape(file, policy, "`repositoryPolicy` must be a json string"))?;
        // An empty policy text is no policy.
        if text.trim().is_empty() {
            continue;
        }
        out.push(Source {
            file: file.to_owned(),
            kind: PolicyKind::Template,
            resource: Some(Resource {
                name: prefix.to_owned(),
                kind: CREATION_TEMPLATE.to_owned(),
                property: "repositoryPolicy".to_owned(),
            }),
            line: policy.line,
            statement_lines: Vec::new(),
            policy: PolicyInput::Text(text.to_owned()),
            unknowns: Vec::new(),
            repository: RepositoryName::Known(prefix.to_owned()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let s = format!("arn:aws:iam::{}:role/{}", token(3), token(12));
        assert_eq!(tokens_in(&s), [3, 12]);
        assert!(tokens_in("arn:aws:iam::123456789012:root").is_empty());
    }

    #[test]
    fn kinds_are_detected() {
        let opts = ReadOptions::default();
        let kind = |t: &str| read_text("f", t, &opts).map(|(k, _)| k);
        assert_eq!(kind(r#"{"Statement":[]}"#).unwrap(), InputKind::Policy);
        assert_eq!(kind("Resources: {}\n").unwrap(), InputKind::Template);
        assert_eq!(
            kind(r#"{"format_version":"1.2","resource_changes":[]}"#).unwrap(),
            InputKind::Plan
        );
        assert_eq!(
            kind(r#"{"registryId":"123456789012","repositoryCreationTemplates":[]}"#).unwrap(),
            InputKind::CreationTemplates
        );
        assert!(kind(r#"{"Version":"2012-10-17"}"#)
            .unwrap_err()
            .to_string()
            .starts_with("`f` is not a policy (no `Statement`)"));
        // Broken JSON that is meant as a policy goes to the policy parser, which names the key.
        assert_eq!(
            kind(r#"{"Statement":[{"Effect":"Allow",}]}"#).unwrap(),
            InputKind::Policy
        );
    }

    #[test]
    fn creation_templates_name_their_prefix() {
        let text = r#"{
  "registryId": "123456789012",
  "repositoryCreationTemplates": [
    {"prefix": "ROOT", "appliedFor": ["PULL_THROUGH_CACHE"]},
    {"prefix": "prod", "appliedFor": ["REPLICATION"],
     "repositoryPolicy": "{\"Statement\":[]}"}
  ]
}"#;
        let (_, sources) = read_text("t.json", text, &ReadOptions::default()).unwrap();
        assert_eq!(sources.len(), 1, "a template without a policy has nothing to judge");
        assert_eq!(sources[0].resource.as_ref().unwrap().display(), "template `prod`");
        assert_eq!(sources[0].line, 6);
        assert_eq!(sources[0].repository, RepositoryName::Known("prod".into()));
    }
}
