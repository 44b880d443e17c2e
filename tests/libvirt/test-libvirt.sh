#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The libvirt suite: numashift against a real libvirtd and a real QEMU
# running the memory-checking guest as a KVM domain.  Nothing here crosses
# NUMA nodes, but libvirtd must not run on this machine (it would start its
# default network, write under /etc, /var and leave its caches behind, and
# here /dev/kvm is root's alone), so each case boots a throw-away one-node
# test host (vm-images/numa-host --kvm: nested KVM) and runs inside it.
#
#   numashift-kvm   memmap agrees with /proc/PID/maps and covers the
#                   domain's memory, cells included; status counts every
#                   page on node 0; migrate --to 0 moves nothing and says
#                   every present page was in place; the guest stays clean
#   bad-input       unknown domain, stopped domain, a node that does not
#                   exist, a cell that does not exist, worker CPUs it may
#                   not use, a non-root caller, an unreachable URI (bad
#                   options: tests/cli/test-usage.sh): one line on
#                   stderr and the documented exit code; the running guest
#                   is untouched and stays clean
#
# Every virsh and numashift call runs under a deadline, and every wait has
# one (tests/lib/guest.sh, tests/lib/numashift.sh, vm-images/testhost-libvirt):
# a stuck libvirtd or command fails the case saying which, instead of
# hanging it until meson's timeout.
#
# Exit: 0 pass, 1 fail.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
src=$(cd "$here/../.." && pwd -P)
case_name=${1:?usage: test-libvirt.sh CASE}

if [[ ${NUMA_HOST:-0} != 1 ]]; then
	# 380 s: inside meson's 400, so that every wait in here (each bounded,
	# each saying what it waited for) fails by name before the host's timeout.
	# shellcheck source=../lib/test-host.sh
	. "$here/../lib/test-host.sh"
	mapfile -t caps_cache < <(lv_caps_cache_args 1)
	run_host() {
		"$src/vm-images/numa-host" --nodes 1 --mem-per-node 1024 --kvm --timeout 380 --quiet \
			"${caps_cache[@]}" --env "NS_BUILD_ROOT=${NS_BUILD_ROOT:?}" -- "$0" "$@"
	}
	rc=0
	run_rig_retry test-libvirt.sh run_host "$@" || rc=$?
	exit "$rc"
fi

# shellcheck source=../lib/guest.sh
. "$here/../lib/guest.sh"
# shellcheck source=../lib/numashift.sh
. "$here/../lib/numashift.sh"
# shellcheck source=../../vm-images/testhost-libvirt
. "$src/vm-images/testhost-libvirt"
guest_init
[[ -c /dev/kvm ]] || fail "no /dev/kvm in the test host"
mem=32

# start_guest: the guest as a KVM domain with two vNUMA cells, both on node 0.
start_guest() {
	lv_start
	lv_guest_define nsguest "$mem" 0 2 2 preferred kvm
	virsh -q start nsguest >/dev/null || fail "virsh start nsguest failed"
	# It takes seconds; 150 s keeps a guest that never reports inside the
	# test host's 300 s, so the failure names it and shows what it does.
	local t0=$EPOCHREALTIME
	lv_guest_wait nsguest '^NSGUEST pass=1 ' 150
	say "the guest reported its first pass $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s after virsh start"
	pid=$(lv_qemu_pid nsguest)
	[[ $(virsh -q dumpxml nsguest) == *"type='kvm'"* ]] || fail "the domain is not a KVM domain"
}

