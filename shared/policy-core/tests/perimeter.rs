//! The perimeter proved against the guard: the RCP generated from a config denies what the guard
//! would remove and allows what it keeps.
//!
//! Two levels, in four configurations ("worlds"):
//!
//! - **Requests.** For every caller (own account, organisation member, trusted pull and push
//!   accounts, replication source, foreign account, anonymous, service principals acting for each
//!   of them or for no one, service-linked roles) x every ECR action x repository (an ordinary one,
//!   an exempt one, one inside and one outside the replication prefix): the RCP denies the request
//!   exactly when no policy the guard keeps can allow it. "The guard admits" is decided by the guard
//!   itself: the tightest grants for the caller (its account, the organisation, its service pinned
//!   to its source, unpinned, a registry grant) are reviewed, and the request is admitted when one
//!   that the guard leaves in place allows it.
//! - **Policies.** For representative repository and registry policies (legitimate ones the guard
//!   keeps, bypasses it removes, and, in the two configurations it was written for, the 219
//!   policies of `tests/cases/bypass.json`) x the same requests, a sample of actions of every
//!   class: allowed by the policy after the guard's review == allowed before AND not denied by
//!   the RCP.
//!
//! Where the two cannot agree, each cell must fall in a documented category (see [`Category`]);
//! only one of them denies something the guard keeps, by design, and only with
//! `unpinned_services: keep`.
//!
//! Request contexts are built as IAM documents its keys (IAM User Guide, global condition keys):
//! `aws:PrincipalAccount` for every request (`anonymous` for anonymous ones),
//! `aws:PrincipalOrgID`/`aws:PrincipalOrgPaths` only for members of an organisation,
//! `aws:PrincipalIsAWSService` for signed requests (true for service principals),
//! `aws:PrincipalServiceName` for service principals, `aws:SourceAccount`/`aws:SourceArn`/
//! `aws:SourceOrgID` only when a service acts for a resource, `aws:ResourceAccount`/
//! `aws:ResourceOrgID` always (the resource is in the own account). An own-account caller is
//! allowed by its identity policy (same-account access needs no resource-policy grant); a caller
//! from another account, or a service principal, only through the resource policy. RCPs do not
//! apply to service-linked roles (AWS Organizations User Guide, "Resource control policies").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use policy_core::{
    actions::catalogue,
    condition::ContextValue,
    config::UnpinnedServices,
    evaluate,
    guard::{review_registry_policy, review_repository_policy},
    perimeter, Context, Decision, GuardConfig, GuardContext, Policy, Request, RequestPrincipal, Version,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const OWN: &str = "123456789012";
const ORG: &str = "o-a1b2c3d4e5";
const MEMBER: &str = "222233334444";
const T_PULL: &str = "111122223333";
const T_PUSH: &str = "444455556666";
const SOURCE: &str = "777788889999";
const FOREIGN: &str = "999999999999";
const REGION: &str = "us-east-1";

fn repo_arn(name: &str) -> String {
    format!("arn:aws:ecr:{REGION}:{OWN}:repository/{name}")
}

/// Who calls
#[derive(Clone, Debug)]
enum Caller {
    /// A user or role session of an account; `slr` for a service-linked role's session
    Iam { arn: String, slr: bool },
    /// No credentials
    Anonymous,
    /// An AWS service principal acting for `source` (none: for no one); `arn_only` when the
    /// service names its source by `aws:SourceArn` alone
    Service {
        name: &'static str,
        source: Option<&'static str>,
        arn_only: bool,
    },
}

impl Caller {
    fn account(&self) -> Option<String> {
        match self {
            Caller::Iam { arn, .. } => arn.split(':').nth(4).map(str::to_owned),
            _ => None,
        }
    }

    fn is_own(&self) -> bool {
        self.account().as_deref() == Some(OWN)
    }
}

fn role(account: &str, name: &str) -> Caller {
    Caller::Iam {
        arn: format!("arn:aws:sts::{account}:assumed-role/{name}/session"),
        slr: false,
    }
}

fn slr(account: &str) -> Caller {
    Caller::Iam {
        arn: format!("arn:aws:sts::{account}:assumed-role/AWSServiceRoleForECRReplication/replication"),
        slr: true,
    }
}

fn service(name: &'static str, source: Option<&'static str>) -> Caller {
    Caller::Service {
        name,
        source,
        arn_only: false,
    }
}

