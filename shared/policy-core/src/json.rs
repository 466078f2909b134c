//! Strict JSON reading: serde_json keeps the last of two equal keys, IAM rejects the document.
//! This reads into `serde_json::Value` and fails on the first duplicate key, naming where it is.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Where a value sits in the document; enough to name the statement of a duplicate key.
#[derive(Clone, Copy)]
enum Place {
    Root,
    /// Directly under the top-level `Statement` key (an object or the array itself).
    Statement,
    /// Inside statement number `n`.
    InStatement(usize),
    Other,
}

#[derive(Clone, Copy)]
struct Strict(Place);

impl Strict {
    fn child_for_key(self, key: &str) -> Place {
        match self.0 {
            Place::Root if key == "Statement" => Place::Statement,
            Place::Statement => Place::InStatement(0),
            Place::InStatement(n) => Place::InStatement(n),
            _ => Place::Other,
        }
    }

    fn child_for_index(self, index: usize) -> Place {
        match self.0 {
            Place::Statement => Place::InStatement(index),
            Place::InStatement(n) => Place::InStatement(n),
            _ => Place::Other,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("invalid number `{v}`")))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(Strict(self.child_for_index(out.len())))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Strict(self.child_for_key(&key)))?;
            if out.contains_key(&key) {
                let msg = match self.0 {
                    Place::InStatement(n) => format!("statement {n}: duplicate key `{key}`"),
                    Place::Statement => format!("statement 0: duplicate key `{key}`"),
                    _ => format!("duplicate key `{key}`"),
                };
                return Err(de::Error::custom(msg));
            }
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// Parses JSON text, rejecting duplicate object keys anywhere in the document.
pub fn parse_strict(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict(Place::Root).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_key_in_statement_names_statement_and_key() {
        // Given a second statement with two Effect keys
        let text = r#"{"Statement":[{"Effect":"Allow","Action":"*"},{"Effect":"Allow","Effect":"Deny"}]}"#;
        // Then the error names statement 1 and the key
        let err = parse_strict(text).unwrap_err().to_string();
        assert!(err.contains("statement 1: duplicate key `Effect`"), "{err}");
    }

    #[test]
    fn duplicate_key_deep_in_condition_names_statement() {
        let text = r#"{"Statement":{"Condition":{"StringEquals":{"a":"1","a":"2"}}}}"#;
        let err = parse_strict(text).unwrap_err().to_string();
        assert!(err.contains("statement 0: duplicate key `a`"), "{err}");
    }

    #[test]
    fn top_level_duplicate() {
        let err = parse_strict(r#"{"Version":"2012-10-17","Version":"2008-10-17"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("duplicate key `Version`"), "{err}");
    }

    #[test]
    fn same_value_as_serde_json() {
        let text = r#"{"a":[1,2.5,-3,true,null,"x"],"b":{"c":{}}}"#;
        assert_eq!(
            parse_strict(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn trailing_garbage_rejected() {
        assert!(parse_strict("{} x").is_err());
    }
}
