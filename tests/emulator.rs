//! The ECR APIs that the project adds to moto's server (`scripts/moto_ext/ecr_2026.py`), driven
//! through the Rust `aws-sdk-ecr` client exactly as the product calls them: account settings,
//! registry policy scope V1/V2, repository creation templates, and `/moto-api/reset`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use aws_sdk_ecr::{
    error::{ProvideErrorMetadata, SdkError},
    types::{
        EncryptionConfigurationForRepositoryCreationTemplate, EncryptionType, ImageTagMutability,
        ImageTagMutabilityExclusionFilter, ImageTagMutabilityExclusionFilterType, RctAppliedFor,
        RepositoryCreationTemplate, Tag,
    },
    Client,
};
use scenarios::*;
use serde_json::{json, Value};
use std::time::Duration;

const ORG: &str = "o-a1b2c3d4e5";

/// The error code of a failed call; panics when the call succeeded
fn code<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    result: Result<T, SdkError<E, R>>,
) -> String {
    let err = result.expect_err("the call should have been refused");
    assert!(err.message().is_some_and(|m| !m.is_empty()), "no message: {err:?}");
    err.code()
        .unwrap_or_else(|| panic!("no error code: {err:?}"))
        .to_owned()
}

async fn setting(c: &Client, name: &str) -> String {
    let out = c.get_account_setting().name(name).send().await.unwrap();
    assert_eq!(out.name(), Some(name));
    out.value().unwrap().to_owned()
}

async fn put_setting(c: &Client, name: &str, value: &str) {
    let out = c.put_account_setting().name(name).value(value).send().await.unwrap();
    assert_eq!((out.name(), out.value()), (Some(name), Some(value)));
}

/// An SDK client for moto whose calls moto attributes to `account` (moto's `x-moto-account-id`)
fn client_for_account(account: &'static str) -> Client {
    let c = client();
    let conf = c.config().to_builder().interceptor(AccountHeader(account)).build();
    Client::from_conf(conf)
}

#[derive(Debug)]
struct AccountHeader(&'static str);

impl aws_sdk_ecr::config::Intercept for AccountHeader {
    fn name(&self) -> &'static str {
        "AccountHeader"
    }
    fn modify_before_signing(
        &self,
        ctx: &mut aws_sdk_ecr::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _: &aws_sdk_ecr::config::RuntimeComponents,
        _: &mut aws_sdk_ecr::config::ConfigBag,
    ) -> Result<(), aws_sdk_ecr::error::BoxError> {
        ctx.request_mut().headers_mut().insert("x-moto-account-id", self.0);
        Ok(())
    }
}

fn client_in_region(region: &'static str) -> Client {
    let conf = client()
        .config()
        .to_builder()
        .region(aws_sdk_ecr::config::Region::new(region))
        .build();
    Client::from_conf(conf)
}

#[tokio::test]
async fn account_settings_have_documented_defaults_and_round_trip() {
    let _x = exclusive().await;
    let c = client();
    // A new registry: V2 scope (default since December 2024), AWS native basic scanning, no
    // blob mounting.
    assert_eq!(setting(&c, "REGISTRY_POLICY_SCOPE").await, "V2");
    assert_eq!(setting(&c, "BASIC_SCAN_TYPE_VERSION").await, "AWS_NATIVE");
    assert_eq!(setting(&c, "BLOB_MOUNTING").await, "DISABLED");

    put_setting(&c, "REGISTRY_POLICY_SCOPE", "V1").await;
    put_setting(&c, "BLOB_MOUNTING", "ENABLED").await;
    assert_eq!(setting(&c, "REGISTRY_POLICY_SCOPE").await, "V1");
    assert_eq!(setting(&c, "BLOB_MOUNTING").await, "ENABLED");
    assert_eq!(setting(&c, "BASIC_SCAN_TYPE_VERSION").await, "AWS_NATIVE", "untouched");
    put_setting(&c, "BASIC_SCAN_TYPE_VERSION", "CLAIR").await;
    assert_eq!(setting(&c, "BASIC_SCAN_TYPE_VERSION").await, "CLAIR");
    put_setting(&c, "REGISTRY_POLICY_SCOPE", "V2").await;
    assert_eq!(setting(&c, "REGISTRY_POLICY_SCOPE").await, "V2");
}

