#!/usr/bin/env python3
"""Checks that the project's moto (scripts/moto_server.py, as installed by scripts/tools.sh) serves
the AWS services the product is about to use, one small round trip each: STS AssumeRole into
another account (later calls land in that account), Organizations, Security Hub
(BatchImportFindings, GetFindings), SNS to SQS, EventBridge PutEvents through a rule to an SQS
target, SSM Parameter Store, Step Functions. Not part of CI's tests; run it after changing moto's
version or extras:

    .tools/venv/bin/python scripts/moto_services_smoke.py

Starts its own server on a free loopback port and stops it; prints one line per service and
exits 1 when any fails.
"""
import json
import os
import socket
import subprocess
import sys
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OWN = "123456789012"  # moto's default account
OTHER = "111122223333"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(endpoint, service, **keys):
    keys = keys or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", **keys)


def queue(endpoint, name):
    sqs = client(endpoint, "sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs, url, arn


def in_account(boto_client, account):
    """Sends this client's calls as `account` (moto's `x-moto-account-id` header): setting up
    another account without credentials for it"""
    def header(request, **_):
        request.headers["x-moto-account-id"] = account
    boto_client.meta.events.register("before-sign", header)
    return boto_client


def sts(endpoint):
    # The role must exist (scripts/moto_ext/sts_roles.py): a missing one is refused as AWS does.
    try:
        client(endpoint, "sts").assume_role(RoleArn=f"arn:aws:iam::{OTHER}:role/guard", RoleSessionName="smoke")
        raise AssertionError("a missing role was assumed")
    except client(endpoint, "sts").exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied", e.response
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OWN}:root"},
                                                     "Action": "sts:AssumeRole"}]}
    in_account(client(endpoint, "iam"), OTHER).create_role(RoleName="guard", AssumeRolePolicyDocument=json.dumps(trust))
    creds = client(endpoint, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{OTHER}:role/guard", RoleSessionName="smoke")["Credentials"]
    keys = {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"]}
    assert client(endpoint, "sts", **keys).get_caller_identity()["Account"] == OTHER
    ecr = client(endpoint, "ecr", **keys)
    ecr.create_repository(repositoryName="smoke-other-account")
    assert ecr.describe_repositories()["repositories"][0]["registryId"] == OTHER
    own = client(endpoint, "ecr").describe_repositories()["repositories"]
    assert all(r["repositoryName"] != "smoke-other-account" for r in own), own


def organizations(endpoint):
    org = client(endpoint, "organizations")
    assert org.create_organization(FeatureSet="ALL")["Organization"]["Id"].startswith("o-")
    org.create_account(Email="member@example.com", AccountName="member")
    assert len(org.list_accounts()["Accounts"]) == 2


def securityhub(endpoint):
    hub = client(endpoint, "securityhub")
    hub.enable_security_hub()
    finding = {
        "SchemaVersion": "2018-10-08", "Id": "smoke-1", "GeneratorId": "ecr-policy-guard",
        "ProductArn": f"arn:aws:securityhub:us-east-1:{OWN}:product/{OWN}/default",
        "AwsAccountId": OWN, "Types": ["Software and Configuration Checks"],
        "CreatedAt": "2026-01-01T00:00:00Z", "UpdatedAt": "2026-01-01T00:00:00Z",
        "Severity": {"Label": "HIGH"}, "Title": "public repository", "Description": "smoke",
        "Resources": [{"Type": "AwsEcrRepository", "Id": f"arn:aws:ecr:us-east-1:{OWN}:repository/x"}],
    }
    assert hub.batch_import_findings(Findings=[finding])["SuccessCount"] == 1
    assert [f["Id"] for f in hub.get_findings()["Findings"]] == ["smoke-1"]


def sns_to_sqs(endpoint):
    sqs, url, arn = queue(endpoint, "smoke-sns")
    sns = client(endpoint, "sns")
    topic = sns.create_topic(Name="smoke")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(TopicArn=topic, Message="hello")
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert json.loads(messages[0]["Body"])["Message"] == "hello", messages


def eventbridge(endpoint):
    sqs, url, arn = queue(endpoint, "smoke-events")
    events = client(endpoint, "events")
    events.put_rule(Name="smoke", EventPattern=json.dumps({"source": ["aws.ecr"]}))
    events.put_targets(Rule="smoke", Targets=[{"Id": "queue", "Arn": arn}])
    out = events.put_events(Entries=[
        {"Source": "aws.ecr", "DetailType": "ECR Image Action", "Detail": "{}"},
        {"Source": "aws.s3", "DetailType": "Object Created", "Detail": "{}"},
    ])
    assert out["FailedEntryCount"] == 0, out
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["source"] for m in messages] == ["aws.ecr"], messages


def ssm(endpoint):
    params = client(endpoint, "ssm")
    params.put_parameter(Name="/guard/config", Value="{}", Type="String")
    assert params.get_parameter(Name="/guard/config")["Parameter"]["Value"] == "{}"
    assert [p["Name"] for p in params.get_parameters_by_path(Path="/guard")["Parameters"]] == ["/guard/config"]


def stepfunctions(endpoint):
    sfn = client(endpoint, "stepfunctions")
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    machine = sfn.create_state_machine(name="smoke", definition=json.dumps(definition),
                                       roleArn=f"arn:aws:iam::{OWN}:role/sfn")["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    assert sfn.describe_execution(executionArn=execution)["status"] in ("RUNNING", "SUCCEEDED")


CHECKS = [sts, organizations, securityhub, sns_to_sqs, eventbridge, ssm, stepfunctions]


def main():
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "scripts/moto_server.py"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("moto did not start")
                time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"
        failed = 0
        for check in CHECKS:
            try:
                check(endpoint)
                print(f"{check.__name__}: ok")
            except Exception as e:  # report every service, not only the first failure
                failed += 1
                print(f"{check.__name__}: FAILED {type(e).__name__}: {e}")
        return 1 if failed else 0
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
