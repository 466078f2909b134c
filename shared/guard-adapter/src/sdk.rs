//! [`EcrPolicies`] over `aws-sdk-ecr`. SDK errors are mapped here, once: the not-found codes
//! become `None`, throttling and server errors become retryable.

use crate::port::{CreationTemplate, EcrPolicies, PortError, PortResult};
use aws_sdk_ecr::{
    config::http::HttpResponse,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    types::{
        EncryptionConfigurationForRepositoryCreationTemplate, EncryptionType, ImageTagMutability,
        ImageTagMutabilityExclusionFilter, ImageTagMutabilityExclusionFilterType, RctAppliedFor,
        RepositoryCreationTemplate, Tag,
    },
    Client,
};

/// The SDK adapter for one registry (account)
#[derive(Clone, Debug)]
pub struct SdkEcr {
    client: Client,
    registry_id: Option<String>,
}

impl SdkEcr {
    /// Wraps a client; `registry_id` is sent with every call when set
    pub fn new(client: Client, registry_id: Option<String>) -> Self {
        Self { client, registry_id }
    }
}

const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "ServerException",
    "InternalFailure",
];

pub(crate) fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = err.code().map(str::to_owned);
    let message = format!("{}", DisplayErrorContext(&err));
    match &err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            if status >= 500 || status == 429 || code.as_deref().is_some_and(|c| THROTTLING.contains(&c)) {
                PortError::Transient { operation, message }
            } else {
                PortError::Rejected { operation, message }
            }
        }
        SdkError::ConstructionFailure(_) => PortError::Rejected { operation, message },
        // Timeouts, dispatch and response failures: the request may not have been seen.
        _ => PortError::Transient { operation, message },
    }
}

fn is_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>, code: &str) -> bool {
    err.code() == Some(code)
}

fn from_sdk(t: RepositoryCreationTemplate) -> CreationTemplate {
    CreationTemplate {
        prefix: t.prefix.clone().unwrap_or_default(),
        repository_policy: t.repository_policy.clone().filter(|p| !p.trim().is_empty()),
        description: t.description.clone(),
        applied_for: t.applied_for().iter().map(|a| a.as_str().to_owned()).collect(),
        image_tag_mutability: t.image_tag_mutability().map(|m| m.as_str().to_owned()),
        image_tag_mutability_exclusion_filters: t
            .image_tag_mutability_exclusion_filters()
            .iter()
            .map(|f| (f.filter_type.as_str().to_owned(), f.filter.clone()))
            .collect(),
        encryption: t
            .encryption_configuration()
            .map(|e| (e.encryption_type.as_str().to_owned(), e.kms_key.clone())),
        resource_tags: t
            .resource_tags()
            .iter()
            .map(|x| (x.key.clone(), x.value.clone()))
            .collect(),
        lifecycle_policy: t.lifecycle_policy.clone(),
        custom_role_arn: t.custom_role_arn.clone(),
    }
}

fn build_error(operation: &'static str, e: impl std::fmt::Display) -> PortError {
    PortError::Rejected {
        operation,
        message: e.to_string(),
    }
}

/// The SDK values of a template's fields (everything `CreateRepositoryCreationTemplate` and
/// `UpdateRepositoryCreationTemplate` take)
struct SdkFields {
    applied_for: Vec<RctAppliedFor>,
    mutability: Option<ImageTagMutability>,
    filters: Option<Vec<ImageTagMutabilityExclusionFilter>>,
    encryption: Option<EncryptionConfigurationForRepositoryCreationTemplate>,
    tags: Option<Vec<Tag>>,
}

fn to_sdk(t: &CreationTemplate, operation: &'static str) -> PortResult<SdkFields> {
    let filters = t
        .image_tag_mutability_exclusion_filters
        .iter()
        .map(|(kind, filter)| {
            ImageTagMutabilityExclusionFilter::builder()
                .filter_type(ImageTagMutabilityExclusionFilterType::from(kind.as_str()))
                .filter(filter)
                .build()
                .map_err(|e| build_error(operation, e))
        })
        .collect::<PortResult<Vec<_>>>()?;
    let tags = t
        .resource_tags
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| build_error(operation, e))
        })
        .collect::<PortResult<Vec<_>>>()?;
    let encryption = t
        .encryption
        .as_ref()
        .map(|(kind, key)| {
            EncryptionConfigurationForRepositoryCreationTemplate::builder()
                .encryption_type(EncryptionType::from(kind.as_str()))
                .set_kms_key(key.clone())
                .build()
                .map_err(|e| build_error(operation, e))
        })
        .transpose()?;
    Ok(SdkFields {
        applied_for: t.applied_for.iter().map(|a| RctAppliedFor::from(a.as_str())).collect(),
        mutability: t.image_tag_mutability.as_deref().map(ImageTagMutability::from),
        // Lists ECR returned empty are sent as absent: an empty list is not a value to set.
        filters: (!filters.is_empty()).then_some(filters),
        encryption,
        tags: (!tags.is_empty()).then_some(tags),
    })
}

