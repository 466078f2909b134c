//! Decoding EventBridge events into what the guard acts on. Only names are taken from an event:
//! the decision is always made from live state, since events arrive late, twice or out of order.
//!
//! The envelope is `aws_lambda_events`' [`EventBridgeEvent`]; its detail is one of the narrow
//! structs below, chosen by `detail-type`. They hold only the fields the guard reads, each one
//! optional, so a field the guard needs and does not find gets the guard's own message, and a
//! field it does not read is never checked. (They derive `Serialize` only because
//! `EventBridgeEvent` asks for it.)

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;

/// An event that cannot be an ECR event we know: never retried
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed event: {0}")]
pub struct EventError(pub String);

/// What happened, as far as the guard cares
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuardEvent {
    /// A repository was created: CloudTrail `CreateRepository` (no error) as an API call or as an
    /// ECR service event, or a successful `ECR Pull Through Cache Action`
    RepositoryCreated {
        /// Its name
        repository: String,
    },
    /// A repository policy was set or deleted
    RepositoryPolicyChanged {
        /// The repository
        repository: String,
        /// `SetRepositoryPolicy` or `DeleteRepositoryPolicy`
        event_name: String,
    },
    /// The registry policy was put or deleted
    RegistryPolicyChanged {
        /// `PutRegistryPolicy` or `DeleteRegistryPolicy`
        event_name: String,
    },
    /// Replication from another account into this registry failed
    ReplicationFailed {
        /// The source account
        source_account: String,
        /// The repository, when the event names it
        repository: Option<String>,
    },
    /// A repository creation template was created or updated (its policy seeds every repository
    /// ECR creates under the prefix)
    CreationTemplateChanged {
        /// The template's prefix (`ROOT` for the catch-all template)
        prefix: String,
    },
}

impl GuardEvent {
    /// Short kind name for outcomes and logs
    pub fn kind(&self) -> &'static str {
        match self {
            GuardEvent::RepositoryCreated { .. } => "repository-created",
            GuardEvent::RepositoryPolicyChanged { .. } => "repository-policy-changed",
            GuardEvent::RegistryPolicyChanged { .. } => "registry-policy-changed",
            GuardEvent::ReplicationFailed { .. } => "replication-failed",
            GuardEvent::CreationTemplateChanged { .. } => "creation-template-changed",
        }
    }
}

/// The event source of everything ECR sends to EventBridge
pub const ECR_SOURCE: &str = "aws.ecr";
/// The detail-type of a CloudTrail record of an API call
pub const API_CALL: &str = "AWS API Call via CloudTrail";
/// The detail-type of a CloudTrail record of something a service did itself (how ECR announces
/// a repository it created for a pull through cache rule)
pub const SERVICE_EVENT: &str = "AWS Service Event via CloudTrail";
/// The native ECR detail-type behind the `replication-failed` kind (with `result: FAILED`)
pub const REPLICATION_DETAIL_TYPE: &str = "ECR Replication Action";
/// The native ECR detail-type of a pull through cache sync (a `repository-created` trigger with
/// `sync-status: SUCCESS`)
pub const PULL_THROUGH_CACHE_DETAIL_TYPE: &str = "ECR Pull Through Cache Action";

/// A CloudTrail record that decodes to an event kind
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloudTrailEvent {
    /// The kind it decodes to
    pub kind: &'static str,
    /// [`API_CALL`] or [`SERVICE_EVENT`]
    pub detail_type: &'static str,
    /// `eventName`
    pub event_name: &'static str,
    /// Whether the call must have failed (`errorCode` present) or must not have
    pub failed: bool,
}

const fn ct(kind: &'static str, detail_type: &'static str, event_name: &'static str, failed: bool) -> CloudTrailEvent {
    CloudTrailEvent {
        kind,
        detail_type,
        event_name,
        failed,
    }
}

