//! The guard's configuration: one JSON document (see config/example.json). Parsing and
//! validation are pure; reading it from the environment is the adapter's job.

use crate::{
    actions::ActionClass,
    error::ParseError,
    guard::{review_registry_policy, review_repository_policy, GuardContext, Review, Rule},
    model::Policy,
    wildcard::covers,
};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// `enforce` writes, `report` only logs what it would write
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Write the planned changes
    Enforce,
    /// Write nothing, report what would change (the default: roll out in report mode first)
    #[default]
    Report,
}

impl Mode {
    /// Lowercase name, as config and logs write it
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Report => "report",
        }
    }
}

/// `mode`: one mode for every rule, or a map from rule name (and `default`) to mode
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Modes {
    /// The mode of rules the map does not name (`report` unless set)
    pub default: Mode,
    /// Rules with their own mode
    pub rules: BTreeMap<Rule, Mode>,
}

impl Modes {
    /// The same mode for every rule
    pub fn all(mode: Mode) -> Modes {
        Modes {
            default: mode,
            rules: BTreeMap::new(),
        }
    }

    /// The mode of one rule
    pub fn of(&self, rule: Rule) -> Mode {
        self.rules.get(&rule).copied().unwrap_or(self.default)
    }

    /// True when some rule is enforced
    pub fn any_enforced(&self) -> bool {
        self.default == Mode::Enforce || self.rules.values().any(|m| *m == Mode::Enforce)
    }

    /// `enforce`, `report`, or `mixed`, for summaries
    pub fn label(&self) -> &'static str {
        if self.rules.values().all(|m| *m == self.default) {
            self.default.as_str()
        } else {
            "mixed"
        }
    }
}

impl<'de> Deserialize<'de> for Modes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(Mode),
            PerRule(BTreeMap<String, Mode>),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "`mode` must be `enforce`, `report`, or a map from rule name (or `default`) to one of them",
            )
        })? {
            Raw::One(m) => Ok(Modes::all(m)),
            Raw::PerRule(map) => {
                let mut modes = Modes::default();
                for (name, mode) in map {
                    if name == "default" {
                        modes.default = mode;
                        continue;
                    }
                    let rule = Rule::from_name(&name).ok_or_else(|| {
                        let known: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
                        serde::de::Error::custom(format!(
                            "unknown rule `{name}` in `mode` (rules: {}, and `default`)",
                            known.join(", ")
                        ))
                    })?;
                    modes.rules.insert(rule, mode);
                }
                Ok(modes)
            }
        }
    }
}

/// What enforcement does with a trusted service that may act for any account (the finding
/// `service-unpinned` is reported in every case)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnpinnedServices {
    /// Keep the grant (the default: AWS's own Lambda statement is written this way)
    #[default]
    Keep,
    /// Add an own-account source condition the service sends
    Pin,
    /// Remove the service principal
    Remove,
}

/// Access a trusted account or the organisation may be granted (admin never)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantClass {
    /// Pull and read
    Pull,
    /// Pull and push
    Push,
}

impl GrantClass {
    /// The action class this allows at most
    pub fn ceiling(self) -> ActionClass {
        match self {
            GrantClass::Pull => ActionClass::Pull,
            GrantClass::Push => ActionClass::Push,
        }
    }
}

fn default_org_access() -> GrantClass {
    GrantClass::Pull
}

fn default_services() -> Vec<String> {
    vec!["lambda.amazonaws.com".into(), "codebuild.amazonaws.com".into()]
}

fn default_true() -> bool {
    true
}

fn default_prefix() -> String {
    "*".into()
}

/// A baseline policy for repositories whose name matches a glob
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Glob on the repository name (`*`, `?`), case-sensitive like repository names
    #[serde(rename = "match")]
    pub pattern: String,
    /// The policy; `${AccountId}`, `${Region}`, `${RepositoryName}` and `${Partition}` are filled in
    pub policy: Value,
}

