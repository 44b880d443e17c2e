#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# numashift's bash completion (tools/numashift.bash-completion, issue #15)
# under Debian's bash-completion, as an interactive shell loads it:
# commands and options come from the built numashift's --help, domains
# from virsh on the URI given with -c (libvirt's test driver, whose one
# running domain is "test"), host nodes from sysfs, policy modes.  Each
# case sets COMP_WORDS as bash would for the line and checks the candidates.
#
# Exit: 0 pass, 1 fail, 77 skip (bash-completion is not installed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
completion=$here/../../tools/numashift.bash-completion
numashift=${NS_BUILD_ROOT:?}/tools/numashift
main=/usr/share/bash-completion/bash_completion
if [[ ! -r $main ]]; then
	echo "# bash-completion is not installed ($main): tools/install-deps installs it"
	exit 77
fi

# One line, completed: prints the candidates, one per line, sorted.
complete_line() {
	local line=$1
	NUMASHIFT_BIN=$numashift LINE=$line bash --norc --noprofile -c '
		set +o posix
		. "'"$main"'"
		. "'"$completion"'"
		# compopt acts on a completion bash is running: outside one (here) it
		# only complains; what it would set (nospace after "--to=") is not
		# what this test checks.
		compopt() { :; }
		read -r -a COMP_WORDS <<<"$LINE"
		[[ $LINE == *" " ]] && COMP_WORDS+=("")
		COMP_WORDS[0]=$NUMASHIFT_BIN
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$NUMASHIFT_BIN ${LINE#* }"
		COMP_POINT=${#COMP_LINE}
		_numashift
		printf "%s\n" "${COMPREPLY[@]}" | sort
	' 2>&1
}

failed=0
# expect LINE WANT...: every WANT is a candidate, and (with --only) nothing else.
expect() {
	local only=0
	[[ $1 == --only ]] && only=1 && shift
	local line=$1
	shift
	local got
	got=$(complete_line "$line")
	for w in "$@"; do
		if ! grep -qxF -- "$w" <<<"$got"; then
			echo "not ok: '$line<TAB>' does not offer '$w'; it offers: $(echo $got)"
			failed=1
			return
		fi
	done
	if ((only)) && [[ $(grep -c . <<<"$got") -ne $# ]]; then
		echo "not ok: '$line<TAB>' offers more than $*: $(echo $got)"
		failed=1
		return
	fi
	echo "ok: '$line<TAB>' -> $(echo $got)"
}

# expect_none LINE: no candidate (the command takes nothing more).
expect_none() {
	local got
	got=$(complete_line "$1")
	if [[ -n $got ]]; then
		echo "not ok: '$1<TAB>' offers $(echo $got); it takes nothing more"
		failed=1
		return
	fi
	echo "ok: '$1<TAB>' -> nothing"
}

nodes=$(ls -d /sys/devices/system/node/node[0-9]* | sed 's|.*/node||' | sort)
expect --only "numashift m" memmap migrate
expect "numashift " nodes status migrate rebalance policy jobs pause resume cancel events
expect "numashift --" --json --connect= --version --help
expect "numashift migrate --" --to= --dry-run --cell= --rate= --workers= --cpus= --move-shared --detach
expect "numashift status --" --watch --interval=
expect --only "numashift -c test:///default status " test
expect --only "numashift --connect=test:///default migrate t" test
expect --only "numashift -c test:///default migrate test --to " $nodes
expect --only "numashift -c test:///default policy test " follow off
expect_none "numashift -c test:///default policy test off "
expect_none "numashift -c test:///default nodes "
expect_none "numashift -c test:///default migrate test "
exit $failed
