#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The rig's own failure handling (vm-images/numa-host, tests/lib/test-host.sh).
#
# Story: a fresh-root run (2026-11-30) lost numa-numashift-faults to a test
# host that never finished booting: no line from the test for 300 s, then
# "timed out" (124), which read as the test hanging.  numa-host now gives a
# boot NUMA_HOST_BOOT_SECS (60; it takes 4-15 s) and then says the rig
# failed (125, with the console's last lines), and every numa case boots
# once more on 125, saying so.  If this comes back: the first check sees a
# host that cannot boot in 1 s time out (124) or hang instead of 125; the
# second sees run_rig_retry retry what it must not, or not retry a 125.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
src=$(cd "$here/../.." && pwd -P)
# shellcheck source=../lib/test-host.sh
. "$src/tests/lib/test-host.sh"

fail() {
	echo "test-rig.sh: FAIL: $*" >&2
	exit 1
}

# 1. A boot that does not finish in time: 125 and one line that says so.
rc=0
NUMA_HOST_BOOT_SECS=1 timeout 60 "$src/vm-images/numa-host" --nodes 2 --mem-per-node 256 --quiet \
	-- true 2>"${TMPDIR:-/tmp}/test-rig.$$.err" || rc=$?
err=$(<"${TMPDIR:-/tmp}/test-rig.$$.err")
rm -f "${TMPDIR:-/tmp}/test-rig.$$.err"
((rc == 125)) || fail "a test host given 1 s to boot exited $rc, not 125: $err"
grep -q 'did not finish booting in 1s' <<<"$err" || fail "no boot-deadline line: $err"
echo "test-rig.sh: a boot past its deadline: exit 125: $(grep 'did not finish' <<<"$err")" >&2

# 2. run_rig_retry: 125 runs again, at most three runs in all (each retry
# said out loud), anything else never; a pass on a retry is a pass.
count=0
flaky() {
	count=$((count + 1))
	return "$1"
}
for want in 0 1 124; do
	count=0 rc=0
	run_rig_retry test-rig.sh flaky "$want" 2>/dev/null || rc=$?
	((rc == want && count == 1)) || fail "status $want: returned $rc after $count runs, not once"
