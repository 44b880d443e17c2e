#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Debian packages (issue #15), as an operator meets them:
# `dpkg-buildpackage -us -uc -b` on a copy of the source tree builds
# numashift, libnsradix0 and libnsradix-dev; lintian finds no error in
# them; on a fresh Debian 12 root (debootstrap minbase from the archive
# apt uses, kept as a tar under ~/.cache/numashift/package-root) apt
# installs them with what they depend on; every file is where it belongs,
# the hook link points at the hook, the sample configuration is a
# conffile that `numashiftd --check-config` loads, the unit is enabled and
# runs /usr/sbin/numashiftd; `apt-get purge` removes all of it, /etc
# included.  The root is removed at the end, by its own path, whatever
# happened.
#
# Story: its first fresh root failed at dpkg-checkbuilddeps, which wants
# build-essential besides Build-Depends; install-deps installs it.
#
# Exit: 0 pass, 1 fail, 77 skip (not root, or no debootstrap).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
src=$(cd "$here/../.." && pwd -P)
say() { echo "test-package.sh: $*" >&2; }
fail() {
	say "FAIL: $*"
	exit 1
}
if (($(id -u) != 0)); then
	echo "# not root: a chroot needs root"
	exit 77
fi
for tool in dpkg-buildpackage lintian debootstrap; do
	command -v "$tool" >/dev/null || {
		echo "# $tool not installed (tools/install-deps installs it)"
		exit 77
	}
done

