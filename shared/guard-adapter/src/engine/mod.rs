//! The imperative shell every function (and the sweep) shares: read live state, plan with
//! policy-core, log, write only when the meaning changes. One code path for every entry point:
//! `handle` turns an event into a target to reconcile ([`reconcile`]), the sweep calls the same
//! methods, and what comes back is an [`Outcome`].

mod outcome;
mod reconcile;

pub use outcome::{GrantFinding, HandlerError, Outcome, OutcomeAction};
pub use reconcile::{FRESH_READ, MAX_READ_TO_WRITE, VERIFY_DELAY};

use crate::{
    audit::AuditSink,
    event::{decode, Decoded, GuardEvent},
    port::EcrPolicies,
};
use policy_core::config::GuardConfig;
use serde_json::Value;
use std::{sync::Arc, time::Duration};

/// How long to wait for a repository that was just created to be visible
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// Tries in all
    pub attempts: u32,
    /// Delay before the second try; doubles each time
    pub first_delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 6,
            first_delay: Duration::from_millis(200),
        }
    }
}

/// The event kinds a function handles
pub type Accepts = &'static [&'static str];

/// The ECR API actions the engine calls for an event kind. The template gives each function's
/// role exactly these (checked by tests/template.rs), and the tests below check them against the
/// calls the engine really makes.
pub fn ecr_actions(kind: &str) -> &'static [&'static str] {
    match kind {
        "repository-created" | "repository-policy-changed" => &[
            "ecr:DeleteRepositoryPolicy",
            "ecr:GetRepositoryPolicy",
            "ecr:SetRepositoryPolicy",
        ],
        "registry-policy-changed" => &[
            "ecr:DeleteRegistryPolicy",
            "ecr:GetRegistryPolicy",
            "ecr:PutRegistryPolicy",
        ],
        // A grant always leaves a statement (the grant, or the Deny that blocks it): no delete.
        "replication-failed" => &["ecr:GetRegistryPolicy", "ecr:PutRegistryPolicy"],
        // ECR's guide lists what managing a template needs besides the template calls:
        // `ecr:CreateRepository`, and `ecr:SetRepositoryPolicy` / `ecr:PutLifecyclePolicy` for a
        // template with a repository or lifecycle policy (every field is sent back unchanged).
        "creation-template-changed" => &[
            "ecr:CreateRepository",
            "ecr:CreateRepositoryCreationTemplate",
            "ecr:DescribeRepositoryCreationTemplates",
            "ecr:PutLifecyclePolicy",
            "ecr:SetRepositoryPolicy",
            "ecr:UpdateRepositoryCreationTemplate",
        ],
        "sweep" => &[
            "ecr:CreateRepository",
            "ecr:CreateRepositoryCreationTemplate",
            "ecr:DeleteRegistryPolicy",
            "ecr:DeleteRepositoryPolicy",
            "ecr:DescribeRepositories",
            "ecr:DescribeRepositoryCreationTemplates",
            "ecr:GetRegistryPolicy",
            "ecr:GetRepositoryPolicy",
            "ecr:PutLifecyclePolicy",
            "ecr:PutRegistryPolicy",
            "ecr:SetRepositoryPolicy",
            "ecr:UpdateRepositoryCreationTemplate",
        ],
        _ => &[],
    }
}

/// The ECR API actions a function that accepts these kinds may call
pub fn ecr_actions_for(accepts: Accepts) -> std::collections::BTreeSet<&'static str> {
    accepts.iter().flat_map(|k| ecr_actions(k).iter().copied()).collect()
}

/// The shell: a port, the config and where audit lines go
pub struct Guard<P> {
    /// ECR
    pub ecr: P,
    /// The config
    pub config: GuardConfig,
    /// The guard's roles (their own events are skipped)
    pub own_role_arns: Vec<String>,
    /// The registry account, when configured
    pub own_account: Option<String>,
    /// Audit lines
    pub audit: Arc<dyn AuditSink>,
    /// Waiting for new repositories
    pub creation_backoff: Backoff,
    /// Read-back checks after a registry write, against concurrent writers
    pub registry_attempts: usize,
    /// Wait before a read-back check (longer than [`MAX_READ_TO_WRITE`])
    pub verify_delay: Duration,
    /// Now, in seconds since the epoch: when approved exceptions end, when findings were seen
    /// (tests set it)
    pub clock: Clock,
    /// Where findings go besides the audit log (EventBridge, Security Hub, chat)
    pub outlets: crate::outlets::Outlets,
}

