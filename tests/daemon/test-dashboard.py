#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Grafana dashboard in contrib/ (issue #16) asks only for metrics
# numashiftd writes, and every query is PromQL that Prometheus parses: the
# queries become recording rules that `promtool check rules` (Debian's
# prometheus package) checks.  A metric renamed in hv/daemon/metrics.c, or
# a query typed wrong, fails here rather than as an empty panel on a
# fleet's screen.
#
# Exit: 0 pass, 1 fail, 77 skip (promtool missing outside CI).
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.realpath(__file__))
root = os.path.join(here, "..", "..")
dashboard = json.load(open(os.path.join(root, "contrib", "grafana-numashift.json")))
source = open(os.path.join(root, "hv", "daemon", "metrics.c")).read()

written = set()
for name, kind in re.findall(r'header\(out, "(numashift_\w+)", "(\w+)"', source):
    written.add(name)
    if kind == "histogram":
        written.update(name + suffix for suffix in ("_bucket", "_sum", "_count"))
if len(written) < 8:
    sys.exit(f"FAIL: found only {sorted(written)} in metrics.c: did its header() calls change?")


def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


exprs = [t["expr"] for p in panels(dashboard["panels"]) for t in p.get("targets", [])]
exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
if len(exprs) < 10:
    sys.exit(f"FAIL: only {len(exprs)} queries in the dashboard")
failed = False
for e in exprs:
    for name in re.findall(r"\bnumashift_\w+", e):
        if name not in written:
            print(f"FAIL: the dashboard asks for {name}, which numashiftd does not write: {e}")
            failed = True

promtool = shutil.which("promtool")
if promtool is None:
    if os.environ.get("CI") == "true":
        sys.exit("FAIL: promtool missing (tools/install-deps installs prometheus)")
    print("SKIP: promtool (Debian package prometheus) not installed")
    sys.exit(77)
# Grafana's variables as Prometheus would see them once filled in.
rules = []
for i, e in enumerate(e for e in exprs if not e.startswith("label_values")):
    e = e.replace("$__rate_interval", "5m").replace("$instance", ".*").replace("$domain", ".*")
    rules.append({"record": f"numashift:dashboard_query_{i}", "expr": e})
with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
    json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)  # JSON is YAML
    f.flush()
    r = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL: promtool check rules: {r.stdout}{r.stderr}")
        failed = True
if failed:
    sys.exit(1)
print(f"ok: {len(exprs)} queries, metrics all written by numashiftd, PromQL checked by promtool")
