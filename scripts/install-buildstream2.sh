#!/usr/bin/env bash
# Installs BuildStream 2 (Debian unstable's buildstream package, 2.8.x at the time of writing)
# into a private prefix on a Debian bookworm machine, for trying the action's buildstream.conf
# against a real `bst` in tests and CI.
#
# Why this way: bookworm ships only BuildStream 1.6; Debian packages BuildStream 2 in unstable,
# where it needs unstable's python3.14, grpcio, protobuf and buildbox, which need unstable's
# C library. So, as scripts/install-buildbox-casd.sh does for buildbox:
#   * apt resolves and downloads the whole closure of `buildstream` from unstable (about 90
#     packages, ~40 MiB) against an empty dpkg status, with every piece of apt state, cache
#     and log inside PREFIX/apt-state (the system's /var/lib/apt, /var/cache/apt and
#     /var/log/apt are never written, not even by a download-only run);
#   * each .deb is unpacked with dpkg-deb -x into PREFIX/root (no maintainer scripts run);
#   * python3.x and the buildbox binaries run through unstable's own dynamic loader with
#     --library-path PREFIX/root/... (no LD_LIBRARY_PATH, so the host tools BuildStream starts,
#     e.g. git or bwrap, keep using bookworm's libraries);
#   * the python wrapper lives in PREFIX/root/usr/bin and passes its own path as argv[0], so
#     Python finds its stdlib from there (no PYTHONHOME leaking into BuildStream's children)
#     and sys.executable is the wrapper: BuildStream's multiprocessing forkserver re-executes
#     sys.executable, and the raw interpreter cannot start on bookworm's glibc.
# PREFIX/bin/bst puts PREFIX/bin first on PATH, so BuildStream uses this closure's
# buildbox-casd and buildbox-run (bubblewrap; the host's bwrap if there is one, otherwise
# unstable's, wrapped the same way). Import-only projects need no sandbox at all.
#
# usage: scripts/install-buildstream2.sh [PREFIX]
#        (default PREFIX: ${CASD_ACTION_BST_PREFIX:-$HOME/.cache/casd-action/buildstream-2})
# prints: the path of PREFIX/bin/bst (a wrapper script) on stdout; progress goes to stderr.
# Idempotent: if PREFIX/bin/bst already reports a 2.x version, it only prints the path.
set -euo pipefail

prefix="${1:-${CASD_ACTION_BST_PREFIX:-$HOME/.cache/casd-action/buildstream-2}}"
log() { echo "install-buildstream2: $*" >&2; }
die() { log "$*"; exit 1; }

mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
bst="$prefix/bin/bst"
state="$prefix/apt-state"
root="$prefix/root"
python="$root/usr/bin/python3-wrapper"

installed() {
  [[ -x "$bst" && -x "$python" ]] &&
    "$bst" --version 2>/dev/null | grep -qE '^2\.' &&
    [[ "$("$python" -c 'import sys; print(sys.executable)' 2>/dev/null)" == "$python" ]]
}
if installed; then
  echo "$bst"
  exit 0
fi

# One installer at a time per prefix (parallel test workers); the loser re-checks.
exec 9>"$prefix/.install.lock"
flock 9 2>/dev/null || true
if installed; then
  echo "$bst"
  exit 0
fi

arch=$(dpkg --print-architecture)
[[ "$arch" == amd64 ]] || die "only amd64 is supported (this machine is $arch)"

# shellcheck source=lib/private-apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/private-apt.sh"
private_apt_setup "$state" || exit 1
mirror=$private_apt_mirror
mkdir -p "$prefix/bin"

log "apt-get update (unstable, from $mirror)"
apt-get "${apt_private[@]}" update >/dev/null

# The exact set apt picks against the empty status, one "name version arch" a line.
plan=$(apt-get "${apt_private[@]}" -s -y install libc6 buildstream |
  sed -nE 's/^Inst ([^ ]+) \(([^ ]+) [^[]*\[([^]]+)\].*/\1 \2 \3/p')
[[ -n "$plan" ]] || die "apt cannot resolve buildstream from unstable"
version=$(awk '$1 == "buildstream" { print $2 }' <<<"$plan")
[[ "$version" =~ ^2\. ]] || die "unstable's buildstream is '${version:-missing}', not 2.x"
log "buildstream $version: $(wc -l <<<"$plan") packages to download"
apt-get "${apt_private[@]}" -y --download-only install libc6 buildstream >/dev/null

rm -rf "$root.new"
mkdir -p "$root.new"
keep=()
while read -r name ver pkgarch; do
  deb="$state/cache/archives/${name}_${ver//:/%3a}_${pkgarch}.deb"
  [[ -f "$deb" ]] || die "apt did not download $deb"
  dpkg-deb -x "$deb" "$root.new"
  keep+=("$deb")
