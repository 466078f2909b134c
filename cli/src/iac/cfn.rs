//! CloudFormation and SAM templates: the ECR policies in `AWS::ECR::Repository`
//! (`RepositoryPolicyText`), `AWS::ECR::RegistryPolicy` (`PolicyText`) and
//! `AWS::ECR::RepositoryCreationTemplate` (`RepositoryPolicy`), as objects or JSON strings.
//!
//! Intrinsic functions are resolved only where the result is certain: `Ref` to `AWS::AccountId`
//! (from `--account`), `AWS::Region` (from `--region`) and `AWS::Partition` (from the region),
//! the same in `Fn::Sub` (with its variable map), and `Fn::Join` / `Fn::Select` over values so
//! known. Anything else (a parameter, which can be overridden at deployment, `Fn::GetAtt`,
//! `Fn::ImportValue`, `Fn::If`, `Fn::FindInMap`, ...) becomes an [`Unknown`], so the statement
//! holding it is reported rather than guessed.

use super::{
    shape, statement_lines, token, InputError, PolicyInput, RepositoryName, Resource, Source, Unknown, UNRESOLVED,
};
use crate::{
    judge::PolicyKind,
    tree::{Data, Node},
};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// What CloudFormation's pseudo parameters are known to be
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pseudo {
    /// `AWS::AccountId`
    pub account: Option<String>,
    /// `AWS::Region`; `AWS::Partition` follows from it
    pub region: Option<String>,
}

/// The ECR resource types holding a policy: (type, policy property, name property, kind)
const POLICY_RESOURCES: [(&str, &str, Option<&str>, PolicyKind); 3] = [
    (
        "AWS::ECR::Repository",
        "RepositoryPolicyText",
        Some("RepositoryName"),
        PolicyKind::Repository,
    ),
    ("AWS::ECR::RegistryPolicy", "PolicyText", None, PolicyKind::Registry),
    (
        "AWS::ECR::RepositoryCreationTemplate",
        "RepositoryPolicy",
        Some("Prefix"),
        PolicyKind::Template,
    ),
];

/// The policies of a template
pub fn read(file: &str, root: &Node, pseudo: &Pseudo) -> Result<Vec<Source>, InputError> {
    let resources_node = root.get("Resources").unwrap_or(root);
    let resources = resources_node
        .as_map()
        .ok_or_else(|| shape(file, resources_node, "`Resources` must be a mapping"))?;
    let names = |section: &str| -> BTreeSet<String> {
        root.get(section)
            .and_then(Node::as_map)
            .map(|m| m.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default()
    };
    let parameters = names("Parameters");
    let resource_ids = names("Resources");
    let mut out = Vec::new();
    for (id, res) in resources {
        let Some(ty) = res.get("Type").and_then(Node::as_str) else {
            continue;
        };
        let Some((ty, property, name_property, kind)) = POLICY_RESOURCES.iter().find(|(t, ..)| *t == ty) else {
            continue;
        };
        let Some(policy_node) = res.get("Properties").and_then(|p| p.get(property)) else {
            continue;
        };
        let mut resolver = Resolver::new(pseudo, &parameters, &resource_ids);
        let policy = match resolver.resolve(policy_node) {
            // The whole policy is one unknown value (`!If`, `!Ref` to a parameter).
            Value::String(s) if super::tokens_in(&s).first().is_some_and(|n| s == token(*n)) => PolicyInput::Unknown,
            Value::String(s) => PolicyInput::Text(s),
            other => PolicyInput::Value(other),
        };
        let repository = match name_property {
            None => RepositoryName::None,
            Some(p) => match res.get("Properties").and_then(|props| props.get(p)) {
                Some(n) => {
                    let mut r = Resolver::new(pseudo, &parameters, &resource_ids);
                    match r.resolve(n) {
                        Value::String(s) if r.unknowns.is_empty() => RepositoryName::Known(s),
                        _ => RepositoryName::Unknown(r.unknowns.into_iter().next().unwrap_or(Unknown {
                            rule: UNRESOLVED,
                            what: format!("a `{p}` that is not a string"),
                            line: n.line,
                        })),
                    }
                }
                None if *ty == "AWS::ECR::Repository" => RepositoryName::Unknown(Unknown {
                    rule: UNRESOLVED,
                    what: "the name CloudFormation generates (no `RepositoryName`)".to_owned(),
                    line: res.line,
                }),
                None => RepositoryName::None,
            },
        };
        out.push(Source {
            file: file.to_owned(),
            kind: *kind,
            resource: Some(Resource {
                name: id.clone(),
                kind: (*ty).to_owned(),
                property: (*property).to_owned(),
            }),
            line: policy_node.line,
            statement_lines: statement_lines(policy_node),
            policy,
            unknowns: resolver.unknowns,
            repository,
        });
    }
    Ok(out)
}

/// Resolves intrinsic functions, leaving a [`token`] where a value is unknown
struct Resolver<'a> {
    account: Option<&'a str>,
    region: Option<&'a str>,
    partition: Option<&'static str>,
    parameters: &'a BTreeSet<String>,
    resources: &'a BTreeSet<String>,
    unknowns: Vec<Unknown>,
}

