//! An in-memory [`EcrPolicies`] for unit tests of the shell: a registry policy, repositories
//! with optional policies, a write counter, and failures that can be queued.

use crate::port::{CreationTemplate, EcrPolicies, PortError, PortResult};
use std::{
    collections::{BTreeMap, VecDeque},
    sync::Mutex,
};

#[derive(Default)]
struct State {
    repositories: BTreeMap<String, Option<String>>,
    registry: Option<String>,
    templates: BTreeMap<String, CreationTemplate>,
    writes: usize,
    failures: VecDeque<PortError>,
}

/// The fake registry
#[derive(Default)]
pub struct InMemoryEcr {
    state: Mutex<State>,
}

impl InMemoryEcr {
    /// An empty registry
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock only means another test thread panicked: the data is still usable.
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Adds a repository with an optional policy
    pub fn put_repository(&self, name: &str, policy: Option<&str>) {
        self.with(|s| s.repositories.insert(name.into(), policy.map(str::to_owned)));
    }

    /// Deletes a repository
    pub fn delete_repository(&self, name: &str) {
        self.with(|s| s.repositories.remove(name));
    }

    /// Sets the registry policy directly (not counted as a write)
    pub fn put_registry(&self, policy: Option<&str>) {
        self.with(|s| s.registry = policy.map(str::to_owned));
    }

    /// The policy of a repository
    pub fn repository_policy(&self, name: &str) -> Option<String> {
        self.with(|s| s.repositories.get(name).cloned().flatten())
    }

    /// Adds or replaces a creation template directly (not counted as a write)
    pub fn put_template(&self, template: CreationTemplate) {
        self.with(|s| s.templates.insert(template.prefix.clone(), template));
    }

    /// A creation template
    pub fn template(&self, prefix: &str) -> Option<CreationTemplate> {
        self.with(|s| s.templates.get(prefix).cloned())
    }

    /// The registry policy
    pub fn registry_policy(&self) -> Option<String> {
        self.with(|s| s.registry.clone())
    }

    /// Set, put and delete calls made so far
    pub fn writes(&self) -> usize {
        self.with(|s| s.writes)
    }

    /// The next call fails with this error
    pub fn fail_next(&self, e: PortError) {
        self.with(|s| s.failures.push_back(e));
    }

    fn write_repository(&self, repository: &str, policy: Option<String>) -> PortResult<()> {
        self.check()?;
        self.with(|s| match s.repositories.get_mut(repository) {
            Some(p) => {
                *p = policy;
                s.writes += 1;
                Ok(())
            }
            None => Err(PortError::RepositoryNotFound(repository.into())),
        })
    }

    fn check(&self) -> PortResult<()> {
        self.with(|s| s.failures.pop_front()).map_or(Ok(()), Err)
    }
}

impl EcrPolicies for InMemoryEcr {
    async fn get_repository_policy(&self, repository: &str) -> PortResult<Option<String>> {
        self.check()?;
        self.with(|s| {
            s.repositories
                .get(repository)
                .cloned()
                .ok_or_else(|| PortError::RepositoryNotFound(repository.into()))
        })
    }

    async fn set_repository_policy(&self, repository: &str, text: &str) -> PortResult<()> {
        self.write_repository(repository, Some(text.to_owned()))
    }

    async fn delete_repository_policy(&self, repository: &str) -> PortResult<()> {
        self.write_repository(repository, None)
    }

    async fn get_registry_policy(&self) -> PortResult<Option<String>> {
        self.check()?;
        Ok(self.registry_policy())
    }

    async fn put_registry_policy(&self, text: &str) -> PortResult<()> {
        self.check()?;
        self.with(|s| {
            s.registry = Some(text.to_owned());
            s.writes += 1;
        });
        Ok(())
    }

    async fn delete_registry_policy(&self) -> PortResult<()> {
        self.check()?;
        self.with(|s| {
            s.registry = None;
            s.writes += 1;
        });
        Ok(())
    }

    async fn list_repositories(&self) -> PortResult<Vec<String>> {
        self.check()?;
        Ok(self.with(|s| s.repositories.keys().cloned().collect()))
    }

    async fn list_creation_templates(&self) -> PortResult<Vec<CreationTemplate>> {
        self.check()?;
        Ok(self.with(|s| s.templates.values().cloned().collect()))
    }

    async fn get_creation_template(&self, prefix: &str) -> PortResult<Option<CreationTemplate>> {
        self.check()?;
        Ok(self.template(prefix))
    }

    async fn update_creation_template(&self, template: &CreationTemplate) -> PortResult<()> {
        self.check()?;
        self.with(|s| match s.templates.get_mut(&template.prefix) {
            Some(t) => {
                *t = template.clone();
                s.writes += 1;
                Ok(())
            }
            None => Err(PortError::Rejected {
                operation: "UpdateRepositoryCreationTemplate",
                message: format!("TemplateNotFoundException: `{}`", template.prefix),
            }),
        })
    }

    async fn create_creation_template(&self, template: &CreationTemplate) -> PortResult<()> {
        self.check()?;
        self.with(|s| {
            if s.templates.contains_key(&template.prefix) {
                return Err(PortError::Rejected {
                    operation: "CreateRepositoryCreationTemplate",
                    message: format!("TemplateAlreadyExistsException: `{}`", template.prefix),
                });
            }
            s.templates.insert(template.prefix.clone(), template.clone());
            s.writes += 1;
            Ok(())
        })
    }
}