fn callers() -> Vec<Caller> {
    let mut out = vec![
        Caller::Iam {
            arn: format!("arn:aws:iam::{OWN}:user/dev"),
            slr: false,
        },
        role(OWN, "deploy"),
        slr(OWN),
        role(MEMBER, "ci"),
        role(T_PULL, "ci"),
        role(T_PUSH, "ci"),
        role(SOURCE, "ops"),
        slr(SOURCE),
        role(FOREIGN, "attacker"),
        Caller::Iam {
            arn: format!("arn:aws:iam::{FOREIGN}:user/mallory"),
            slr: false,
        },
        slr(FOREIGN),
        Caller::Anonymous,
    ];
    for s in [OWN, MEMBER, T_PULL, T_PUSH, SOURCE, FOREIGN] {
        out.push(service("lambda.amazonaws.com", Some(s)));
    }
    out.extend([
        service("lambda.amazonaws.com", None),
        Caller::Service {
            name: "lambda.amazonaws.com",
            source: Some(FOREIGN),
            arn_only: true,
        },
        service("codebuild.amazonaws.com", Some(OWN)),
        service("codebuild.amazonaws.com", Some(T_PULL)),
        service("codebuild.amazonaws.com", Some(T_PUSH)),
        service("codebuild.amazonaws.com", Some(FOREIGN)),
        service("ec2.amazonaws.com", Some(OWN)),
        service("ec2.amazonaws.com", Some(FOREIGN)),
        service("ec2.amazonaws.com", None),
    ]);
    out
}

/// One configuration, with the organisations the accounts belong to
struct World {
    name: &'static str,
    config: GuardConfig,
    orgs: BTreeMap<&'static str, &'static str>,
    repositories: Vec<&'static str>,
    rcp: Policy,
}

