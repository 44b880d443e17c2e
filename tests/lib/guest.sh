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
#
# Every wait has a deadline and, when it passes, fails saying what it was
# waiting for (a test must never hang until meson's timeout without a clue):
#   wait_until SECS WHAT CMD...   poll CMD every 0.1 s until it succeeds
#   wait_pid SECS WHAT PID        wait for a background child; its status in WAIT_STATUS
#   bounded SECS WHAT CMD...      run the program CMD under timeout(1)
#   reap_pid SECS PID WHAT        for cleanups: SIGKILL if not gone after SECS; never fails
#   stop_pid SECS PID [WHAT]      the same after a SIGTERM
# WHAT reads after "waiting for" (wait_until, wait_pid) or names the
# command (bounded): "timed out after 30 s waiting for WHAT".

# Set by guest_init / guest_start.
GUEST_EXIT_STATUS=0
GUEST_DIR=
GUEST_PID=
GUEST_LOG=
GUEST_ACCEL=
GUEST_QMP=
GUEST_STATUS=
_guest_cat_pid=
_guest_cleanups=()

# Seconds since the script started, on every line it says: a slow or
# failing test shows where its time went.
_guest_t0=${EPOCHREALTIME/[.,]/}
_guest_elapsed() {
	local us=$((${EPOCHREALTIME/[.,]/} - _guest_t0))
	printf '%d.%d' $((us / 1000000)) $((us / 100000 % 10))
}

# fail MESSAGE...: one line on stderr and exit 1.
fail() {
	printf '%s: [%ss] FAIL: %s\n' "${0##*/}" "$(_guest_elapsed)" "$*" >&2
	exit 1
}
say() { printf '%s: [%ss] %s\n' "${0##*/}" "$(_guest_elapsed)" "$*" >&2; }

# The time in microseconds is ${EPOCHREALTIME/[.,]/} (no fork in a poll loop).

# wait_until SECS WHAT CMD...: run CMD every 0.1 s until it succeeds.  After
# SECS seconds (wall clock, however long CMD takes) evaluate $wait_diag when
# set (a command string showing what there was instead; callers set it
# with `local wait_diag=...`) and fail "timed out after SECS s waiting for
# WHAT".  CMD runs in a condition, where set -e does not apply: a predicate
# function must return its status itself.
wait_until() {
	local _secs=$1 _what=$2 _deadline
	shift 2
	_deadline=$((${EPOCHREALTIME/[.,]/} + _secs * 1000000))
	until "$@"; do
		if ((${EPOCHREALTIME/[.,]/} >= _deadline)); then
			if [[ -n ${wait_diag:-} ]]; then eval "$wait_diag" || true; fi
			fail "timed out after $_secs s waiting for $_what"
		fi
		sleep 0.1
	done
}

# wait_pid SECS WHAT PID: wait for PID, a background child of this shell
# (a program, not a subshell running a function), to exit; set WAIT_STATUS
# to its exit status.  After SECS seconds kill it (SIGKILL, by PID) and fail
# "timed out after SECS s waiting for WHAT".
WAIT_STATUS=
wait_pid() {
	local secs=$1 what=$2 pid=$3 deadline timed_out=0
	deadline=$((${EPOCHREALTIME/[.,]/} + secs * 1000000))
	# stderr to /dev/null while polling and reaping: bash's own "Killed"
	# notice for a child killed on purpose would land there.
	{
		while kill -0 "$pid"; do
			if ((${EPOCHREALTIME/[.,]/} >= deadline)); then
				timed_out=1
				kill -KILL "$pid" || true
				break
			fi
			sleep 0.1
		done
		WAIT_STATUS=0
		wait "$pid" || WAIT_STATUS=$?
	} 2>/dev/null
	((timed_out == 0)) || fail "timed out after $secs s waiting for $what (pid $pid killed)"
}

