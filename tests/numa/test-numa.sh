#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Cross-node tests of the rig and of numashift, in the multi-NUMA test host
# (vm-images/numa-host).  Run on this machine, it boots a test host of the
# right shape and runs itself inside (NUMA_HOST=1 there).
#
#   migrate-2node      guest RAM bound to node 0, nested TCG; migratepages
#                      0 -> 1 -> 0 while the guest verifies
#   migrate-2node-kvm  the same with nested KVM (kvm_amd in the test host),
#                      then a 2-vCPU guest that must start both under KVM
#   migrate-4node      4 nodes: 0 -> 3 -> 1
#   guest-hot          the guest's hot=low|high|scattered put the pages it
#                      writes where they say (tests/guest/test-guest.sh hot,
#                      by soft-dirty bits, which only the test host's kernel has)
#   engine-cross-node  the unit test program's real cross-node move and its
#                      THP split between scan and move (tests/test-engine
#                      -p /engine/real/cross-node, /engine/real/thp-split)
#                      in a 2-node test host with NS_TEST_REQUIRE_NUMA=1:
#                      they must pass there, not skip
#   corrupt            a word of guest RAM overwritten through /proc/PID/mem
#                      after a move: the guest must report it (the checker
#                      can fail)
#   libvirt-vcpupin    libvirtd in the test host runs the guest as a domain;
#                      virsh vcpupin moves its vCPU; the pinning takes effect
#   numashift-hot-first  --hot-first: a guest whose hot quarter is its highest
#                      (hot=high) has that quarter on the target first
#   numashift-migrate  a libvirt domain with two vNUMA cells, memory on node 0:
#                      `numashift migrate --to 1` (whole guest), then
#                      `--cell 0 --to 0` (one cell), then a rate-limited move
#                      cancelled with SIGINT (exit 6, every page on node 0 or
#                      1, none lost); `status` agrees with numa_maps
#   numashift-shared   the same domain on memfd memory (share=on) that
#                      another process maps and has touched: `migrate --to 1`
#                      leaves it (exit 6) and names that process; with
#                      --move-shared it moves, for both processes; then,
#                      pinned for good (io_uring fixed buffers), it stays:
#                      busy through every pass, reported pinned, exit 6;
#                      last, real VFIO (numa-host --iommu): QEMU's edu
#                      device hot-plugged as a <hostdev> through vfio-pci
#                      pins all guest RAM; migratepages leaves it,
#                      `numashift migrate` refuses before trying (exit 1,
#                      one line), numashiftd's start decision says why
#   numashift-gigantic a one-cell domain on one 1 GiB hugetlbfs page:
#                      `migrate --to 1` moves it whole, alone in its call,
#                      and says how long that call took
#   numashift-4node    the same domain on a 4-node host: whole guest 0 -> 3,
#                      then cell 1 alone -> 2; numa_maps per cell after each
#   race-kvm           the write race: a KVM domain with 2 vCPUs in race
#                      mode (guest/README.md) hammers 4 pages with counters
#                      while tests/ns-race-mover moves exactly those pages
#                      between nodes 0 and 1 NS_RACE_MOVES times
#                      through the engine; every move must land (the kernel
#                      says so), the guest must end clean: no write lost,
#                      torn or gone backward
#                      (1000 moves here; 10000 in race-kvm-soak)
#   race-tcg           the same with a TCG domain (race-tcg-soak: 10000)
#   demo               README command 1's part inside the test host
#                      (tools/demo), with a 64 MiB guest: keeps the demo true
#   soak               (suite soak, on demand) the libvirt KVM guest moved
#                      back and forth between nodes NS_SOAK_MOVES times
#                      (default 1000) by numashift while it verifies; every
#                      move must land, the guest must end clean
#   soak-ci            the same, 20 moves of a 64 MiB TCG guest (suite
#                      numa: in CI; TCG because nested KVM crashes the
#                      guest now and then here, see the case)
#   daemon             numashiftd with the libvirt hook installed: the hook
#                      reaches it on start and stop; `virsh vcpupin` of both
#                      vCPUs to node 1 makes exactly one debounced decision
#                      and >= 90% of the guest lands on node 1; libvirtd is
#                      restarted under the daemon, which reconnects and
#                      follows the next vcpupin back to node 0; one mover per
#                      domain: a daemon job is refused while a --direct move
#                      holds the guest, and the other way round (exit 7, one
#                      line naming the holder); guest clean
#   daemon-cells       numashiftd and a guest with two vNUMA cells: vCPU 1
#                      (cell 1) re-pinned to node 1 moves cell 1 only, with
#                      the memory map the start job read (rechecked); a
#                      32 MiB DIMM hot-plugged into cell 1 drops that map,
#                      is mapped to cell 1 and moves to its node in
#                      numashiftd's own job (trigger layout); then
#                      SIGHUP loads a reserve that leaves room for 24 MiB on
#                      node 0, which caps the move back: the event stream
#                      says move-capped and node 0 gets no more than allowed
#   daemon-drift       pages moved behind numashiftd's back (migratepages):
#                      its periodic drift check (sampled) brings them home;
#                      an undisturbed guest causes no job at all
#   daemon-faults      numashiftd SIGKILLed mid-job and started again: the
#                      new daemon's own log shows it tracking the running
#                      domain, and its start job finishes the move; libvirtd
#                      stopped while a job is moving pages (some moved, most
#                      not) and started again: the move goes on, the daemon
#                      reconnects; with one job slot (max-jobs=1), a domain
#                      whose migrate is pending behind another domain's
#                      running move is destroyed: its numashift migrate ends
#                      (exit 4, "domain ... stopped before the job ran")
#                      instead of waiting for ever; then the domain whose
#                      move holds the slot is destroyed once pages have
#                      moved (exit 4, one line); the daemon serves on, the
#                      guest of the first parts is clean
#   daemon-enomem      numashiftd asked to move the guest to node 1 while a
#                      process bound there leaves 32 MiB free: the job ends
#                      "out of memory" (one log line, a job-done event, the
#                      CLI's exit 6 with one line), every page is on node 0
#                      or 1, the daemon goes on serving, and once the room
#                      is back the same request moves the rest; guest clean
#   daemon-planner     (suite planner, on demand: 9 minutes) four guests
#                      with priorities 0, 10, 20, 30 re-pinned
#                      together (lowest first) from node 0 to node 1, which
#                      has room for three: the three highest end local, the
#                      fourth's decision says it stays for node 1's reserve,
#                      node 1's free memory (sampled) never falls under the
#                      reserve; with max-jobs=1, then 2 (issue #14)
#   daemon-migration   (issue #16) a live migration between two libvirtds
#                      in one test host (B in mount and UTS namespaces of
#                      its own), each with its numashiftd: A's running
#                      migrate job is cancelled as the migration begins
#                      (exit 7, "migrating away") and A drops the domain;
#                      B tracks it while its memory arrives (post-copy
#                      after the first pass: it runs on B before all of
#                      it came) and starts no job before the migration
#                      ends there; the guest is clean up to
#                      the migration (after it: QEMU's migration here);
#                      first, a migration cancelled in pre-copy (no event
#                      says so): A frees the domain within seconds, asking
#                      libvirt, not after its 30 s fallback window; the
#                      policy set in the domain's metadata on A (mode off)
#                      is what B's decision reads
#   systemd            (issue #15) the test host boots Debian's systemd as
#                      PID 1 (numa-host --systemd); numashift installed by
#                      meson install runs as the hardened numashiftd.service
#                      (Type=notify: active once it listens; capabilities,
#                      no_new_privs and seccomp as the unit says) beside
#                      libvirtd.service, with QEMU as libvirt-qemu, as
#                      Debian runs it; the hook under /etc/libvirt/hooks/
#                      qemu.d/ reaches the daemon; a re-pin moves the
#                      guest (numa_maps) under that confinement; systemctl
#                      reload reads a new drop-in; the journal has the lines;
#                      without CAP_SYS_PTRACE (a unit drop-in) a migrate
#                      fails and moves nothing, with the unit as shipped
#                      it moves
#   numashift-faults   a node outside a strict domain's nodeset (refused
#                      before any move, exit 5), the kernel's EACCES when the
#                      domain's cgroup cpuset.mems forbids the target behind
#                      libvirt's back (exit 5, nothing moved or marked),
#                      pages KSM merged with a twin guest's (counted and
#                      left, exit 6; moved with --move-shared), and QEMU
#                      killed with SIGKILL mid-job (exit 4, one line)
#
# After every move at least 95% of the guest's RAM pages must be on the
# target node per /proc/PID/numa_maps, and the guest must finish clean.
# Every wait has a deadline and fails saying what it waited for (wait_until,
# wait_pid, bounded: tests/lib/guest.sh); virsh and numashift run under one
# (vm-images/testhost-libvirt, tests/lib/numashift.sh).
# Exit: 0 pass, 1 fail, 77 skip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
src=$(cd "$here/../.." && pwd -P)
case_name=${1:?usage: test-numa.sh CASE}

if [[ ${NUMA_HOST:-0} != 1 ]]; then
	args=(--nodes 2 --mem-per-node 512 --timeout 300 --quiet)
	case $case_name in
	migrate-2node-kvm) args+=(--kvm) ;;
	migrate-4node) args=(--nodes 4 --mem-per-node 256 --timeout 300 --quiet) ;;
	# numashift-shared ends with real VFIO: edu behind an emulated IOMMU.
	numashift-shared) args=(--iommu --nodes 2 --mem-per-node 768 --timeout 300 --quiet) ;;
	libvirt-vcpupin | numashift-migrate | numashift-faults | numashift-hot-first) args=(--nodes 2 --mem-per-node 768 --timeout 300 --quiet) ;;
	daemon-cells | daemon-memnode | daemon-hugetlb | daemon-faults | daemon-drift | daemon-enomem | daemon-migration) args=(--nodes 2 --mem-per-node 768 --timeout 300 --quiet) ;;
	# Its paced move of cell 0 may take up to 150 s (the case).
	daemon-live-map) args=(--nodes 2 --mem-per-node 768 --timeout 420 --quiet) ;;
	daemon-planner) args=(--nodes 2 --mem-per-node 1024 --timeout 600 --quiet) ;;
	systemd) args=(--systemd --nodes 2 --mem-per-node 768 --timeout 400 --quiet) ;;
	# Two pinning moves the pacer may slow to about 100 s each (the case).
	daemon) args=(--nodes 2 --mem-per-node 768 --timeout 420 --quiet) ;;
	soak) args=(--nodes 2 --mem-per-node 768 --timeout 7000 --quiet) ;;
	soak-ci) args=(--nodes 2 --mem-per-node 768 --timeout 800 --quiet) ;;
	demo) args=(--nodes 2 --mem-per-node 1024 --timeout 300 --quiet) ;;
	numashift-4node) args=(--nodes 4 --mem-per-node 512 --timeout 300 --quiet) ;;
	# Nodes of 3 GiB, so that each holds a 1 GiB-aligned block free of the
	# kernel's own early allocations (with 2 GiB nodes the boot-time
	# reservation failed on both), reserved at boot; nokaslr keeps the
	# kernel image in the first GiB (a fresh root's run, another kernel
	# build, found node 0 without its page: KASLR can place the kernel in
	# any block).
	numashift-gigantic) args=(--nodes 2 --mem-per-node 3072 --timeout 300 --quiet
		--kernel-arg nokaslr --kernel-arg hugepagesz=1G --kernel-arg hugepages=0:1,1:1) ;;
	race-*) args=(--nodes 2 --mem-per-node 512 --timeout 1500 --quiet --env "NS_RACE_MOVES=${NS_RACE_MOVES:-}") ;;
	esac
	# The cases about KVM run their domain under nested KVM, as users run
	# their guests: the moves go through KVM's MMU notifier and its NPT, and
	# the KVM counters of the CLI's and the daemon's reports are checked.
	# The other libvirt cases run TCG domains: in this TCG test host nested
	# KVM killed or corrupted guests while they were moved (a fresh-root
	# run, 2026-11-30: a guest's own pass counter turned to garbage in
	# numa-daemon-live-map, an invalid opcode mid-code in
	# numa-daemon-faults), and also with nothing moving; docs/testing.md.
	case $case_name in
	numashift-migrate | numashift-gigantic | daemon | soak | race-kvm* | demo)
		args+=(--kvm --env LV_DOMAIN_TYPE=kvm) ;;
	esac
	# The guest runs on one of its domain's vCPUs under nested KVM, except
	# where several are the point (the race): with both
	# vCPUs running, nested KVM in this TCG test host froze the guest
	# mid-I/O (numa-libvirt-vcpupin: the serial log stopped mid-line, both
	# vCPU threads running, 'q' never answered), crashed it, or stopped the
	# test host several times a day (2026-11-30); with one it passed.
	case $case_name in
	libvirt-vcpupin | numashift-* | daemon* | demo | soak | systemd) args+=(--env LV_GUEST_CPUS=1) ;;
	esac
	# shellcheck source=../lib/test-host.sh
	. "$here/../lib/test-host.sh"
	kvm_host=0
	for a in "${args[@]}"; do [[ $a == --kvm ]] && kvm_host=1; done
	mapfile -t caps_cache < <(lv_caps_cache_args "$kvm_host")
	# Automatic NUMA balancing would move pages behind the test's back.
	run_host() {
		"$src/vm-images/numa-host" "${args[@]}" "${caps_cache[@]}" --numa-balancing 0 \
			--env "NS_BUILD_ROOT=${NS_BUILD_ROOT:?}" -- "$0" "$@"
	}
	rc=0
	run_rig_retry test-numa.sh run_host "$@" || rc=$?
	exit "$rc"
fi

# shellcheck source=../lib/guest.sh
. "$here/../lib/guest.sh"
# shellcheck source=../lib/numashift.sh
. "$here/../lib/numashift.sh"
# shellcheck source=../../vm-images/testhost-libvirt
. "$src/vm-images/testhost-libvirt"
guest_init
mem=64

# move_and_check FROM TO: migratepages the guest's QEMU, check placement,
# then let the guest verify every page at least once more.
move_and_check() {
	local t0 t1
	t0=$EPOCHREALTIME
	bounded 120 "migratepages $GUEST_PID $1 $2" migratepages "$GUEST_PID" "$1" "$2" ||
		fail "migratepages $GUEST_PID $1 $2 failed"
	t1=$EPOCHREALTIME
	say "migratepages $1 -> $2 took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')s"
	assert_on_node "$GUEST_PID" "bind:0" "$2" 95
	guest_wait_more_passes 2 180
}

