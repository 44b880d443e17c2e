#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every configuration example in the man pages loads (issue #15).  The
# example in numashiftd.8 did not: it put comments at the ends of lines
# ("max-jobs=1  # jobs at once"), which a GLib key file takes as part of
# the value, and left keys empty that must not be ("worker-cpus=").  This
# reads each .nf/.fi block that starts with a [group] line from
# docs/*.[158], undoes groff's escapes, and runs numashiftd
# --check-config on it; it fails if a block does not load, or if
# numashiftd.conf.5 has no such block with [daemon] and [domain UUID]
# groups (an example that moved or was renamed must not pass unread).
#
# Exit: 0 pass, 1 fail.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=../lib/guest.sh
. "$here/../lib/guest.sh"
daemon=${NS_BUILD_ROOT:?}/hv/daemon/numashiftd
docs=$here/../../docs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

found=0
for page in "$docs"/*.[158]; do
	# Split the page's .nf/.fi blocks into files; keep those that open with [group].
	awk -v out="$tmp/${page##*/}" '
		/^\.nf/ { n++; inside = 1; next }
		/^\.fi/ { inside = 0; next }
		inside {
			line = $0
			gsub(/\\-/, "-", line)
			gsub(/\\e/, "\\", line)
			print line > (out "." n)
		}' "$page"
	for block in "$tmp/${page##*/}".*; do
		[[ -e $block ]] || continue
		first=$(grep -v '^[[:space:]]*\(#.*\)\?$' "$block" | head -n 1)
		[[ $first == \[* ]] || continue
		found=$((found + 1))
		what="${page##*/}, example ${block##*.}"
		out=$("$daemon" --check-config --config "$block" 2>&1) ||
			fail "$what does not load: $out"
		[[ $out == "configuration ok ($block)" ]] || fail "$what: numashiftd says '$out'"
		say "$what loads ($(grep -c '=' "$block") keys)"
	done
done
# The packages' commented sample configuration (tools/numashiftd.conf) loads too.
sample=$here/../../tools/numashiftd.conf
out=$("$daemon" --check-config --config "$sample" 2>&1) || fail "tools/numashiftd.conf does not load: $out"
say "tools/numashiftd.conf loads"
grep -q '^\[daemon\]' "$tmp"/numashiftd.conf.5.* 2>/dev/null || fail "numashiftd.conf.5 has no [daemon] example"
grep -q '^\[domain [0-9a-f-]\{36\}\]' "$tmp"/numashiftd.conf.5.* 2>/dev/null ||
	fail "numashiftd.conf.5 has no [domain UUID] example"
((found > 0)) || fail "no configuration example in docs/*.[158]"
say ok