/// Every CloudTrail record [`decode`] turns into an event (any other is skipped). The template's
/// EventBridge rules are checked against this table (tests/template.rs).
pub const CLOUDTRAIL_EVENTS: &[CloudTrailEvent] = &[
    ct("repository-created", API_CALL, "CreateRepository", false),
    ct("repository-created", SERVICE_EVENT, "CreateRepository", false),
    ct("repository-policy-changed", API_CALL, "SetRepositoryPolicy", false),
    ct("repository-policy-changed", API_CALL, "DeleteRepositoryPolicy", false),
    ct("registry-policy-changed", API_CALL, "PutRegistryPolicy", false),
    ct("registry-policy-changed", API_CALL, "DeleteRegistryPolicy", false),
    ct("replication-failed", API_CALL, "ReplicateImage", true),
    ct("replication-failed", API_CALL, "CreateRepository", true),
    ct(
        "creation-template-changed",
        API_CALL,
        "CreateRepositoryCreationTemplate",
        false,
    ),
    ct(
        "creation-template-changed",
        API_CALL,
        "UpdateRepositoryCreationTemplate",
        false,
    ),
    // A deleted template the guard keeps (`baseline_templates`) is created again.
    ct(
        "creation-template-changed",
        API_CALL,
        "DeleteRepositoryCreationTemplate",
        false,
    ),
];

/// A native ECR event that decodes to an event kind when one detail field has one value
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NativeEvent {
    /// The kind it decodes to
    pub kind: &'static str,
    /// The detail-type
    pub detail_type: &'static str,
    /// The detail field that decides
    pub field: &'static str,
    /// Its value for an event (any other value is skipped)
    pub value: &'static str,
}

/// Every native ECR event [`decode`] turns into an event (checked against the template too)
pub const NATIVE_EVENTS: &[NativeEvent] = &[
    NativeEvent {
        kind: "replication-failed",
        detail_type: REPLICATION_DETAIL_TYPE,
        field: "result",
        value: "FAILED",
    },
    NativeEvent {
        kind: "repository-created",
        detail_type: PULL_THROUGH_CACHE_DETAIL_TYPE,
        field: "sync-status",
        value: "SUCCESS",
    },
];

/// The CloudTrail record in `detail`, API call or service event: the fields the guard reads
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CloudTrailDetail {
    /// `ecr.amazonaws.com` for ECR
    pub event_source: Option<String>,
    /// The API action
    pub event_name: Option<String>,
    /// Who made the call
    pub user_identity: Option<UserIdentity>,
    /// The call's parameters (`null` in service events)
    pub request_parameters: Option<RequestParameters>,
    /// The call's response
    pub response_elements: Option<ResponseElements>,
    /// What a service event is about
    pub service_event_details: Option<ServiceEventDetails>,
    /// Present when the call failed
    pub error_code: Option<String>,
}

impl CloudTrailDetail {
    /// The role whose session made the call, when it was a role session
    pub fn session_issuer(&self) -> Option<&str> {
        self.user_identity
            .as_ref()?
            .session_context
            .as_ref()?
            .session_issuer
            .as_ref()?
            .arn
            .as_deref()
    }
}

/// `userIdentity`: the fields the guard reads
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UserIdentity {
    /// The caller's account
    pub account_id: Option<String>,
    /// Absent for calls services make themselves
    pub session_context: Option<SessionContext>,
}

/// `userIdentity.sessionContext`
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SessionContext {
    /// The role the session was issued for
    pub session_issuer: Option<SessionIssuer>,
}

/// `userIdentity.sessionContext.sessionIssuer`
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct SessionIssuer {
    /// The role's ARN
    pub arn: Option<String>,
}

/// `requestParameters`: the fields the guard reads
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RequestParameters {
    /// The repository
    pub repository_name: Option<String>,
    /// The registry, when the caller named one
    pub registry_id: Option<String>,
    /// A repository creation template's prefix
    pub prefix: Option<String>,
}

/// `responseElements`: the fields the guard reads
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct ResponseElements {
    /// The repository `CreateRepository` returns
    pub repository: Option<ResponseRepository>,
}

/// `responseElements.repository`
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResponseRepository {
    /// Its name
    pub repository_name: Option<String>,
}

/// `serviceEventDetails` of an ECR service event
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceEventDetails {
    /// The repository ECR created
    pub repository_name: Option<String>,
}

/// The detail of `ECR Replication Action`: the fields the guard reads
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct ReplicationDetail {
    /// `SUCCESS` or `FAILED`
    pub result: Option<String>,
    /// The account replicated from
    pub source_account: Option<String>,
    /// The destination repository
    pub repository_name: Option<String>,
}

