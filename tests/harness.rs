//! Test harness for the scenario tests: one moto ECR server per test binary (started from the
//! project's virtualenv, stopped by a watchdog when the tests exit), an SDK client pointed at it,
//! a lock so scenarios that share the registry run one at a time, sample events from `events/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use aws_sdk_ecr::config::{BehaviorVersion, Credentials, Region};
use guard_adapter::{
    audit::MemoryAudit, engine::Backoff, port::CreationTemplate, sdk::SdkEcr, EcrPolicies, Guard, PortError, Settings,
};
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

/// The endpoint of the shared moto server, started on first use: `MOTO_ENDPOINT` when set (a
/// server already running), else `MOTO_SERVER` (an executable taking `moto_server`'s flags), else
/// the project's launcher `scripts/moto_server.py`, which adds the ECR APIs moto lacks
/// (`scripts/moto_ext/`)
pub fn moto_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(e) = std::env::var("MOTO_ENDPOINT") {
            return e;
        }
        let command: Vec<PathBuf> = match std::env::var("MOTO_SERVER") {
            Ok(bin) => vec![PathBuf::from(bin)],
            Err(_) => vec![root().join(".tools/venv/bin/python"), root().join("scripts/moto_server.py")],
        };
        for path in &command {
            assert!(path.exists(), "{} is missing: run ./scripts/tools.sh (./scripts/test.sh does)", path.display());
        }
        let command: Vec<String> = command.iter().map(|p| format!("'{}'", p.display().to_string().replace('\'', r"'\''"))).collect();
        let port = free_port();
        // The watchdog shell stops moto when this test process is gone, however it ends.
        let script = format!(
            "{} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; while kill -0 {} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.5; done; kill $m 2>/dev/null",
            command.join(" "),
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

/// One POST to moto without an SDK (`headers` each end in CRLF): the answer's head and body.
/// Panics, naming `what`, unless moto answers 200.
fn moto_post(path: &str, headers: &str, body: &str, what: &str) -> (String, String) {
    let addr = moto_endpoint().trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, answer) = out.split_once("\r\n\r\n").unwrap_or((out.as_str(), ""));
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{what}: {out}"
    );
    (head.to_owned(), answer.to_owned())
}

/// The signature header moto routes a call by (it checks no signature)
fn moto_authorization(service: &str) -> String {
    format!(
        "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n"
    )
}

/// `POST /moto-api/reset`: every repository and policy gone
pub fn reset_moto() {
    moto_post("/moto-api/reset", "", "", "reset failed");
}

/// One call to a JSON-protocol AWS API on moto (EventBridge `AWSEvents.*`, SQS `AmazonSQS.*`),
/// for services the scenarios use too rarely to build their SDK crates: moto routes by the
/// credential scope and checks no signature. Panics unless moto answers 200.
pub fn moto_json(service: &str, target: &str, body: &Value) -> Value {
    let content_type = if target.starts_with("AmazonSQS.") { "1.0" } else { "1.1" };
    let headers = format!(
        "X-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-{content_type}\r\n{}",
        moto_authorization(service)
    );
    let (_, answer) = moto_post("/", &headers, &body.to_string(), target);
    // moto answers some calls with no body at all
    serde_json::from_str(&answer).unwrap_or(Value::Null)
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
    async fn list_creation_templates(&self) -> Result<Vec<CreationTemplate>, PortError> {
        self.inner.list_creation_templates().await
    }
    async fn get_creation_template(&self, prefix: &str) -> Result<Option<CreationTemplate>, PortError> {
        self.inner.get_creation_template(prefix).await
    }
    async fn update_creation_template(&self, t: &CreationTemplate) -> Result<(), PortError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.update_creation_template(t).await
    }
    async fn create_creation_template(&self, t: &CreationTemplate) -> Result<(), PortError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.create_creation_template(t).await
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
    create_repository_with(&client(), name, policy).await;
}

/// Creates a repository through `c` (any account's client), with a policy when given
pub async fn create_repository_with(c: &aws_sdk_ecr::Client, name: &str, policy: Option<&Value>) {
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

/// What the fault proxy does to a matching call
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer `400 ThrottlingException`
    Throttle,
    /// Answer `500 ServerException`
    ServerError,
    /// Delete this repository's policy in moto, then forward the call (a concurrent writer)
    DeletePolicyFirst(String),
    /// Wait this long, then forward the call (a slow call: the plan waited)
    Delay(Duration),
}

struct Rule {
    operation: String,
    fault: Fault,
    skip: usize,
    times: usize,
}

/// A fault-injecting HTTP proxy in front of moto, on loopback: calls are forwarded unless a
/// rule for their operation (`X-Amz-Target`) applies
#[derive(Clone)]
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    rules: Arc<std::sync::Mutex<Vec<Rule>>>,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
}