#[tokio::test]
async fn account_settings_refuse_unknown_names_and_values_and_change_nothing() {
    let _x = exclusive().await;
    let c = client();
    let bad_value = c
        .put_account_setting()
        .name("REGISTRY_POLICY_SCOPE")
        .value("V3")
        .send()
        .await;
    assert!(
        bad_value
            .as_ref()
            .err()
            .and_then(|e| e.as_service_error())
            .is_some_and(|e| e.is_invalid_parameter_exception()),
        "{bad_value:?}"
    );
    // A value of another setting is no value of this one.
    let other = c.put_account_setting().name("BLOB_MOUNTING").value("V1").send().await;
    assert_eq!(code(other), "InvalidParameterException");
    assert_eq!(setting(&c, "REGISTRY_POLICY_SCOPE").await, "V2");
    assert_eq!(setting(&c, "BLOB_MOUNTING").await, "DISABLED");

    let unknown_get = c.get_account_setting().name("NO_SUCH_SETTING").send().await;
    assert!(
        unknown_get
            .as_ref()
            .err()
            .and_then(|e| e.as_service_error())
            .is_some_and(|e| e.is_validation_exception()),
        "{unknown_get:?}"
    );
    let unknown_put = c.put_account_setting().name("NO_SUCH_SETTING").value("V2").send().await;
    assert_eq!(code(unknown_put), "ValidationException");
    // The name is required, and 64 characters at most (the model's constraints).
    assert_eq!(code(c.get_account_setting().send().await), "ValidationException");
    assert_eq!(
        code(c.get_account_setting().name("A".repeat(65)).send().await),
        "ValidationException"
    );
}

#[tokio::test]
async fn account_settings_are_per_account_and_region() {
    let _x = exclusive().await;
    put_setting(&client(), "REGISTRY_POLICY_SCOPE", "V1").await;
    assert_eq!(setting(&client(), "REGISTRY_POLICY_SCOPE").await, "V1");
    assert_eq!(
        setting(&client_in_region("eu-west-1"), "REGISTRY_POLICY_SCOPE").await,
        "V2"
    );
    let other = client_for_account("111122223333");
    assert_eq!(setting(&other, "REGISTRY_POLICY_SCOPE").await, "V2");
    put_setting(&other, "BLOB_MOUNTING", "ENABLED").await;
    assert_eq!(setting(&client(), "BLOB_MOUNTING").await, "DISABLED");
}

fn org_pull_policy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "OrgPull", "Effect": "Allow", "Principal": "*",
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        "Resource": "arn:aws:ecr:us-east-1:123456789012:repository/*",
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG}}}]})
}

async fn put_policy(c: &Client, policy: &Value) -> Result<(), String> {
    match c.put_registry_policy().policy_text(policy.to_string()).send().await {
        Ok(out) => {
            assert_eq!(out.registry_id(), Some(ACCOUNT));
            Ok(())
        }
        Err(e) => Err(e.code().unwrap_or_default().to_owned()),
    }
}

#[tokio::test]
async fn v2_registry_policy_takes_any_ecr_action() {
    let _x = exclusive().await;
    let c = client();
    assert_eq!(put_policy(&c, &org_pull_policy()).await, Ok(()));
    assert_eq!(registry_policy().await, Some(org_pull_policy()));
    let admin = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "ecr:*", "Resource": "*"}]});
    assert_eq!(put_policy(&c, &admin).await, Ok(()));
    assert_eq!(registry_policy().await, Some(admin));
    // Not an ECR action: refused, and the policy before stays.
    let s3 = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": ["ecr:BatchGetImage", "s3:GetObject"], "Resource": "*"}]});
    assert_eq!(put_policy(&c, &s3).await, Err("InvalidParameterException".into()));
    assert_eq!(sids(&registry_policy().await.unwrap()), ["Admin"]);
}

#[tokio::test]
async fn v1_registry_policy_takes_only_the_three_registry_actions() {
    let _x = exclusive().await;
    let c = client();
    put_setting(&c, "REGISTRY_POLICY_SCOPE", "V1").await;
    assert_eq!(
        put_policy(&c, &org_pull_policy()).await,
        Err("InvalidParameterException".into())
    );
    assert_eq!(registry_policy().await, None);
    let pull_through = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "PullThroughCache", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
        "Action": ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository", "ecr:ReplicateImage"],
        "Resource": "arn:aws:ecr:us-east-1:123456789012:repository/*"}]});
    assert_eq!(put_policy(&c, &pull_through).await, Ok(()));
    assert_eq!(registry_policy().await, Some(pull_through));
    let wildcard = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
        "Action": "ecr:*", "Resource": "*"}]});
    assert_eq!(put_policy(&c, &wildcard).await, Err("InvalidParameterException".into()));
    // Back to V2: the org-wide pull grant is accepted again.
    put_setting(&c, "REGISTRY_POLICY_SCOPE", "V2").await;
    assert_eq!(put_policy(&c, &org_pull_policy()).await, Ok(()));
}