/// The guard configuration
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    /// `enforce` or `report` (default) for every rule, or per rule
    #[serde(default)]
    pub mode: Modes,
    /// The organisation whose members may be granted `org_access`
    #[serde(default)]
    pub org_id: Option<String>,
    /// What organisation-wide grants may reach (default `pull`)
    #[serde(default = "default_org_access")]
    pub org_access: GrantClass,
    /// Other accounts that may be granted access, with the most they may get
    #[serde(default)]
    pub trusted_accounts: BTreeMap<String, GrantClass>,
    /// Service principals that may be granted access; `*` trusts every service
    #[serde(default = "default_services")]
    pub trusted_services: Vec<String>,
    /// What enforcement does with a trusted service pinned to no account
    #[serde(default)]
    pub unpinned_services: UnpinnedServices,
    /// Accounts allowed to replicate into this registry
    #[serde(default)]
    pub replication_sources: Vec<String>,
    /// Also grant `ecr:CreateRepository` to replication sources (default true)
    #[serde(default = "default_true")]
    pub replication_create_repository: bool,
    /// Repository name prefix pattern replication grants cover (default `*`)
    #[serde(default = "default_prefix")]
    pub replication_repository_prefix: String,
    /// Baselines, first match wins
    #[serde(default)]
    pub baselines: Vec<Baseline>,
    /// Globs of repository names the guard never touches
    #[serde(default)]
    pub exempt_repositories: Vec<String>,
    /// Statements the registry policy always holds; placeholders `${AccountId}`, `${Region}`,
    /// `${Partition}`
    #[serde(default)]
    pub registry_baseline: Option<Value>,
    /// Approved exceptions: grants kept on purpose until an end date
    #[serde(default)]
    pub exceptions: Vec<crate::exception::Exception>,
    /// Keep a repository creation template for each baseline whose glob is a namespace
    /// (`team/*`, or `*` for `ROOT`), so repositories ECR creates start with the baseline
    #[serde(default)]
    pub baseline_templates: bool,
    /// Send every finding as a custom event to the account's default EventBridge bus (default
    /// true: an event no rule matches costs nothing and changes nothing)
    #[serde(default = "default_true")]
    pub finding_events: bool,
    /// Import findings into Security Hub (ASFF, the account's default product)
    #[serde(default)]
    pub security_hub: bool,
    /// An SNS topic for chat notifications (Amazon Q Developer in chat applications)
    #[serde(default)]
    pub notify_topic_arn: Option<String>,
    /// Central mode: the role the guard assumes in each member account, a role ARN pattern
    /// with `${AccountId}` (and `${Partition}`) filled per account; none: this registry only
    #[serde(default)]
    pub member_role: Option<String>,
    /// Central mode: the accounts guarded and swept (default `organization`: every active
    /// account AWS Organizations lists)
    #[serde(default)]
    pub accounts: Option<Accounts>,
    /// Central mode: accounts never acted on (events skipped, left out of the sweep)
    #[serde(default)]
    pub exclude_accounts: Vec<String>,
    /// Central mode: the Regions the organisation sweep covers (default: the central stack's)
    #[serde(default)]
    pub regions: Vec<String>,
}

/// Which accounts a central guard covers
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accounts {
    /// These accounts
    Listed(Vec<String>),
    /// Every active account AWS Organizations lists (`"organization"`)
    Organization,
}

impl<'de> Deserialize<'de> for Accounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Listed(Vec<String>),
            Word(String),
        }
        let bad = || serde::de::Error::custom("`accounts` must be a list of account ids or `organization`");
        match Raw::deserialize(d).map_err(|_| bad())? {
            Raw::Listed(ids) => Ok(Accounts::Listed(ids)),
            Raw::Word(w) if w == "organization" => Ok(Accounts::Organization),
            Raw::Word(_) => Err(bad()),
        }
    }
}

