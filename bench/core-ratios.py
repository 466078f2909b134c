#!/usr/bin/env python3
"""Prints policy-core bench times beside the serde_json::Value floor, from criterion's estimates.

Run `cargo bench -p policy-core --bench core` first (bench/run.sh does both)."""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion" / "policy"
if not root.is_dir():
    sys.exit(f"no criterion output under {root}: run `cargo bench -p policy-core --bench core` first")


def mean_ns(bench: str, n: str) -> float:
    est = json.loads((root / bench / n / "new" / "estimates.json").read_text())
    return est["mean"]["point_estimate"]


sizes = sorted({p.name for p in (root / "parse").iterdir() if p.name.isdigit()}, key=int)
benches = ["parse", "normalise", "analyse", "parse_analyse", "plan"]
print(f"{'statements':>10} {'floor µs':>9} " + " ".join(f"{b + ' µs':>17} {'x floor':>7}" for b in benches) + f" {'ns/stmt (p+a)':>14}")
for n in sizes:
    floor = mean_ns("serde_json_value_floor", n)
    cells = []
    for b in benches:
        t = mean_ns(b, n)
        cells.append(f"{t / 1000:>17.2f} {t / floor:>7.2f}")
    per = mean_ns("parse_analyse", n) / int(n)
    print(f"{n:>10} {floor / 1000:>9.2f} " + " ".join(cells) + f" {per:>14.0f}")
