//! [`EcrPolicies`] over `aws-sdk-ecr`. SDK errors are mapped here, once: the not-found codes
//! become `None`, throttling and server errors become retryable.

use crate::port::{EcrPolicies, PortError, PortResult};
use aws_sdk_ecr::{
    config::http::HttpResponse,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
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

fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> PortError
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
}