/// The member role of one account: `${AccountId}` and `${Partition}` filled in
pub fn member_role_arn(pattern: &str, account: &str, partition: &str) -> String {
    pattern
        .replace("${AccountId}", account)
        .replace("${Partition}", partition)
}

/// True for a Region name such as `eu-west-1` or `us-gov-west-1`
pub fn is_region(s: &str) -> bool {
    let mut parts = s.split('-');
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && rest.len() >= 2
        && rest
            .last()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && rest
            .iter()
            .rev()
            .skip(1)
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

/// Why a member role pattern cannot name a role, if it cannot
fn member_role_problem(pattern: &str) -> Option<String> {
    if !pattern.contains("${AccountId}") {
        return Some("must contain `${AccountId}`: each account's role is assumed in that account".into());
    }
    let arn = member_role_arn(pattern, PROBE_ACCOUNT, "aws");
    if arn.contains("${") {
        return Some("only `${AccountId}` and `${Partition}` are filled in".into());
    }
    let Some(role) = arn
        .strip_prefix("arn:")
        .and_then(|r| r.split_once(":iam::000000000000:role/"))
        .filter(|(partition, _)| partition.starts_with("aws"))
        .map(|(_, role)| role)
    else {
        return Some(
            "must be an IAM role ARN such as `arn:${Partition}:iam::${AccountId}:role/ecr-policy-guard-member`".into(),
        );
    };
    // IAM: a role name is 1 to 64 of `[A-Za-z0-9+=,.@_-]`; a path is printable ASCII between slashes.
    let (path, name) = role.rsplit_once('/').unwrap_or(("", role));
    let name_ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    let path_ok = path.split('/').all(|p| p.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    (!name_ok || !path_ok).then(|| {
        format!("`{role}` is not a role name (1 to 64 of letters, digits and `+=,.@_-`, after an optional path)")
    })
}

/// A configuration that cannot be used; the message names the field
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not JSON, or a field of the wrong type or name
    #[error("invalid config: {0}")]
    Syntax(String),
    /// A field whose value is not acceptable
    #[error("invalid config field `{field}`: {problem}")]
    Field {
        /// The field path, e.g. `baselines[0].policy`
        field: String,
        /// What is wrong
        problem: String,
    },
}

fn field(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

/// True for a 12-digit account id
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// True for a standard SNS topic ARN: `arn:PARTITION:sns:REGION:ACCOUNT:NAME`, the name 1 to 256
/// letters, digits, hyphens and underscores (SNS's `CreateTopic` rule). FIFO topics (`.fifo`)
/// are refused: chat applications take standard topics, and a FIFO publish needs a group id.
pub fn is_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", partition, "sns", region, account, name] => {
            partition.starts_with("aws")
                && !region.is_empty()
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && is_account_id(account)
                && (1..=256).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        _ => false,
    }
}

/// Every id a valid account id, or an error naming the element
fn check_accounts(name: &str, ids: &[String]) -> Result<(), ConfigError> {
    for (i, id) in ids.iter().enumerate() {
        if !is_account_id(id) {
            return Err(field(
                format!("{name}[{i}]"),
                format!("`{id}` is not a 12-digit account id"),
            ));
        }
    }
    Ok(())
}

/// The placeholder account baselines are checked with: the real one is only known per event,
/// and a baseline may only name the own account through `${AccountId}`
const PROBE_ACCOUNT: &str = "000000000000";

