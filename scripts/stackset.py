#!/usr/bin/env python3
"""Per-account stacks that roll out with CloudFormation StackSets.

A StackSet with service-managed permissions cannot process the `AWS::Serverless` transform with
its default execution role, and Lambda takes code only from a bucket in the function's own Region.
So the SAM template is expanded ahead of time (the same translator `sam` uses, offline), and every
function's code points to `${CodeBucketPrefix}-${AWS::Region}`: one bucket per Region, each holding
the same zips.

    stackset.py template [--in template.yaml] --out stackset.json
        the transform-free template (parameters `CodeBucketPrefix`, `CodeKeyPrefix` added)
    stackset.py package --build-dir .aws-sam/build --out dist
        one zip per function (`bootstrap` inside), named after its binary, with a SHA-256 list
    stackset.py upload --bucket-prefix PREFIX --key-prefix KEY --regions r1,r2 dist
        the zips into PREFIX-REGION for each Region (boto3; AWS_ENDPOINT_URL is honoured)
    stackset.py commands --bucket-prefix PREFIX --key-prefix KEY --regions r1,r2 --ous ou-1,ou-2
        the exact StackSets commands

Run with the interpreter of the `sam` virtualenv (`.tools/sam/bin/python`), which has the
translator (`samtranslator`) and cfn-lint's YAML loader. Sources: the StackSets limits are in
../shared/reference/ecr-2026.md ("Organisation level"); SAM's `CodeUri` object form
(`Bucket`, `Key`) is SAM's documented S3 location.
"""
import argparse
import hashlib
import json
import os
import sys
import zipfile

STACKSET_NAME = "ecr-policy-guard"


class NoManagedPolicies:
    """The translator asks for AWS managed policy ARNs by name only when a template names one
    without an ARN; this template does not, so no IAM call is needed (or made)."""

    def load(self):
        return {}


def functions(template):
    """(logical id, binary name) of every SAM function"""
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            if not binary:
                sys.exit(f"error: `{logical_id}` names no `Metadata.BuildProperties.Binary`")
            yield logical_id, binary


def transform_free(path):
    """The SAM template expanded, code in the Region's bucket"""
    from cfnlint.decode import decode
    from samtranslator.translator.transform import transform

    template, matches = decode(path)
    if matches:
        sys.exit(f"error: `{path}` cannot be read: {matches[0]}")
    template = json.loads(json.dumps(template))  # plain dicts: the translator mutates them
    params = template.setdefault("Parameters", {})
    params["CodeBucketPrefix"] = {
        "Type": "String",
        "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,40}$",
        "Description": "Code buckets are PREFIX-REGION, one per Region (Lambda reads code only from its own Region).",
    }
    params["CodeKeyPrefix"] = {
        "Type": "String",
        "Default": "ecr-policy-guard",
        "AllowedPattern": "^[A-Za-z0-9._/-]{1,200}$",
        "Description": "The folder holding BINARY.zip for each function.",
    }
    for logical_id, binary in functions(template):
        resource = template["Resources"][logical_id]
        resource["Properties"]["CodeUri"] = {
            "Bucket": {"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"},
            "Key": {"Fn::Sub": "${CodeKeyPrefix}/" + binary + ".zip"},
        }
        # Build metadata means nothing without `sam build`.
        resource.pop("Metadata", None)
    out = transform(template, {}, NoManagedPolicies())
    if "Transform" in out or any(r["Type"].startswith("AWS::Serverless::") for r in out["Resources"].values()):
        sys.exit("error: the expanded template still needs the SAM transform")
    return out


def cmd_template(a):
    out = transform_free(a.input)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=2, sort_keys=False)
        f.write("\n")
    print(f"{a.out}: {len(out['Resources'])} resources, no transform")


def cmd_package(a):
    os.makedirs(a.out, exist_ok=True)
    from cfnlint.decode import decode

    template, _ = decode(a.template)
    lines = []
    for logical_id, binary in functions(template):
        bootstrap = os.path.join(a.build_dir, logical_id, "bootstrap")
        if not os.path.isfile(bootstrap):
            sys.exit(f"error: `{bootstrap}` is missing: run `sam build --beta-features` first")
        target = os.path.join(a.out, f"{binary}.zip")
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
            info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o755 << 16  # executable: Lambda runs it as is
            with open(bootstrap, "rb") as f:
                z.writestr(info, f.read(), zipfile.ZIP_DEFLATED)
        digest = hashlib.sha256(open(target, "rb").read()).hexdigest()
        lines.append(f"{digest}  {binary}.zip")
        print(f"{target}: {os.path.getsize(target)} bytes")
    with open(os.path.join(a.out, "SHA256SUMS"), "w") as f:
        f.write("\n".join(lines) + "\n")


