#!/usr/bin/env python3
"""The organisation sweep against the single-account sweep run once per account in sequence, on
moto with many accounts in one server.

What it measures. `--accounts` member accounts (default 20) of `--repos` repositories each
(default 250), swept in enforce mode two ways by the same release binary, `target/release/sweep`:

- org sweep (central mode, config with `member_role`): what the `OrgSweepStateMachine` does. The
  sweep function is invoked with `{"plan": true}`, then every account x Region of the plan is one
  Map item, `{"account", "region", "concurrency", "summary": "counts"}`, run by K sweep processes
  at once, where K is the plan's `accounts_at_once` (GUARD_ORG_ACCOUNTS_AT_ONCE, the template's
  OrgSweepAccountsAtOnce; `--map-concurrency`, default 1, 5 and 10). moto cannot invoke a Rust
  Lambda, so this script plays the Map: each process is one Lambda execution environment polling
  its own local Runtime API (`RuntimeApi` from bench/runtime.py), started when an item finds no
  idle one (cold) and then reused (warm), fed items from one shared queue. Each item assumes the
  account's member role through STS, as in AWS. Step Functions' own overhead is not modelled.
- single-account sweeps in sequence: for each account, one non-central sweep process (config
  without `member_role`, GUARD_ACCOUNT_ID and credentials of that account, from an `AssumeRole`
  made by this script before timing), sent the scheduled event, one after another: one cold
  Lambda per account, what per-account stacks would run.

Both start from the same policies (changed ones are put back between runs) and must end with the
same policies: a difference is printed as an ERROR, as are failed or incomplete sweeps.

Reported per run: wall time (org sweep: first process started -> last item answered; sequence:
the sum over accounts of process started -> answer), requests the sweeps made (counted by
operation in a loopback proxy in front of moto, `LatencyProxy` from bench/custodian.py, which
also holds each request `--latency-ms`), requests per repository, peak memory (the largest VmHWM
of any sweep process), CPU of the sweep processes and of moto, repositories written, and for a
Map item its wall time (median and largest) and requests (the run's requests / items).

Repositories of each account, one kind per index modulo 10: 6 in 10 with a legitimate policy the
guard keeps (own CI push role, trusted account pull, Lambda and CodeBuild pinned to the account,
organisation-wide pull), 2 in 10 with a grant the guard removes (a public `*` statement beside a
trusted one; a foreign account beside the trusted one in one statement), 2 in 10 with no policy.

Run with the project's virtualenv (moto, boto3): `.tools/venv/bin/python bench/org_sweep.py
[--latency-ms 20]` after `cargo build --release -p sweep`. Only loopback traffic.
(Not `org.py`: the standard library's `copy` imports a module named `org` when it can, and
bench/ is on the path of every benchmark.)
"""

import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the benchmarks

import argparse  # noqa: E402
import atexit  # noqa: E402
import collections  # noqa: E402
import concurrent.futures  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from custodian import LatencyProxy, Moto  # noqa: E402
from runtime import RuntimeApi, peak_rss_mb  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = os.path.join(ROOT, "target/release/sweep")
CENTRAL = "123456789012"  # moto's default account: the central account, where the functions run
REGION = "us-east-1"
TRUSTED = "111122223333"
FOREIGN = "999988887777"
ORG = "o-a1b2c3d4e5"
MEMBER_ROLE = "ecr-policy-guard-member"
SWEEP_ROLE = "ecr-policy-guard-sweep"  # a per-account stack's sweep role (the sequence's identity)
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
PUSH = PULL + ["ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
               "ecr:CompleteLayerUpload"]
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 5})


# ---------------------------------------------------------------- the organisation on moto

def member_accounts(n):
    return [f"{210000000000 + i:012d}" for i in range(1, n + 1)]