# run_moves ACCEL NODE...: guest on the first NODE, then moved along the list.
run_moves() {
	local accel=$1 from=$2 to
	shift 2
	mapfile -t ram < <(guest_ram_args "$mem" "$from")
	guest_start "$accel" "$mem" "passes=0" "${ram[@]}"
	guest_wait '^NSGUEST pass=1 ' 240
	# Regression (2026-12-01): a KVM guest here froze mid-line (nested KVM)
	# and the wait ran out with exit 1, not the rig's 125: its QEMU, started
	# without debug-threads, named no thread "CPU 0/KVM", so kvm_froze saw
	# no vCPU at all.  guest.sh names them now; if that comes back, this
	# fails here rather than as a lost CI run.
	if [[ $accel == kvm ]] && ! grep -qx "CPU 0/KVM" /proc/"$GUEST_PID"/task/*/comm; then
		fail "no QEMU thread of the KVM guest is named 'CPU 0/KVM': kvm_froze cannot watch it"
	fi
	assert_on_node "$GUEST_PID" "bind:$from" "$from" 95
	for to in "$@"; do
		move_and_check "$from" "$to"
		from=$to
	done
	guest_finish 120
	finish_clean
}

# finish_clean: QEMU exited through isa-debug-exit with the guest's code 0
# and the guest's own log says clean, zero errors.
finish_clean() {
	local verdict
	verdict=$(guest_verdict "$GUEST_LOG")
	say "guest: verdict=$verdict passes=$(guest_report_field "$GUEST_LOG" passes)" \
		"errors=$(guest_report_field "$GUEST_LOG" errors)" \
		"worst_access_us=$(guest_report_field "$GUEST_LOG" worst_access_us)" \
		"slowest_pass_us=$(guest_report_field "$GUEST_LOG" slowest_pass_us)"
	[[ $verdict == clean ]] || fail "guest verdict $verdict"
	[[ $GUEST_STATUS == 1 ]] || fail "QEMU exited $GUEST_STATUS, not 1 (guest code 0)"
}

# start_daemon CONF-TEXT: numashiftd with that configuration, stopped by
# PID at exit (its log shown); waits until it listens.  Each daemon appends
# to daemon.log; daemon_log_from is where this one's lines begin, and
# daemon_log_has greps those only (a restarted daemon is judged by its own).
start_daemon() {
	printf '%s\n' "$1" >"$GUEST_DIR/numashiftd.conf"
	daemon_log_from=$(stat -c %s "$GUEST_DIR/daemon.log" 2>/dev/null || echo 0)
	"$NS_BUILD_ROOT/hv/daemon/numashiftd" --config "$GUEST_DIR/numashiftd.conf" >>"$GUEST_DIR/daemon.log" 2>&1 &
	daemon_pid=$!
	# The log once, after every daemon has stopped (on_exit runs last in first).
	if [[ -z ${daemon_log_shown:-} ]]; then
		daemon_log_shown=1
		on_exit "sed 's/^/numashiftd: /' '$GUEST_DIR/daemon.log' >&2"
	fi
	on_exit "stop_pid 10 $daemon_pid numashiftd"
	# A SIGKILLed daemon leaves its socket behind: wait for this one's word.
	wait_until 10 "numashiftd (pid $daemon_pid) to listen on its control socket" daemon_listening
}

# The daemon of the cell cases: a job half a second after an event, no
# drift checks, a reserve the test host's nodes can spare.
# reload_daemon CONF-TEXT: the running numashiftd (start_daemon) loads that
# configuration on SIGHUP; waits for this reload's own log line (counted:
# a case may reload more than once).
reload_daemon() {
	local reloads
	reloads=$(_daemon_reloads)
	printf '%s\n' "$1" >"$GUEST_DIR/numashiftd.conf"
	kill -HUP "$daemon_pid"
	wait_until 10 "numashiftd to reload its configuration on SIGHUP" _daemon_reloaded_since "$reloads"
}
_daemon_reloads() { grep -c "configuration reloaded" "$GUEST_DIR/daemon.log" || true; }
_daemon_reloaded_since() { (($(_daemon_reloads) > $1)); }

QUICK_DAEMON_CONF="[daemon]
start-delay-ms=500
drift-interval-s=0
[policy]
reserve-mib=64"

# follow_events FILE: numashiftd's events appended to FILE until the test
# ends (appended: a test may empty FILE to read the next job's alone).
follow_events() {
	"$NUMASHIFT" events >>"$1" 2>&1 &
	on_exit "kill $! 2>/dev/null"
}

# pin_vcpu1_and_wait_decision CPUS: pin vCPU 1 (cell 1's) to CPUS and wait
# for numashiftd's pinning decision on cell 1 in events.log; the decisions
# go to stderr.
pin_vcpu1_and_wait_decision() {
	virsh -q vcpupin nsguest 1 "$1" >/dev/null || fail "vcpupin 1 to CPUs $1 failed"
	wait_diag="cat '$GUEST_DIR/events.log' >&2" \
		wait_until 60 "the pinning job's decision on cell 1" \
		grep -aq "decision (pinning) cell 1:" "$GUEST_DIR/events.log"
	grep -a "decision (pinning) cell" "$GUEST_DIR/events.log" >&2
}

daemon_listening() {
	kill -0 "$daemon_pid" 2>/dev/null || fail "numashiftd (pid $daemon_pid) exited at start-up"
	[[ -S /run/numashift/control.sock ]] && daemon_log_has "numashiftd listening on"
}

# daemon_log_has PATTERN: the running daemon's own lines match PATTERN (grep -E).
daemon_log_has() {
	grep -qE -- "$1" < <(tail -c +"$((daemon_log_from + 1))" "$GUEST_DIR/daemon.log")
}

# wait_vma_on_node PID HVA NODE PERCENT SECS: poll numa_maps until PERCENT % of the VMA is on NODE.
wait_vma_on_node() {
	local on=0 total=0 t0=$EPOCHREALTIME
	local wait_diag="say \"VMA $2: only \$on of \$total pages on node $3\""
	wait_until "$5" "$4% of VMA $2 of pid $1 on node $3" _vma_on_node "$@"
	say "VMA $2: $on of $total pages on node $3 after $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
}

# _vma_on_node PID HVA NODE PERCENT: sets the caller's on and total.
_vma_on_node() {
	read -r on total < <(grep "^$2 " "/proc/$1/numa_maps" | tr ' ' '\n' |
		awk -F= -v n="N$3" '/^N[0-9]+=/ { t += $2; if ($1 == n) o = $2 } END { print o + 0, t + 0 }')
	((total > 0 && on * 100 >= total * $4))
}

# last_job_memmap: how nsguest's last job got its memory map (read, cached).
last_job_memmap() {
	numashift --json jobs | python3 -c 'import json, sys
print(next((j.get("memmap", "?") for j in json.load(sys.stdin)), "no job"))'
}

# memmap_cached: whether numashiftd keeps nsguest's memory map for its next job.
memmap_cached() {
	numashift --json policy nsguest | python3 -c 'import json, sys
sys.exit(0 if json.load(sys.stdin).get("memmap_cached") else 1)'
}
memmap_dropped() { ! memmap_cached; }

# daemon_view DOMAIN: "KIND STATE PENDING" as numashiftd sees DOMAIN: its
# running (or last) job's kind and state ("none none" without one; spaces
# in a state become -) and its pending job (none, migrate, rebalance).
daemon_view() {
	numashift --json policy "$1" | python3 -c 'import json, sys
d = json.load(sys.stdin); j = d.get("job") or {}
print(j.get("kind", "none"), j.get("state", "none").replace(" ", "-"), d.get("pending", "?"))'
}

# job_is DOMAIN KIND STATE: DOMAIN's job is KIND and in STATE.
job_is() { [[ $(daemon_view "$1") == "$2 $3 "* ]]; }

# pending_is DOMAIN KIND: DOMAIN has a pending KIND job.
pending_is() { [[ $(daemon_view "$1") == *" $2" ]]; }

# tracked DOMAIN: numashiftd knows the running DOMAIN.
tracked() { (numashift policy "$1") >/dev/null 2>&1; }

# node_free_mib NODE: the node's free memory (MemFree) in MiB, now.
node_free_mib() { awk '/MemFree/ { print int($4 / 1024) }' "/sys/devices/system/node/node$1/meminfo"; }

# settled_free_mib NODE: the node's free memory in MiB, once two readings
# half a second apart agree within 2 MiB (at most 10 s of waiting).
settled_free_mib() {
	local i now last=-1000
	for ((i = 0; i < 20; i++)); do
		now=$(node_free_mib "$1")
		((now - last <= 2 && last - now <= 2)) && break
		last=$now
		sleep 0.5
	done
	echo "$now"
}

# pages_on PID HVA NODE: pages of the VMA at HVA on NODE.
pages_on() {
	grep "^$2 " "/proc/$1/numa_maps" | tr ' ' '\n' | awk -F= -v n="N$3" '$1 == n { o = $2 } END { print o + 0 }'
}

# more_on PID HVA NODE PAGES: more than PAGES pages of the VMA are on NODE.
more_on() { (($(pages_on "$1" "$2" "$3") > $4)); }

# kvm_deltas_show_notifier WHAT REPORT: the move report (JSON, a file) of WHAT
# shows KVM's MMU notifier at work on a KVM domain: the query-stats deltas
# over the job have remote TLB flushes requested (the notifier zapped the
# guest's NPT entries of the pages that moved; remote_tlb_flush itself
# counts those that had to interrupt a vCPU in guest mode: usually most,
# none when the vCPUs were off their CPUs).  Under TCG there are no KVM
# counters: the report must not claim any.
kvm_deltas_show_notifier() {
	LV_DOMAIN_TYPE=${LV_DOMAIN_TYPE:-qemu} python3 -c 'import json, os, sys
r = json.load(open(sys.argv[2]))
k = r.get("kvm")
if os.environ["LV_DOMAIN_TYPE"] != "kvm":
    assert k is None, "KVM counters claimed for a TCG domain: %r" % (k,)
    sys.exit(0)
assert isinstance(k, dict), "no kvm object in the report: %r" % (r,)
print("%s: KVM counter deltas over %d moved pages: %s" % (sys.argv[1], r["moved_pages"], json.dumps(k)),
      file=sys.stderr)
assert r["moved_pages"] > 0, r
assert k["remote_tlb_flush_requests"] > 0, "no remote TLB flush requested: %r" % (k,)' "$1" "$2" ||
		fail "$1: its KVM counters do not show the notifier at work"
}

# start_two_cell_guest: libvirtd and the guest as a domain of 128 MiB in
# two vNUMA cells, all on node 0 (checked); sets pid, hva0, hva1 (the cells'
# RAM mappings, from numashift's own memmap).
start_two_cell_guest() {
	lv_start
	two_cell_guest_on_node0
}

# two_cell_guest_on_node0 [pinned]: with libvirtd running, the two-cell
# guest as above (LV_MEMORY_BACKING and LV_MEMNODES apply; its numatune is
# TWO_CELL_MODE, default preferred, over TWO_CELL_NODESET, default 0);
# "pinned": both vCPUs pinned to node 0's CPUs first.  Also sets
# node0_cpus and node1_cpus.
two_cell_guest_on_node0() {
	node0_cpus=$(</sys/devices/system/node/node0/cpulist)
	node1_cpus=$(</sys/devices/system/node/node1/cpulist)
	lv_guest_define nsguest 128 "${TWO_CELL_NODESET:-0}" 2 2 "${TWO_CELL_MODE:-preferred}"
	if [[ ${1:-} == pinned ]]; then
		virsh -q vcpupin nsguest 0 "$node0_cpus" --config >/dev/null
		virsh -q vcpupin nsguest 1 "$node0_cpus" --config >/dev/null
	fi
	virsh -q start nsguest >/dev/null || fail "virsh start failed"
	lv_guest_wait nsguest '^NSGUEST pass=1 ' 240
	pid=$(lv_qemu_pid nsguest)
	ns_memmap_json nsguest "$GUEST_DIR/memmap.json"
	hva0=$(ns_cell_hva "$GUEST_DIR/memmap.json" 0) hva1=$(ns_cell_hva "$GUEST_DIR/memmap.json" 1)
	ns_vma_on_node "$pid" "$hva0" 0 95
	ns_vma_on_node "$pid" "$hva1" 0 95
}

case $case_name in
migrate-2node)
	# There and back: the many-move checks are numa-race-tcg's 1000 moves
	# and numa-soak's (seven moves here cost a minute a case).
	run_moves tcg 0 1 0
	;;
migrate-2node-kvm)
	[[ -c /dev/kvm ]] || fail "no /dev/kvm in the test host"
	run_moves kvm 0 1 0
	# The guest's second vCPU starts under KVM (it was the unit test
	# guest-kvm, on this machine's own /dev/kvm, which machines here no
	# longer have: KVM runs in the test host only).
	# It ends by itself (passes=2): a 2-vCPU guest under nested KVM has
	# left 'q' unanswered (docs/testing.md, "Nested KVM"; a fresh root's
	# run on 2026-12-01 timed out on a 'q' here).
	GUEST_SMP=2 guest_start kvm 4 "passes=2"
	guest_wait_exit 120
	finish_clean
	[[ $(guest_report_field "$GUEST_LOG" cpus) == 2 ]] || fail "the guest did not start its second vCPU under KVM"
	;;
migrate-4node)
	run_moves tcg 0 3 1
	;;
guest-hot)
	# The guest's hot= layouts, checked by the soft-dirty bits of what it
	# writes: this machine's own kernel does not track them, Debian's does.
	# THP off in this throw-away test host: 4 KiB soft-dirty grain.
	echo never >/sys/kernel/mm/transparent_hugepage/enabled
	bounded 240 "test-guest.sh hot" "$src/tests/guest/test-guest.sh" hot ||
		fail "test-guest.sh hot exited $?"
	;;
engine-cross-node)
	# The engine's own unit tests of a real move to another node and back,
	# and of a THP split between scan and move (debugfs split_huge_pages),
	# on a host that has two nodes: NS_TEST_REQUIRE_NUMA=1 turns a missing
	# second node, THP or debugfs into a failure (on this machine, one node,
	# they skip).  The test host is thrown away: mounting debugfs is fine.
	prog=$NS_BUILD_ROOT/tests/test-engine
	[[ -x $prog ]] || fail "$prog is not built"
	mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug ||
		fail "cannot mount debugfs"
	for path in /engine/real/cross-node /engine/real/thp-split; do
		rc=0
		NS_TEST_REQUIRE_NUMA=1 LC_ALL=C G_DEBUG=fatal-warnings MALLOC_CHECK_=3 \
			bounded 120 "test-engine -p $path" \
			"$prog" -p "$path" >"$GUEST_DIR/engine.tap" || rc=$?
		sed 's/^/test-engine: /' "$GUEST_DIR/engine.tap" >&2
		((rc == 0)) || fail "test-engine -p $path exited $rc"
		grep -qE "^ok [0-9]+ $path( |\$)" "$GUEST_DIR/engine.tap" ||
			fail "no 'ok' for $path in test-engine's TAP output"
		if grep -q '# SKIP' "$GUEST_DIR/engine.tap"; then fail "$path was skipped in a 2-node test host"; fi
	done
	;;
corrupt)
	mapfile -t ram < <(guest_ram_args "$mem" 0)
	guest_start tcg "$mem" "passes=0" "${ram[@]}"
	guest_wait '^NSGUEST pass=1 ' 240
	move_and_check 0 1
	hva=$(guest_ram_hva "$GUEST_PID" "$mem") || fail "guest RAM mapping not found"
	# Guest-physical 16 MiB is well inside the checked area (above the image
	# and the checker's table); the RAM mapping starts at guest-physical 0.
	addr=$((16#$hva + 16 * 1024 * 1024 + 0x123 * 4))
	printf 'XXXX' | dd of="/proc/$GUEST_PID/mem" bs=1 seek="$addr" conv=notrunc status=none ||
		fail "cannot write to /proc/$GUEST_PID/mem"
	guest_wait_exit 240
	verdict=$(guest_verdict "$GUEST_LOG")
	say "after the write: verdict=$verdict corrupt_addr=$(guest_report_field "$GUEST_LOG" corrupt_addr)"
	[[ $verdict == corrupt ]] || fail "the guest did not notice the corruption (verdict $verdict)"
	[[ $GUEST_STATUS == 3 ]] || fail "QEMU exited $GUEST_STATUS, not 3 (guest code 1)"
	[[ $(guest_report_field "$GUEST_LOG" corrupt_addr) == 0x0100048c ]] ||
		fail "corruption reported at the wrong address"
	;;
libvirt-vcpupin)
	lv_start
	lv_guest_define nsguest 64 0 2
	virsh -q start nsguest >/dev/null || fail "virsh start failed"
	lv_guest_wait nsguest '^NSGUEST pass=1 ' 240
	pid=$(<"/run/libvirt/qemu/nsguest.pid")
	vcpu1_tid=$(lv_vcpu_tid nsguest 1)
	virsh -q vcpupin nsguest 1 0 >/dev/null || fail "virsh vcpupin nsguest 1 0 failed"
	virsh -q vcpupin nsguest 0 1 >/dev/null || fail "virsh vcpupin nsguest 0 1 failed"
	vcpu0_tid=$(lv_vcpu_tid nsguest 0)
	allowed0=$(awk '/^Cpus_allowed_list/ { print $2 }' "/proc/$pid/task/$vcpu0_tid/status")
	allowed1=$(awk '/^Cpus_allowed_list/ { print $2 }' "/proc/$pid/task/$vcpu1_tid/status")
	say "vCPU 0 (tid $vcpu0_tid) allowed on $allowed0, vCPU 1 (tid $vcpu1_tid) on $allowed1"
	[[ $allowed0 == 1 && $allowed1 == 0 ]] || fail "vcpupin did not take effect"
	shown=$(virsh -q vcpupin nsguest | awk '$1 == "0" { print $2 }')
	[[ $shown == 1 ]] || fail "virsh vcpupin shows vCPU 0 on '$shown', not 1"
	ns_guest_stop_clean nsguest 120
	;;
numashift-hot-first)
	# Issue #14: --hot-first moves the pages the guest writes first.  The
	# guest's hot set is its highest quarter (hot=high active=25), which
	# the address order would move last.  A rate-limited move is looked at
	# once a fifth of the guest is on node 1: by then the highest quarter
	# is there, the lowest is not.
	lv_start
	lv_guest_define nsguest 128 0 1 0 preferred qemu "passes=0 active=25 hot=high"
	virsh -q start nsguest >/dev/null || fail "virsh start failed"
	lv_guest_wait nsguest '^NSGUEST pass=2 ' 240
	pid=$(lv_qemu_pid nsguest)
	ns_memmap_json nsguest "$GUEST_DIR/memmap.json"
	hva=$(ns_cell_hva "$GUEST_DIR/memmap.json" -1)
	ns_vma_on_node "$pid" "$hva" 0 95
	# A 2 s sample: the guest rewrites its whole hot set in about one.
	"$NUMASHIFT" --json migrate nsguest --to 1 --rate 4 --hot-first 2000 >"$GUEST_DIR/hot.json" &
	mover=$!
	on_exit "stop_pid 10 $mover numashift-migrate-hot-first"
	wait_until 120 "a fifth of the guest's RAM on node 1" more_on "$pid" "$hva" 1 6500
	# Held while we look (the call in flight ends, no other starts): the
	# look itself takes seconds in a busy test host, and the move went on
	# meanwhile into the cold pages (fresh-root runs, 2026-12-01).
	kill -STOP "$mover"
	mapfile -t q < <(python3 "$src/tests/lib/page-parts.py" node "$pid" "$hva" 128 4 1)
	# The rest at 4 MiB/s would take 25 s more (CI time, issue #9): the
	# rate-limited move is cancelled (exit 6, its report keeps hot_first)
	# and an unlimited one moves the rest.
	kill -INT "$mover"
	kill -CONT "$mover"
	say "--hot-first, a fifth moved: share of each quarter of guest RAM on node 1: ${q[*]} %"
	((q[3] >= 60 && q[0] <= 20)) ||
		fail "--hot-first moved other pages first (${q[*]} % of each quarter on node 1)"
	wait_pid 60 "numashift migrate --hot-first to end after SIGINT" "$mover"
	[[ $WAIT_STATUS == 6 ]] || fail "numashift migrate --hot-first, cancelled, exited $WAIT_STATUS, not 6"
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
h = r["hot_first"]
print("hot_first: %r" % (h,), file=sys.stderr)
assert r["outcome"] == "cancelled", r["outcome"]
assert "error" not in h and h["sample_ms"] == 2000 and h["hot_pages"] >= 4096, h' "$GUEST_DIR/hot.json" ||
		fail "the report's hot_first does not show the hot set"
	"$NUMASHIFT" migrate nsguest --to 1 >/dev/null || fail "numashift migrate --to 1 (the rest) exited $?"
	ns_vma_on_node "$pid" "$hva" 1 95
	ns_guest_stop_clean nsguest 90
	;;
numashift-migrate)
	# Where each vNUMA cell's RAM is, by numa_maps, at the hva numashift's
	# own memmap gives for the cell's backend.
	start_two_cell_guest
	cell_on_node() { ns_vma_on_node "$pid" "$@"; }

	numashift --json migrate nsguest --to 1 >"$GUEST_DIR/migrate.json" ||
		fail "numashift migrate --to 1 exited $?"
	cell_on_node "$hva0" 1 95
	kvm_deltas_show_notifier "numashift migrate --to 1" "$GUEST_DIR/migrate.json"
	cell_on_node "$hva1" 1 95
	moved=$(ns_status_percent nsguest 1)
	((moved >= 95)) || fail "numashift status puts only $moved% on node 1"
	lv_guest_wait nsguest "^NSGUEST pass=$(($(grep -c '^NSGUEST pass=' "$LV_GUEST_LOG") + 2)) " 240

	numashift migrate nsguest --cell 0 --to 0 || fail "numashift migrate --cell 0 --to 0 exited $?"
	cell_on_node "$hva0" 0 95
	cell_on_node "$hva1" 1 95

	# Cancel: a slow move of cell 1 back to node 0, interrupted.
	# Regression (CI, 2026-11-30): "a cancelled move exited 0, not 6".  The
	# test sent SIGINT 2 s after starting a rate-limited move; numashift was
	# still setting up (libvirt, QMP, the scan: slow in the test host) and
	# installed its SIGINT watch only when the engine started, so the signal
	# met the SIG_IGN a background job inherits and the move ran to its end.
	# The watch now comes before the set-up: a SIGINT as soon as it is caught
	# (SigCgt) cancels, exit 6, "cancelled".  If that breaks again, the move
	# runs on and this exits 0.
	"$NUMASHIFT" migrate nsguest --cell 1 --to 0 --rate 8 >"$GUEST_DIR/early-cancel.out" &
	mover=$!
	catches_sigint() { local m; m=$(awk '/^SigCgt:/ { print $2 }' "/proc/$1/status") && ((0x$m & 2)); }
	wait_until 30 "numashift migrate to catch SIGINT" catches_sigint "$mover"
	kill -INT "$mover"
	wait_pid 60 "numashift migrate to end after a SIGINT during its set-up" "$mover"
	[[ $WAIT_STATUS == 6 ]] || fail "a move cancelled during its set-up exited $WAIT_STATUS, not 6: $(<"$GUEST_DIR/early-cancel.out")"
	grep -q '^cancelled' "$GUEST_DIR/early-cancel.out" || fail "the early-cancel report does not say cancelled: $(<"$GUEST_DIR/early-cancel.out")"

	# SIGINT once pages are moving: the set-up (libvirt, QMP, the scan) may
	# take seconds in the test host, and the check below wants cell 1 split.
	base=$(pages_on "$pid" "$hva1" 0)
	"$NUMASHIFT" migrate nsguest --cell 1 --to 0 --rate 8 >"$GUEST_DIR/cancel.out" &
	mover=$!
	wait_diag="cat '$GUEST_DIR/cancel.out' >&2" \
		wait_until 60 "the rate-limited move of cell 1 to be moving pages to node 0" \
		more_on "$pid" "$hva1" 0 $((base + 512))
	kill -INT "$mover"
	wait_pid 30 "numashift migrate --cell 1 to end after SIGINT" "$mover"
	rc=$WAIT_STATUS
	cat "$GUEST_DIR/cancel.out" >&2
	[[ $rc == 6 ]] || fail "a cancelled move exited $rc, not 6"
	grep -q '^cancelled' "$GUEST_DIR/cancel.out" || fail "the report does not say cancelled"
	numashift --json status nsguest | python3 -c 'import json,sys
c=json.load(sys.stdin)["cells"][1]; n=c["nodes"]
split=n.get("0",{"pages":0})["pages"], n.get("1",{"pages":0})["pages"]
assert c["migrating_pages"] == 0 and c["failed_pages"] == 0, c
assert sum(split) == c["present_pages"] and 0 < split[0] and 0 < split[1], split
print("cell 1 after cancel: node0=%d node1=%d pages" % split, file=sys.stderr)' ||
		fail "cell 1 is not split between nodes 0 and 1 after the cancel"

	ns_guest_stop_clean nsguest 90
	;;
daemon-cells)
	lv_start
	start_daemon "$QUICK_DAEMON_CONF"
	follow_events "$GUEST_DIR/events.log"
	# Slots for a DIMM, and memory allocated up front (the guest never
	# touches a DIMM it does not know: without it nothing would be there
	# to move).
	LV_MAX_MEMORY_MIB=1024 LV_MEMORY_BACKING="<memoryBacking><allocation mode='immediate'/></memoryBacking>" \
		two_cell_guest_on_node0 pinned

	# vCPU 1 is cell 1's only vCPU: its cell follows it, cell 0 stays.
	# (Issue #10, found here: a pinning job that decided from numashiftd's
	# live map alone saw the memory as never touched, since the start job
	# scanned before the guest touched it, and moved nothing.  A decision
	# on a fresh live map now weighs a fresh sample; if that comes back,
	# cell 1 stays on node 0 and this wait fails.)
	virsh -q vcpupin nsguest 1 "$node1_cpus" >/dev/null || fail "vcpupin 1 failed"
	wait_vma_on_node "$pid" "$hva1" 1 90 60
	ns_vma_on_node "$pid" "$hva0" 0 95
	grep -q "decision (pinning) cell 1: move:" "$GUEST_DIR/events.log" || fail "no move decision for cell 1"
	grep -q "decision (pinning) cell 0: in-place:" "$GUEST_DIR/events.log" || fail "cell 0 was not left in place"
	# The start job read the memory map over QMP; the pinning job rechecked
	# that one against /proc/PID/maps instead.
	[[ $(last_job_memmap) == cached ]] || fail "the pinning job did not reuse the memory map ($(last_job_memmap))"
	memmap_cached || fail "no memory map kept after the pinning job"
	# Issue #13: a DIMM plugged into cell 1.  libvirt's device-added event
	# drops the kept map; the DIMM's memory (its backend memdimm0, placed by
	# the domain's numatune on node 0) belongs to cell 1, whose vCPU runs
	# on node 1, so numashiftd's own look after the layout change (start-
	# delay-ms later, trigger layout; no rebalance asked for, and drift
	# checks are off here) moves it there.
	virsh -q attach-device nsguest /dev/stdin --live >/dev/null \
		<<<"<memory model='dimm'><target><size unit='MiB'>32</size><node>1</node></target></memory>" ||
		fail "virsh attach-device (a 32 MiB DIMM in cell 1) failed"
	wait_until 10 "numashiftd to drop nsguest's memory map after a DIMM was plugged in" memmap_dropped
	ns_memmap_json nsguest "$GUEST_DIR/memmap-dimm.json"
	dimm_hva=$(python3 -c 'import json, sys
r = [r for r in json.load(open(sys.argv[1]))["ranges"] if r["backend"] == "memdimm0"]
assert r and all(x["cell"] == 1 for x in r), r
print(hex(min(x["hva"] for x in r))[2:])' "$GUEST_DIR/memmap-dimm.json") ||
		fail "numashift memmap does not put the DIMM (memdimm0) in cell 1: $(<"$GUEST_DIR/memmap-dimm.json")"
	wait_diag="cat '$GUEST_DIR/events.log' >&2" wait_vma_on_node "$pid" "$dimm_hva" 1 95 60
	ns_vma_on_node "$pid" "$hva0" 0 95
	wait_until 30 "nsguest's rebalance job to end" job_is nsguest rebalance done
	grep -aq "decision (layout) cell 1: move:" "$GUEST_DIR/events.log" ||
		fail "the DIMM did not move in numashiftd's own job after the layout change (trigger layout)"
	[[ $(last_job_memmap) == read ]] || fail "the job after the hotplug did not read the memory map again ($(last_job_memmap))"

	# Reserve: the running daemon reloads (SIGHUP) a reserve that leaves
	# 24 MiB of room on node 0, then cell 1 is pinned back there: the move
	# is capped.  Measured with the daemon settled, right before the reload:
	# a daemon exiting or starting in between frees or takes tens of MiB,
	# which once turned the cap into a whole move (CI, session 7).
	free0=$(settled_free_mib 0)
	reserve=$((free0 - 24))
	say "node 0 has $free0 MiB free: reserve $reserve MiB leaves 24 MiB"
	before=$(pages_on "$pid" "$hva1" 0)
	reload_daemon "[daemon]
start-delay-ms=60000
drift-interval-s=0
[policy]
reserve-mib=$reserve
min-remote-mib=4"
	follow_events "$GUEST_DIR/events2.log"
	sleep 1
	virsh -q vcpupin nsguest 1 "$node0_cpus" >/dev/null || fail "vcpupin 1 (back) failed"
	wait_diag="cat '$GUEST_DIR/events2.log' >&2" \
		wait_until 60 "the job-done event of cell 1's capped move back to node 0" \
		grep -q "job-done" "$GUEST_DIR/events2.log"
	cat "$GUEST_DIR/events2.log" >&2
	say "node 0 has $(settled_free_mib 0) MiB free after the move"
	grep -q "decision (pinning) cell 1: move-capped:" "$GUEST_DIR/events2.log" || fail "the decision was not move-capped"
	after=$(pages_on "$pid" "$hva1" 0)
	# The policy read node 0's free memory again: its cap is the allowance.
	cap=$(grep -o 'capped to [0-9]* MiB' "$GUEST_DIR/events2.log" | head -1 | tr -dc 0-9)
	moved_kib=$(((after - before) * 4))
	say "cell 1: $((after - before)) pages moved to node 0 under a cap of ${cap:-?} MiB (24 MiB left above the reserve when measured)"
	[[ -n $cap ]] && ((cap >= 4 && cap < 64)) || fail "the cap '${cap:-none}' is not a part of cell 1's 64 MiB"
	((after > before && moved_kib <= cap * 1024)) || fail "the capped move put $moved_kib KiB on node 0, allowed ${cap} MiB"

	ns_guest_stop_clean nsguest 90
	;;
daemon-memnode)
	# Issue #13, safety first: OpenStack Nova binds each vNUMA cell to a
	# host node (<memnode mode='strict'>, QEMU's backend policy bind).  A
	# cell moved outside its bind would stay there while every page the
	# guest faults in afterwards lands back on the bound node: numashiftd
	# and the CLI leave it and say why.  With 'restrictive' (no bind on the
	# backend, cpuset.mems only) the same re-pin moves it.
	lv_start
	start_daemon "$QUICK_DAEMON_CONF"
	follow_events "$GUEST_DIR/events.log"
	LV_MEMNODES="0:strict:0 1:strict:0" two_cell_guest_on_node0 pinned
	memdev=$(virsh qemu-monitor-command nsguest '{"execute":"query-memdev"}') ||
		fail "query-memdev failed"
	say "QEMU's memory backends: $memdev"
	python3 -c 'import json, sys
b = {m["id"]: m for m in json.loads(sys.argv[1])["return"]}
assert b["ram-node1"]["policy"] == "bind" and b["ram-node1"]["host-nodes"] == [0], b' "$memdev" ||
		fail "QEMU did not bind cell 1's backend to node 0"

	pin_vcpu1_and_wait_decision "$node1_cpus"
	grep -aq "decision (pinning) cell 1: not-allowed: .*cell 1 is bound to nodes 0 (numatune memnode strict)" \
		"$GUEST_DIR/events.log" || fail "cell 1's decision does not say that its memnode binds it to node 0"
	wait_until 60 "nsguest's pinning job to end with nothing to do" job_is nsguest rebalance nothing-to-do
	numashift --json policy nsguest | python3 -c 'import json, sys
d = json.load(sys.stdin)["job"]["decisions"]
c1 = next(x for x in d if x["cell"] == 1)
assert c1["reason"] == "not-allowed" and "memnode strict" in c1["message"], c1' ||
		fail "numashift policy nsguest does not show why cell 1 stays"
	# ... and so does plain `numashift status`, without --json.
	out=$(numashift status nsguest) || fail "numashift status nsguest failed"
	grep -q "^  cell 1: not-allowed: .*memnode strict" <<<"$out" ||
		fail "numashift status nsguest does not say why cell 1 stays: $out"
	ns_vma_on_node "$pid" "$hva1" 0 95

	# The operator's own move of the bound cell (or of the whole guest) is
	# refused before anything moves: exit 5, one line on stderr saying why
	# (stdout has the daemon's job-done event).
	for scope in "--cell 1" ""; do
		rc=0
		# shellcheck disable=SC2086 # $scope is zero or two words
		out=$(numashift migrate nsguest --to 1 $scope 2>&1 >/dev/null) || rc=$?
		say "numashift migrate nsguest --to 1 $scope: exit $rc: $out"
		((rc == 5)) || fail "migrate --to 1 $scope of a strictly bound cell exited $rc, not 5"
		[[ $(wc -l <<<"$out") == 1 && $out == *"is bound to nodes 0 (numatune memnode strict)"* ]] ||
			fail "migrate --to 1 $scope did not say in one line that the cell is bound"
	done
	ns_vma_on_node "$pid" "$hva1" 0 95
	ns_vma_on_node "$pid" "$hva0" 0 95
	lv_guest_stop nsguest 90
	[[ $(guest_verdict "$LV_GUEST_LOG") == clean ]] || fail "guest verdict $(guest_verdict "$LV_GUEST_LOG")"

	# restrictive (libvirt wants it on <memory> and every <memnode>): the
	# cells may use the domain's nodes 0-1, and cell 1 follows its vCPU.
	: >"$GUEST_DIR/events.log"
	virsh -q undefine nsguest >/dev/null || fail "virsh undefine nsguest failed"
	TWO_CELL_MODE=restrictive TWO_CELL_NODESET=0-1 LV_MEMNODES="0:restrictive:0 1:restrictive:0" \
		two_cell_guest_on_node0 pinned
	virsh -q vcpupin nsguest 1 "$node1_cpus" >/dev/null || fail "vcpupin 1 failed"
	wait_diag="cat '$GUEST_DIR/events.log' >&2" wait_vma_on_node "$pid" "$hva1" 1 90 60
	grep -a "decision (pinning) cell 1:" "$GUEST_DIR/events.log" >&2
	grep -aq "decision (pinning) cell 1: move:" "$GUEST_DIR/events.log" || fail "no move decision for cell 1"
	ns_vma_on_node "$pid" "$hva0" 0 95
	ns_guest_stop_clean nsguest 90
	;;
numashift-shared)
	# Issue #13: guest memory that another process maps too (share=on, as a
	# vhost-user backend maps it).  move_pages(2) leaves such pages with
	# EACCES: numashift says they are shared and names the other process,
	# and exits 6 with the pages where they were; --move-shared
	# (MPOL_MF_MOVE_ALL) moves them, for every process that maps them.
	lv_start
	LV_MEMORY_BACKING="<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>" \
		two_cell_guest_on_node0
	# The other process: maps every memfd of QEMU's and reads each page once,
	# so each page is in its page tables too (mapped twice: move_pages'
	# MPOL_MF_MOVE refuses it).
	python3 -c 'import mmap, os, sys, time
pid = sys.argv[1]
maps = []
for fd in os.listdir(f"/proc/{pid}/fd"):
    path = f"/proc/{pid}/fd/{fd}"
    try:
        if not os.readlink(path).startswith("/memfd:"):
            continue
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                continue
            m = mmap.mmap(f.fileno(), size, mmap.MAP_SHARED, mmap.PROT_READ)
    except OSError:
        continue
    total = sum(m[i] for i in range(0, size, 4096))
    maps.append(m)
print(len(maps), flush=True)
time.sleep(3600)' "$pid" >"$GUEST_DIR/mapper.out" &
	mapper=$!
	on_exit "kill $mapper 2>/dev/null"
	wait_until 60 "the mapper to map QEMU's memfds" test -s "$GUEST_DIR/mapper.out"
	(($(<"$GUEST_DIR/mapper.out") >= 2)) || fail "the mapper mapped $(<"$GUEST_DIR/mapper.out") memfds, not 2"
	say "the mapper (pid $mapper) maps QEMU's memfds"

	rc=0
	out=$(numashift migrate nsguest --to 1) || rc=$?
	printf '%s\n' "$out" >&2
	((rc == 6)) || fail "moving shared memory without --move-shared exited $rc, not 6"
	[[ $out == *"shared with another process, left where they are: "*" pages (mapped also by pid $mapper (python3)); --move-shared"* ]] ||
		fail "the report does not name the mapper (pid $mapper, python3) of the shared pages"
	ns_vma_on_node "$pid" "$hva0" 0 95
	ns_vma_on_node "$pid" "$hva1" 0 95

	numashift migrate nsguest --to 1 --move-shared >&2 ||
		fail "numashift migrate --to 1 --move-shared exited $?"
	ns_vma_on_node "$pid" "$hva0" 1 95
	ns_vma_on_node "$pid" "$hva1" 1 95
	# The same pages, seen from the other process: moved for it as well.
	python3 -c 'import sys
on = total = 0
for line in open(f"/proc/{sys.argv[1]}/numa_maps"):
    if "memfd" not in line:
        continue
    for f in line.split():
        if f[0] == "N" and "=" in f:
            n, c = f[1:].split("=")
            total += int(c)
            on += int(c) if n == "1" else 0
assert total > 0 and on * 100 >= total * 95, (on, total)
print(f"the mapper sees {on} of {total} pages on node 1")' "$mapper" >&2 ||
		fail "the mapper's view of the memfds is not on node 1"
	kill "$mapper"

	# Pinned for good: ns-pin-helper registers the first 2 MiB of each of
	# the guest's memfds as io_uring fixed buffers, a long-term pin
	# (FOLL_LONGTERM) as VFIO takes for a device's DMA, the closest real one
	# without an IOMMU here (docs/testing.md).  The kernel stays busy on
	# those pages: numashift moves the rest, reports them pinned and leaves
	# them after a pass that moves nothing more, exits 6.
	coproc PIN { exec "$NS_BUILD_ROOT/tests/ns-pin-helper" "$pid" 2; }
	pinner=$PIN_PID
	on_exit "kill $pinner 2>/dev/null"
	line=
	read -r -t 60 line <&"${PIN[0]}" || true
	[[ $line == "pinned "* ]] || fail "ns-pin-helper did not pin the guest's memory ('$line')"
	say "ns-pin-helper (pid $pinner): $line"
	rc=0
	out=$(numashift migrate nsguest --to 0 --move-shared) || rc=$?
	printf '%s\n' "$out" >&2
	((rc == 6)) || fail "moving partly pinned memory exited $rc, not 6"
	# 2 MiB of each cell: 1024 pages, less those the guest never touched
	# (absent when the job scanned, so never submitted; all in the low
	# 2 MiB of cell 0: with qboot as the firmware, 212 of them, where
	# SeaBIOS's own use of low memory left fewer and "more than 900" held;
	# a fresh root's run on 2026-12-01 failed on that literal).
	[[ $out =~ "failed with Device or resource busy: "([0-9]+)" pages" ]] && pinned=${BASH_REMATCH[1]} &&
		[[ $out =~ "never touched "([0-9]+) ]] && untouched=${BASH_REMATCH[1]} &&
		((pinned >= 1024 - untouched && pinned <= 1024)) && [[ $out == *"unmovable: "*", pinned"* ]] ||
		fail "the report does not say that the pages pinned (2 MiB of each cell) are pinned"
	ns_vma_on_node "$pid" "$hva0" 0 95
	ns_vma_on_node "$pid" "$hva1" 0 95
	kill "$pinner"

	# Issue #13: real device assignment.  The test host has an emulated
	# Intel IOMMU and QEMU's edu PCI device in its own IOMMU group
	# (numa-host --iommu).  Hot-plugged into the running domain as a
	# managed <hostdev>, libvirt binds it to vfio-pci and QEMU maps all
	# guest RAM for its DMA: VFIO's type1 driver pins every page.  Such
	# memory cannot move: numashift says so before it tries, through the
	# CLI and in numashiftd's decision, and nothing moves.
	edu=
	for dev in /sys/bus/pci/devices/*; do
		[[ $(<"$dev/vendor"):$(<"$dev/device") == 0x1234:0x11e8 ]] && edu=${dev##*/}
	done
	[[ -n $edu ]] || fail "the test host has no edu device (1234:11e8): not booted with --iommu?"
	[[ -e /sys/bus/pci/devices/$edu/iommu_group ]] || fail "edu $edu is in no IOMMU group"
	locked_kib() { awk '/^VmLck:/ { print $2 }' "/proc/$pid/status"; }
	(($(locked_kib) < 1024)) || fail "QEMU has $(locked_kib) KiB locked before any device is assigned"

	[[ $edu =~ ^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$ ]] || fail "edu's address $edu"
	hostdev="<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x${BASH_REMATCH[1]}' bus='0x${BASH_REMATCH[2]}' slot='0x${BASH_REMATCH[3]}' function='0x${BASH_REMATCH[4]}'/></source></hostdev>"
	virsh -q attach-device nsguest /dev/stdin --live <<<"$hostdev" >/dev/null ||
		fail "virsh attach-device of edu $edu failed"
	[[ $(readlink "/sys/bus/pci/devices/$edu/driver") == */vfio-pci ]] ||
		fail "libvirt did not bind edu $edu to vfio-pci"
	# VFIO counts the pages it pins in the process's locked memory.
	locked=$(locked_kib)
	((locked >= 128 * 1024)) || fail "QEMU has $locked KiB locked with edu assigned, less than the guest's 128 MiB"
	say "edu $edu assigned to nsguest through vfio-pci: QEMU has $locked KiB pinned (VmLck)"

	# The pin is real: the kernel's own migrate_pages(2) (numactl's
	# migratepages) leaves the guest's pages where they are.
	migratepages "$pid" 0 1 || fail "migratepages exited $?"
	ns_vma_on_node "$pid" "$hva0" 0 95
	ns_vma_on_node "$pid" "$hva1" 0 95

	# numashift does not try: exit 1, one line on stderr, nothing moved.
	for scope in "--cell 1" ""; do
		rc=0
		# shellcheck disable=SC2086 # $scope is zero or two words
		out=$(numashift migrate nsguest --to 1 $scope --move-shared 2>&1 >/dev/null) || rc=$?
		say "numashift migrate nsguest --to 1 $scope: exit $rc: $out"
		((rc == 1)) || fail "migrate --to 1 $scope of a guest with an assigned device exited $rc, not 1"
		[[ $(wc -l <<<"$out") == 1 && $out == *"guest memory is pinned by device assignment (hostdev pci 0000:00:"*"): it cannot move"* ]] ||
			fail "migrate --to 1 $scope did not say in one line that device assignment pins the guest's memory"
	done
	# numashiftd, started now, tracks the running domain: its start job's
	# decision for each cell says why the cell stays, and nothing moves.
	start_daemon "$QUICK_DAEMON_CONF"
	wait_until 60 "numashiftd's start job for nsguest to end with nothing to do" \
		job_is nsguest rebalance nothing-to-do
	for cell in 0 1; do
		daemon_log_has "domain nsguest cell $cell: guest memory is pinned by device assignment \(hostdev pci 0000:00:[0-9a-f.]+\): it cannot move \(pinned; trigger start\)" ||
			fail "numashiftd's decision for cell $cell does not say that device assignment pins it"
	done
	ns_vma_on_node "$pid" "$hva0" 0 95
	ns_vma_on_node "$pid" "$hva1" 0 95
	ns_guest_stop_clean nsguest 90
	;;
