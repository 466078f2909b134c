//! In-memory outlets for unit tests: every call recorded by its IAM action, Security Hub's
//! create-or-update by `Id` and `UpdatedAt` kept, failures injectable.

use super::{
    asff::{Asff, Scope},
    BusEvent, EventBus, FindingsHub, ImportFailure, Notifier, Outlets, FINDINGS_PER_CALL,
};
use crate::port::PortError;
use futures_util::future::BoxFuture;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
};

/// All three outlets in memory
#[derive(Debug, Default)]
pub struct MemoryOutlets {
    events: Mutex<Vec<BusEvent>>,
    findings: Mutex<BTreeMap<String, Asff>>,
    import_calls: Mutex<Vec<usize>>,
    messages: Mutex<Vec<(String, String)>>,
    calls: Mutex<BTreeSet<&'static str>>,
    failing: Mutex<Option<PortError>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MemoryOutlets {
    /// Outlets that deliver here, each turned on
    pub fn outlets(self: &Arc<Self>) -> Outlets {
        Outlets {
            events: Some(self.clone()),
            hub: Some(self.clone()),
            chat: Some(self.clone()),
            retry: crate::engine::Backoff {
                attempts: 2,
                first_delay: std::time::Duration::from_millis(1),
            },
        }
    }

    /// Every call fails with this error until cleared with `None`
    pub fn fail_with(&self, error: Option<PortError>) {
        *lock(&self.failing) = error;
    }

    /// Events put so far
    pub fn events(&self) -> Vec<BusEvent> {
        lock(&self.events).clone()
    }

    /// Findings held, by id
    pub fn findings(&self) -> BTreeMap<String, Asff> {
        lock(&self.findings).clone()
    }

    /// The size of each `BatchImportFindings` call
    pub fn import_calls(&self) -> Vec<usize> {
        lock(&self.import_calls).clone()
    }

    /// Messages published: (subject, message)
    pub fn messages(&self) -> Vec<(String, String)> {
        lock(&self.messages).clone()
    }

    /// The IAM actions of every call made
    pub fn calls(&self) -> BTreeSet<&'static str> {
        lock(&self.calls).clone()
    }

    fn call(&self, action: &'static str) -> Result<(), PortError> {
        lock(&self.calls).insert(action);
        match &*lock(&self.failing) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

impl EventBus for MemoryOutlets {
    fn put_events<'a>(&'a self, events: &'a [BusEvent]) -> BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move {
            self.call("events:PutEvents")?;
            lock(&self.events).extend(events.iter().cloned());
            Ok(())
        })
    }
}

impl FindingsHub for MemoryOutlets {
    fn import<'a>(&'a self, findings: &'a [Asff]) -> BoxFuture<'a, Result<Vec<ImportFailure>, PortError>> {
        Box::pin(async move {
            self.call("securityhub:BatchImportFindings")?;
            if findings.len() > FINDINGS_PER_CALL {
                return Err(PortError::Rejected {
                    operation: "BatchImportFindings",
                    message: format!("{} findings in one call", findings.len()),
                });
            }
            lock(&self.import_calls).push(findings.len());
            let mut held = lock(&self.findings);
            for f in findings {
                // Security Hub takes an update only when its `UpdatedAt` is later.
                if held.get(&f.id).is_none_or(|old| old.updated_at < f.updated_at) {
                    held.insert(f.id.clone(), f.clone());
                }
            }
            Ok(vec![])
        })
    }

    fn active<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<Vec<Asff>, PortError>> {
        Box::pin(async move {
            self.call("securityhub:GetFindings")?;
            Ok(lock(&self.findings)
                .values()
                .filter(|f| scope.holds(f))
                .cloned()
                .collect())
        })
    }
}

impl Notifier for MemoryOutlets {
    fn publish<'a>(&'a self, subject: &'a str, message: &'a str) -> BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move {
            self.call("sns:Publish")?;
            lock(&self.messages).push((subject.to_owned(), message.to_owned()));
            Ok(())
        })
    }
}