fn repository_policy_text() -> String {
    json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "OrgPull", "Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage"],
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG}}}]})
    .to_string()
}

fn lifecycle_policy_text() -> String {
    json!({"rules": [{"rulePriority": 1, "description": "keep 10",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10},
        "action": {"type": "expire"}}]})
    .to_string()
}

const ROLE: &str = "arn:aws:iam::123456789012:role/ecr-templates";
const KMS_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// Creates `prod` with every member set; returns what Create answered
async fn create_full_template(c: &Client) -> RepositoryCreationTemplate {
    let out = c
        .create_repository_creation_template()
        .prefix("prod")
        .description("production namespaces")
        .encryption_configuration(
            EncryptionConfigurationForRepositoryCreationTemplate::builder()
                .encryption_type(EncryptionType::Kms)
                .kms_key(KMS_KEY)
                .build()
                .unwrap(),
        )
        .resource_tags(Tag::builder().key("team").value("platform").build().unwrap())
        .resource_tags(Tag::builder().key("env").value("prod").build().unwrap())
        .image_tag_mutability(ImageTagMutability::ImmutableWithExclusion)
        .image_tag_mutability_exclusion_filters(
            ImageTagMutabilityExclusionFilter::builder()
                .filter_type(ImageTagMutabilityExclusionFilterType::Wildcard)
                .filter("latest*")
                .build()
                .unwrap(),
        )
        .repository_policy(repository_policy_text())
        .lifecycle_policy(lifecycle_policy_text())
        .applied_for(RctAppliedFor::Replication)
        .applied_for(RctAppliedFor::PullThroughCache)
        .applied_for(RctAppliedFor::CreateOnPush)
        .custom_role_arn(ROLE)
        .send()
        .await
        .unwrap();
    assert_eq!(out.registry_id(), Some(ACCOUNT));
    out.repository_creation_template().unwrap().clone()
}

async fn describe(c: &Client, prefixes: &[&str]) -> Vec<RepositoryCreationTemplate> {
    let mut call = c.describe_repository_creation_templates();
    for p in prefixes {
        call = call.prefixes(*p);
    }
    let out = call.send().await.unwrap();
    assert_eq!(out.registry_id(), Some(ACCOUNT));
    assert_eq!(out.next_token(), None);
    out.repository_creation_templates().to_vec()
}

async fn create_template(c: &Client, prefix: &str, applied_for: RctAppliedFor) -> RepositoryCreationTemplate {
    c.create_repository_creation_template()
        .prefix(prefix)
        .applied_for(applied_for)
        .send()
        .await
        .unwrap()
        .repository_creation_template()
        .unwrap()
        .clone()
}

fn prefixes(templates: &[RepositoryCreationTemplate]) -> Vec<&str> {
    templates.iter().map(|t| t.prefix().unwrap()).collect()
}

#[tokio::test]
async fn creation_template_with_every_field_is_created_and_described() {
    let _x = exclusive().await;
    let c = client();
    let created = create_full_template(&c).await;
    assert_eq!(created.prefix(), Some("prod"));
    assert_eq!(created.description(), Some("production namespaces"));
    let enc = created.encryption_configuration().unwrap();
    assert_eq!(
        (enc.encryption_type(), enc.kms_key()),
        (&EncryptionType::Kms, Some(KMS_KEY))
    );
    let tags: Vec<(&str, &str)> = created.resource_tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("team", "platform"), ("env", "prod")]);
    assert_eq!(
        created.image_tag_mutability(),
        Some(&ImageTagMutability::ImmutableWithExclusion)
    );
    let filters = created.image_tag_mutability_exclusion_filters();
    assert_eq!(filters.len(), 1);
    assert_eq!(
        (filters[0].filter_type(), filters[0].filter()),
        (&ImageTagMutabilityExclusionFilterType::Wildcard, "latest*")
    );
    assert_eq!(created.repository_policy(), Some(repository_policy_text().as_str()));
    assert_eq!(created.lifecycle_policy(), Some(lifecycle_policy_text().as_str()));
    assert_eq!(
        created.applied_for(),
        [
            RctAppliedFor::Replication,
            RctAppliedFor::PullThroughCache,
            RctAppliedFor::CreateOnPush
        ]
    );
    assert_eq!(created.custom_role_arn(), Some(ROLE));
    let created_at = created.created_at().unwrap();
    assert_eq!(created.updated_at(), Some(created_at));
    let age = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::try_from(*created_at).unwrap())
        .unwrap();
    assert!(age < Duration::from_secs(60), "createdAt is now: {created_at:?}");

    // Read back: exactly what Create answered.
    assert_eq!(describe(&c, &[]).await, std::slice::from_ref(&created));
    assert_eq!(describe(&c, &["prod"]).await, [created]);

    // A minimal template gets the documented default mutability and nothing else.
    let minimal = create_template(&c, "ROOT", RctAppliedFor::PullThroughCache).await;
    assert_eq!(minimal.image_tag_mutability(), Some(&ImageTagMutability::Mutable));
    assert_eq!(minimal.repository_policy(), None);
    assert_eq!(minimal.encryption_configuration(), None);
    assert_eq!(minimal.applied_for(), [RctAppliedFor::PullThroughCache]);
}