numashift-gigantic)
	# Issue #13: a guest on a 1 GiB hugetlbfs page (-cpu max has pdpe1gb;
	# the test host reserves one such page per node at boot).  numashift
	# moves it whole, alone in its move_pages() call, and says how long
	# that call took: a vCPU touching the page waited as long.
	pool1g=hugepages/hugepages-1048576kB
	for n in 0 1; do
		# Reserved at boot; else once more now, from free memory.
		[[ $(<"/sys/devices/system/node/node$n/$pool1g/free_hugepages") == 1 ]] ||
			echo 1 >"/sys/devices/system/node/node$n/$pool1g/nr_hugepages" || true
		[[ $(<"/sys/devices/system/node/node$n/$pool1g/free_hugepages") == 1 ]] ||
			fail "node $n has no free 1 GiB page (hugepagesz=1G hugepages=0:1,1:1 at boot, nor one made now)"
	done
	mkdir -p /dev/hugepages1G
	mount -t hugetlbfs -o pagesize=1G none /dev/hugepages1G || fail "cannot mount a 1 GiB hugetlbfs"
	on_exit "umount /dev/hugepages1G"
	lv_start
	# One vNUMA cell of 1 GiB (a backend holds whole pages); the guest
	# rewrites a tenth of it per pass.
	LV_MEMORY_BACKING="<memoryBacking><hugepages><page size='1' unit='GiB'/></hugepages></memoryBacking>" \
		lv_guest_define nsguest 1024 0 2 1 preferred "${LV_DOMAIN_TYPE:-qemu}" "passes=0 cpus=1 active=10"
	virsh -q start nsguest >/dev/null || fail "virsh start failed"
	lv_guest_wait nsguest '^NSGUEST pass=1 ' 240
	pid=$(lv_qemu_pid nsguest)
	grep -q "kernelpagesize_kB=1048576" "/proc/$pid/numa_maps" || fail "the guest's RAM is not on a 1 GiB page"
	ns_memmap_json nsguest "$GUEST_DIR/memmap.json"
	hva0=$(ns_cell_hva "$GUEST_DIR/memmap.json" 0)
	ns_vma_on_node "$pid" "$hva0" 0 95

	rc=0
	out=$(numashift migrate nsguest --to 1) || rc=$?
	printf '%s\n' "$out" >&2
	((rc == 0)) || fail "numashift migrate --to 1 of a 1 GiB page exited $rc"
	[[ $out == *"1 GiB pages: 1 move_pages() call(s), one page each; the longest took "* ]] ||
		fail "the report does not say that the 1 GiB page moved alone, and how long that took"
	ns_vma_on_node "$pid" "$hva0" 1 95
	[[ $(<"/sys/devices/system/node/node0/$pool1g/free_hugepages") == 1 &&
		$(<"/sys/devices/system/node/node1/$pool1g/free_hugepages") == 0 ]] ||
		fail "the 1 GiB pools are not as a move to node 1 leaves them"
	lv_guest_wait nsguest "^NSGUEST pass=$(($(grep -c '^NSGUEST pass=' "$LV_GUEST_LOG") + 2)) " 240
	ns_guest_stop_clean nsguest 120
	;;