def stmt(sid, principal, actions, condition=None):
    s = {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": actions}
    if condition:
        s["Condition"] = condition
    return s


def corpus(account, n):
    """name -> (kind, policy or None): kinds 0-5 kept, 6-7 changed, 8-9 without a policy."""
    own_push = stmt("OwnCiPush", {"AWS": f"arn:aws:iam::{account}:role/ci"}, PUSH)
    trusted_pull = stmt("TrustedPull", {"AWS": f"arn:aws:iam::{TRUSTED}:root"}, PULL)
    pinned = {"StringEquals": {"aws:SourceAccount": account}}
    kinds = [
        ("ok-own-trusted", [own_push, trusted_pull]),
        ("ok-trusted", [trusted_pull]),
        ("ok-lambda", [own_push, stmt("LambdaPull", {"Service": "lambda.amazonaws.com"},
                                      PULL[:2], pinned)]),
        ("ok-codebuild", [trusted_pull, stmt("CodeBuildPull", {"Service": "codebuild.amazonaws.com"},
                                             PULL, pinned)]),
        ("ok-org", [own_push, stmt("OrgPull", "*", PULL,
                                   {"StringEquals": {"aws:PrincipalOrgID": ORG}})]),
        ("ok-own-and-trusted", [stmt("OwnAndTrusted", {"AWS": [f"arn:aws:iam::{account}:root",
                                                               f"arn:aws:iam::{TRUSTED}:role/deploy"]},
                                     PULL)]),
        ("bad-public", [trusted_pull, stmt("PublicPull", "*", PULL)]),
        ("bad-foreign", [own_push, stmt("PartnersPull", {"AWS": [f"arn:aws:iam::{TRUSTED}:root",
                                                                 f"arn:aws:iam::{FOREIGN}:root"]},
                                        PULL)]),
        ("none", None),
        ("none", None),
    ]
    repos = {}
    for i in range(n):
        kind, statements = kinds[i % len(kinds)]
        policy = None if statements is None else {"Version": "2012-10-17", "Statement": statements}
        repos[f"team-{i % 7}/{kind}-{i:04d}"] = (kind, policy)
    return repos


def guard_config(central, accounts):
    config = {"mode": "enforce", "org_id": ORG, "trusted_accounts": {TRUSTED: "pull"}}
    if central:
        config["member_role"] = f"arn:${{Partition}}:iam::${{AccountId}}:role/{MEMBER_ROLE}"
        config["accounts"] = accounts
    return json.dumps(config)


def client_in(moto, service, account):
    """A boto3 client acting in `account` directly (moto's `x-moto-account-id` header): set-up
    and inspection only, never what the sweeps use."""
    c = boto3.client(service, endpoint_url=moto.url, region_name=REGION, config=CLIENT_CONFIG,
                     aws_access_key_id="testing", aws_secret_access_key="testing")

    def header(request, **_):
        request.headers["x-moto-account-id"] = account

    c.meta.events.register("before-sign", header)
    return c


def create_roles(moto, account):
    """The member stack's role (trusting the central account) and a per-account sweep role"""
    iam = client_in(moto, "iam", account)
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{CENTRAL}:root"},
        "Action": "sts:AssumeRole"}]}
    for name in (MEMBER_ROLE, SWEEP_ROLE):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))


def own_credentials(moto, account):
    """Session credentials of the account's sweep role: moto maps their key to the account"""
    sts = boto3.client("sts", endpoint_url=moto.url, region_name=REGION, config=CLIENT_CONFIG,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{SWEEP_ROLE}",
                        RoleSessionName="bench-org", DurationSeconds=3600)["Credentials"]
    return c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]


def seed(pool, ecrs, corpora):
    def one(account, name, policy):
        ecrs[account].create_repository(repositoryName=name)
        if policy is not None:
            ecrs[account].set_repository_policy(repositoryName=name, policyText=json.dumps(policy))

    list(pool.map(lambda x: one(*x), [(a, n, p) for a, repos in corpora.items()
                                      for n, (_, p) in repos.items()]))


