//! Terraform plans in JSON (`terraform show -json PLANFILE`): the policies of
//! `aws_ecr_repository_policy` (`policy`), `aws_ecr_registry_policy` (`policy`) and
//! `aws_ecr_repository_creation_template` (`repository_policy`).
//!
//! Read from `resource_changes[].change.after`, where `change.after_unknown` marks each value
//! known only after apply with `true` (Terraform's JSON output format). A plan without
//! `resource_changes` is read from `planned_values`, whose `values` leave unknown values out: an
//! attribute missing there is taken as unknown after apply (an inference from that format).
//! Resources only being deleted are skipped.

use super::{shape, InputError, PolicyInput, RepositoryName, Resource, Source, Unknown, UNKNOWN_AFTER_APPLY};
use crate::{judge::PolicyKind, tree::Data, tree::Node};

/// (type, policy attribute, name attribute, kind)
const POLICY_RESOURCES: [(&str, &str, Option<&str>, PolicyKind); 3] = [
    (
        "aws_ecr_repository_policy",
        "policy",
        Some("repository"),
        PolicyKind::Repository,
    ),
    ("aws_ecr_registry_policy", "policy", None, PolicyKind::Registry),
    (
        "aws_ecr_repository_creation_template",
        "repository_policy",
        Some("prefix"),
        PolicyKind::Template,
    ),
];

/// One resource's values and which of them are unknown
struct Planned<'n> {
    address: &'n str,
    ty: &'n str,
    line: usize,
    values: &'n Node,
    /// `after_unknown`; `None` when unknown values are simply left out (`planned_values`)
    after_unknown: Option<&'n Node>,
}

/// The policies of a plan
pub fn read(file: &str, root: &Node) -> Result<Vec<Source>, InputError> {
    let mut planned = Vec::new();
    match root.get("resource_changes") {
        Some(changes) => {
            let items = changes
                .as_seq()
                .ok_or_else(|| shape(file, changes, "`resource_changes` must be a list"))?;
            for rc in items {
                let (Some(address), Some(ty), Some(change)) = (
                    rc.get("address").and_then(Node::as_str),
                    rc.get("type").and_then(Node::as_str),
                    rc.get("change"),
                ) else {
                    return Err(shape(
                        file,
                        rc,
                        "a resource change without `address`, `type` and `change`",
                    ));
                };
                if rc.get("mode").and_then(Node::as_str).is_some_and(|m| m != "managed") {
                    continue;
                }
                let actions: Vec<&str> = change
                    .get("actions")
                    .and_then(Node::as_seq)
                    .map(|a| a.iter().filter_map(Node::as_str).collect())
                    .unwrap_or_default();
                let Some(after) = change.get("after").filter(|a| a.as_map().is_some()) else {
                    continue;
                };
                if actions == ["delete"] {
                    continue;
                }
                planned.push(Planned {
                    address,
                    ty,
                    line: rc.line,
                    values: after,
                    after_unknown: Some(change.get("after_unknown").unwrap_or(&EMPTY)),
                });
            }
        }
        None => {
            if let Some(module) = root.get("planned_values").and_then(|p| p.get("root_module")) {
                module_resources(module, &mut planned);
            }
        }
    }
    let mut out = Vec::new();
    for p in planned {
        let Some((ty, attribute, name_attribute, kind)) = POLICY_RESOURCES.iter().find(|(t, ..)| *t == p.ty) else {
            continue;
        };
        let unknown = |attr: &str| -> Option<Unknown> {
            let flagged = match p.after_unknown {
                Some(u) => u.get(attr).map(|n| (n.data == Data::Bool(true), n.line)),
                None => Some((p.values.get(attr).is_none(), p.line)),
            };
            match flagged {
                Some((true, line)) => Some(Unknown {
                    rule: UNKNOWN_AFTER_APPLY,
                    what: format!("`{attr}`"),
                    line,
                }),
                _ => None,
            }
        };
        let (policy, line, unknowns) = match (unknown(attribute), p.values.get(attribute)) {
            (Some(u), _) => (PolicyInput::Unknown, u.line, vec![u]),
            (None, Some(n)) => match &n.data {
                Data::Str(s) if !s.trim().is_empty() => (PolicyInput::Text(s.clone()), n.line, Vec::new()),
                // No policy (an optional `repository_policy` left out): nothing to judge.
                Data::Null | Data::Str(_) => continue,
                _ => {
                    return Err(shape(
                        file,
                        n,
                        format!("`{}` `{attribute}` must be a json string", p.address),
                    ))
                }
            },
            (None, None) => continue,
        };
        let repository = match name_attribute {
            None => RepositoryName::None,
            Some(a) => match (unknown(a), p.values.get(a).and_then(Node::as_str)) {
                (Some(u), _) => RepositoryName::Unknown(u),
                (None, Some(name)) => RepositoryName::Known(name.to_owned()),
                (None, None) => RepositoryName::None,
            },
        };
        out.push(Source {
            file: file.to_owned(),
            kind: *kind,
            resource: Some(Resource {
                name: p.address.to_owned(),
                kind: (*ty).to_owned(),
                property: (*attribute).to_owned(),
            }),
            line,
            statement_lines: Vec::new(),
            policy,
            unknowns,
            repository,
        });
    }
    Ok(out)
}

static EMPTY: Node = Node {
    line: 0,
    data: Data::Null,
};

/// Resources of a module in `planned_values` and of its child modules
fn module_resources<'n>(module: &'n Node, out: &mut Vec<Planned<'n>>) {
    for r in module.get("resources").and_then(Node::as_seq).unwrap_or(&[]) {
        if r.get("mode").and_then(Node::as_str).is_some_and(|m| m != "managed") {
            continue;
        }
        if let (Some(address), Some(ty), Some(values)) = (
            r.get("address").and_then(Node::as_str),
            r.get("type").and_then(Node::as_str),
            r.get("values"),
        ) {
            out.push(Planned {
                address,
                ty,
                line: values.line,
                values,
                after_unknown: None,
            });
        }
    }
    for child in module.get("child_modules").and_then(Node::as_seq).unwrap_or(&[]) {
        module_resources(child, out);
    }
}