/// The detail of `ECR Pull Through Cache Action`: the fields the guard reads
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct PullThroughCacheDetail {
    /// `SUCCESS` or `FAILED`
    pub sync_status: Option<String>,
    /// The cache repository
    pub repository_name: Option<String>,
    /// Why a sync failed
    pub failure_code: Option<String>,
}

/// The detail of any other event: only that it is an object
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct OtherDetail {}

/// A decoded event, or why it is none of our business
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Something to act on, in this account and region
    Event {
        /// The registry's account
        account: String,
        /// The region
        region: String,
        /// What happened
        event: GuardEvent,
    },
    /// A well-formed event the guard does not act on
    Skip(String),
}

/// What a detail amounts to, once the envelope is known to be ours
enum Found {
    Event(GuardEvent),
    Skip(String),
}

fn skip(reason: String) -> Result<Found, EventError> {
    Ok(Found::Skip(reason))
}

/// The envelope with a typed detail. An error names the field by its path, and its value when
/// serde's message does not (a `time` that is no date, say).
fn typed<D: Serialize + DeserializeOwned>(payload: &Value) -> Result<EventBridgeEvent<D>, EventError> {
    serde_path_to_error::deserialize(payload).map_err(|e| {
        let path = e.path().to_string();
        let pointer: String = e
            .path()
            .iter()
            .map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => format!("/{index}"),
                serde_path_to_error::Segment::Map { key } => format!("/{}", key.replace('~', "~0").replace('/', "~1")),
                // Enum variants and unknown segments: no pointer, so no value shown
                _ => "/?".to_owned(),
            })
            .collect();
        let inner = e.into_inner().to_string();
        EventError(match inner.strip_prefix("missing field ") {
            // Only the envelope has required fields (`source`, `detail-type`).
            Some(field) => format!("missing {field}"),
            None if inner.starts_with("invalid type") || inner.starts_with("invalid value") => {
                format!("`{path}`: {inner}")
            }
            None => match payload.pointer(&pointer) {
                Some(value) => format!("`{path}`: {inner}, found `{value}`"),
                None => format!("`{path}`: {inner}"),
            },
        })
    })
}

fn required<'a>(key: &str, value: Option<&'a str>) -> Result<&'a str, EventError> {
    match value {
        Some(s) if !s.is_empty() => Ok(s),
        Some(s) => Err(EventError(format!("`{key}` must be a non-empty string, found `{s:?}`"))),
        None => Err(EventError(format!("missing `{key}`"))),
    }
}

fn account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Decodes an EventBridge event. `own_roles` are the guard's role ARNs: events their sessions
/// caused are skipped. `own_account`, when known, skips events of other registries.
pub fn decode(payload: &Value, own_roles: &[String], own_account: Option<&str>) -> Result<Decoded, EventError> {
    if !payload.is_object() {
        return Err(EventError("an EventBridge event must be a json object".into()));
    }
    // Checked before serde sees it: an empty array would pass as a detail whose fields are all
    // optional.
    if !payload.get("detail").is_some_and(Value::is_object) {
        return Err(EventError("`detail` must be an object".into()));
    }
    let source = payload.get("source").and_then(Value::as_str);
    let detail_type = payload.get("detail-type").and_then(Value::as_str);
    match detail_type {
        Some(detail_type @ (API_CALL | SERVICE_EVENT)) if source == Some(ECR_SOURCE) => {
            let e = typed::<CloudTrailDetail>(payload)?;
            decode_envelope(&e, own_account, |account, region| {
                cloudtrail(&e.detail, detail_type, account, region, own_roles)
            })
        }
        Some(REPLICATION_DETAIL_TYPE) if source == Some(ECR_SOURCE) => {
            let e = typed::<ReplicationDetail>(payload)?;
            decode_envelope(&e, own_account, |account, _| replication(&e.detail, account))
        }
        Some(PULL_THROUGH_CACHE_DETAIL_TYPE) if source == Some(ECR_SOURCE) => {
            let e = typed::<PullThroughCacheDetail>(payload)?;
            decode_envelope(&e, own_account, |_, _| {
                pull_through_cache(&e.detail, e.resources.as_deref())
            })
        }
        _ => {
            let e = typed::<OtherDetail>(payload)?;
            decode_envelope(&e, own_account, |_, _| {
                skip(format!(
                    "detail-type `{}` is not an event the guard acts on",
                    e.detail_type
                ))
            })
        }
    }
}

