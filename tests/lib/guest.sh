# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Shell helpers for tests that run the memory-checking guest (guest/) in a
# QEMU of their own, on this machine or inside the multi-NUMA test host.
# Source it from bash with `set -euo pipefail`; call guest_init first.
#
# The guest's COM1 is a QEMU "pipe" chardev: we read its log from
# $GUEST_DIR/serial.out and can send it 'q' (stop after the current pass)
# through $GUEST_DIR/serial.in.  Everything started here is killed by PID
# from the EXIT trap, even when the test fails.

# Set by guest_init / guest_start.
GUEST_DIR=
GUEST_PID=
GUEST_LOG=
GUEST_QMP=
GUEST_STATUS=
_guest_cat_pid=
_guest_cleanups=()

# fail MESSAGE...: one line on stderr and exit 1.
fail() {
	printf '%s: FAIL: %s\n' "${0##*/}" "$*" >&2
	exit 1
}
say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# on_exit COMMAND: run COMMAND (a string) from the EXIT trap, last in first.
on_exit() { _guest_cleanups=("$1" "${_guest_cleanups[@]}"); }

_guest_exit_trap() {
	local rc=$? c
	set +e
	for c in "${_guest_cleanups[@]}"; do eval "$c"; done
	guest_kill
	if [[ -n $GUEST_DIR && ${NS_KEEP_TEST_DIR:-0} != 1 ]]; then rm -rf -- "$GUEST_DIR"; fi
	exit "$rc"
}