#[tokio::test]
async fn creation_templates_are_described_all_by_prefix_and_by_page() {
    let _x = exclusive().await;
    let c = client();
    for p in ["team-b", "ROOT", "team-a/api", "team-a"] {
        create_template(&c, p, RctAppliedFor::Replication).await;
    }
    assert_eq!(
        prefixes(&describe(&c, &[]).await),
        ["ROOT", "team-a", "team-a/api", "team-b"]
    );
    assert_eq!(prefixes(&describe(&c, &["team-b", "ROOT"]).await), ["ROOT", "team-b"]);
    // An unknown prefix selects nothing (the operation has no not-found error).
    assert_eq!(prefixes(&describe(&c, &["team-a", "nothing-here"]).await), ["team-a"]);
    assert!(describe(&c, &["nothing-here"]).await.is_empty());

    // Pages of three, then the rest.
    let first = c
        .describe_repository_creation_templates()
        .max_results(3)
        .send()
        .await
        .unwrap();
    assert_eq!(
        prefixes(first.repository_creation_templates()),
        ["ROOT", "team-a", "team-a/api"]
    );
    let token = first.next_token().expect("more to come").to_owned();
    let second = c
        .describe_repository_creation_templates()
        .max_results(3)
        .next_token(token)
        .send()
        .await
        .unwrap();
    assert_eq!(prefixes(second.repository_creation_templates()), ["team-b"]);
    assert_eq!(second.next_token(), None);

    // The SDK's paginator walks pages of one and sees every template once.
    let pages: Vec<_> = c
        .describe_repository_creation_templates()
        .max_results(1)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(pages.len(), 4);
    let all: Vec<RepositoryCreationTemplate> = pages
        .iter()
        .flat_map(|p| p.repository_creation_templates().to_vec())
        .collect();
    assert_eq!(prefixes(&all), ["ROOT", "team-a", "team-a/api", "team-b"]);

    // Out of range or forged: refused.
    let zero = c.describe_repository_creation_templates().max_results(0).send().await;
    assert_eq!(code(zero), "ValidationException");
    let forged = c
        .describe_repository_creation_templates()
        .next_token("not-a-token")
        .send()
        .await;
    assert_eq!(code(forged), "InvalidParameterException");
}

#[tokio::test]
async fn updating_one_field_keeps_every_other() {
    let _x = exclusive().await;
    let c = client();
    let created = create_full_template(&c).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let out = c
        .update_repository_creation_template()
        .prefix("prod")
        .description("changed")
        .send()
        .await
        .unwrap();
    assert_eq!(out.registry_id(), Some(ACCOUNT));
    let updated = out.repository_creation_template().unwrap().clone();
    assert_eq!(updated.description(), Some("changed"));
    assert!(updated.updated_at().unwrap() > created.updated_at().unwrap());
    // Everything else as created.
    let mut expected = created.clone();
    expected.description = Some("changed".into());
    expected.updated_at = updated.updated_at;
    assert_eq!(updated, expected);
    assert_eq!(describe(&c, &["prod"]).await, [expected]);

    // A second member, through the trailing-`/` spelling of the same prefix.
    let out = c
        .update_repository_creation_template()
        .prefix("prod/")
        .applied_for(RctAppliedFor::CreateOnPush)
        .image_tag_mutability(ImageTagMutability::Mutable)
        .send()
        .await
        .unwrap();
    let again = out.repository_creation_template().unwrap();
    assert_eq!(again.applied_for(), [RctAppliedFor::CreateOnPush]);
    assert_eq!(again.image_tag_mutability(), Some(&ImageTagMutability::Mutable));
    assert_eq!(again.description(), Some("changed"));
    assert_eq!(again.repository_policy(), Some(repository_policy_text().as_str()));
    assert_eq!(again.created_at(), created.created_at());
}

