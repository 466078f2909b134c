//! YAML or JSON read into a small tree that keeps each node's line, for findings that point at
//! a line of a template.
//!
//! Why a YAML parser with spans (saphyr) rather than searching the text for a key: a template
//! holds the same keys many times (`Statement`, `Effect`), keys can be quoted or in flow style,
//! and a JSON template is YAML too; the parser knows which node sits where. saphyr also keeps
//! user tags (`!Sub`, `!GetAtt`), which serde-based YAML readers reject or drop.

use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};
use serde_json::{Map, Number, Value};

/// One node and the line (1-based) it starts on
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Line in the file, from 1
    pub line: usize,
    /// The value
    pub data: Data,
}

/// What a node holds
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// `null`, `~` or nothing
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer
    Int(i64),
    /// A floating point number
    Float(f64),
    /// A string
    Str(String),
    /// A sequence
    Seq(Vec<Node>),
    /// A mapping, in file order (keys as strings)
    Map(Vec<(String, Node)>),
    /// A node with a local tag, `!Sub` -> `Sub`
    Tag(String, Box<Node>),
}

impl Node {
    /// The value under `key` of a mapping
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.data {
            Data::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, when the node is one
    pub fn as_str(&self) -> Option<&str> {
        match &self.data {
            Data::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items, when the node is a sequence
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.data {
            Data::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The entries, when the node is a mapping
    pub fn as_map(&self) -> Option<&[(String, Node)]> {
        match &self.data {
            Data::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The node as plain JSON (a tag keeps only its content: callers that care look first)
    pub fn to_json(&self) -> Value {
        match &self.data {
            Data::Null => Value::Null,
            Data::Bool(b) => Value::Bool(*b),
            Data::Int(i) => Value::Number((*i).into()),
            Data::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Data::Str(s) => Value::String(s.clone()),
            Data::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Data::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect::<Map<_, _>>(),
            ),
            Data::Tag(_, inner) => inner.to_json(),
        }
    }
}

/// Text that is neither JSON nor YAML, or YAML this reader does not take
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// Starts like JSON but is not
    #[error("invalid json: {0}")]
    Json(String),
    /// Not YAML
    #[error("invalid yaml: {0}")]
    Yaml(String),
    /// More or fewer than one document
    #[error("expected one yaml document, found {0}")]
    Documents(usize),
    /// A scalar YAML could not resolve (`!!int foo`)
    #[error("line {0}: a value that is not valid for its tag")]
    BadValue(usize),
}

/// Reads JSON or YAML. JSON is checked as JSON first, so its errors read as JSON errors.
pub fn load(text: &str) -> Result<Node, TreeError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let owned;
    let yaml_text = if text.trim_start().starts_with(['{', '[']) {
        serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| TreeError::Json(e.to_string()))?;
        // Valid JSON has no raw tab inside a string, so every tab is layout; YAML refuses tabs
        // as indentation, and spaces mean the same here.
        owned = text.replace('\t', " ");
        owned.as_str()
    } else {
        text
    };
    let mut docs = MarkedYamlOwned::load_from_str(yaml_text).map_err(|e| TreeError::Yaml(e.to_string()))?;
    if docs.len() != 1 {
        return Err(TreeError::Documents(docs.len()));
    }
    match docs.pop() {
        Some(doc) => convert(&doc, 1),
        None => Err(TreeError::Documents(0)),
    }
}

fn convert(node: &MarkedYamlOwned, parent_line: usize) -> Result<Node, TreeError> {
    // saphyr leaves the span of a tagged scalar empty (line 0): it sits on its tag's line.
    let line = match node.span.start.line() {
        0 => parent_line,
        l => l,
    };
    let data = match &node.data {
        YamlDataOwned::Value(ScalarOwned::Null) => Data::Null,
        YamlDataOwned::Value(ScalarOwned::Boolean(b)) => Data::Bool(*b),
        YamlDataOwned::Value(ScalarOwned::Integer(i)) => Data::Int(*i),
        YamlDataOwned::Value(ScalarOwned::FloatingPoint(f)) => Data::Float(f.into_inner()),
        YamlDataOwned::Value(ScalarOwned::String(s)) => Data::Str(s.clone()),
        YamlDataOwned::Representation(s, _, _) => Data::Str(s.clone()),
        YamlDataOwned::Sequence(items) => Data::Seq(items.iter().map(|n| convert(n, line)).collect::<Result<_, _>>()?),
        YamlDataOwned::Mapping(entries) => Data::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((key_text(k), convert(v, line)?)))
                .collect::<Result<_, TreeError>>()?,
        ),
        YamlDataOwned::Tagged(tag, inner) => Data::Tag(tag.suffix.clone(), Box::new(convert(inner, line)?)),
        // The loader resolves aliases to their anchors' values; what is left is malformed.
        YamlDataOwned::Alias(_) | YamlDataOwned::BadValue => return Err(TreeError::BadValue(line)),
    };
    Ok(Node { line, data })
}

fn key_text(key: &MarkedYamlOwned) -> String {
    match &key.data {
        YamlDataOwned::Value(ScalarOwned::String(s)) => s.clone(),
        YamlDataOwned::Value(ScalarOwned::Integer(i)) => i.to_string(),
        YamlDataOwned::Value(ScalarOwned::Boolean(b)) => b.to_string(),
        YamlDataOwned::Value(ScalarOwned::FloatingPoint(f)) => f.to_string(),
        YamlDataOwned::Value(ScalarOwned::Null) => "null".to_owned(),
        YamlDataOwned::Representation(s, _, _) => s.clone(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn yaml_with_short_form_tags_keeps_lines() {
        let t = load("\n# c\nA:\n  B: !Sub '${AWS::Region}'\n  C: !GetAtt X.Arn\n  D: [1, 2012-10-17]\n").unwrap();
        let b = t.get("A").unwrap().get("B").unwrap();
        assert_eq!(b.line, 4);
        assert!(
            matches!(&b.data, Data::Tag(t, inner) if t == "Sub" && inner.as_str() == Some("${AWS::Region}") && inner.line == 4)
        );
        let d = t.get("A").unwrap().get("D").unwrap().as_seq().unwrap();
        assert_eq!(
            d[1].as_str(),
            Some("2012-10-17"),
            "yaml 1.2: a date-like scalar is a string"
        );
    }

    #[test]
    fn json_with_tabs_and_leading_blank_lines() {
        let t = load("\n\n{\n\t\"a\": {\n\t\t\"b\": [true, 1.5]\n\t}\n}\n").unwrap();
        assert_eq!(t.get("a").unwrap().line, 4);
        assert_eq!(t.to_json(), serde_json::json!({"a": {"b": [true, 1.5]}}));
        assert!(load("{\"a\": }").unwrap_err().to_string().starts_with("invalid json: "));
        assert!(load("a: [1\n").unwrap_err().to_string().starts_with("invalid yaml: "));
        assert_eq!(
            load("a: 1\n---\nb: 2\n").unwrap_err().to_string(),
            "expected one yaml document, found 2"
        );
    }
}