/// The checks every event passes, then `detail` decides (given the registry's account)
fn decode_envelope<D: Serialize + DeserializeOwned>(
    e: &EventBridgeEvent<D>,
    own_account: Option<&str>,
    detail: impl FnOnce(&str, &str) -> Result<Found, EventError>,
) -> Result<Decoded, EventError> {
    let source = required("source", Some(e.source.as_str()))?;
    required("detail-type", Some(e.detail_type.as_str()))?;
    let account = required("account", e.account.as_deref())?;
    let region = required("region", e.region.as_deref())?;
    if !account_id(account) {
        return Err(EventError(format!(
            "`account` must be a 12-digit account id, found `{account}`"
        )));
    }
    if source != ECR_SOURCE {
        return Ok(Decoded::Skip(format!("source `{source}` is not `{ECR_SOURCE}`")));
    }
    if let Some(own) = own_account {
        if account != own {
            return Ok(Decoded::Skip(format!(
                "event for registry `{account}`, not this one (`{own}`)"
            )));
        }
    }
    Ok(match detail(account, region)? {
        Found::Event(event) => Decoded::Event {
            account: account.to_owned(),
            region: region.to_owned(),
            event,
        },
        Found::Skip(reason) => Decoded::Skip(reason),
    })
}

/// A CloudTrail record of an ECR API call or service event
fn cloudtrail(
    d: &CloudTrailDetail,
    detail_type: &str,
    account: &str,
    region: &str,
    own_roles: &[String],
) -> Result<Found, EventError> {
    let event_source = required("eventSource", d.event_source.as_deref())?;
    if event_source != "ecr.amazonaws.com" {
        return skip(format!("event source `{event_source}` is not ECR"));
    }
    let name = required("eventName", d.event_name.as_deref())?;
    // An own role may be a pattern (the member role of central mode: `${AccountId}` filled).
    if let Some(issuer) = d
        .session_issuer()
        .filter(|i| crate::settings::is_own_role(own_roles, i, account, region))
    {
        return skip(format!("`{name}` was issued by the guard's own role `{issuer}`"));
    }
    let params = d.request_parameters.as_ref();
    let param = |key: &str, value: fn(&RequestParameters) -> Option<&str>| -> Result<String, EventError> {
        let p = params.ok_or_else(|| EventError(format!("`{name}` event without `requestParameters`")))?;
        required(key, value(p))
            .map(str::to_owned)
            .map_err(|e| EventError(format!("`{name}` requestParameters: {}", e.0)))
    };
    if let Some(registry) = params.and_then(|p| p.registry_id.as_deref()) {
        if registry != account {
            return skip(format!("`{name}` on registry `{registry}`, not `{account}`"));
        }
    }
    let service_event = detail_type == SERVICE_EVENT;
    let event = match (d.error_code.as_deref(), name) {
        (None, "CreateRepository") => GuardEvent::RepositoryCreated {
            repository: created_repository(d)?,
        },
        (None, other) if service_event => {
            return skip(format!("`{other}` service event is not an event the guard acts on"))
        }
        (None, "SetRepositoryPolicy" | "DeleteRepositoryPolicy") => GuardEvent::RepositoryPolicyChanged {
            repository: param("repositoryName", |p| p.repository_name.as_deref())?,
            event_name: name.to_owned(),
        },
        (None, "PutRegistryPolicy" | "DeleteRegistryPolicy") => GuardEvent::RegistryPolicyChanged {
            event_name: name.to_owned(),
        },
        (
            None,
            "CreateRepositoryCreationTemplate"
            | "UpdateRepositoryCreationTemplate"
            | "DeleteRepositoryCreationTemplate",
        ) => GuardEvent::CreationTemplateChanged {
            prefix: param("prefix", |p| p.prefix.as_deref())?,
        },
        (None, other) => return skip(format!("`{other}` is not an event the guard acts on")),
        (Some(code), _) if service_event => {
            return skip(format!("`{name}` service event failed with `{code}`: nothing changed"))
        }
        // A failed cross-account replication shows up as the source account's replication role
        // failing to create or replicate into this registry.
        (Some(code), "CreateRepository" | "ReplicateImage") => {
            let caller = d
                .user_identity
                .as_ref()
                .and_then(|u| u.account_id.as_deref())
                .ok_or_else(|| EventError(format!("failed `{name}` without `userIdentity.accountId`")))?;
            if caller == account {
                return skip(format!("failed `{name}` (`{code}`) by the own account"));
            }
            GuardEvent::ReplicationFailed {
                source_account: caller.to_owned(),
                repository: params.and_then(|p| p.repository_name.clone()),
            }
        }
        (Some(code), other) => return skip(format!("`{other}` failed with `{code}`: nothing changed")),
    };
    Ok(Found::Event(event))
}

