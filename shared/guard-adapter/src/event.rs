//! Decoding EventBridge events into what the guard acts on. Only names are taken from an event:
//! the decision is always made from live state, since events arrive late, twice or out of order.

use serde_json::Value;

/// An event that cannot be an ECR event we know: never retried
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed event: {0}")]
pub struct EventError(pub String);

/// What happened, as far as the guard cares
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuardEvent {
    /// A repository was created (CloudTrail `CreateRepository`, no error)
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
}

impl GuardEvent {
    /// Short kind name for outcomes and logs
    pub fn kind(&self) -> &'static str {
        match self {
            GuardEvent::RepositoryCreated { .. } => "repository-created",
            GuardEvent::RepositoryPolicyChanged { .. } => "repository-policy-changed",
            GuardEvent::RegistryPolicyChanged { .. } => "registry-policy-changed",
            GuardEvent::ReplicationFailed { .. } => "replication-failed",
        }
    }
}

/// The CloudTrail event names behind each event kind, and whether the call must have failed
/// (`errorCode` present). The template's EventBridge rules are checked against this table.
pub const CLOUDTRAIL_EVENTS: &[(&str, &str, bool)] = &[
    ("repository-created", "CreateRepository", false),
    ("repository-policy-changed", "SetRepositoryPolicy", false),
    ("repository-policy-changed", "DeleteRepositoryPolicy", false),
    ("registry-policy-changed", "PutRegistryPolicy", false),
    ("registry-policy-changed", "DeleteRegistryPolicy", false),
    ("replication-failed", "ReplicateImage", true),
    ("replication-failed", "CreateRepository", true),
];

/// The native ECR detail-type behind the `replication-failed` kind (with `result: FAILED`)
pub const REPLICATION_DETAIL_TYPE: &str = "ECR Replication Action";

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

fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, EventError> {
    match v.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(other) => Err(EventError(format!(
            "`{key}` must be a non-empty string, found `{other}`"
        ))),
        None => Err(EventError(format!("missing `{key}`"))),
    }
}

fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |v, k| v.get(k))
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
    let source = text(payload, "source")?;
    let detail_type = text(payload, "detail-type")?;
    let account = text(payload, "account")?;
    let region = text(payload, "region")?;
    if !account_id(account) {
        return Err(EventError(format!(
            "`account` must be a 12-digit account id, found `{account}`"
        )));
    }
    let detail = payload
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or_else(|| EventError("`detail` must be an object".into()))?;
    if source != "aws.ecr" {
        return Ok(Decoded::Skip(format!("source `{source}` is not `aws.ecr`")));
    }
    if let Some(own) = own_account {
        if account != own {
            return Ok(Decoded::Skip(format!(
                "event for registry `{account}`, not this one (`{own}`)"
            )));
        }
    }
    let event = match detail_type {
        "AWS API Call via CloudTrail" => {
            let event_source = text(detail, "eventSource")?;
            if event_source != "ecr.amazonaws.com" {
                return Ok(Decoded::Skip(format!("event source `{event_source}` is not ECR")));
            }
            let name = text(detail, "eventName")?;
            let issuer =
                path(detail, &["userIdentity", "sessionContext", "sessionIssuer", "arn"]).and_then(Value::as_str);
            if let Some(issuer) = issuer.filter(|i| crate::settings::is_own_role(own_roles, i, account, region)) {
                return Ok(Decoded::Skip(format!(
                    "`{name}` was issued by the guard's own role `{issuer}`"
                )));
            }
            let params = detail.get("requestParameters").filter(|p| p.is_object());
            let repository = || -> Result<String, EventError> {
                let p = params.ok_or_else(|| EventError(format!("`{name}` event without `requestParameters`")))?;
                text(p, "repositoryName")
                    .map(str::to_owned)
                    .map_err(|e| EventError(format!("`{name}` requestParameters: {}", e.0)))
            };
            if let Some(registry) = params.and_then(|p| p.get("registryId")).and_then(Value::as_str) {
                if registry != account {
                    return Ok(Decoded::Skip(format!(
                        "`{name}` on registry `{registry}`, not `{account}`"
                    )));
                }
            }
            match detail.get("errorCode") {
                None | Some(Value::Null) => match name {
                    "CreateRepository" => GuardEvent::RepositoryCreated {
                        repository: repository()?,
                    },
                    "SetRepositoryPolicy" | "DeleteRepositoryPolicy" => GuardEvent::RepositoryPolicyChanged {
                        repository: repository()?,
                        event_name: name.to_owned(),
                    },
                    "PutRegistryPolicy" | "DeleteRegistryPolicy" => GuardEvent::RegistryPolicyChanged {
                        event_name: name.to_owned(),
                    },
                    other => return Ok(Decoded::Skip(format!("`{other}` is not an event the guard acts on"))),
                },
                Some(code) => match name {
                    // A failed cross-account replication shows up as the source account's
                    // replication role failing to create or replicate into this registry.
                    "CreateRepository" | "ReplicateImage" => {
                        let caller = path(detail, &["userIdentity", "accountId"])
                            .and_then(Value::as_str)
                            .ok_or_else(|| EventError(format!("failed `{name}` without `userIdentity.accountId`")))?;
                        if caller == account {
                            return Ok(Decoded::Skip(format!("failed `{name}` ({code}) by the own account")));
                        }
                        let repository = params
                            .and_then(|p| p.get("repositoryName"))
                            .and_then(Value::as_str)
                            .map(str::to_owned);
                        GuardEvent::ReplicationFailed {
                            source_account: caller.to_owned(),
                            repository,
                        }
                    }
                    other => return Ok(Decoded::Skip(format!("`{other}` failed with {code}: nothing changed"))),
                },
            }
        }
        REPLICATION_DETAIL_TYPE => {
            let result = text(detail, "result")?;
            if result != "FAILED" {
                return Ok(Decoded::Skip(format!("replication result `{result}`")));
            }
            let source_account = text(detail, "source-account")?;
            if !account_id(source_account) {
                return Err(EventError(format!(
                    "`source-account` must be a 12-digit account id, found `{source_account}`"
                )));
            }
            if source_account == account {
                return Ok(Decoded::Skip(
                    "replication within the own account needs no registry grant".into(),
                ));
            }
            GuardEvent::ReplicationFailed {
                source_account: source_account.to_owned(),
                repository: detail.get("repository-name").and_then(Value::as_str).map(str::to_owned),
            }
        }
        other => {
            return Ok(Decoded::Skip(format!(
                "detail-type `{other}` is not an event the guard acts on"
            )))
        }
    };
    Ok(Decoded::Event {
        account: account.to_owned(),
        region: region.to_owned(),
        event,
    })
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

    #[test]
    fn the_event_table_is_what_decode_does() {
        for (kind, name, failed) in CLOUDTRAIL_EVENTS {
            let extra = if *failed {
                json!({"errorCode":"AccessDenied","userIdentity":{"accountId":"777788889999"},"requestParameters":{"repositoryName":"r"}})
            } else {
                json!({"requestParameters":{"repositoryName":"r"}})
            };
            match decode(&ct(name, extra), &[], None).unwrap() {
                Decoded::Event { event, .. } => assert_eq!(event.kind(), *kind, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
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
    }
}
