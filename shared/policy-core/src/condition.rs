//! Condition operators and their evaluation against a request context.
//!
//! Semantics follow the IAM user guide: operators AND, keys under an operator AND, values of a
//! key OR (for negated operators a request value must match none); a missing key makes positive
//! operators false and negated ones true, `...IfExists` true, `ForAllValues` true and
//! `ForAnyValue` false. Policy variables are substituted in `String*` and `Arn*` values only,
//! and only under `2012-10-17`.

use crate::{
    model::{ConditionEntry, ConditionValue},
    wildcard::{compile, match_tokens, Tok},
};
use std::{collections::BTreeMap, net::IpAddr};

/// `ForAnyValue:` / `ForAllValues:`
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SetQualifier {
    /// At least one request value must match
    ForAnyValue,
    /// Every request value must match (true when there is none)
    ForAllValues,
}

/// The operator without qualifier and `IfExists`
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)]
pub enum BaseOperator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

use BaseOperator as B;

const BASES: &[(&str, BaseOperator)] = &[
    ("StringEquals", B::StringEquals),
    ("StringNotEquals", B::StringNotEquals),
    ("StringEqualsIgnoreCase", B::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", B::StringNotEqualsIgnoreCase),
    ("StringLike", B::StringLike),
    ("StringNotLike", B::StringNotLike),
    ("NumericEquals", B::NumericEquals),
    ("NumericNotEquals", B::NumericNotEquals),
    ("NumericLessThan", B::NumericLessThan),
    ("NumericLessThanEquals", B::NumericLessThanEquals),
    ("NumericGreaterThan", B::NumericGreaterThan),
    ("NumericGreaterThanEquals", B::NumericGreaterThanEquals),
    ("DateEquals", B::DateEquals),
    ("DateNotEquals", B::DateNotEquals),
    ("DateLessThan", B::DateLessThan),
    ("DateLessThanEquals", B::DateLessThanEquals),
    ("DateGreaterThan", B::DateGreaterThan),
    ("DateGreaterThanEquals", B::DateGreaterThanEquals),
    ("Bool", B::Bool),
    ("BinaryEquals", B::BinaryEquals),
    ("IpAddress", B::IpAddress),
    ("NotIpAddress", B::NotIpAddress),
    ("ArnEquals", B::ArnEquals),
    ("ArnLike", B::ArnLike),
    ("ArnNotEquals", B::ArnNotEquals),
    ("ArnNotLike", B::ArnNotLike),
    ("Null", B::Null),
];

impl BaseOperator {
    /// Canonical name
    pub fn as_str(self) -> &'static str {
        BASES
            .iter()
            .find(|(_, b)| *b == self)
            .map(|(n, _)| *n)
            .unwrap_or_default()
    }

    /// True for operators whose values must all fail to match (`StringNotEquals`, `NotIpAddress`, ...)
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            B::StringNotEquals
                | B::StringNotEqualsIgnoreCase
                | B::StringNotLike
                | B::NumericNotEquals
                | B::DateNotEquals
                | B::NotIpAddress
                | B::ArnNotEquals
                | B::ArnNotLike
        )
    }

    /// The operator a negated one negates (itself when positive)
    pub fn positive(self) -> BaseOperator {
        match self {
            B::StringNotEquals => B::StringEquals,
            B::StringNotEqualsIgnoreCase => B::StringEqualsIgnoreCase,
            B::StringNotLike => B::StringLike,
            B::NumericNotEquals => B::NumericEquals,
            B::DateNotEquals => B::DateEquals,
            B::NotIpAddress => B::IpAddress,
            B::ArnNotEquals => B::ArnEquals,
            B::ArnNotLike => B::ArnLike,
            other => other,
        }
    }

    /// Whether policy variables are substituted in this operator's values
    pub fn takes_variables(self) -> bool {
        matches!(
            self.positive(),
            B::StringEquals | B::StringEqualsIgnoreCase | B::StringLike | B::ArnEquals | B::ArnLike
        )
    }
}

/// A condition operator IAM knows
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operator {
    /// `ForAnyValue:` / `ForAllValues:`
    pub set: Option<SetQualifier>,
    /// The base operator
    pub base: BaseOperator,
    /// `...IfExists`
    pub if_exists: bool,
}