daemon-hugetlb)
	# Issue #13: a guest backed by 2 MiB hugetlbfs pages.  The CLI moves it
	# whole (every huge page, none "failed": a range that starts inside a
	# huge page asks for it by its first byte), and numashiftd's room on a
	# node is that node's free 2 MiB pages, never MemFree: an empty pool
	# moves nothing and says so, a small one caps the move.
	mkdir -p /dev/hugepages
	mount -t hugetlbfs none /dev/hugepages || fail "cannot mount hugetlbfs"
	on_exit "umount /dev/hugepages"
	pool() { echo "$2" >"/sys/devices/system/node/node$1/hugepages/hugepages-2048kB/nr_hugepages"; }
	free_pages() { cat "/sys/devices/system/node/node$1/hugepages/hugepages-2048kB/free_hugepages"; }
	pool 0 80
	pool 1 80
	lv_start
	start_daemon "$QUICK_DAEMON_CONF"
	follow_events "$GUEST_DIR/events.log"
	LV_MEMORY_BACKING="<memoryBacking><hugepages><page size='2048' unit='KiB'/></hugepages></memoryBacking>" \
		two_cell_guest_on_node0 pinned
	grep -q "kernelpagesize_kB=2048" "/proc/$pid/numa_maps" || fail "the guest's RAM is not on 2 MiB hugetlbfs pages"

	numashift --json migrate nsguest --to 1 >"$GUEST_DIR/move.json" || fail "migrate --to 1 exited $?"
	# Through numashiftd: JSON events, the job-done one carries the report.
	python3 -c 'import json, sys
events = [json.loads(l)["body"] for l in open(sys.argv[1]) if l.strip()]
r = [e for e in events if e.get("event") == "job-done"][0]["job"]["report"]
print("hugetlbfs guest to node 1: moved %d pages (%d huge), failed %d, %s" % (r["moved_pages"], r["moved_huge"], r["failed_pages"], r["failed_by_errno"]), file=sys.stderr)
assert r["outcome"] == "done" and r["failed_pages"] == 0 and r["remaining_pages"] == 0, r' "$GUEST_DIR/move.json" ||
		fail "the move of the hugetlbfs guest did not end clean"
	ns_vma_on_node "$pid" "$hva0" 1 100
	ns_vma_on_node "$pid" "$hva1" 1 100

	# Node 0's pool emptied, then the vCPUs (pinned to node 0) re-pinned
	# there: both cells stay, the decision names the pool.
	pool 0 0
	say "free 2 MiB pages: node 0 $(free_pages 0), node 1 $(free_pages 1)"
	pin_vcpu1_and_wait_decision "$node0_cpus"
	grep -aq "decision (pinning) cell 1: reserve: .*node 0 has 0 free 2 MiB pages; cell 1 needs 32" \
		"$GUEST_DIR/events.log" || fail "cell 1's decision does not name node 0's empty pool"
	wait_until 60 "nsguest's pinning job to end with nothing to do" job_is nsguest rebalance nothing-to-do
	ns_vma_on_node "$pid" "$hva1" 1 100
	# The operator's move there is refused before anything moves: exit 1.
	rc=0
	out=$(numashift migrate nsguest --to 0 --cell 1 2>&1 >/dev/null) || rc=$?
	say "numashift migrate nsguest --to 0 --cell 1 (empty pool): exit $rc: $out"
	((rc == 1)) && [[ $out == *"node 0 has 0 free 2 MiB pages; cell 1 needs 32: nothing moved"* ]] ||
		fail "the move into an empty pool was not refused in one line"
	ns_vma_on_node "$pid" "$hva1" 1 100

	# 40 free pages: cell 0 takes 32, cell 1 the 8 left (16 MiB, capped).
	pool 0 40
	: >"$GUEST_DIR/events.log"
	virsh -q vcpupin nsguest 1 "$node0_cpus" >/dev/null || fail "vcpupin 1 (again) failed"
	wait_diag="cat '$GUEST_DIR/events.log' >&2" \
		wait_until 60 "the job-done event of the capped move" grep -aq "job-done" "$GUEST_DIR/events.log"
	grep -a "decision (pinning) cell\|job-done" "$GUEST_DIR/events.log" >&2
	grep -aq "decision (pinning) cell 0: move:" "$GUEST_DIR/events.log" || fail "cell 0 did not move"
	grep -aq "decision (pinning) cell 1: move-capped: .*node 0 has 8 free 2 MiB pages; cell 1 needs 32: capped to 16 MiB" \
		"$GUEST_DIR/events.log" || fail "cell 1's move was not capped to node 0's 8 free pages"
	ns_vma_on_node "$pid" "$hva0" 0 100
	on0=$(pages_on "$pid" "$hva1" 0)
	say "cell 1: $on0 of 32 huge pages on node 0; node 0 has $(free_pages 0) free"
	((on0 > 0 && on0 <= 8)) || fail "cell 1 has $on0 huge pages on node 0, allowed 8"
	ns_guest_stop_clean nsguest 90
	;;
daemon-enomem)
	lv_start
	start_daemon "[daemon]
start-delay-ms=60000
drift-interval-s=0
[policy]
mode=off"
	follow_events "$GUEST_DIR/events.log"
	lv_guest_define nsguest 128 0 2
	virsh -q start nsguest >/dev/null || fail "virsh start failed"
	lv_guest_wait nsguest '^NSGUEST pass=1 ' 240
	pid=$(lv_qemu_pid nsguest)
	hva=$(guest_ram_hva "$pid" 128) || fail "guest RAM mapping not found"
	ns_vma_on_node "$pid" "$hva" 0 95
	# Node 1 filled by anonymous memory bound there (no swap: the kernel
	# cannot make room by reclaiming it) until 16 MiB stay free above its
	# reserve: far less than the guest's 128 MiB.
	sync
	echo 3 >/proc/sys/vm/drop_caches
	numactl --membind=1 python3 "$here/../lib/fill-node.py" 1 16 >"$GUEST_DIR/hog.out" &
	hog_pid=$!
	on_exit "kill $hog_pid 2>/dev/null"
	wait_diag="kill -0 $hog_pid 2>/dev/null || say 'pid $hog_pid is gone'; dmesg | grep -i 'killed process' | tail -2 >&2"
	wait_until 60 "the process filling node 1 (pid $hog_pid) to leave 16 MiB above the reserve free" grep -q ready "$GUEST_DIR/hog.out"
	wait_diag=
	say "node 1: $(settled_free_mib 1) MiB free; pid $hog_pid: $(<"$GUEST_DIR/hog.out")"
	ns_expect_exit 6 "migrate to a full node" "$NUMASHIFT" migrate nsguest --to 1
	grep -q "migrate job [0-9]* (trigger request[^)]*) ended: out of memory: host node 1 ran out of memory" "$GUEST_DIR/daemon.log" ||
		fail "no 'ended: out of memory' line in the daemon's log"
	grep -q "job-done: migrate out of memory" "$GUEST_DIR/events.log" ||
		fail "no job-done event saying out of memory"
	moved=$(pages_on "$pid" "$hva" 1)
	left=$(pages_on "$pid" "$hva" 0)
	say "after ENOMEM: $moved pages on node 1, $left on node 0"
	((moved + left == 32768 && left > 0)) || fail "pages neither on node 0 nor on 1, or none left behind ($moved + $left)"
	# The daemon serves on; with the room back, the same request completes.
	numashift status nsguest >/dev/null || fail "numashift status failed after the ENOMEM job"
	kill "$hog_pid"
	wait_pid 30 "the process filling node 1 (pid $hog_pid) to exit on SIGTERM" "$hog_pid"
	numashift migrate nsguest --to 1 >/dev/null || fail "the move after the room came back failed"
	ns_vma_on_node "$pid" "$hva" 1 95
	cat "$GUEST_DIR/events.log" >&2
	ns_guest_stop_clean nsguest 90
	;;
daemon-planner)
	# Issue #14: four guests on node 0, all re-pinned at once to node 1,
	# which has room for three (a reserve that leaves 3 x 96 MiB + 40: what
	# is left for the fourth is far under the 90 MiB minimum of a move, and
	# node 1's free memory moves by tens of MiB as QEMU and the kernel
	# allocate and free there: 64 MiB guests with 8 MiB to spare let the
	# fourth in once, 2026-12-01).
	# The three with the highest priority must end local, the fourth stays
	# remote with a reserve decision that says why, node 1's free memory
	# never falls under the reserve (sampled every 0.2 s throughout), with
	# max-jobs=1 and then, back on node 0 and again, with max-jobs=2.  The
	# re-pins come lowest priority first: the first guest re-pinned must
	# not take the room (the pinning round, docs/numashiftd.8).
	lv_start
	guests=(p0 p10 p20 p30) # priority 0, 10, 20, 30
	gmib=96
	node0_cpus=$(</sys/devices/system/node/node0/cpulist)
	node1_cpus=$(</sys/devices/system/node/node1/cpulist)
	for g in "${guests[@]}"; do
		lv_guest_define "$g" "$gmib" 0 1
		virsh -q vcpupin "$g" 0 "$node0_cpus" --config >/dev/null
		virsh -q start "$g" >/dev/null || fail "virsh start $g failed"
	done
	declare -A gpid ghva
	for g in "${guests[@]}"; do
		lv_guest_wait "$g" '^NSGUEST pass=1 ' 240
		gpid[$g]=$(lv_qemu_pid "$g")
		ghva[$g]=$(guest_ram_hva "${gpid[$g]}" "$gmib") || fail "$g: guest RAM mapping not found"
		ns_vma_on_node "${gpid[$g]}" "${ghva[$g]}" 0 95
	done
	# planner_conf MAXJOBS RESERVE: the daemon's configuration.
	planner_conf() {
		printf '%s\n' "[daemon]" "max-jobs=$1" "debounce-ms=3000" "start-delay-ms=500" \
			"drift-interval-s=0" "[policy]" "reserve-mib=$2" "min-remote-mib=90" \
			"[domain p10]" "priority=10" "[domain p20]" "priority=20" "[domain p30]" "priority=30"
	}
	# room_for_three: a reserve that leaves node 1 room for three guests.
	room_for_three() {
		local free1
		free1=$(settled_free_mib 1)
		reserve=$((free1 - 3 * gmib - 40))
		say "node 1 has $free1 MiB free: reserve $reserve MiB leaves room for three $gmib MiB guests"
	}
	room_for_three
	# job_ended DOMAIN: its last job ended, having moved pages or not.
	job_ended() { job_is "$1" rebalance done || job_is "$1" rebalance nothing-to-do; }
	start_daemon "$(planner_conf 1 "$reserve")"
	for g in "${guests[@]}"; do
		wait_until 30 "numashiftd to track $g" tracked "$g"
		wait_until 60 "$g's start job to end" job_ended "$g"
	done

	# sample_free FILE: node 1's free memory (MiB) every 0.2 s, a line each.
	sample_free() {
		while :; do
			node_free_mib 1
			sleep 0.2
		done >>"$1"
	}
	# repin_all_and_check MAXJOBS: the round, then what the issue asks.
	repin_all_and_check() {
		local g sampler events=$GUEST_DIR/planner-$1.events low
		: >"$events"
		follow_events "$events"
		sample_free "$GUEST_DIR/free-$1.log" &
		sampler=$!
		on_exit "kill $sampler 2>/dev/null"
		for g in "${guests[@]}"; do # lowest priority first
			virsh -q vcpupin "$g" 0 "$node1_cpus" >/dev/null || fail "vcpupin $g to node 1 failed"
		done
		for g in p30 p20 p10; do
			wait_diag="cat '$events' >&2" wait_vma_on_node "${gpid[$g]}" "${ghva[$g]}" 1 90 240
		done
		wait_diag="cat '$events' >&2" wait_until 120 "p0's pinning decision" \
			grep -aq "^p0 decision (pinning)" "$events"
		for g in "${guests[@]}"; do wait_until 120 "$g's pinning job to end" job_ended "$g"; done
		kill "$sampler" 2>/dev/null || true
		grep -a "decision (pinning)" "$events" >&2
		grep -aq "^p0 decision (pinning) cell -1: reserve: .*node 1 would fall under its $reserve MiB reserve" "$events" ||
			fail "max-jobs=$1: p0's decision does not say it stays remote for node 1's reserve"
		low=$(sort -n "$GUEST_DIR/free-$1.log" | head -n 1)
		(($(pages_on "${gpid[p0]}" "${ghva[p0]}" 1) * 100 < gmib * 256 * 10)) ||
			fail "max-jobs=$1: p0 moved to node 1 though there was no room for it (node 1 free: $(head -n 1 "$GUEST_DIR/free-$1.log") MiB first, $low lowest, $(sort -n "$GUEST_DIR/free-$1.log" | tail -n 1) highest)"
		say "max-jobs=$1: node 1's free memory was at least $low MiB (reserve $reserve MiB), $(wc -l <"$GUEST_DIR/free-$1.log") samples"
		# 8 MiB for what the kernel and QEMU allocate there meanwhile.
		((low >= reserve - 8)) || fail "max-jobs=$1: node 1 fell to $low MiB free, under its $reserve MiB reserve"
	}
	repin_all_and_check 1

	# Back to node 0 (a small reserve: node 0 holds the kernel too), then
	# the same with two slots.
	reload_daemon "$(planner_conf 1 16)"
	for g in "${guests[@]}"; do virsh -q vcpupin "$g" 0 "$node0_cpus" >/dev/null || fail "vcpupin $g back failed"; done
	for g in p30 p20 p10; do wait_vma_on_node "${gpid[$g]}" "${ghva[$g]}" 0 90 240; done
	for g in "${guests[@]}"; do wait_until 120 "$g's job back to node 0 to end" job_ended "$g"; done
	room_for_three
	reload_daemon "$(planner_conf 2 "$reserve")"
	repin_all_and_check 2
	daemon_log_has "yields its slot" || say "(no held job had to yield this time)"
	for g in "${guests[@]}"; do ns_guest_stop_clean "$g" 120 "/run/nsguest/$g.log" nostop; done
	lv_stop
	;;
daemon-drift)
	lv_start
	start_daemon "[daemon]
start-delay-ms=500
drift-interval-s=2"
	node0_cpus=$(</sys/devices/system/node/node0/cpulist)
	lv_guest_define nsguest 128 0 2
	virsh -q vcpupin nsguest 0 "$node0_cpus" --config >/dev/null
	virsh -q vcpupin nsguest 1 "$node0_cpus" --config >/dev/null
	virsh -q start nsguest >/dev/null || fail "virsh start failed"
	lv_guest_wait nsguest '^NSGUEST pass=1 ' 240
	pid=$(lv_qemu_pid nsguest)
	hva=$(guest_ram_hva "$pid" 128) || fail "guest RAM mapping not found"
	ns_vma_on_node "$pid" "$hva" 0 95
	# Undisturbed: the drift checks (every 2 s) find nothing to do.  The
	# list is taken between two checks: CI once caught one running
	# ("preparing"), which says nothing about what it would decide.
	sleep 7
	jobs_idle() {
		numashift --json jobs >"$GUEST_DIR/jobs.json" &&
			python3 -c 'import json,sys
jobs=json.load(open(sys.argv[1]))
sys.exit(0 if all(j["state"] not in ("preparing", "settling", "moving", "paused") for j in jobs) else 1)' "$GUEST_DIR/jobs.json"
	}
	wait_until 20 "a moment between two drift checks of nsguest" jobs_idle
	python3 -c 'import json,sys
jobs=json.load(open(sys.argv[1]))
assert jobs and all(j["state"] == "nothing-to-do" and j["trigger"] == "drift" for j in jobs), jobs' "$GUEST_DIR/jobs.json" ||
		fail "drift checks of an undisturbed guest started a move"
	grep -q "trigger drift) ended: done" "$GUEST_DIR/daemon.log" && fail "a drift check moved an undisturbed guest"
	# Behind its back: the kernel moves the guest to node 1 while the daemon
	# is stopped (its drift check, quick with a kept memory map, would
	# otherwise race migratepages and take pages home before they all left).
	kill -STOP "$daemon_pid"
	bounded 120 "migratepages $pid 0 1" migratepages "$pid" 0 1 || { kill -CONT "$daemon_pid"; fail "migratepages failed"; }
	(ns_vma_on_node "$pid" "$hva" 1 90) || { kill -CONT "$daemon_pid"; fail "migratepages left the guest on node 0"; }
	kill -CONT "$daemon_pid"
	wait_vma_on_node "$pid" "$hva" 0 90 30
	grep -q "trigger drift" "$GUEST_DIR/daemon.log" || fail "the move back was not the drift check's"
	ns_guest_stop_clean nsguest 90
	;;