impl EcrPolicies for SdkEcr {
    async fn get_repository_policy(&self, repository: &str) -> PortResult<Option<String>> {
        let out = self
            .client
            .get_repository_policy()
            .set_registry_id(self.registry_id.clone())
            .repository_name(repository)
            .send()
            .await;
        match out {
            Ok(o) => Ok(o.policy_text),
            Err(e) if is_code(&e, "RepositoryPolicyNotFoundException") => Ok(None),
            Err(e) if is_code(&e, "RepositoryNotFoundException") => {
                Err(PortError::RepositoryNotFound(repository.into()))
            }
            Err(e) => Err(classify("GetRepositoryPolicy", e)),
        }
    }

    async fn set_repository_policy(&self, repository: &str, text: &str) -> PortResult<()> {
        let out = self
            .client
            .set_repository_policy()
            .set_registry_id(self.registry_id.clone())
            .repository_name(repository)
            .policy_text(text)
            .force(false)
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "RepositoryNotFoundException") => {
                Err(PortError::RepositoryNotFound(repository.into()))
            }
            Err(e) => Err(classify("SetRepositoryPolicy", e)),
        }
    }

    async fn delete_repository_policy(&self, repository: &str) -> PortResult<()> {
        let out = self
            .client
            .delete_repository_policy()
            .set_registry_id(self.registry_id.clone())
            .repository_name(repository)
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "RepositoryPolicyNotFoundException") => Ok(()),
            Err(e) if is_code(&e, "RepositoryNotFoundException") => {
                Err(PortError::RepositoryNotFound(repository.into()))
            }
            Err(e) => Err(classify("DeleteRepositoryPolicy", e)),
        }
    }

    async fn get_registry_policy(&self) -> PortResult<Option<String>> {
        match self.client.get_registry_policy().send().await {
            Ok(o) => Ok(o.policy_text),
            Err(e) if is_code(&e, "RegistryPolicyNotFoundException") => Ok(None),
            Err(e) => Err(classify("GetRegistryPolicy", e)),
        }
    }

    async fn put_registry_policy(&self, text: &str) -> PortResult<()> {
        self.client
            .put_registry_policy()
            .policy_text(text)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutRegistryPolicy", e))
    }

    async fn delete_registry_policy(&self) -> PortResult<()> {
        match self.client.delete_registry_policy().send().await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "RegistryPolicyNotFoundException") => Ok(()),
            Err(e) => Err(classify("DeleteRegistryPolicy", e)),
        }
    }

    async fn list_repositories(&self) -> PortResult<Vec<String>> {
        let mut pages = self
            .client
            .describe_repositories()
            .set_registry_id(self.registry_id.clone())
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("DescribeRepositories", e))?;
            names.extend(
                page.repositories
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|r| r.repository_name),
            );
        }
        Ok(names)
    }

    async fn list_creation_templates(&self) -> PortResult<Vec<CreationTemplate>> {
        let mut pages = self
            .client
            .describe_repository_creation_templates()
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("DescribeRepositoryCreationTemplates", e))?;
            out.extend(
                page.repository_creation_templates
                    .unwrap_or_default()
                    .into_iter()
                    .map(from_sdk),
            );
        }
        Ok(out)
    }

    async fn get_creation_template(&self, prefix: &str) -> PortResult<Option<CreationTemplate>> {
        let out = self
            .client
            .describe_repository_creation_templates()
            .prefixes(prefix)
            .send()
            .await;
        match out {
            // Whichever way ECR says "no such template": an error, or an empty list.
            Err(e) if is_code(&e, "TemplateNotFoundException") => Ok(None),
            Err(e) => Err(classify("DescribeRepositoryCreationTemplates", e)),
            Ok(o) => Ok(o
                .repository_creation_templates
                .unwrap_or_default()
                .into_iter()
                .map(from_sdk)
                .find(|t| t.prefix == prefix)),
        }
    }

    async fn update_creation_template(&self, t: &CreationTemplate) -> PortResult<()> {
        const OP: &str = "UpdateRepositoryCreationTemplate";
        let f = to_sdk(t, OP)?;
        self.client
            .update_repository_creation_template()
            .prefix(&t.prefix)
            .set_description(t.description.clone())
            .set_encryption_configuration(f.encryption)
            .set_resource_tags(f.tags)
            .set_image_tag_mutability(f.mutability)
            .set_image_tag_mutability_exclusion_filters(f.filters)
            // An empty policy clears the template's (the API takes 0 to 10,240 characters).
            .repository_policy(t.repository_policy.clone().unwrap_or_default())
            .set_lifecycle_policy(t.lifecycle_policy.clone())
            .set_applied_for(Some(f.applied_for))
            .set_custom_role_arn(t.custom_role_arn.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(OP, e))
    }

    async fn create_creation_template(&self, t: &CreationTemplate) -> PortResult<()> {
        const OP: &str = "CreateRepositoryCreationTemplate";
        let f = to_sdk(t, OP)?;
        self.client
            .create_repository_creation_template()
            .prefix(&t.prefix)
            .set_description(t.description.clone())
            .set_encryption_configuration(f.encryption)
            .set_resource_tags(f.tags)
            .set_image_tag_mutability(f.mutability)
            .set_image_tag_mutability_exclusion_filters(f.filters)
            .set_repository_policy(t.repository_policy.clone())
            .set_lifecycle_policy(t.lifecycle_policy.clone())
            .set_applied_for(Some(f.applied_for))
            .set_custom_role_arn(t.custom_role_arn.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(OP, e))
    }
}