/// A source of the current time, seconds since the epoch
pub type Clock = Arc<dyn Fn() -> f64 + Send + Sync>;

/// The system clock
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    })
}

/// The partition of a region
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else {
        "aws"
    }
}

impl<P: EcrPolicies> Guard<P> {
    /// Builds a guard with default backoff and stdout audit
    pub fn new(ecr: P, settings: crate::settings::Settings) -> Self {
        Guard {
            ecr,
            config: settings.config,
            own_role_arns: settings.own_role_arns,
            own_account: settings.own_account,
            audit: Arc::new(crate::audit::StdoutAudit),
            creation_backoff: Backoff::default(),
            registry_attempts: 8,
            verify_delay: VERIFY_DELAY,
            clock: system_clock(),
            outlets: crate::outlets::Outlets::default(),
        }
    }

    /// Decodes an event and acts on it when its kind is in `accepts`
    pub async fn handle(&self, payload: &Value, accepts: Accepts) -> Result<Outcome, HandlerError> {
        let decoded = decode(payload, &self.own_role_arns, self.own_account.as_deref())?;
        let (account, region, event) = match decoded {
            Decoded::Skip(reason) => return Ok(Outcome::skipped(reason)),
            Decoded::Event { account, region, event } => (account, region, event),
        };
        if !accepts.contains(&event.kind()) {
            return Ok(Outcome::skipped(format!(
                "`{}` events are not handled by this function",
                event.kind()
            )));
        }
        // Boxed: the state machines of the paths nest deeply, and boxing keeps the handler's
        // future small (and within rustc's layout depth in release builds).
        let outcome = match event {
            GuardEvent::RepositoryCreated { repository } => {
                Box::pin(self.enforce_repository(&account, &region, &repository, true)).await
            }
            GuardEvent::RepositoryPolicyChanged { repository, .. } => {
                Box::pin(self.enforce_repository(&account, &region, &repository, false)).await
            }
            GuardEvent::RegistryPolicyChanged { .. } => Box::pin(self.enforce_registry(&account, &region)).await,
            GuardEvent::ReplicationFailed { source_account, .. } => {
                Box::pin(self.grant_replication(&account, &region, &source_account)).await
            }
            GuardEvent::CreationTemplateChanged { prefix } => {
                Box::pin(self.enforce_template(&account, &region, &prefix, None, &[])).await
            }
        }?;
        // After the write: a delivery that fails is audited and changes nothing here.
        Box::pin(self.outlets.publish(&outcome.records, self.audit.as_ref())).await;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        audit::MemoryAudit,
        memory::InMemoryEcr,
        port::{CreationTemplate, PortError, PortResult},
        settings::Settings,
    };
    use serde_json::json;
    use std::{collections::BTreeSet, sync::Mutex};

    /// Records the IAM action of every call
    struct Recording {
        inner: InMemoryEcr,
        calls: Mutex<BTreeSet<&'static str>>,
    }

    impl Recording {
        fn note(&self, action: &'static str) {
            self.calls.lock().unwrap().insert(action);
        }
    }