# guest_init: a private work directory and the cleanup trap.
guest_init() {
	GUEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ns-guest.XXXXXX")
	trap _guest_exit_trap EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# guest_elf: path of the built guest (NS_BUILD_ROOT from meson, or ./build).
guest_elf() {
	local elf=${NS_BUILD_ROOT:-$PWD/build}/guest/numashift-guest.elf
	[[ -f $elf ]] || fail "guest image $elf not built"
	printf '%s\n' "$elf"
}

guest_report_tool() {
	printf '%s\n' "${NS_BUILD_ROOT:-$PWD/build}/tools/numashift-guest-report"
}

# guest_start ACCEL MEM_MIB CMDLINE [QEMU-ARG...]: start the guest in the
# background.  ACCEL is tcg or kvm.  Without extra arguments the RAM is a
# plain memory-backend-ram; pass e.g. host-nodes via guest_ram_backend.
guest_start() {
	local accel=$1 mem=$2 cmdline=$3
	shift 3
	GUEST_LOG=$GUEST_DIR/serial.log
	GUEST_QMP=$GUEST_DIR/qmp.sock
	rm -f "$GUEST_DIR/serial.in" "$GUEST_DIR/serial.out"
	mkfifo "$GUEST_DIR/serial.in" "$GUEST_DIR/serial.out"
	cat "$GUEST_DIR/serial.out" >"$GUEST_LOG" &
	_guest_cat_pid=$!
	# shellcheck disable=SC2054  # commas are QEMU's
	qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot \
		-accel "$accel" -m "$mem" -smp 1 \
		-kernel "$(guest_elf)" -append "$cmdline" \
		-chardev "pipe,id=ser0,path=$GUEST_DIR/serial" -serial chardev:ser0 \
		-device isa-debug-exit,iobase=0xf4,iosize=1 \
		-qmp "unix:$GUEST_QMP,server=on,wait=off" \
		-pidfile "$GUEST_DIR/qemu.pid" \
		"$@" </dev/null 2>"$GUEST_DIR/qemu.err" &
	GUEST_PID=$!
	# Keep the FIFO open for writing so the guest never sees EOF on COM1.
	exec {_guest_in_fd}<>"$GUEST_DIR/serial.in"
}

# guest_ram_args MEM_MIB NODE: QEMU arguments for RAM bound to host NODE.
guest_ram_args() {
	printf '%s\n' -object "memory-backend-ram,id=ram0,size=${1}M,host-nodes=$2,policy=bind" \
		-machine "memory-backend=ram0"
}

guest_running() { [[ -n $GUEST_PID ]] && kill -0 "$GUEST_PID" 2>/dev/null; }

# guest_wait PATTERN SECONDS: wait until the serial log has a line matching
# the extended regex PATTERN; fail if the guest exits or time runs out.
guest_wait() {
	local pattern=$1 secs=$2 i
	for ((i = 0; i < secs * 10; i++)); do
		if grep -qE "$pattern" "$GUEST_LOG" 2>/dev/null; then return 0; fi
		if ! guest_running; then
			grep -qE "$pattern" "$GUEST_LOG" 2>/dev/null && return 0
			tail -n 5 "$GUEST_LOG" >&2 || true
			cat "$GUEST_DIR/qemu.err" >&2 || true
			fail "the guest exited before printing /$pattern/"
		fi
		sleep 0.1
	done
	tail -n 5 "$GUEST_LOG" >&2 || true
	fail "no /$pattern/ from the guest within ${secs}s"
}

# guest_passes: the number of the last pass line in the log (0 if none).
guest_passes() {
	local n
	n=$(grep -oE '^NSGUEST pass=[0-9]+' "$GUEST_LOG" 2>/dev/null | tail -n1 | cut -d= -f2)
	printf '%s\n' "${n:-0}"
}

# guest_wait_more_passes N SECONDS: wait until N more passes have completed.
guest_wait_more_passes() {
	local want=$(($(guest_passes) + $1))
	guest_wait "^NSGUEST pass=$want " "$2"
}

# guest_finish SECONDS: ask the guest to stop (q on COM1), wait for QEMU to
# exit, set GUEST_STATUS to QEMU's exit status.  Kills QEMU and fails after
# SECONDS.  (Not for $(...): QEMU is a child of this shell only.)
guest_finish() {
	local secs=$1 i rc=0
	printf q >&"$_guest_in_fd"
	for ((i = 0; i < secs * 10; i++)); do
		guest_running || break
		sleep 0.1
	done
	if guest_running; then
		guest_kill
		fail "the guest did not stop within ${secs}s of being asked"
	fi
	wait "$GUEST_PID" || rc=$?
	GUEST_PID=
	wait "$_guest_cat_pid" 2>/dev/null || true
	_guest_cat_pid=
	GUEST_STATUS=$rc
}

# guest_wait_exit SECONDS: wait for a guest that ends by itself; set GUEST_STATUS.
guest_wait_exit() {
	local secs=$1 i rc=0
	for ((i = 0; i < secs * 10; i++)); do
		guest_running || break
		sleep 0.1
	done
	guest_running && fail "the guest did not exit within ${secs}s"
	wait "$GUEST_PID" || rc=$?
	GUEST_PID=
	wait "$_guest_cat_pid" 2>/dev/null || true
	_guest_cat_pid=
	GUEST_STATUS=$rc
}

# guest_kill: kill QEMU and the log reader, by PID.
guest_kill() {
	if [[ -n $GUEST_PID ]]; then
		kill -KILL "$GUEST_PID" 2>/dev/null || true
		wait "$GUEST_PID" 2>/dev/null || true
		GUEST_PID=
	fi
	if [[ -n $_guest_cat_pid ]]; then
		kill "$_guest_cat_pid" 2>/dev/null || true
		wait "$_guest_cat_pid" 2>/dev/null || true
		_guest_cat_pid=
	fi
}

# guest_verdict LOG: print the report's verdict (clean, corrupt, ...).
# (The tool exits 1 for any log that is not clean; the verdict says which.)
guest_verdict() {
	{ "$(guest_report_tool)" "$1" || true; } | sed -n 's/^verdict=//p'
}

# guest_report_field LOG KEY: one value from the report.
guest_report_field() {
	{ "$(guest_report_tool)" "$1" || true; } | sed -n "s/^$2=//p"
}

# vma_pages_by_node PID POLICY: for the VMAs of PID whose numa_maps policy is
# POLICY (e.g. bind:0), print "NODE PAGES" lines, summed over those VMAs.
vma_pages_by_node() {
	awk -v pol="$2" '
		$2 == pol {
			for (i = 3; i <= NF; i++)
				if ($i ~ /^N[0-9]+=/) {
					split(substr($i, 2), kv, "=")
					pages[kv[1]] += kv[2]
				}
		}
		END { for (n in pages) print n, pages[n] }' "/proc/$1/numa_maps"
}

# assert_on_node PID POLICY NODE PERCENT: fail unless at least PERCENT % of
# the pages of PID's VMAs with POLICY are on NODE; print the split.
assert_on_node() {
	local pid=$1 pol=$2 node=$3 pct=$4 total=0 on=0 n p split=
	while read -r n p; do
		total=$((total + p))
		if ((n == node)); then on=$p; fi
		split+=" N$n=$p"
	done < <(vma_pages_by_node "$pid" "$pol")
	((total > 0)) || fail "no pages found in VMAs with policy $pol of pid $pid"
	say "guest RAM pages:$split (want >= $pct% on node $node)"
	((on * 100 >= total * pct)) ||
		fail "only $on of $total guest RAM pages on node $node (< $pct%)"
}

# guest_ram_hva PID SIZE_MIB: the start of QEMU's guest RAM mapping (the
# mapping of exactly SIZE_MIB MiB), in hex without 0x.
guest_ram_hva() {
	local want=$(($2 * 1024 * 1024)) range rest
	while read -r range rest; do
		if (((16#${range#*-}) - (16#${range%-*}) == want)); then
			printf '%s\n' "${range%-*}"
			return 0
		fi
	done <"/proc/$1/maps"
	return 1
}
