#!/usr/bin/env python3
"""ECR side of the demo, against moto: create repositories with bad policies, print policies,
write event files for other repository names. Uses the boto3 that moto brings."""
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
    else:
        sys.exit(f"unknown command {cmd}")
