//! The per-account stack for StackSets (`scripts/stackset.py`): the SAM template expanded ahead of
//! time (no transform left, so a service-managed StackSet can deploy it), every function's code in
//! `${CodeBucketPrefix}-${AWS::Region}`, each role's `ecr:` actions still exactly its function's
//! calls; the zips uploaded to one bucket per Region on moto's S3.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use guard_adapter::engine::ecr_actions_for;
use scenarios::*;
use serde_json::{json, Value};
use std::{collections::BTreeSet, path::PathBuf, process::Command};

fn python() -> PathBuf {
    root().join(".tools/sam/bin/python")
}

fn stackset(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let out = Command::new(python())
        .arg(root().join("scripts/stackset.py"))
        .args(args)
        .current_dir(root())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stackset.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn expanded() -> Value {
    let dir = tempdir("stackset-template");
    let file = dir.join("stackset.json");
    stackset(&["template", "--out", file.to_str().unwrap()], &[]);
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
        _ => vec![],
    }
}

/// The function crate each Lambda runs, from the key its code is read from
fn binary_of(function: &Value) -> String {
    let key = function["Properties"]["Code"]["S3Key"]["Fn::Sub"].as_str().unwrap();
    key.trim_start_matches("${CodeKeyPrefix}/")
        .trim_end_matches(".zip")
        .to_owned()
}

fn accepts(binary: &str) -> guard_adapter::Accepts {
    match binary {
        "apply-baseline" => apply_baseline::ACCEPTS,
        "enforce-policy" => enforce_policy::ACCEPTS,
        "grant-replication" => grant_replication::ACCEPTS,
        "sweep" => sweep::ACCEPTS,
        "import-findings" => import_findings::ACCEPTS,
        other => panic!("no function crate `{other}`"),
    }
}

#[test]
fn the_expanded_template_needs_no_transform_and_reads_code_from_the_regions_bucket() {
    let t = expanded();
    assert!(t.get("Transform").is_none());
    let resources = t["Resources"].as_object().unwrap();
    assert!(resources
        .values()
        .all(|r| !r["Type"].as_str().unwrap().starts_with("AWS::Serverless::")));
    let functions: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::Lambda::Function")
        .collect();
    // The four guards and the Security Hub importer (created only with SecurityHub=true).
    assert_eq!(functions.len(), 5);
    let importers: Vec<_> = functions.iter().filter(|f| binary_of(f) == "import-findings").collect();
    assert_eq!(importers.len(), 1);
    assert_eq!(importers[0]["Condition"], "HasSecurityHub");
    for f in &functions {
        assert_eq!(
            f["Properties"]["Code"]["S3Bucket"],
            json!({"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"})
        );
        assert_eq!(f["Properties"]["Architectures"], json!(["arm64"]));
    }
    // Each role holds exactly the `ecr:` actions its function's code calls, as in template.yaml.
    for f in &functions {
        let binary = binary_of(f);
        let role_id = f["Properties"]["Role"]["Fn::GetAtt"][0].as_str().unwrap();
        let role = &resources[role_id];
        let mut granted = BTreeSet::new();
        for policy in role["Properties"]["Policies"].as_array().unwrap() {
            for s in policy["PolicyDocument"]["Statement"].as_array().into_iter().flatten() {
                granted.extend(strings(&s["Action"]).into_iter().filter(|a| a.starts_with("ecr:")));
            }
        }
        let called: BTreeSet<String> = ecr_actions_for(accepts(&binary))
            .into_iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(granted, called, "{binary}");
    }
    // The code location parameters are validated before anything deploys.
    assert!(t["Parameters"]["CodeBucketPrefix"]["AllowedPattern"].is_string());
}

/// One S3 request to moto, path-style (moto does not check signatures): the status line and body
fn s3(method: &str, path: &str, body: &str, region: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let addr = moto_endpoint().trim_start_matches("http://").to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/s3/aws4_request, SignedHeaders=host, Signature=0\r\n\
         x-amz-content-sha256: UNSIGNED-PAYLOAD\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    (
        head.lines().next().unwrap_or_default().to_owned(),
        out[split + 4..].to_vec(),
    )
}

#[tokio::test]
async fn the_zips_go_to_one_bucket_per_region() {
    let _x = exclusive().await;
    // Given a build directory as `sam build` leaves it (the files stand in for the bootstraps:
    // what is tested is where each zip goes and what it holds)
    let build = tempdir("stackset-build");
    let t = expanded();
    let mut binaries = Vec::new();
    for (id, r) in t["Resources"].as_object().unwrap() {
        if r["Type"] == "AWS::Lambda::Function" {
            std::fs::create_dir_all(build.join(id)).unwrap();
            std::fs::write(build.join(id).join("bootstrap"), format!("bootstrap of {id}")).unwrap();
            binaries.push((id.clone(), binary_of(r)));
        }
    }
    let dist = build.join("dist");
    stackset(
        &[
            "package",
            "--build-dir",
            build.to_str().unwrap(),
            "--out",
            dist.to_str().unwrap(),
        ],
        &[],
    );
    // And one bucket per Region
    let endpoint = moto_endpoint();
    let env = [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    for region in ["us-east-1", "eu-west-1"] {
        let body = if region == "us-east-1" {
            String::new()
        } else {
            format!("<CreateBucketConfiguration><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>")
        };
        let (status, _) = s3("PUT", &format!("/guard-code-{region}"), &body, region);
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    }
    // When the zips are uploaded
    stackset(
        &[
            "upload",
            "--bucket-prefix",
            "guard-code",
            "--key-prefix",
            "v1",
            "--regions",
            "us-east-1,eu-west-1",
            dist.to_str().unwrap(),
        ],
        &env,
    );
    // Then each Region's bucket holds every function's zip, at the key its template names
    for region in ["us-east-1", "eu-west-1"] {
        for (id, binary) in &binaries {
            let (status, zip) = s3("GET", &format!("/guard-code-{region}/v1/{binary}.zip"), "", region);
            assert!(status.starts_with("HTTP/1.1 200"), "{region} {binary}: {status}");
            let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
            let mut entry = archive.by_name("bootstrap").unwrap();
            assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755), "{binary}");
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            assert_eq!(text, format!("bootstrap of {id}"));
        }
    }
}