impl Operator {
    /// Parses an operator name, ignoring case (corpora write `ARNLike`); `None` when unknown
    pub fn parse(raw: &str) -> Option<Operator> {
        let (set, rest) = match raw.split_once(':') {
            Some((q, rest)) if q.eq_ignore_ascii_case("ForAnyValue") => (Some(SetQualifier::ForAnyValue), rest),
            Some((q, rest)) if q.eq_ignore_ascii_case("ForAllValues") => (Some(SetQualifier::ForAllValues), rest),
            Some(_) => return None,
            None => (None, raw),
        };
        let find = |name: &str| {
            BASES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, b)| *b)
        };
        if let Some(base) = find(rest) {
            return Some(Operator {
                set,
                base,
                if_exists: false,
            });
        }
        let cut = rest.len().checked_sub("IfExists".len())?;
        let (head, tail) = (rest.get(..cut)?, rest.get(cut..)?);
        if !tail.eq_ignore_ascii_case("IfExists") {
            return None;
        }
        // `Null` has no IfExists form.
        let base = find(head).filter(|b| *b != B::Null)?;
        Some(Operator {
            set,
            base,
            if_exists: true,
        })
    }

    /// Canonical spelling, e.g. `ForAnyValue:StringLikeIfExists`
    pub fn canonical(&self) -> String {
        let mut s = String::new();
        match self.set {
            Some(SetQualifier::ForAnyValue) => s.push_str("ForAnyValue:"),
            Some(SetQualifier::ForAllValues) => s.push_str("ForAllValues:"),
            None => {}
        }
        s.push_str(self.base.as_str());
        if self.if_exists {
            s.push_str("IfExists");
        }
        s
    }
}

/// A request context value
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContextValue {
    /// A single-valued key
    Single(String),
    /// A multivalued key (e.g. `aws:TagKeys`)
    Multi(Vec<String>),
}

impl ContextValue {
    fn as_slice(&self) -> &[String] {
        match self {
            ContextValue::Single(s) => std::slice::from_ref(s),
            ContextValue::Multi(v) => v,
        }
    }
}

/// The request context: condition keys (case-insensitive) to values
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    values: BTreeMap<String, ContextValue>,
}

impl Context {
    /// An empty context
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a single-valued key
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.insert(key, ContextValue::Single(value.into()));
        self
    }

    /// Sets a key
    pub fn insert(&mut self, key: &str, value: ContextValue) {
        self.values.insert(key.to_lowercase(), value);
    }

    /// True when the key is set
    pub fn contains(&self, key: &str) -> bool {
        self.values.contains_key(&key.to_lowercase())
    }

    /// Looks a key up, ignoring case
    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        self.values.get(&key.to_lowercase())
    }

    /// A single value usable as a policy variable
    fn variable(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            ContextValue::Single(s) => Some(s),
            ContextValue::Multi(v) if v.len() == 1 => v.first().map(String::as_str),
            ContextValue::Multi(_) => None,
        }
    }
}

/// A policy value after variable substitution: segments from the policy are pattern text,
/// substituted segments are literal (a `*` in a user name is not a wildcard)
pub(crate) enum Resolved<'a> {
    Plain(std::borrow::Cow<'a, str>),
    Parts(Vec<(bool, String)>),
}

impl Resolved<'_> {
    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Resolved::Plain(s) => std::borrow::Cow::Borrowed(s),
            Resolved::Parts(p) => std::borrow::Cow::Owned(p.iter().map(|(_, s)| s.as_str()).collect()),
        }
    }

    pub(crate) fn tokens(&self, out: &mut Vec<Tok>) {
        match self {
            Resolved::Plain(s) => compile(s, out),
            Resolved::Parts(parts) => {
                for (literal, s) in parts {
                    if *literal {
                        out.extend(s.chars().map(Tok::Lit));
                    } else {
                        compile(s, out);
                    }
                }
            }
        }
    }
}

