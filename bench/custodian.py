#!/usr/bin/env python3
"""The same job with Cloud Custodian and with `ecr-policy-guard sweep`, against the same moto.

Starts moto's ECR server on a free loopback port. For each round and each tool (the order
alternates): resets moto, creates the same 500 repositories with the same policies (not timed),
runs the tool once under `/usr/bin/time -v` (wall time measured around the child, peak RSS and
CPU from `time`; Custodian's Python start-up included), then dumps every repository's final
policy. Also records the requests moto served, moto's own CPU time, and how much CPU other
processes on the machine used meanwhile (noise). Prints a table of medians with the ratio
Custodian / ours, and compares the final states: how many repositories end identical in
meaning, and what each tool did to each kind of repository.

`--latency-ms N` puts a loopback proxy in front of moto that holds every request N ms, a
stand-in for a real endpoint's round trip (moto answers in ~2 ms, real ECR in tens of ms).

Run through `bench/custodian.sh` (installs moto, c7n and builds the CLI first), or directly
with `.tools/venv/bin/python bench/custodian.py` once those exist. Only loopback traffic.
"""

import argparse
import atexit
import collections
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# moto through the project's launcher (scripts/moto_ext/ adds the ECR APIs moto lacks)
MOTO = [os.path.join(ROOT, ".tools/venv/bin/python"), os.path.join(ROOT, "scripts/moto_server.py")]
CUSTODIAN = os.path.join(ROOT, ".tools/c7n/bin/custodian")
GUARD = os.path.join(ROOT, "target/release/ecr-policy-guard")
OWN = "123456789012"  # moto's default account
TRUSTED = "111122223333"  # trusted for pull, by both tools
FOREIGN = ["999988887777", "444455556666", "555566667777"]  # trusted by neither
REGION = "us-east-1"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
PUSH = PULL + ["ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
               "ecr:CompleteLayerUpload"]

GUARD_CONFIG = {"mode": "enforce", "trusted_accounts": {TRUSTED: "pull"}}
CUSTODIAN_POLICY = f"""\
policies:
  - name: ecr-cross-account
    resource: aws.ecr
    filters:
      - type: cross-account
        whitelist: ["{TRUSTED}", "{OWN}"]
    actions:
      - type: remove-statements
        statement_ids: matched
"""

try:
    import boto3
    from botocore.config import Config
except ImportError:
    sys.exit("boto3 missing: run with .tools/venv/bin/python (bash scripts/tools.sh installs it)")


# ---------------------------------------------------------------- the 500 repositories

def arn(account, kind="root"):
    return f"arn:aws:iam::{account}:{kind}"