work=$(mktemp -d "${TMPDIR:-/var/tmp}/ns-package.XXXXXX")
root=$work/root
cleanup() {
	umount "$root/proc" 2>/dev/null || true
	if mountpoint -q "$root/proc" 2>/dev/null; then
		say "$root/proc is still mounted: leaving $work for a person to remove"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# bounded SECS WHAT CMD...: CMD under a deadline, failing with WHAT.
bounded() {
	local secs=$1 what=$2 rc=0
	shift 2
	timeout -k 10 "$secs" "$@" || rc=$?
	((rc != 124)) || fail "$what took longer than $secs s"
	return "$rc"
}

# 1. Build, from the tree as it is (no git inside a fresh root), without
# the build directories.
mkdir -p "$work/src/numashift"
tar -C "$src" --exclude=./_build --exclude=./.git -cf - . | tar -C "$work/src/numashift" -xf -
(cd "$work/src/numashift" && bounded 900 "dpkg-buildpackage" dpkg-buildpackage -us -uc -b) \
	>"$work/build.log" 2>&1 || {
	tail -n 30 "$work/build.log" >&2
	fail "dpkg-buildpackage -us -uc -b failed"
}
debs=()
for p in numashift libnsradix0 libnsradix-dev; do
	f=$(ls "$work/src/${p}"_*.deb 2>/dev/null | head -n 1)
	[[ -n $f ]] || fail "no package $p was built"
	debs+=("$f")
done
say "built: $(cd "$work/src" && ls ./*.deb | tr '\n' ' ')"

# 2. lintian: warnings shown, an error fails.
lintian_out=$(cd "$work/src" && bounded 300 lintian lintian ./*.changes 2>&1) || true
lintian_out=$(grep -v 'running with root privileges' <<<"$lintian_out" || true)
[[ -z $lintian_out ]] || sed 's/^/lintian: /' <<<"$lintian_out" >&2
if grep -q '^E: ' <<<"$lintian_out"; then fail "lintian reports errors"; fi
say "lintian: no error ($(grep -c '^W: ' <<<"$lintian_out" || true) warnings)"

# 3. A fresh Debian 12 root.
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[[ -n $mirror ]] || mirror=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
[[ -n $mirror ]] || fail "no Debian archive in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/numashift/package-root
tarball=$cache/bookworm-minbase.tar
if [[ ! -s $tarball ]]; then
	say "debootstrap --variant=minbase bookworm from $mirror (once; kept in $cache)"
	mkdir -p "$cache"
	bounded 900 debootstrap debootstrap --variant=minbase bookworm "$work/base" "$mirror" \
		>"$work/debootstrap.log" 2>&1 || {
		tail -n 20 "$work/debootstrap.log" >&2
		fail "debootstrap failed"
	}
	tar -C "$work/base" -cf "$tarball.new" . && mv "$tarball.new" "$tarball"
	rm -rf "$work/base"
fi
mkdir -p "$root"
tar -C "$root" -xf "$tarball"
cp /etc/resolv.conf "$root/etc/" 2>/dev/null || true
mount -t proc proc "$root/proc"
# A command in the root, with a clean environment (an array: timeout runs it).
in_root=(chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive)
mkdir -p "$root/tmp/debs"
cp "${debs[@]}" "$root/tmp/debs/"
in_root_debs=()
for f in "${debs[@]}"; do in_root_debs+=("/tmp/debs/${f##*/}"); done

# 4. Install, with what the packages depend on, from the archive.
bounded 600 "apt-get update" "${in_root[@]}" apt-get update -qq >"$work/apt.log" 2>&1 || {
	tail -n 20 "$work/apt.log" >&2
	fail "apt-get update in the fresh root failed"
}
bounded 900 "apt-get install" "${in_root[@]}" apt-get install -y -qq --no-install-recommends "${in_root_debs[@]}" >>"$work/apt.log" 2>&1 || {
	tail -n 20 "$work/apt.log" >&2
	fail "apt-get install of the packages failed"
}
say "installed on a fresh root: $("${in_root[@]}" dpkg-query -W -f '${Package} ${Version}\n' numashift libnsradix0 libnsradix-dev | paste -sd, -)"

files=(
	/usr/bin/numashift /usr/sbin/numashiftd /usr/libexec/numashift-hook
	/lib/systemd/system/numashiftd.service
	/usr/share/man/man1/numashift.1.gz /usr/share/man/man5/numashiftd.conf.5.gz
	/usr/share/man/man8/numashiftd.8.gz /usr/share/bash-completion/completions/numashift
	/usr/share/doc/numashift/examples/grafana-numashift.json
	/etc/numashift/numashiftd.conf
	/usr/include/numashift/radix.h
)
for f in "${files[@]}"; do
	[[ -e $root$f ]] || fail "$f is not installed"
done
[[ -d $root/etc/numashift/numashiftd.conf.d ]] || fail "/etc/numashift/numashiftd.conf.d is not there"
ls "$root"/usr/lib/*/libnsradix.so.0 >/dev/null 2>&1 || fail "libnsradix.so.0 is not installed"
ls "$root"/usr/lib/*/pkgconfig/libnsradix.pc >/dev/null 2>&1 || fail "libnsradix.pc is not installed"
link=$(readlink "$root/etc/libvirt/hooks/qemu.d/numashift") || fail "no hook link in /etc/libvirt/hooks/qemu.d"
[[ $link == /usr/libexec/numashift-hook ]] || fail "the hook link points at $link"
grep -qx 'ExecStart=/usr/sbin/numashiftd' "$root/lib/systemd/system/numashiftd.service" ||
	fail "the unit does not run /usr/sbin/numashiftd: $(grep ExecStart "$root/lib/systemd/system/numashiftd.service")"
"${in_root[@]}" dpkg-query -W -f '${Conffiles}\n' numashift | grep -q '/etc/numashift/numashiftd.conf ' ||
	fail "/etc/numashift/numashiftd.conf is not a conffile"
out=$("${in_root[@]}" numashiftd --check-config 2>&1) || fail "numashiftd --check-config: $out"
[[ $out == "configuration ok (/etc/numashift/numashiftd.conf)" ]] || fail "numashiftd --check-config says '$out'"
out=$("${in_root[@]}" numashift --version 2>&1) || fail "numashift --version: $out"
[[ $out == "numashift 0.1.0" ]] || fail "numashift --version says '$out'"
enabled=0
if [[ -x $root/usr/bin/deb-systemd-helper ]]; then
	[[ -L $root/etc/systemd/system/multi-user.target.wants/numashiftd.service ]] ||
		fail "the package did not enable numashiftd.service"
	enabled=1
fi
say "files, hook link, conffile, --check-config, --version: ok$( ((enabled)) && echo ", unit enabled")"

# 5. Purge: nothing of it stays.
bounded 300 "apt-get purge" "${in_root[@]}" apt-get purge -y -qq numashift libnsradix-dev libnsradix0 >>"$work/apt.log" 2>&1 || {
	tail -n 20 "$work/apt.log" >&2
	fail "apt-get purge failed"
}
for f in "${files[@]}" /etc/libvirt/hooks/qemu.d/numashift /etc/numashift \
	/etc/systemd/system/multi-user.target.wants/numashiftd.service; do
	[[ ! -e $root$f && ! -L $root$f ]] || fail "$f is still there after purge"
done
! ls "$root"/usr/lib/*/libnsradix.so* >/dev/null 2>&1 || fail "libnsradix is still there after purge"
say "purged: every file, the hook link, /etc/numashift and the unit's enablement are gone"
say ok
