#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Watch numashiftd over its control socket, for the numa suite's tests.

  ns-watch.py status DOMAIN OUT [PERIOD_MS]
      Ask for DOMAIN's status every PERIOD_MS (default 10) until SIGTERM;
      append one JSON line per answer to OUT: the time, the job's state and
      the live map's guest and per-cell counts (placement null: no map yet).
  ns-watch.py jobs OUT
      Subscribe to job events until SIGTERM; append every job-done event's
      body to OUT, one JSON line each.

Each prints "ready" on stdout once connected (and subscribed), so the
caller knows nothing after that point is missed.  The socket is
NUMASHIFT_SOCKET or /run/numashift/control.sock.
"""
import json
import os
import signal
import socket
import sys
import time

SOCK = os.environ.get("NUMASHIFT_SOCKET", "/run/numashift/control.sock")
stop = False


def on_term(signum, frame):
    global stop
    stop = True


class Client:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(SOCK)
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("numashiftd closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, obj):
        self.s.sendall((json.dumps(obj) + "\n").encode())
        while True:
            m = self.line()
            if "event" not in m:
                return m


def counts(stats):
    keys = ("present_pages", "absent_pages", "migrating_pages", "failed_pages",
            "unmovable_pages", "total_pages")
    out = {k: stats.get(k, 0) for k in keys}
    out["nodes"] = {n: c["pages"] for n, c in stats.get("nodes", {}).items()}
    if "cell" in stats:
        out["cell"] = stats["cell"]
    return out


def watch_status(domain, out, period):
    c = Client()
    print("ready", flush=True)
    with open(out, "a") as f:
        while not stop:
            r = c.call({"op": "status", "domain": domain})
            if not r.get("ok"):
                raise SystemExit("status: %s" % r)
            res = r["result"]
            p = res.get("placement")
            rec = {"t": time.monotonic(), "job": (res.get("job") or {}).get("state"),
                   "serial": (res.get("job") or {}).get("serial"),
                   "placement": None if p is None else {
                       "pid": p["pid"], "guest": counts(p["guest"]),
                       "cells": [counts(s) for s in p["cells"]]}}
            f.write(json.dumps(rec) + "\n")
            f.flush()
            time.sleep(period / 1000.0)


def watch_jobs(out):
    c = Client()
    r = c.call({"op": "subscribe", "events": ["job"]})
    if not r.get("ok"):
        raise SystemExit("subscribe: %s" % r)
    print("ready", flush=True)
    c.s.settimeout(0.5)
    with open(out, "a") as f:
        while not stop:
            try:
                m = c.line()
            except socket.timeout:
                continue
            body = m.get("body", {})
            if m.get("event") == "job" and body.get("event") == "job-done":
                f.write(json.dumps(body) + "\n")
                f.flush()


def main():
    signal.signal(signal.SIGTERM, on_term)
    if len(sys.argv) >= 4 and sys.argv[1] == "status":
        watch_status(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 10)
    elif len(sys.argv) == 3 and sys.argv[1] == "jobs":
        watch_jobs(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