def stmt(sid, principal, actions, condition=None):
    s = {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": actions}
    if condition:
        s["Condition"] = condition
    return s


def corpus(n):
    """name -> policy (dict) or None; deterministic. Ten kinds, one in ten repositories each."""
    repos = {}
    for i in range(n):
        kind = i % 10
        f = FOREIGN[i % len(FOREIGN)]
        f2 = FOREIGN[(i + 1) % len(FOREIGN)]
        role = f"role/ci-{i % 7}"
        own_push = stmt("OwnCiPush", {"AWS": arn(OWN, role)}, PUSH)
        trusted_pull = stmt("TrustedPull", {"AWS": arn(TRUSTED)}, PULL)
        if kind == 0:  # compliant: own push role, trusted pull
            name, st = "ok-own-trusted", [own_push, trusted_pull]
        elif kind == 1:  # compliant: own + trusted in one statement, Lambda pinned to own account
            name, st = "ok-multi-service", [
                stmt("OwnAndTrustedPull", {"AWS": [arn(OWN), arn(TRUSTED, "role/deploy")]}, PULL),
                stmt("LambdaPull", {"Service": "lambda.amazonaws.com"}, PULL[:2],
                     {"StringEquals": {"aws:SourceAccount": OWN}})]
        elif kind == 2:  # compliant: * narrowed to the trusted account
            name, st = "ok-narrowed-star", [
                own_push,
                stmt("StarForTrusted", "*", PULL,
                     {"StringEquals": {"aws:PrincipalAccount": TRUSTED}})]
        elif kind == 3:  # public "*" beside a compliant statement
            name, st = "public", [trusted_pull, stmt("PublicPull", "*", PULL)]
        elif kind == 4:  # public {"AWS": "*"} listed with the trusted account
            name, st = "public-with-trusted", [
                own_push, stmt("PublicAndTrusted", {"AWS": ["*", arn(TRUSTED)]}, PULL)]
        elif kind == 5:  # foreign account mixed with the trusted one in one statement
            name, st = "mixed-trusted-foreign", [
                own_push, stmt("PartnersPull", {"AWS": [arn(TRUSTED), arn(f)]}, PULL)]
        elif kind == 6:  # several principals: own role, trusted role, foreign role
            name, st = "mixed-own-trusted-foreign", [
                stmt("SharedPull", {"AWS": [arn(OWN, role), arn(TRUSTED, "role/deploy"),
                                            arn(f, "role/reader")]}, PULL)]
        elif kind == 7:  # bare account ids, trusted and foreign, in one statement
            name, st = "mixed-bare-ids", [
                trusted_pull, stmt("BareIds", {"AWS": [TRUSTED, f, OWN]}, PULL)]
        elif kind == 8:  # a statement of foreign principals only, beside a compliant one
            name, st = "foreign-only", [
                own_push, stmt("ForeignPull", {"AWS": [arn(f), arn(f2, "role/x")]}, PULL)]
        else:  # the only statement foreign: the policy goes
            name, st = "foreign-sole", [stmt("ForeignSole", {"AWS": arn(f)}, PULL)]
        repos[f"bench/{name}-{i:03d}"] = {"Version": "2012-10-17", "Statement": st}
    return repos


# ---------------------------------------------------------------- moto

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    def __init__(self, workdir):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, "moto.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([*MOTO, "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    sys.exit(f"moto did not start, see {self.log_path}")
                time.sleep(0.1)

    def reset(self):
        req = urllib.request.Request(self.url + "/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()

    def requests_logged(self):
        """Requests moto has served so far (one werkzeug log line each, written just after the
        response: give the last ones a moment)."""
        time.sleep(0.5)
        with open(self.log_path) as f:  # threads may interleave two entries on one line
            return len(re.findall(r'(?:POST|GET) /\S* HTTP/', f.read()))

    def cpu_seconds(self):
        """CPU time moto's server process has used so far (user + system)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


class LatencyProxy:
    """A loopback TCP proxy in front of moto that holds each request for `latency` seconds
    before forwarding it, as a stand-in for the round trip to a real ECR endpoint. A request is
    the first bytes a client sends on a connection, or after a response came back on it."""

    def __init__(self, target_port, latency):
        self.target_port, self.latency = target_port, latency
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=60)
        except OSError:
            client.close()
            return
        client.settimeout(120)
        new_request = threading.Event()
        new_request.set()

        def pump(src, dst, to_server):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    if to_server and new_request.is_set():
                        new_request.clear()
                        time.sleep(self.latency)
                    elif not to_server:
                        new_request.set()
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (src, dst):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pump, args=(upstream, client, False), daemon=True)
        back.start()
        pump(client, upstream, True)
        back.join(timeout=120)
        client.close()
        upstream.close()

    def stop(self):
        self.sock.close()


def busy_cpu_seconds():
    """CPU time the whole machine has been busy so far (all cores)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def ecr_client(moto):
    return boto3.client(
        "ecr", endpoint_url=moto.url, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3}))


def create(ecr, repos):
    for name, policy in repos.items():
        ecr.create_repository(repositoryName=name)
        if policy is not None:
            ecr.set_repository_policy(repositoryName=name, policyText=json.dumps(policy))


def dump(ecr):
    out = {}
    for page in ecr.get_paginator("describe_repositories").paginate():
        for r in page["repositories"]:
            name = r["repositoryName"]
            try:
                out[name] = json.loads(ecr.get_repository_policy(repositoryName=name)["policyText"])
            except ecr.exceptions.RepositoryPolicyNotFoundException:
                out[name] = None
    return out


# ---------------------------------------------------------------- the tools