/// One piece of a value that may hold policy variables
pub(crate) enum Piece<'a> {
    /// Text as written
    Text(&'a str),
    /// The inside of a `${...}`
    Variable(&'a str),
}

/// Splits a value into text and `${...}` variables; an unterminated `${` is plain text
pub(crate) fn pieces(raw: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        let (before, after) = rest.split_at(start);
        let after = after.get(2..).unwrap_or_default();
        let Some(end) = after.find('}') else { break };
        if !before.is_empty() {
            out.push(Piece::Text(before));
        }
        out.push(Piece::Variable(after.get(..end).unwrap_or_default()));
        rest = after.get(end + 1..).unwrap_or_default();
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// A variable's key and its default (`${key, 'default'}`)
pub(crate) fn key_and_default(inner: &str) -> (&str, Option<&str>) {
    match inner.split_once(',') {
        Some((k, d)) => {
            let d = d.trim();
            (
                k.trim(),
                Some(d.strip_prefix('\'').and_then(|d| d.strip_suffix('\'')).unwrap_or(d)),
            )
        }
        None => (inner.trim(), None),
    }
}

/// Substitutes `${key}`, `${key, 'default'}` and the escapes `${*}`, `${?}`, `${$}`.
/// `None` when a variable has no value and no default: the value then matches nothing.
pub(crate) fn substitute<'a>(raw: &'a str, ctx: &Context) -> Option<Resolved<'a>> {
    if !raw.contains("${") {
        return Some(Resolved::Plain(std::borrow::Cow::Borrowed(raw)));
    }
    let mut parts: Vec<(bool, String)> = Vec::new();
    for piece in pieces(raw) {
        match piece {
            Piece::Text(t) => parts.push((false, t.to_owned())),
            Piece::Variable(inner @ ("*" | "?" | "$")) => parts.push((true, inner.to_owned())),
            Piece::Variable(inner) => {
                let (key, default) = key_and_default(inner);
                parts.push((true, ctx.variable(key).or(default)?.to_owned()));
            }
        }
    }
    Some(Resolved::Parts(parts))
}

/// Seconds since the epoch (with fraction) from ISO 8601 (`2020-04-01`, `2020-04-01T00:00:00Z`,
/// `2020-04-01T00:00:00.5+02:00`) or from epoch seconds, as IAM's `Date*` operators accept
pub fn parse_date(s: &str) -> Option<f64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<f64>().ok();
    }
    let num = |a: usize, b: usize| -> Option<i64> {
        let t = s.get(a..b)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    if s.get(4..5)? != "-" || s.get(7..8)? != "-" || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let mut secs = (days * 86_400) as f64;
    let rest = s.get(10..)?;
    if rest.is_empty() {
        return Some(secs);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (h, mi, sec) = (
        rest.get(0..2)?.parse::<i64>().ok()?,
        rest.get(3..5)?.parse::<i64>().ok()?,
        rest.get(6..8)?.parse::<i64>().ok()?,
    );
    if rest.get(2..3)? != ":" || rest.get(5..6)? != ":" || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    secs += (h * 3600 + mi * 60 + sec) as f64;
    let mut tail = rest.get(8..)?;
    if let Some(frac) = tail.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let f = frac.get(..digits)?;
        secs += format!("0.{f}").parse::<f64>().ok()?;
        tail = frac.get(digits..)?;
    }
    match tail {
        "" | "Z" | "z" => Some(secs),
        _ => {
            let sign = match tail.get(..1)? {
                "+" => -1.0,
                "-" => 1.0,
                _ => return None,
            };
            let (oh, om) = (
                tail.get(1..3)?.parse::<i64>().ok()?,
                tail.get(tail.len() - 2..)?.parse::<i64>().ok()?,
            );
            Some(secs + sign * (oh * 3600 + om * 60) as f64)
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match s.trim().split_once('/') {
        Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<u8>().ok()?)),
        None => (s.trim().parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((addr, bits))
}

fn ip_in(ip: IpAddr, (net, bits): (IpAddr, u8)) -> bool {
    fn mask(bits: u8, width: u32) -> u128 {
        if bits == 0 {
            0
        } else {
            (u128::MAX << (width - u32::from(bits))) & (u128::MAX >> (128 - width))
        }
    }
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = mask(bits, 32);
            (u128::from(u32::from(a)) & m) == (u128::from(u32::from(n)) & m)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = mask(bits, 128);
            (u128::from(a) & m) == (u128::from(n) & m)
        }
        // An IPv4 request address against an IPv4-mapped IPv6 range, and the reverse.
        (IpAddr::V4(a), IpAddr::V6(_)) => ip_in(IpAddr::V6(a.to_ipv6_mapped()), (net, bits)),
        (IpAddr::V6(a), IpAddr::V4(_)) => match a.to_ipv4_mapped() {
            Some(v4) => ip_in(IpAddr::V4(v4), (net, bits)),
            None => false,
        },
    }
}