impl World {
    fn new(name: &'static str, config: Value, in_org: &[&'static str], repositories: Vec<&'static str>) -> World {
        let config = GuardConfig::parse(&config.to_string()).unwrap();
        let mut orgs = BTreeMap::from([
            (OWN, ORG),
            (MEMBER, ORG),
            (T_PULL, "o-tpu11tpu11"),
            (FOREIGN, "o-f0re1gnf0re"),
        ]);
        for a in in_org {
            orgs.insert(*a, ORG);
        }
        let rcp = perimeter(&config).unwrap().policy;
        World {
            name,
            config,
            orgs,
            repositories,
            rcp,
        }
    }

    fn org_of(&self, account: &str) -> Option<&'static str> {
        self.orgs.get(account).copied()
    }

    fn is_exempt(&self, repository: &str) -> bool {
        self.config.is_exempt(repository)
    }

    /// The request as IAM would build it
    fn request(&self, caller: &Caller, action: &str, repository: &str) -> Request {
        let mut ctx = Context::new()
            .with("aws:ResourceAccount", OWN)
            .with("aws:ResourceOrgID", ORG)
            .with("aws:SecureTransport", "true");
        ctx.insert(
            "aws:ResourceOrgPaths",
            ContextValue::Multi(vec![format!("{ORG}/r-ab12/ou-ab12-11111111/")]),
        );
        let principal = match caller {
            Caller::Anonymous => {
                ctx.insert("aws:PrincipalAccount", ContextValue::Single("anonymous".into()));
                RequestPrincipal::Anonymous
            }
            Caller::Iam { arn, .. } => {
                ctx.insert("aws:PrincipalIsAWSService", ContextValue::Single("false".into()));
                if let Some(org) = caller.account().and_then(|a| self.org_of(&a)) {
                    ctx.insert("aws:PrincipalOrgID", ContextValue::Single(org.into()));
                    ctx.insert(
                        "aws:PrincipalOrgPaths",
                        ContextValue::Multi(vec![format!("{org}/r-ab12/ou-ab12-11111111/")]),
                    );
                }
                RequestPrincipal::Arn {
                    arn: arn.clone(),
                    unique_id: None,
                }
            }
            Caller::Service { name, source, arn_only } => {
                ctx.insert("aws:PrincipalIsAWSService", ContextValue::Single("true".into()));
                if let Some(s) = source {
                    let svc = name.split('.').next().unwrap();
                    ctx.insert(
                        "aws:SourceArn",
                        ContextValue::Single(format!("arn:aws:{svc}:{REGION}:{s}:function:app")),
                    );
                    if !arn_only {
                        ctx.insert("aws:SourceAccount", ContextValue::Single((*s).into()));
                        if let Some(org) = self.org_of(s) {
                            ctx.insert("aws:SourceOrgID", ContextValue::Single(org.into()));
                            ctx.insert(
                                "aws:SourceOrgPaths",
                                ContextValue::Multi(vec![format!("{org}/r-ab12/ou-ab12-11111111/")]),
                            );
                        }
                    }
                }
                RequestPrincipal::Service((*name).into())
            }
        };
        Request {
            principal,
            action: action.into(),
            resource: Some(repo_arn(repository)),
            context: ctx,
        }
    }

    /// Whether a resource policy (with the caller's identity policy) lets the request through
    fn allowed(&self, policy: &Policy, caller: &Caller, req: &Request) -> bool {
        match evaluate(policy, req).unwrap() {
            Decision::ExplicitDeny => false,
            Decision::Allow => true,
            // Same-account callers need no resource-policy grant.
            Decision::ImplicitDeny => caller.is_own(),
        }
    }

    fn rcp_denies_with(&self, rcp: &Policy, caller: &Caller, req: &Request) -> bool {
        // RCPs do not apply to calls made by service-linked roles.
        if matches!(caller, Caller::Iam { slr: true, .. }) {
            return false;
        }
        evaluate(rcp, req).unwrap() == Decision::ExplicitDeny
    }

    fn rcp_denies(&self, caller: &Caller, req: &Request) -> bool {
        self.rcp_denies_with(&self.rcp, caller, req)
    }

    fn review(&self, policy: &Policy, registry: bool, repository: &str) -> Policy {
        let ctx = GuardContext::new(&self.config, OWN, REGION, "aws").for_scope(repository);
        if registry {
            review_registry_policy(policy, &ctx).policy
        } else {
            review_repository_policy(policy, &ctx).policy
        }
    }

    /// Whether some grant the guard keeps lets the request through: the guard itself decides,
    /// on the tightest grants the caller could be given
    fn admits(&self, caller: &Caller, action: &str, repository: &str) -> bool {
        self.admits_with(caller, action, repository, true)
    }

    /// [`World::admits`], with or without the unpinned service grant among the candidates
    fn admits_with(&self, caller: &Caller, action: &str, repository: &str, unpinned: bool) -> bool {
        if caller.is_own() || self.is_exempt(repository) {
            return true;
        }
        let grant = |principal: Value, condition: Option<Value>, resource: Option<String>| {
            let mut s = json!({"Effect":"Allow","Principal":principal,"Action":action});
            if let Some(c) = condition {
                s["Condition"] = c;
            }
            if let Some(r) = resource {
                s["Resource"] = json!(r);
            }
            Policy::from_value(json!({"Version":"2012-10-17","Statement":[s]})).unwrap()
        };
        let mut probes: Vec<(Policy, bool)> = Vec::new();
        match caller {
            Caller::Anonymous => probes.push((grant(json!("*"), None, None), false)),
            Caller::Iam { .. } => {
                let root = json!({"AWS": format!("arn:aws:iam::{}:root", caller.account().unwrap())});
                probes.push((grant(root.clone(), None, None), false));
                probes.push((
                    grant(
                        json!("*"),
                        Some(json!({"StringEquals":{"aws:PrincipalOrgID":ORG}})),
                        None,
                    ),
                    false,
                ));
                probes.push((grant(root, None, Some(repo_arn(repository))), true));
            }
            Caller::Service { name, source, .. } => {
                let svc = json!({"Service": name});
                if unpinned {
                    probes.push((grant(svc.clone(), None, None), false));
                }
                if let Some(s) = source {
                    probes.push((
                        grant(svc.clone(), Some(json!({"StringEquals":{"aws:SourceAccount":s}})), None),
                        false,
                    ));
                    probes.push((
                        grant(svc.clone(), Some(json!({"StringEquals":{"aws:SourceOrgID":ORG}})), None),
                        false,
                    ));
                    probes.push((
                        grant(
                            svc,
                            Some(json!({"ArnLike":{"aws:SourceArn":format!("arn:aws:*:*:{s}:*")}})),
                            None,
                        ),
                        false,
                    ));
                }
            }
        }
        let req = self.request(caller, action, repository);
        probes
            .iter()
            .any(|(p, registry)| self.allowed(&self.review(p, *registry, repository), caller, &req))
    }
}