def tool_env(moto):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GUARD_"))}
    env.update(AWS_ENDPOINT_URL=moto.url, AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION,
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               # anything not on loopback goes to a closed port and fails, loudly
               HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
               http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
               NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    return env


def commands(workdir, concurrency):
    guard_cfg = os.path.join(workdir, "guard.json")
    with open(guard_cfg, "w") as f:
        json.dump(GUARD_CONFIG, f)
    c7n_policy = os.path.join(workdir, "custodian.yml")
    with open(c7n_policy, "w") as f:
        f.write(CUSTODIAN_POLICY)
    return {
        "ecr-policy-guard": lambda run: [
            GUARD, "sweep", "--account", OWN, "--config", guard_cfg]
        + (["--concurrency", str(concurrency)] if concurrency else []),
        "custodian": lambda run: [
            CUSTODIAN, "run", "-s", os.path.join(workdir, f"c7n-out-{run}"),
            "--cache-period", "0", "--region", REGION, c7n_policy],
    }


def run_measured(argv, env, workdir, tag, timeout):
    tfile = os.path.join(workdir, f"{tag}.time")
    out = open(os.path.join(workdir, f"{tag}.stdout"), "w")
    err = open(os.path.join(workdir, f"{tag}.stderr"), "w")
    start = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-v", "-o", tfile] + argv, env=env, cwd=workdir,
                            stdout=out, stderr=err, start_new_session=True)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        sys.exit(f"{tag}: timed out after {timeout}s")
    wall = time.perf_counter() - start
    out.close()
    err.close()
    with open(tfile) as f:
        text = f.read()
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if not m:
        sys.exit(f"{tag}: no peak RSS in {tfile}:\n{text}")
    m2 = re.search(r"Exit status: (\d+)", text)
    rc = int(m2.group(1)) if m2 else rc
    cpu = sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", text).group(1))
              for k in ("User", "System"))
    return wall, int(m.group(1)) / 1024.0, rc, cpu


def in_tool_seconds(tool, workdir, tag):
    """The time each tool reports for its own work, start-up excluded."""
    if tool == "ecr-policy-guard":
        with open(os.path.join(workdir, f"{tag}.stdout")) as f:
            return json.load(f)["elapsed_ms"] / 1000.0
    with open(os.path.join(workdir, f"{tag}.stderr")) as f:
        text = f.read()  # custodian logs the query+filter time and the action's time
    return (sum(float(x) for x in re.findall(r"count:\d+ time:([\d.]+)", text))
            + sum(float(x) for x in re.findall(r"execution_time:([\d.]+)", text)))


# ---------------------------------------------------------------- comparing final states

def principals(s):
    """The set of non-service principals of a statement, account ids as root ARNs."""
    p = s.get("Principal", s.get("NotPrincipal"))
    if p is None:
        return set()
    if not isinstance(p, dict):
        p = {"AWS": p}
    out = set()
    for kind, v in p.items():
        for x in [v] if isinstance(v, str) else v:
            if kind == "AWS" and re.fullmatch(r"\d{12}", x):
                x = arn(x)
            out.add(x if kind == "AWS" else f"{kind}:{x}")
    return out


def canon(policy):
    """A policy in a form where equal means equal in meaning for this corpus (or None)."""
    if not policy or not policy.get("Statement"):
        return None
    sts = policy["Statement"]
    sts = [sts] if isinstance(sts, dict) else sts
    out = []
    for s in sts:
        acts = s.get("Action", [])
        acts = [acts] if isinstance(acts, str) else acts
        out.append(json.dumps({
            "Sid": s.get("Sid"), "Effect": s["Effect"],
            "Principal": sorted(principals(s)),
            "Action": sorted(a.lower() for a in acts),
            "Condition": s.get("Condition"),
        }, sort_keys=True))
    return sorted(out)


def account_of(p):
    if p in ("*", arn("*")):
        return "*"
    m = re.match(r"arn:aws:iam::(\d{12}|\*):", p)
    return m.group(1) if m else p


def who(account):
    return {OWN: "own", TRUSTED: "trusted", "*": "public"}.get(account, "foreign")


def by_sid(policy):
    if not policy:
        return {}
    sts = policy.get("Statement", [])
    return {s.get("Sid"): s for s in ([sts] if isinstance(sts, dict) else sts)}