done
count=0 rc=0
said_file=${TMPDIR:-/tmp}/test-rig.$$.said
run_rig_retry test-rig.sh flaky 125 2>"$said_file" || rc=$?
said=$(<"$said_file")
rm -f "$said_file"
((count == 3 && rc == 125)) || fail "status 125: $count runs, returned $rc; want 3 runs"
(($(grep -c 'booting it once more' <<<"$said") == 2)) || fail "two retries not said: $said"
count=0 rc=0
flaky_then_ok() {
	count=$((count + 1))
	((count > 1)) || return 125
}
run_rig_retry test-rig.sh flaky_then_ok 2>/dev/null || rc=$?
((count == 2 && rc == 0)) || fail "a pass on the second boot: $count runs, returned $rc; want 2 runs, 0"
# 3. A frozen KVM guest (vm-images/testhost-libvirt, _lv_rig_froze): its
# serial log silent while a vCPU thread spins is exit 125, and only then.
# Story: a CI run (2026-11-30) lost numa-daemon-memnode to a guest that
# stopped answering with nothing moved; the wait outlasted the test host.
# Here a "vCPU" is a child that names itself "CPU 0/KVM" and spins (or
# sleeps); a process may rename only its own threads.
froze_dir=$(mktemp -d)
trap 'kill "${vcpu_pid:-}" 2>/dev/null || true; rm -rf "$froze_dir"' EXIT
froze_check() { # STATE: exit status of polling _lv_rig_froze for 7 s
	local rc=0
	(
		# shellcheck source=../../vm-images/testhost-libvirt
		NUMA_HOST=1 . "$src/vm-images/testhost-libvirt"
		_lv_etc_qemu=$froze_dir _lv_run_qemu=$froze_dir _lv_serial=$froze_dir
		lv_guest_diag() { :; }
		LV_FREEZE_SECS=1
		end=$((SECONDS + 7))
		while ((SECONDS < end)); do
			_lv_rig_froze g
			sleep 0.1
		done
	) 2>"$froze_dir/err" || rc=$?
	return "$rc"
}
echo "<domain type='kvm'>" >"$froze_dir/g.xml"
: >"$froze_dir/g.log"
touch -d '-100 seconds' "$froze_dir/g.log"
bash -c 'echo "CPU 0/KVM" >/proc/self/comm; while :; do :; done' &
vcpu_pid=$!
echo "$vcpu_pid" >"$froze_dir/g.pid"
rc=0
froze_check || rc=$?
((rc == 125)) || fail "a silent KVM guest whose vCPU spins: exit $rc, not 125: $(<"$froze_dir/err")"
grep -q "rig failure: KVM domain g froze" "$froze_dir/err" || fail "no freeze line: $(<"$froze_dir/err")"
echo "test-rig.sh: a frozen KVM guest: exit 125: $(grep -o 'KVM domain g froze.*' "$froze_dir/err")" >&2
rc=0
touch "$froze_dir/g.log"
(while :; do touch "$froze_dir/g.log"; sleep 0.5; done) &
toucher=$!
froze_check || rc=$?
kill "$toucher"
((rc == 0)) || fail "a KVM guest that keeps printing counted as frozen (exit $rc)"
kill "$vcpu_pid"
wait "$vcpu_pid" 2>/dev/null || true
bash -c 'echo "CPU 0/KVM" >/proc/self/comm; while :; do sleep 1; done' &
vcpu_pid=$!
echo "$vcpu_pid" >"$froze_dir/g.pid"
touch -d '-100 seconds' "$froze_dir/g.log"
rc=0
froze_check || rc=$?
((rc == 0)) || fail "a silent guest whose vCPU sleeps counted as frozen (exit $rc)"
echo "<domain type='qemu'>" >"$froze_dir/g.xml"
kill "$vcpu_pid"

# 3. --systemd (issue #15): systemd is PID 1, the command runs as its
# service once basic.target is up, and its exit status comes back, 0 and
# not 0 alike.  The unit's SuccessAction= once sat in [Service], where
# systemd ignores it: a command that passed left the host running until
# the timeout (124).
for want in 0 7; do
	rc=0
	timeout 120 "$src/vm-images/numa-host" --systemd --nodes 1 --mem-per-node 256 --quiet --timeout 100 \
		-- bash -c '[[ $(</proc/1/comm) == systemd ]] || exit 99
systemctl is-active --quiet numa-host-command.service || exit 98
exit '"$want" || rc=$?
	((rc == want)) || fail "numa-host --systemd: a command exiting $want came back as $rc"
done
echo "test-rig.sh: --systemd: systemd as PID 1, the command's status (0, 7) comes back" >&2

# 4. numa-demo passes the demo's 125 (a rig failure under it) on, so the
# case boots again; it turned it into a failure (exit 1) in a fresh root's
# run (2026-12-02).  The case runs here as it would inside a test host,
# with a demo that exits 125 and one that exits 3.
for want in 125 3; do
	fake=${TMPDIR:-/tmp}/test-rig.$$.demo
	printf '#!/bin/sh\nexit %d\n' "$want" >"$fake"
	chmod +x "$fake"
	rc=0
	NUMA_HOST=1 NS_DEMO=$fake NS_BUILD_ROOT=${NS_BUILD_ROOT:?} timeout 60 "$src/tests/numa/test-numa.sh" demo \
		>/dev/null 2>&1 || rc=$?
	rm -f "$fake"
	expect=$( ((want == 125)) && echo 125 || echo 1)
	((rc == expect)) || fail "numa-demo with a demo exiting $want exited $rc, not $expect"
done
echo "test-rig.sh: numa-demo: the demo's 125 comes back as 125, its 3 as a failure" >&2
echo "test-rig.sh: ok" >&2