/// Why the RCP and the guard may disagree on a request
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Category {
    /// RCPs do not apply to service-linked roles (AWS): only the guard judges their grants
    ServiceLinkedRole,
    /// The RCP does not restrict service principals by name, as in the data-perimeter examples
    /// (services are judged by whom they act for); the guard removes grants to untrusted services
    UntrustedServiceName,
    /// A service that names no source account (none, or `aws:SourceArn` alone) is left alone by
    /// the data-perimeter `Null` condition; the guard judges the grant
    SourcelessService,
    /// A trusted service acting, through an unpinned grant only, for an account beyond what that
    /// account may have (outside the perimeter, or above its class): the guard keeps the grant
    /// (`unpinned_services: keep`, reported as `service-unpinned`), the RCP denies the request:
    /// the confused-deputy protection the perimeter is for. Pinning services removes the case.
    ConfusedDeputyKept,
    /// A legitimate request that a removed statement happened to reach too (a public grant used
    /// by a trusted account, an organisation member named by account): a correct grant would be
    /// kept, so the RCP rightly lets it through
    CollateralOfARemovedGrant,
}

/// The category of a request the RCP lets through although the guard admits nothing for it
fn let_through(world: &World, caller: &Caller) -> Option<Category> {
    match caller {
        Caller::Iam { slr: true, .. } => Some(Category::ServiceLinkedRole),
        Caller::Service { name, .. } if !world.config.trusts_service(name) => Some(Category::UntrustedServiceName),
        Caller::Service { source: None, .. } | Caller::Service { arn_only: true, .. } => {
            Some(Category::SourcelessService)
        }
        _ => None,
    }
}

/// The category of a request the RCP denies although the guard admits it
fn denied_anyway(world: &World, caller: &Caller, action: &str, repository: &str) -> Option<Category> {
    match caller {
        Caller::Service {
            name,
            source: Some(_),
            arn_only: false,
        } if world.config.trusts_service(name)
            && world.config.unpinned_services == UnpinnedServices::Keep
            && !world.admits_with(caller, action, repository, false) =>
        {
            Some(Category::ConfusedDeputyKept)
        }
        _ => None,
    }
}

fn actions() -> Vec<&'static str> {
    catalogue().iter().map(|a| a.name).collect()
}

fn describe(world: &World, caller: &Caller, action: &str, repository: &str) -> String {
    format!("world `{}`: {caller:?} {action} on `{repository}`", world.name)
}

/// One request of the matrix, with the RCP's and the guard's verdicts
struct Cell {
    caller: Caller,
    action: &'static str,
    repository: &'static str,
    request: Request,
    denied: bool,
    admitted: bool,
}

/// The request-level theorem; returns every request with its verdicts, and how many requests fell
/// in each category
fn requests(world: &World) -> (Vec<Cell>, BTreeMap<&'static str, usize>) {
    let mut stats = BTreeMap::new();
    let mut cells = Vec::new();
    let literal = {
        // Were policy variables literal text in RCPs: `2008-10-17` makes the evaluator read them so.
        let mut p = world.rcp.clone();
        p.version = Some(Version::V2008);
        p
    };
    for caller in callers() {
        for action in actions() {
            for &repository in &world.repositories {
                let req = world.request(&caller, action, repository);
                let denied = world.rcp_denies(&caller, &req);
                let admitted = world.admits(&caller, action, repository);
                let cell = describe(world, &caller, action, repository);
                let key = match (denied, admitted) {
                    (true, false) => "denied, admits none",
                    (false, true) => "allowed, admitted",
                    (false, false) => {
                        let c = let_through(world, &caller)
                            .unwrap_or_else(|| panic!("the RCP lets through what the guard admits nowhere: {cell}"));
                        category_name(c)
                    }
                    (true, true) => {
                        let c = denied_anyway(world, &caller, action, repository)
                            .unwrap_or_else(|| panic!("the RCP denies what the guard admits: {cell}"));
                        category_name(c)
                    }
                };
                *stats.entry(key).or_default() += 1;
                // The own account is never denied, whatever the answer on policy variables.
                let literal_denies = world.rcp_denies_with(&literal, &caller, &req);
                if caller.is_own() {
                    assert!(!denied && !literal_denies, "own account denied: {cell}");
                }
                // With variables taken literally the perimeter only shrinks: never denies more.
                assert!(!literal_denies || denied, "literal variables deny more: {cell}");
                if matches!(&caller, Caller::Iam { arn, slr: false } if arn.contains(FOREIGN))
                    && !world.is_exempt(repository)
                {
                    assert!(literal_denies, "literal variables let a foreign account in: {cell}");
                }
                // A service's verdict does not hang on `aws:PrincipalAccount`, which IAM documents for
                // every request without saying what it holds for a service principal.
                if let Caller::Service { .. } = caller {
                    let mut with = req.clone();
                    with.context
                        .insert("aws:PrincipalAccount", ContextValue::Single("000000000000".into()));
                    assert_eq!(world.rcp_denies(&caller, &with), denied, "{cell}");
                }
                cells.push(Cell {
                    caller: caller.clone(),
                    action,
                    repository,
                    request: req,
                    denied,
                    admitted,
                });
            }
        }
    }
    (cells, stats)
}

