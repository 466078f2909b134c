//! The policy document as written: every element keeps its one-vs-many shape and unknown keys
//! are carried through, so an unmodified document serialises back to the same JSON value.

use crate::{
    condition::Operator,
    error::ParseError,
    json,
    limits::{check_size, SizeError},
};
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

/// A value that IAM accepts either alone or in an array; the shape is kept for serialisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OneOrMany<T> {
    /// Written as a bare value
    One(T),
    /// Written as an array (possibly of one)
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// Iterates the values in document order
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        match self {
            OneOrMany::One(v) => std::slice::from_ref(v).iter(),
            OneOrMany::Many(v) => v.iter(),
        }
    }

    /// Number of values
    pub fn len(&self) -> usize {
        match self {
            OneOrMany::One(_) => 1,
            OneOrMany::Many(v) => v.len(),
        }
    }

    /// True when written as an empty array
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the values for which `keep` is true; the shape stays an array when it was one
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        match self {
            OneOrMany::One(v) => {
                if !keep(v) {
                    *self = OneOrMany::Many(Vec::new());
                }
            }
            OneOrMany::Many(v) => v.retain(keep),
        }
    }

    /// Appends a value; a bare value becomes an array
    pub fn push(&mut self, value: T) {
        match std::mem::replace(self, OneOrMany::Many(Vec::new())) {
            OneOrMany::One(first) => *self = OneOrMany::Many(vec![first, value]),
            OneOrMany::Many(mut v) => {
                v.push(value);
                *self = OneOrMany::Many(v);
            }
        }
    }

    /// Values as a vector
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v],
            OneOrMany::Many(v) => v,
        }
    }

    /// A canonical shape for new values: bare when one, array otherwise
    pub fn from_vec(mut values: Vec<T>) -> Self {
        if values.len() == 1 {
            if let Some(v) = values.pop() {
                return OneOrMany::One(v);
            }
        }
        OneOrMany::Many(values)
    }
}

/// The policy language version
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// `2008-10-17`: policy variables are literal text
    V2008,
    /// `2012-10-17`: policy variables are substituted
    V2012,
}

impl Version {
    /// The text written in the document
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2008 => "2008-10-17",
            Version::V2012 => "2012-10-17",
        }
    }
}

/// Allow or Deny
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Effect {
    /// `Allow`
    Allow,
    /// `Deny`
    Deny,
}

impl Effect {
    /// The text written in the document
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// The kinds of principal map entries IAM knows
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrincipalKind {
    /// `AWS`: accounts, users, roles, sessions, unique ids
    Aws,
    /// `Service`: AWS service principals
    Service,
    /// `Federated`: identity providers
    Federated,
    /// `CanonicalUser`: S3 canonical ids
    CanonicalUser,
}

impl PrincipalKind {
    /// The key written in the document
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Aws => "AWS",
            PrincipalKind::Service => "Service",
            PrincipalKind::Federated => "Federated",
            PrincipalKind::CanonicalUser => "CanonicalUser",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "AWS" => PrincipalKind::Aws,
            "Service" => PrincipalKind::Service,
            "Federated" => PrincipalKind::Federated,
            "CanonicalUser" => PrincipalKind::CanonicalUser,
            _ => return None,
        })
    }
}

/// The value of `Principal` / `NotPrincipal`
#[derive(Clone, Debug, PartialEq)]
pub enum Principal {
    /// The bare string `"*"`
    Any,
    /// A map of kind to ids; ids are opaque strings (account ids, ARNs, unique ids), never rewritten
    Map(BTreeMap<PrincipalKind, OneOrMany<String>>),
}

/// `Principal` or `NotPrincipal`
#[derive(Clone, Debug, PartialEq)]
pub struct PrincipalBlock {
    /// True for `NotPrincipal`
    pub negated: bool,
    /// The principals
    pub principal: Principal,
}

/// `Action`/`NotAction` or `Resource`/`NotResource`
#[derive(Clone, Debug, PartialEq)]
pub struct ListBlock {
    /// True for the `Not` form
    pub negated: bool,
    /// The patterns
    pub values: OneOrMany<String>,
}

/// A condition value: IAM accepts strings, numbers and booleans and compares them as text
#[derive(Clone, Debug, PartialEq)]
pub enum ConditionValue {
    /// A JSON string
    String(String),
    /// A JSON boolean
    Bool(bool),
    /// A JSON number, kept as written
    Number(Number),
}