daemon-faults)
	lv_start
	# max-jobs=1 (the default, said here): one job runs, the next waits.
	slow="[daemon]
start-delay-ms=500
drift-interval-s=0
max-jobs=1
rate-limit-mib-s=16"
	start_daemon "$slow"
	node0_cpus=$(</sys/devices/system/node/node0/cpulist)
	node1_cpus=$(</sys/devices/system/node/node1/cpulist)
	lv_guest_define nsguest 128 0 2
	virsh -q start nsguest >/dev/null || fail "virsh start failed"
	lv_guest_wait nsguest '^NSGUEST pass=1 ' 240
	nsguest_log=$LV_GUEST_LOG
	pid=$(lv_qemu_pid nsguest)
	hva=$(guest_ram_hva "$pid" 128) || fail "guest RAM mapping not found"

	# 1. numashiftd SIGKILLed mid-job (16 MiB/s: the 128 MiB move takes 8 s)
	# and started again: it looks afresh at the running domain (its own log
	# lines say so, not the killed one's) and its start job ends the move.
	virsh -q vcpupin nsguest 0 "$node1_cpus" >/dev/null || fail "vcpupin 0 failed"
	virsh -q vcpupin nsguest 1 "$node1_cpus" >/dev/null || fail "vcpupin 1 failed"
	wait_until 30 "numashiftd's pinning job to move 2048 pages of nsguest to node 1" more_on "$pid" "$hva" 1 2048
	kill -KILL "$daemon_pid"
	wait_pid 10 "the SIGKILLed numashiftd (pid $daemon_pid) to be reaped" "$daemon_pid"
	mid=$(pages_on "$pid" "$hva" 1)
	say "numashiftd SIGKILLed with $mid of 32768 pages on node 1"
	((mid > 0 && mid < 32768 * 9 / 10)) || fail "the kill did not land mid-job ($mid pages moved)"
	start_daemon "$slow"
	wait_vma_on_node "$pid" "$hva" 1 90 90
	wait_until 60 "the restarted numashiftd's start job for nsguest to end done" \
		daemon_log_has 'domain nsguest: rebalance job [0-9]+ \(trigger start\) ended: done'
	daemon_log_has 'tracking domain nsguest' || fail "the restarted daemon did not look at the running domain"

	# 2. libvirtd stopped while a job moves pages (some moved, most not):
	# the move needs only the kernel, so it goes on; the daemon reconnects.
	base=$(pages_on "$pid" "$hva" 0)
	moving_home() { more_on "$pid" "$hva" 0 $((base + 256)) && job_is nsguest rebalance moving; }
	virsh -q vcpupin nsguest 0 "$node0_cpus" >/dev/null || fail "vcpupin 0 (back) failed"
	virsh -q vcpupin nsguest 1 "$node0_cpus" >/dev/null || fail "vcpupin 1 (back) failed"
	wait_until 30 "nsguest's pinning job to be moving it back to node 0 (> 256 pages there)" moving_home
	lv_libvirtd_stop
	mid=$(pages_on "$pid" "$hva" 0)
	say "libvirtd stopped with $((mid - base)) pages moved back: $mid of 32768 on node 0"
	((mid > base && mid < 32768 * 9 / 10)) ||
		fail "libvirtd did not stop mid-job ($((mid - base)) pages moved, $mid of 32768 on node 0)"
	lv_libvirtd_start
	wait_vma_on_node "$pid" "$hva" 0 90 90
	wait_until 60 "numashiftd to reconnect to the restarted libvirtd" daemon_log_has 'after a reconnect'

	# 3. Destroyed domains.  victim's slow move (2 MiB/s: 32 s for its
	# 64 MiB) holds the one job slot; queued's move waits behind it, and
	# queued is destroyed with its job pending: its numashift ends (exit 4,
	# one line) instead of waiting for ever (issue #9).  Then victim is
	# destroyed mid-move.  queued only has to exist: started paused, it
	# takes no CPU from the moves.  victim's first pass takes seconds: a
	# 90 s deadline keeps that wait inside the test host's 300 s, so a guest
	# that never reports fails here, by name, not at the host's timeout.
	lv_guest_define victim 64 0 1
	virsh -q start victim >/dev/null || fail "virsh start victim failed"
	lv_guest_wait victim '^NSGUEST pass=1 ' 90
	lv_guest_define queued 32 0 1
	virsh -q start queued --paused >/dev/null || fail "virsh start queued --paused failed"
	vpid=$(lv_qemu_pid victim)
	ns_memmap_json victim "$GUEST_DIR/victim-memmap.json"
	vhva=$(ns_cell_hva "$GUEST_DIR/victim-memmap.json" -1)
	grep -q "^$vhva " "/proc/$vpid/numa_maps" || fail "victim's RAM ($vhva) is not in /proc/$vpid/numa_maps"
	vbase=$(pages_on "$vpid" "$vhva" 1)
	"$NUMASHIFT" migrate victim --to 1 --rate 2 >"$GUEST_DIR/victim.out" 2>"$GUEST_DIR/victim.err" &
	mover=$!
	victim_moving() { more_on "$vpid" "$vhva" 1 "$vbase" && job_is victim migrate moving; }
	wait_diag="cat '$GUEST_DIR/victim.out' '$GUEST_DIR/victim.err' >&2" \
		wait_until 30 "victim's migrate job to be moving pages to node 1" victim_moving
	wait_until 30 "numashiftd to track domain queued" tracked queued
	"$NUMASHIFT" migrate queued --to 1 >"$GUEST_DIR/queued.out" 2>"$GUEST_DIR/queued.err" &
	waiter=$!
	wait_until 15 "queued's migrate to be pending in numashiftd (numashift policy queued)" pending_is queued migrate
	view=$(daemon_view victim)
	[[ $view == "migrate moving "* ]] || fail "queued's job is pending, but victim's is not moving: $view"
	say "queued: job pending behind victim's ($view); destroying queued"
	virsh -q destroy queued >/dev/null || fail "virsh destroy queued failed"
	wait_pid 30 "numashift migrate queued to end after its domain was destroyed with the job pending" "$waiter"
	rc=$WAIT_STATUS
	say "numashift migrate of the domain destroyed while its job was pending: exit $rc: $(<"$GUEST_DIR/queued.err")"
	((rc == 4)) || fail "a pending move whose domain was destroyed exited $rc, not 4"
	[[ $(<"$GUEST_DIR/queued.err") == "numashift: error: domain queued stopped before the job ran" ]] ||
		fail "not the one line 'numashift: error: domain queued stopped before the job ran' on stderr"

	kill -0 "$mover" 2>/dev/null || fail "victim's move ended before its domain was destroyed: the test proved nothing"
	moved=$(($(pages_on "$vpid" "$vhva" 1) - vbase))
	say "destroying victim with $moved of 16384 pages moved to node 1"
	((moved > 0 && moved < 16384 * 9 / 10)) || fail "victim is not mid-move ($moved of 16384 pages moved)"
	virsh -q destroy victim >/dev/null || fail "virsh destroy victim failed"
	wait_pid 30 "numashift migrate victim to end after its domain was destroyed mid-move" "$mover"
	rc=$WAIT_STATUS
	tail -n 3 "$GUEST_DIR/victim.out" >&2
	say "numashift migrate of the domain destroyed mid-move: exit $rc: $(<"$GUEST_DIR/victim.err")"
	((rc == 4)) || fail "a move whose domain was destroyed exited $rc, not 4"
	[[ $(wc -l <"$GUEST_DIR/victim.err") == 1 && $(<"$GUEST_DIR/victim.err") == numashift:* ]] ||
		fail "not one 'numashift: ...' line on stderr after the destroy mid-move"
	numashift jobs >&2 || fail "numashiftd does not answer after the destroyed domains"
	kill -0 "$daemon_pid" || fail "numashiftd died"

	ns_guest_stop_clean nsguest 90 "$nsguest_log"
	;;
daemon-live-map)
	# Issue #10: numashiftd keeps one live placement map per domain; status
	# answers from it while jobs write markers into it; memory that cannot
	# move is remembered, counted apart and not retried before its backoff.
	lv_start
	live_conf="[daemon]
start-delay-ms=500
drift-interval-s=2
rescan-interval-s=0
rate-limit-mib-s=16
[policy]
min-remote-mib=4"
	start_daemon "$live_conf"
	watch="python3 $src/tests/lib/ns-watch.py"
	$watch jobs "$GUEST_DIR/jobs.jsonl" >"$GUEST_DIR/jobs.ready" 2>"$GUEST_DIR/jobs.err" &
	jobs_pid=$!
	on_exit "stop_pid 10 $jobs_pid ns-watch-jobs"
	wait_until 10 "the job-event follower to subscribe" grep -q ready "$GUEST_DIR/jobs.ready"
	# Shared memfd memory: a second process may map the guest's RAM.
	LV_MEMORY_BACKING="<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>" \
		two_cell_guest_on_node0 pinned

	# 1. The start job's scan made the live map: status answers from it.
	from_live_map() { numashift --json status nsguest | grep -q '"source" *: *"numashiftd'; }
	wait_until 30 "numashift status to answer from numashiftd's live map of nsguest" from_live_map
	# --watch redraws from it until interrupted, then exits 0.  Counted by
	# frames, not by a fixed time: under ASan on a slow machine the first
	# frame alone took 3 s (CI, stop 23).
	"$NUMASHIFT" status nsguest --watch --interval 0.5 >"$GUEST_DIR/watch.out" 2>&1 &
	watcher=$!
	on_exit "stop_pid 10 $watcher numashift-status-watch"
	watch_frames() { grep -c "^Domain nsguest, QEMU pid $pid, from numashiftd's live map" "$GUEST_DIR/watch.out" || true; }
	wait_diag='cat "$GUEST_DIR/watch.out" >&2'
	wait_until 60 "numashift status --watch to draw 3 frames" eval '(($(watch_frames) >= 3))'
	wait_diag=
	kill -INT "$watcher"
	wait_pid 10 "numashift status --watch to end on SIGINT" "$watcher"
	rc=$WAIT_STATUS
	say "status --watch: $(watch_frames) frames, exit $rc on SIGINT"
	((rc == 0)) || { cat "$GUEST_DIR/watch.out" >&2; fail "status --watch exited $rc on SIGINT, not 0"; }

	# 2. Status every 10 ms during a rate-limited move of cell 1 (64 MiB at
	# 16 MiB/s: 4 s): pages in flight show, in cell 1 only; the counts add
	# up in every answer; none is in flight once the job is done.
	$watch status nsguest "$GUEST_DIR/status.jsonl" 10 >"$GUEST_DIR/status.ready" 2>"$GUEST_DIR/status.err" &
	poller=$!
	on_exit "stop_pid 10 $poller ns-watch-status"
	wait_until 10 "the status poller to connect" grep -q ready "$GUEST_DIR/status.ready"
	# Policy off meanwhile: its drift checks would take cell 1 back to
	# where its vCPU runs.
	numashift policy nsguest off >/dev/null || fail "numashift policy nsguest off failed"
	numashift migrate nsguest --cell 1 --to 1 >/dev/null || fail "numashift migrate --cell 1 --to 1 exited $?"
	sleep 0.5
	stop_pid 10 "$poller" ns-watch-status
	ns_vma_on_node "$pid" "$hva1" 1 95
	python3 - "$GUEST_DIR/status.jsonl" "$GUEST_DIR/memmap.json" <<'PY' || fail "status read during the move is wrong (above)"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
maps = [r["placement"] for r in recs if r["placement"] is not None]
assert len(maps) >= 20, "only %d answers with a live map" % len(maps)
total = maps[0]["guest"]["total_pages"]
# Guest RAM as numashift's memmap has it: 128 MiB less what the guest sees
# as ROM or a hole below 1 MiB (53 pages under KVM, none under TCG).
ram = sum(r["size"] for r in json.load(open(sys.argv[2]))["ranges"]) // 4096
assert total == ram and ram > 32768 - 64, "the guest has %d pages in the map, its memmap %d" % (total, ram)
seen = 0
for p in maps:
    g = p["guest"]
    on_nodes = sum(g["nodes"].values())
    assert g["total_pages"] == total, g
    assert on_nodes + g["absent_pages"] == total, ("pages do not add up", g)
    assert p["cells"][0]["migrating_pages"] == 0, ("pages of cell 0 in flight", p["cells"][0])
    assert g["migrating_pages"] == p["cells"][1]["migrating_pages"], p
    seen = max(seen, g["migrating_pages"])
assert seen > 0, "no page was ever seen in flight during the move"
assert maps[-1]["guest"]["migrating_pages"] == 0, ("in flight after the job", maps[-1])
print("%d status answers in %.1f s, up to %d pages in flight, all adding up to %d" %
      (len(maps), recs[-1]["t"] - recs[0]["t"], seen, total), file=sys.stderr)
PY

	# 3. Unmovable memory: another process maps the first 16 MiB of cell 0's
	# memfd, so the kernel refuses to move those pages (EACCES: mapped
	# twice).  Cell 0 follows its vCPU to node 1 but for them; the drift
	# checks that follow (every 2 s: a sample that knows what cannot move,
	# then a step of the background rescan) never try them again within
	# the 1-minute backoff.
	# QEMU names every memfd alike: cell 0's is the file behind its mapping.
	range=$(awk -v h="$hva0" '$1 ~ "^"h"-" { print $1 }' "/proc/$pid/maps")
	memfd=/proc/$pid/map_files/$range
	[[ -n $range && $(readlink "$memfd") == /memfd:* ]] ||
		fail "cell 0's RAM ($hva0) is not a memfd mapping: $(readlink "$memfd")"
	# Cell 1's vCPU where cell 1 now is, and the policy back on.
	virsh -q vcpupin nsguest 1 "$node1_cpus" >/dev/null || fail "vcpupin 1 failed"
	numashift policy nsguest follow >/dev/null || fail "numashift policy nsguest follow failed"
	python3 -c 'import mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
m = mmap.mmap(fd, 16 << 20, mmap.MAP_SHARED, mmap.PROT_READ)
s = sum(m[i] for i in range(0, 16 << 20, 4096))
print("mapped", flush=True)
time.sleep(3600)' "$memfd" >"$GUEST_DIR/sharer.out" &
	sharer=$!
	on_exit "kill $sharer 2>/dev/null"
	wait_until 30 "the process sharing 16 MiB of cell 0 (pid $sharer) to map it" grep -q mapped "$GUEST_DIR/sharer.out"
	virsh -q vcpupin nsguest 0 "$node1_cpus" >/dev/null || fail "vcpupin 0 failed"
	cell0_moved() { more_on "$pid" "$hva0" 1 $((16384 - 4096 - 64)); }
	# 150 s, not 60: with both vCPUs now pinned to node 1's one CPU they
	# wait for each other, which the pacer (issue #11) likely reads as the
	# guest starving, slowing the move to its floor.  A fresh root's
	# clang ASan run, 2026-12-02, timed out at 60 s with 12288 of the
	# 12224 pages needed already on node 1: the drift job that moved them
	# ended "done" after 60.5 s for 48 MiB (two of four runs here took
	# over 60 s, two far less).  Slow, not stuck; if it times out again,
	# where the job stood is shown.
	wait_diag='"$NUMASHIFT" jobs >&2 || true; grep "^$hva0" "/proc/$pid/numa_maps" >&2 || true'
	wait_until 150 "cell 0 but its shared 16 MiB to move to node 1" cell0_moved
	wait_diag=
	# Five drift checks and more after the move of cell 0 (each comes 0.75
	# to 1.25 intervals after the last ended: spread, not on a fixed beat).
	drift_checks_after_move() {
		python3 - "$GUEST_DIR/jobs.jsonl" <<'PY'
import json, sys
jobs = [json.loads(l)["job"] for l in open(sys.argv[1])]
failing = [i for i, j in enumerate(jobs) if (j.get("report") or {}).get("failed_pages", 0) > 0]
sys.exit(0 if failing and sum(j.get("trigger") == "drift" for j in jobs[failing[0] + 1:]) >= 5 else 1)
PY
	}
	wait_until 40 "five drift checks of nsguest after the move of cell 0" drift_checks_after_move
	python3 - "$GUEST_DIR/jobs.jsonl" <<'PY' || fail "unmovable memory was retried, or not recorded (above)"
import json, sys
jobs = [json.loads(l)["job"] for l in open(sys.argv[1])]
for j in jobs:
    r = j.get("report") or {}
    print("job %s %s (%s): failed %s, unmovable %s, moved %s" % (j.get("serial"), j.get("kind"),
          j.get("trigger"), r.get("failed_pages"), r.get("unmovable_pages"), r.get("moved_pages")),
          file=sys.stderr)
failing = [j for j in jobs if (j.get("report") or {}).get("failed_pages", 0) > 0]
assert len(failing) == 1, "%d jobs had pages fail, not 1 (the move of cell 0)" % len(failing)
r = failing[0]["report"]
# The pinning job, or a drift check that saw the new pinning first.
assert failing[0].get("trigger") in ("pinning", "drift"), failing[0]
# The shared 16 MiB hold 4096 pages, less those of the first MiB that the
# guest never wrote (absent: nothing to move, so nothing fails) and, under
# KVM, 53 that QEMU's flat view has as ROM.  CI, 2026-12-01: 3884 failed
# with 212 absent (qboot, the test guest's BIOS, leaves them untouched)
# against a fixed 4096 - 128, written when SeaBIOS left 48.  Every absent
# page of this guest lies in its first MiB, so the two add up.
assert r["failed_pages"] == r["failed_by_errno"].get("Permission denied", 0), r
assert 4096 - 64 <= r["failed_pages"] + r["absent_pages"] <= 4096 + 64, r
after = jobs[jobs.index(failing[0]) + 1:]
drift = [j for j in after if j.get("trigger") == "drift"]
assert len(drift) >= 5, "only %d drift checks after the move of cell 0" % len(drift)
PY
	numashift status nsguest >"$GUEST_DIR/status.txt" || fail "numashift status failed"
	cat "$GUEST_DIR/status.txt" >&2
	grep -qE '^unmovable: 1[56]\.[0-9] MiB, shared with another process$' "$GUEST_DIR/status.txt" ||
		fail "numashift status does not name the 16 MiB shared with another process"

	# 4. The opt-in through numashiftd (issue #13): `[domain nsguest]
	# move-shared=true`, loaded on SIGHUP, moves the shared 16 MiB at once
	# (MPOL_MF_MOVE_ALL, trigger reload): the pages held unmovable are
	# tried again, with the sharer still mapping them.
	reload_daemon "$live_conf
[domain nsguest]
move-shared=true"
	cell0_all_moved() { more_on "$pid" "$hva0" 1 $((16384 - 300)); }
	wait_until 60 "cell 0's shared 16 MiB to move to node 1 after move-shared=true" cell0_all_moved
	python3 - "$GUEST_DIR/jobs.jsonl" <<'PY' || fail "the shared pages did not move in numashiftd's reload job (above)"