def dump(pool, ecrs, corpora):
    """(account, repository) -> the policy as a canonical JSON string, or None"""
    def one(account, name):
        try:
            text = ecrs[account].get_repository_policy(repositoryName=name)["policyText"]
            return (account, name), json.dumps(json.loads(text), sort_keys=True)
        except ecrs[account].exceptions.RepositoryPolicyNotFoundException:
            return (account, name), None

    return dict(pool.map(lambda x: one(*x), [(a, n) for a, repos in corpora.items() for n in repos]))


def canon(policy):
    return None if policy is None else json.dumps(policy, sort_keys=True)


def restore(pool, ecrs, corpora, state):
    """Puts back every policy that differs from the seeded one; returns how many"""
    todo = [(a, n, p) for a, repos in corpora.items() for n, (_, p) in repos.items()
            if state[(a, n)] != canon(p)]

    def one(account, name, policy):
        if policy is None:
            ecrs[account].delete_repository_policy(repositoryName=name)
        else:
            ecrs[account].set_repository_policy(repositoryName=name, policyText=json.dumps(policy))

    list(pool.map(lambda x: one(*x), todo))
    return len(todo)


# ---------------------------------------------------------------- counting requests

class CountingProxy(LatencyProxy):
    """LatencyProxy (bench/custodian.py) that also counts the requests it holds, by operation.
    A request is what LatencyProxy holds: the first bytes a client sends on a connection, or
    after a response came back on it; its operation is read from those bytes' headers."""

    def __init__(self, target_port, latency):
        self.counts = collections.Counter()
        self._lock = threading.Lock()
        super().__init__(target_port, latency)

    def _serve(self, client):
        super()._serve(_Tap(client, self))

    def note(self, data):
        text = data[:8192].decode("latin-1")
        m = re.search(r"^x-amz-target:\s*\w+?\.(\w+)", text, re.I | re.M)
        if m:
            service = "events" if "AWSEvents" in text else "ecr"
            op = f"{service}:{m.group(1)}"
        else:
            m = re.search(r"Credential=[^/]+/\d+/[^/]+/([a-z0-9-]+)/", text)
            action = re.search(r"Action=(\w+)", text)
            op = f"{m.group(1) if m else '?'}:{action.group(1) if action else '?'}"
        with self._lock:
            self.counts[op] += 1

    def take(self):
        """The counts so far, and start again"""
        with self._lock:
            counts, self.counts = self.counts, collections.Counter()
        return counts


class _Tap:
    """The client side of one proxied connection: notes each request's first bytes"""

    def __init__(self, sock, proxy):
        self._sock, self._proxy, self._new = sock, proxy, True

    def recv(self, n):
        data = self._sock.recv(n)
        if data and self._new:
            self._new = False
            self._proxy.note(data)
        return data

    def sendall(self, data):  # a response going back: the next bytes read are a new request
        self._new = True
        return self._sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


# ---------------------------------------------------------------- Lambda execution environments

def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Container:
    """One Lambda execution environment: the sweep binary polling its own Runtime API. Cold when
    made (returns once the binary asks for its first event), warm for every later invocation."""

    def __init__(self, env, log_path):
        self.api = RuntimeApi()
        # Its poll still pending when the binary is stopped: nobody to answer, nothing to report.
        self.api.server.handle_error = lambda *_: None
        self.invocations = 0
        self.started = time.perf_counter()
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([SWEEP], env={**env, "AWS_LAMBDA_RUNTIME_API": self.api.address},
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.api.next_seen.get(timeout=30)

    def invoke(self, event):
        """The answer (a failed invocation raises SystemExit, as RuntimeApi.invoke exits)"""
        _, answer = self.api.invoke(self.invocations, event)
        self.invocations += 1
        return answer

    def stop(self):
        """Peak RSS (MB) and CPU seconds, read once the binary polls again after its last answer"""
        try:
            for _ in range(self.invocations):
                self.api.next_seen.get(timeout=30)
            return peak_rss_mb(self.proc.pid), cpu_seconds(self.proc.pid)
        finally:
            self.proc.kill()
            self.proc.wait()
            self.log.close()
            self.api.events.put((None, None))
            self.api.server.shutdown()


def lambda_env(proxy, account, credentials, config, extra=()):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_FUNCTION_NAME": "sweep",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",  # template.yaml SweepFunction MemorySize
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/sweep",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": proxy.url,  # every service, STS included
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_ACCESS_KEY_ID": credentials[0],
        "AWS_SECRET_ACCESS_KEY": credentials[1],
        "GUARD_CONFIG": config,
        "GUARD_ACCOUNT_ID": account,
        "GUARD_SWEEP_CONCURRENCY": "8",  # template.yaml SweepConcurrency default
        "RUST_LOG": "error",
    }
    if len(credentials) > 2:
        env["AWS_SESSION_TOKEN"] = credentials[2]
    env.update(extra)
    return env