    impl EcrPolicies for Recording {
        async fn get_repository_policy(&self, r: &str) -> PortResult<Option<String>> {
            self.note("ecr:GetRepositoryPolicy");
            self.inner.get_repository_policy(r).await
        }
        async fn set_repository_policy(&self, r: &str, t: &str) -> PortResult<()> {
            self.note("ecr:SetRepositoryPolicy");
            self.inner.set_repository_policy(r, t).await
        }
        async fn delete_repository_policy(&self, r: &str) -> PortResult<()> {
            self.note("ecr:DeleteRepositoryPolicy");
            self.inner.delete_repository_policy(r).await
        }
        async fn get_registry_policy(&self) -> PortResult<Option<String>> {
            self.note("ecr:GetRegistryPolicy");
            self.inner.get_registry_policy().await
        }
        async fn put_registry_policy(&self, t: &str) -> PortResult<()> {
            self.note("ecr:PutRegistryPolicy");
            self.inner.put_registry_policy(t).await
        }
        async fn delete_registry_policy(&self) -> PortResult<()> {
            self.note("ecr:DeleteRegistryPolicy");
            self.inner.delete_registry_policy().await
        }
        async fn list_repositories(&self) -> PortResult<Vec<String>> {
            self.note("ecr:DescribeRepositories");
            self.inner.list_repositories().await
        }
        async fn list_creation_templates(&self) -> PortResult<Vec<CreationTemplate>> {
            self.note("ecr:DescribeRepositoryCreationTemplates");
            self.inner.list_creation_templates().await
        }
        async fn get_creation_template(&self, prefix: &str) -> PortResult<Option<CreationTemplate>> {
            self.note("ecr:DescribeRepositoryCreationTemplates");
            self.inner.get_creation_template(prefix).await
        }
        async fn update_creation_template(&self, t: &CreationTemplate) -> PortResult<()> {
            self.template_write("ecr:UpdateRepositoryCreationTemplate");
            self.inner.update_creation_template(t).await
        }
        async fn create_creation_template(&self, t: &CreationTemplate) -> PortResult<()> {
            self.template_write("ecr:CreateRepositoryCreationTemplate");
            self.inner.create_creation_template(t).await
        }
    }

    impl Recording {
        /// What ECR's guide says a template write needs (see `ecr_actions`)
        fn template_write(&self, action: &'static str) {
            for a in [
                action,
                "ecr:CreateRepository",
                "ecr:SetRepositoryPolicy",
                "ecr:PutLifecyclePolicy",
            ] {
                self.note(a);
            }
        }
    }