import json, sys
jobs = [json.loads(l)["job"] for l in open(sys.argv[1])]
reload = [j for j in jobs if j.get("trigger") == "reload" and (j.get("report") or {}).get("moved_pages", 0) > 0]
assert reload, "no reload job moved pages: %s" % [(j.get("trigger"), (j.get("report") or {}).get("moved_pages")) for j in jobs[-5:]]
r = reload[-1]["report"]
print("reload job: moved %d, failed %d" % (r["moved_pages"], r.get("failed_pages", 0)), file=sys.stderr)
assert r["moved_pages"] >= 4096 - 300 and r.get("failed_pages", 0) == 0, r
PY
	kill -0 "$sharer" 2>/dev/null || fail "the sharing process exited before the shared pages moved"
	kill "$sharer"
	wait_pid 30 "the sharing process (pid $sharer) to exit" "$sharer"
	ns_guest_stop_clean nsguest 90
	;;
daemon)
	# The hook directory must exist before libvirtd starts.
	mkdir -p /etc/libvirt/hooks/qemu.d
	ln -sf "$NS_BUILD_ROOT/tools/numashift-hook" /etc/libvirt/hooks/qemu.d/numashift
	lv_start
	# Two virsh calls take about 0.6 s apiece in the nested test host, and
	# two at once up to 2 s (virsh's own start): a debounce much wider than
	# the default 500 ms makes them one burst.
	start_daemon "[daemon]
debounce-ms=5000
start-delay-ms=500
drift-interval-s=0
[policy]
reserve-mib=64"
	"$NUMASHIFT" events >"$GUEST_DIR/events.log" 2>&1 &
	events_pid=$!
	on_exit "kill $events_pid 2>/dev/null"

	node0_cpus=$(</sys/devices/system/node/node0/cpulist)
	node1_cpus=$(</sys/devices/system/node/node1/cpulist)
	lv_guest_define nsguest 128 0 2
	virsh -q vcpupin nsguest 0 "$node0_cpus" --config >/dev/null
	virsh -q vcpupin nsguest 1 "$node0_cpus" --config >/dev/null
	virsh -q start nsguest >/dev/null || fail "virsh start failed"
	lv_guest_wait nsguest '^NSGUEST pass=1 ' 240
	pid=$(lv_qemu_pid nsguest)
	hva=$(guest_ram_hva "$pid" 128) || fail "guest RAM mapping not found"
	grep -q 'hook: domain nsguest started begin' "$GUEST_DIR/daemon.log" || fail "the hook did not reach numashiftd on start"
	ns_vma_on_node "$pid" "$hva" 0 95

	# wait_on_node NODE SECS: >= 90% of the guest's RAM on NODE within SECS.
	# The pinning moves get 180 s: the pacer slows a move when the guest's
	# vCPUs wait for a CPU, which in this TCG test host they do at random
	# (the same 128 MiB move took 2.7, 7.9, 18.8 and 52 s in four runs on
	# 2026-12-01); at its slowest pace (one worker, 1/16 duty) it takes
	# about 100 s.
	wait_on_node() { wait_vma_on_node "$pid" "$hva" "$1" 90 "$2"; }
	decisions() { grep -c "decision (pinning)" "$GUEST_DIR/events.log" || true; }
	# pin_both CPUS: both vCPUs of nsguest to CPUS in one burst.  Both
	# virsh calls at once: one after the other they once took longer than
	# the 2.5 s debounce then set on a busy CI machine (two decisions,
	# 2026-11-30).
	pin_both() {
		local t0 p0 p1 burst_ms
		t0=${EPOCHREALTIME/[.,]/}
		virsh -q vcpupin nsguest 0 "$1" >/dev/null &
		p0=$!
		virsh -q vcpupin nsguest 1 "$1" >/dev/null &
		p1=$!
		wait_pid 60 "virsh vcpupin nsguest 0 $1" "$p0"
		((WAIT_STATUS == 0)) || fail "vcpupin 0 to $1 failed"
		wait_pid 60 "virsh vcpupin nsguest 1 $1" "$p1"
		((WAIT_STATUS == 0)) || fail "vcpupin 1 to $1 failed"
		burst_ms=$(((${EPOCHREALTIME/[.,]/} - t0) / 1000))
		say "both vCPUs pinned to CPU $1 in $burst_ms ms"
		((burst_ms < 5000)) ||
			fail "the burst of two vcpupins took $burst_ms ms, longer than the 5000 ms debounce: one burst cannot be told from two"
	}

	say "re-pinning both vCPUs to node 1 (CPU $node1_cpus)"
	pin_both "$node1_cpus"
	wait_on_node 1 180
	sleep 3 # any second decision from an undebounced burst would show by now
	cat "$GUEST_DIR/events.log" >&2
	[[ $(decisions) == 1 ]] || fail "$(decisions) pinning decisions for one burst of two vcpupins, not 1"
	grep -q "decision (pinning) cell -1: move: .*node 1" "$GUEST_DIR/events.log" || fail "the decision did not target node 1"

	# libvirtd restarted under the daemon: it reconnects and follows the next change.
	lv_libvirtd_stop
	lv_libvirtd_start
	wait_until 60 "numashiftd to reconnect to the restarted libvirtd" daemon_log_has 'after a reconnect'
	grep -q 'hook: domain nsguest reconnect begin' "$GUEST_DIR/daemon.log" || say "(no reconnect hook line)"
	sleep 1
	pin_both "$node0_cpus"
	wait_on_node 0 180
	[[ $(decisions) == 2 ]] || fail "$(decisions) pinning decisions after the second burst, not 2"
	# 90% there is not the job's end (it was at 95.3% once when status ran).
	wait_until 120 "the pinning job back to node 0 to end" job_is nsguest rebalance done

	# The command through the daemon: status shows its view, migrate is its job.
	numashift status nsguest >"$GUEST_DIR/status.txt" || fail "numashift status failed"
	cat "$GUEST_DIR/status.txt" >&2
	grep -q '^numashiftd: policy follow .*rebalance job (trigger pinning) done' "$GUEST_DIR/status.txt" ||
		fail "numashift status does not show numashiftd's last job"
	numashift --json migrate nsguest --to 1 >"$GUEST_DIR/migrate.json" || fail "numashift migrate through numashiftd exited $?"
	cat "$GUEST_DIR/migrate.json" >&2
	# A daemon job, and its job-done event carries the job's report.
	python3 -c 'import json, sys
events = [json.loads(l)["body"] for l in open(sys.argv[1]) if l.strip()]
done = [e for e in events if e.get("event") == "job-done"]
assert len(done) == 1, "not one job-done event: %d" % len(done)
job = done[0]["job"]
assert job["kind"] == "migrate" and job["state"] == "done", job
json.dump(job["report"], open(sys.argv[2], "w"))' "$GUEST_DIR/migrate.json" "$GUEST_DIR/migrate-report.json" ||
		fail "the migrate was not a daemon job that ended done"
	kvm_deltas_show_notifier "the daemon's migrate job" "$GUEST_DIR/migrate-report.json"
	wait_on_node 1 30

	# One mover per domain (the mover lock): a --direct move holds nsguest,
	# so a daemon job for it is refused (exit 7, one line naming the
	# holder); then a daemon job holds it and a --direct move is refused.
	base=$(pages_on "$pid" "$hva" 0)
	"$NUMASHIFT" migrate nsguest --to 0 --direct --rate 8 >"$GUEST_DIR/direct.out" 2>"$GUEST_DIR/direct.err" &
	direct=$!
	wait_diag="cat '$GUEST_DIR/direct.out' '$GUEST_DIR/direct.err' >&2" \
		wait_until 30 "the --direct move to be moving pages to node 0" more_on "$pid" "$hva" 0 $((base + 256))
	ns_expect_exit 7 "a daemon job while a --direct move holds the domain" "$NUMASHIFT" migrate nsguest --to 1
	grep -q "another mover is moving this domain's memory: numashift migrate (pid $direct)" "$GUEST_DIR/daemon.log" ||
		fail "numashiftd's log does not name the --direct mover that held the domain"
	kill -INT "$direct"
	wait_pid 30 "the --direct move to end after SIGINT" "$direct"
	((WAIT_STATUS == 6)) || fail "the cancelled --direct move exited $WAIT_STATUS, not 6: $(<"$GUEST_DIR/direct.err")"
	"$NUMASHIFT" migrate nsguest --to 1 --rate 2 >"$GUEST_DIR/daemon-move.out" 2>&1 &
	mover=$!
	wait_until 30 "the daemon's migrate job for nsguest to be moving" job_is nsguest migrate moving
	ns_expect_exit 7 "a --direct move while a daemon job holds the domain" "$NUMASHIFT" migrate nsguest --to 0 --direct
	wait_pid 120 "the daemon's migrate job to finish after the refused --direct move" "$mover"
	((WAIT_STATUS == 0)) || fail "the daemon's migrate exited $WAIT_STATUS: $(<"$GUEST_DIR/daemon-move.out")"
	wait_on_node 1 30

	# Ctrl-C on a migrate through the daemon cancels the job it started
	# (issue #16; it used to leave it running): exit 6, the job cancelled
	# with part of the guest moved.  --detach queues a job and returns.
	"$NUMASHIFT" migrate nsguest --to 0 --rate 2 >"$GUEST_DIR/cancel.out" 2>"$GUEST_DIR/cancel.err" &
	mover=$!
	wait_until 30 "the daemon's migrate job for nsguest to be moving" job_is nsguest migrate moving
	sleep 1
	kill -INT "$mover"
	wait_pid 60 "numashift migrate to end after Ctrl-C cancelled numashiftd's job" "$mover"
	cat "$GUEST_DIR/cancel.err" >&2
	((WAIT_STATUS == 6)) || fail "Ctrl-C on a migrate through numashiftd exited $WAIT_STATUS, not 6"
	grep -q "cancelling numashiftd's job" "$GUEST_DIR/cancel.err" || fail "numashift did not say it cancels the job"
	grep -q "the job ended cancelled after moving" "$GUEST_DIR/cancel.err" ||
		fail "the job did not end cancelled: $(<"$GUEST_DIR/cancel.err")"
	job_is nsguest migrate cancelled || fail "numashiftd's view of the job: $(daemon_view nsguest), not cancelled"
	numashift jobs >"$GUEST_DIR/jobs.txt" || fail "numashift jobs exited $?"
	cat "$GUEST_DIR/jobs.txt" >&2
	grep -q '^job:[0-9]* *nsguest .* migrate .* cancelled' "$GUEST_DIR/jobs.txt" ||
		fail "numashift jobs does not name nsguest's cancelled job"
	# pause, resume, cancel (issue #16), by domain and by job:N, on a
	# detached job; each says how it failed when there is nothing to do.
	# To node 0: most of the guest is on node 1, a minute's move at 2 MiB/s.
	numashift migrate nsguest --to 0 --detach --rate 2 >"$GUEST_DIR/detach.out" ||
		fail "numashift migrate --detach exited $?"
	grep -q '^queued: migrate' "$GUEST_DIR/detach.out" || fail "migrate --detach: $(<"$GUEST_DIR/detach.out")"
	wait_until 30 "the detached migrate job to be moving" job_is nsguest migrate moving
	numashift pause nsguest >&2 || fail "numashift pause nsguest exited $?"
	wait_until 10 "the job to be paused" job_is nsguest migrate paused
	serial=$(numashift --json jobs | python3 -c 'import json, sys
print([j["serial"] for j in json.load(sys.stdin) if j.get("domain") == "nsguest" and j["state"] == "paused"][0])') ||
		fail "no paused job of nsguest in numashift jobs"
	numashift resume "job:$serial" >&2 || fail "numashift resume job:$serial exited $?"
	wait_until 10 "job $serial to be moving again" job_is nsguest migrate moving
	numashift cancel "job:$serial" >&2 || fail "numashift cancel job:$serial exited $?"
	wait_until 30 "job $serial to end cancelled" job_is nsguest migrate cancelled
	ns_expect_exit 4 "cancel of a job that ended" "$NUMASHIFT" cancel "job:$serial"
	ns_expect_exit 3 "cancel of a job that never was" "$NUMASHIFT" cancel job:999999
	ns_expect_exit 3 "pause with no job running" "$NUMASHIFT" pause nsguest
	numashift migrate nsguest --to 1 >&2 || fail "numashift migrate --to 1 after the cancelled jobs exited $?"
	wait_on_node 1 30
	numashift policy nsguest off >&2 || fail "numashift policy off failed"
	numashift rebalance nsguest >"$GUEST_DIR/rebalance.txt" || fail "numashift rebalance exited $?"
	cat "$GUEST_DIR/rebalance.txt" >&2
	grep -q 'cell -1: opted-out' "$GUEST_DIR/rebalance.txt" || fail "policy off did not opt the domain out"
	wait_on_node 1 5
	ns_expect_exit 3 "rebalance of an unknown domain" "$NUMASHIFT" rebalance nosuchguest
	ns_expect_exit 2 "an unknown policy mode" "$NUMASHIFT" policy nsguest sideways

	lv_guest_wait nsguest "^NSGUEST pass=$(($(grep -c '^NSGUEST pass=' "$LV_GUEST_LOG") + 2)) " 240
	lv_guest_stop nsguest 90
	wait_until 10 "the hook to reach numashiftd on stop (hook: domain nsguest stopped end)" \
		daemon_log_has 'hook: domain nsguest stopped end'
	verdict=$(guest_verdict "$LV_GUEST_LOG")
	say "guest: verdict=$verdict passes=$(guest_report_field "$LV_GUEST_LOG" passes)" \
		"worst_access_us=$(guest_report_field "$LV_GUEST_LOG" worst_access_us)"
	[[ $verdict == clean ]] || fail "guest verdict $verdict"
	lv_stop
	;;
soak | soak-ci)
	moves=${NS_SOAK_MOVES:-1000}
	soak_mem=128
	# CI's 20 moves: a 64 MiB TCG guest (100 moves took 5.5 minutes when
	# measured, 8.7 and 10.8 in two runs on 2026-11-30, a sixth of the
	# whole run; 50 still took 6 minutes, and a CI run 77 minutes in all on
	# a slower machine: cut to 20 for the run's time budget; the many-move
	# soaks are numa-race-tcg's 1000 moves and, on demand, soak's; the
	# time goes to each move's CLI, libvirt and status round trips and the
	# guest's passes, not to copying, so 32 MiB would not be faster).  Not KVM: under
	# nested KVM in this TCG test host the guest crashed twice in about 300
	# moves (2026-11-30: an exception at EIP 0x31, reason=exception
	# vector=0, and a triple fault before the guest reported exceptions;
	# once the test host itself stopped), which fails CI for the rig's
	# sake; the KVM soak (soak, 1000 moves) runs on demand.
	[[ $case_name == soak-ci ]] && moves=20 soak_mem=64
	lv_start
	lv_guest_define nsguest "$soak_mem" 0 2 2
	virsh -q start nsguest >/dev/null || fail "virsh start failed"
	lv_guest_wait nsguest '^NSGUEST pass=1 ' 240
	pid=$(lv_qemu_pid nsguest)
	t0=$EPOCHREALTIME
	for ((i = 1; i <= moves; i++)); do
		to=$((i % 2))
		# Every fifth move takes one vNUMA cell only, and the next one the rest.
		# Each move's report and the status after it are kept and checked
		# in one go every tenth move: a Python start per move cost about a
		# second of the test host's emulated CPU, a third of the soak.
		if ((i % 5 == 0)); then
			numashift --json migrate nsguest --cell $((i / 5 % 2)) --to "$to" >"$GUEST_DIR/move.$i.json" ||
				fail "move $i (cell $((i / 5 % 2)) -> node $to) exited $?"
		else
			numashift --json migrate nsguest --to "$to" >"$GUEST_DIR/move.$i.json" ||
				fail "move $i (-> node $to) exited $?"
			numashift --json status nsguest >"$GUEST_DIR/status.$i.json" ||
				fail "numashift status after move $i exited $?"
		fi
		if ((i % 10 == 0 || i == moves)); then
			python3 - "$GUEST_DIR" $((i - (i - 1) % 10)) "$i" >>"$GUEST_DIR/soak.log" <<-'PY' || fail "moves up to $i did not all finish cleanly"
				import json, os, sys
				d, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
				for i in range(first, last + 1):
				    r = json.load(open(f"{d}/move.{i}.json"))
				    assert r["outcome"] == "done" and r["failed_pages"] == 0 and r["remaining_pages"] == 0, (i, r)
				    k = r.get("kvm", {})
				    if os.environ.get("LV_DOMAIN_TYPE") == "kvm":
				        assert k, "move %d: no KVM counters for a KVM guest: %r" % (i, r)
				    if os.path.exists(f"{d}/status.{i}.json"):
				        g = json.load(open(f"{d}/status.{i}.json"))["guest"]
				        present = sum(v["pages"] for v in g["nodes"].values())
				        pct = g["nodes"].get(str(i % 2), {"pages": 0})["pages"] * 100 // max(present, 1)
				        assert pct >= 95, "after move %d only %d%% of the guest is on node %d" % (i, pct, i % 2)
				    # Per move only what is recorded: remote_tlb_flush counts the flushes
				    # that had to interrupt a vCPU in guest mode, and a move whose workers
				    # kept the vCPUs off their CPUs can need none (seen: 16331 pages
				    # moved, 1 flush request, 0 flushes); the total is checked at the end.
				    print(i, r["moved_pages"], r["elapsed_us"], k.get("remote_tlb_flush", 0),
				          k.get("remote_tlb_flush_requests", 0))
			PY
			rm -f "$GUEST_DIR"/move.*.json "$GUEST_DIR"/status.*.json
		fi
		# Let the guest verify everything between every tenth move.
		if ((i % 10 == 0)); then
			lv_guest_wait nsguest "^NSGUEST pass=$(($(grep -c '^NSGUEST pass=' "$LV_GUEST_LOG") + 1)) " 240
			guest_clean_so_far "$LV_GUEST_LOG" "by move $i"
			say "$i moves done"
		fi
	done
	t1=$EPOCHREALTIME
	lv_guest_stop nsguest 240
	verdict=$(guest_verdict "$LV_GUEST_LOG")
	flushes=$(awk '{ f += $4 } END { print f + 0 }' "$GUEST_DIR/soak.log")
	if [[ ${LV_DOMAIN_TYPE:-qemu} == kvm ]]; then
		((flushes > 0)) || fail "$moves moves of a KVM guest and not one remote TLB flush"
	fi
	say "soak: $moves moves, $(awk '{ p += $2; f += $4; q += $5 } END { printf "%.0f MiB (KVM remote TLB flushes %d, requests %d)", p * 4 / 1024, f, q }' "$GUEST_DIR/soak.log") moved" \
		"in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s;" \
		"guest verdict=$verdict passes=$(guest_report_field "$LV_GUEST_LOG" passes)" \
		"errors=$(guest_report_field "$LV_GUEST_LOG" errors)" \
		"worst_access_us=$(guest_report_field "$LV_GUEST_LOG" worst_access_us)"
	[[ $verdict == clean ]] || fail "guest verdict $verdict"
	lv_stop
	;;