def org_sweep(proxy, accounts, k, workdir):
    """The state machine's work: plan, then a Map of K at once over the plan's accounts x Regions"""
    env = lambda_env(proxy, CENTRAL, ("testing", "testing"), guard_config(True, accounts),
                     {"GUARD_ORG_ACCOUNTS_AT_ONCE": str(k)})
    made = []
    lock = threading.Lock()

    def container():
        with lock:
            n = len(made)
            made.append(None)
        c = Container(env, os.path.join(workdir, f"org-k{k}-container{n}.log"))
        with lock:
            made[n] = c
        return c

    t0 = time.perf_counter()
    first = container()
    plan = first.invoke({"plan": True})
    items = queue.Queue()
    for account in plan["accounts"]:
        for region in plan["regions"]:
            items.put({"account": account, "region": region, "concurrency": plan["concurrency"],
                       "summary": "counts"})
    n_items = items.qsize()
    results, errors, last = [], [], [t0]

    def run(slot):
        c = first if slot == 0 else None  # the plan's environment is warm for the first item
        while True:
            try:
                item = items.get_nowait()
            except queue.Empty:
                return
            if c is None:
                c = container()  # no idle environment: Lambda starts one (cold)
            start = time.perf_counter()
            try:
                summary = c.invoke(item)
                # The state machine's NextPart: again from where a sweep out of time stopped,
                # with what the parts before it did.
                while not summary.get("complete") and summary.get("stopped_at"):
                    summary = c.invoke({**item, "start_at": summary["stopped_at"],
                                        "previous": summary})
            except BaseException as e:  # noqa: BLE001 (RuntimeApi.invoke exits on a failure)
                errors.append(f"{item['account']}: invocation failed: {e}")
                continue
            done = time.perf_counter()
            with lock:
                results.append((item, summary, done - start))
                last[0] = max(last[0], done)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(plan["accounts_at_once"])]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = last[0] - t0
    stats = [c.stop() for c in made]
    return {"wall": wall, "containers": len(made), "items": n_items, "results": results,
            "errors": errors, "rss": max(s[0] for s in stats), "cpu": sum(s[1] for s in stats),
            "k": plan["accounts_at_once"]}


def sequence(proxy, accounts, credentials, workdir):
    """One cold single-account sweep per account, one after another, each on its schedule event"""
    with open(os.path.join(ROOT, "events/scheduled-sweep.json")) as f:
        scheduled = f.read()
    wall, results, errors, stats = 0.0, [], [], []
    for account in accounts:
        env = lambda_env(proxy, account, credentials[account], guard_config(False, accounts))
        event = json.loads(scheduled.replace(CENTRAL, account))
        c = Container(env, os.path.join(workdir, f"single-{account}.log"))
        try:
            summary = c.invoke(event)
            done = time.perf_counter()
            results.append(({"account": account, "region": REGION}, summary, done - c.started))
            wall += done - c.started
        except BaseException as e:  # noqa: BLE001
            errors.append(f"{account}: invocation failed: {e}")
        stats.append(c.stop())
    return {"wall": wall, "containers": len(accounts), "items": len(accounts), "results": results,
            "errors": errors, "rss": max(s[0] for s in stats), "cpu": sum(s[1] for s in stats)}