impl GuardConfig {
    /// Parses and validates a config document
    pub fn parse(text: &str) -> Result<GuardConfig, ConfigError> {
        let config: GuardConfig = serde_json::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every field, including that each baseline passes the guard rules itself
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(org) = &self.org_id {
            let ok = org.strip_prefix("o-").is_some_and(|rest| {
                (10..=32).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
            if !ok {
                return Err(field(
                    "org_id",
                    format!("`{org}` is not an organization id (`o-` and 10 to 32 characters)"),
                ));
            }
        }
        for id in self.trusted_accounts.keys() {
            if !is_account_id(id) {
                return Err(field(
                    format!("trusted_accounts.{id}"),
                    format!("`{id}` is not a 12-digit account id"),
                ));
            }
        }
        for (i, id) in self.replication_sources.iter().enumerate() {
            if !is_account_id(id) {
                return Err(field(
                    format!("replication_sources[{i}]"),
                    format!("`{id}` is not a 12-digit account id"),
                ));
            }
        }
        if self.replication_repository_prefix.is_empty() {
            return Err(field(
                "replication_repository_prefix",
                "must not be empty (use `*` for every repository)",
            ));
        }
        for (i, s) in self.trusted_services.iter().enumerate() {
            if s.is_empty() || (s.contains('*') && s != "*") {
                return Err(field(
                    format!("trusted_services[{i}]"),
                    format!("`{s}` is not a service principal"),
                ));
            }
        }
        for (i, b) in self.baselines.iter().enumerate() {
            let name = format!("baselines[{i}]");
            if b.pattern.is_empty() {
                return Err(field(format!("{name}.match"), "must not be empty"));
            }
            self.validate_baseline(&format!("{name}.policy"), &b.policy, review_repository_policy)?;
        }
        if let Some(policy) = &self.registry_baseline {
            if policy.to_string().contains("${RepositoryName}") {
                return Err(field(
                    "registry_baseline",
                    "`${RepositoryName}` has no value in a registry policy",
                ));
            }
            self.validate_baseline("registry_baseline", policy, review_registry_policy)?;
        }
        for (i, x) in self.exceptions.iter().enumerate() {
            x.validate()
                .map_err(|problem| field(format!("exceptions[{i}]"), problem))?;
        }
        for (i, g) in self.exempt_repositories.iter().enumerate() {
            if g.is_empty() {
                return Err(field(format!("exempt_repositories[{i}]"), "must not be empty"));
            }
        }
        if let Some(arn) = &self.notify_topic_arn {
            if !is_topic_arn(arn) {
                return Err(field(
                    "notify_topic_arn",
                    format!("`{arn}` is not an SNS topic ARN (`arn:PARTITION:sns:REGION:ACCOUNT:NAME`)"),
                ));
            }
        }
        self.validate_central()
    }

    /// The central-mode fields: a member role that names a role, account ids, Region names, and
    /// none of them without `member_role`
    fn validate_central(&self) -> Result<(), ConfigError> {
        if let Some(pattern) = &self.member_role {
            if let Some(problem) = member_role_problem(pattern) {
                return Err(field("member_role", format!("`{pattern}` {problem}")));
            }
            // Security Hub API reference, BatchImportFindings: under the default product the
            // caller's account must be the finding's `AwsAccountId`.
            if self.security_hub {
                return Err(field(
                    "security_hub",
                    "cannot be on in central mode: Security Hub takes a finding of the account's default product only from that account, and the central functions run in another (use `finding_events`, or per-account stacks)",
                ));
            }
        } else {
            let set = [
                ("accounts", self.accounts.is_some()),
                ("exclude_accounts", !self.exclude_accounts.is_empty()),
                ("regions", !self.regions.is_empty()),
            ];
            if let Some((name, _)) = set.iter().find(|(_, on)| *on) {
                return Err(field(*name, "is for central mode: set `member_role` too"));
            }
        }
        if let Some(Accounts::Listed(ids)) = &self.accounts {
            if ids.is_empty() {
                return Err(field(
                    "accounts",
                    "must name at least one account (or be `organization`)",
                ));
            }
            check_accounts("accounts", ids)?;
        }
        check_accounts("exclude_accounts", &self.exclude_accounts)?;
        for (i, r) in self.regions.iter().enumerate() {
            if !is_region(r) {
                return Err(field(format!("regions[{i}]"), format!("`{r}` is not a Region name")));
            }
        }
        Ok(())
    }

    /// True when this config guards other accounts through `member_role`
    pub fn is_central(&self) -> bool {
        self.member_role.is_some()
    }

    /// Whether a central guard acts on this account, and why not when it does not
    pub fn account_scope(&self, account: &str) -> Result<(), String> {
        if self.exclude_accounts.iter().any(|a| a == account) {
            return Err(format!("account `{account}` is in `exclude_accounts`"));
        }
        match &self.accounts {
            Some(Accounts::Listed(ids)) if !ids.iter().any(|a| a == account) => {
                Err(format!("account `{account}` is not in `accounts`"))
            }
            _ => Ok(()),
        }
    }

    /// A baseline must render, merge by unique Sids, use known operators, pass the guard rules
    /// unchanged, and fit ECR's size limit
    fn validate_baseline(
        &self,
        name: &str,
        value: &Value,
        review: fn(&Policy, &GuardContext) -> Review,
    ) -> Result<(), ConfigError> {
        let policy = render_baseline(value, PROBE_ACCOUNT, "us-east-1", "aws", "probe")
            .map_err(|e| field(name, e.to_string()))?;
        let mut sids = BTreeSet::new();
        for (j, s) in policy.statements.iter().enumerate() {
            match &s.sid {
                None => {
                    return Err(field(
                        name,
                        format!("statement {j} needs a `Sid`: baselines merge by Sid"),
                    ))
                }
                Some(sid) if !sids.insert(sid.clone()) => return Err(field(name, format!("duplicate Sid `{sid}`"))),
                Some(_) => {}
            }
        }
        if let Some(op) = policy.unknown_operators().first() {
            return Err(field(name, format!("unknown condition operator `{op}`")));
        }
        // Judged as if every rule were enforced: a baseline the guard would change is wrong
        // whatever the rules' modes.
        let mut strict = self.clone();
        strict.mode = Modes::all(Mode::Enforce);
        let ctx = GuardContext::new(&strict, PROBE_ACCOUNT, "us-east-1", "aws");
        let review = review(&policy, &ctx);
        if let Some(r) = review.findings.iter().find(|f| f.disposition.changes()) {
            return Err(field(
                name,
                format!(
                    "the guard rules would change {}: {} ({})",
                    r.label,
                    r.reason,
                    r.rule.as_str()
                ),
            ));
        }
        policy.to_json_checked().map_err(|e| field(name, e.to_string()))?;
        Ok(())
    }

    /// The mode of one rule
    pub fn rule_mode(&self, rule: Rule) -> Mode {
        self.mode.of(rule)
    }

    /// The first baseline whose glob matches the repository name
    pub fn baseline_for(&self, repository: &str) -> Option<&Baseline> {
        self.baselines
            .iter()
            .find(|b| crate::wildcard::wildcard_match(&b.pattern, repository, false))
    }

    /// True when the guard must leave the repository alone
    pub fn is_exempt(&self, repository: &str) -> bool {
        self.exempt_repositories
            .iter()
            .any(|g| crate::wildcard::wildcard_match(g, repository, false))
    }

    /// True when every repository name the pattern can match is exempt (a registry statement's
    /// `repository/...` pattern, a creation template's namespace)
    pub fn is_exempt_pattern(&self, pattern: &str) -> bool {
        self.exempt_repositories.iter().any(|g| covers(g, pattern))
    }

    /// The most a trusted account may be granted
    pub fn trusted_ceiling(&self, account: &str) -> Option<ActionClass> {
        self.trusted_accounts.get(account).map(|c| c.ceiling())
    }

    /// True for a service principal the config trusts
    pub fn trusts_service(&self, name: &str) -> bool {
        self.trusted_services
            .iter()
            .any(|s| s == "*" || s.eq_ignore_ascii_case(name))
    }

    /// True when `trusted_services` holds `*`: every service may be granted access
    pub fn trusts_every_service(&self) -> bool {
        self.trusted_services.iter().any(|s| s == "*")
    }
}

fn fill(v: &Value, subs: &[(&str, &str)]) -> Value {
    match v {
        Value::String(s) => {
            let mut out = s.clone();
            for (k, val) in subs {
                if out.contains(k) {
                    out = out.replace(k, val);
                }
            }
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, subs)).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), fill(x, subs))).collect()),
        other => other.clone(),
    }
}