def outcome(before, after):
    """What a tool did to one repository, in words independent of its name and foreign ids."""
    if canon(before) == canon(after):
        return "unchanged"
    if canon(after) is None:
        return "policy deleted"
    parts = []
    b, a = by_sid(before), by_sid(after)
    for sid, s in b.items():
        if sid not in a:
            whom = sorted({who(account_of(p)) for p in principals(s)})
            parts.append(f"removed `{sid}` ({'+'.join(whom)})")
        elif canon({"Statement": [s]}) != canon({"Statement": [a[sid]]}):
            gone = principals(s) - principals(a[sid])
            kept = principals(a[sid])
            parts.append(f"removed the {'+'.join(sorted({who(account_of(p)) for p in gone}))} "
                         f"principal from `{sid}`, kept "
                         f"{'+'.join(sorted({who(account_of(p)) for p in kept}))}")
    return "; ".join(parts) or "rewritten, same meaning"


def residual(policy):
    """Grants still reaching an account neither own nor trusted, or the public."""
    bad = set()
    for s in by_sid(policy).values():
        if s.get("Effect") != "Allow":
            continue
        cond = json.dumps(s.get("Condition", {}))
        for p in principals(s):
            if p.startswith("Service:"):
                continue
            a = account_of(p)
            if a == "*" and TRUSTED in cond:
                continue  # narrowed to the trusted account
            if a not in (OWN, TRUSTED):
                bad.add(a)
    return bad


