//! Test harness for the scenario tests: one moto ECR server per test binary (started from the
//! project's virtualenv, stopped by a watchdog when the tests exit), an SDK client pointed at it,
//! a lock so scenarios that share the registry run one at a time, sample events from `events/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use aws_sdk_ecr::config::{BehaviorVersion, Credentials, Region};
use guard_adapter::{audit::MemoryAudit, engine::Backoff, sdk::SdkEcr, EcrPolicies, Guard, PortError, Settings};
use serde_json::Value;
use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, OnceLock,
    },
    time::{Duration, Instant},
};

/// moto's default account: the registry the scenarios guard
pub const ACCOUNT: &str = "123456789012";
/// The region of the sample events
pub const REGION: &str = "us-east-1";

/// The workspace root
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The endpoint of the shared moto server, started on first use
pub fn moto_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(e) = std::env::var("MOTO_ENDPOINT") {
            return e;
        }
        let bin = std::env::var("MOTO_SERVER").map(PathBuf::from).unwrap_or_else(|_| root().join(".tools/venv/bin/moto_server"));
        assert!(bin.exists(), "{} is missing: run ./scripts/tools.sh (./scripts/test.sh does)", bin.display());
        let port = free_port();
        // The watchdog shell stops moto when this test process is gone, however it ends.
        let script = format!(
            "{} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; while kill -0 {} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.5; done; kill $m 2>/dev/null",
            bin.display(),
            std::process::id()
        );
        let mut watchdog =
            Command::new("bash").arg("-c").arg(script).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        // Reap the watchdog when it ends so it never lingers as a zombie.
        std::thread::spawn(move || watchdog.wait());
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        format!("http://127.0.0.1:{port}")
    })
}

/// `POST /moto-api/reset`: every repository and policy gone
pub fn reset_moto() {
    let addr = moto_endpoint().trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /moto-api/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200"),
        "reset failed: {out}"
    );
}

/// Scenarios share moto's single registry: one at a time
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let guard = LOCK.lock().await;
    reset_moto();
    guard
}

/// An SDK client for moto, as the Lambda builds it (only the endpoint and keys differ)
pub fn client() -> aws_sdk_ecr::Client {
    let conf = aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "scenarios"))
        .endpoint_url(moto_endpoint())
        .build();
    aws_sdk_ecr::Client::from_conf(conf)
}

/// Counts the writes that reach ECR, so a test can assert "no second write"
pub struct Counting<P> {
    inner: P,
    writes: Arc<AtomicUsize>,
    /// Reads of this repository's policy fail, as a throttled or broken call would
    fail_repository: Option<String>,
}

impl<P> Counting<P> {
    /// The shared counter
    pub fn counter(&self) -> Arc<AtomicUsize> {
        self.writes.clone()
    }
}

impl<P: EcrPolicies> EcrPolicies for Counting<P> {
    async fn get_repository_policy(&self, repository: &str) -> Result<Option<String>, PortError> {
        if self.fail_repository.as_deref() == Some(repository) {
            return Err(PortError::Transient {
                operation: "GetRepositoryPolicy",
                message: "injected failure".into(),
            });
        }
        self.inner.get_repository_policy(repository).await
    }
    async fn set_repository_policy(&self, repository: &str, text: &str) -> Result<(), PortError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.set_repository_policy(repository, text).await
    }
    async fn delete_repository_policy(&self, repository: &str) -> Result<(), PortError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete_repository_policy(repository).await
    }
    async fn get_registry_policy(&self) -> Result<Option<String>, PortError> {
        self.inner.get_registry_policy().await
    }
    async fn put_registry_policy(&self, text: &str) -> Result<(), PortError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.put_registry_policy(text).await
    }
    async fn delete_registry_policy(&self) -> Result<(), PortError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete_registry_policy().await
    }
    async fn list_repositories(&self) -> Result<Vec<String>, PortError> {
        self.inner.list_repositories().await
    }
}

