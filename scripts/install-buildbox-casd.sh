#!/usr/bin/env bash
# Installs buildbox 1.4.x (buildbox-casd, recc, casupload, casdownload, ...) from Debian's
# unstable suite into a private prefix, for tests and CI on a Debian bookworm machine.
#
# Why this way: Debian packages buildbox only in unstable, and its binaries need unstable's
# C library. We download the packages with apt into a private state directory (the system's
# apt state is never touched), unpack them into PREFIX/root, and run each binary through
# unstable's own dynamic loader with that root as the library path.
#
# usage: scripts/install-buildbox-casd.sh [PREFIX]   (default: $HOME/.cache/casd-action/buildbox)
# prints: the path of PREFIX/bin/buildbox-casd (a wrapper script)
set -euo pipefail

prefix="${1:-${CASD_ACTION_BUILDBOX_PREFIX:-$HOME/.cache/casd-action/buildbox}}"
casd="$prefix/bin/buildbox-casd"

if [[ -x "$casd" ]] && "$casd" --version / >/dev/null 2>&1; then
  echo "$casd"
  exit 0
fi

state="$prefix/apt-state"
root="$prefix/root"
# shellcheck source=lib/private-apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/private-apt.sh"
private_apt_setup "$state"
mkdir -p "$prefix/bin" "$prefix/libexec"

apt-get "${apt_private[@]}" update >/dev/null
rm -f "$state/pkg"/buildbox_*.deb
(cd "$state/pkg" && apt-get "${apt_private[@]}" download buildbox >/dev/null)
deb=$(ls "$state/pkg"/buildbox_*.deb | head -n 1)

# Runtime closure: buildbox's Depends (minus tools we never run) plus the C/C++ runtime,
# resolved against an empty status so apt fetches all of it from unstable.
depends=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -E 's/\(.*\)//; s/\|.*//; s/[[:space:]]//g' |
  grep -vE '^(|bubblewrap|fuse3)$' || true)
# shellcheck disable=SC2086
apt-get "${apt_private[@]}" -y --download-only install libc6 libstdc++6 libgcc-s1 $depends >/dev/null

rm -rf "$root" "$prefix/unpacked"
mkdir -p "$root"
for pkg in "$state"/cache/archives/*.deb; do dpkg-deb -x "$pkg" "$root"; done
dpkg-deb -x "$deb" "$prefix/unpacked"

libdir="$root/usr/lib/x86_64-linux-gnu"
for exe in "$prefix"/unpacked/usr/bin/*; do
  name=$(basename "$exe")
  head -c 4 "$exe" | grep -q 'ELF' || continue
  cp "$exe" "$prefix/libexec/$name"
  cat >"$prefix/bin/$name" <<WRAPPER
#!/bin/sh
exec "$libdir/ld-linux-x86-64.so.2" --library-path "$libdir" --argv0 "$name" "$prefix/libexec/$name" "\$@"
WRAPPER
  chmod 0755 "$prefix/bin/$name"
done

"$casd" --version / >/dev/null
echo "$casd"
