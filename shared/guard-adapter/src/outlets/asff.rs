//! A finding record in the AWS Security Finding Format, as `BatchImportFindings` takes it.
//!
//! Required top-level attributes (Security Hub user guide, "Required top-level ASFF
//! attributes", https://docs.aws.amazon.com/securityhub/latest/userguide/asff-required-attributes.html):
//! `AwsAccountId`, `CreatedAt`, `Description`, `GeneratorId`, `Id`, `ProductArn`, `Resources`,
//! `SchemaVersion` (`2018-10-08`), `Severity`, `Title`, `Types`, `UpdatedAt`. Providers give
//! severity and types through `FindingProviderFields` (which customers' `BatchUpdateFindings`
//! edits do not fight with); the top-level ones are sent too, with the same values, as the list
//! of required attributes asks.
//!
//! Create or update ("Using BatchImportFindings to create and update findings",
//! https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchimportfindings.html):
//! `Id` decides; an update is taken only when its `UpdatedAt` is later than the stored one; on
//! creation `CreatedAt` equals `UpdatedAt`; `Workflow` is ignored on updates; `AwsAccountId` must
//! be the caller's account when the product is the account's default one
//! (`arn:PARTITION:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`). Limits: `Title` 256
//! characters, `Description` 1,024, `ProductFields` values 2,048, `Resources.Details.Other`
//! values under 1,024 (API reference, `AwsSecurityFinding`, and "Other object in ASFF").
//!
//! What each disposition becomes:
//!
//! | disposition | `Compliance.Status` | `RecordState` | `Workflow.Status` (new findings) |
//! | --- | --- | --- | --- |
//! | `reported` | `FAILED` | `ACTIVE` | `NEW` |
//! | `kept`, `excepted` | `WARNING` | `ACTIVE` | `NEW` |
//! | `removed`, `pinned`, `added` | `PASSED` | `ARCHIVED` | `RESOLVED` |
//!
//! A finding fixed by the guard is so resolved at once (the same id, imported `PASSED` and
//! `ARCHIVED`); one the sweep no longer sees (fixed by hand, repository deleted) is resolved by
//! the sweep the same way.

use super::{rfc3339, FindingRecord};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The ASFF schema version
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// Every `GeneratorId` of the guard starts so (then the rule)
pub const GENERATOR_PREFIX: &str = "ecr-policy-guard/";
/// The finding type (ASFF types taxonomy: namespace / category / classifier)
pub const FINDING_TYPE: &str = "Software and Configuration Checks/AWS Security Best Practices/ECR Policy Guard";

const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 1024;
const PRODUCT_FIELD_MAX: usize = 2048;
const OTHER_MAX: usize = 1023;

/// The resource a finding is about
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// `AwsEcrRepository` for a repository; `Other` for the registry policy and a creation
    /// template, which have no ASFF resource type (nor an ARN)
    pub kind: String,
    /// The repository's ARN, or the guard's id for the registry policy or template
    pub id: String,
    /// The partition
    pub partition: String,
    /// The Region
    pub region: String,
    /// `Details.AwsEcrRepository.RepositoryName`
    pub repository_name: Option<String>,
    /// `Details.Other`
    pub other: BTreeMap<String, String>,
}

/// One ASFF finding, with the attributes the guard sets
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asff {
    /// `Id`: the record's stable id
    pub id: String,
    /// `ProductArn`: the account's default product
    pub product_arn: String,
    /// `GeneratorId`: `ecr-policy-guard/RULE`
    pub generator_id: String,
    /// `AwsAccountId`
    pub account: String,
    /// `Region`
    pub region: String,
    /// `Types` and `FindingProviderFields.Types`
    pub types: Vec<String>,
    /// `CreatedAt`
    pub created_at: String,
    /// `UpdatedAt`
    pub updated_at: String,
    /// `Severity.Label` and `FindingProviderFields.Severity.Label`
    pub severity: String,
    /// `Title`
    pub title: String,
    /// `Description`
    pub description: String,
    /// `Resources[0]`
    pub resource: Resource,
    /// `Compliance.Status`: `FAILED`, `WARNING` or `PASSED`
    pub compliance: String,
    /// `RecordState`: `ACTIVE` or `ARCHIVED`
    pub record_state: String,
    /// `Workflow.Status` (taken on creation only)
    pub workflow: String,
    /// `ProductFields`
    pub product_fields: BTreeMap<String, String>,
}

/// Which findings are the guard's: the account's default product, this account and Region
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// The account
    pub account: String,
    /// The Region
    pub region: String,
    /// Its partition
    pub partition: String,
}

impl Scope {
    /// The account's default product ARN
    pub fn product_arn(&self) -> String {
        product_arn(&self.partition, &self.region, &self.account)
    }

    /// True for an active finding of the guard in this scope
    pub fn holds(&self, f: &Asff) -> bool {
        f.product_arn == self.product_arn()
            && f.generator_id.starts_with(GENERATOR_PREFIX)
            && f.account == self.account
            && f.region == self.region
            && f.record_state == "ACTIVE"
    }
}

/// `arn:PARTITION:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`: the product every account
/// may import its own findings under
pub fn product_arn(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default")
}