race-kvm | race-tcg | race-kvm-soak | race-tcg-soak)
	# The write race: every vCPU of the guest (race=4) hammers 4 pages with
	# counters that must read back and never go backward, while
	# ns-race-mover sends exactly those pages from node to node
	# NS_RACE_MOVES times through the engine.  Any write lost to a page in
	# flight (written to the old copy after the kernel copied it) shows up
	# as a counter that went back, or one that differs from what its vCPU
	# wrote there last.
	moves=1000
	[[ $case_name == *-soak ]] && moves=10000
	moves=${NS_RACE_MOVES:-$moves}
	type=kvm
	[[ $case_name == race-tcg* ]] && type=qemu
	lv_start
	lv_guest_define racer 64 0 2 0 preferred "$type" "race=4 passes=0"
	virsh -q start racer >/dev/null || fail "virsh start racer failed"
	lv_guest_wait racer '^NSGUEST race-pass=1 ' 240
	base=$(guest_report_field "$LV_GUEST_LOG" race_base)
	pages=$(guest_report_field "$LV_GUEST_LOG" race_pages)
	cpus=$(guest_report_field "$LV_GUEST_LOG" race_cpus)
	say "race pages: base=$base pages=$pages cpus=$cpus"
	[[ -n $base && -n $pages ]] || fail "no base and pages in the guest's race line"
	((cpus >= 2)) || fail "the guest hammers with $cpus vCPU(s), not at least 2"
	before=$(grep -c '^NSGUEST race-pass=' "$LV_GUEST_LOG")
	# The guest's memory starts on node 0: the first move goes to node 1.
	"$NS_BUILD_ROOT/tests/ns-race-mover" --domain racer --gpa "$base" --pages "$pages" \
		--nodes 1,0 --moves "$moves" >"$GUEST_DIR/race-mover.out" 2>&1 &
	mover=$!
	# A move takes about 27 ms here (median; nested KVM in TCG, the
	# kernel's TLB-flush IPIs to CPUs busy running the guest); allow 4x.
	wait_diag="tail -n 3 '$GUEST_DIR/race-mover.out' >&2" \
		wait_pid $((60 + moves * 27 * 4 / 1000)) "ns-race-mover to make $moves moves" "$mover"
	rc=$WAIT_STATUS
	cat "$GUEST_DIR/race-mover.out" >&2
	# (A failure prints the domain and the kernel log from lv_stop.)
	((rc == 0)) || fail "ns-race-mover exited $rc"
	grep -q "^race-mover moves=$moves complete=$moves incomplete=0 " "$GUEST_DIR/race-mover.out" ||
		fail "not every one of $moves moves landed"
	after=$(grep -c '^NSGUEST race-pass=' "$LV_GUEST_LOG")
	((after > before)) || fail "the guest reported no race interval while the pages moved"
	lv_guest_stop racer 120
	verdict=$(guest_verdict "$LV_GUEST_LOG")
	grep '^NSGUEST race-error' "$LV_GUEST_LOG" >&2 || true
	say "race ($type): $moves moves of $pages pages hammered by $cpus vCPUs;" \
		"guest verdict=$verdict $("$(guest_report_tool)" "$LV_GUEST_LOG" 2>&1 | grep -i 'race' | tr '\n' ' ')"
	[[ $verdict == clean ]] || fail "guest verdict $verdict: a write was lost or torn"
	lv_stop
	;;
demo)
	rc=0
	# NS_DEMO: another program in its place, for numa-rig's check below.
	DEMO_MEM=64 DEMO_TTY=0 bounded 270 "tools/demo (64 MiB)" "${NS_DEMO:-$src/tools/demo}" || rc=$?
	# 125 is the rig failing under the demo (its KVM guest frozen by nested
	# KVM, docs/testing.md), which the demo says itself: boot once more,
	# as every case does (run_rig_retry), rather than fail.  A fresh root
	# (2026-12-02) failed numa-demo on such a freeze.
	if ((rc == 125)); then
		say "tools/demo exited 125: the rig failed under it"
		exit 125
	fi
	((rc == 0)) || fail "tools/demo exited $rc"
	;;
numashift-4node)
	start_two_cell_guest
	numashift migrate nsguest --to 3 || fail "numashift migrate --to 3 exited $?"
	ns_vma_on_node "$pid" "$hva0" 3 95
	ns_vma_on_node "$pid" "$hva1" 3 95
	((($(ns_status_percent nsguest 3)) >= 95)) || fail "numashift status does not put the guest on node 3"
	lv_guest_wait nsguest "^NSGUEST pass=$(($(grep -c '^NSGUEST pass=' "$LV_GUEST_LOG") + 2)) " 240
	numashift migrate nsguest --cell 1 --to 2 || fail "numashift migrate --cell 1 --to 2 exited $?"
	ns_vma_on_node "$pid" "$hva0" 3 95
	ns_vma_on_node "$pid" "$hva1" 2 95
	((($(ns_status_percent nsguest 2 1)) >= 95)) || fail "numashift status does not put cell 1 on node 2"
	((($(ns_status_percent nsguest 3 0)) >= 95)) || fail "numashift status does not keep cell 0 on node 3"
	lv_guest_wait nsguest "^NSGUEST pass=$(($(grep -c '^NSGUEST pass=' "$LV_GUEST_LOG") + 2)) " 240
	ns_guest_stop_clean nsguest 90
	;;
daemon-migration)
	# Live migration (issue #16) between two libvirtds in this one test
	# host.  B runs in mount and UTS namespaces of its own: its own
	# /run/libvirt, /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt
	# and /etc/libvirt (host_uuid set), and its own hostname, so libvirt's
	# same-host check lets the migration through; without cgroups for its
	# domains (the two would name the same machine scope).  numashiftd A
	# watches libvirtd A, numashiftd B libvirtd B.
	lv_start
	b=/run/libvirt-b
	mkdir -p "$b/run" "$b/lib/qemu" "$b/cache/qemu" "$b/log/qemu" "$b/etc"
	cp -a /etc/libvirt/. "$b/etc/"
	cp -a /var/cache/libvirt/qemu/. "$b/cache/qemu/" 2>/dev/null || true
	printf 'host_uuid = "%s"\n' "$(</proc/sys/kernel/random/uuid)" >>"$b/etc/libvirtd.conf"
	printf 'cgroup_controllers = [ ]\n' >>"$b/etc/qemu.conf"
	unshare --mount --uts --propagation private sh -c "hostname numa-host-b &&
		mount --bind $b/run /run/libvirt && mount --bind $b/lib /var/lib/libvirt &&
		mount --bind $b/cache /var/cache/libvirt && mount --bind $b/log /var/log/libvirt &&
		mount --bind $b/etc /etc/libvirt && exec libvirtd --pid-file $b/libvirtd.pid" >"$GUEST_DIR/libvirtd-b.log" 2>&1 &
	libvirtd_b=$!
	on_exit "stop_pid 30 $libvirtd_b libvirtd-b"
	uri_b="qemu+unix:///system?socket=$b/run/libvirt-sock"
	b_answers() {
		kill -0 "$libvirtd_b" 2>/dev/null || { cat "$GUEST_DIR/libvirtd-b.log" >&2; fail "libvirtd B exited"; }
		timeout -k 5 20 virsh -c "$uri_b" -q version >/dev/null 2>&1
	}
	wait_until 90 "libvirtd B to answer" b_answers
	on_exit "virsh -c '$uri_b' -q destroy nsguest >/dev/null 2>&1 || true"

	start_daemon "$QUICK_DAEMON_CONF"
	printf '%s\n' "$QUICK_DAEMON_CONF" >"$GUEST_DIR/numashiftd-b.conf"
	"$NS_BUILD_ROOT/hv/daemon/numashiftd" --config "$GUEST_DIR/numashiftd-b.conf" \
		--socket /run/numashift-b/control.sock --connect "$uri_b" >"$GUEST_DIR/daemon-b.log" 2>&1 &
	daemon_b=$!
	on_exit "stop_pid 10 $daemon_b numashiftd-b; sed 's/^/numashiftd B: /' '$GUEST_DIR/daemon-b.log' >&2"
	wait_until 10 "numashiftd B to listen" test -S /run/numashift-b/control.sock
	b_log_has() { grep -qE -- "$1" "$GUEST_DIR/daemon-b.log"; }
	wait_until 30 "numashiftd B to reach libvirtd B" b_log_has "connected to libvirt"

	# COM1 appends to a file, not a pipe: both QEMUs would hold the same
	# FIFOs across the switchover (the target read stray input, lines came
	# twice: the guest once ended itself), and the file keeps one log from
	# A's passes through B's, for the guest's verdict across the migration.
	LV_GUEST_LOG=/run/nsguest/nsguest.log
	mkdir -p /run/nsguest
	: >"$LV_GUEST_LOG"
	lv_guest_xml nsguest 64 0 1 | python3 -c 'import re, sys
print(re.sub(r"<serial type=.pipe.>.*?</serial>", "<serial type=\"file\"><source path=\"/run/nsguest/nsguest.log\" append=\"on\"/><target port=\"0\"/></serial>", sys.stdin.read(), flags=re.S))' >"$GUEST_DIR/nsguest.xml"
	grep -q "type=.file." "$GUEST_DIR/nsguest.xml" || fail "the domain XML has no file serial"
	virsh -q define "$GUEST_DIR/nsguest.xml" >/dev/null || fail "virsh define failed"
	virsh -q start nsguest >/dev/null || fail "virsh start failed"
	lv_guest_wait nsguest '^NSGUEST pass=1 ' 240
	wait_until 30 "numashiftd A to track nsguest" tracked nsguest

	# A migration cancelled before its switchover sends no lifecycle event:
	# numashiftd A asks libvirt while the domain leaves, and frees it within
	# a few seconds of the cancel, not after its 30 s fallback window.
	# Throttled to 1 MiB/s so that it is still copying when cancelled.
	bounded 240 "virsh migrate --live (to be cancelled)" virsh -q migrate --live --unsafe nsguest "$uri_b" \
		--migrateuri tcp://127.0.0.1:49312 --bandwidth 1 >"$GUEST_DIR/virsh-migrate-cancelled.out" 2>&1 &
	cancelled=$!
	wait_until 60 "numashiftd A to see the first migration begin" daemon_log_has 'domain nsguest: migrating away \(migration pass'
	bounded 30 "virsh domjobabort" virsh -q domjobabort nsguest >/dev/null || fail "virsh domjobabort failed"
	t_abort=$EPOCHREALTIME
	wait_pid 60 "the cancelled virsh migrate to end" "$cancelled"
	((WAIT_STATUS != 0)) || fail "the migration meant to be cancelled completed"
	wait_until 20 "numashiftd A to see nsguest stay" daemon_log_has 'domain nsguest: still here \(libvirt runs no migration of it any more\)'
	freed_after=$(awk -v a="$t_abort" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	! daemon_log_has 'no migration event for [0-9]+ s' || fail "numashiftd A waited out its fallback window"
	[[ $(virsh -q domstate nsguest) == running ]] || fail "nsguest is not running on A after the cancel"
	say "a migration cancelled in pre-copy: numashiftd A let nsguest's jobs run again ${freed_after} s after the abort"

	# The policy in the domain's libvirt metadata travels with it: B's
	# decisions must read it there.
	numashift policy nsguest --mode off >/dev/null || fail "numashift policy nsguest --mode off failed"

	# A slow operator's migrate runs on A when the migration begins: the
	# migration's events cancel it ("migrating away", busy: exit 7).  The
	# migration switches to post-copy after its first pass, so B sees the
	# domain run before its memory has all arrived; 16 MiB/s, so that the
	# pages the guest writes meanwhile keep pre-copy from converging first.
	"$NUMASHIFT" migrate nsguest --to 1 --rate 1 >"$GUEST_DIR/migrate.out" 2>&1 &
	mover=$!
	wait_until 60 "A's migrate job to be moving" job_is nsguest migrate moving
	say "live-migrating nsguest from libvirtd A to libvirtd B"
	log_at_migration=$(stat -c %s "$LV_GUEST_LOG")
	bounded 240 "virsh migrate --live --postcopy" virsh -q migrate --live --unsafe --postcopy --postcopy-after-precopy nsguest "$uri_b" \
		--migrateuri tcp://127.0.0.1:49311 --bandwidth 16 >"$GUEST_DIR/virsh-migrate.out" 2>&1 ||
		fail "virsh migrate failed: $(tail -n 3 "$GUEST_DIR/virsh-migrate.out")"
	wait_pid 60 "numashift migrate (A) to end" "$mover"
	say "numashift migrate on A exited $WAIT_STATUS: $(tail -n 1 "$GUEST_DIR/migrate.out")"
	((WAIT_STATUS == 7)) || fail "numashift migrate exited $WAIT_STATUS, not 7 (busy: migrating away)"
	daemon_log_has 'domain nsguest: migrating away \(migration pass' ||
		fail "numashiftd A did not see the migration begin"
	daemon_log_has 'migrate job [0-9]+ \(trigger request[^)]*\) ended: failed: domain nsguest is migrating away' ||
		fail "numashiftd A's job did not end 'migrating away'"
	wait_until 30 "numashiftd A to drop nsguest" eval '! tracked nsguest'

	# B: tracked while its memory arrives, looked at once it runs there.
	b_log_has 'domain nsguest: arriving by live migration' || fail "numashiftd B did not see nsguest arrive"
	wait_until 60 "numashiftd B to see nsguest run there" b_log_has 'domain nsguest: runs here after its migration'
	grep -n 'nsguest' "$GUEST_DIR/daemon-b.log" | head -n 8 >&2
	arrive=$(grep -n 'arriving by live migration' "$GUEST_DIR/daemon-b.log" | head -n 1 | cut -d: -f1)
	runs=$(grep -n 'runs here after its migration' "$GUEST_DIR/daemon-b.log" | head -n 1 | cut -d: -f1)
	first_job=$(grep -nE 'job [0-9]+ \(trigger [a-z]+\) started' "$GUEST_DIR/daemon-b.log" | head -n 1 | cut -d: -f1)
	[[ -n $arrive && -n $runs ]] && ((arrive < runs)) ||
		fail "numashiftd B did not see nsguest arrive, then run (lines: arriving $arrive, runs $runs)"
	[[ -z $first_job ]] || ((first_job > runs)) ||
		fail "numashiftd B started a job on nsguest (line $first_job) before its memory had arrived (line $runs)"
	# Post-copy: the domain runs on B before its memory has all come; B
	# waits for the migration's end, not for the domain to run.
	postcopy=$(grep -n 'runs here in post-copy' "$GUEST_DIR/daemon-b.log" | head -n 1 | cut -d: -f1)
	[[ -n $postcopy ]] && ((arrive < postcopy && postcopy < runs)) ||
		fail "numashiftd B did not see nsguest arrive, run in post-copy, then have its memory (lines: $arrive, ${postcopy:-none}, $runs)"
	wait_until 30 "numashiftd B's first decision on nsguest" b_log_has 'domain nsguest cell [-0-9]+: .*trigger start\)'
	b_log_has 'domain nsguest cell [-0-9]+: opted out by metadata' ||
		fail "numashiftd B did not read the policy nsguest's metadata carried: $(grep 'nsguest cell' "$GUEST_DIR/daemon-b.log" | head -n 2)"
	# The guest's verdict is read up to the migration only.  In this nested
	# TCG test host the migration itself corrupts the guest's memory: with
	# no numashift move at all, the guest on B found 1024 wrong words
	# ("NSGUEST corrupt ... pass=14", then exited), 2026-12-02; so what it
	# says after the switchover is QEMU's migration here, not numashift.
	head -c "$log_at_migration" "$LV_GUEST_LOG" >"$GUEST_DIR/before-migration.log"
	guest_clean_so_far "$GUEST_DIR/before-migration.log" "before its migration"
	say "A cancelled its job and dropped nsguest; B waited for the post-copy to end and read the policy the metadata carried; clean in $(grep -c '^NSGUEST pass=' "$GUEST_DIR/before-migration.log") passes on A"
	;;
systemd)
	[[ $(</proc/1/comm) == systemd ]] || fail "PID 1 is $(</proc/1/comm), not systemd (numa-host --systemd)"
	# Installed as the README says, into the throw-away overlay root.  The
	# build's prefix is /usr/local: the unit goes where systemd.pc says
	# (/lib/systemd/system), the hook link under /usr/local/etc, so the
	# hook is linked into libvirt's own directory here, as an operator with
	# such an install would.  libvirtd reads its hooks when it starts.
	bounded 120 "meson install" meson install -C "$NS_BUILD_ROOT" --no-rebuild >"$GUEST_DIR/install.log" 2>&1 ||
		{ tail -n 20 "$GUEST_DIR/install.log" >&2; fail "meson install failed"; }
	[[ -f /lib/systemd/system/numashiftd.service ]] || fail "the unit is not in /lib/systemd/system"
	mkdir -p /etc/libvirt/hooks/qemu.d /etc/numashift/numashiftd.conf.d
	ln -sf /usr/local/libexec/numashift-hook /etc/libvirt/hooks/qemu.d/numashift
	# QEMU as Debian runs it: user libvirt-qemu, files chowned to it by
	# libvirt's DAC driver; no AppArmor profiles in this test host.
	cat >/etc/libvirt/qemu.conf <<'CONF'
# written by tests/numa/test-numa.sh (case systemd) in the throw-away test host
security_driver = "none"
user = "libvirt-qemu"
group = "libvirt-qemu"
remember_owner = 0
CONF
	# Metrics where Debian's node_exporter reads text files (issue #16).
	metrics_file=/var/lib/prometheus/node-exporter/numashift.prom
	rm -f "$metrics_file"
	cat >/etc/numashift/numashiftd.conf <<'CONF'