/// Splits an ARN into its six components; the resource part keeps any further colons
pub fn arn_parts(s: &str) -> Option<[&str; 6]> {
    let mut it = s.splitn(6, ':');
    let parts = [it.next()?, it.next()?, it.next()?, it.next()?, it.next()?, it.next()?];
    Some(parts)
}

fn arn_like(pattern: &Resolved, value: &str) -> bool {
    // Each of the six components is matched on its own, so a `*` cannot swallow colons.
    let Some(vals) = arn_parts(value) else { return false };
    match pattern {
        Resolved::Plain(p) => match arn_parts(p) {
            Some(pats) => pats
                .iter()
                .zip(vals.iter())
                .all(|(p, v)| crate::wildcard::wildcard_match(p, v, false)),
            None => false,
        },
        Resolved::Parts(_) => {
            // Substituted literal text may itself contain colons: split the token stream.
            let mut toks = Vec::new();
            pattern.tokens(&mut toks);
            let mut comps: Vec<Vec<Tok>> = vec![Vec::new()];
            for t in toks {
                match (t, comps.len()) {
                    (Tok::Lit(':'), n) if n < 6 => comps.push(Vec::new()),
                    (t, _) => {
                        if let Some(last) = comps.last_mut() {
                            last.push(t);
                        }
                    }
                }
            }
            comps.len() == 6 && comps.iter().zip(vals.iter()).all(|(p, v)| match_tokens(p, v, false))
        }
    }
}

fn number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Whether one request value matches one (resolved) policy value under the positive form of
/// the operator
fn value_matches(base: BaseOperator, policy: &Resolved, request: &str) -> bool {
    let p = policy.text();
    match base.positive() {
        B::StringEquals => p == request,
        B::StringEqualsIgnoreCase => p.to_lowercase() == request.to_lowercase(),
        B::StringLike => {
            let mut toks = Vec::new();
            policy.tokens(&mut toks);
            match_tokens(&toks, request, false)
        }
        B::NumericEquals
        | B::NumericLessThan
        | B::NumericLessThanEquals
        | B::NumericGreaterThan
        | B::NumericGreaterThanEquals => compare(base, number(request), number(&p)),
        B::DateEquals | B::DateLessThan | B::DateLessThanEquals | B::DateGreaterThan | B::DateGreaterThanEquals => {
            compare(base, parse_date(request), parse_date(&p))
        }
        B::Bool => p.eq_ignore_ascii_case(request.trim()),
        B::BinaryEquals => p == request,
        B::IpAddress => match (request.trim().parse::<IpAddr>(), parse_cidr(&p)) {
            (Ok(ip), Some(net)) => ip_in(ip, net),
            _ => false,
        },
        B::ArnEquals | B::ArnLike => arn_like(policy, request),
        // Null is decided on presence, before values are compared.
        _ => false,
    }
}

fn compare(base: BaseOperator, request: Option<f64>, policy: Option<f64>) -> bool {
    let (Some(r), Some(p)) = (request, policy) else {
        return false;
    };
    match base.positive() {
        B::NumericEquals | B::DateEquals => r == p,
        B::NumericLessThan | B::DateLessThan => r < p,
        B::NumericLessThanEquals | B::DateLessThanEquals => r <= p,
        B::NumericGreaterThan | B::DateGreaterThan => r > p,
        B::NumericGreaterThanEquals | B::DateGreaterThanEquals => r >= p,
        _ => false,
    }
}

