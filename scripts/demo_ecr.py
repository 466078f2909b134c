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
    # A creation template whose policy would make every repository pull through cache creates public.
    ecr.create_repository_creation_template(
        prefix="team-hub", appliedFor=["PULL_THROUGH_CACHE"], description="Docker Hub mirror",
        repositoryPolicy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "EveryonePull", "Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]}))
    ecr.put_registry_policy(policyText=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "StrangerReplication", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
         "Action": ["ecr:ReplicateImage"], "Resource": f"arn:aws:ecr:us-east-1:{OWN}:repository/*"}]}))


def policy_of(target):
    """The live policy of a repository, `registry`, or `template:PREFIX`, or None"""
    try:
        if target == "registry":
            text = ecr.get_registry_policy()["policyText"]
        elif target.startswith("template:"):
            found = ecr.describe_repository_creation_templates(prefixes=[target[len("template:"):]])
            text = next((t.get("repositoryPolicy") for t in found["repositoryCreationTemplates"]), None)
        else:
            text = ecr.get_repository_policy(repositoryName=target)["policyText"]
        return json.loads(text) if text else None
    except ecr.exceptions.ClientError:
        return None


def show(target):
    policy = policy_of(target)
    print(json.dumps(policy, indent=2) if policy else "(no policy)")


def snapshot(target, out):
    with open(out, "w") as f:
        json.dump(policy_of(target), f)


def statements(policy):
    if not policy:
        return []
    st = policy.get("Statement", [])
    return st if isinstance(st, list) else [st]


def listed(v):
    return v if isinstance(v, list) else [v]


def one_line(s):
    """A statement in one line: effect, who, what, under which conditions"""
    who = s.get("Principal", s.get("NotPrincipal", "(none)"))
    if isinstance(who, dict):
        who = " ".join(f"{k}:{','.join(short(x) for x in listed(v))}" for k, v in who.items())
    actions = listed(s.get("Action", s.get("NotAction", [])))
    what = ",".join(a.replace("ecr:", "") for a in actions[:3]) + (f",+{len(actions) - 3}" if len(actions) > 3 else "")
    cond = s.get("Condition")
    when = ""
    if cond:
        when = " if " + "; ".join(f"{op} {k}" for op, keys in cond.items() for k in keys)
    return f"{s.get('Effect')} {who} {what}{when}"


def short(principal):
    # arn:aws:iam::123456789012:role/ci -> 123456789012:role/ci
    return principal.split("::", 1)[1] if principal.startswith("arn:") and "::" in principal else principal


def explain(before_file, outcome_file, after_file):
    """Before and after as a compact statement diff, each change with its rule and reason"""
    before = statements(json.load(open(before_file)))
    after = statements(json.load(open(after_file)))
    outcome = json.load(open(outcome_file))
    action = outcome.get("action")
    write = f" ({outcome['write']})" if outcome.get("write") else ""
    print(f"  outcome: {action}{write}" + (f" - {outcome['reason']}" if outcome.get("reason") else ""))
    why = {}
    for f in outcome.get("findings", []):
        label = f["statement"]
        sid = label.split("(`", 1)[1].rstrip("`)") if "(`" in label else label
        who = f" `{f['principal']}`" if f.get("principal") else ""
        why.setdefault(sid, []).append(f"{f['rule']} ({f['disposition']}){who}: {f['reason']}")
    key = lambda i, s: s.get("Sid") or f"statement {i}"
    after_by = {key(i, s): s for i, s in enumerate(after)}
    before_keys = set()
    for i, s in enumerate(before):
        k = key(i, s)
        before_keys.add(k)
        now = after_by.get(k)
        mark = "=" if now == s else ("-" if now is None else "~")
        print(f"  {mark} {k:<28} {one_line(s)}")
        if mark == "~":
            print(f"    {'':<28} now: {one_line(now)}")
        for w in why.get(k, []):
            print(f"    {'':<28} {w}")
    for i, s in enumerate(after):
        k = key(i, s)
        if k not in before_keys:
            print(f"  + {k:<28} {one_line(s)}")
    if not before and not after:
        print("  (no policy before or after)")


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
    elif cmd == "snapshot":
        snapshot(sys.argv[2], sys.argv[3])
    elif cmd == "explain":
        explain(*sys.argv[2:5])
    elif cmd == "create":
        ecr.create_repository(repositoryName=sys.argv[2])
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