/// At most `max` characters, cut at a character boundary with an ellipsis
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn status(disposition: &str) -> (&'static str, &'static str, &'static str) {
    match disposition {
        "reported" => ("FAILED", "ACTIVE", "NEW"),
        "kept" | "excepted" => ("WARNING", "ACTIVE", "NEW"),
        _ => ("PASSED", "ARCHIVED", "RESOLVED"),
    }
}

fn what_was_done(r: &FindingRecord) -> &'static str {
    match r.disposition {
        "removed" => "The guard removed the grant.",
        "pinned" => "The guard pinned the service to the own account.",
        "added" => "The guard added the statement.",
        "reported" => "Report mode: nothing was changed; enforcing this rule would.",
        "kept" => "Kept by configuration.",
        _ => "Kept by an approved exception until its end date.",
    }
}

impl Asff {
    /// The finding of a record, imported at `now`; `created` is the `CreatedAt` Security Hub
    /// already holds for this id (a new finding is created at `now`)
    pub fn of(r: &FindingRecord, created: Option<&str>, now: f64) -> Asff {
        let (compliance, record_state, workflow) = status(r.disposition);
        let partition = crate::engine::partition_of(&r.region);
        let updated_at = rfc3339(now);
        let resource = match r.target {
            "repository" => Resource {
                kind: "AwsEcrRepository".into(),
                id: r.resource.clone(),
                partition: partition.into(),
                region: r.region.clone(),
                repository_name: r.repository.clone(),
                other: BTreeMap::new(),
            },
            kind => {
                let mut other = BTreeMap::from([("target".to_owned(), kind.to_owned())]);
                if let Some(prefix) = &r.repository {
                    other.insert("prefix".into(), clip(prefix, OTHER_MAX));
                }
                Resource {
                    kind: "Other".into(),
                    id: r.resource.clone(),
                    partition: partition.into(),
                    region: r.region.clone(),
                    repository_name: None,
                    other,
                }
            }
        };
        let field = |k: &str, v: &str| (format!("ecr-policy-guard/{k}"), clip(v, PRODUCT_FIELD_MAX));
        let mut product_fields: BTreeMap<String, String> = [
            field("rule", r.rule),
            field("disposition", r.disposition),
            field("mode", r.mode),
            field("trigger", r.trigger),
            field("statement_label", &r.statement_label),
            field("statement", &r.statement.to_string()),
        ]
        .into_iter()
        .collect();
        if let Some(p) = &r.principal {
            let (k, v) = field("principal", p);
            product_fields.insert(k, v);
        }
        Asff {
            id: r.id.clone(),
            product_arn: product_arn(partition, &r.region, &r.account),
            generator_id: format!("{GENERATOR_PREFIX}{}", r.rule),
            account: r.account.clone(),
            region: r.region.clone(),
            types: vec![FINDING_TYPE.to_owned()],
            created_at: created.map_or_else(|| updated_at.clone(), str::to_owned),
            updated_at,
            severity: r.severity.to_owned(),
            title: clip(&format!("{}: {}", r.rule, r.title), TITLE_MAX),
            description: clip(&format!("{} {}", r.reason, what_was_done(r)), DESCRIPTION_MAX),
            resource,
            compliance: compliance.into(),
            record_state: record_state.into(),
            workflow: workflow.into(),
            product_fields,
        }
    }

    /// The same finding resolved at `now`: `PASSED` and `ARCHIVED`, `UpdatedAt` later than the
    /// stored one even if the clocks disagree
    pub fn resolved(mut self, now: f64) -> Asff {
        let stored = super::parse_rfc3339(&self.updated_at).unwrap_or(0.0);
        self.updated_at = rfc3339(now.max(stored + 0.001));
        self.compliance = "PASSED".into();
        self.record_state = "ARCHIVED".into();
        self.workflow = "RESOLVED".into();
        self
    }

    /// The finding as ASFF JSON, as `BatchImportFindings` takes it (for logs and docs; the SDK
    /// adapter sends the same attributes)
    pub fn to_json(&self) -> Value {
        let mut details = Map::new();
        if let Some(name) = &self.resource.repository_name {
            details.insert(
                "AwsEcrRepository".into(),
                json!({"Arn": self.resource.id, "RepositoryName": name}),
            );
        }
        if !self.resource.other.is_empty() {
            details.insert("Other".into(), json!(self.resource.other));
        }
        json!({
            "SchemaVersion": SCHEMA_VERSION,
            "Id": self.id,
            "ProductArn": self.product_arn,
            "GeneratorId": self.generator_id,
            "AwsAccountId": self.account,
            "Region": self.region,
            "Types": self.types,
            "CreatedAt": self.created_at,
            "UpdatedAt": self.updated_at,
            "Severity": {"Label": self.severity},
            "FindingProviderFields": {"Severity": {"Label": self.severity, "Original": self.severity}, "Types": self.types},
            "Title": self.title,
            "Description": self.description,
            "Resources": [{
                "Type": self.resource.kind,
                "Id": self.resource.id,
                "Partition": self.resource.partition,
                "Region": self.resource.region,
                "Details": details,
            }],
            "Compliance": {"Status": self.compliance},
            "RecordState": self.record_state,
            "Workflow": {"Status": self.workflow},
            "ProductFields": self.product_fields,
        })
    }
}