#[tokio::test]
async fn creation_template_errors_are_the_documented_ones_and_change_nothing() {
    let _x = exclusive().await;
    let c = client();
    let created = create_full_template(&c).await;

    let duplicate = c
        .create_repository_creation_template()
        .prefix("prod")
        .applied_for(RctAppliedFor::Replication)
        .send()
        .await;
    assert!(
        duplicate
            .as_ref()
            .err()
            .and_then(|e| e.as_service_error())
            .is_some_and(|e| e.is_template_already_exists_exception()),
        "{duplicate:?}"
    );
    // "There is always an assumed / applied to the end of the prefix": `prod/` is `prod`.
    let slash = c
        .create_repository_creation_template()
        .prefix("prod/")
        .applied_for(RctAppliedFor::Replication)
        .send()
        .await;
    assert_eq!(code(slash), "TemplateAlreadyExistsException");

    let missing_update = c
        .update_repository_creation_template()
        .prefix("staging")
        .description("x")
        .send()
        .await;
    assert!(
        missing_update
            .as_ref()
            .err()
            .and_then(|e| e.as_service_error())
            .is_some_and(|e| e.is_template_not_found_exception()),
        "{missing_update:?}"
    );
    let missing_delete = c.delete_repository_creation_template().prefix("staging").send().await;
    assert!(
        missing_delete
            .as_ref()
            .err()
            .and_then(|e| e.as_service_error())
            .is_some_and(|e| e.is_template_not_found_exception()),
        "{missing_delete:?}"
    );

    // Outside the model's constraints: upper case prefix, no appliedFor, too long a description.
    let upper = c
        .create_repository_creation_template()
        .prefix("Prod")
        .applied_for(RctAppliedFor::Replication)
        .send()
        .await;
    assert_eq!(code(upper), "ValidationException");
    let no_applied_for = c.create_repository_creation_template().prefix("staging").send().await;
    assert_eq!(code(no_applied_for), "ValidationException");
    let long = c
        .update_repository_creation_template()
        .prefix("prod")
        .description("d".repeat(257))
        .send()
        .await;
    assert_eq!(code(long), "ValidationException");
    // Not a policy, or a role of another account.
    let bad_policy = c
        .update_repository_creation_template()
        .prefix("prod")
        .repository_policy("{not json")
        .send()
        .await;
    assert_eq!(code(bad_policy), "InvalidParameterException");
    let foreign_role = c
        .update_repository_creation_template()
        .prefix("prod")
        .custom_role_arn("arn:aws:iam::999988887777:role/x")
        .send()
        .await;
    assert_eq!(code(foreign_role), "InvalidParameterException");

    assert_eq!(
        describe(&c, &[]).await,
        std::slice::from_ref(&created),
        "nothing changed"
    );

    let deleted = c
        .delete_repository_creation_template()
        .prefix("prod")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.registry_id(), Some(ACCOUNT));
    assert_eq!(deleted.repository_creation_template(), Some(&created));
    assert!(describe(&c, &[]).await.is_empty());
    let again = c.delete_repository_creation_template().prefix("prod").send().await;
    assert_eq!(code(again), "TemplateNotFoundException");
}

#[tokio::test]
async fn templates_are_per_account() {
    let _x = exclusive().await;
    create_template(&client(), "prod", RctAppliedFor::Replication).await;
    let other = client_for_account("111122223333");
    assert!(other
        .describe_repository_creation_templates()
        .send()
        .await
        .unwrap()
        .repository_creation_templates()
        .is_empty());
    // The same prefix is free in another registry.
    let theirs = other
        .create_repository_creation_template()
        .prefix("prod")
        .applied_for(RctAppliedFor::PullThroughCache)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.registry_id(), Some("111122223333"));
    assert_eq!(
        describe(&client(), &[]).await[0].applied_for(),
        [RctAppliedFor::Replication]
    );
}

#[tokio::test]
async fn moto_reset_clears_templates_and_settings() {
    let _x = exclusive().await;
    let c = client();
    put_setting(&c, "REGISTRY_POLICY_SCOPE", "V1").await;
    put_setting(&c, "BLOB_MOUNTING", "ENABLED").await;
    create_full_template(&c).await;
    assert_eq!(describe(&c, &[]).await.len(), 1);

    reset_moto();

    assert_eq!(setting(&c, "REGISTRY_POLICY_SCOPE").await, "V2");
    assert_eq!(setting(&c, "BLOB_MOUNTING").await, "DISABLED");
    assert!(describe(&c, &[]).await.is_empty());
    // The prefix is free again.
    create_full_template(&c).await;
}