impl ConditionValue {
    /// The value as IAM compares it
    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            ConditionValue::String(s) => std::borrow::Cow::Borrowed(s),
            ConditionValue::Bool(b) => std::borrow::Cow::Borrowed(if *b { "true" } else { "false" }),
            ConditionValue::Number(n) => std::borrow::Cow::Owned(n.to_string()),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            ConditionValue::String(s) => Value::String(s.clone()),
            ConditionValue::Bool(b) => Value::Bool(*b),
            ConditionValue::Number(n) => Value::Number(n.clone()),
        }
    }
}

/// One condition key under an operator, with its values (ORed)
#[derive(Clone, Debug, PartialEq)]
pub struct ConditionKey {
    /// The key as written (compared case-insensitively)
    pub key: String,
    /// The values
    pub values: OneOrMany<ConditionValue>,
}

/// One operator of a `Condition` block and its keys (ANDed)
#[derive(Clone, Debug, PartialEq)]
pub struct ConditionEntry {
    /// The operator name as written
    pub raw: String,
    /// The parsed operator, `None` when IAM does not know it
    pub operator: Option<Operator>,
    /// The keys in document order
    pub keys: Vec<ConditionKey>,
}

/// A statement
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// `Sid`, any characters
    pub sid: Option<String>,
    /// `Effect`
    pub effect: Effect,
    /// `Principal` or `NotPrincipal`
    pub principal: Option<PrincipalBlock>,
    /// `Action` or `NotAction`
    pub action: ListBlock,
    /// `Resource` or `NotResource`; absent in a repository policy means that repository
    pub resource: Option<ListBlock>,
    /// `Condition` entries in document order, `None` when absent
    pub condition: Option<Vec<ConditionEntry>>,
    /// Keys IAM does not define, kept verbatim
    pub extra: Map<String, Value>,
}

/// A policy document
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// `Version`, `None` when absent (variables then stay literal)
    pub version: Option<Version>,
    /// `Id`
    pub id: Option<String>,
    /// The statements
    pub statements: Vec<Statement>,
    /// True when `Statement` was a single object rather than an array
    pub single_statement: bool,
    /// Keys IAM does not define, kept verbatim
    pub extra: Map<String, Value>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

struct Ctx<'a> {
    index: usize,
    sid: Option<&'a str>,
}

impl Ctx<'_> {
    fn err(&self, detail: impl std::fmt::Display) -> ParseError {
        match self.sid {
            Some(sid) => ParseError::Invalid(format!("statement {} (`{sid}`): {detail}", self.index)),
            None => ParseError::Invalid(format!("statement {}: {detail}", self.index)),
        }
    }
}