case $case_name in
numashift-kvm)
	start_guest
	ns_memmap_json nsguest "$GUEST_DIR/memmap.json"
	# Every range lies inside one mapping of /proc/PID/maps, the ranges do
	# not overlap in either address space, each cell holds half the RAM,
	# and together they cover the domain's memory less the legacy holes
	# below 1 MiB (VGA window, option ROMs, BIOS: at most 384 KiB).
	python3 - "$GUEST_DIR/memmap.json" "/proc/$pid/maps" "$mem" <<-'PY' || fail "memmap does not match /proc/$pid/maps"
		import json, sys
		m = json.load(open(sys.argv[1]))
		maps = []
		for line in open(sys.argv[2]):
		    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
		    maps.append((lo, hi))
		mem = int(sys.argv[3]) << 20
		rs = m["ranges"]
		assert rs, "no ranges"
		total = 0
		cells = {}
		for r in rs:
		    assert any(lo <= r["hva"] and r["hva"] + r["size"] <= hi for lo, hi in maps), r
		    assert r["page_size"] >= 4096 and r["size"] % r["page_size"] == 0, r
		    total += r["size"]
		    cells[r["cell"]] = cells.get(r["cell"], 0) + r["size"]
		for key in ("gpa", "hva"):
		    s = sorted(rs, key=lambda r: r[key])
		    for a, b in zip(s, s[1:]):
		        assert a[key] + a["size"] <= b[key], (key, a, b)
		assert mem - (384 << 10) <= total <= mem, (total, mem)
		assert sorted(cells) == [0, 1], cells
		assert abs(cells[0] - cells[1]) <= (384 << 10), cells
		print("memmap: %d ranges, %d KiB, cells %s" % (len(rs), total >> 10,
		      {c: v >> 10 for c, v in cells.items()}), file=sys.stderr)
	PY
	# The text form lists the same ranges.
	numashift memmap nsguest >"$GUEST_DIR/memmap.txt" || fail "numashift memmap (text) failed"
	cat "$GUEST_DIR/memmap.txt" >&2
	ranges=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["ranges"]))' "$GUEST_DIR/memmap.json")
	[[ $(grep -c '0x' "$GUEST_DIR/memmap.txt") -ge $ranges ]] || fail "the text memmap lists fewer than $ranges ranges"

	# status: every present page on node 0, nothing in flight or failed; the
	# cells add up to the guest.
	numashift --json status nsguest >"$GUEST_DIR/status.json" || fail "numashift status failed"
	python3 - "$GUEST_DIR/status.json" <<-'PY' || fail "numashift status is wrong"
		import json, sys
		s = json.load(open(sys.argv[1]))
		g = s["guest"]
		assert list(g["nodes"]) == ["0"], g["nodes"]
		assert g["nodes"]["0"]["pages"] == g["present_pages"] > 0, g
		assert g["migrating_pages"] == 0 and g["failed_pages"] == 0, g
		assert len(s["cells"]) == 2, s["cells"]
		# qemu:///system: the PID from libvirt's pid file, not the monitor (issue #15).
		assert s["pid_source"] == "pidfile", s["pid_source"]
		assert int(open("/run/libvirt/qemu/nsguest.pid").read()) == s["pid"], s["pid"]
		for key in ("total_pages", "present_pages"):
		    assert sum(c[key] for c in s["cells"]) == g[key], key
		print("status: %d of %d pages present, all on node 0" % (g["present_pages"], g["total_pages"]), file=sys.stderr)
	PY
	numashift status nsguest >&2 || fail "numashift status (text) failed"

	# migrate --to 0: already there.
	numashift --json migrate nsguest --to 0 >"$GUEST_DIR/migrate.json" || fail "numashift migrate --to 0 exited $?"
	python3 - "$GUEST_DIR/migrate.json" "$GUEST_DIR/status.json" <<-'PY' || fail "migrate --to 0 did not report everything in place"
		import json, sys
		r = json.load(open(sys.argv[1]))
		g = json.load(open(sys.argv[2]))["guest"]
		assert r["outcome"] == "done", r
		assert r["moved_pages"] == 0 and r["failed_pages"] == 0, r
		# THP: a huge page counts 512; the guest may have touched a page since.
		assert r["in_place_pages"] >= g["present_pages"] * 95 // 100, (r, g)
		# A KVM domain answers query-stats: the report carries KVM's counter deltas.
		assert isinstance(r.get("kvm"), dict) and "remote_tlb_flush" in r["kvm"], r.get("kvm")
		print("migrate --to 0: %d pages in place, %d moved, kvm %s" % (r["in_place_pages"], r["moved_pages"], r["kvm"]), file=sys.stderr)
	PY
	numashift migrate nsguest --to 0 --dry-run >&2 || fail "numashift migrate --dry-run failed"
	guest_wait_lv_passes() { lv_guest_wait nsguest "^NSGUEST pass=$(($(grep -c '^NSGUEST pass=' "$LV_GUEST_LOG") + $1)) " 240; }
	guest_wait_lv_passes 1
	ns_guest_stop_clean nsguest 90
	;;
bad-input)
	start_guest
	# A second domain, defined but never started.
	lv_guest_xml idle 16 0 1 >"$GUEST_DIR/idle.xml"
	virsh -q define "$GUEST_DIR/idle.xml" >/dev/null || fail "virsh define idle failed"
	uuid=$(virsh -q domuuid nsguest)
	id=$(virsh -q domid nsguest)

	ns_expect_exit 3 "unknown domain" "$NUMASHIFT" status nosuchguest
	ns_expect_exit 3 "unknown UUID" "$NUMASHIFT" status 6f1c9a52-0000-4000-8000-000000000000
	ns_expect_exit 4 "status of a stopped domain" "$NUMASHIFT" status idle
	ns_expect_exit 4 "memmap of a stopped domain" "$NUMASHIFT" memmap idle
	ns_expect_exit 4 "migrate of a stopped domain" "$NUMASHIFT" migrate idle --to 0
	ns_expect_exit 3 "a node that does not exist" "$NUMASHIFT" migrate nsguest --to 1
	ns_expect_exit 3 "a node far out of range" "$NUMASHIFT" migrate nsguest --to 4000
	ns_expect_exit 3 "a cell that does not exist" "$NUMASHIFT" migrate nsguest --cell 2 --to 0
	# Usage errors (exit 2) need no domain: tests/cli/test-usage.sh.
	ns_expect_exit 3 "worker CPUs numashift may not use" "$NUMASHIFT" migrate nsguest --to 0 --cpus 4000
	ns_expect_exit 1 "a URI nobody serves" "$NUMASHIFT" -c qemu+unix:///system?socket=/run/nonexistent.sock status nsguest
	ns_expect_exit 5 "a non-root caller" setpriv --reuid=65534 --regid=65534 --clear-groups "$NUMASHIFT" status nsguest
	ns_expect_exit 5 "a non-root migrate" setpriv --reuid=65534 --regid=65534 --clear-groups "$NUMASHIFT" migrate nsguest --to 0

	# The same domain by name, ID and UUID.
	for key in nsguest "$id" "$uuid"; do
		numashift --json status "$key" | python3 -c 'import json,sys
assert json.load(sys.stdin)["domain"] == "nsguest"' || fail "status $key does not name nsguest"
	done
	# None of the refused commands moved or marked anything.
	numashift --json status nsguest | python3 -c 'import json,sys
g=json.load(sys.stdin)["guest"]
assert list(g["nodes"]) == ["0"] and g["migrating_pages"] == 0 and g["failed_pages"] == 0, g' ||
		fail "the refused commands left the guest in another state"
	virsh -q undefine idle >/dev/null || fail "virsh undefine idle failed"
	ns_guest_stop_clean nsguest 90
	;;
*) fail "unknown case $case_name" ;;
esac
say "ok"