fn category_name(c: Category) -> &'static str {
    match c {
        Category::ServiceLinkedRole => "service-linked role",
        Category::UntrustedServiceName => "untrusted service name",
        Category::SourcelessService => "sourceless service",
        Category::ConfusedDeputyKept => "confused deputy kept",
        Category::CollateralOfARemovedGrant => "collateral of a removed grant",
    }
}

/// What a hand-written row must show
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// The guard keeps it as written; the RCP denies nothing it allows (but the documented
    /// confused deputy under `unpinned_services: keep`)
    Kept,
    /// The guard changes it; the RCP denies at least one request it allowed that the guard removes
    Blocked,
    /// The guard changes it; the RCP cannot deny what it removes, for the documented reason
    Documented(Category),
    /// From the bypass corpus: every cell classified, no expectation of its own
    Corpus,
}

struct Row {
    name: String,
    registry: bool,
    policy: Policy,
    expect: Expect,
}

fn row(name: &str, registry: bool, expect: Expect, statements: Value) -> Row {
    Row {
        name: name.to_owned(),
        registry,
        policy: Policy::from_value(json!({"Version":"2012-10-17","Statement":statements})).unwrap(),
        expect,
    }
}

fn pull() -> Value {
    json!([
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability"
    ])
}

fn push() -> Value {
    json!([
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability",
        "ecr:PutImage",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload"
    ])
}