fn strings(ctx: &Ctx, key: &str, v: Value) -> Result<OneOrMany<String>, ParseError> {
    match v {
        Value::String(s) => Ok(OneOrMany::One(s)),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(ctx.err(format_args!(
                    "`{key}` values must be strings, found {}",
                    type_name(&other)
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(OneOrMany::Many),
        other => Err(ctx.err(format_args!(
            "`{key}` must be a string or an array, found {}",
            type_name(&other)
        ))),
    }
}

fn principal(ctx: &Ctx, key: &str, v: Value) -> Result<Principal, ParseError> {
    match v {
        Value::String(s) if s == "*" => Ok(Principal::Any),
        Value::String(s) => Err(ctx.err(format_args!("`{key}` must be `*` or a map, found `{s}`"))),
        Value::Object(map) => {
            let mut out = BTreeMap::new();
            for (kind, ids) in map {
                let k = PrincipalKind::parse(&kind)
                    .ok_or_else(|| ctx.err(format_args!("unsupported principal kind `{kind}` in `{key}`")))?;
                out.insert(k, strings(ctx, &kind, ids)?);
            }
            Ok(Principal::Map(out))
        }
        other => Err(ctx.err(format_args!(
            "`{key}` must be `*` or a map, found {}",
            type_name(&other)
        ))),
    }
}

fn condition_value(ctx: &Ctx, op: &str, key: &str, v: Value) -> Result<ConditionValue, ParseError> {
    match v {
        Value::String(s) => Ok(ConditionValue::String(s)),
        Value::Bool(b) => Ok(ConditionValue::Bool(b)),
        Value::Number(n) => Ok(ConditionValue::Number(n)),
        other => Err(ctx.err(format_args!(
            "condition `{op}` key `{key}`: values must be strings, numbers or booleans, found {}",
            type_name(&other)
        ))),
    }
}

fn conditions(ctx: &Ctx, v: Value) -> Result<Vec<ConditionEntry>, ParseError> {
    let Value::Object(ops) = v else {
        return Err(ctx.err(format_args!("`Condition` must be an object, found {}", type_name(&v))));
    };
    let mut entries = Vec::with_capacity(ops.len());
    for (raw, keys) in ops {
        let Value::Object(keys) = keys else {
            return Err(ctx.err(format_args!(
                "condition `{raw}` must be an object, found {}",
                type_name(&keys)
            )));
        };
        let mut out = Vec::with_capacity(keys.len());
        for (key, values) in keys {
            let values = match values {
                Value::Array(items) => OneOrMany::Many(
                    items
                        .into_iter()
                        .map(|i| condition_value(ctx, &raw, &key, i))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                single => OneOrMany::One(condition_value(ctx, &raw, &key, single)?),
            };
            out.push(ConditionKey { key, values });
        }
        entries.push(ConditionEntry {
            operator: Operator::parse(&raw),
            raw,
            keys: out,
        });
    }
    Ok(entries)
}

fn pick_one(
    ctx: &Ctx,
    positive: Option<Value>,
    negative: Option<Value>,
    pos: &str,
    neg: &str,
) -> Result<Option<(bool, Value)>, ParseError> {
    match (positive, negative) {
        (Some(_), Some(_)) => Err(ctx.err(format_args!("`{pos}` and `{neg}` cannot both be present"))),
        (Some(v), None) => Ok(Some((false, v))),
        (None, Some(v)) => Ok(Some((true, v))),
        (None, None) => Ok(None),
    }
}

impl Statement {
    fn from_value(index: usize, v: Value) -> Result<Statement, ParseError> {
        let Value::Object(map) = v else {
            return Err(ParseError::Invalid(format!(
                "statement {index}: must be an object, found {}",
                type_name(&v)
            )));
        };
        let mut sid = None;
        let mut effect = None;
        let (mut principal_v, mut not_principal_v) = (None, None);
        let (mut action_v, mut not_action_v) = (None, None);
        let (mut resource_v, mut not_resource_v) = (None, None);
        let mut condition_v = None;
        let mut extra = Map::new();
        for (key, value) in map {
            match key.as_str() {
                "Sid" => sid = Some(value),
                "Effect" => effect = Some(value),
                "Principal" => principal_v = Some(value),
                "NotPrincipal" => not_principal_v = Some(value),
                "Action" => action_v = Some(value),
                "NotAction" => not_action_v = Some(value),
                "Resource" => resource_v = Some(value),
                "NotResource" => not_resource_v = Some(value),
                "Condition" => condition_v = Some(value),
                _ => {
                    extra.insert(key, value);
                }
            }
        }
        let sid = match sid {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                return Err(ParseError::Invalid(format!(
                    "statement {index}: `Sid` must be a string, found {}",
                    type_name(&other)
                )))
            }
        };
        let ctx = Ctx {
            index,
            sid: sid.as_deref(),
        };
        let effect = match effect {
            Some(Value::String(s)) if s == "Allow" => Effect::Allow,
            Some(Value::String(s)) if s == "Deny" => Effect::Deny,
            Some(Value::String(s)) => {
                return Err(ctx.err(format_args!("invalid `Effect` value `{s}`: expected `Allow` or `Deny`")))
            }
            Some(other) => return Err(ctx.err(format_args!("`Effect` must be a string, found {}", type_name(&other)))),
            None => return Err(ctx.err("missing `Effect`")),
        };
        let principal = pick_one(&ctx, principal_v, not_principal_v, "Principal", "NotPrincipal")?
            .map(|(negated, v)| {
                let key = if negated { "NotPrincipal" } else { "Principal" };
                principal(&ctx, key, v).map(|principal| PrincipalBlock { negated, principal })
            })
            .transpose()?;
        let action = match pick_one(&ctx, action_v, not_action_v, "Action", "NotAction")? {
            Some((negated, v)) => ListBlock {
                negated,
                values: strings(&ctx, if negated { "NotAction" } else { "Action" }, v)?,
            },
            None => return Err(ctx.err("missing `Action` or `NotAction`")),
        };
        let resource = pick_one(&ctx, resource_v, not_resource_v, "Resource", "NotResource")?
            .map(|(negated, v)| {
                strings(&ctx, if negated { "NotResource" } else { "Resource" }, v)
                    .map(|values| ListBlock { negated, values })
            })
            .transpose()?;
        let condition = condition_v.map(|v| conditions(&ctx, v)).transpose()?;
        Ok(Statement {
            sid,
            effect,
            principal,
            action,
            resource,
            condition,
            extra,
        })
    }

    /// The statement as a JSON value, keys in the conventional order, shapes as parsed
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        if let Some(sid) = &self.sid {
            m.insert("Sid".into(), Value::String(sid.clone()));
        }
        m.insert("Effect".into(), Value::String(self.effect.as_str().into()));
        if let Some(p) = &self.principal {
            let v = match &p.principal {
                Principal::Any => Value::String("*".into()),
                Principal::Map(map) => Value::Object(
                    map.iter()
                        .map(|(k, ids)| (k.as_str().to_owned(), strings_value(ids)))
                        .collect(),
                ),
            };
            m.insert(if p.negated { "NotPrincipal" } else { "Principal" }.into(), v);
        }
        m.insert(
            if self.action.negated { "NotAction" } else { "Action" }.into(),
            strings_value(&self.action.values),
        );
        if let Some(r) = &self.resource {
            m.insert(
                if r.negated { "NotResource" } else { "Resource" }.into(),
                strings_value(&r.values),
            );
        }
        if let Some(entries) = &self.condition {
            let mut ops = Map::new();
            for e in entries {
                let keys = e
                    .keys
                    .iter()
                    .map(|k| {
                        let v = match &k.values {
                            OneOrMany::One(v) => v.to_value(),
                            OneOrMany::Many(vs) => Value::Array(vs.iter().map(ConditionValue::to_value).collect()),
                        };
                        (k.key.clone(), v)
                    })
                    .collect();
                ops.insert(e.raw.clone(), Value::Object(keys));
            }
            m.insert("Condition".into(), Value::Object(ops));
        }
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }

    /// A label for messages: `statement 2 (`AllowPull`)`
    pub fn label(&self, index: usize) -> String {
        match &self.sid {
            Some(sid) => format!("statement {index} (`{sid}`)"),
            None => format!("statement {index}"),
        }
    }
}

fn strings_value(v: &OneOrMany<String>) -> Value {
    match v {
        OneOrMany::One(s) => Value::String(s.clone()),
        OneOrMany::Many(items) => Value::Array(items.iter().cloned().map(Value::String).collect()),
    }
}

impl Policy {
    /// A `2012-10-17` policy without statements, to add statements to
    pub fn empty() -> Policy {
        Policy {
            version: Some(Version::V2012),
            id: None,
            statements: Vec::new(),
            single_statement: false,
            extra: Map::new(),
        }
    }

    /// Parses policy text strictly: duplicate keys, unknown principal kinds, invalid `Effect` and
    /// missing required elements are errors naming the statement and key
    pub fn parse(text: &str) -> Result<Policy, ParseError> {
        let value = json::parse_strict(text).map_err(|e| ParseError::Json(e.to_string()))?;
        Policy::from_value(value)
    }

    /// Builds a policy from an already parsed JSON value (duplicate keys cannot be detected here)
    pub fn from_value(value: Value) -> Result<Policy, ParseError> {
        let Value::Object(map) = value else {
            return Err(ParseError::Invalid(format!(
                "a policy must be a json object, found {}",
                type_name(&value)
            )));
        };
        let mut version = None;
        let mut id = None;
        let mut statement = None;
        let mut extra = Map::new();
        for (key, value) in map {
            match key.as_str() {
                "Version" => {
                    version = Some(match value {
                        Value::String(s) if s == "2012-10-17" => Version::V2012,
                        Value::String(s) if s == "2008-10-17" => Version::V2008,
                        Value::String(s) => {
                            return Err(ParseError::Invalid(format!(
                                "unsupported policy version `{s}`: expected `2012-10-17` or `2008-10-17`"
                            )))
                        }
                        other => {
                            return Err(ParseError::Invalid(format!(
                                "`Version` must be a string, found {}",
                                type_name(&other)
                            )))
                        }
                    })
                }
                "Id" => {
                    id = Some(match value {
                        Value::String(s) => s,
                        other => {
                            return Err(ParseError::Invalid(format!(
                                "`Id` must be a string, found {}",
                                type_name(&other)
                            )))
                        }
                    })
                }
                "Statement" => statement = Some(value),
                _ => {
                    extra.insert(key, value);
                }
            }
        }
        let (statements, single_statement) = match statement {
            None => return Err(ParseError::Invalid("missing `Statement`".into())),
            Some(Value::Array(items)) => (
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| Statement::from_value(i, v))
                    .collect::<Result<Vec<_>, _>>()?,
                false,
            ),
            Some(obj @ Value::Object(_)) => (vec![Statement::from_value(0, obj)?], true),
            Some(other) => {
                return Err(ParseError::Invalid(format!(
                    "`Statement` must be an object or an array, found {}",
                    type_name(&other)
                )))
            }
        };
        Ok(Policy {
            version,
            id,
            statements,
            single_statement,
            extra,
        })
    }

    /// The policy as a JSON value, shapes as parsed
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        if let Some(v) = self.version {
            m.insert("Version".into(), Value::String(v.as_str().into()));
        }
        if let Some(id) = &self.id {
            m.insert("Id".into(), Value::String(id.clone()));
        }
        let statements = match (self.single_statement, self.statements.as_slice()) {
            (true, [only]) => only.to_value(),
            _ => Value::Array(self.statements.iter().map(Statement::to_value).collect()),
        };
        m.insert("Statement".into(), statements);
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }

    /// Compact JSON text, as written to ECR
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    /// Compact JSON text, refused when over ECR's 10,240-character limit
    pub fn to_json_checked(&self) -> Result<String, SizeError> {
        let text = self.to_json();
        check_size(&text)?;
        Ok(text)
    }

    /// True when policy variables are substituted (only under `2012-10-17`)
    pub fn variables_enabled(&self) -> bool {
        self.version == Some(Version::V2012)
    }

    /// Condition operators IAM does not know, as written
    pub fn unknown_operators(&self) -> Vec<&str> {
        self.statements
            .iter()
            .flat_map(|s| s.condition.iter().flatten())
            .filter(|e| e.operator.is_none())
            .map(|e| e.raw.as_str())
            .collect()
    }

    /// `ecr:` action patterns that cover no ECR action in the catalogue
    pub fn unknown_actions(&self) -> Vec<&str> {
        self.statements
            .iter()
            .flat_map(|s| s.action.values.iter())
            .filter(|a| crate::actions::is_unknown_ecr_action(a))
            .map(String::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(v: Value) {
        let p = Policy::parse(&v.to_string()).unwrap();
        assert_eq!(p.to_value(), v);
    }

    #[test]
    fn shapes_are_kept() {
        round_trip(
            json!({"Version":"2008-10-17","Statement":{"Sid":"a b","Effect":"Allow","Principal":"*","Action":"ecr:*"}}),
        );
        round_trip(
            json!({"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["1"]},"NotAction":["ecr:A"],
            "NotResource":"x","Condition":{"NumericLessThan":{"k":[1, 2.5]},"Bool":{"b":true}}}]}),
        );
    }

    #[test]
    fn unknown_keys_are_kept() {
        round_trip(
            json!({"Id":"x","Extra":{"a":1},"Statement":[{"Effect":"Allow","Principal":{"AWS":"1"},"Action":"*","Foo":[1]}]}),
        );
    }

    #[test]
    fn errors_name_statement_and_key() {
        let e = Policy::parse(r#"{"Statement":[{"Sid":"S","Effect":"allow","Action":"*"}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "statement 0 (`S`): invalid `Effect` value `allow`: expected `Allow` or `Deny`"
        );
        let e =
            Policy::parse(r#"{"Statement":[{"Effect":"Allow","Principal":{"Foo":"x"},"Action":"*"}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "statement 0: unsupported principal kind `Foo` in `Principal`"
        );
        let e = Policy::parse(r#"{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"x"}]}"#).unwrap_err();
        assert!(e
            .to_string()
            .contains("`Action` and `NotAction` cannot both be present"));
    }

    #[test]
    fn one_or_many_retain_and_push() {
        let mut v = OneOrMany::One(1);
        v.push(2);
        assert_eq!(v, OneOrMany::Many(vec![1, 2]));
        v.retain(|x| *x == 2);
        assert_eq!(v, OneOrMany::Many(vec![2]));
        let mut w = OneOrMany::One(1);
        w.retain(|_| false);
        assert!(w.is_empty());
    }
}