impl FaultProxy {
    /// Starts the proxy on the current runtime
    pub async fn start() -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let proxy = FaultProxy {
            endpoint,
            rules: Arc::default(),
            seen: Arc::default(),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let p = p.clone();
                tokio::spawn(async move { p.serve(conn).await });
            }
        });
        proxy
    }

    /// After `skip` matching calls pass, apply `fault` to the next `times`
    pub fn inject(&self, operation: &str, fault: Fault, skip: usize, times: usize) {
        self.rules.lock().unwrap().push(Rule {
            operation: operation.into(),
            fault,
            skip,
            times,
        });
    }

    /// Calls of an operation seen so far
    pub fn calls(&self, operation: &str) -> usize {
        self.seen.lock().unwrap().iter().filter(|o| *o == operation).count()
    }

    fn decide(&self, operation: &str) -> Option<Fault> {
        self.seen.lock().unwrap().push(operation.to_owned());
        let mut rules = self.rules.lock().unwrap();
        let rule = rules
            .iter_mut()
            .find(|r| r.operation == operation && (r.skip > 0 || r.times > 0))?;
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        rule.times -= 1;
        Some(rule.fault.clone())
    }

    async fn serve(&self, mut conn: tokio::net::TcpStream) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // One request per connection: read the head, then the body by Content-Length.
        let mut buf = Vec::new();
        let head_end = loop {
            let mut chunk = [0u8; 4096];
            let n = match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim().to_owned())
            })
        };
        let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        // JSON protocols name the operation in `X-Amz-Target`; REST ones (Security Hub) by path.
        let operation = header("x-amz-target")
            .and_then(|t| t.rsplit('.').next().map(str::to_owned))
            .or_else(|| head.split_whitespace().nth(1).map(str::to_owned))
            .unwrap_or_default();
        let reply = |status: &str, kind: &str| {
            let body = format!(r#"{{"__type":"{kind}","message":"injected by the test proxy"}}"#);
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        };
        match self.decide(&operation) {
            Some(Fault::Throttle) => {
                let _ = conn
                    .write_all(reply("400 Bad Request", "ThrottlingException").as_bytes())
                    .await;
                return;
            }
            Some(Fault::ServerError) => {
                let _ = conn
                    .write_all(reply("500 Internal Server Error", "ServerException").as_bytes())
                    .await;
                return;
            }
            Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
            Some(Fault::DeletePolicyFirst(repository)) => {
                let _ = client()
                    .delete_repository_policy()
                    .repository_name(repository)
                    .send()
                    .await;
            }
            None => {}
        }
        // Forward with `Connection: close`, relay the whole answer, close.
        let mut head_out: String = head
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
            .map(|l| format!("{l}\r\n"))
            .collect();
        head_out.push_str("Connection: close\r\n\r\n");
        let Ok(mut up) = tokio::net::TcpStream::connect(moto_endpoint().trim_start_matches("http://")).await else {
            return;
        };
        if up.write_all(head_out.as_bytes()).await.is_err()
            || up.write_all(&buf[head_end..head_end + length]).await.is_err()
        {
            return;
        }
        let mut answer = Vec::new();
        let _ = up.read_to_end(&mut answer).await;
        let _ = conn.write_all(&answer).await;
        let _ = conn.shutdown().await;
    }
}

/// An SDK client for any endpoint (a proxy, or a port nothing listens on)
pub fn client_at(endpoint: &str) -> aws_sdk_ecr::Client {
    let conf = aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "scenarios"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_ecr::Client::from_conf(conf)
}

/// A guard whose ECR calls go to `endpoint`
pub fn guard_at(config_json: &str, endpoint: &str) -> TestGuard {
    let mut g = guard(config_json, None);
    let writes = g.writes.clone();
    g.guard.ecr = Counting {
        inner: SdkEcr::new(client_at(endpoint), Some(ACCOUNT.to_owned())),
        writes,
        fail_repository: None,
    };
    g
}

/// The SDK configuration of the outlets' clients at `endpoint`: as the Lambda builds it, with
/// short SDK backoff so failure scenarios stay fast
pub fn sdk_config_at(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            Credentials::new("testing", "testing", None, None, "scenarios"),
        ))
        .endpoint_url(endpoint)
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(20)),
        )
        .build()
}

/// The outlets `config_json` turns on, their calls going to `endpoint` (moto, a proxy, or a
/// dead port), built as the event handlers build them (`with_hub`: as the sweep does)
fn outlets_at(config_json: &str, endpoint: &str, with_hub: bool) -> guard_adapter::outlets::Outlets {
    let config = policy_core::GuardConfig::parse(config_json).unwrap();
    let build = if with_hub {
        guard_adapter::outlets_with_hub
    } else {
        guard_adapter::outlets_from
    };
    let mut outlets = build(&config, &sdk_config_at(endpoint));
    outlets.retry = Backoff {
        attempts: 2,
        first_delay: Duration::from_millis(20),
    };
    outlets
}