def regions(text):
    out = [r.strip() for r in text.split(",") if r.strip()]
    if not out:
        sys.exit("error: `--regions` names no Region")
    return out


def cmd_upload(a):
    import boto3

    zips = sorted(f for f in os.listdir(a.dist) if f.endswith(".zip"))
    if not zips:
        sys.exit(f"error: `{a.dist}` holds no zip: run `stackset.py package` first")
    for region in regions(a.regions):
        bucket = f"{a.bucket_prefix}-{region}"
        s3 = boto3.client("s3", region_name=region)
        for z in zips:
            s3.upload_file(os.path.join(a.dist, z), bucket, f"{a.key_prefix}/{z}")
            print(f"s3://{bucket}/{a.key_prefix}/{z}")


def cmd_commands(a):
    rs = regions(a.regions)
    ous = regions(a.ous)
    print(f"""# 1. Build the arm64 bootstraps, zip them, expand the template (no transform left)
./scripts/build-arm64.sh
.tools/sam/bin/python scripts/stackset.py package --build-dir .aws-sam/build --out dist
.tools/sam/bin/python scripts/stackset.py template --out stackset.json
# 2. One code bucket per Region (Lambda reads code only from its own Region), readable by the
#    organisation's accounts (bucket policy with aws:PrincipalOrgID), then the same zips in each
.tools/sam/bin/python scripts/stackset.py upload --bucket-prefix {a.bucket_prefix} --key-prefix {a.key_prefix} --regions {','.join(rs)} dist
# 3. The StackSet (service-managed, auto-deployed to new accounts of the OUs); CAPABILITY_IAM for
#    the functions' roles; no CAPABILITY_AUTO_EXPAND: nothing is left to expand
aws cloudformation create-stack-set --stack-set-name {STACKSET_NAME} \\
  --template-body file://stackset.json --capabilities CAPABILITY_IAM \\
  --permission-model SERVICE_MANAGED --auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false \\
  --parameters ParameterKey=CodeBucketPrefix,ParameterValue={a.bucket_prefix} ParameterKey=CodeKeyPrefix,ParameterValue={a.key_prefix} ParameterKey=Mode,ParameterValue=report
aws cloudformation create-stack-instances --stack-set-name {STACKSET_NAME} \\
  --deployment-targets OrganizationalUnitIds={','.join(ous)} --regions {' '.join(rs)} \\
  --operation-preferences FailureTolerancePercentage=10,MaxConcurrentPercentage=25,RegionConcurrencyType=PARALLEL
# 4. Later: switch to enforce (or change any parameter) for every instance
aws cloudformation update-stack-set --stack-set-name {STACKSET_NAME} --use-previous-template \\
  --capabilities CAPABILITY_IAM --parameters ParameterKey=Mode,ParameterValue=enforce \\
  ParameterKey=CodeBucketPrefix,UsePreviousValue=true ParameterKey=CodeKeyPrefix,UsePreviousValue=true""")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("template", help="the transform-free template")
    t.add_argument("--in", dest="input", default="template.yaml")
    t.add_argument("--out", required=True)
    p = sub.add_parser("package", help="one zip per function")
    p.add_argument("--template", default="template.yaml")
    p.add_argument("--build-dir", default=".aws-sam/build")
    p.add_argument("--out", default="dist")
    u = sub.add_parser("upload", help="the zips into one bucket per Region")
    for q in (u,):
        q.add_argument("--bucket-prefix", required=True)
        q.add_argument("--key-prefix", default="ecr-policy-guard")
        q.add_argument("--regions", required=True)
        q.add_argument("dist")
    c = sub.add_parser("commands", help="the exact StackSets commands")
    c.add_argument("--bucket-prefix", required=True)
    c.add_argument("--key-prefix", default="ecr-policy-guard")
    c.add_argument("--regions", required=True)
    c.add_argument("--ous", required=True)
    a = ap.parse_args()
    {"template": cmd_template, "package": cmd_package, "upload": cmd_upload, "commands": cmd_commands}[a.cmd](a)


if __name__ == "__main__":
    main()