/// An intrinsic function as written: its long name and how it was spelled
struct Call<'n> {
    name: String,
    written: String,
    arg: &'n Node,
    line: usize,
}

impl<'a> Resolver<'a> {
    fn new(pseudo: &'a Pseudo, parameters: &'a BTreeSet<String>, resources: &'a BTreeSet<String>) -> Self {
        Resolver {
            account: pseudo.account.as_deref(),
            region: pseudo.region.as_deref(),
            partition: pseudo.region.as_deref().map(guard_adapter::engine::partition_of),
            parameters,
            resources,
            unknowns: Vec::new(),
        }
    }

    fn unknown(&mut self, what: String, line: usize) -> Value {
        self.unknowns.push(Unknown {
            rule: UNRESOLVED,
            what,
            line,
        });
        Value::String(token(self.unknowns.len() - 1))
    }

    fn resolve(&mut self, node: &Node) -> Value {
        if let Some(call) = intrinsic(node) {
            return self.call(&call);
        }
        match &node.data {
            Data::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v)))
                    .collect::<Map<_, _>>(),
            ),
            Data::Seq(items) => Value::Array(items.iter().map(|n| self.resolve(n)).collect()),
            _ => node.to_json(),
        }
    }

    fn call(&mut self, c: &Call) -> Value {
        match c.name.as_str() {
            "Ref" => match c.arg.as_str() {
                Some(name) => match self.pseudo(name) {
                    Some(v) => Value::String(v.to_owned()),
                    None => {
                        let what = self.describe_name(name);
                        self.unknown(format!("`{}` to {what}", c.written), c.line)
                    }
                },
                None => self.unknown(format!("`{}` to something not a name", c.written), c.line),
            },
            "Fn::Sub" => self.sub(c),
            "Fn::Join" => self.join(c),
            "Fn::Select" => self.select(c),
            "Fn::GetAtt" => {
                let target = match &c.arg.data {
                    Data::Str(s) => s.clone(),
                    Data::Seq(parts) => parts.iter().filter_map(Node::as_str).collect::<Vec<_>>().join("."),
                    _ => String::new(),
                };
                self.unknown(format!("`{}` `{target}`", c.written), c.line)
            }
            "Fn::If" => {
                let condition = c
                    .arg
                    .as_seq()
                    .and_then(|s| s.first())
                    .and_then(Node::as_str)
                    .unwrap_or("");
                self.unknown(format!("`{}` on condition `{condition}`", c.written), c.line)
            }
            _ => self.unknown(format!("`{}`", c.written), c.line),
        }
    }

    fn pseudo(&self, name: &str) -> Option<&'a str> {
        match name {
            "AWS::AccountId" => self.account,
            "AWS::Region" => self.region,
            "AWS::Partition" => self.partition,
            _ => None,
        }
    }

    fn describe_name(&self, name: &str) -> String {
        match name {
            "AWS::AccountId" => "`AWS::AccountId` (pass `--account`)".to_owned(),
            "AWS::Region" | "AWS::Partition" => format!("`{name}` (pass `--region`)"),
            _ if self.parameters.contains(name) => format!("parameter `{name}`"),
            _ if self.resources.contains(name) => format!("resource `{name}`"),
            _ if name.contains('.') => format!("attribute `{name}`"),
            _ => format!("`{name}`"),
        }
    }

    /// `Fn::Sub`: a string, or `[string, {Var: value}]`; `${!Literal}` stands for `${Literal}`
    fn sub(&mut self, c: &Call) -> Value {
        let (template, vars) = match &c.arg.data {
            Data::Str(s) => (s.as_str(), Map::new()),
            Data::Seq(items) => match (items.first().and_then(Node::as_str), items.get(1)) {
                (Some(t), Some(v)) if items.len() == 2 => match self.resolve(v) {
                    Value::Object(m) => (t, m),
                    _ => return self.unknown(format!("`{}` with variables that are not a mapping", c.written), c.line),
                },
                _ => return self.unknown(format!("`{}` with an argument it does not take", c.written), c.line),
            },
            _ => return self.unknown(format!("`{}` with an argument it does not take", c.written), c.line),
        };
        let mut out = String::new();
        let mut rest = template;
        while let Some((before, after)) = rest.split_once("${") {
            out.push_str(before);
            if after.starts_with('!') {
                // `${!Name}` is the literal `${Name}`: keep `${`, drop the `!`.
                out.push_str("${");
                rest = after.get(1..).unwrap_or("");
                continue;
            }
            match after.split_once('}') {
                Some((name, tail)) => {
                    let value = match vars.get(name) {
                        Some(Value::String(s)) => s.clone(),
                        Some(other @ (Value::Number(_) | Value::Bool(_))) => other.to_string(),
                        Some(_) => self.unknown_text(
                            format!("`${{{name}}}` in `{}`, a variable that is not a string", c.written),
                            c.line,
                        ),
                        None => match self.pseudo(name) {
                            Some(v) => v.to_owned(),
                            None => {
                                let what = self.describe_name(name);
                                self.unknown_text(format!("{what} in `{}`", c.written), c.line)
                            }
                        },
                    };
                    out.push_str(&value);
                    rest = tail;
                }
                None => {
                    out.push_str("${");
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Value::String(out)
    }

    fn unknown_text(&mut self, what: String, line: usize) -> String {
        match self.unknown(what, line) {
            Value::String(s) => s,
            other => other.to_string(),
        }
    }

    /// `Fn::Join`: `[delimiter, [values]]`
    fn join(&mut self, c: &Call) -> Value {
        let (Some(delimiter), Some(list), 2) = (
            c.arg.as_seq().and_then(|s| s.first()).and_then(Node::as_str),
            c.arg.as_seq().and_then(|s| s.get(1)),
            c.arg.as_seq().map_or(0, <[Node]>::len),
        ) else {
            return self.unknown(format!("`{}` with an argument it does not take", c.written), c.line);
        };
        let before = self.unknowns.len();
        let items = match self.resolve(list) {
            Value::Array(items) => items,
            // A list that is itself unknown (`!Ref` to a list parameter): the whole join is.
            _ => {
                self.unknowns.truncate(before);
                return self.unknown(
                    format!("`{}` over a list not known before deployment", c.written),
                    c.line,
                );
            }
        };
        let mut parts = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::String(s) => parts.push(s),
                Value::Number(_) | Value::Bool(_) => parts.push(item.to_string()),
                _ => return self.unknown(format!("`{}` over values that are not strings", c.written), c.line),
            }
        }
        Value::String(parts.join(delimiter))
    }

    /// `Fn::Select`: `[index, [values]]`
    fn select(&mut self, c: &Call) -> Value {
        let items = c.arg.as_seq().unwrap_or(&[]);
        let (Some(index), Some(list), 2) = (items.first(), items.get(1), items.len()) else {
            return self.unknown(format!("`{}` with an argument it does not take", c.written), c.line);
        };
        let before = self.unknowns.len();
        let index = match self.resolve(index) {
            Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
            Value::String(s) => s.parse::<usize>().ok(),
            _ => None,
        };
        let list = self.resolve(list);
        match (index, list) {
            (Some(i), Value::Array(values)) => match values.get(i) {
                Some(v) => v.clone(),
                None => self.unknown(format!("`{}` of index `{i}` past the list's end", c.written), c.line),
            },
            _ => {
                self.unknowns.truncate(before);
                self.unknown(
                    format!("`{}` of a value not known before deployment", c.written),
                    c.line,
                )
            }
        }
    }
}