/// The baseline for one repository: placeholders filled, parsed. Only the four guard
/// placeholders are replaced; IAM policy variables such as `${aws:username}` are left alone.
pub fn render_baseline(
    policy: &Value,
    account: &str,
    region: &str,
    partition: &str,
    repository: &str,
) -> Result<Policy, ParseError> {
    let filled = fill(
        policy,
        &[
            ("${AccountId}", account),
            ("${Region}", region),
            ("${Partition}", partition),
            ("${RepositoryName}", repository),
        ],
    );
    Policy::from_value(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = GuardConfig::parse("{}").unwrap();
        assert_eq!(c.mode, Modes::all(Mode::Report));
        assert_eq!(c.unpinned_services, UnpinnedServices::Keep);
        assert_eq!(c.org_access, GrantClass::Pull);
        assert!(c.trusts_service("Lambda.amazonaws.com"));
        assert!(c.replication_create_repository);
        assert_eq!(c.replication_repository_prefix, "*");
    }

    #[test]
    fn errors_name_the_field() {
        let e = GuardConfig::parse(r#"{"trusted_accounts":{"12345":"pull"}}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "invalid config field `trusted_accounts.12345`: `12345` is not a 12-digit account id"
        );
        let e = GuardConfig::parse(r#"{"trusted_accounts":{"111122223333":"admin"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `admin`"), "{e}");
        let e = GuardConfig::parse(r#"{"mode":"enforce","colour":"blue"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `colour`"), "{e}");
        let e = GuardConfig::parse(r#"{"org_id":"o-*"}"#).unwrap_err().to_string();
        assert!(e.starts_with("invalid config field `org_id`"), "{e}");
    }

    #[test]
    fn findings_outlets() {
        let c = GuardConfig::parse("{}").unwrap();
        assert!(c.finding_events && !c.security_hub && c.notify_topic_arn.is_none());
        let c = GuardConfig::parse(
            r#"{"finding_events":false,"security_hub":true,"notify_topic_arn":"arn:aws:sns:eu-west-1:111122223333:ecr-guard_chat"}"#,
        )
        .unwrap();
        assert!(!c.finding_events && c.security_hub);
        for bad in [
            "arn:aws:sqs:eu-west-1:111122223333:q",
            "arn:aws:sns:eu-west-1:1111:topic",
            "arn:aws:sns:eu-west-1:111122223333:chat.fifo",
            "arn:aws:sns:eu-west-1:111122223333:",
            "topic",
        ] {
            let e = GuardConfig::parse(&format!(r#"{{"notify_topic_arn":"{bad}"}}"#))
                .unwrap_err()
                .to_string();
            assert_eq!(
                e,
                format!("invalid config field `notify_topic_arn`: `{bad}` is not an SNS topic ARN (`arn:PARTITION:sns:REGION:ACCOUNT:NAME`)")
            );
        }
        let e = GuardConfig::parse(r#"{"security_hub":"yes"}"#).unwrap_err().to_string();
        assert!(e.contains("invalid type"), "{e}");
    }

    #[test]
    fn baseline_rejected_by_guard_rules_is_a_config_error() {
        let public = r#"{"baselines":[{"match":"*","policy":{"Version":"2012-10-17","Statement":[
            {"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}}]}"#;
        let e = GuardConfig::parse(public).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid config field `baselines[0].policy`: the guard rules would change"),
            "{e}"
        );
        let no_sid = r#"{"baselines":[{"match":"*","policy":{"Statement":[
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${AccountId}:root"},"Action":"ecr:*"}]}}]}"#;
        assert!(GuardConfig::parse(no_sid)
            .unwrap_err()
            .to_string()
            .contains("needs a `Sid`"));
        let own = r#"{"baselines":[{"match":"team-*","policy":{"Statement":[
            {"Sid":"Own","Effect":"Allow","Principal":{"AWS":"arn:${Partition}:iam::${AccountId}:root"},"Action":"ecr:*"}]}}]}"#;
        let c = GuardConfig::parse(own).unwrap();
        assert!(c.baseline_for("team-a").is_some());
        assert!(c.baseline_for("other").is_none());
    }

    #[test]
    fn modes_per_rule_and_their_errors() {
        let c = GuardConfig::parse(r#"{"mode":{"public":"enforce"}}"#).unwrap();
        assert_eq!(c.rule_mode(Rule::Public), Mode::Enforce);
        assert_eq!(c.rule_mode(Rule::ForeignAccount), Mode::Report);
        assert_eq!(c.mode.label(), "mixed");
        let c = GuardConfig::parse(r#"{"mode":{"default":"enforce","service-unpinned":"report"}}"#).unwrap();
        assert_eq!(c.rule_mode(Rule::Baseline), Mode::Enforce);
        assert_eq!(c.rule_mode(Rule::ServiceUnpinned), Mode::Report);
        let e = GuardConfig::parse(r#"{"mode":{"publik":"enforce"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown rule `publik` in `mode`"), "{e}");
        let e = GuardConfig::parse(r#"{"mode":"sometimes"}"#).unwrap_err().to_string();
        assert!(e.contains("`mode` must be `enforce`, `report`, or a map"), "{e}");
        let e = GuardConfig::parse(r#"{"unpinned_services":"ignore"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `ignore`"), "{e}");
    }

    #[test]
    fn registry_baseline_is_judged_at_load() {
        let ok = r#"{"org_id":"o-a1b2c3d4e5","registry_baseline":{"Version":"2012-10-17","Statement":[{"Sid":"OrgPull","Effect":"Allow",
            "Principal":"*","Action":"ecr:BatchGetImage","Resource":"arn:${Partition}:ecr:${Region}:${AccountId}:repository/*",
            "Condition":{"StringEquals":{"aws:PrincipalOrgID":"${aws:ResourceOrgID}"}}}]}}"#;
        assert!(GuardConfig::parse(ok).is_ok());
        let public = ok.replace(
            r#""StringEquals":{"aws:PrincipalOrgID":"${aws:ResourceOrgID}"}"#,
            r#""Bool":{"aws:SecureTransport":"true"}"#,
        );
        let e = GuardConfig::parse(&public).unwrap_err().to_string();
        assert!(e.starts_with("invalid config field `registry_baseline`: the guard rules would change statement 0 (`OrgPull`): grants `pull` to anyone"), "{e}");
        let named = ok.replace("repository/*", "repository/${RepositoryName}");
        let e = GuardConfig::parse(&named).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid config field `registry_baseline`: `${RepositoryName}` has no value in a registry policy"
        );
        let no_sid = ok.replace(r#""Sid":"OrgPull","#, "");
        assert!(GuardConfig::parse(&no_sid)
            .unwrap_err()
            .to_string()
            .contains("needs a `Sid`"));
    }

    #[test]
    fn trusted_services_take_star_alone() {
        assert!(GuardConfig::parse(r#"{"trusted_services":["*"]}"#)
            .unwrap()
            .trusts_every_service());
        let e = GuardConfig::parse(r#"{"trusted_services":["*.amazonaws.com"]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`*.amazonaws.com` is not a service principal"), "{e}");
    }

    #[test]
    fn central_mode_fields() {
        let c = GuardConfig::parse(
            r#"{"member_role":"arn:${Partition}:iam::${AccountId}:role/guard/ecr-policy-guard-member",
            "accounts":["111111111111","222222222222"],"exclude_accounts":["222222222222"],"regions":["eu-west-1","us-gov-west-1"]}"#,
        )
        .unwrap();
        assert!(c.is_central());
        assert_eq!(
            member_role_arn(c.member_role.as_deref().unwrap(), "111111111111", "aws-cn"),
            "arn:aws-cn:iam::111111111111:role/guard/ecr-policy-guard-member"
        );
        assert_eq!(c.account_scope("111111111111"), Ok(()));
        assert_eq!(
            c.account_scope("222222222222").unwrap_err(),
            "account `222222222222` is in `exclude_accounts`"
        );
        assert_eq!(
            c.account_scope("333333333333").unwrap_err(),
            "account `333333333333` is not in `accounts`"
        );
        let org = GuardConfig::parse(r#"{"member_role":"arn:aws:iam::${AccountId}:role/m","accounts":"organization"}"#)
            .unwrap();
        assert_eq!(org.accounts, Some(Accounts::Organization));
        assert_eq!(org.account_scope("333333333333"), Ok(()));
        let err = |text: &str| GuardConfig::parse(text).unwrap_err().to_string();
        assert_eq!(
            err(r#"{"member_role":"arn:aws:iam::111111111111:role/m"}"#),
            "invalid config field `member_role`: `arn:aws:iam::111111111111:role/m` must contain `${AccountId}`: each account's role is assumed in that account"
        );
        assert!(err(r#"{"member_role":"arn:aws:iam::${AccountId}:user/m"}"#).contains("must be an IAM role ARN"));
        assert!(err(r#"{"member_role":"arn:aws:iam::${AccountId}:role/${Region}"}"#)
            .contains("only `${AccountId}` and `${Partition}`"));
        assert!(err(r#"{"member_role":"arn:aws:iam::${AccountId}:role/a b"}"#).contains("`a b` is not a role name"));
        assert_eq!(
            err(r#"{"member_role":"arn:aws:iam::${AccountId}:role/m","security_hub":true}"#),
            "invalid config field `security_hub`: cannot be on in central mode: Security Hub takes a finding of the account's default product only from that account, and the central functions run in another (use `finding_events`, or per-account stacks)"
        );
        assert_eq!(
            err(r#"{"regions":["eu-west-1"]}"#),
            "invalid config field `regions`: is for central mode: set `member_role` too"
        );
        let central = |extra: &str| {
            err(&format!(
                r#"{{"member_role":"arn:aws:iam::${{AccountId}}:role/m",{extra}}}"#
            ))
        };
        assert_eq!(
            central(r#""regions":["eu-west"]"#),
            "invalid config field `regions[0]`: `eu-west` is not a Region name"
        );
        assert_eq!(
            central(r#""accounts":["1234"]"#),
            "invalid config field `accounts[0]`: `1234` is not a 12-digit account id"
        );
        assert!(
            central(r#""accounts":"everyone""#).contains("`accounts` must be a list of account ids or `organization`")
        );
        assert!(central(r#""accounts":[]"#).contains("must name at least one account"));
        assert!(central(r#""exclude_accounts":["x"]"#).contains("`exclude_accounts[0]`"));
    }

    #[test]
    fn render_fills_only_guard_placeholders() {
        let v: Value = serde_json::from_str(
            r#"{"Statement":{"Sid":"S","Effect":"Allow","Principal":{"AWS":"arn:${Partition}:iam::${AccountId}:root"},
            "Action":"ecr:*","Resource":"arn:aws:ecr:${Region}:${AccountId}:repository/${RepositoryName}/${aws:username}"}}"#,
        )
        .unwrap();
        let p = render_baseline(&v, "123456789012", "eu-west-1", "aws", "app").unwrap();
        let text = p.to_json();
        assert!(text.contains("arn:aws:iam::123456789012:root"));
        assert!(text.contains("arn:aws:ecr:eu-west-1:123456789012:repository/app/${aws:username}"));
    }
}
