# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Running a test case inside the multi-NUMA test host (vm-images/numa-host),
# outside it: sourced by the test scripts before they re-run themselves in
# the host.  Needs nothing else from tests/lib.

# run_rig_retry NAME CMD...: run CMD (which boots a test host); when it
# exits 125, run it again, at most twice more, saying so on stderr as NAME
# (tests/run-all lists every such case with why).  125 is the rig
# failing, not a test: nested KVM runs on TCG's emulation of AMD SVM, which
# has frozen the whole test host (numa-host: no heartbeat) or reset it (CI,
# session 8: QEMU exited 0, no status, nothing on the console), and a plain
# TCG test host has hung while booting (a fresh-root run, 2026-11-30: no
# output for 300 s); a KVM guest in it has died before its first pass,
# before any page of it could move (vm-images/testhost-libvirt exits 125
# then), or after it, of a CPU exception or a freeze.  In one
# fresh-root run (2026-11-30) one case met two such failures in a row (a
# hung test host, then a guest killed after 52 passes): so up to three
# boots, each retry said out loud.  Any other status (a failed check is 1,
# a timeout of the command 124) is returned as it is, never retried.
run_rig_retry() {
	local name=$1 rc=0 boot
	shift
	for boot in 1 2 3; do
		rc=0
		"$@" || rc=$?
		((rc == 125 && boot < 3)) || return "$rc"
		echo "$name: the test host died or hung (exit 125): booting it once more ($((boot + 1)) of 3)" >&2
	done
}

# lv_caps_cache_args KVM: numa-host arguments that share a cache of
# libvirtd's QEMU capabilities with the test host (LV_CAPS_CACHE,
# vm-images/testhost-libvirt): one for test hosts with nested KVM (KVM=1),
# one without, since libvirtd probes again when /dev/kvm comes or goes.
# Under ~/.cache/numashift (never committed); nothing when it cannot be made.
lv_caps_cache_args() {
	local dir
	dir=${XDG_CACHE_HOME:-$HOME/.cache}/numashift/libvirt-caps/$([[ $1 == 1 ]] && echo kvm || echo tcg)
	mkdir -p "$dir" 2>/dev/null || return 0
	printf '%s\n' --out "$dir" --env "LV_CAPS_CACHE=$dir"
}
