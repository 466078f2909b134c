//! The outlet ports over the AWS SDK: EventBridge `PutEvents`, Security Hub
//! `BatchImportFindings` / `GetFindings`, SNS `Publish`. SDK errors are classified as the ECR
//! adapter's are (throttling, 5xx and transport failures retryable).

use super::{
    asff::{Asff, Resource, Scope, GENERATOR_PREFIX},
    BusEvent, EventBus, FindingsHub, ImportFailure, Notifier,
};
use crate::{port::PortError, sdk::classify};
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;

/// [`EventBus`] over `aws-sdk-eventbridge`: the account's default bus
#[derive(Clone, Debug)]
pub struct SdkEventBus {
    client: aws_sdk_eventbridge::Client,
}

impl SdkEventBus {
    /// Wraps a client
    pub fn new(client: aws_sdk_eventbridge::Client) -> Self {
        Self { client }
    }
}

impl EventBus for SdkEventBus {
    fn put_events<'a>(&'a self, events: &'a [BusEvent]) -> BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move {
            let entries = events
                .iter()
                .map(|e| {
                    aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                        .source(e.source)
                        .detail_type(e.detail_type)
                        .detail(&e.detail)
                        .set_resources((!e.resources.is_empty()).then(|| e.resources.clone()))
                        .build()
                })
                .collect();
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| classify("PutEvents", e))?;
            if out.failed_entry_count() == 0 {
                return Ok(());
            }
            // Entries are answered in order; a failed one carries an error code.
            let errors: Vec<String> = out
                .entries()
                .iter()
                .filter_map(|r| {
                    r.error_code()
                        .map(|c| format!("{c}: {}", r.error_message().unwrap_or_default()))
                })
                .collect();
            let message = format!("{} entries failed: {}", out.failed_entry_count(), errors.join("; "));
            // `InternalFailure` and throttling of single entries pass when tried again.
            if errors
                .iter()
                .all(|e| e.starts_with("InternalFailure") || e.starts_with("Throttling"))
            {
                Err(PortError::Transient {
                    operation: "PutEvents",
                    message,
                })
            } else {
                Err(PortError::Rejected {
                    operation: "PutEvents",
                    message,
                })
            }
        })
    }
}

/// [`FindingsHub`] over `aws-sdk-securityhub`
#[derive(Clone, Debug)]
pub struct SdkSecurityHub {
    client: aws_sdk_securityhub::Client,
}

impl SdkSecurityHub {
    /// Wraps a client
    pub fn new(client: aws_sdk_securityhub::Client) -> Self {
        Self { client }
    }
}

fn to_sdk(f: &Asff) -> aws_sdk_securityhub::types::AwsSecurityFinding {
    use aws_sdk_securityhub::types::{
        AwsEcrRepositoryDetails, AwsSecurityFinding, Compliance, ComplianceStatus, FindingProviderFields,
        FindingProviderSeverity, RecordState, Resource as SdkResource, ResourceDetails, Severity, SeverityLabel,
        Workflow, WorkflowStatus,
    };
    let mut details = ResourceDetails::builder();
    if let Some(name) = &f.resource.repository_name {
        details = details.aws_ecr_repository(
            AwsEcrRepositoryDetails::builder()
                .arn(&f.resource.id)
                .repository_name(name)
                .build(),
        );
    }
    for (k, v) in &f.resource.other {
        details = details.other(k, v);
    }
    let label = SeverityLabel::from(f.severity.as_str());
    AwsSecurityFinding::builder()
        .schema_version(super::asff::SCHEMA_VERSION)
        .id(&f.id)
        .product_arn(&f.product_arn)
        .generator_id(&f.generator_id)
        .aws_account_id(&f.account)
        .region(&f.region)
        .set_types(Some(f.types.clone()))
        .created_at(&f.created_at)
        .updated_at(&f.updated_at)
        .severity(Severity::builder().label(label.clone()).build())
        .finding_provider_fields(
            FindingProviderFields::builder()
                .severity(
                    FindingProviderSeverity::builder()
                        .label(label)
                        .original(&f.severity)
                        .build(),
                )
                .set_types(Some(f.types.clone()))
                .build(),
        )
        .title(&f.title)
        .description(&f.description)
        .resources(
            SdkResource::builder()
                .r#type(&f.resource.kind)
                .id(&f.resource.id)
                .partition(aws_sdk_securityhub::types::Partition::from(
                    f.resource.partition.as_str(),
                ))
                .region(&f.resource.region)
                .details(details.build())
                .build(),
        )
        .compliance(
            Compliance::builder()
                .status(ComplianceStatus::from(f.compliance.as_str()))
                .build(),
        )
        .record_state(RecordState::from(f.record_state.as_str()))
        .workflow(
            Workflow::builder()
                .status(WorkflowStatus::from(f.workflow.as_str()))
                .build(),
        )
        .set_product_fields(Some(f.product_fields.clone().into_iter().collect()))
        .build()
}