/// The intrinsic function a node is, in short (`!Sub x`) or long (`{"Fn::Sub": x}`) form
fn intrinsic(node: &Node) -> Option<Call<'_>> {
    match &node.data {
        Data::Tag(tag, arg) => {
            let name = match tag.as_str() {
                "Ref" | "Condition" => tag.clone(),
                other => format!("Fn::{other}"),
            };
            Some(Call {
                name,
                written: format!("!{tag}"),
                arg,
                line: node.line,
            })
        }
        Data::Map(entries) => match entries.as_slice() {
            [(k, arg)] if k == "Ref" || k == "Condition" || k.starts_with("Fn::") => Some(Call {
                name: k.clone(),
                written: k.clone(),
                arg,
                line: node.line,
            }),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use crate::tree::load;
    use serde_json::json;

    fn resolve(yaml: &str, pseudo: &Pseudo) -> (Value, Vec<String>) {
        let root = load(yaml).unwrap();
        let params: BTreeSet<String> = ["OrgId".to_owned()].into();
        let resources: BTreeSet<String> = ["Role".to_owned()].into();
        let mut r = Resolver::new(pseudo, &params, &resources);
        let v = r.resolve(root.get("V").unwrap());
        (
            v,
            r.unknowns
                .into_iter()
                .map(|u| format!("{}@{}", u.what, u.line))
                .collect(),
        )
    }

    fn known() -> Pseudo {
        Pseudo {
            account: Some("123456789012".into()),
            region: Some("cn-north-1".into()),
        }
    }

    #[test]
    fn certain_values_resolve() {
        let (v, u) = resolve(
            "V:\n  - !Sub 'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${!Literal}'\n  - !Ref AWS::AccountId\n  - Fn::Join: ['', ['arn:', !Ref AWS::Partition, ':iam::', !Ref AWS::AccountId, ':root']]\n  - !Select [1, [a, b]]\n  - !Sub ['${X}-${AWS::Region}', {X: !Ref AWS::AccountId}]\n",
            &known(),
        );
        assert!(u.is_empty(), "{u:?}");
        assert_eq!(
            v,
            json!([
                "arn:aws-cn:ecr:cn-north-1:123456789012:repository/${Literal}",
                "123456789012",
                "arn:aws-cn:iam::123456789012:root",
                "b",
                "123456789012-cn-north-1"
            ])
        );
    }

    #[test]
    fn uncertain_values_become_tokens() {
        let (v, u) = resolve(
            "V:\n  - !Ref OrgId\n  - !GetAtt Role.Arn\n  - {'Fn::ImportValue': shared}\n  - !Sub 'arn:aws:iam::${AWS::AccountId}:role/${Role}'\n  - !If [IsProd, a, b]\n  - !Join [',', !Ref OrgId]\n",
            &Pseudo::default(),
        );
        assert_eq!(
            u,
            [
                "`!Ref` to parameter `OrgId`@2",
                "`!GetAtt` `Role.Arn`@3",
                "`Fn::ImportValue`@4",
                "`AWS::AccountId` (pass `--account`) in `!Sub`@5",
                "resource `Role` in `!Sub`@5",
                "`!If` on condition `IsProd`@6",
                "`!Join` over a list not known before deployment@7",
            ]
        );
        assert_eq!(v[3], json!(format!("arn:aws:iam::{}:role/{}", token(3), token(4))));
        assert_eq!(v[5], json!(token(6)));
    }
}
