# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Shell helpers for tests and benchmarks that drive the numashift command
# against a libvirt domain (inside the test host, with
# vm-images/testhost-libvirt).  Source after tests/lib/guest.sh (for fail,
# say and bounded).  NS_BUILD_ROOT names the meson build directory.
#
# $NUMASHIFT is the program (for background jobs, setpriv, script(1));
# the function numashift runs it in the foreground under a deadline
# (NS_CLI_TIMEOUT seconds, default 120: a move of a 128 MiB guest takes
# seconds), so that a stuck libvirtd or numashiftd fails the test saying
# which command hung instead of hanging it until meson's timeout.

NUMASHIFT=${NS_BUILD_ROOT:?NS_BUILD_ROOT unset}/tools/numashift
NS_CLI_TIMEOUT=${NS_CLI_TIMEOUT:-120}

# numashift ARG...: $NUMASHIFT ARG... under a deadline; its exit status.
numashift() {
	bounded "$NS_CLI_TIMEOUT" "numashift $*" "$NUMASHIFT" "$@"
}

# ns_memmap_json DOMAIN FILE: numashift's memory map of DOMAIN, as JSON, in FILE.
ns_memmap_json() {
	local rc=0
	numashift --json memmap "$1" >"$2" || rc=$?
	((rc == 0)) || fail "numashift memmap $1 exited $rc"
}

# ns_cell_hva FILE CELL: the lowest host address (hex, no 0x) of CELL's RAM
# in the memory map FILE (CELL -1: the guest without vNUMA cells).
ns_cell_hva() {
	python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))
print(min(hex(r["hva"])[2:] for r in m["ranges"] if r["cell"] == int(sys.argv[2])))' "$1" "$2"
}

# ns_vma_on_node PID HVA NODE PERCENT: the VMA of PID starting at HVA has at
# least PERCENT % of its pages on NODE, per /proc/PID/numa_maps.
ns_vma_on_node() {
	local line total=0 on=0 f n
	line=$(grep "^$2 " "/proc/$1/numa_maps") || fail "no numa_maps line at $2"
	for f in $line; do
		[[ $f == N[0-9]*=* ]] || continue
		n=${f%%=*}
		total=$((total + ${f#*=}))
		if [[ ${n#N} == "$3" ]]; then on=${f#*=}; fi
	done
	say "VMA $2: $on of $total pages on node $3"
	((total > 0 && on * 100 >= total * $4)) || fail "VMA $2: only $on of $total pages on node $3"
}

# ns_status_percent DOMAIN NODE [CELL]: the percentage of DOMAIN's present
# pages (or CELL's) that `numashift status` puts on NODE.
ns_status_percent() {
	numashift --json status "$1" | python3 -c 'import json,sys
s=json.load(sys.stdin); node=sys.argv[1]
g=s["guest"] if len(sys.argv) < 3 else s["cells"][int(sys.argv[2])]
present=sum(v["pages"] for v in g["nodes"].values())
print(g["nodes"].get(node, {"pages": 0})["pages"] * 100 // max(present, 1))' "${@:2}"
}

# ns_expect_exit CODE WHAT COMMAND...: COMMAND exits CODE and says why on
# stderr in exactly one line starting with "numashift: " (or "Usage"-free
# one-liner for code 2).  Its stdout is ignored.  COMMAND is a program
# ("$NUMASHIFT", setpriv ...), run under a deadline of NS_CLI_TIMEOUT s.
ns_expect_exit() {
	local want=$1 what=$2 rc=0 err
	shift 2
	err=$(bounded "$NS_CLI_TIMEOUT" "$what: $*" "$@" 2>&1 >/dev/null) || rc=$?
	[[ $rc == "$want" ]] || fail "$what: exit $rc, not $want (stderr: $err)"
	[[ $(printf '%s\n' "$err" | wc -l) == 1 && $err == numashift* ]] ||
		fail "$what: stderr is not one 'numashift...' line: $err"
	say "$what: exit $rc: $err"
}

# ns_guest_stop_clean NAME SECS [LOG [nostop]]: ask the domain's guest to
# stop after its pass, require its own verdict (from LOG, default
# $LV_GUEST_LOG) to be clean, then stop libvirtd (vm-images/testhost-libvirt)
# unless "nostop" (other domains still to stop).
ns_guest_stop_clean() {
	local log=${3:-$LV_GUEST_LOG} verdict
	lv_guest_stop "$1" "$2"
	verdict=$(guest_verdict "$log")
	say "guest: verdict=$verdict passes=$(guest_report_field "$log" passes)" \
		"errors=$(guest_report_field "$log" errors)" \
		"worst_access_us=$(guest_report_field "$log" worst_access_us)"
	[[ $verdict == clean ]] || fail "guest verdict $verdict"
	[[ ${4:-} == nostop ]] || lv_stop
}
