#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Count tests/run-all's results from what meson knew and what it recorded.

    count-results.py BUILDDIR[:SUITE,SUITE...]...
    count-results.py --self-test DATADIR

For each build directory, tests/run-all records under BUILDDIR/run-all/:
  suites  the suites asked of the build (one line, space-separated)
  tests   `meson test --list --no-rebuild --suite S...` for exactly those
          suites, taken before the run (so a killed meson still leaves it)
  error   one line per step that failed (meson setup, ninja, the listing)
With BUILDDIR:SUITES the suites are given here instead and the list is taken
now with `meson test --list --no-rebuild` (for a build run by hand).

The unit of counting is the meson test, as meson itself counts:
  passed   a test whose testlog.json entry says OK or EXPECTEDFAIL
  failed   any other result (FAIL, TIMEOUT, ERROR, INTERRUPT,
           UNEXPECTEDPASS); a listed test with no entry in testlog.json (not
           run: a hung suite was killed, meson crashed); and, when CI=true,
           a whole test that reported SKIP (exit status 77, or a TAP program
           that skipped everything): CI installs every prerequisite.  A
           build-level problem (a step in run-all/error, no testlog.json, no
           list) is named, and counts as one failure when it left no test
           of that build to count as failed.
  skipped  a whole test that reported SKIP (without CI=true), plus every
           subtest that a TAP test (protocol from meson-info/intro-tests.json,
           else a TAP plan line in its stdout) reported "ok N name # SKIP
           reason": these skip for host capabilities (one NUMA node, no THP)
           and stay skipped under CI=true.  A passing TAP test with skipped
           subtests therefore counts once in passed and once per skipped
           subtest in skipped.
