//! Parse, normalise and analyse realistic repository policies of 1, 10, 40 statements and the
//! largest that fits ECR's 10,240 characters, each beside the floor: `serde_json::from_str` into
//! a `Value` of the same text. `bench/core-ratios.py` turns criterion's estimates into ratios.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use policy_core::{analyze, normalize, plan::plan_repository, GuardConfig, GuardContext, Policy, MAX_POLICY_CHARS};
use serde_json::{json, Value};

/// The kinds of statement platform teams write, in rotation
fn statement(i: usize) -> Value {
    let acct = format!("{:012}", 111_122_220_000u64 + i as u64);
    match i % 8 {
        0 => json!({"Sid": format!("CrossAccountPull{i}"), "Effect": "Allow",
            "Principal": {"AWS": [format!("arn:aws:iam::{acct}:root")]},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]}),
        1 => json!({"Sid": format!("OrgPull{i}"), "Effect": "Allow", "Principal": "*",
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}),
        2 => json!({"Sid": format!("CiPush{i}"), "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{acct}:role/ci-builder")},
            "Action": ["ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"]}),
        3 => {
            json!({"Sid": format!("LambdaPull{i}"), "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Condition": {"StringLike": {"aws:sourceArn": format!("arn:aws:lambda:us-east-1:{acct}:function:*")}}})
        }
        4 => json!({"Sid": format!("DenyOutsideVpc{i}"), "Effect": "Deny", "Principal": "*", "Action": "ecr:*",
            "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}, "Bool": {"aws:ViaAWSService": "false"}}}),
        5 => {
            json!({"Sid": format!("ReadOnly{i}"), "Effect": "Allow", "Principal": {"AWS": [acct.clone(), "AROAEXAMPLEID12345678"]},
            "Action": "ecr:Describe*"})
        }
        6 => {
            json!({"Sid": format!("CodeBuild{i}"), "Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            "Condition": {"ArnLike": {"aws:SourceArn": format!("arn:aws:codebuild:us-east-1:{acct}:project/*")},
                "StringEquals": {"aws:SourceAccount": acct}}})
        }
        _ => json!({"Sid": format!("Partner{i}"), "Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage"],
            "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"]},
                "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}}}),
    }
}

/// Pretty-printed, as ECR returns it from GetRepositoryPolicy
fn policy_text(n: usize) -> String {
    let statements: Vec<Value> = (0..n).map(statement).collect();
    serde_json::to_string_pretty(&json!({"Version": "2012-10-17", "Statement": statements})).unwrap()
}

/// The most statements whose compact form fits ECR's limit
fn largest() -> usize {
    (1..)
        .take_while(|n| Policy::parse(&policy_text(*n)).unwrap().to_json().chars().count() <= MAX_POLICY_CHARS)
        .last()
        .unwrap()
}

/// The guard config the plan bench judges with: the policies' accounts are trusted for pull,
/// so the plan removes the push grants and merges a two-statement baseline
fn config() -> GuardConfig {
    let trusted: serde_json::Map<String, Value> = (0..64)
        .map(|i| (format!("{:012}", 111_122_220_000u64 + i), json!("pull")))
        .collect();
    GuardConfig::parse(
        &json!({"mode": "enforce", "org_id": "o-a1b2c3d4e5", "trusted_accounts": trusted,
            "baselines": [{"match": "*", "policy": {"Version": "2012-10-17", "Statement": [
                {"Sid": "BaselineOrgPull", "Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage"],
                 "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}},
                {"Sid": "BaselineLambda", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                 "Action": ["ecr:BatchGetImage"], "Condition": {"StringLike": {"aws:sourceArn": "arn:${Partition}:lambda:${Region}:${AccountId}:function:*"}}}]}}]})
        .to_string(),
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let max = largest();
    let config = config();
    let ctx = GuardContext::new(&config, "123456789012", "us-east-1", "aws");
    let mut group = c.benchmark_group("policy");
    for n in [1, 10, 40, max] {
        let text = policy_text(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("serde_json_value_floor", n), &text, |b, t| {
            b.iter(|| serde_json::from_str::<Value>(black_box(t)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("parse", n), &text, |b, t| {
            b.iter(|| Policy::parse(black_box(t)).unwrap())
        });
        let parsed = Policy::parse(&text).unwrap();
        group.bench_with_input(BenchmarkId::new("normalise", n), &parsed, |b, p| {
            b.iter(|| normalize(black_box(p)))
        });
        group.bench_with_input(BenchmarkId::new("analyse", n), &parsed, |b, p| {
            b.iter(|| analyze(black_box(p)))
        });
        group.bench_with_input(BenchmarkId::new("parse_analyse", n), &text, |b, t| {
            b.iter(|| analyze(&Policy::parse(black_box(t)).unwrap()))
        });
        // Guard rules + baseline merge + equivalence + serialisation, as a handler runs it.
        group.bench_with_input(BenchmarkId::new("plan", n), &parsed, |b, p| {
            b.iter(|| plan_repository(Some(black_box(p)), "app", &ctx))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