[daemon]
debounce-ms=2000
start-delay-ms=500
drift-interval-s=0
metrics-dir=/var/lib/prometheus/node-exporter
[policy]
reserve-mib=64
CONF
	systemctl daemon-reload
	# Debian's node_exporter, as its package runs it (user prometheus,
	# its textfile directory), on this test host's loopback only.
	printf 'ARGS="--web.listen-address=127.0.0.1:9100"\n' >/etc/default/prometheus-node-exporter
	bounded 60 "systemctl start prometheus-node-exporter" systemctl start prometheus-node-exporter.service ||
		fail "prometheus-node-exporter.service did not start"
	bounded 120 "systemctl start libvirtd" systemctl start libvirtd.service || fail "libvirtd.service did not start"
	# Type=notify: start returns once READY=1 came, after the socket listens.
	bounded 60 "systemctl start numashiftd" systemctl start numashiftd.service ||
		{ systemctl --no-pager status numashiftd >&2 || true; fail "numashiftd.service did not start"; }
	_lv_started=1 # lv_stop destroys the domains at exit; systemd stops the daemons
	on_exit lv_stop
	on_exit "journalctl --no-pager -u numashiftd -o cat | sed 's/^/numashiftd: /' >&2"
	[[ -S /run/numashift/control.sock ]] || fail "numashiftd.service is active but its socket is not there"
	main_pid=$(systemctl show -P MainPID numashiftd)
	say "numashiftd.service active, pid $main_pid"

	# The confinement, read from the kernel: the bounding set the unit
	# names and nothing more, no_new_privs, a seccomp filter.
	want_caps=$(python3 -c 'print("%016x" % sum(1 << c for c in (1, 2, 0, 19, 21, 23)))') # DAC_OVERRIDE DAC_READ_SEARCH CHOWN SYS_PTRACE SYS_ADMIN SYS_NICE
	got_caps=$(awk '/^CapBnd:/ { print $2 }' "/proc/$main_pid/status")
	[[ $got_caps == "$want_caps" ]] || fail "numashiftd's bounding set is $got_caps, not $want_caps"
	grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$main_pid/status" || fail "numashiftd runs without no_new_privs"
	grep -q '^Seccomp:[[:space:]]*2' "/proc/$main_pid/status" || fail "numashiftd runs without a seccomp filter"
	say "numashiftd confined: CapBnd $got_caps, NoNewPrivs 1, Seccomp 2"

	node0_cpus=$(</sys/devices/system/node/node0/cpulist)
	node1_cpus=$(</sys/devices/system/node/node1/cpulist)
	# QEMU, as libvirt-qemu, loads the guest from where that user can read
	# it: a build under /root (a fresh root's clone) is out of its reach.
	install -D -m 0644 "$NS_BUILD_ROOT/guest/numashift-guest.elf" /var/lib/libvirt/images/numashift-guest.elf
	LV_GUEST_ELF=/var/lib/libvirt/images/numashift-guest.elf lv_guest_define nsguest 128 0 1
	virsh -q vcpupin nsguest 0 "$node0_cpus" --config >/dev/null
	virsh -q start nsguest >/dev/null || fail "virsh start failed"
	lv_guest_wait nsguest '^NSGUEST pass=1 ' 240
	pid=$(lv_qemu_pid nsguest)
	uuid_of_guest=$(virsh -q domuuid nsguest)
	qemu_user=$(stat -c %U "/proc/$pid")
	[[ $qemu_user == libvirt-qemu ]] || fail "QEMU runs as $qemu_user, not libvirt-qemu"
	hva=$(guest_ram_hva "$pid" 128) || fail "guest RAM mapping not found"
	ns_vma_on_node "$pid" "$hva" 0 95
	journal_has() { journalctl --no-pager -u numashiftd -o cat | grep -q -- "$1"; }
	wait_until 30 "the hook's start message in numashiftd's journal" journal_has 'hook: domain nsguest started begin'
	wait_until 30 "systemd's status line to count the domain" \
		eval '[[ $(systemctl show -P StatusText numashiftd) == "tracking 1 domain"* ]]'

	# A re-pin, and the hardened daemon moves the guest (another user's
	# process: ptrace access, its pagemap, move_pages).
	say "re-pinning the vCPU to node 1 (CPU $node1_cpus)"
	virsh -q vcpupin nsguest 0 "$node1_cpus" >/dev/null || fail "vcpupin failed"
	wait_vma_on_node "$pid" "$hva" 1 90 180
	wait_until 120 "the pinning job to end" job_is nsguest rebalance done
	journal_has 'runs on node 1: .*(move; trigger pinning)' || fail "numashiftd's journal has no pinning decision to move to node 1"
	numashift status nsguest >"$GUEST_DIR/status.txt" || fail "numashift status failed"
	cat "$GUEST_DIR/status.txt" >&2

	# node_exporter serves numashiftd's metrics: the placement numa_maps
	# shows, the job counted; the file is in Prometheus' own format.
	scrape() { busybox wget -q -O - http://127.0.0.1:9100/metrics; }
	scraped_job() { scrape | grep -q '^numashift_jobs_total{state="done",trigger="pinning"} [1-9]'; }
	wait_until 30 "node_exporter's /metrics to count the pinning job" scraped_job
	scrape >"$GUEST_DIR/metrics.txt"
	[[ $(stat -c '%U %a' "$metrics_file") == "root 644" ]] || fail "the metrics file is $(stat -c '%U %a' "$metrics_file"), not root 644"
	promtool check metrics <"$metrics_file" >"$GUEST_DIR/promtool.out" 2>&1 ||
		fail "promtool check metrics: $(head -n 3 "$GUEST_DIR/promtool.out")"
	[[ ! -s $GUEST_DIR/promtool.out ]] || fail "promtool check metrics: $(head -n 3 "$GUEST_DIR/promtool.out")"
	vma_line=$(grep "^$hva " "/proc/$pid/numa_maps") || fail "no numa_maps line at $hva"
	python3 - "$GUEST_DIR/metrics.txt" "$vma_line" "$uuid_of_guest" <<'PY' ||
		{ grep '^numashift_' "$GUEST_DIR/metrics.txt" >&2; fail "node_exporter's numashift series disagree with numa_maps"; }
import re, sys
text, vma, uuid = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
maps = {int(m.group(1)): int(m.group(2)) * 4096 for m in re.finditer(r" N(\d+)=(\d+)", vma)}
series = {}
# node_exporter writes large values as floats (1.34217728e+08).
for m in re.finditer(r'^numashift_domain_memory_bytes\{(.*)\} (\S+)$', text, re.M):
    labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
    assert labels["domain"] == "nsguest" and labels["uuid"] == uuid, labels
    series[int(labels["node"])] = series.get(int(labels["node"]), 0) + int(float(m.group(2)))
total = sum(maps.values())
print(f"numa_maps: {maps}; node_exporter: {series}", file=sys.stderr)
for node in set(maps) | set(series):
    # The guest touches pages after the job's scan: 3 % of its RAM of slack.
    if abs(maps.get(node, 0) - series.get(node, 0)) > total * 3 // 100:
        sys.exit(f"node {node}: numa_maps {maps.get(node, 0)} bytes, numashift {series.get(node, 0)}")
ratio = re.search(r'^numashift_domain_local_ratio\{domain="nsguest",uuid="[^"]*"\} ([0-9.e-]+)$', text, re.M)
if ratio is None or float(ratio.group(1)) < 0.95:
    sys.exit(f"local ratio {ratio and ratio.group(1)}, not >= 0.95 after the move")
moved = re.search(r'^numashift_moved_bytes_total (\S+)$', text, re.M)
if moved is None or float(moved.group(1)) < maps.get(1, 0) // 2:
    sys.exit(f"moved bytes {moved and moved.group(1)}: the move is not counted")
free = re.findall(r'^numashift_node_free_bytes\{node="(\d+)"\} (\S+)$', text, re.M)
if sorted(n for n, _ in free) != ["0", "1"]:
    sys.exit(f"node free series {free}")
PY
	say "node_exporter serves numashift's metrics: $(grep -c '^numashift_' "$GUEST_DIR/metrics.txt") lines, placement as numa_maps shows it, promtool clean"

	# Structured logs: the domain's history by its journal field, the
	# job's end by its MESSAGE_ID and job number.
	journalctl --no-pager NUMASHIFT_DOMAIN=nsguest -o cat >"$GUEST_DIR/journal-domain.txt"
	grep -q 'runs on node 1: .*(move; trigger pinning)' "$GUEST_DIR/journal-domain.txt" ||
		fail "journalctl NUMASHIFT_DOMAIN=nsguest has no pinning decision"
	grep -q 'job [0-9]* (trigger pinning) started' "$GUEST_DIR/journal-domain.txt" ||
		fail "journalctl NUMASHIFT_DOMAIN=nsguest has no job start"
	journalctl --no-pager MESSAGE_ID=488c233bd4dc4c2bbbe779b033cb5f1a NUMASHIFT_UUID="$uuid_of_guest" \
		-o json >"$GUEST_DIR/journal-done.json"
	python3 - "$GUEST_DIR/journal-done.json" <<'PY' || fail "no job-done journal entry with the domain's fields"
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
done = [e for e in entries if "trigger pinning" in e.get("MESSAGE", "")]
assert done, f"no pinning job's end among {len(entries)} job-done entries"
e = done[-1]
assert e.get("NUMASHIFT_DOMAIN") == "nsguest" and e.get("NUMASHIFT_JOB", "").isdigit(), e
assert e.get("_SYSTEMD_UNIT") == "numashiftd.service", e.get("_SYSTEMD_UNIT")
print(f"journal: job {e['NUMASHIFT_JOB']} done: {e['MESSAGE']}", file=sys.stderr)
PY
	# Every running domain, a line each, with its local share.
	numashift status >"$GUEST_DIR/status-all.txt" || fail "numashift status (every domain) exited $?"
	cat "$GUEST_DIR/status-all.txt" >&2
	grep -Eq '^nsguest +[0-9]+ +(9[5-9]|100)\.[0-9]%' "$GUEST_DIR/status-all.txt" ||
		fail "numashift status does not show nsguest's local share >= 95%"
	numashift --json status | python3 -c 'import json, sys
rows = json.load(sys.stdin)
assert [r["domain"] for r in rows] == ["nsguest"], rows
assert rows[0]["local_ratio"] >= 0.95 and rows[0]["daemon"] is not None, rows[0]' ||
		fail "numashift --json status (every domain) is not as expected"

	# Policy in libvirt's metadata: numashift policy writes it (live and
	# persistent), libvirt's METADATA_CHANGE event brings numashiftd to
	# decide again, and the decision says who opted the domain out.
	out=$(numashift policy nsguest --mode off --priority 5) || fail "numashift policy --mode off exited $?"
	[[ $out == "nsguest: metadata policy mode off, priority 5" ]] || fail "numashift policy said '$out'"
	virsh -q dumpxml --inactive nsguest | grep -q "<numashift:policy .*mode=.off. priority=.5." ||
		fail "the persistent definition has no numashift:policy mode=off priority=5"
	wait_until 30 "numashiftd's journal to follow the metadata change" \
		journal_has "nsguest: numashift's policy in its libvirt metadata changed"
	wait_until 60 "the policy job to end" journal_has 'rebalance job [0-9]* (trigger policy) ended'
	numashift --json status nsguest | python3 -c 'import json, sys
d = json.load(sys.stdin)["daemon"]["job"]
assert d["trigger"] == "policy", d["trigger"]
assert [x["reason"] for x in d["decisions"]] == ["opted-out"] and "metadata" in d["decisions"][0]["message"], d["decisions"]' ||
		fail "the job after the metadata change did not opt the domain out by its metadata"
	numashift policy nsguest --mode follow >/dev/null || fail "numashift policy --mode follow exited $?"
	say "numashift policy --mode off/follow: written to the domain's metadata, followed by numashiftd"

	# systemctl reload: a new drop-in, by the domain's UUID, read and named.
	uuid=$uuid_of_guest
	printf '[domain %s]\nmode=off\n' "$uuid" >/etc/numashift/numashiftd.conf.d/50-test.conf
	bounded 30 "systemctl reload numashiftd" systemctl reload numashiftd || fail "systemctl reload failed"
	wait_until 30 "numashiftd's journal to name the drop-in it reloaded" \
		journal_has "reload: configuration from /etc/numashift/numashiftd.conf, /etc/numashift/numashiftd.conf.d/50-test.conf"
	mode=$(numashift --json policy nsguest | python3 -c 'import json, sys; r = json.load(sys.stdin); print(r["mode"], r["mode_source"])')
	[[ $mode == "off config" ]] || fail "after the reload the policy is '$mode', not 'off config'"
	[[ $(systemctl show -P ActiveState numashiftd) == active ]] || fail "numashiftd is not active after the reload"

	# The bounding set is not wider than needed, and this test would see it
	# too narrow: without CAP_SYS_PTRACE (a drop-in, as an operator would
	# write one) numashiftd cannot move another user's QEMU: the migrate
	# fails and nothing moves; with the unit as shipped it moves.
	mkdir -p /etc/systemd/system/numashiftd.service.d
	printf '[Service]\nCapabilityBoundingSet=~CAP_SYS_PTRACE\n' >/etc/systemd/system/numashiftd.service.d/50-no-ptrace.conf
	systemctl daemon-reload
	bounded 60 "systemctl restart numashiftd (no CAP_SYS_PTRACE)" systemctl restart numashiftd || fail "restart without CAP_SYS_PTRACE failed"
	wait_until 30 "the restarted numashiftd to track nsguest" tracked nsguest
	rc=0
	numashift migrate nsguest --to 0 >"$GUEST_DIR/noptrace.out" 2>&1 || rc=$?
	say "without CAP_SYS_PTRACE: numashift migrate exited $rc: $(tail -n 1 "$GUEST_DIR/noptrace.out")"
	((rc != 0)) || fail "numashiftd moved another user's QEMU without CAP_SYS_PTRACE: the test does not test the bounding set"
	ns_vma_on_node "$pid" "$hva" 1 95
	rm /etc/systemd/system/numashiftd.service.d/50-no-ptrace.conf
	systemctl daemon-reload
	bounded 60 "systemctl restart numashiftd" systemctl restart numashiftd || fail "restart failed"
	wait_until 30 "the restarted numashiftd to track nsguest" tracked nsguest
	numashift migrate nsguest --to 0 >"$GUEST_DIR/migrate.out" 2>&1 ||
		fail "numashift migrate with the unit as shipped exited $?: $(tail -n 3 "$GUEST_DIR/migrate.out")"
	wait_vma_on_node "$pid" "$hva" 0 95 60

	lv_guest_stop nsguest 90
	[[ $(guest_verdict "$LV_GUEST_LOG") == clean ]] || fail "guest verdict $(guest_verdict "$LV_GUEST_LOG")"
	bounded 60 "systemctl stop numashiftd" systemctl stop numashiftd || fail "systemctl stop failed"
	[[ ! -e /run/numashift/control.sock ]] || fail "the stopped daemon left its socket"
	# RuntimeDirectoryPreserve: a --direct mover's lock in movers/ outlives the daemon.
	[[ -d /run/numashift ]] || fail "systemd removed /run/numashift (and any mover's lock in it) with the daemon"
	;;
numashift-faults)
	lv_start
	# 1. A strict domain: node 1 is outside its nodeset; refused up front.
	lv_guest_define strict 32 0 1 0 strict
	virsh -q start strict >/dev/null || fail "virsh start strict failed"
	lv_guest_wait strict '^NSGUEST pass=1 ' 240
	ns_expect_exit 5 "a node outside a strict nodeset" "$NUMASHIFT" migrate strict --to 1
	virsh -q destroy strict >/dev/null || fail "virsh destroy strict failed"

	# 2. The kernel's EACCES: the domain's cgroup is narrowed to node 0
	# behind libvirt's back (its XML still says preferred).  (The guest
	# rewrites a tenth of its pages, for part 3.)
	ksm_cmdline="passes=0 cpus=1 active=10"
	lv_guest_define nsguest 32 0 1 0 preferred qemu "$ksm_cmdline"
	virsh -q start nsguest >/dev/null || fail "virsh start failed"
	lv_guest_wait nsguest '^NSGUEST pass=1 ' 240
	pid=$(lv_qemu_pid nsguest)
	cg=/sys/fs/cgroup$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
	# libvirt puts QEMU's main thread in DOMAIN-CGROUP/emulator, vCPUs in
	# DOMAIN-CGROUP/vcpuN: narrow the domain's cgroup, above both.
	[[ ${cg##*/} == emulator ]] || fail "QEMU $pid is not in libvirt's emulator cgroup ($cg)"
	cg=${cg%/emulator}
	[[ -f $cg/cpuset.mems ]] || fail "no cpuset.mems for QEMU $pid (cgroup $cg)"
	old_mems=$(<"$cg/cpuset.mems")
	echo 0 >"$cg/cpuset.mems" || fail "cannot narrow $cg/cpuset.mems"
	say "cgroup $cg: cpuset.mems '$old_mems' -> '$(<"$cg/cpuset.mems.effective")'"
	ns_expect_exit 5 "the kernel's EACCES (cpuset.mems)" "$NUMASHIFT" migrate nsguest --to 1
	numashift --json status nsguest | python3 -c 'import json,sys
g=json.load(sys.stdin)["guest"]
assert list(g["nodes"]) == ["0"] and g["migrating_pages"] == 0 and g["failed_pages"] == 0, g' ||
		fail "a refused move left pages elsewhere or marked"
	# An empty cpuset.mems (inherit) cannot be written back: widen it to
	# the parent's nodes, which is what it inherited.
	[[ -n $old_mems ]] || old_mems=$(<"${cg%/*}/cpuset.mems.effective")
	echo "$old_mems" >"$cg/cpuset.mems" || fail "cannot restore $cg/cpuset.mems"

	# 3. Pages KSM merged (issue #13): a twin domain, the same guest on
	# the same memory map, holds the same bytes at the same addresses in
	# every page its guest does not rewrite (QEMU marks guest RAM
	# mergeable unless told otherwise).  With ksmd running, those pages
	# become one page mapped by both QEMUs, which MPOL_MF_MOVE leaves
	# (EACCES): numashift counts them as KSM-merged and leaves them, exit
	# 6; --move-shared (MPOL_MF_MOVE_ALL) moves them, for both guests.
	nsguest_log=$LV_GUEST_LOG
	lv_guest_define twin 32 0 1 0 preferred qemu "$ksm_cmdline"
	twin_log=$LV_GUEST_LOG
	virsh -q start twin >/dev/null || fail "virsh start twin failed"
	lv_guest_wait twin '^NSGUEST pass=1 ' 240
	ksm=/sys/kernel/mm/ksm
	echo 0 >"$ksm/sleep_millisecs" && echo 4000 >"$ksm/pages_to_scan" && echo 1 >"$ksm/run" ||
		fail "cannot start ksmd"
	on_exit "echo 0 >$ksm/run"
	# 32 MiB, 90% of it idle: about 7000 pairs of pages to merge.
	ksm_merged() { (($(<"$ksm/pages_sharing") >= 4000)); }
	wait_diag="grep . $ksm/pages_* >&2" wait_until 180 "ksmd to merge 4000 pages of the twin guests" ksm_merged
	say "ksmd: pages_shared $(<"$ksm/pages_shared"), pages_sharing $(<"$ksm/pages_sharing")"
	# ksmd stops (run=0 keeps what it merged): a page it is working on is
	# busy for move_pages(2) (EBUSY), and one such page through every pass
	# made the move below exit 6 (a fresh-root run, 2026-11-30).
	echo 0 >"$ksm/run"
	rc=0
	out=$("$NUMASHIFT" migrate nsguest --to 1) || rc=$?
	printf '%s\n' "$out" >&2
	((rc == 6)) || fail "moving KSM-merged memory without --move-shared exited $rc, not 6"
	[[ $out =~ "KSM-merged, left where they are: "([0-9]+)" of the guest's shared pages" ]] &&
		((BASH_REMATCH[1] >= 4000)) || fail "the report does not count the KSM-merged pages (4000 or more)"
	ns_memmap_json nsguest "$GUEST_DIR/memmap.json"
	hva0=$(ns_cell_hva "$GUEST_DIR/memmap.json" -1)
	# What the guest rewrites (a tenth) moved; the merged pages did not.
	ns_vma_on_node "$pid" "$hva0" 0 50
	"$NUMASHIFT" migrate nsguest --to 1 --move-shared >&2 || fail "numashift migrate --to 1 --move-shared exited $?"
	ns_vma_on_node "$pid" "$hva0" 1 95
	lv_guest_stop twin 90
	[[ $(guest_verdict "$twin_log") == clean ]] || fail "twin's verdict: $(guest_verdict "$twin_log")"
	LV_GUEST_LOG=$nsguest_log
	lv_guest_wait nsguest "^NSGUEST pass=$(($(grep -c '^NSGUEST pass=' "$LV_GUEST_LOG") + 1)) " 240

	# 4. QEMU killed with SIGKILL in the middle of a slow move (back to
	# node 0: part 3 left the guest on node 1).
	"$NUMASHIFT" migrate nsguest --to 0 --rate 4 >"$GUEST_DIR/killed.out" 2>"$GUEST_DIR/killed.err" &
	mover=$!
	wait_diag="cat '$GUEST_DIR/killed.out' '$GUEST_DIR/killed.err' >&2" \
		wait_until 30 "a progress line from numashift migrate nsguest --to 0 --rate 4" \
		grep -q '^progress' "$GUEST_DIR/killed.out"
	sleep 1
	kill -KILL "$pid"
	wait_pid 30 "numashift migrate to end after QEMU was SIGKILLed" "$mover"
	rc=$WAIT_STATUS
	cat "$GUEST_DIR/killed.out" >&2
	say "numashift after QEMU's death: exit $rc: $(<"$GUEST_DIR/killed.err")"
	[[ $rc == 4 ]] || fail "a move whose QEMU died exited $rc, not 4"
	[[ $(wc -l <"$GUEST_DIR/killed.err") == 1 ]] || fail "not one line on stderr after QEMU's death"
	grep -q '^progress' "$GUEST_DIR/killed.out" || fail "QEMU died before the move began: the test proved nothing"
	lv_stop
	;;
*) fail "unknown case $case_name" ;;
esac
say "ok"