/// The name of a repository created, from the first of the places a `CreateRepository` record
/// may carry it: a call's parameters, a service event's details (pull through cache), the
/// call's response. Which of them replication and create-on-push records use is unverified.
fn created_repository(d: &CloudTrailDetail) -> Result<String, EventError> {
    let places = [
        (
            "requestParameters.repositoryName",
            d.request_parameters.as_ref().and_then(|p| p.repository_name.as_deref()),
        ),
        (
            "serviceEventDetails.repositoryName",
            d.service_event_details
                .as_ref()
                .and_then(|s| s.repository_name.as_deref()),
        ),
        (
            "responseElements.repository.repositoryName",
            d.response_elements
                .as_ref()
                .and_then(|r| r.repository.as_ref())
                .and_then(|r| r.repository_name.as_deref()),
        ),
    ];
    match places.into_iter().find_map(|(key, value)| Some((key, value?))) {
        Some((key, value)) => required(key, Some(value))
            .map(str::to_owned)
            .map_err(|e| EventError(format!("`CreateRepository` {}", e.0))),
        None => Err(EventError(
            "`CreateRepository` event names no repository: no `requestParameters.repositoryName`, \
             `serviceEventDetails.repositoryName` or `responseElements.repository.repositoryName`"
                .into(),
        )),
    }
}

/// `ECR Replication Action`
fn replication(d: &ReplicationDetail, account: &str) -> Result<Found, EventError> {
    let result = required("result", d.result.as_deref())?;
    if result != "FAILED" {
        return skip(format!("replication result `{result}`"));
    }
    let source_account = required("source-account", d.source_account.as_deref())?;
    if !account_id(source_account) {
        return Err(EventError(format!(
            "`source-account` must be a 12-digit account id, found `{source_account}`"
        )));
    }
    if source_account == account {
        return skip("replication within the own account needs no registry grant".into());
    }
    Ok(Found::Event(GuardEvent::ReplicationFailed {
        source_account: source_account.to_owned(),
        repository: d.repository_name.clone(),
    }))
}