    const CONFIG: &str = r#"{"mode":"enforce","replication_sources":["777788889999"],"baselines":[{"match":"team-*","policy":{"Version":"2012-10-17",
        "Statement":[{"Sid":"Own","Effect":"Allow","Principal":{"AWS":"arn:${Partition}:iam::${AccountId}:root"},"Action":"ecr:*"}]}}]}"#;
    const PUBLIC: &str = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"}]}"#;
    const MIXED_REGISTRY: &str = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["999988887777","123456789012"]},"Action":"ecr:ReplicateImage","Resource":"*"}]}"#;
    const NO_SOURCES: &str = r#"{"mode":"enforce"}"#;
    const BAD_REGISTRY: &str = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"999988887777"},"Action":"ecr:ReplicateImage","Resource":"*"}]}"#;

    fn guard(config: &str) -> (Guard<Recording>, Arc<MemoryAudit>) {
        let settings = Settings::from_vars(|k| (k == "GUARD_CONFIG").then(|| config.to_owned())).unwrap();
        let ecr = Recording {
            inner: InMemoryEcr::new(),
            calls: Mutex::new(BTreeSet::new()),
        };
        let mut g = Guard::new(ecr, settings);
        let audit = Arc::new(MemoryAudit::default());
        g.audit = audit.clone();
        g.creation_backoff = Backoff {
            attempts: 2,
            first_delay: Duration::from_millis(1),
        };
        (g, audit)
    }

    fn event(name: &str, params: Value, extra: Value) -> Value {
        let mut detail = json!({"eventSource":"ecr.amazonaws.com","eventName":name,"requestParameters":params});
        if let (Some(d), Value::Object(x)) = (detail.as_object_mut(), extra) {
            d.extend(x);
        }
        json!({"source":"aws.ecr","detail-type":"AWS API Call via CloudTrail","account":"123456789012","region":"us-east-1","detail":detail})
    }

    fn replication_failed() -> Value {
        json!({"source":"aws.ecr","detail-type":"ECR Replication Action","account":"123456789012","region":"us-east-1",
            "detail":{"result":"FAILED","source-account":"777788889999","repository-name":"app"}})
    }

    #[tokio::test]
    async fn declared_actions_are_exactly_the_calls_made() {
        let all: Accepts = &[
            "repository-created",
            "repository-policy-changed",
            "registry-policy-changed",
            "replication-failed",
        ];
        let kinds = [all, &["creation-template-changed", "sweep"]].concat();
        // The sweep's registry policy must be able to end up empty too (no replication sources),
        // and it keeps a template for a namespace baseline.
        let mut sweep_config: Value = serde_json::from_str(CONFIG).unwrap();
        sweep_config.as_object_mut().unwrap().remove("replication_sources");
        sweep_config["baseline_templates"] = json!(true);
        let mut ns = sweep_config["baselines"][0].clone();
        ns["match"] = json!("ns/*");
        sweep_config["baselines"].as_array_mut().unwrap().push(ns);
        let sweep_config = sweep_config.to_string();
        for kind in &kinds {
            // Without replication sources a registry policy can end up empty (deleted).
            let (g, _) = guard(match *kind {
                "registry-policy-changed" => NO_SOURCES,
                "sweep" => &sweep_config,
                "creation-template-changed" => TEMPLATES,
                _ => CONFIG,
            });
            // Drive every path of this kind: a put and a delete where the kind can do both.
            match *kind {
                "repository-created" | "repository-policy-changed" => {
                    let name = if *kind == "repository-created" {
                        "CreateRepository"
                    } else {
                        "SetRepositoryPolicy"
                    };
                    g.ecr.inner.put_repository("team-a", None);
                    g.ecr.inner.put_repository("svc", Some(PUBLIC));
                    for repo in ["team-a", "svc"] {
                        let out = g
                            .handle(&event(name, json!({"repositoryName": repo}), json!({})), all)
                            .await
                            .unwrap();
                        assert_eq!(out.action, OutcomeAction::Written, "{kind} {repo}");
                    }
                }
                "registry-policy-changed" => {
                    for text in [MIXED_REGISTRY, BAD_REGISTRY] {
                        g.ecr.inner.put_registry(Some(text));
                        let out = g
                            .handle(&event("PutRegistryPolicy", json!({}), json!({})), all)
                            .await
                            .unwrap();
                        assert_eq!(out.action, OutcomeAction::Written, "{kind}");
                    }
                }
                "creation-template-changed" => {
                    // A template repaired in place, and one the guard keeps created.
                    g.ecr.inner.put_template(public_template("ROOT"));
                    let out = g.enforce_template(OWN, "us-east-1", "ROOT", None, &[]).await.unwrap();
                    assert_eq!(out.action, OutcomeAction::Written);
                    let out = g.enforce_template(OWN, "us-east-1", "team", None, &[]).await.unwrap();
                    assert_eq!((out.action, out.write), (OutcomeAction::Written, Some("create")));
                }
                "sweep" => {
                    g.ecr.inner.put_repository("team-a", None);
                    g.ecr.inner.put_repository("svc", Some(PUBLIC));
                    g.ecr.inner.put_registry(Some(MIXED_REGISTRY));
                    g.ecr.inner.put_template(public_template("ROOT"));
                    let first = g.sweep(OWN, "us-east-1", Default::default(), &|_, _| {}).await.unwrap();
                    assert_eq!((first.changed, first.registry), (2, Some(OutcomeAction::Written)));
                    assert_eq!(first.templates.get("ROOT"), Some(&OutcomeAction::Written));
                    g.ecr.inner.put_registry(Some(BAD_REGISTRY));
                    let second = g.sweep(OWN, "us-east-1", Default::default(), &|_, _| {}).await.unwrap();
                    assert_eq!((second.compliant, second.registry), (2, Some(OutcomeAction::Written)));
                }
                _ => {
                    let out = g.handle(&replication_failed(), all).await.unwrap();
                    assert_eq!(out.action, OutcomeAction::Written);
                }
            }
            let calls: BTreeSet<&str> = g.ecr.calls.lock().unwrap().clone();
            let declared: BTreeSet<&str> = ecr_actions(kind).iter().copied().collect();
            assert_eq!(calls, declared, "{kind}");
        }
    }

    const OWN: &str = "123456789012";
    const TEMPLATES: &str = r#"{"mode":"enforce","baseline_templates":true,"baselines":[{"match":"team/*","policy":{"Version":"2012-10-17",
        "Statement":[{"Sid":"Own","Effect":"Allow","Principal":{"AWS":"arn:${Partition}:iam::${AccountId}:root"},"Action":"ecr:*"}]}}]}"#;

    fn public_template(prefix: &str) -> CreationTemplate {
        CreationTemplate {
            prefix: prefix.to_owned(),
            repository_policy: Some(PUBLIC.to_owned()),
            description: Some("cache".to_owned()),
            applied_for: vec!["PULL_THROUGH_CACHE".to_owned()],
            image_tag_mutability: Some("IMMUTABLE".to_owned()),
            lifecycle_policy: Some(r#"{"rules":[]}"#.to_owned()),
            resource_tags: vec![("team".to_owned(), "platform".to_owned())],
            ..CreationTemplate::default()
        }
    }

    #[tokio::test]
    async fn templates_are_repaired_other_fields_kept_and_converge() {
        let (g, audit) = guard(TEMPLATES);
        g.ecr.inner.put_template(public_template("ROOT"));
        let out = g.enforce_template(OWN, "us-east-1", "ROOT", None, &[]).await.unwrap();
        assert_eq!(out.action, OutcomeAction::Written);
        assert_eq!(out.findings[0].rule, "public");
        let after = g.ecr.inner.template("ROOT").unwrap();
        // Every statement was public: the policy is cleared, every other field kept.
        assert_eq!(after.repository_policy, None);
        assert_eq!(
            after,
            CreationTemplate {
                repository_policy: None,
                ..public_template("ROOT")
            }
        );
        assert!(audit
            .lines()
            .iter()
            .any(|l| l["audit"] == "grant_removed" && l["target"] == "template"));
        // The template the guard keeps for `team/*` is created, then left alone.
        let out = g.enforce_template(OWN, "us-east-1", "team", None, &[]).await.unwrap();
        assert_eq!(out.write, Some("create"));
        let team = g.ecr.inner.template("team").unwrap();
        assert!(team
            .repository_policy
            .unwrap()
            .contains("arn:aws:iam::123456789012:root"));
        assert_eq!(
            team.applied_for,
            ["REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH"]
        );
        let writes = g.ecr.inner.writes();
        for prefix in ["ROOT", "team"] {
            let again = g.enforce_template(OWN, "us-east-1", prefix, None, &[]).await.unwrap();
            assert_eq!(again.action, OutcomeAction::Unchanged, "{prefix}");
        }
        assert_eq!(g.ecr.inner.writes(), writes);
    }

    #[tokio::test]
    async fn an_exception_keeps_exactly_its_grant_until_its_date() {
        let config = r#"{"mode":"enforce","exceptions":[{"repositories":"svc-*","grantee":{"account":"999988887777"},
            "max":"pull","expires":"2027-04-01","reason":"partner migration, SEC-42"}]}"#;
        let (mut g, _) = guard(config);
        let mixed = r#"{"Statement":[{"Sid":"Partners","Effect":"Allow","Principal":{"AWS":["999988887777","888877776666"]},"Action":"ecr:BatchGetImage"}]}"#;
        g.ecr.inner.put_repository("svc-a", Some(mixed));
        let day = |d: &str| policy_core::condition::parse_date(d).unwrap();
        g.clock = Arc::new(move || day("2027-03-25"));
        let event = || event("SetRepositoryPolicy", json!({"repositoryName":"svc-a"}), json!({}));
        let out = g.handle(&event(), &["repository-policy-changed"]).await.unwrap();
        let got: Vec<_> = out
            .findings
            .iter()
            .map(|f| (f.principal.as_deref().unwrap_or(""), f.disposition))
            .collect();
        assert_eq!(got, [("999988887777", "excepted"), ("888877776666", "removed")]);
        assert!(
            out.findings[0]
                .reason
                .contains("until `2027-04-01`, in 7 days: partner migration"),
            "{}",
            out.findings[0].reason
        );
        let live = g.ecr.inner.repository_policy("svc-a").unwrap();
        assert!(
            live.contains("999988887777") && !live.contains("888877776666"),
            "{live}"
        );
        // On its date it no longer applies: the partner's grant goes too.
        g.clock = Arc::new(move || day("2027-04-01"));
        let out = g.handle(&event(), &["repository-policy-changed"]).await.unwrap();
        assert_eq!(out.action, OutcomeAction::Written);
        assert_eq!(g.ecr.inner.repository_policy("svc-a"), None);
    }

    #[tokio::test]
    async fn report_mode_leaves_templates_alone() {
        let (g, _) = guard(&TEMPLATES.replace(r#""mode":"enforce""#, r#""mode":"report""#));
        g.ecr.inner.put_template(public_template("ROOT"));
        let out = g.enforce_template(OWN, "us-east-1", "ROOT", None, &[]).await.unwrap();
        assert_eq!(out.action, OutcomeAction::Reported);
        let out = g.enforce_template(OWN, "us-east-1", "team", None, &[]).await.unwrap();
        assert_eq!(out.action, OutcomeAction::Reported);
        assert_eq!(g.ecr.inner.writes(), 0);
        assert_eq!(g.ecr.inner.template("ROOT"), Some(public_template("ROOT")));
        assert_eq!(g.ecr.inner.template("team"), None);
    }

    #[tokio::test]
    async fn transient_errors_are_retryable_and_write_nothing() {
        let (g, _) = guard(CONFIG);
        g.ecr.inner.put_repository("svc", Some(PUBLIC));
        g.ecr.inner.fail_next(PortError::Transient {
            operation: "GetRepositoryPolicy",
            message: "ThrottlingException: rate exceeded".into(),
        });
        let err = g
            .handle(
                &event("SetRepositoryPolicy", json!({"repositoryName":"svc"}), json!({})),
                &["repository-policy-changed"],
            )
            .await
            .unwrap_err();
        assert!(err.is_retryable());
        let diag: lambda_runtime::Diagnostic = err.into();
        assert_eq!(diag.error_type, "Retryable.EcrError");
        assert_eq!(g.ecr.inner.writes(), 0);
        assert_eq!(g.ecr.inner.repository_policy("svc").as_deref(), Some(PUBLIC));
    }

    #[tokio::test]
    async fn unreadable_or_unknown_live_policies_are_left_alone() {
        let (g, audit) = guard(CONFIG);
        let odd = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"StringEqualz":{"aws:SourceIp":"1.2.3.4"}}}]}"#;
        g.ecr.inner.put_repository("odd", Some(odd));
        g.ecr.inner.put_repository(
            "broken",
            Some(r#"{"Statement":[{"Effect":"Allow","Effect":"Deny","Action":"*"}]}"#),
        );
        let accepts: Accepts = &["repository-policy-changed"];
        let e = g
            .handle(
                &event("SetRepositoryPolicy", json!({"repositoryName":"odd"}), json!({})),
                accepts,
            )
            .await
            .unwrap_err();
        assert!(!e.is_retryable());
        assert!(
            e.to_string().contains("unknown condition operator `StringEqualz`"),
            "{e}"
        );
        let e = g
            .handle(
                &event("SetRepositoryPolicy", json!({"repositoryName":"broken"}), json!({})),
                accepts,
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("duplicate key `Effect`"), "{e}");
        assert_eq!(g.ecr.inner.writes(), 0);
        assert!(audit.lines().is_empty());
    }

    #[tokio::test]
    async fn a_repository_deleted_before_we_look_is_skipped() {
        let (g, _) = guard(CONFIG);
        let out = g
            .handle(
                &event("SetRepositoryPolicy", json!({"repositoryName":"gone"}), json!({})),
                &["repository-policy-changed"],
            )
            .await
            .unwrap();
        assert_eq!(out.action, OutcomeAction::Skipped);
    }
}
