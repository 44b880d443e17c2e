#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The numashift command's usage errors: options it refuses before it asks
# libvirt or numashiftd anything exit 2 with one line on stderr, so they
# need no domain and run here, in every build with the guest (the ASan
# build included), in a second.  What needs a running domain (an unknown
# or stopped domain, a node or cell that does not exist, a non-root
# caller) is libvirt-bad-input's, in the test host.
#
# Exit: 0 pass, 1 fail.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=../lib/guest.sh
. "$here/../lib/guest.sh"
# shellcheck source=../lib/numashift.sh
. "$here/../lib/numashift.sh"
export NS_CLI_TIMEOUT=30

# Nothing here may reach a libvirtd or a numashiftd, even where one runs.
export LIBVIRT_DEFAULT_URI="qemu+unix:///system?socket=/nonexistent/libvirt-sock"
export NUMASHIFT_CONTROL_SOCKET=/nonexistent/numashift.sock

ns_expect_exit 2 "a node that is no number" "$NUMASHIFT" migrate nsguest --to one
ns_expect_exit 2 "a negative node" "$NUMASHIFT" migrate nsguest --to -1
ns_expect_exit 2 "no --to" "$NUMASHIFT" migrate nsguest
ns_expect_exit 2 "--watch without a domain (status alone lists every domain)" "$NUMASHIFT" status --watch
ns_expect_exit 2 "two domains" "$NUMASHIFT" status nsguest idle
ns_expect_exit 2 "an interval without --watch" "$NUMASHIFT" status nsguest --interval 2
ns_expect_exit 2 "a zero interval" "$NUMASHIFT" status nsguest --watch --interval 0
ns_expect_exit 2 "an interval that is no number" "$NUMASHIFT" status nsguest --watch --interval soon
ns_expect_exit 2 "zero workers" "$NUMASHIFT" migrate nsguest --to 0 --workers 0
ns_expect_exit 2 "a hot-pages sample of 0 ms" "$NUMASHIFT" migrate nsguest --to 0 --hot-first 0
ns_expect_exit 2 "a hot-pages sample over 60 s" "$NUMASHIFT" migrate nsguest --to 0 --hot-first 60001
ns_expect_exit 2 "too many workers" "$NUMASHIFT" migrate nsguest --to 0 --workers 100000
ns_expect_exit 2 "worker CPUs that are no list" "$NUMASHIFT" migrate nsguest --to 0 --cpus all
ns_expect_exit 2 "a negative rate" "$NUMASHIFT" migrate nsguest --to 0 --rate -5
ns_expect_exit 2 "a zero rate" "$NUMASHIFT" migrate nsguest --to 0 --rate 0
ns_expect_exit 2 "an infinite rate" "$NUMASHIFT" migrate nsguest --to 0 --rate inf
ns_expect_exit 2 "a negative cell" "$NUMASHIFT" migrate nsguest --cell -3 --to 0
ns_expect_exit 2 "an unknown option" "$NUMASHIFT" migrate nsguest --to 0 --fast
ns_expect_exit 2 "an unknown command" "$NUMASHIFT" shuffle nsguest
ns_expect_exit 2 "--detach with --direct" "$NUMASHIFT" migrate nsguest --to 0 --detach --direct
ns_expect_exit 2 "--detach with --dry-run" "$NUMASHIFT" migrate nsguest --to 0 --detach --dry-run
ns_expect_exit 2 "cancel without a domain or job" "$NUMASHIFT" cancel
ns_expect_exit 2 "a job that is no number" "$NUMASHIFT" pause job:x
ns_expect_exit 2 "job 0" "$NUMASHIFT" resume job:0
ns_expect_exit 2 "two jobs" "$NUMASHIFT" cancel job:1 job:2
ns_expect_exit 4 "cancel without numashiftd" "$NUMASHIFT" cancel nsguest
# No daemon listens (NUMASHIFT_CONTROL_SOCKET above): nothing to leave running, exit 4.
ns_expect_exit 4 "--detach without numashiftd" "$NUMASHIFT" migrate nsguest --to 0 --detach
# --version: the project's version, exit 0, for both programs.
want=$(sed -n "s/^  version: '\(.*\)',$/\1/p" "$here/../../meson.build")
[[ -n $want ]] || fail "no version in meson.build"
for prog in "$NUMASHIFT" "$NS_BUILD_ROOT/hv/daemon/numashiftd"; do
	got=$("$prog" --version) || fail "${prog##*/} --version exited $?"
	[[ $got == "${prog##*/} $want" ]] || fail "${prog##*/} --version says '$got', not '${prog##*/} $want'"
done
say "ok"