fn from_sdk(f: &aws_sdk_securityhub::types::AwsSecurityFinding) -> Asff {
    let s = |v: Option<&str>| v.unwrap_or_default().to_owned();
    let resource = f.resources().first();
    let details = resource.and_then(|r| r.details());
    let severity = f
        .finding_provider_fields()
        .and_then(|p| p.severity())
        .and_then(|s| s.label())
        .or_else(|| f.severity().and_then(|s| s.label()))
        .map(|l| l.as_str().to_owned())
        .unwrap_or_default();
    Asff {
        id: s(f.id()),
        product_arn: s(f.product_arn()),
        generator_id: s(f.generator_id()),
        account: s(f.aws_account_id()),
        region: s(f.region()),
        types: f.types().to_vec(),
        created_at: s(f.created_at()),
        updated_at: s(f.updated_at()),
        severity,
        title: s(f.title()),
        description: s(f.description()),
        resource: Resource {
            kind: s(resource.and_then(|r| r.r#type())),
            id: s(resource.and_then(|r| r.id())),
            partition: resource
                .and_then(|r| r.partition())
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            region: s(resource.and_then(|r| r.region())),
            repository_name: details
                .and_then(|d| d.aws_ecr_repository())
                .and_then(|e| e.repository_name())
                .map(str::to_owned),
            other: details
                .and_then(|d| d.other())
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        },
        compliance: f
            .compliance()
            .and_then(|c| c.status())
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        record_state: f.record_state().map(|r| r.as_str().to_owned()).unwrap_or_default(),
        workflow: f
            .workflow()
            .and_then(|w| w.status())
            .map(|w| w.as_str().to_owned())
            .unwrap_or_default(),
        product_fields: f
            .product_fields()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<BTreeMap<_, _>>()
            })
            .unwrap_or_default(),
    }
}

impl FindingsHub for SdkSecurityHub {
    fn import<'a>(&'a self, findings: &'a [Asff]) -> BoxFuture<'a, Result<Vec<ImportFailure>, PortError>> {
        Box::pin(async move {
            let out = self
                .client
                .batch_import_findings()
                .set_findings(Some(findings.iter().map(to_sdk).collect()))
                .send()
                .await
                .map_err(|e| classify("BatchImportFindings", e))?;
            Ok(out
                .failed_findings()
                .iter()
                .map(|f| ImportFailure {
                    id: f.id().unwrap_or_default().to_owned(),
                    code: f.error_code().unwrap_or_default().to_owned(),
                    message: f.error_message().unwrap_or_default().to_owned(),
                })
                .collect())
        })
    }

    fn active<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<Vec<Asff>, PortError>> {
        use aws_sdk_securityhub::types::{AwsSecurityFindingFilters, StringFilter, StringFilterComparison};
        Box::pin(async move {
            let filter = |comparison: StringFilterComparison, value: String| {
                StringFilter::builder().comparison(comparison).value(value).build()
            };
            let filters = AwsSecurityFindingFilters::builder()
                .product_arn(filter(StringFilterComparison::Equals, scope.product_arn()))
                .generator_id(filter(StringFilterComparison::Prefix, GENERATOR_PREFIX.to_owned()))
                .aws_account_id(filter(StringFilterComparison::Equals, scope.account.clone()))
                .region(filter(StringFilterComparison::Equals, scope.region.clone()))
                .record_state(filter(StringFilterComparison::Equals, "ACTIVE".to_owned()))
                .build();
            let mut found = vec![];
            let mut token: Option<String> = None;
            loop {
                let page = self
                    .client
                    .get_findings()
                    .filters(filters.clone())
                    .max_results(100)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| classify("GetFindings", e))?;
                found.extend(page.findings().iter().map(from_sdk));
                match page.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => return Ok(found),
                }
            }
        })
    }
}

/// [`Notifier`] over `aws-sdk-sns`, for one topic
#[derive(Clone, Debug)]
pub struct SdkSns {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SdkSns {
    /// Wraps a client and the topic it publishes to
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl Notifier for SdkSns {
    fn publish<'a>(&'a self, subject: &'a str, message: &'a str) -> BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move {
            self.client
                .publish()
                .topic_arn(&self.topic_arn)
                .subject(subject)
                .message(message)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("Publish", e))
        })
    }
}