def dropped_legit(before, after):
    """Own/trusted principals present before and gone after."""
    lost = set()
    for sid, s in by_sid(before).items():
        keep = principals(by_sid(after).get(sid, {}))
        for p in principals(s) - keep:
            if account_of(p) in (OWN, TRUSTED) or p.startswith("Service:"):
                lost.add(p)
    return lost


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repos", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5,
                    help="rounds of both tools (each on a freshly reset moto); medians reported")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per tool run")
    ap.add_argument("--concurrency", type=int, default=0,
                    help="ecr-policy-guard --concurrency (default: the CLI's own, 8)")
    ap.add_argument("--latency-ms", type=float, default=0,
                    help="hold every request this long in a loopback proxy before moto, as a "
                         "stand-in for a real endpoint's round trip (default 0: moto directly)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    for path in (MOTO[0], CUSTODIAN, GUARD):
        if not os.access(path, os.X_OK):
            sys.exit(f"missing {path}: run bench/custodian.sh")

    workdir = tempfile.mkdtemp(prefix="bench-custodian-")
    moto = Moto(workdir)
    atexit.register(moto.stop)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))

    repos = corpus(args.repos)
    ecr = ecr_client(moto)
    endpoint = moto
    if args.latency_ms > 0:
        endpoint = LatencyProxy(moto.port, args.latency_ms / 1000.0)
        atexit.register(endpoint.stop)
    env = tool_env(endpoint)
    cmds = commands(workdir, args.concurrency)
    tools = list(cmds)
    # tool -> [(wall, rss, rc, requests, tool cpu, in-tool s, moto cpu, other cpu)]
    samples = collections.defaultdict(list)
    unstable = set()  # tools whose final state changed between rounds
    finals = {}  # tool -> final state of the first round
    print(f"moto on {moto.url}; tools talk to {endpoint.url} ({args.latency_ms:g} ms added per "
          f"request); {args.repos} repositories; {args.rounds} round(s); work dir {workdir}",
          file=sys.stderr)
    for rnd in range(args.rounds):
        order = tools if rnd % 2 == 0 else tools[::-1]
        for tool in order:
            moto.reset()
            create(ecr, repos)
            seen = dump(ecr)
            assert {k: canon(v) for k, v in seen.items()} == {
                k: canon(v) for k, v in repos.items()}, "moto did not store the corpus as given"
            n0, m0, b0 = moto.requests_logged(), moto.cpu_seconds(), busy_cpu_seconds()
            s0 = sum(os.times()[:2])  # this process: the latency proxy's threads
            wall, rss, rc, cpu = run_measured(cmds[tool](rnd), env, workdir,
                                              f"{tool}-{rnd}", args.timeout)
            mcpu, busy = moto.cpu_seconds() - m0, busy_cpu_seconds() - b0
            busy -= sum(os.times()[:2]) - s0
            reqs = moto.requests_logged() - n0
            other = max(0.0, busy - mcpu - cpu)  # other processes on the machine meanwhile
            if tool == "ecr-policy-guard" and rc != 0:  # enforce mode: 0 unless errors
                sys.exit(f"ecr-policy-guard exited {rc}: see {workdir}/{tool}-{rnd}.stderr")
            if tool == "custodian" and rc != 0:
                sys.exit(f"custodian exited {rc}: see {workdir}/{tool}-{rnd}.stderr")
            final = dump(ecr)
            if tool in finals and {k: canon(v) for k, v in final.items()} != {
                    k: canon(v) for k, v in finals[tool].items()}:
                print(f"warning: {tool} reached a different final state in round {rnd}",
                      file=sys.stderr)
                unstable.add(tool)
            finals.setdefault(tool, final)
            inner = in_tool_seconds(tool, workdir, f"{tool}-{rnd}")
            samples[tool].append((wall, rss, rc, reqs, cpu, inner, mcpu, other))
            print(f"round {rnd + 1} {tool}: {wall:.2f} s wall, {rss:.1f} MB, {cpu:.2f} s CPU, "
                  f"{inner:.2f} s in-tool, exit {rc}, {reqs} requests to moto, "
                  f"moto CPU {mcpu:.2f} s, other processes' CPU {other:.2f} s", file=sys.stderr)

    # ------------------------------------------------------------ table
    def med(tool, i):
        return statistics.median(x[i] for x in samples[tool])

    ours = "ecr-policy-guard"
    print()
    print(f"{args.repos} repositories, median of {args.rounds} round(s), each on a freshly "
          f"reset moto, {args.latency_ms:g} ms added per request")
    print()
    print("| tool | wall s | peak RSS MB | tool CPU s | in-tool s | requests to moto "
          "| moto CPU s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for t in tools:
        runs = ", ".join(f"{x[0]:.2f}" for x in samples[t])
        print(f"| {t} | {med(t, 0):.2f} ({runs}) | {med(t, 1):.1f} | {med(t, 4):.2f} "
              f"| {med(t, 5):.2f} | {med(t, 3):.0f} | {med(t, 6):.2f} |")
    t = "custodian"
    print("| ratio (custodian / ours) | " + " | ".join(
        f"**{med(t, i) / med(ours, i):.2f}**" if i in (0, 1) else f"{med(t, i) / med(ours, i):.2f}"
        for i in (0, 1, 4, 5, 3, 6)) + " |")

    print()
    print("Other processes' CPU during the timed runs (s; a quiet machine shows ~0): "
          + "; ".join(f"{t} " + ", ".join(f"{x[7]:.2f}" for x in samples[t]) for t in tools))

    # ------------------------------------------------------------ final states
    fa, fb = finals[ours], finals["custodian"]
    same = {n for n in repos if canon(fa.get(n)) == canon(fb.get(n))}
    print()
    print(f"Final state: {len(same)} of {len(repos)} repositories identical in meaning, "
          f"{len(repos) - len(same)} differ. Same final state in every round: "
          + ", ".join(f"{t} {'no' if t in unstable else 'yes'}" for t in tools) + ".")
    print()
    print("| kind | repositories | ecr-policy-guard | custodian | same |")
    print("| --- | ---: | --- | --- | --- |")
    rows = collections.OrderedDict()
    for n in repos:
        kind = re.sub(r"-\d{3}$", "", n.split("/", 1)[1])
        key = (kind, outcome(repos[n], fa.get(n)), outcome(repos[n], fb.get(n)), n in same)
        rows[key] = rows.get(key, 0) + 1
    for (kind, o, c, eq), count in rows.items():
        print(f"| `{kind}` | {count} | {o} | {c} | {'yes' if eq else '**no**'} |")
    print()
    for t in tools:
        res = sum(1 for n in repos if residual(finals[t].get(n)))
        lost = collections.Counter()
        for n in repos:
            for p in dropped_legit(repos[n], finals[t].get(n)):
                lost[who(account_of(p))] += 1
        lost_s = ", ".join(f"{v} {k}" for k, v in sorted(lost.items())) or "none"
        print(f"- {t}: repositories still granting to the public or a foreign account: {res}; "
              f"own/trusted principals dropped: {lost_s}")
    if not args.keep:
        subprocess.run(["rm", "-rf", workdir], check=False)
    else:
        print(f"work dir kept: {workdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