/// The hand-written rows, and the bypass corpus's when `corpus` (written for the example config)
fn rows(corpus: bool) -> Vec<Row> {
    use Expect::*;
    let lambda_own = json!({"ArnLike":{"aws:SourceArn":format!("arn:aws:lambda:{REGION}:{OWN}:function:*")}});
    let registry_repos = format!("arn:aws:ecr:{REGION}:{OWN}:repository/*");
    let mut out = vec![
        // What the guard keeps.
        row(
            "own account, everything",
            false,
            Kept,
            json!([{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{OWN}:root")},"Action":"ecr:*"}]),
        ),
        row(
            "organisation pull",
            false,
            Kept,
            json!([{"Effect":"Allow","Principal":"*","Action":pull(),"Condition":{"StringEquals":{"aws:PrincipalOrgID":ORG}}}]),
        ),
        row(
            "organisation pull, resource org variable",
            false,
            Kept,
            json!([{"Effect":"Allow","Principal":"*","Action":pull(),"Condition":{"StringEquals":{"aws:PrincipalOrgID":"${aws:ResourceOrgID}"}}}]),
        ),
        row(
            "trusted pull account",
            false,
            Kept,
            json!([{"Effect":"Allow","Principal":{"AWS":T_PULL},"Action":pull()}]),
        ),
        row(
            "trusted push account",
            false,
            Kept,
            json!([{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{T_PUSH}:root")},"Action":push()}]),
        ),
        row(
            "trusted push role",
            false,
            Kept,
            json!([{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{T_PUSH}:role/ci")},"Action":push()}]),
        ),
        row(
            "lambda pinned to own functions",
            false,
            Kept,
            json!([{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Condition":lambda_own}]),
        ),
        row(
            "codebuild pinned to own account",
            false,
            Kept,
            json!([{"Effect":"Allow","Principal":{"Service":"codebuild.amazonaws.com"},"Action":push(),"Condition":{"StringEquals":{"aws:SourceAccount":OWN}}}]),
        ),
        row(
            "codebuild pinned to trusted push",
            false,
            Kept,
            json!([{"Effect":"Allow","Principal":{"Service":"codebuild.amazonaws.com"},"Action":push(),"Condition":{"StringEquals":{"aws:SourceAccount":T_PUSH}}}]),
        ),
        row(
            "lambda for the organisation",
            false,
            Kept,
            json!([{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:SourceOrgID":ORG}}}]),
        ),
        row(
            "registry: replication source",
            true,
            Kept,
            json!([{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{SOURCE}:root")},"Action":["ecr:ReplicateImage","ecr:CreateRepository"],"Resource":registry_repos}]),
        ),
        row(
            "registry: organisation pull on every repository",
            true,
            Kept,
            json!([{"Effect":"Allow","Principal":"*","Action":pull(),"Resource":registry_repos,"Condition":{"StringEquals":{"aws:PrincipalOrgID":ORG}}}]),
        ),
        row(
            "deny to a trusted account beside a grant",
            false,
            Kept,
            json!([{"Effect":"Allow","Principal":{"AWS":T_PUSH},"Action":push()},{"Effect":"Deny","Principal":{"AWS":T_PUSH},"Action":"ecr:PutImage"}]),
        ),
        // What the guard removes, and the RCP blocks.
        row(
            "public pull",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":"*","Action":pull()}]),
        ),
        row(
            "public everything",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:*"}]),
        ),
        row(
            "NotPrincipal allow",
            false,
            Blocked,
            json!([{"Effect":"Allow","NotPrincipal":{"AWS":OWN},"Action":pull()}]),
        ),
        row(
            "foreign account pull",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":{"AWS":FOREIGN},"Action":pull()}]),
        ),
        row(
            "foreign user push",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{FOREIGN}:user/mallory")},"Action":push()}]),
        ),
        row(
            "foreign account beside a trusted one",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":{"AWS":[T_PULL, FOREIGN]},"Action":pull()}]),
        ),
        row(
            "trusted pull account pushes",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":{"AWS":T_PULL},"Action":push()}]),
        ),
        row(
            "trusted push account administers",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":{"AWS":T_PUSH},"Action":"ecr:*"}]),
        ),
        row(
            "trusted push account sets the policy",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":{"AWS":T_PUSH},"Action":["ecr:SetRepositoryPolicy","ecr:DeleteRepository"]}]),
        ),
        row(
            "organisation push",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":"*","Action":push(),"Condition":{"StringEquals":{"aws:PrincipalOrgID":ORG}}}]),
        ),
        row(
            "organisation everything",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"StringEquals":{"aws:PrincipalOrgID":ORG}}}]),
        ),
        row(
            "another organisation",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":"*","Action":pull(),"Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-f0re1gnf0re"}}}]),
        ),
        row(
            "organisation narrowed by a negation",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":"*","Action":pull(),"Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-zzzzzzzzzz"}}}]),
        ),
        row(
            "organisation IfExists",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":"*","Action":pull(),"Condition":{"StringEqualsIfExists":{"aws:PrincipalOrgID":ORG}}}]),
        ),
        row(
            "star narrowed to a foreign account",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":"*","Action":pull(),"Condition":{"StringEquals":{"aws:PrincipalAccount":FOREIGN}}}]),
        ),
        row(
            "NotAction to a trusted account",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":{"AWS":T_PULL},"NotAction":"ecr:DeleteRepository"}]),
        ),
        row(
            "lambda for a foreign account",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:SourceAccount":FOREIGN}}}]),
        ),
        row(
            "codebuild for a trusted pull account, pushing",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":{"Service":"codebuild.amazonaws.com"},"Action":push(),"Condition":{"StringEquals":{"aws:SourceAccount":T_PULL}}}]),
        ),
        row(
            "lambda for any account",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"ecr:BatchGetImage","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:lambda:*:*:function:*"}}}]),
        ),
        row(
            "star narrowed only by source keys",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":"*","Action":pull(),"Condition":{"StringEquals":{"aws:SourceAccount":[OWN, FOREIGN]}}}]),
        ),
        row(
            "untrusted service, unpinned",
            false,
            Blocked,
            json!([{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":pull()}]),
        ),
        row(
            "registry: public pull on every repository",
            true,
            Blocked,
            json!([{"Effect":"Allow","Principal":"*","Action":pull(),"Resource":registry_repos}]),
        ),
        row(
            "registry: replication source takes everything",
            true,
            Blocked,
            json!([{"Effect":"Allow","Principal":{"AWS":SOURCE},"Action":"ecr:*","Resource":"*"}]),
        ),
        row(
            "registry: replication to a foreign account",
            true,
            Blocked,
            json!([{"Effect":"Allow","Principal":{"AWS":FOREIGN},"Action":["ecr:ReplicateImage","ecr:CreateRepository"],"Resource":registry_repos}]),
        ),
        // What the guard removes and the RCP cannot, for documented reasons.
        row(
            "untrusted service pinned to the own account",
            false,
            Documented(Category::UntrustedServiceName),
            json!([{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":pull(),"Condition":{"StringEquals":{"aws:SourceAccount":OWN}}}]),
        ),
        row(
            "organisation member named by account",
            false,
            Documented(Category::CollateralOfARemovedGrant),
            json!([{"Effect":"Allow","Principal":{"AWS":MEMBER},"Action":pull()}]),
        ),
    ];
    if !corpus {
        return out;
    }
    let cases: Vec<Value> = serde_json::from_str(include_str!("cases/bypass.json")).unwrap();
    for case in cases {
        let policy = Policy::from_value(case["policy"].clone()).unwrap();
        // The guard refuses a policy with an unknown operator rather than judge it.
        if !policy.unknown_operators().is_empty() {
            continue;
        }
        out.push(Row {
            name: format!("bypass.json: {}", case["name"].as_str().unwrap()),
            registry: case["registry"].as_bool().unwrap_or(false),
            policy,
            expect: Expect::Corpus,
        });
    }
    out
}

/// Actions the policy matrix uses for the hand-written rows: each kind, and the ones a prefix
/// pattern could get wrong
const SAMPLE: &[&str] = &[
    "ecr:BatchGetImage",
    "ecr:BatchCheckLayerAvailability",
    "ecr:DescribeImages",
    "ecr:GetAuthorizationToken",
    "ecr:ListImages",
    "ecr:PutImage",
    "ecr:CompleteLayerUpload",
    "ecr:BatchImportUpstreamImage",
    "ecr:ReplicateImage",
    "ecr:CreateRepository",
    "ecr:CreateRepositoryCreationTemplate",
    "ecr:PutImageTagMutability",
    "ecr:SetRepositoryPolicy",
    "ecr:DeleteRepository",
    "ecr:TagResource",
];

/// Actions for the corpus rows (many): one or two of each kind
const CORPUS_SAMPLE: &[&str] = &[
    "ecr:BatchGetImage",
    "ecr:ListImages",
    "ecr:PutImage",
    "ecr:ReplicateImage",
    "ecr:CreateRepository",
    "ecr:SetRepositoryPolicy",
    "ecr:TagResource",
];

/// The policy-level matrix; returns the count of cells per outcome. The rows' own expectations
/// are written for the example config's trust (`strict`); other worlds classify every cell only.
fn policies(world: &World, cells: &[Cell], rows: &[Row], strict: bool) -> BTreeMap<&'static str, usize> {
    let mut stats = BTreeMap::new();
    let hand: Vec<&Cell> = cells.iter().filter(|c| SAMPLE.contains(&c.action)).collect();
    let corpus: Vec<&Cell> = cells.iter().filter(|c| CORPUS_SAMPLE.contains(&c.action)).collect();
    for row in rows {
        let cells = if row.expect == Expect::Corpus { &corpus } else { &hand };
        let mut kept_by_guard = BTreeMap::new();
        for repository in &world.repositories {
            // The guard never reviews an exempt repository's own policy.
            let kept = if world.is_exempt(repository) && !row.registry {
                row.policy.clone()
            } else {
                world.review(&row.policy, row.registry, repository)
            };
            kept_by_guard.insert(*repository, kept);
        }
        let changed = kept_by_guard.values().any(|k| *k != row.policy);
        let (mut blocked, mut documented) = (false, false);
        for c in cells {
            let kept = &kept_by_guard[c.repository];
            let before = world.allowed(&row.policy, &c.caller, &c.request);
            let after = if *kept == row.policy {
                before
            } else {
                world.allowed(kept, &c.caller, &c.request)
            };
            let cell = || format!("{} / {}", row.name, describe(world, &c.caller, c.action, c.repository));
            assert!(!after || before, "the guard added access: {}", cell());
            let key = if after == (before && !c.denied) {
                if before && c.denied {
                    blocked = true;
                    "bypass denied by the RCP"
                } else {
                    "agree"
                }
            } else if after {
                // after && denied: the dangerous direction, documented only.
                let category = denied_anyway(world, &c.caller, c.action, c.repository)
                    .unwrap_or_else(|| panic!("the RCP denies what the guard keeps: {}", cell()));
                assert!(!strict || row.expect != Expect::Blocked, "{}", cell());
                category_name(category)
            } else {
                // before && !after && !denied: the guard removed, the RCP lets through.
                let category = if c.admitted {
                    Category::CollateralOfARemovedGrant
                } else {
                    let_through(world, &c.caller).unwrap_or_else(|| {
                        panic!(
                            "the guard removes what the RCP lets through, and admits it nowhere: {}",
                            cell()
                        )
                    })
                };
                documented |= row.expect == Expect::Documented(category);
                category_name(category)
            };
            *stats.entry(key).or_default() += 1;
        }
        if !strict {
            continue;
        }
        match row.expect {
            Expect::Kept => assert!(!changed, "world `{}`: the guard changed `{}`", world.name, row.name),
            Expect::Blocked => {
                assert!(changed, "world `{}`: the guard kept `{}`", world.name, row.name);
                assert!(
                    blocked,
                    "world `{}`: the RCP blocks nothing of `{}`",
                    world.name, row.name
                );
            }
            Expect::Documented(c) => {
                assert!(changed, "world `{}`: the guard kept `{}`", world.name, row.name);
                assert!(
                    !blocked && documented,
                    "world `{}`: `{}` is not {c:?}",
                    world.name,
                    row.name
                );
            }
            Expect::Corpus => {}
        }
    }
    stats
}

fn base() -> Value {
    json!({"mode":"enforce","org_id":ORG,"org_access":"pull",
        "trusted_accounts":{T_PULL:"pull",T_PUSH:"push"},
        "trusted_services":["lambda.amazonaws.com","codebuild.amazonaws.com"],
        "replication_sources":[SOURCE],"exempt_repositories":["sandbox-*"]})
}

fn with(mut v: Value, extra: Value) -> Value {
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn check(world: World, strict: bool, corpus: bool, expect_requests: &[&str]) {
    let (cells, stats) = requests(&world);
    println!("world `{}` requests: {stats:?}", world.name);
    assert!(stats["denied, admits none"] > 300, "{stats:?}");
    assert!(stats["allowed, admitted"] > 1000, "{stats:?}");
    let mut categories: Vec<&str> = stats
        .keys()
        .copied()
        .filter(|k| !["denied, admits none", "allowed, admitted"].contains(k))
        .collect();
    categories.sort_unstable();
    assert_eq!(categories, expect_requests, "world `{}`: {stats:?}", world.name);
    let stats = policies(&world, &cells, &rows(corpus), strict);
    println!("world `{}` policies: {stats:?}", world.name);
    assert!(stats["bypass denied by the RCP"] > 300, "{stats:?}");
}

#[test]
fn example_config() {
    // `config/example.json`'s rules: unpinned trusted services kept (the default), so a trusted
    // service acting for an outsider through an unpinned grant is the one denial of something kept.
    let world = World::new("example", base(), &[], vec!["app", "sandbox-app"]);
    check(
        world,
        true,
        true,
        &["confused deputy kept", "service-linked role", "untrusted service name"],
    );
}

#[test]
fn pinned_services_agree_but_for_what_no_rcp_can_see() {
    // With `unpinned_services: pin`, nothing the guard keeps is denied.
    let config = with(base(), json!({"unpinned_services":"pin"}));
    let world = World::new("pinned", config, &[], vec!["app", "sandbox-app"]);
    check(
        world,
        true,
        true,
        &["service-linked role", "sourceless service", "untrusted service name"],
    );
}

#[test]
fn organisation_push_with_a_trusted_member_and_every_service() {
    // The organisation may push, a trusted pull account is a member (so it pushes as one), every
    // service is trusted, no replication source.
    let config = with(
        base(),
        json!({"org_access":"push","trusted_services":["*"],"replication_sources":[],"unpinned_services":"remove"}),
    );
    let world = World::new("org-push", config, &[T_PULL], vec!["app", "sandbox-app"]);
    // A trusted pull account that is a member pushes as one; none but the own account administers.
    let member = role(T_PULL, "ci");
    let put = world.request(&member, "ecr:PutImage", "app");
    assert!(!world.rcp_denies(&member, &put));
    let set = world.request(&member, "ecr:SetRepositoryPolicy", "app");
    assert!(world.rcp_denies(&member, &set));
    check(world, false, false, &["service-linked role", "sourceless service"]);
}

#[test]
fn replication_prefix() {
    let config = with(
        base(),
        json!({"replication_repository_prefix":"prod-*","unpinned_services":"pin"}),
    );
    let world = World::new("prefix", config, &[], vec!["prod-app", "app", "sandbox-app"]);
    // The source may replicate into `prod-app` only.
    let create = |repo| world.request(&role(SOURCE, "ops"), "ecr:CreateRepository", repo);
    assert!(!world.rcp_denies(&role(SOURCE, "ops"), &create("prod-app")));
    assert!(world.rcp_denies(&role(SOURCE, "ops"), &create("app")));
    assert!(world
        .rcp
        .statements
        .iter()
        .any(|s| s.sid.as_deref() == Some("DenyEcrReplicationOutsidePrefix")));
    check(
        world,
        false,
        false,
        &["service-linked role", "sourceless service", "untrusted service name"],
    );
}
