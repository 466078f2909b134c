#!/usr/bin/env python3
"""ECR side of the demo, against moto: create repositories with bad policies, print policies,
write event files for other repository names; the findings outlets (an EventBridge rule and a
chat topic, each delivering to an SQS queue) and one finding as a person reads it. Uses the boto3
that moto brings."""
import json
import os
import sys

import boto3

ecr = boto3.client(
    "ecr",
    endpoint_url=os.environ["AWS_ENDPOINT_URL"],
    region_name=os.environ.get("AWS_REGION", "us-east-1"),
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
)
OWN = "123456789012"


def client(service):
    return boto3.client(
        service,
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def outlets(config_in, config_out):
    """A chat topic and an EventBridge rule, each delivering to a queue; the demo's config sends
    chat notifications to the topic"""
    sqs, sns, events = client("sqs"), client("sns"), client("events")
    arns = {}
    for name in ("chat", "findings"):
        url = sqs.create_queue(QueueName=f"demo-{name}")["QueueUrl"]
        arns[name] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="ecr-guard-chat")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arns["chat"])
    events.put_rule(Name="ecr-policy-guard-findings",
                    EventPattern=json.dumps({"source": ["ecr-policy-guard"], "detail": {"severity": ["CRITICAL", "HIGH"]}}))
    events.put_targets(Rule="ecr-policy-guard-findings", Targets=[{"Id": "queue", "Arn": arns["findings"]}])
    with open(config_in) as f:
        config = json.load(f)
    config["notify_topic_arn"] = topic
    with open(config_out, "w") as f:
        json.dump(config, f, indent=2)


def drain(name):
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=f"demo-{name}")["QueueUrl"]
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def chat():
    """The chat messages as a Slack or Teams channel would show them"""
    for n in drain("chat"):
        m = json.loads(n["Message"])
        print(m["content"]["title"])
        print(m["content"]["description"])
        for step in m["content"]["nextSteps"]:
            print(f"  next: {step}")


def findings():
    """The EventBridge events the rule routed to its queue, a few lines each"""
    for e in drain("findings"):
        d = e["detail"]
        print(f"{e['source']} / {e['detail-type']}: {d['severity']} {d['rule']} {d['disposition']} "
              f"on {d['target']} {d.get('repository', '')}")
        print(f"  reason: {d['reason']}; statement: {json.dumps(d['statement'])}")
        print(f"  id: {d['id']}")


def setup():
    ecr.create_repository(repositoryName="team-payments/api")
    bad = {
        "svc/public-pull": [
            {"Sid": "EveryonePull", "Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]},
            {"Sid": "OwnCi", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OWN}:role/ci"}, "Action": "ecr:*"},
        ],
        "svc/partner": [
            {"Sid": "PartnerPull", "Effect": "Allow",
             "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::999988887777:root"]},
             "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]},
        ],
        "sandbox-alice": [
            {"Sid": "EveryoneAll", "Effect": "Allow", "Principal": "*", "Action": "ecr:*"},
        ],
    }
    for name, statements in bad.items():
        ecr.create_repository(repositoryName=name)
        ecr.set_repository_policy(repositoryName=name, policyText=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    ecr.put_registry_policy(policyText=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "StrangerReplication", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
         "Action": ["ecr:ReplicateImage"], "Resource": f"arn:aws:ecr:us-east-1:{OWN}:repository/*"}]}))


def show(target):
    try:
        if target == "registry":
            text = ecr.get_registry_policy()["policyText"]
        else:
            text = ecr.get_repository_policy(repositoryName=target)["policyText"]
        print(json.dumps(json.loads(text), indent=2))
    except ecr.exceptions.ClientError as e:
        print(f"(no policy: {e.response['Error']['Code']})")


def event_for(template, repository, out):
    with open(template) as f:
        event = json.load(f)
    event["detail"]["requestParameters"]["repositoryName"] = repository
    with open(out, "w") as f:
        json.dump(event, f, indent=2)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "setup":
        setup()
    elif cmd == "show":
        show(sys.argv[2])
    elif cmd == "event-for":
        event_for(*sys.argv[2:5])
    elif cmd == "outlets":
        outlets(*sys.argv[2:4])
    elif cmd == "chat":
        chat()
    elif cmd == "findings":
        findings()
    else:
        sys.exit(f"unknown command {cmd}")