done <<<"$plan"
# Drop .debs of older runs that are no longer part of the closure.
for deb in "$state"/cache/archives/*.deb; do
  [[ " ${keep[*]} " == *" $deb "* ]] || rm -f "$deb"
done
rm -rf "$root"
mv "$root.new" "$root"
log "unpacked into $root ($(du -sm "$root" | cut -f1) MiB)"

ldso="$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
libs="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu"
[[ -e "$ldso" ]] || die "no $ldso in the unpacked closure"

# Unstable's default interpreter (python3 -> python3.14 today), which /usr/bin/bst's #! names.
py=$(readlink "$root/usr/bin/python3" || true)
[[ "$py" =~ ^python3\.[0-9]+$ && -f "$root/usr/bin/$py" ]] || die "no python3.x interpreter in the unpacked closure"
# A host PYTHONPATH/PYTHONHOME and the user's site-packages stay out of it.
cat >"$python" <<WRAPPER
#!/bin/sh
unset PYTHONHOME PYTHONPATH
PYTHONNOUSERSITE=1; export PYTHONNOUSERSITE
exec "$ldso" --library-path "$libs" --argv0 "$python" "$root/usr/bin/$py" "\$@"
WRAPPER
chmod 0755 "$python"
rm -f "$prefix"/bin/python3*
ln -sfn "$python" "$prefix/bin/$py"

# The buildbox binaries (buildbox-casd, buildbox-run-bubblewrap, casupload, ...) from the closure.
rm -f "$prefix/bin/buildbox-"* "$prefix/bin/bwrap"
buildbox_deb=$(awk -v d="$state/cache/archives/" '$1 == "buildbox" { gsub(":", "%3a", $2); print d $1 "_" $2 "_" $3 ".deb" }' <<<"$plan")
[[ -f "$buildbox_deb" ]] || die "buildbox is not in buildstream's closure"
for rel in $(dpkg-deb -c "$buildbox_deb" | awk '$1 !~ /^l/ && $NF ~ /^\.\/usr\/bin\/./ { print $NF }'); do
  exe="$root/${rel#./}"
  head -c 4 "$exe" | grep -q ELF || continue
  name=$(basename "$exe")
  printf '#!/bin/sh\nexec "%s" --library-path "%s" --argv0 %s "%s" "$@"\n' "$ldso" "$libs" "$name" "$exe" >"$prefix/bin/$name"
  chmod 0755 "$prefix/bin/$name"
done
[[ -x "$prefix/bin/buildbox-casd" ]] || die "no buildbox-casd in the buildbox package"
# Debian's buildbox-run is an alternatives symlink to buildbox-run-bubblewrap.
[[ -x "$prefix/bin/buildbox-run-bubblewrap" ]] && ln -sfn buildbox-run-bubblewrap "$prefix/bin/buildbox-run"
# buildbox-run-bubblewrap runs bwrap from PATH: the host's, or else unstable's (in the closure).
if ! command -v bwrap >/dev/null && [[ -f "$root/usr/bin/bwrap" ]]; then
  printf '#!/bin/sh\nexec "%s" --library-path "%s" --argv0 bwrap "%s" "$@"\n' "$ldso" "$libs" "$root/usr/bin/bwrap" >"$prefix/bin/bwrap"
  chmod 0755 "$prefix/bin/bwrap"
fi

cat >"$bst" <<WRAPPER
#!/bin/sh
PATH="$prefix/bin:\$PATH"; export PATH
exec "$python" "$root/usr/bin/bst" "\$@"
WRAPPER
chmod 0755 "$bst"

# What the packages' postinst (py3compile) would have done: a few seconds once, and every bst
# start-up after it is faster. Failures only cost speed.
"$python" -m compileall -q -j "$(nproc)" "$root/usr/lib/python3/dist-packages" "$root/usr/lib/$py" \
  >/dev/null 2>&1 || true

# Self-tests: the interpreter finds its stdlib and packages, can start a forkserver (BuildStream
# needs one), and bst runs.
"$python" -c 'import multiprocessing.forkserver as f, grpc, ruamel.yaml; f.ensure_running()' ||
  die "$py cannot import grpc/ruamel.yaml or start a multiprocessing forkserver"
bst_version=$("$bst" --version 2>&1) || die "bst --version failed: $bst_version"
[[ "$bst_version" =~ ^2\. ]] || die "bst --version says '$bst_version', not 2.x"
"$prefix/bin/buildbox-casd" --version / >/dev/null 2>&1 || die "buildbox-casd does not run"
log "BuildStream $bst_version, buildbox-casd in $prefix/bin"
echo "$bst"
