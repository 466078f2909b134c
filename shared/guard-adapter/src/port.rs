//! The ECR calls the guard makes, as a small trait: the SDK adapter implements it for real, the
//! in-memory fake for unit tests. Policies cross it as text; "no policy" is `None`, not an error.

use std::{future::Future, sync::Arc};

/// An ECR call that failed
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// The repository does not exist (or does not yet: creation is eventually consistent)
    #[error("repository `{0}` not found")]
    RepositoryNotFound(String),
    /// Throttling, a 5xx, a timeout, a dropped connection: may pass if tried again
    #[error("{operation}: {message}")]
    Transient {
        /// The ECR operation
        operation: &'static str,
        /// What the service or transport said
        message: String,
    },
    /// Anything else: trying again will not help
    #[error("{operation}: {message}")]
    Rejected {
        /// The ECR operation
        operation: &'static str,
        /// What the service said
        message: String,
    },
}

impl PortError {
    /// True when trying again may succeed
    pub fn is_retryable(&self) -> bool {
        matches!(self, PortError::Transient { .. })
    }
}

/// Result of an ECR call
pub type PortResult<T> = Result<T, PortError>;

/// A repository creation template with every field ECR returns, so an update can send back
/// everything but the policy unchanged
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreationTemplate {
    /// The namespace (`team`, `team/api`) or `ROOT`
    pub prefix: String,
    /// `repositoryPolicy`: JSON text, `None` when the template has none
    pub repository_policy: Option<String>,
    /// `description`
    pub description: Option<String>,
    /// `appliedFor`: `REPLICATION`, `PULL_THROUGH_CACHE`, `CREATE_ON_PUSH`
    pub applied_for: Vec<String>,
    /// `imageTagMutability`
    pub image_tag_mutability: Option<String>,
    /// `imageTagMutabilityExclusionFilters`: (filter type, filter)
    pub image_tag_mutability_exclusion_filters: Vec<(String, String)>,
    /// `encryptionConfiguration`: (type, KMS key)
    pub encryption: Option<(String, Option<String>)>,
    /// `resourceTags`: (key, value)
    pub resource_tags: Vec<(String, String)>,
    /// `lifecyclePolicy`
    pub lifecycle_policy: Option<String>,
    /// `customRoleArn`
    pub custom_role_arn: Option<String>,
}

/// The ECR operations the guard uses, for one registry
pub trait EcrPolicies: Send + Sync {
    /// `GetRepositoryPolicy`; `None` when the repository has no policy
    fn get_repository_policy(&self, repository: &str) -> impl Future<Output = PortResult<Option<String>>> + Send;
    /// `SetRepositoryPolicy` with `force` false: ECR's lock-out check stays on
    fn set_repository_policy(&self, repository: &str, text: &str) -> impl Future<Output = PortResult<()>> + Send;
    /// `DeleteRepositoryPolicy`; no policy is not an error
    fn delete_repository_policy(&self, repository: &str) -> impl Future<Output = PortResult<()>> + Send;
    /// `GetRegistryPolicy`; `None` when there is none
    fn get_registry_policy(&self) -> impl Future<Output = PortResult<Option<String>>> + Send;
    /// `PutRegistryPolicy`
    fn put_registry_policy(&self, text: &str) -> impl Future<Output = PortResult<()>> + Send;
    /// `DeleteRegistryPolicy`; no policy is not an error
    fn delete_registry_policy(&self) -> impl Future<Output = PortResult<()>> + Send;
    /// `DescribeRepositories`, every page: repository names
    fn list_repositories(&self) -> impl Future<Output = PortResult<Vec<String>>> + Send;
    /// `DescribeRepositoryCreationTemplates`, every page
    fn list_creation_templates(&self) -> impl Future<Output = PortResult<Vec<CreationTemplate>>> + Send;
    /// `DescribeRepositoryCreationTemplates` for one prefix; `None` when there is no such template
    fn get_creation_template(&self, prefix: &str) -> impl Future<Output = PortResult<Option<CreationTemplate>>> + Send;
    /// `UpdateRepositoryCreationTemplate` with every field of `template`
    fn update_creation_template(&self, template: &CreationTemplate) -> impl Future<Output = PortResult<()>> + Send;
    /// `CreateRepositoryCreationTemplate`
    fn create_creation_template(&self, template: &CreationTemplate) -> impl Future<Output = PortResult<()>> + Send;
}

/// A shared port is a port: one registry's fake can be handed out to many guards
impl<T: EcrPolicies> EcrPolicies for Arc<T> {
    fn get_repository_policy(&self, repository: &str) -> impl Future<Output = PortResult<Option<String>>> + Send {
        (**self).get_repository_policy(repository)
    }
    fn set_repository_policy(&self, repository: &str, text: &str) -> impl Future<Output = PortResult<()>> + Send {
        (**self).set_repository_policy(repository, text)
    }
    fn delete_repository_policy(&self, repository: &str) -> impl Future<Output = PortResult<()>> + Send {
        (**self).delete_repository_policy(repository)
    }
    fn get_registry_policy(&self) -> impl Future<Output = PortResult<Option<String>>> + Send {
        (**self).get_registry_policy()
    }
    fn put_registry_policy(&self, text: &str) -> impl Future<Output = PortResult<()>> + Send {
        (**self).put_registry_policy(text)
    }
    fn delete_registry_policy(&self) -> impl Future<Output = PortResult<()>> + Send {
        (**self).delete_registry_policy()
    }
    fn list_repositories(&self) -> impl Future<Output = PortResult<Vec<String>>> + Send {
        (**self).list_repositories()
    }
    fn list_creation_templates(&self) -> impl Future<Output = PortResult<Vec<CreationTemplate>>> + Send {
        (**self).list_creation_templates()
    }
    fn get_creation_template(&self, prefix: &str) -> impl Future<Output = PortResult<Option<CreationTemplate>>> + Send {
        (**self).get_creation_template(prefix)
    }
    fn update_creation_template(&self, template: &CreationTemplate) -> impl Future<Output = PortResult<()>> + Send {
        (**self).update_creation_template(template)
    }
    fn create_creation_template(&self, template: &CreationTemplate) -> impl Future<Output = PortResult<()>> + Send {
        (**self).create_creation_template(template)
    }
}