# ---------------------------------------------------------------- checks and the table

def check(run, corpora, state):
    """Errors: failed or incomplete sweeps, and repositories not where the corpus says they end"""
    errors = list(run["errors"])
    for item, s, _ in run["results"]:
        if not s.get("complete") or s.get("failed"):
            errors.append(f"{item['account']}: complete={s.get('complete')} failed={s.get('failed')}")
    for account, repos in corpora.items():
        for name, (kind, policy) in repos.items():
            kept = state[(account, name)] == canon(policy)
            if kept == kind.startswith("bad"):
                errors.append(f"{account} {name}: {'unchanged' if kept else 'changed'} ({kind})")
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=20, help="member accounts")
    ap.add_argument("--repos", type=int, default=250, help="repositories per account")
    ap.add_argument("--latency-ms", type=float, default=0,
                    help="hold every sweep request this long in the proxy before moto (default 0)")
    ap.add_argument("--map-concurrency", default="1,5,10",
                    help="comma-separated Map concurrencies (OrgSweepAccountsAtOnce) to run")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of every run (medians reported; each run's state is reset)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (process logs)")
    args = ap.parse_args()
    if not os.access(SWEEP, os.X_OK):
        sys.exit(f"missing {SWEEP}: cargo build --release -p sweep")
    ks = [int(k) for k in args.map_concurrency.split(",") if k]

    workdir = tempfile.mkdtemp(prefix="bench-org-")
    moto = Moto(workdir)
    atexit.register(moto.stop)
    proxy = CountingProxy(moto.port, args.latency_ms / 1000.0)
    atexit.register(proxy.stop)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))
    say = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731

    accounts = member_accounts(args.accounts)
    corpora = {a: corpus(a, args.repos) for a in accounts}
    total_repos = args.accounts * args.repos
    bad = sum(1 for repos in corpora.values() for k, _ in repos.values() if k.startswith("bad"))
    pool = concurrent.futures.ThreadPoolExecutor(4)
    t = time.perf_counter()
    for a in accounts:
        create_roles(moto, a)
    ecrs = {a: client_in(moto, "ecr", a) for a in accounts}
    seed(pool, ecrs, corpora)
    credentials = {a: own_credentials(moto, a) for a in accounts}
    seeded = dump(pool, ecrs, corpora)
    assert all(seeded[(a, n)] == canon(p) for a, r in corpora.items() for n, (_, p) in r.items()), \
        "moto did not store the corpus as given"
    say(f"moto {moto.url}, sweeps through {proxy.url} (+{args.latency_ms:g} ms per request); "
        f"{args.accounts} accounts x {args.repos} repositories seeded in "
        f"{time.perf_counter() - t:.0f} s ({bad} to change); work dir {workdir}")

    plan = [("sequence", None)] + [("org", k) for k in ks]
    runs = collections.defaultdict(list)
    finals = {}
    all_errors = []
    for rnd in range(args.rounds):
        order = plan if rnd % 2 == 0 else plan[::-1]
        for kind, k in order:
            name = "sequence" if kind == "sequence" else f"org-k{k}"
            load = os.getloadavg()[0]
            proxy.take()
            m0 = moto.cpu_seconds()
            if kind == "sequence":
                run = sequence(proxy, accounts, credentials, workdir)
            else:
                run = org_sweep(proxy, accounts, k, workdir)
            time.sleep(0.2)  # the last responses' bytes through the proxy
            run["requests"] = proxy.take()
            run["moto_cpu"] = moto.cpu_seconds() - m0
            state = dump(pool, ecrs, corpora)
            errors = check(run, corpora, state)
            finals.setdefault(name, state)
            reference = finals.get("sequence", state)
            if state != reference:
                diff = [key for key in state if state[key] != reference.get(key)]
                errors.append(f"{len(diff)} repositories end differently from the sequential "
                              f"sweeps, e.g. {diff[:3]}")
            for e in errors[:20]:
                say(f"ERROR {name} round {rnd + 1}: {e}")
            all_errors += errors
            put_back = restore(pool, ecrs, corpora, state)
            written = sum(s.get("changed", 0) for _, s, _ in run["results"])
            runs[name].append(run)
            say(f"round {rnd + 1} {name}: {run['wall']:.2f} s, {sum(run['requests'].values())} "
                f"requests, peak RSS {run['rss']:.1f} MB, {written} written ({put_back} put back), "
                f"{len(errors)} errors, load {load:.1f}; "
                + ", ".join(f"{op} {n}" for op, n in sorted(run["requests"].items())))

    # ------------------------------------------------------------ table
    def med(name, f):
        return statistics.median(f(r) for r in runs[name])

    def reqs(r):
        return sum(r["requests"].values())

    def written(r):
        return sum(s.get("changed", 0) for _, s, _ in r["results"])

    def item_times(r):
        return sorted(t for _, _, t in r["results"])

    print()
    print(f"{args.accounts} accounts x {args.repos} repositories ({total_repos}, {bad} to change), "
          f"{args.latency_ms:g} ms added per request, sweep concurrency 8, "
          f"{'median of ' + str(args.rounds) + ' rounds' if args.rounds > 1 else 'one round'}, "
          f"{os.cpu_count()} cores")
    print()
    print("| run | Lambda environments | wall s | requests | per repository | peak RSS MB "
          "| sweep CPU s | moto CPU s | written | item wall s (median / max) | item requests |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    names = [f"org-k{k}" for k in ks] + ["sequence"]
    for name in names:
        label = ("single-account sweeps in sequence" if name == "sequence"
                 else f"org sweep, Map concurrency {name[5:]}")
        walls = ", ".join(f"{r['wall']:.2f}" for r in runs[name])
        print(f"| {label} | {med(name, lambda r: r['containers']):.0f} "
              f"| {med(name, lambda r: r['wall']):.2f}{f' ({walls})' if args.rounds > 1 else ''} "
              f"| {med(name, reqs):.0f} | {med(name, reqs) / total_repos:.2f} "
              f"| {med(name, lambda r: r['rss']):.1f} | {med(name, lambda r: r['cpu']):.2f} "
              f"| {med(name, lambda r: r['moto_cpu']):.2f} | {med(name, written):.0f} "
              f"| {med(name, lambda r: statistics.median(item_times(r))):.2f} / "
              f"{med(name, lambda r: item_times(r)[-1]):.2f} "
              f"| {med(name, lambda r: reqs(r) / r['items']):.1f} |")
    for name in names[:-1]:
        print(f"| ratio sequence / org sweep, Map concurrency {name[5:]} "
              f"| | **{med('sequence', lambda r: r['wall']) / med(name, lambda r: r['wall']):.2f}** "
              f"| {med('sequence', reqs) / med(name, reqs):.2f} | "
              f"| {med('sequence', lambda r: r['rss']) / med(name, lambda r: r['rss']):.2f} "
              f"| {med('sequence', lambda r: r['cpu']) / med(name, lambda r: r['cpu']):.2f} "
              f"| {med('sequence', lambda r: r['moto_cpu']) / med(name, lambda r: r['moto_cpu']):.2f} "
              f"| | | |")
    print()
    for name in names:
        ops = collections.Counter()
        for r in runs[name]:
            ops.update(r["requests"])
        print(f"- requests by operation, {name} (per run): " + ", ".join(
            f"{op} {n / len(runs[name]):.0f}" for op, n in sorted(ops.items())))
    same = all(finals[n] == finals["sequence"] for n in finals)
    print(f"- end state: {'the same in every run' if same else 'DIFFERENT between runs'}; "
          f"errors: {len(all_errors)}")
    if args.keep:
        say(f"work dir kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    pool.shutdown()
    if all_errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