/// A guard over moto whose findings go where an event handler's go (EventBridge, chat), at
/// `endpoint`
pub fn guard_with_outlets(config_json: &str, endpoint: &str) -> TestGuard {
    let mut g = guard(config_json, None);
    g.guard.outlets = outlets_at(config_json, endpoint, false);
    g
}

/// A guard over moto whose findings go where the sweep's go (EventBridge, Security Hub, chat)
pub fn sweeper_with_outlets(config_json: &str, endpoint: &str) -> TestGuard {
    let mut g = guard(config_json, None);
    g.guard.outlets = outlets_at(config_json, endpoint, true);
    g
}

/// An SQS client for moto (the tests read findings from queues)
pub fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config_at(moto_endpoint()))
}

/// A new SQS queue: (url, ARN)
pub async fn queue(name: &str) -> (String, String) {
    let url = sqs()
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs()
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    (url, arn)
}

/// Every message body in a queue, waiting up to 5 s for the first
pub async fn drain(url: &str) -> Vec<Value> {
    let mut out = vec![];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = sqs()
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() && (!out.is_empty() || Instant::now() > deadline) {
            return out;
        }
        for m in messages {
            out.push(serde_json::from_str(m.body.as_deref().unwrap()).unwrap());
            sqs()
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle.unwrap())
                .send()
                .await
                .unwrap();
        }
        if out.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// moto's SDK configuration (endpoint, keys, Region), loaded through the standard chain as
/// `guard_adapter::sdk_config` loads it in a Lambda (time source and sleep included)
pub async fn moto_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "scenarios"))
        .endpoint_url(moto_endpoint())
        .load()
        .await
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A query-protocol call (IAM, STS) to moto in another account, through moto's
/// `x-moto-account-id` header: sets up an account no credentials reach yet. The answer's body.
pub fn moto_call_as(account: &str, service: &str, params: &[(&str, &str)]) -> String {
    let headers = format!(
        "Content-Type: application/x-www-form-urlencoded\r\nx-moto-account-id: {account}\r\n{}",
        moto_authorization(service)
    );
    let (head, body) = moto_post("/", &headers, &form_encode(params), &format!("{service} call failed"));
    format!("{head}\r\n\r\n{body}")
}

/// Creates an IAM role in an account (member stacks do this in AWS)
pub fn create_role(account: &str, name: &str, trust: &Value) {
    moto_call_as(
        account,
        "iam",
        &[
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", name),
            ("AssumeRolePolicyDocument", &trust.to_string()),
        ],
    );
}

/// An ECR client acting in `account` and `region`, through a `scenario-admin` role created there
/// for the test (to look at and set up member registries)
pub async fn ecr_in(account: &str, region: &str) -> aws_sdk_ecr::Client {
    if account == ACCOUNT {
        return client_in_region(region);
    }
    let role = format!("arn:aws:iam::{account}:role/scenario-admin");
    let exists = moto_call_as(account, "iam", &[("Action", "ListRoles"), ("Version", "2010-05-08")]).contains(&role);
    if !exists {
        create_role(
            account,
            "scenario-admin",
            &serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
                "Principal":{"AWS":format!("arn:aws:iam::{ACCOUNT}:root")},"Action":"sts:AssumeRole"}]}),
        );
    }
    let base = moto_sdk_config().await;
    let provider = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name("scenario-admin")
        .configure(&base)
        .build()
        .await;
    let conf = aws_sdk_ecr::config::Builder::from(&base)
        .region(Region::new(region.to_owned()))
        .credentials_provider(provider)
        .build();
    aws_sdk_ecr::Client::from_conf(conf)
}

/// An SDK client for moto's default account in another Region
pub fn client_in_region(region: &str) -> aws_sdk_ecr::Client {
    let conf = aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "scenarios"))
        .endpoint_url(moto_endpoint())
        .build();
    aws_sdk_ecr::Client::from_conf(conf)
}

/// A sample event as another account's registry would send it (every account id in it replaced)
pub fn event_in(name: &str, account: &str) -> Value {
    serde_json::from_str(&event(name).to_string().replace(ACCOUNT, account)).unwrap()
}

/// A loopback address nothing listens on
pub fn dead_endpoint() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// The creation template of exactly this prefix, if there is one
pub async fn creation_template(prefix: &str) -> Option<aws_sdk_ecr::types::RepositoryCreationTemplate> {
    client()
        .describe_repository_creation_templates()
        .prefixes(prefix)
        .send()
        .await
        .unwrap()
        .repository_creation_templates
        .unwrap_or_default()
        .into_iter()
        .find(|t| t.prefix() == Some(prefix))
}
