#!/usr/bin/env python3
"""Cold start and per-event cost of each function binary, against a minimal local Lambda
Runtime API (the documented /2018-06-01/runtime/... endpoints) and moto's ECR server.

For each function and each cargo profile: start the binary `--starts` times; time exec -> first
`GET .../invocation/next` (cold start), then deliver the sample event and time delivery ->
`POST .../response` (first event), then `--events` more deliveries (warm events); read the
process's peak RSS (VmHWM) before stopping it. Also the size of the binary.

Run with the project's virtualenv python (it has boto3):
  cargo build --profile release -p apply-baseline -p enforce-policy -p grant-replication -p sweep -p import-findings
  .tools/venv/bin/python bench/runtime.py [--profiles release,release-untuned]
"""
import argparse
import http.server
import json
import os
import pathlib
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time

import boto3

ROOT = pathlib.Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
FUNCTIONS = {
    # function: (sample event, what it does on moto)
    "apply-baseline": "cloudtrail-ecr-create-repository.json",
    "enforce-policy": "cloudtrail-ecr-set-repository-policy.json",
    "grant-replication": "ecr-replication-action-failed.json",
    "sweep": "scheduled-sweep.json",
    # imports the finding into moto's Security Hub (each warm event imports it again)
    "import-findings": "ecr-policy-guard-finding.json",
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"port {port} never opened")


class RuntimeApi:
    """The Runtime API a Lambda binary polls: one pending event at a time, times recorded."""

    def __init__(self):
        self.events = queue.Queue()
        self.next_seen = queue.Queue()
        self.responses = queue.Queue()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                # Headers and body go out in separate writes: without this, Nagle's algorithm
                # and the client's delayed ACK add ~40 ms to every event on a kept-alive connection.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                api.next_seen.put(time.perf_counter())
                request_id, body = api.events.get()
                if request_id is None:
                    self.send_error(410)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 900_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:bench")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                api.delivered = time.perf_counter()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                ok = "/response" in self.path
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                api.responses.put((time.perf_counter(), ok, body))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, n, event):
        self.events.put((f"req-{n}", event))
        done, ok, body = self.responses.get(timeout=120)
        if not ok:
            sys.exit(f"invocation failed: {body[:300]!r}")
        return (done - self.delivered) * 1000, json.loads(body)


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def setup_moto(ecr):
    """Repositories for every sample event, and 50 more for the sweep."""
    public = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"},
        {"Sid": "Own", "Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "ecr:*"}]}
    ecr.create_repository(repositoryName="team-payments/api")
    ecr.set_repository_policy(repositoryName="team-payments/api", policyText=json.dumps(public))
    for i in range(50):
        name = f"svc/bench-{i:02}"
        ecr.create_repository(repositoryName=name)
        ecr.set_repository_policy(repositoryName=name, policyText=json.dumps(public))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profiles", default="release", help="comma-separated cargo profiles to compare")
    ap.add_argument("--starts", type=int, default=5, help="cold starts per function")
    ap.add_argument("--events", type=int, default=20, help="warm events per start")
    ap.add_argument("--functions", default=",".join(FUNCTIONS), help="comma-separated functions")
    args = ap.parse_args()

    moto_port = free_port()
    moto = subprocess.Popen([str(ROOT / ".tools/venv/bin/python"), str(ROOT / "scripts/moto_server.py"),
                             "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(moto_port)
        endpoint = f"http://127.0.0.1:{moto_port}"
        ecr = boto3.client("ecr", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        hub = boto3.client("securityhub", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        config = (ROOT / "config/example.json").read_text()
        rows = []
        for profile in args.profiles.split(","):
            target = "release" if profile == "release" else profile
            for function in args.functions.split(","):
                event_file = FUNCTIONS[function]
                binary = ROOT / "target" / target / function
                if not binary.exists():
                    sys.exit(f"{binary} is missing: cargo build --profile {profile} -p {function}")
                event = json.loads((ROOT / "events" / event_file).read_text())
                colds, firsts, warms, rss = [], [], [], []
                for start in range(args.starts):
                    # Every start from the same state: the first event writes, the rest only read.
                    urllib_reset(endpoint)
                    setup_moto(ecr)
                    hub.enable_security_hub()
                    api = RuntimeApi()
                    env = {
                        "PATH": os.environ.get("PATH", ""),
                        "AWS_LAMBDA_RUNTIME_API": api.address,
                        "AWS_LAMBDA_FUNCTION_NAME": function,
                        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
                        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}",
                        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
                        "AWS_REGION": "us-east-1",
                        "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_ENDPOINT_URL": endpoint,
                        "GUARD_CONFIG": config,
                        "GUARD_ACCOUNT_ID": ACCOUNT,
                        "RUST_LOG": "error",
                    }
                    t0 = time.perf_counter()
                    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    try:
                        first_next = api.next_seen.get(timeout=30)
                        colds.append((first_next - t0) * 1000)
                        ms, _ = api.invoke(0, event)
                        firsts.append(ms)
                        for n in range(1, args.events + 1):
                            ms, _ = api.invoke(n, event)
                            warms.append(ms)
                        api.next_seen.get(timeout=30)
                        rss.append(peak_rss_mb(proc.pid))
                    finally:
                        proc.kill()
                        proc.wait()
                        api.events.put((None, None))
                        api.server.shutdown()
                rows.append({
                    "profile": profile,
                    "function": function,
                    "size_mb": binary.stat().st_size / 1e6,
                    "cold_ms": statistics.median(colds),
                    "first_ms": statistics.median(firsts),
                    "warm_ms": statistics.median(warms),
                    "peak_rss_mb": max(rss),
                })
        print(f"{'profile':<16} {'function':<18} {'binary MB':>9} {'cold start ms':>13} {'first event ms':>14} {'warm event ms':>13} {'peak RSS MB':>11}")
        for r in rows:
            print(f"{r['profile']:<16} {r['function']:<18} {r['size_mb']:>9.2f} {r['cold_ms']:>13.1f} {r['first_ms']:>14.1f} {r['warm_ms']:>13.1f} {r['peak_rss_mb']:>11.1f}")
        print(json.dumps(rows), file=sys.stderr)
    finally:
        moto.kill()
        moto.wait()


def urllib_reset(endpoint):
    import urllib.request
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).read()


if __name__ == "__main__":
    main()