/// A guard as the Lambda builds it, over moto, with its audit lines kept in memory
pub struct TestGuard {
    /// The guard
    pub guard: Guard<Counting<SdkEcr>>,
    /// Its audit lines
    pub audit: Arc<MemoryAudit>,
    /// Writes that reached ECR
    pub writes: Arc<AtomicUsize>,
}

impl TestGuard {
    /// Writes so far
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }
}

/// The example config (config/example.json) with `edit` applied
pub fn config(edit: impl FnOnce(&mut Value)) -> String {
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("config/example.json")).unwrap()).unwrap();
    edit(&mut v);
    v.to_string()
}

/// A guard over moto with this config; `own_role` as `GUARD_ROLE_ARN`
pub fn guard(config_json: &str, own_role: Option<&str>) -> TestGuard {
    guard_failing(config_json, own_role, None)
}

/// A guard whose reads of one repository's policy fail
pub fn guard_failing(config_json: &str, own_role: Option<&str>, fail_repository: Option<&str>) -> TestGuard {
    let settings = Settings::from_vars(|k| match k {
        "GUARD_CONFIG" => Some(config_json.to_owned()),
        "GUARD_ROLE_ARN" => own_role.map(str::to_owned),
        "GUARD_ACCOUNT_ID" => Some(ACCOUNT.to_owned()),
        _ => None,
    })
    .unwrap();
    let writes = Arc::new(AtomicUsize::new(0));
    let ecr = Counting {
        inner: SdkEcr::new(client(), Some(ACCOUNT.to_owned())),
        writes: writes.clone(),
        fail_repository: fail_repository.map(str::to_owned),
    };
    let audit = Arc::new(MemoryAudit::default());
    let mut guard = Guard::new(ecr, settings);
    guard.audit = audit.clone();
    guard.creation_backoff = Backoff {
        attempts: 6,
        first_delay: Duration::from_millis(100),
    };
    TestGuard { guard, audit, writes }
}

/// A sample event from `events/`
pub fn event(name: &str) -> Value {
    let path = root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// A sample CloudTrail event for another repository
pub fn event_for(name: &str, repository: &str) -> Value {
    let mut e = event(name);
    e["detail"]["requestParameters"]["repositoryName"] = Value::String(repository.to_owned());
    e
}

/// Wraps a payload as the runtime hands it to a handler
pub fn lambda_event(payload: Value) -> lambda_runtime::LambdaEvent<Value> {
    lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default())
}

/// Creates a repository, with a policy when given
pub async fn create_repository(name: &str, policy: Option<&Value>) {
    let c = client();
    c.create_repository().repository_name(name).send().await.unwrap();
    if let Some(p) = policy {
        c.set_repository_policy()
            .repository_name(name)
            .policy_text(p.to_string())
            .send()
            .await
            .unwrap();
    }
}

/// The live repository policy, parsed
pub async fn repository_policy(name: &str) -> Option<Value> {
    match client().get_repository_policy().repository_name(name).send().await {
        Ok(o) => o.policy_text.map(|t| serde_json::from_str(&t).unwrap()),
        Err(e) => {
            let code = aws_sdk_ecr::error::ProvideErrorMetadata::code(&e).map(str::to_owned);
            assert_eq!(code.as_deref(), Some("RepositoryPolicyNotFoundException"), "{e:?}");
            None
        }
    }
}

/// The live registry policy, parsed
pub async fn registry_policy() -> Option<Value> {
    match client().get_registry_policy().send().await {
        Ok(o) => o.policy_text.map(|t| serde_json::from_str(&t).unwrap()),
        Err(_) => None,
    }
}

/// Sets the registry policy directly
pub async fn put_registry_policy(policy: &Value) {
    client()
        .put_registry_policy()
        .policy_text(policy.to_string())
        .send()
        .await
        .unwrap();
}

/// The Sids of a policy's statements, in order
pub fn sids(policy: &Value) -> Vec<String> {
    let st = &policy["Statement"];
    let list: Vec<Value> = if st.is_array() {
        st.as_array().unwrap().clone()
    } else {
        vec![st.clone()]
    };
    list.iter()
        .map(|s| s["Sid"].as_str().unwrap_or("").to_owned())
        .collect()
}