# bounded SECS WHAT CMD...: run the program CMD (not a shell function) under
# timeout(1), SIGKILL 5 s after the SIGTERM; fail "timed out after SECS s:
# WHAT" when it ran out of time, otherwise return CMD's exit status.
bounded() {
	local secs=$1 what=$2 rc=0 t0
	shift 2
	t0=${EPOCHREALTIME/[.,]/}
	timeout -k 5 "$secs" "$@" || rc=$?
	# 124: timed out; 137: killed after ignoring the SIGTERM (or by someone
	# else: the clock tells).
	if ((rc == 124 || rc == 137)) && ((${EPOCHREALTIME/[.,]/} - t0 >= secs * 1000000)); then
		fail "timed out after $secs s: $what"
	fi
	return "$rc"
}

# reap_pid SECS PID WHAT: give the child PID SECS seconds to exit by
# itself, then SIGKILL it (saying so: WHAT names it); reap it.  Never fails.
reap_pid() {
	local secs=$1 pid=$2 what=$3 deadline
	deadline=$((${EPOCHREALTIME/[.,]/} + secs * 1000000))
	{ while kill -0 "$pid" && ((${EPOCHREALTIME/[.,]/} < deadline)); do sleep 0.1; done; } 2>/dev/null
	if kill -0 "$pid" 2>/dev/null; then
		say "$what (pid $pid) still there after $secs s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	{ wait "$pid" || true; } 2>/dev/null
}

# stop_pid SECS PID [WHAT]: for cleanups: SIGTERM (and SIGCONT, for a
# stopped process) to the child PID, then reap_pid.  Never fails.
stop_pid() {
	kill -TERM "$2" 2>/dev/null || true
	kill -CONT "$2" 2>/dev/null || true
	reap_pid "$1" "$2" "${3:-a process stopped with SIGTERM}"
}

# kvm_froze KEY LOG PIDFILE: true when the KVM guest of the QEMU whose PID
# is in PIDFILE froze, as nested KVM in the TCG test host froze guests
# (docs/testing.md, "Nested KVM"): its serial LOG silent for
# LV_FREEZE_SECS (60) while its vCPU threads ("CPU N/KVM") ran at least
# half of five seconds of wall time.  A guest runs a verifying pass in well
# under a second and prints after each, so that much silence is a guest
# that no longer progresses.  A stall of numashift's making looks
# different: a vCPU that touches a page in flight sleeps in the kernel
# (migration_entry_wait, state D), and a lost or torn write is reported by
# the guest itself.  Sets KVM_FROZE_WHY.  Called from waits' predicates
# (every 0.1 s): cheap until the log is old; KEY keeps each guest's
# five-second window apart.
declare -A _kvm_froze_t0=() _kvm_froze_run0=()
KVM_FROZE_WHY=
kvm_froze() {
	local key=$1 log=$2 age now run=0 pid t wall ran
	age=$((EPOCHSECONDS - $(stat -c %Y "$log" 2>/dev/null || echo "$EPOCHSECONDS")))
	if ((age < ${LV_FREEZE_SECS:-60})); then
		unset "_kvm_froze_t0[$key]"
		return 1
	fi
	pid=$(cat "$3" 2>/dev/null) || return 1
	now=${EPOCHREALTIME/[.,]/}
	for t in /proc/"$pid"/task/*; do
		[[ $(cat "$t/comm" 2>/dev/null) == "CPU "*/KVM ]] || continue
		run=$((run + $(cut -d' ' -f1 "$t/schedstat" 2>/dev/null || echo 0)))
	done
	if [[ -z ${_kvm_froze_t0[$key]:-} ]]; then
		_kvm_froze_t0[$key]=$now
		_kvm_froze_run0[$key]=$run
		return 1
	fi
	# Five seconds of vCPU run time against wall time (both in us).
	((now - _kvm_froze_t0[$key] >= 5000000)) || return 1
	wall=$((now - _kvm_froze_t0[$key])) ran=$(((run - _kvm_froze_run0[$key]) / 1000))
	if ((ran * 2 < wall)); then
		unset "_kvm_froze_t0[$key]"
		return 1
	fi
	KVM_FROZE_WHY="its serial port silent for ${age} s while its vCPU threads ran $((ran / 1000)) ms of the last $((wall / 1000)) ms"
	return 0
}

