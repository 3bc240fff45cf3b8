#!/usr/bin/env python3
"""DAG extractor vs the exact optimum on the fixture corpus (docs/research.md's table).

Runs `fxsat optimize --extractor exact --extract-time-limit LIMIT` on every fixture graph
(`tests/fixtures/**/*.{forward,joint}.json[.gz]`, the snapshot test's corpus) and prints a
markdown table: per fixture the DAG cost, the best cost, the proven lower bound, the DAG
extractor's excess over the best, whether optimality was proven, and the solve seconds;
then the totals.

    python3 tools/exact_table.py [--bin target/release/fxsat] [--limit 1] [--target cpu]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def fixtures():
    out = []
    base = os.path.join(ROOT, "tests", "fixtures")
    for d, _, files in os.walk(base):
        for f in files:
            if any(f.endswith(s) or f.endswith(s + ".gz") for s in (".forward.json", ".joint.json")):
                out.append(os.path.relpath(os.path.join(d, f), base))
    return sorted(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "fxsat"))
    ap.add_argument("--limit", default="1")
    ap.add_argument("--target", default="cpu")
    a = ap.parse_args()
    rows = []
    tmp = tempfile.mkdtemp()
    files = fixtures()
    for k, rel in enumerate(files):
        print(f"[{k + 1}/{len(files)}] {rel}", file=sys.stderr)
        report = os.path.join(tmp, "r.json")
        p = subprocess.run(
            [a.bin, "optimize", os.path.join(ROOT, "tests", "fixtures", rel),
             "-o", os.path.join(tmp, "o.json"), "--report", report,
             "--target", a.target, "--extractor", "exact", "--extract-time-limit", a.limit],
            capture_output=True, text=True)
        if p.returncode != 0:
            rows.append((rel, None, p.stderr.strip().splitlines()[-1][:80]))
            continue
        r = json.load(open(report))
        rows.append((rel, r["exact"], r["regions"]["optimized"] or 1))
    print(f"| fixture | e-graphs | binaries | DAG cost (s) | best (s) | lower bound (s) | DAG excess | proven | solve (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    tot = dict(dag=0.0, best=0.0, lb=0.0, n=0, proven_all=0, within=0, problems=0, proven=0)
    for rel, e, extra in rows:
        if e is None:
            print(f"| {rel} | error: {extra} | | | | | | | |")
            continue
        tot["dag"] += e["dag_cost"]
        tot["best"] += e["best_cost"]
        tot["lb"] += e["lower_bound"]
        tot["n"] += 1
        tot["problems"] += e["problems"]
        tot["proven"] += e["proven"]
        all_proven = e["proven"] == e["problems"]
        tot["proven_all"] += all_proven
        tot["within"] += all_proven and e["seconds"] <= 1.0
        print(f"| {rel} | {e['problems']} | {e['variables']} | {e['dag_cost']:.6e} | {e['best_cost']:.6e} "
              f"| {e['lower_bound']:.6e} | {100 * e['dag_excess']:.3f} % | "
              f"{e['proven']}/{e['problems']} | {e['seconds']:.3f} |")
    if tot["n"]:
        ex = (tot["dag"] - tot["best"]) / tot["best"] * 100
        gap = (tot["best"] - tot["lb"]) / tot["best"] * 100
        print()
        print(f"Totals over {tot['n']} fixtures ({tot['problems']} e-graphs): DAG {tot['dag']:.6e} s, "
              f"best {tot['best']:.6e} s, lower bound {tot['lb']:.6e} s; DAG excess over the best "
              f"{ex:.3f} %, remaining gap {gap:.3f} %; e-graphs proven {tot['proven']}/{tot['problems']}; "
              f"fixtures proven whole {tot['proven_all']}/{tot['n']}, of which within 1 s of solving "
              f"{tot['within']}/{tot['n']} ({100 * tot['within'] / tot['n']:.1f} %).")


if __name__ == "__main__":
    main()