/// Evaluates one operator's key against the context
pub fn evaluate_key(op: Operator, key: &str, values: &[ConditionValue], ctx: &Context, variables: bool) -> bool {
    let present = ctx.get(key).map(ContextValue::as_slice).filter(|v| !v.is_empty());
    if op.base == B::Null {
        // "true": the key must be absent; "false": present. Values OR.
        return values.iter().any(|v| match v.as_text().to_ascii_lowercase().as_str() {
            "true" => present.is_none(),
            "false" => present.is_some(),
            _ => false,
        });
    }
    let Some(request) = present else {
        return op.if_exists
            || match op.set {
                Some(SetQualifier::ForAllValues) => true,
                Some(SetQualifier::ForAnyValue) => false,
                None => op.base.is_negated(),
            };
    };
    let use_vars = variables && op.base.takes_variables();
    let resolved: Vec<Resolved> = values
        .iter()
        .filter_map(|v| match v {
            ConditionValue::String(s) if use_vars => substitute(s, ctx),
            other => Some(Resolved::Plain(std::borrow::Cow::Owned(other.as_text().into_owned()))),
        })
        .collect();
    // Whether a request value matches the operator: for negated operators, no policy value may match.
    let one = |r: &String| {
        let hit = resolved.iter().any(|p| value_matches(op.base, p, r));
        hit != op.base.is_negated()
    };
    match op.set {
        Some(SetQualifier::ForAllValues) => request.iter().all(one),
        Some(SetQualifier::ForAnyValue) => request.iter().any(one),
        // A single-valued operator on several request values: positive needs one match, negated
        // needs every value to miss.
        None if op.base.is_negated() => request.iter().all(one),
        None => request.iter().any(one),
    }
}