Failures are listed, each with its reason (the test's last "FAIL:" line,
else the test host's error, else its last line on stderr), then skips (test, subtest, reason), then the closing
line "N passed, N failed, N skipped", always the last line.  Exit status 1
if anything failed or nothing passed.

--self-test runs every DATADIR/*.args case (a line of arguments, paths
relative to DATADIR, leading VAR=VALUE words set the environment; CI is
unset otherwise) and compares stdout and exit status with *.expected; it
speaks TAP.  Python 3 standard library only.
"""

import json
import os
import re
import subprocess
import sys

PASS = ("OK", "EXPECTEDFAIL")

# meson 1.0's TAPParser: "ok" (not "not ok") with a SKIP directive.
TAP_TEST = re.compile(r"ok\s*(?:([0-9]+)\s*)?([^#]*?)\s*#\s*[Ss][Kk][Ii][Pp]\S*\b\s*(.*)$")
TAP_PLAN = re.compile(r"1\.\.([0-9]+)(?:\s*#\s*[Ss][Kk][Ii][Pp]\S*\b\s*(.*))?$")


def bare(name):
    """'numashift:unit / engine' -> 'engine' (--list drops the prefix when the
    project has a single suite)."""
    return name.split(" / ", 1)[-1]


def last_line(*texts):
    for text in texts:
        lines = [l.strip() for l in (text or "").splitlines() if l.strip()]
        if lines:
            return lines[-1][:160]
    return ""


def failure_reason(stderr, stdout):
    """Why a test failed, in one line: its last "FAIL: ..." line (the
    tests' own fail()), else the test host's last error, else a GLib
    test's failed assertion, else its last
    line on stderr (stdout is TAP: its last line is a result, not a
    reason).  CI shows only the tail of the run: this line is what reaches
    whoever reads it."""
    lines = [l.strip() for t in (stderr, stdout) for l in (t or "").splitlines() if l.strip()]
    for pattern in (r"\bFAIL: ", r"^numa-host: error: |rig failure: ",
                    r":ERROR:.*assertion failed|^Bail out! "):
        hits = [l for l in lines if re.search(pattern, l)]
        if hits:
            return hits[-1][:200]
    return last_line(stderr)


def read_lines(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [l.rstrip("\n") for l in f if l.strip()]
    except FileNotFoundError:
        return None


def protocols(builddir):
    try:
        with open(os.path.join(builddir, "meson-info", "intro-tests.json")) as f:
            return {t["name"]: t.get("protocol", "exitcode") for t in json.load(f)}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def is_tap(entry, protos):
    proto = protos.get(bare(entry["name"]))
    if proto is not None:
        return proto == "tap"
    return any(TAP_PLAN.match(l) for l in (entry.get("stdout") or "").splitlines())


def tap_skips(stdout):
    """[(subtest, reason)] for each skipped subtest; plan_reason for 1..0 # SKIP."""
    skips, plan_reason = [], None
    for line in (stdout or "").splitlines():
        m = TAP_TEST.match(line)
        if m:
            num, name, why = m.groups()
            skips.append((" ".join(x for x in (num, name.strip()) if x), why.strip()))
            continue
        m = TAP_PLAN.match(line)
        if m and m.group(1) == "0":
            plan_reason = (m.group(2) or "").strip()
    return skips, plan_reason


class Counter:
    def __init__(self, ci):
        self.ci = ci
        self.passed = self.failed = self.skipped = 0
        self.failures = []   # lines naming what failed
        self.skips = []      # lines naming what skipped
        self.retries = []    # lines naming cases whose test host booted twice

    def build(self, arg):
        builddir, suites = arg, None
        m = re.match(r"^(.*):([\w.+-]+(?:,[\w.+-]+)*)$", arg)
        if m and os.path.isdir(m.group(1)):
            builddir, suites = m.group(1), m.group(2).split(",")
        name = os.path.basename(os.path.normpath(builddir))
        tag = f"[{name}]"
        state = os.path.join(builddir, "run-all")
        problems = [f"{tag} {e}" for e in read_lines(os.path.join(state, "error")) or []]
        if not os.path.isdir(builddir):
            problems.append(f"{tag} no build directory")

        if suites is None:
            line = read_lines(os.path.join(state, "suites"))
            suites = line[0].split() if line else None
            listed = read_lines(os.path.join(state, "tests"))
            if suites is None:
                problems.append(f"{tag} no record of the suites asked (run-all/suites)")
            elif listed is None and not problems:
                problems.append(f"{tag} no list of the tests of suites {' '.join(suites)} (run-all/tests)")
        else:
            listed = self.list_tests(builddir, suites, tag, problems)
        listed = listed or []

        failed_before, first = self.failed, len(self.failures)
        log = os.path.join(builddir, "meson-logs", "testlog.json")
        entries = []
        raw = read_lines(log)
        if raw is None:
            if not problems:  # else run-all did not get as far as meson test
                problems.append(f"{tag} no meson-logs/testlog.json: meson test wrote no log "
                                f"(suites: {' '.join(suites)})")
        else:
            for n, line in enumerate(raw, 1):
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    problems.append(f"{tag} meson-logs/testlog.json line {n} is not JSON (meson killed?)")

        protos = protocols(builddir)
        for e in entries:
            self.entry(tag, e, protos)

        names = {e.get("name") for e in entries}
        bares = {bare(e.get("name", "?")) for e in entries}
        for t in listed:
            if t not in names and bare(t) not in bares:
                self.failed += 1
                self.failures.append(f"{tag} {t}: not run (no entry in meson-logs/testlog.json)")

        self.failures[first:first] = problems
        if problems and self.failed == failed_before:
            self.failed += 1

    def list_tests(self, builddir, suites, tag, problems):
        cmd = ["meson", "test", "-C", builddir, "--list", "--no-rebuild"]
        for s in suites:
            cmd += ["--suite", s]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            problems.append(f"{tag} meson test --list failed for suites {' '.join(suites)}: "
                            f"{last_line(r.stderr, r.stdout)}")
            return None
        return [l for l in r.stdout.splitlines() if l.strip()]

    def entry(self, tag, e, protos):
        name, result = e.get("name", "?"), e.get("result", "?")
        # A case that booted its test host once more (tests/lib/test-host.sh)
        # passed or failed on the second boot: why the first one was the
        # rig's is listed under the summary, never silent.
        out = (e.get("stdout") or "") + "\n" + (e.get("stderr") or "")
        if "booting it once more" in out:
            why = [l.strip() for l in out.splitlines()
                   if "rig failure:" in l or l.startswith("numa-host: error:")]
            self.retries.append(f"{tag} {name} ({result}): " + (why[0] if why else "exit 125"))
        tap = is_tap(e, protos)
        subskips, plan_reason = tap_skips(e.get("stdout")) if tap else ([], None)
        if result == "SKIP":
            why = plan_reason or (subskips[0][1] if subskips else "") or \
                last_line(e.get("stderr"), e.get("stdout")) or f"exit status {e.get('returncode')}"
            if self.ci:
                self.failed += 1
                self.failures.append(f"{tag} {name}: SKIP under CI=true: {why}")
            else:
                self.skipped += 1
                self.skips.append(f"{tag} {name} (whole test): {why}")
            return
        if result in PASS:
            self.passed += 1
        else:
            self.failed += 1
            why = failure_reason(e.get("stderr"), e.get("stdout"))
            self.failures.append(f"{tag} {name}: {result}" + (f": {why}" if why else ""))
        for sub, why in subskips:
            self.skipped += 1
            self.skips.append(f"{tag} {name}, subtest {sub}: {why or 'no reason given'}")

    def report(self):
        if self.retries:
            print("run-all: test hosts booted once more after a rig failure:")
            for l in self.retries:
                print("  " + l)
        if self.failures:
            print("run-all: failed or not run:")
            for l in self.failures:
                print("  " + l)
        if self.skips:
            print("run-all: skipped:")
            for l in self.skips:
                print("  " + l)
        if self.passed == 0:
            print("run-all: no test passed")
        print(f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped")
        return 1 if self.failed or self.passed == 0 else 0


def self_test(datadir):
    cases = sorted(f[:-5] for f in os.listdir(datadir) if f.endswith(".args"))
    if not cases:
        print(f"Bail out! no *.args cases in {datadir}")
        return 1
    print(f"1..{len(cases)}")
    bad = 0
    for i, case in enumerate(cases, 1):
        with open(os.path.join(datadir, case + ".args")) as f:
            words = f.read().split()
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
            k, v = words.pop(0).split("=", 1)
            env[k] = v
        args = [os.path.join(datadir, w) for w in words]
        r = subprocess.run([sys.executable, os.path.abspath(__file__)] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, env=env)
        got = r.stdout + f"exit: {r.returncode}\n"
        with open(os.path.join(datadir, case + ".expected")) as f:
            want = f.read()
        if got == want:
            print(f"ok {i} {case}")
        else:
            bad += 1
            print(f"not ok {i} {case}")
            for l in ("--- expected\n" + want + "--- got\n" + got).splitlines():
                print("# " + l)
    return 1 if bad else 0


def main(argv):
    if len(argv) == 2 and argv[0] == "--self-test":
        return self_test(argv[1])
    if not argv or argv[0].startswith("-"):
        print("usage:\n" + __doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    c = Counter(os.environ.get("CI", "").lower() in ("true", "1", "yes"))
    for arg in argv:
        c.build(arg)
    return c.report()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