/// `ECR Pull Through Cache Action`: a successful sync means the cache repository exists (it may
/// have just been created), so it is one more trigger for its baseline; applying a baseline
/// twice changes nothing.
fn pull_through_cache(d: &PullThroughCacheDetail, resources: Option<&[String]>) -> Result<Found, EventError> {
    let status = required("sync-status", d.sync_status.as_deref())?;
    if status != "SUCCESS" {
        let code = d
            .failure_code
            .as_deref()
            .map(|c| format!(" (`{c}`)"))
            .unwrap_or_default();
        return skip(format!(
            "pull through cache sync-status `{status}`{code}: no repository to baseline"
        ));
    }
    // `resources` holds the repository's ARN: the name is its resource part.
    let from_arn = || {
        resources?.iter().find_map(|arn| {
            let mut parts = arn.splitn(6, ':');
            let (Some("arn"), Some(_), Some("ecr")) = (parts.next(), parts.next(), parts.next()) else {
                return None;
            };
            parts.nth(2)?.strip_prefix("repository/").filter(|n| !n.is_empty())
        })
    };
    let repository = match d.repository_name.as_deref() {
        Some(name) => required("repository-name", Some(name))?,
        None => from_arn().ok_or_else(|| {
            EventError("pull through cache action names no repository: no `repository-name` and no repository ARN in `resources`".into())
        })?,
    };
    Ok(Found::Event(GuardEvent::RepositoryCreated {
        repository: repository.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ct(name: &str, detail: Value) -> Value {
        let mut d = json!({"eventSource": "ecr.amazonaws.com", "eventName": name});
        if let (Some(m), Value::Object(extra)) = (d.as_object_mut(), detail) {
            m.extend(extra);
        }
        json!({"version":"0","id":"1","detail-type":"AWS API Call via CloudTrail","source":"aws.ecr",
            "account":"123456789012","region":"us-east-1","time":"2026-01-01T00:00:00Z","resources":[],"detail":d})
    }

    #[test]
    fn cloudtrail_events() {
        let e = decode(
            &ct(
                "CreateRepository",
                json!({"requestParameters":{"repositoryName":"app"}}),
            ),
            &[],
            None,
        )
        .unwrap();
        assert_eq!(
            e,
            Decoded::Event {
                account: "123456789012".into(),
                region: "us-east-1".into(),
                event: GuardEvent::RepositoryCreated {
                    repository: "app".into()
                }
            }
        );
        let own = ct(
            "SetRepositoryPolicy",
            json!({"requestParameters":{"repositoryName":"app"},
            "userIdentity":{"sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::123456789012:role/guard"}}}}),
        );
        assert!(matches!(
            decode(&own, &["arn:aws:iam::123456789012:role/guard".to_owned()], None).unwrap(),
            Decoded::Skip(_)
        ));
        assert!(matches!(
            decode(&own, &["arn:aws:iam::123456789012:role/other".to_owned()], None).unwrap(),
            Decoded::Event { .. }
        ));
        let failed = ct(
            "SetRepositoryPolicy",
            json!({"errorCode":"AccessDenied","requestParameters":{"repositoryName":"app"}}),
        );
        assert!(matches!(decode(&failed, &[], None).unwrap(), Decoded::Skip(_)));
        let other_registry = ct(
            "DeleteRepositoryPolicy",
            json!({"requestParameters":{"repositoryName":"app","registryId":"999999999999"}}),
        );
        assert!(matches!(decode(&other_registry, &[], None).unwrap(), Decoded::Skip(_)));
        let replicate = ct(
            "ReplicateImage",
            json!({"errorCode":"AccessDenied","userIdentity":{"accountId":"777788889999"}}),
        );
        assert!(matches!(
            decode(&replicate, &[], None).unwrap(),
            Decoded::Event {
                event: GuardEvent::ReplicationFailed { .. },
                ..
            }
        ));
    }

    /// Every CloudTrail record decodes to the kind the table names for it, and every record the
    /// table does not name (another detail-type, event name or outcome) is skipped
    #[test]
    fn the_event_table_is_exactly_what_decode_does() {
        let mut names: Vec<&str> = CLOUDTRAIL_EVENTS.iter().map(|e| e.event_name).collect();
        names.extend([
            "PutImage",
            "DeleteRepositoryCreationTemplate",
            "PutReplicationConfiguration",
        ]);
        for detail_type in [API_CALL, SERVICE_EVENT] {
            for name in &names {
                for failed in [false, true] {
                    let mut extra = json!({"requestParameters":{"repositoryName":"r","prefix":"p"}});
                    if failed {
                        extra["errorCode"] = json!("AccessDenied");
                        extra["userIdentity"] = json!({"accountId":"777788889999"});
                    }
                    let mut event = ct(name, extra);
                    event["detail-type"] = json!(detail_type);
                    let want = CLOUDTRAIL_EVENTS
                        .iter()
                        .find(|e| e.detail_type == detail_type && e.event_name == *name && e.failed == failed);
                    match (decode(&event, &[], None).unwrap(), want) {
                        (Decoded::Event { event, .. }, Some(want)) => assert_eq!(event.kind(), want.kind, "{name}"),
                        (Decoded::Skip(_), None) => {}
                        (got, want) => panic!("{detail_type} {name} failed={failed}: {got:?}, table: {want:?}"),
                    }
                }
            }
        }
        for native in NATIVE_EVENTS {
            let mut detail = json!({"repository-name":"r","source-account":"777788889999"});
            detail[native.field] = json!(native.value);
            let event = json!({"detail-type":native.detail_type,"source":"aws.ecr","account":"123456789012",
                "region":"us-east-1","resources":[],"detail":detail});
            match decode(&event, &[], None).unwrap() {
                Decoded::Event { event, .. } => assert_eq!(event.kind(), native.kind),
                other => panic!("{native:?}: {other:?}"),
            }
            let mut other = event.clone();
            other["detail"][native.field] = json!("SOMETHING_ELSE");
            assert!(
                matches!(decode(&other, &[], None).unwrap(), Decoded::Skip(_)),
                "{native:?}"
            );
        }
    }

    fn created(event: &Value) -> Result<String, EventError> {
        match decode(event, &[], Some("123456789012"))? {
            Decoded::Event {
                event: GuardEvent::RepositoryCreated { repository },
                ..
            } => Ok(repository),
            other => panic!("{other:?}"),
        }
    }

    fn service_event(detail: Value) -> Value {
        let mut e = ct(
            "CreateRepository",
            json!({"eventType":"AwsServiceEvent","userIdentity":{"accountId":"123456789012","invokedBy":"ecr.amazonaws.com"},
                "requestParameters":null,"responseElements":null}),
        );
        e["detail-type"] = json!(SERVICE_EVENT);
        if let (Some(d), Value::Object(extra)) = (e["detail"].as_object_mut(), detail) {
            d.extend(extra);
        }
        e
    }

    #[test]
    fn a_created_repository_is_named_by_the_first_place_that_has_a_name() {
        let response = json!({"repository":{"repositoryName":"from-response"}});
        let details = json!({"repositoryName":"from-details"});
        let both = service_event(json!({"serviceEventDetails":details,"responseElements":response}));
        assert_eq!(created(&both).unwrap(), "from-details");
        let only_response = service_event(json!({"responseElements":response}));
        assert_eq!(created(&only_response).unwrap(), "from-response");
        let mut all = service_event(json!({"serviceEventDetails":details,"responseElements":response}));
        all["detail"]["requestParameters"] = json!({"repositoryName":"from-request"});
        assert_eq!(created(&all).unwrap(), "from-request");
        // An API call names it in its parameters; the response is the fallback.
        let call = ct(
            "CreateRepository",
            json!({"requestParameters":{},"responseElements":response}),
        );
        assert_eq!(created(&call).unwrap(), "from-response");
        let nameless = service_event(json!({"serviceEventDetails":{}}));
        assert_eq!(
            created(&nameless).unwrap_err().to_string(),
            "malformed event: `CreateRepository` event names no repository: no `requestParameters.repositoryName`, \
             `serviceEventDetails.repositoryName` or `responseElements.repository.repositoryName`"
        );
        let empty = service_event(json!({"serviceEventDetails":{"repositoryName":""},"responseElements":response}));
        assert_eq!(
            created(&empty).unwrap_err().to_string(),
            "malformed event: `CreateRepository` `serviceEventDetails.repositoryName` must be a non-empty string, found `\"\"`"
        );
    }

    #[test]
    fn service_events_other_than_a_creation_are_skipped() {
        let mut failed =
            service_event(json!({"serviceEventDetails":{"repositoryName":"r"},"errorCode":"InternalError"}));
        assert_eq!(
            decode(&failed, &[], None).unwrap(),
            Decoded::Skip("`CreateRepository` service event failed with `InternalError`: nothing changed".into())
        );
        failed["detail"]["errorCode"] = Value::Null;
        failed["detail"]["eventName"] = json!("SetRepositoryPolicy");
        assert!(matches!(decode(&failed, &[], None).unwrap(), Decoded::Skip(_)));
    }

    fn pull_through(detail: Value, resources: Value) -> Value {
        json!({"version":"0","id":"1","detail-type":PULL_THROUGH_CACHE_DETAIL_TYPE,"source":"aws.ecr",
            "account":"123456789012","region":"us-east-1","time":"2026-01-01T00:00:00Z","resources":resources,"detail":detail})
    }

    #[test]
    fn a_successful_pull_through_cache_sync_names_its_repository() {
        let arn = json!(["arn:aws:ecr:us-east-1:123456789012:repository/hub/library/alpine"]);
        let named = pull_through(
            json!({"sync-status":"SUCCESS","repository-name":"hub/library/alpine"}),
            json!([]),
        );
        assert_eq!(created(&named).unwrap(), "hub/library/alpine");
        let by_arn = pull_through(json!({"sync-status":"SUCCESS"}), arn.clone());
        assert_eq!(created(&by_arn).unwrap(), "hub/library/alpine");
        let failed = pull_through(
            json!({"sync-status":"FAILED","repository-name":"hub/library/alpine","failure-code":"UPSTREAM_UNAVAILABLE"}),
            arn,
        );
        assert_eq!(
            decode(&failed, &[], None).unwrap(),
            Decoded::Skip(
                "pull through cache sync-status `FAILED` (`UPSTREAM_UNAVAILABLE`): no repository to baseline".into()
            )
        );
        let not_a_repository = pull_through(
            json!({"sync-status":"SUCCESS"}),
            json!(["arn:aws:s3:::bucket", "arn:aws:ecr:us-east-1:123456789012:repository/"]),
        );
        assert!(created(&not_a_repository)
            .unwrap_err()
            .to_string()
            .contains("names no repository"));
        let no_status = pull_through(json!({"repository-name":"r"}), json!([]));
        assert_eq!(
            decode(&no_status, &[], None).unwrap_err().to_string(),
            "malformed event: missing `sync-status`"
        );
    }

    #[test]
    fn creation_templates_are_named_by_their_prefix() {
        for name in [
            "CreateRepositoryCreationTemplate",
            "UpdateRepositoryCreationTemplate",
            "DeleteRepositoryCreationTemplate",
        ] {
            let e = ct(
                name,
                json!({"requestParameters":{"prefix":"ROOT","appliedFor":["REPLICATION"]}}),
            );
            assert_eq!(
                decode(&e, &[], None).unwrap(),
                Decoded::Event {
                    account: "123456789012".into(),
                    region: "us-east-1".into(),
                    event: GuardEvent::CreationTemplateChanged { prefix: "ROOT".into() }
                }
            );
            let e = ct(name, json!({"requestParameters":{"appliedFor":["REPLICATION"]}}));
            assert_eq!(
                decode(&e, &[], None).unwrap_err().to_string(),
                format!("malformed event: `{name}` requestParameters: missing `prefix`")
            );
        }
    }

    #[test]
    fn malformed_events_name_the_problem() {
        assert_eq!(
            decode(&json!([]), &[], None).unwrap_err().to_string(),
            "malformed event: an EventBridge event must be a json object"
        );
        let e = decode(&ct("SetRepositoryPolicy", json!({})), &[], None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed event: `SetRepositoryPolicy` event without `requestParameters`"
        );
        let mut v = ct("CreateRepository", json!({}));
        v["account"] = json!("12");
        assert!(decode(&v, &[], None).unwrap_err().to_string().contains("`12`"));
        // Envelope fields are typed: a wrong one is named by its path.
        let mut v = ct("CreateRepository", json!({"requestParameters":{"repositoryName":"r"}}));
        v["time"] = json!("2023-02-29T02:36:48Z");
        let e = decode(&v, &[], None).unwrap_err().to_string();
        assert_eq!(
            e,
            "malformed event: `time`: input is out of range, found `\"2023-02-29T02:36:48Z\"`"
        );
        let mut v = ct(
            "ReplicateImage",
            json!({"errorCode":"AccessDenied","userIdentity":{"accountId":777788889999_u64}}),
        );
        assert_eq!(
            decode(&v, &[], None).unwrap_err().to_string(),
            "malformed event: `detail.userIdentity.accountId`: invalid type: integer `777788889999`, expected a string"
        );
        v.as_object_mut().unwrap().remove("source");
        assert_eq!(
            decode(&v, &[], None).unwrap_err().to_string(),
            "malformed event: missing `source`"
        );
        let mut v = ct("CreateRepository", json!({}));
        v["detail"] = json!([]);
        assert_eq!(
            decode(&v, &[], None).unwrap_err().to_string(),
            "malformed event: `detail` must be an object"
        );
        v["detail"] = json!({"eventName":"CreateRepository"});
        assert_eq!(
            decode(&v, &[], None).unwrap_err().to_string(),
            "malformed event: missing `eventSource`"
        );
    }
}