/// Evaluates a whole `Condition` block; `Err(operator)` when an operator is unknown
pub fn evaluate_block<'a>(entries: &'a [ConditionEntry], ctx: &Context, variables: bool) -> Result<bool, &'a str> {
    let mut result = true;
    for e in entries {
        let Some(op) = e.operator else { return Err(&e.raw) };
        // Keep scanning after a false so an unknown operator anywhere is still reported.
        if result {
            result = e.keys.iter().all(|k| {
                let slice = match &k.values {
                    crate::model::OneOrMany::One(v) => std::slice::from_ref(v),
                    crate::model::OneOrMany::Many(v) => v.as_slice(),
                };
                evaluate_key(op, &k.key, slice, ctx, variables)
            });
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cv(s: &str) -> ConditionValue {
        ConditionValue::String(s.into())
    }

    #[test]
    fn operator_names() {
        let op = Operator::parse("forAnyValue:arnlikeifexists").unwrap();
        assert_eq!(op.canonical(), "ForAnyValue:ArnLikeIfExists");
        assert!(Operator::parse("NullIfExists").is_none());
        assert!(Operator::parse("ForAnyValues:StringEquals").is_none());
        assert!(Operator::parse("StringEqualz").is_none());
        assert!(Operator::parse("IfExists").is_none());
        assert_eq!(Operator::parse("ARNLike").unwrap().base, B::ArnLike);
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_date("1970-01-02"), Some(86_400.0));
        assert_eq!(parse_date("2020-04-01T00:00:00Z"), Some(1_585_699_200.0));
        assert_eq!(parse_date("1585699200"), Some(1_585_699_200.0));
        assert_eq!(parse_date("2020-04-01T02:00:00+02:00"), Some(1_585_699_200.0));
        assert_eq!(parse_date("2020-04-01T00:00:00.5Z"), Some(1_585_699_200.5));
        assert_eq!(parse_date("2020-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn ip_ranges() {
        let ctx = Context::new().with("aws:SourceIp", "203.0.113.7");
        let op = Operator::parse("IpAddress").unwrap();
        assert!(evaluate_key(op, "aws:sourceip", &[cv("203.0.113.0/24")], &ctx, true));
        assert!(!evaluate_key(op, "aws:sourceip", &[cv("203.0.114.0/24")], &ctx, true));
        assert!(evaluate_key(op, "aws:sourceip", &[cv("0.0.0.0/0")], &ctx, true));
        assert!(evaluate_key(op, "aws:sourceip", &[cv("203.0.113.7")], &ctx, true));
        let v6 = Context::new().with("aws:SourceIp", "2001:db8::1");
        assert!(evaluate_key(op, "aws:SourceIp", &[cv("2001:db8::/32")], &v6, true));
        assert!(!evaluate_key(op, "aws:SourceIp", &[cv("203.0.113.0/24")], &v6, true));
    }

    #[test]
    fn arn_like_is_per_component() {
        let ctx = Context::new().with(
            "aws:SourceArn",
            "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt",
        );
        let pattern = [cv("arn:aws:someservice:*:111122223333:finance/*")];
        assert!(evaluate_key(
            Operator::parse("StringLike").unwrap(),
            "aws:SourceArn",
            &pattern,
            &ctx,
            true
        ));
        assert!(!evaluate_key(
            Operator::parse("ArnLike").unwrap(),
            "aws:SourceArn",
            &pattern,
            &ctx,
            true
        ));
    }

    #[test]
    fn variables_are_literal_and_gated() {
        let ctx = Context::new().with("aws:username", "Bob*");
        let like = Operator::parse("StringLike").unwrap();
        let ctx2 = ctx.clone().with("k", "testBobTwo");
        assert!(!evaluate_key(like, "k", &[cv("test${aws:username}")], &ctx2, true));
        let ctx3 = ctx.clone().with("k", "testBob*");
        assert!(evaluate_key(like, "k", &[cv("test${aws:username}")], &ctx3, true));
        // Not substituted without 2012-10-17
        assert!(!evaluate_key(like, "k", &[cv("test${aws:username}")], &ctx3, false));
        let esc = Context::new().with("k", "a*b");
        assert!(evaluate_key(like, "k", &[cv("a${*}b")], &esc, true));
        assert!(!evaluate_key(
            like,
            "k",
            &[cv("a${*}b")],
            &Context::new().with("k", "axb"),
            true
        ));
        let def = Context::new().with("k", "company-wide");
        let eq = Operator::parse("StringEquals").unwrap();
        assert!(evaluate_key(
            eq,
            "k",
            &[cv("${aws:PrincipalTag/team, 'company-wide'}")],
            &def,
            true
        ));
        let neq = Operator::parse("StringNotEquals").unwrap();
        assert!(!evaluate_key(eq, "k", &[cv("${aws:nothing}")], &def, true));
        assert!(evaluate_key(neq, "k", &[cv("${aws:nothing}")], &def, true));
    }

    #[test]
    fn missing_keys_and_sets() {
        let empty = Context::new();
        let p = |s: &str| Operator::parse(s).unwrap();
        assert!(!evaluate_key(p("StringEquals"), "k", &[cv("a")], &empty, true));
        assert!(evaluate_key(p("StringNotEquals"), "k", &[cv("a")], &empty, true));
        assert!(evaluate_key(p("StringEqualsIfExists"), "k", &[cv("a")], &empty, true));
        assert!(evaluate_key(
            p("ForAllValues:StringEquals"),
            "k",
            &[cv("a")],
            &empty,
            true
        ));
        assert!(!evaluate_key(
            p("ForAnyValue:StringEquals"),
            "k",
            &[cv("a")],
            &empty,
            true
        ));
        assert!(evaluate_key(p("Null"), "k", &[cv("true")], &empty, true));
        assert!(!evaluate_key(
            p("Null"),
            "k",
            &[ConditionValue::Bool(false)],
            &empty,
            true
        ));
        let mut multi = Context::new();
        multi.insert("aws:TagKeys", ContextValue::Multi(vec!["a".into(), "b".into()]));
        assert!(!evaluate_key(
            p("ForAllValues:StringEquals"),
            "aws:tagkeys",
            &[cv("a")],
            &multi,
            true
        ));
        assert!(evaluate_key(
            p("ForAllValues:StringEquals"),
            "aws:tagkeys",
            &[cv("a"), cv("b")],
            &multi,
            true
        ));
        assert!(evaluate_key(
            p("ForAnyValue:StringEquals"),
            "aws:tagkeys",
            &[cv("b")],
            &multi,
            true
        ));
        assert!(!evaluate_key(
            p("ForAllValues:StringNotEquals"),
            "aws:tagkeys",
            &[cv("b")],
            &multi,
            true
        ));
        assert!(evaluate_key(
            p("ForAllValues:StringNotEquals"),
            "aws:tagkeys",
            &[cv("c")],
            &multi,
            true
        ));
    }
}
