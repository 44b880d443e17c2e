#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""numashiftd's control socket against hostile and unprivileged clients.

Runs the real numashiftd on this machine, connected to libvirt's test
driver (test:///default: a real libvirt connection with a running domain
"test", no daemon, nothing started or written outside a temporary
directory).  Checks: answers and id echo; random bytes, a line over the
64 KiB limit, invalid JSON, wrong types, unknown ops each get an error
object and the same connection goes on; a flood of junk from many
clients; the client limit; a non-root caller may read but not change
anything (SO_PEERCRED); policy-set emits an event to subscribers; and
after all of it the daemon answers and stops cleanly on SIGTERM, removing
its socket.  A second daemon takes SIGHUP: a changed [domain] mode applies,
a drop-in that appeared, with a [domain UUID] entry, wins over it,
a broken file and a changed socket path leave the running configuration
as it was, each with a warning.  A third (issue #15) has a socket group,
a per-uid client limit and an idle timeout: the socket's directories it
creates are 0755 despite its umask 077; a group member may change a
policy but not send 'hook'; a uid over its limit, or past the slots kept
for root, is refused with busy while root still connects; an idle client
is closed and a subscriber is not; a domain name with control characters
reaches the log escaped.  TAP output.
"""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("NS_BUILD_ROOT", "build")
DAEMON = os.path.join(BUILD, "hv", "daemon", "numashiftd")
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok" if ok else "not ok"), len(results), "-", name, ("# " + detail) if detail and not ok else "")
    sys.stdout.flush()


class Client:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("daemon closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self):
        while True:
            m = self.line()
            if "event" not in m:
                return m

    def call(self, obj):
        self.send((json.dumps(obj) + "\n").encode())
        return self.reply()

    def close(self):
        self.s.close()


def main():
    tmp = tempfile.mkdtemp(prefix="ns-control-")
    sock = os.path.join(tmp, "control.sock")
    conf = os.path.join(tmp, "numashiftd.conf")
    with open(conf, "w") as f:
        f.write("[daemon]\ndrift-interval-s=0\nmax-clients=8\nstart-delay-ms=100000\n")
    log = open(os.path.join(tmp, "daemon.log"), "w")
    d = subprocess.Popen([DAEMON, "--config", conf, "--socket", sock, "-c", "test:///default"],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        run(d, sock)
        log.close()
        # Reload warns by design: this daemon runs without fatal warnings.
        # It tells "systemd" (a datagram socket of ours) where it is.
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(os.path.join(tmp, "notify.sock"))
        notify.settimeout(20)
        env = dict(os.environ, G_DEBUG="", NOTIFY_SOCKET=os.path.join(tmp, "notify.sock"))
        log = open(os.path.join(tmp, "daemon.log"), "a")
        d = subprocess.Popen([DAEMON, "--config", conf, "--socket", sock, "-c", "test:///default"],
                             stdout=log, stderr=subprocess.STDOUT, env=env)
        run_reload(d, sock, conf, os.path.join(tmp, "daemon.log"), notify)
        log.close()
        if os.geteuid() == 0:
            log = open(os.path.join(tmp, "daemon.log"), "a")
            d = run_limits(tmp, log)
        else:
            print("# not root: the socket group and per-uid cases need other uids; skipped")
    finally:
        if d.poll() is None:
            d.kill()
        d.wait()
        log.close()
        if not all(results):
            sys.stdout.write("# daemon log:\n# " + open(os.path.join(tmp, "daemon.log")).read().replace("\n", "\n# ") + "\n")
        subprocess.run(["rm", "-rf", tmp])
    print("1..%d" % len(results))
    return 0 if all(results) else 1


def stop(d):
    """SIGTERM, then (whether it exited 0, its status) within 20 s."""
    d.send_signal(signal.SIGTERM)
    try:
        rc = d.wait(timeout=20)
    except subprocess.TimeoutExpired:
        rc = None
    return rc == 0, str(rc)


def run(d, sock):
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.1)
    check("the control socket appears", os.path.exists(sock))
    c = Client(sock)

    r = c.call({"op": "list", "id": 7})
    check("list answers with the request's id", r.get("ok") is True and r.get("id") == 7, str(r))
    # Its mode is set between bind(2) (0700 under the daemon's umask) and the
    # first accept: judged once the daemon answers.
    mode = os.stat(sock).st_mode & 0o777
    check("the socket is root's alone (0600)", mode == 0o600, oct(mode))
    r = c.call({"op": "jobs", "id": "abc"})
    check("a string id is echoed", r.get("id") == "abc" and r.get("ok") is True, str(r))
    r = c.call({"op": "status", "domain": "nosuchdomain"})
    check("an unknown domain is not-found", r.get("error", {}).get("code") == "not-found", str(r))

    bad = [
        b"\x00\xff\xfe garbage \x01\n",
        b"{not json}\n",
        b"[1,2,3]\n",
        b'{"op": 5}\n',
        b'{"op": "teleport"}\n',
        b'{"op": "migrate", "domain": 5, "to": "x"}\n',
        b'{"op": "migrate", "domain": "test", "to": -1}\n',
        b'{"op": "list", "extra": true}\n',
        b'{"op": "list"} trailing\n',
        b'"op"\n',
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
        b'{"op": "subscribe", "events": ["nonsense"]}\n',
    ]
    for b in bad:
        c.send(b)
        r = c.reply()
        check("malformed %r gets an error object" % b[:30], r.get("ok") is False and "error" in r, str(r))
    r = c.call({"op": "list"})
    check("the connection goes on after malformed input", r.get("ok") is True, str(r))

    c.send(b'{"op": "list", "pad": "' + b"x" * (200 * 1024) + b'"}\n')
    r = c.reply()
    check("a 200 KiB line gets one error", r.get("ok") is False and "longer" in r["error"]["message"], str(r))
    r = c.call({"op": "list"})
    check("and the connection goes on after it", r.get("ok") is True, str(r))

    # Junk from several clients at once, some hanging up mid-line.
    rng = random.Random(1)
    for i in range(6):
        j = Client(sock)
        for _ in range(200):
            j.send(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) + b"\n")
        if i % 2:
            j.send(b'{"op": "li')  # hang up mid-request
        j.close()
    r = c.call({"op": "list"})
    check("the daemon survives a junk flood from 6 clients", r.get("ok") is True and d.poll() is None, str(r))

    # The client limit (max-clients=8; c is one).
    extra = [Client(sock) for _ in range(7)]
    for e in extra:
        e.call({"op": "list"})
    over = Client(sock)
    try:
        r = over.line()
    except (EOFError, OSError) as e:
        r = {"eof": str(e)}
    check("the 9th client is refused with busy", r.get("error", {}).get("code") == "busy", str(r))
    for e in extra + [over]:
        e.close()
    time.sleep(0.2)

    # Subscribers see policy changes.  The domain must be in the daemon's
    # table first: it lists domains in a thread after connecting, which on
    # a loaded machine can come after everything above (a policy-set then
    # got not-found; seen in a run beside a full test run).
    tracked = wait_for(lambda: any(x.get("domain") == "test" for x in c.call({"op": "list"}).get("result", [])), 30)
    check("the daemon tracks the test driver's running domain 'test' within 30 s", tracked)
    # The test driver's domain has no QEMU to scan: no live map yet, said as null.
    r = c.call({"op": "status", "domain": "test"})
    check("status says there is no live placement map yet",
          r.get("ok") is True and "placement" in r["result"] and r["result"]["placement"] is None, str(r))
    # status is answered from a worker thread (its walk of a big guest's
    # map takes seconds); the client's next requests wait for it, so
    # pipelined requests are answered in order.
    c.send(b'{"op": "status", "domain": "test", "id": 1}\n{"op": "list", "id": 2}\n'
           b'{"op": "status", "domain": "test", "id": 3}\n{"op": "jobs", "id": 4}\n')
    ids = [c.reply().get("id") for _ in range(4)]
    check("pipelined requests around status are answered in order", ids == [1, 2, 3, 4], str(ids))
    # A client that leaves before its status answer: the daemon goes on.
    gone = Client(sock)
    gone.send(b'{"op": "status", "domain": "test"}\n{"op": "list"}\n')
    gone.close()
    r = c.call({"op": "status", "domain": "test", "id": 5})
    check("a client gone before its status answer leaves the daemon answering",
          r.get("ok") is True and r.get("id") == 5, str(r))
    sub = Client(sock)
    r = sub.call({"op": "subscribe", "events": ["policy"]})
    check("subscribe answers", r.get("ok") is True, str(r))
    r = c.call({"op": "policy-set", "domain": "test", "mode": "off"})
    check("root may set a policy", r.get("ok") is True and r["result"]["mode"] == "off", str(r))
    ev = sub.line()
    check("the subscriber gets the policy event", ev.get("event") == "policy" and ev["body"].get("mode") == "off", str(ev))
    r = c.call({"op": "policy-set", "domain": "test", "mode": "sideways"})
    check("an unknown mode is refused", r.get("ok") is False, str(r))
    sub.close()

    # A non-root caller: may read, may not change (the socket opened to it on purpose).
    if os.geteuid() == 0:
        os.chmod(os.path.dirname(sock), 0o711)
        os.chmod(sock, 0o666)
        out, said = calls_as(65534, sock, [
            {"op": "list"}, {"op": "policy-set", "domain": "test", "mode": "follow"},
            {"op": "migrate", "domain": "test", "to": 0}, {"op": "cancel", "domain": "test"},
            {"op": "hook", "domain": "test", "operation": "stopped", "suboperation": "end"}])
        check("non-root: list is allowed", len(out) == 5 and out[0].get("ok") is True, said)
        for i, what in enumerate(("policy-set", "migrate", "cancel", "hook"), 1):
            ok = len(out) == 5 and out[i].get("error", {}).get("code") == "permission-denied"
            check("non-root: %s is refused" % what, ok, str(out[i] if len(out) > i else out))
        r = c.call({"op": "policy-get", "domain": "test"})
        check("nothing a non-root caller sent changed the policy", r.get("ok") and r["result"]["mode"] == "off", str(r))
        os.chmod(sock, 0o600)
    else:
        print("# not root: the SO_PEERCRED cases need a second uid; skipped")

    c.close()
    check("SIGTERM stops the daemon with status 0", *stop(d))
    check("and its socket is removed", not os.path.exists(sock))


CALLER = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1]); f = s.makefile("rwb")
out = []
for req in json.loads(sys.argv[2]):
    f.write((json.dumps(req) + "\n").encode()); f.flush()
    out.append(json.loads(f.readline()))
print(json.dumps(out))
"""


def calls_as(uid, sock, requests):
    """@requests sent one by one by a process of @uid (group 65534): (replies, what it printed)."""
    # Debian's python3: an interpreter under /root is out of the other uid's reach.
    p = subprocess.run(["/usr/bin/python3", "-c", CALLER, sock, json.dumps(requests)],
                       capture_output=True, text=True, user=uid, group=65534, extra_groups=[],
                       timeout=30)
    return (json.loads(p.stdout) if p.returncode == 0 else []), p.stdout + p.stderr


# A client of another uid, in a child process: connects, sends list, prints
# the first reply line (or EOF), then holds the connection until stdin closes.
HOLDER = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1]); f = s.makefile("rwb")
try:  # a refused client may find the socket closed already: its "busy" line still waits
    f.write(b'{"op": "list"}\n'); f.flush()
