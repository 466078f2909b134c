//! Every sample event in `events/` decodes to what it stands for, says where its shape comes
//! from, and every file in `events/bad/` is a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use guard_adapter::event::{decode, Decoded, GuardEvent};
use serde_json::Value;
use std::{collections::BTreeSet, path::PathBuf};

const GUARD_ROLE: &str = "arn:aws:iam::123456789012:role/ecr-policy-guard";

fn dir(sub: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../events")).join(sub)
}

fn files(sub: &str) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(dir(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn created(repository: &str) -> Option<GuardEvent> {
    Some(GuardEvent::RepositoryCreated {
        repository: repository.into(),
    })
}

fn policy_changed(event_name: &str) -> Option<GuardEvent> {
    Some(GuardEvent::RepositoryPolicyChanged {
        repository: "team-payments/api".into(),
        event_name: event_name.into(),
    })
}

fn registry_changed(event_name: &str) -> Option<GuardEvent> {
    Some(GuardEvent::RegistryPolicyChanged {
        event_name: event_name.into(),
    })
}

fn replication_failed(source_account: &str) -> Option<GuardEvent> {
    Some(GuardEvent::ReplicationFailed {
        source_account: source_account.into(),
        repository: Some("team-payments/api".into()),
    })
}

fn template_changed() -> Option<GuardEvent> {
    Some(GuardEvent::CreationTemplateChanged {
        prefix: "team-hub".into(),
    })
}

/// Each sample and what it decodes to (`None`: skipped), with the guard's role and account set
/// as the template sets them
fn expected() -> Vec<(&'static str, Option<GuardEvent>)> {
    vec![
        (
            "cloudtrail-ecr-create-repository-by-service.json",
            created("team-payments/importer"),
        ),
        (
            "cloudtrail-ecr-create-repository-creation-template.json",
            template_changed(),
        ),
        ("cloudtrail-ecr-create-repository.json", created("team-payments/api")),
        (
            "cloudtrail-ecr-delete-repository-creation-template.json",
            template_changed(),
        ),
        (
            "cloudtrail-ecr-delete-registry-policy.json",
            registry_changed("DeleteRegistryPolicy"),
        ),
        (
            "cloudtrail-ecr-delete-repository-policy.json",
            policy_changed("DeleteRepositoryPolicy"),
        ),
        (
            "cloudtrail-ecr-put-registry-policy.json",
            registry_changed("PutRegistryPolicy"),
        ),
        (
            "cloudtrail-ecr-replicate-image-access-denied.json",
            replication_failed("777788889999"),
        ),
        (
            "cloudtrail-ecr-service-event-create-repository-on-push.json",
            created("team-payments/batch"),
        ),
        (
            "cloudtrail-ecr-service-event-create-repository-pull-through-cache.json",
            created("team-hub/library/alpine"),
        ),
        (
            "cloudtrail-ecr-service-event-create-repository-replication.json",
            created("team-payments/worker"),
        ),
        ("cloudtrail-ecr-set-repository-policy-by-guard.json", None),
        ("cloudtrail-ecr-set-repository-policy-failed.json", None),
        (
            "cloudtrail-ecr-set-repository-policy.json",
            policy_changed("SetRepositoryPolicy"),
        ),
        (
            "cloudtrail-ecr-update-repository-creation-template.json",
            template_changed(),
        ),
        ("cloudtrail-s3-create-bucket-not-ours.json", None),
        ("ecr-pull-through-cache-action-failed.json", None),
        (
            "ecr-pull-through-cache-action-success.json",
            created("team-hub/library/alpine"),
        ),
        (
            "ecr-replication-action-failed-untrusted-source.json",
            replication_failed("999988887777"),
        ),
        ("ecr-replication-action-failed.json", replication_failed("777788889999")),
        ("scheduled-sweep.json", None),
        // Not an ECR event: import-findings takes it (checked below).
        ("ecr-policy-guard-finding.json", None),
    ]
}

#[test]
fn every_sample_event_decodes_to_what_it_stands_for() {
    let expected = expected();
    let listed: BTreeSet<&str> = expected.iter().map(|(name, _)| *name).collect();
    let samples = files("");
    let present: BTreeSet<&str> = samples.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(present, listed, "every file in events/ has an expected decoding here");
    let roles = vec![GUARD_ROLE.to_owned()];
    for (name, payload) in &samples {
        let want = &expected.iter().find(|(n, _)| n == name).unwrap().1;
        let got = decode(payload, &roles, Some("123456789012")).unwrap_or_else(|e| panic!("{name}: {e}"));
        match (got, want) {
            (Decoded::Event { account, region, event }, Some(want)) => {
                assert_eq!(
                    (account.as_str(), region.as_str()),
                    ("123456789012", "us-east-1"),
                    "{name}"
                );
                assert_eq!(&event, want, "{name}");
            }
            (Decoded::Skip(reason), None) => assert!(!reason.is_empty(), "{name}"),
            (got, want) => panic!("{name}: decoded {got:?}, expected {want:?}"),
        }
    }
}

#[test]
fn every_sample_event_says_where_its_shape_comes_from() {
    let readme = std::fs::read_to_string(dir("README.md")).unwrap();
    for (name, payload) in files("") {
        let provenance = payload["_provenance"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no `_provenance` string"));
        assert!(
            provenance.starts_with("documented") || provenance.starts_with("inferred"),
            "{name}: provenance must say documented or inferred: {provenance}"
        );
        assert!(
            readme.contains(&format!("`{name}`")),
            "events/README.md does not list {name}"
        );
    }
}

#[test]
fn every_bad_event_is_a_clear_error() {
    let bad = files("bad");
    assert!(bad.len() >= 6);
    for (name, payload) in bad {
        let err = decode(&payload, &[GUARD_ROLE.to_owned()], Some("123456789012"))
            .expect_err(&format!("bad/{name} should be rejected"));
        let text = err.to_string();
        assert!(text.starts_with("malformed event: "), "bad/{name}: {text}");
        // The message names a field or the rule broken, in backticks or as a json shape
        assert!(text.contains('`') || text.contains("json object"), "bad/{name}: {text}");
    }
}

#[test]
fn the_finding_sample_is_a_record_import_findings_takes() {
    let (_, e) = files("")
        .into_iter()
        .find(|(name, _)| name == "ecr-policy-guard-finding.json")
        .unwrap();
    let record = guard_adapter::outlets::FindingRecord::from_detail(&e["detail"]).unwrap();
    assert_eq!(record.to_value(), e["detail"]);
    assert_eq!(
        (record.rule, record.disposition, record.trigger),
        ("public", "removed", "event")
    );
}