# on_exit COMMAND: run COMMAND (a string) from the EXIT trap, last in first.
on_exit() { _guest_cleanups=("$1" "${_guest_cleanups[@]}"); }

_guest_exit_trap() {
	local rc=$? c
	set +e
	GUEST_EXIT_STATUS=$rc # for cleanups that say more when the test failed
	for c in "${_guest_cleanups[@]}"; do eval "$c"; done
	guest_kill
	if [[ -n $GUEST_DIR && ${NS_KEEP_TEST_DIR:-0} != 1 ]]; then rm -rf -- "$GUEST_DIR"; fi
	# A cleanup may find that the rig failed the test (testhost-libvirt):
	# 125, which the caller answers with one more boot.
	exit "${GUEST_EXIT_OVERRIDE:-$rc}"
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

# The guest's firmware: qboot (Debian's qemu-system-data), not SeaBIOS,
# boots the guest 4-5 s sooner in the TCG test host (nsguest.xml.in too).
GUEST_BIOS=${GUEST_BIOS:-/usr/share/qemu/qboot.rom}

# guest_start ACCEL MEM_MIB CMDLINE [QEMU-ARG...]: start the guest in the
# background.  ACCEL is tcg or kvm.  Without extra arguments the RAM is a
# plain memory-backend-ram; pass e.g. host-nodes via guest_ram_backend.
# GUEST_SMP (default 1) is the number of vCPUs: the guest runs on all of
# them unless its command line says cpus=N.
guest_start() {
	local accel=$1 mem=$2 cmdline=$3
	shift 3
	GUEST_LOG=$GUEST_DIR/serial.log
	GUEST_QMP=$GUEST_DIR/qmp.sock
	GUEST_ACCEL=$accel
	rm -f "$GUEST_DIR/serial.in" "$GUEST_DIR/serial.out"
	mkfifo "$GUEST_DIR/serial.in" "$GUEST_DIR/serial.out"
	cat "$GUEST_DIR/serial.out" >"$GUEST_LOG" &
	_guest_cat_pid=$!
	# shellcheck disable=SC2054  # commas are QEMU's
	# debug-threads names the vCPU threads "CPU N/KVM" (or /TCG), as under
	# libvirt: kvm_froze and numashift's pacer find them by name.
	qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot \
		-name nsguest,debug-threads=on \
		-accel "$accel" -m "$mem" -smp "${GUEST_SMP:-1}" -bios "$GUEST_BIOS" \
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
	local pattern=$1 secs=$2
	# shellcheck disable=SC2016  # expanded when wait_until evals it
	local wait_diag='tail -n 5 "$GUEST_LOG" >&2; guest_threads_diag'
	wait_until "$secs" "/$pattern/ from the guest" _guest_printed "$pattern"
}

# guest_threads_diag: QEMU's threads (name, state, kernel wait channel,
# schedstat: ns on a CPU, ns waiting for one, slices) on stderr, for a
# guest that does not report.  Never fails.
guest_threads_diag() {
	local t
	[[ -n $GUEST_PID ]] || return 0
	{
		echo "--- QEMU (pid $GUEST_PID) threads"
		for t in /proc/"$GUEST_PID"/task/*; do
			echo "thread ${t##*/} $(<"$t/comm"): $(awk '/^State/ { print $2 }' "$t/status") wchan=$(<"$t/wchan") schedstat=$(<"$t/schedstat")"
		done
	} >&2 2>/dev/null || true
}

# _guest_printed PATTERN: the log has it; fail if the guest has exited without.
_guest_printed() {
	grep -qE "$1" "$GUEST_LOG" 2>/dev/null && return 0
	_guest_rig_froze
	if ! guest_running; then
		grep -qE "$1" "$GUEST_LOG" 2>/dev/null && return 0
		tail -n 5 "$GUEST_LOG" >&2 || true
		cat "$GUEST_DIR/qemu.err" >&2 || true
		_guest_rig_died_at_start
		fail "the guest exited before printing /$1/"
	fi
	return 1
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
	printf q >&"$_guest_in_fd"
	_guest_reap "$1" "the guest to stop after being asked ('q' on COM1)"
}