except OSError:
    pass
line = f.readline()
print(line.decode().strip() or "EOF", flush=True)
sys.stdin.read()
"""


def hold_as(uid, sock):
    """A held connection of @uid and its first reply."""
    p = subprocess.Popen(["/usr/bin/python3", "-c", HOLDER, sock], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, user=uid, group=65534, extra_groups=[])
    line = p.stdout.readline().strip()
    try:
        return p, json.loads(line)
    except ValueError:
        return p, {"raw": line}


def run_limits(tmp, log):
    """The third daemon: socket group, per-uid limit, idle timeout, escaped log lines."""
    os.chmod(tmp, 0o711)
    sock = os.path.join(tmp, "run", "sub", "control.sock")
    conf = os.path.join(tmp, "limits.conf")
    base = ("[daemon]\ndrift-interval-s=0\nstart-delay-ms=100000\nsocket-group=nogroup\n"
            "max-clients=5\nmax-clients-per-uid=2\n")
    with open(conf, "w") as f:
        f.write(base + "client-idle-timeout-s=0\n")
    d = subprocess.Popen([DAEMON, "--config", conf, "--socket", sock, "-c", "test:///default"],
                         stdout=log, stderr=subprocess.STDOUT)
    held = []
    try:
        limits_cases(d, sock, conf, base, log, held)
    finally:
        for p in held:
            if p.stdin:
                p.stdin.close()
            p.kill()
            p.wait()
        if d.poll() is None:
            d.kill()
            d.wait()
    return d


def limits_cases(d, sock, conf, base, log, held):
    check("the third daemon's socket appears", wait_for(lambda: os.path.exists(sock)))
    # The file exists from bind(2) on; its owner and mode are set before the
    # daemon accepts anyone: judge them once it answers (a fresh root saw 0700).
    c = Client(sock)
    wait_for(lambda: c.call({"op": "policy-get", "domain": "test"}).get("ok") is True, 30)
    dirs = (os.path.dirname(os.path.dirname(sock)), os.path.dirname(sock))
    modes = [oct(os.stat(p).st_mode & 0o777) for p in dirs]
    check("the directories it made for the socket are 0755 (its umask is 077)",
          modes == ["0o755", "0o755"], str(modes))
    st = os.stat(sock)
    check("the socket is 0660, group nogroup", st.st_mode & 0o777 == 0o660 and st.st_gid == 65534,
          "%o gid %d" % (st.st_mode & 0o777, st.st_gid))

    out, said = calls_as(65534, sock, [
        {"op": "policy-set", "domain": "test", "mode": "off"},
        {"op": "hook", "domain": "test", "operation": "stopped", "suboperation": "end"}])
    check("a socket-group member may set a policy", len(out) == 2 and out[0].get("ok") is True, said)
    check("but may not send hook (permission-denied)",
          len(out) == 2 and out[1].get("error", {}).get("code") == "permission-denied", str(out))
    r = c.call({"op": "list"})
    check("the domain is still tracked after the member's hook",
          any(x.get("domain") == "test" for x in r.get("result", [])), str(r))

    # Limits: 5 clients, 2 per uid, 2 kept for root; c is root's first.
    for i in range(2):
        p, r = hold_as(65534, sock)
        held.append(p)
        check("uid 65534's connection %d is served" % (i + 1), r.get("ok") is True, str(r))
    p, r = hold_as(65534, sock)
    held.append(p)
    check("uid 65534's third connection is refused: busy, per uid",
          r.get("error", {}).get("code") == "busy" and "your uid" in r["error"]["message"], str(r))
    p, r = hold_as(65533, sock)
    held.append(p)
    check("another uid's first connection is served", r.get("ok") is True, str(r))
    p, r = hold_as(65533, sock)
    held.append(p)
    check("its second is refused: the last slots are root's",
          r.get("error", {}).get("code") == "busy" and "root" in r["error"]["message"], str(r))
    root2 = Client(sock)
    r = root2.call({"op": "list"})
    check("root still connects (slot 5 of 5)", r.get("ok") is True, str(r))
    over = Client(sock)
    try:
        r = over.line()
    except (EOFError, OSError) as e:
        r = {"eof": str(e)}
    check("a sixth client, even root's, is refused: busy", r.get("error", {}).get("code") == "busy", str(r))
    over.close()
    for p in held:
        p.stdin.close()
        p.wait(timeout=10)
    held.clear()
    root2.close()
    c.close()

    # The idle timeout, turned on by a reload: a silent client is closed, a subscriber is not.
    with open(conf, "w") as f:
        f.write(base + "client-idle-timeout-s=2\n")
    before = open(log.name).read().count("configuration reloaded")
    d.send_signal(signal.SIGHUP)
    check("the third daemon reloads", wait_for(lambda: open(log.name).read().count("configuration reloaded") > before))
    sub = Client(sock)
    sub.call({"op": "subscribe", "events": ["policy"]})
    idle = Client(sock)
    t0 = time.monotonic()
    closed = None
    try:
        while True:
            idle.line()  # the reason, then EOF
    except (EOFError, OSError) as e:
        closed = time.monotonic() - t0, str(e)
    check("a client that says nothing is closed after the 2 s idle timeout (within 2-4 s)",
          closed is not None and 1.5 <= closed[0] <= 4.0 and "closed" in closed[1], str(closed))
    time.sleep(1)
    c = Client(sock)
    # (mode off again: follow would start a job, which the test driver fails with a warning)
    r = c.call({"op": "policy-set", "domain": "test", "mode": "off"})
    ev = sub.line()
    check("a subscriber silent for as long still gets events", ev.get("event") == "policy", str(ev))
    sub.close()

    # Control characters in a name reach the log escaped, not as a line of their own.
    r = c.call({"op": "hook", "domain": "evil\r\nFORGED line", "operation": "stopped", "suboperation": "end"})
    check("root's hook with control characters in the name answers", r.get("ok") is True, str(r))
    c.close()
    check("the third daemon stops with status 0", *stop(d))
    text = open(log.name).read()
    check("the name is logged escaped",
          "evil\\x0d\\x0aFORGED line" in text and not any(l.startswith("FORGED") for l in text.splitlines()),
          repr([l for l in text.splitlines() if "FORGED" in l]))


def wait_for(pred, secs=10):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def notified(notify, want):
    """The sd_notify messages up to one with line @want (or a timeout), joined."""
    seen = []
    try:
        while True:
            lines = notify.recv(4096).decode().split("\n")
            seen += lines
            if want in lines:
                return seen
    except OSError as e:
        seen.append("(%s)" % e)
    return seen


# libvirt's test driver's one domain, "test".
TEST_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"


def run_reload(d, sock, conf, log_path, notify):
    seen = notified(notify, "READY=1")
    check("sd_notify: READY=1 once the control socket listens",
          "READY=1" in seen and os.path.exists(sock), str(seen))
    check("the second daemon's socket appears", wait_for(lambda: os.path.exists(sock)))
    c = Client(sock)
    base = "[daemon]\ndrift-interval-s=0\nmax-clients=8\nstart-delay-ms=100000\n"
    # The domain is known once the daemon has listed libvirt's domains.
    wait_for(lambda: c.call({"op": "policy-get", "domain": "test"}).get("ok") is True)
    r = c.call({"op": "policy-get", "domain": "test"})
    check("before reload: the domain follows its vCPUs", r.get("ok") and r["result"]["mode"] == "follow", str(r))

    def reload_with(text, log_line):
        with open(conf, "w") as f:
            f.write(text)
        d.send_signal(signal.SIGHUP)
        return wait_for(lambda: log_line in open(log_path).read().split("numashiftd listening")[-1])

    saw = reload_with(base + "[domain test]\nmode=off\n", "configuration reloaded")
    r = c.call({"op": "policy-get", "domain": "test"})
    check("SIGHUP applies a [domain] mode from the file",
          saw and r.get("ok") and r["result"]["mode"] == "off" and r["result"]["mode_source"] == "config", str(r))
    seen = notified(notify, "READY=1")
    check("sd_notify: RELOADING=1, then READY=1 around the reload",
          "RELOADING=1" in seen and seen.index("RELOADING=1") < seen.index("READY=1"), str(seen))
    check("sd_notify: a STATUS= line names the domains tracked",
          any(l.startswith("STATUS=tracking 1 domain, 0 jobs running") for l in seen), str(seen))

    # Issue #15: a drop-in that appeared since, naming the domain by its
    # UUID (upper case, as an operator may paste it), wins over the main
    # file's [domain NAME]; the log names the files read.
    drop_in = os.path.join(conf + ".d", "50-test.conf")
    os.makedirs(conf + ".d")
    with open(drop_in, "w") as f:
        f.write("[domain %s]\nmode=off\n" % TEST_UUID.upper())
    saw = reload_with(base + "[domain test]\nmode=follow\n", "reload: configuration from %s, %s" % (conf, drop_in))
    r = c.call({"op": "policy-get", "domain": "test"})
    check("SIGHUP reads a new drop-in; its [domain UUID] wins over the main file's [domain NAME]",
          saw and r.get("ok") and r["result"]["mode"] == "off" and r["result"]["mode_source"] == "config", str(r))
    os.unlink(drop_in)

    saw = reload_with("[daemon]\nbogus-key=1\n", "keeping the running configuration")
    r = c.call({"op": "policy-get", "domain": "test"})
    check("a broken file on SIGHUP: a warning, and the running configuration stays",
          saw and d.poll() is None and r.get("ok") and r["result"]["mode"] == "off", str(r))

    # A socket group (the --socket option overrides the file's socket path,
    # so a path change alone warned of nothing: the check passed on
    # max-clients' warning until max-clients became reloadable).
    moved = sock + ".new"
    saw = reload_with("[daemon]\nsocket=%s\nsocket-group=root\n[domain test]\nmode=off\n" % moved,
                      "socket-group takes effect on restart")
    c2 = Client(sock)
    r = c2.call({"op": "list"})
    mode = os.stat(sock).st_mode & 0o777
    check("a new socket group on SIGHUP waits for a restart; the old socket serves, still 0600",
          saw and r.get("ok") is True and not os.path.exists(moved) and mode == 0o600, "%s %o" % (r, mode))
    c2.close()
    c.close()
    notified(notify, "READY=1")  # the last reload's
    check("the reloaded daemon stops with status 0", *stop(d))
    seen = notified(notify, "STOPPING=1")
    check("sd_notify: STOPPING=1 on SIGTERM", "STOPPING=1" in seen, str(seen))


if __name__ == "__main__":
    sys.exit(main())