# guest_wait_exit SECONDS: wait for a guest that ends by itself; set GUEST_STATUS.
guest_wait_exit() {
	wait_until "$1" "the guest (QEMU pid $GUEST_PID) to exit by itself" _guest_exited
	_guest_reap 10 "the guest to exit by itself"
	_guest_rig_died_at_start
}

_guest_exited() {
	kill -0 "$GUEST_PID" 2>/dev/null || return 0
	_guest_rig_froze
	return 1
}

# _guest_rig_died_at_start: exit 125 (a rig failure) when a KVM guest died
# before its first verifying pass, before any page of it could have moved:
# nested KVM in the TCG test host killed such guests now and then
# (docs/testing.md, "Nested KVM"), as _lv_rig_died_at_start says for
# libvirt's domains.  A fresh root's run (2026-12-01) lost
# numa-migrate-2node-kvm to one: its 2-vCPU guest reported "exception
# vector=15" with a garbage CS before its first pass.
_guest_rig_died_at_start() {
	[[ $GUEST_ACCEL == kvm ]] || return 0
	grep -q '^NSGUEST pass=' "$GUEST_LOG" 2>/dev/null && return 0
	echo "guest.sh: rig failure: the KVM guest died before its first pass, before any page of it could move" >&2
	exit 125
}

# _guest_rig_froze: exit 125 (a rig failure, which the numa cases answer
# by booting once more) when a KVM guest froze (kvm_froze): a check of
# the rig (numa-migrate-2node-kvm's 2-vCPU guest) lost a CI run to one.
_guest_rig_froze() {
	[[ $GUEST_ACCEL == kvm ]] && kvm_froze guest "$GUEST_LOG" "$GUEST_DIR/qemu.pid" || return 0
	tail -n 5 "$GUEST_LOG" >&2 || true
	echo "guest.sh: rig failure: the KVM guest froze: $KVM_FROZE_WHY (nested KVM's freeze, docs/testing.md)" >&2
	exit 125
}

# _guest_reap SECONDS WHAT: wait_pid on QEMU; GUEST_STATUS is its status.
# Then the log reader, at EOF once QEMU has gone (unless QEMU never opened
# the FIFO: killed after 10 s, and the verdict tells the rest).
_guest_reap() {
	wait_pid "$1" "$2" "$GUEST_PID"
	GUEST_PID=
	GUEST_STATUS=$WAIT_STATUS
	reap_pid 10 "$_guest_cat_pid" "the guest's serial log reader"
	_guest_cat_pid=
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

# guest_clean_so_far LOG WHEN: fail, with the guest's own corrupt or fatal
# lines, unless the log of a guest that may still be running is clean so
# far (verdict running or clean).  The report tool reads it, not grep: the
# log is copied from the serial port as the guest writes it, so its last
# line can be cut off mid-write, and a grep for "errors=0" on
# "NSGUEST pass=21 pages=160" (the rest not yet written) took a clean
# guest for a failing one (a CI soak, 2026-12-01).
guest_clean_so_far() {
	local verdict
	verdict=$(guest_verdict "$1")
	[[ $verdict == running || $verdict == clean ]] ||
		fail "the guest's verdict is '$verdict' $2: $(grep -a '^NSGUEST \(corrupt\|fatal\|done\)' "$1" | tr -d '\r' | tr '\n' ';')"
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
	if [[ ! -e /proc/$pid/numa_maps ]]; then
		# QEMU went away (a fresh-root run, 2026-11-30: a nested-KVM guest's
		# QEMU vanished after six migratepages moves with nothing said):
		# what QEMU and the guest said last, so the next one explains itself.
		[[ -s ${GUEST_DIR:-}/qemu.err ]] && tail -n 8 "$GUEST_DIR/qemu.err" | sed 's/^/qemu stderr: /' >&2
		[[ -s ${GUEST_LOG:-} ]] && tail -n 4 "$GUEST_LOG" | tr -d '\r' | sed 's/^/guest serial: /' >&2
		fail "QEMU pid $pid is gone (its stderr and the guest's last lines above)"
	fi
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
