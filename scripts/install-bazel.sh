#!/usr/bin/env bash
# Installs a real Bazel 7 (Debian unstable's `bazel-bootstrap`, 7.7.1 today) into a private
# prefix, for tests and CI on a Debian bookworm machine, fully offline apart from the Debian
# mirror that this machine's apt already uses.
#
# Why this way: bookworm has no Bazel, Bazel's own release binaries come from GitHub (not
# reachable here), and sid's Bazel needs sid's C library and JVM. As in
# install-buildbox-casd.sh we download the packages with apt into a private state directory
# (apt's state, cache and logs all live in PREFIX/apt: the system's apt/dpkg state and
# /var/log/apt are never touched), unpack them with dpkg-deb -x into PREFIX/root, and run every
# sid ELF that Bazel starts (the client, process-wrapper, linux-sandbox, ..., the JVM and its
# jspawnhelper) through sid's own ld-linux-x86-64.so.2 with PREFIX/root's libraries.
#
# What a plain unpacking lacks, and is fixed here:
#  - Debian hard-codes /usr/share/bazel (install base, given with --install_base and Debian's
#    --trust_install_base), /usr/share/java (the server's classpath file) and /etc/bazel/bazelrc
#    (rewritten to PREFIX/etc/bazel.bazelrc); absolute symlinks (jvm.cfg -> /etc/java-*/...)
#    point at the host and are re-pointed into PREFIX/root.
#  - libblake3-0 is needed by libunix_jni.so (inside A-server.jar) but not declared.
#  - jars that Debian's jars reach only through "Class-Path: /usr/share/java/..." manifest
#    entries are added to the classpath file (else NoClassDefFoundError io/perfmark/PerfMark
#    and the client waits 120 s for a server that died).
#  - A-server.jar has no /build-data.properties (`bazel version` would say "Version
#    information not available", and the remote cache would see no tool version):
#    PREFIX/share/build-data provides it.
#  - offline builds: Debian's --override_module lines, mock apple_support/protobuf/buildozer/
#    zlib modules (as in Debian's autopkgtests), and the same packaged rules as
#    --override_repository, so neither Bzlmod nor Bazel 7's WORKSPACE suffix ever fetches.
# Left out on purpose: build-essential (bookworm's gcc serves Bazel's C++ autoconfiguration),
# python3, unzip, zlib1g-dev and default-jdk-headless (350 MB of jmods; the server runs on sid's
# JRE, and we build no Java). Also left out: netty's native epoll transport, which Bazel needs
# only for unix: remote-cache URLs ("Creating event loop groups is unsupported on this
# platform"); this project only uses grpc://127.0.0.1:PORT, and building it would cost a sid
# Sources index, the netty source tarball and a gcc run on every fresh install.
#
# usage: scripts/install-bazel.sh [PREFIX]   (default: ${CASD_ACTION_BAZEL_PREFIX:-$HOME/.cache/casd-action/bazel-7})
# prints: the path of PREFIX/bin/bazel (a wrapper script), and nothing else on stdout.
# Idempotent: exits at once when PREFIX/bin/bazel already reports Bazel 7. Needs: apt-get,
# dpkg-deb, python3, flock, an x86_64 machine; gcc to build C++ with the result.
set -euo pipefail

prefix="${1:-${CASD_ACTION_BAZEL_PREFIX:-$HOME/.cache/casd-action/bazel-7}}"
bazel="$prefix/bin/bazel"

installed() { [[ -x "$bazel" ]] && "$bazel" --version 2>/dev/null | grep -q '^bazel 7\.'; }
if installed; then
  echo "$bazel"
  exit 0
fi

log() { echo "install-bazel: [${SECONDS}s] $*" >&2; }
fail() { log "error: $*"; exit 1; }
[[ "$(uname -m)" == x86_64 ]] || fail "only x86_64 is supported (this is $(uname -m))"
for tool in apt-get apt-cache dpkg-deb python3 flock; do
  command -v "$tool" >/dev/null || fail "needs $tool"
done

mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
bazel="$prefix/bin/bazel"
# One installer at a time per prefix (parallel test workers); the winner's result is reused.
exec 9>"$prefix/.install.lock"
flock 9
if installed; then
  echo "$bazel"
  exit 0
fi

apt="$prefix/apt"
root="$prefix/root"
# shellcheck source=lib/private-apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/private-apt.sh"
private_apt_setup "$apt" || exit 1
mirror=$private_apt_mirror

log "apt-get update (sid, private state in $apt)"
apt-get "${apt_private[@]}" update >&2
apt-get "${apt_private[@]}" autoclean >&2 # drops .debs superseded since an earlier run

version=$(apt-cache "${apt_private[@]}" show --no-all-versions bazel-bootstrap 2>/dev/null |
  sed -n 's/^Version: //p' | head -n 1 || true)
[[ -n "$version" ]] || fail "Debian sid ($mirror) no longer has a bazel-bootstrap package: no Bazel 7 to install"
[[ "$version" == 7.* ]] || fail "Debian sid's bazel-bootstrap is $version, not a Bazel 7 (this script installs Bazel 7)"

rm -f "$apt/pkg"/bazel-bootstrap_*.deb
(cd "$apt/pkg" && apt-get "${apt_private[@]}" download "bazel-bootstrap=$version" >&2)
deb=$(ls "$apt/pkg"/bazel-bootstrap_*.deb | head -n 1)

# Runtime closure: the package's Depends minus what we never use, plus the C/C++ runtime, sid's
# JRE and libblake3-0, resolved against an empty status so apt fetches all of it from sid.
depends=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -E 's/\(.*\)//; s/\|.*//; s/[[:space:]]//g' |
  grep -vE '^(|build-essential|python3|zlib1g-dev|unzip|default-jdk-headless)$' || true)
log "downloading bazel-bootstrap $version and its runtime closure"
# shellcheck disable=SC2086
apt-get "${apt_private[@]}" -y --download-only install \
  libc6 libstdc++6 libgcc-s1 libblake3-0 default-jre-headless $depends >&2

log "unpacking $(ls "$apt"/cache/archives/*.deb | wc -l) packages into $root"
rm -rf "$root" "$prefix/bin" "$prefix/etc" "$prefix/share" "$prefix/modules"
mkdir -p "$root" "$prefix/bin" "$prefix/etc" "$prefix/share"
for pkg in "$apt"/cache/archives/*.deb "$deb"; do dpkg-deb -x "$pkg" "$root"; done
# Absolute symlinks point at the host: point them into the private root.
find "$root" -type l -lname '/*' -print0 | while IFS= read -r -d '' link; do
  ln -sfn "$root$(readlink "$link")" "$link"
done

libdir="$root/usr/lib/x86_64-linux-gnu"
loader="$libdir/ld-linux-x86-64.so.2"
base="$root/usr/share/bazel"
helpers="$root/usr/libexec/x86_64-linux-gnu/bazel"
java_home=$(ls -d "$root"/usr/lib/jvm/java-*-openjdk-amd64 | sort -V | tail -n 1)
[[ -x "$loader" && -d "$base" && -d "$java_home" ]] || fail "unexpected package layout (loader, $base or the JRE missing)"

wrap() { # wrap ELF WRAPPER [LIBRARY_PATH]: a /bin/sh wrapper running ELF through sid's loader
  rm -f "$2"
  printf '#!/bin/sh\nexec "%s" --library-path "%s" "%s" "$@"\n' "$loader" "${3:-$libdir}" "$1" >"$2"
  chmod 0755 "$2"
}
# The helpers Bazel runs from its install base (symlinks into libexec in the package).
for tool in build-runfiles daemonize linux-sandbox process-wrapper; do
  wrap "$helpers/$tool" "$base/$tool"
done
wrap "$helpers/zipper" "$base/embedded_tools/tools/zip/zipper/zipper"
# sid's JVM: the launcher finds its home from libjli's path, so the ELF stays in bin/ under
# another name. The JVM starts every subprocess through lib/jspawnhelper, a sid ELF as well
# (else "Failed to exec spawn helper").
mv "$java_home/bin/java" "$java_home/bin/java.elf"
wrap "$java_home/bin/java.elf" "$java_home/bin/java" "$libdir:$java_home/lib:$java_home/lib/server"
mv "$java_home/lib/jspawnhelper" "$java_home/lib/jspawnhelper.elf"
wrap "$java_home/lib/jspawnhelper.elf" "$java_home/lib/jspawnhelper"

# The server's classpath file: its /usr/share/java jars moved into the private root, plus their
# manifest Class-Path closure, each jar after its dependencies.
python3 - "$root" "$base/bazel_classpath_debian_depends.txt" >"$base/classpath.new" <<'PY'
import os, sys, zipfile
root, cpfile = sys.argv[1], sys.argv[2]

def manifest_classpath(jar):
    try:
        with zipfile.ZipFile(jar) as z:
            text = z.read('META-INF/MANIFEST.MF').decode('utf-8', 'replace')
    except Exception:
        return []
    lines = []
    for line in text.replace('\r\n', '\n').split('\n'):  # unfold continuation lines
        if line.startswith(' ') and lines:
            lines[-1] += line[1:]
        else:
            lines.append(line)
    for line in lines:
        if line.lower().startswith('class-path:'):
            return line.split(':', 1)[1].split()
    return []

def private(path, relative_to):
    if path.startswith('file:'):
        path = path[5:]
    if not path.startswith('/'):
        path = os.path.join(os.path.dirname(relative_to), path)
    if not path.startswith(root + '/'):
        path = root + path
    return path if os.path.exists(path) else None

seen, order = set(), []
def visit(jar):
    if jar in seen:
        return
    seen.add(jar)
    for entry in manifest_classpath(jar):
        dep = private(entry, jar)
        if dep:
            visit(dep)
    order.append(jar)

for line in open(cpfile):
    line = line.strip()
    if not line:
        continue
    jar = private(line, cpfile)
    if jar:
        visit(jar)
    else:
        print('install-bazel: classpath entry not packaged, dropped: ' + line, file=sys.stderr)
print('\n'.join(order))
PY
mv "$base/classpath.new" "$base/bazel_classpath_debian_depends.txt"

build_data="$prefix/share/build-data"
mkdir -p "$build_data"
stamp=$(stat -c %Y "$base/build-label.txt")
cat >"$build_data/build-data.properties" <<PROPS
build.label=$(cat "$base/build-label.txt")
build.target=bazel-bootstrap $version (Debian sid, casd-action scripts/install-bazel.sh)
build.time=$(date -u -d "@$stamp" '+%a %b %d %H:%M:%S %Y') ($stamp)
build.timestamp=$stamp
build.timestamp.as.int=$stamp
PROPS
echo "$build_data" >>"$base/bazel_classpath_debian_depends.txt"

# Offline module and repository overrides: Debian's rc with its paths moved (its --sandbox_debug
# and deprecated --host_javabase dropped), plus the mock modules of Debian's autopkgtests.
modules="$prefix/modules"
for module in apple_support protobuf buildozer; do
  mkdir -p "$modules/$module"
  echo "module(name = \"$module\")" >"$modules/$module/MODULE.bazel"
  : >"$modules/$module/BUILD"
done
mkdir -p "$modules/zlib"
echo 'module(name = "zlib")' >"$modules/zlib/MODULE.bazel"
cat >"$modules/zlib/BUILD" <<'BUILD'
cc_library(
    name = "zlib",
    linkopts = ["-lz"],
    visibility = ["//visibility:public"],
)
BUILD
overrides=$(grep -E '^common --override_module=' "$root/etc/bazel/bazelrc" | sed "s#=/usr/share/bazel/#=$base/#")
[[ -n "$overrides" ]] || fail "no --override_module lines in the package's /etc/bazel/bazelrc"
{
  echo "# Generated by casd-action scripts/install-bazel.sh from Debian's /etc/bazel/bazelrc."
  echo "$overrides"
  for module in apple_support protobuf buildozer zlib; do
    echo "common --override_module=$module=$modules/$module"
  done
  echo "$overrides" | sed 's#--override_module=#--override_repository=#'
  echo "common --define=distribution=debian"
  # Quiets the JVM warnings that JDK 24+ prints for Bazel 7's jars (on stderr with --batch).
  if [[ "${java_home##*/java-}" =~ ^([0-9]+) ]] && ((BASH_REMATCH[1] >= 24)); then
    echo "startup --host_jvm_args=--enable-native-access=ALL-UNNAMED"
    echo "startup --host_jvm_args=--sun-misc-unsafe-memory-access=allow"
  fi
} >"$prefix/etc/bazel.bazelrc"

cat >"$bazel.new" <<WRAPPER
#!/bin/sh
# Bazel $(cat "$base/build-label.txt") (Debian sid bazel-bootstrap $version) through sid's loader;
# written by casd-action scripts/install-bazel.sh. Reads no system or home rc: only
# $prefix/etc/bazel.bazelrc (offline overrides), then the workspace's .bazelrc.
exec "$loader" --library-path "$libdir" --argv0 bazel "$root/usr/bin/bazel" \\
  --install_base="$base" --trust_install_base --server_javabase="$java_home" \\
  --nosystem_rc --bazelrc="$prefix/etc/bazel.bazelrc" "\$@"
WRAPPER
chmod 0755 "$bazel.new"
mv "$bazel.new" "$bazel"
installed || fail "$bazel --version does not report Bazel 7"
log "installed $("$bazel" --version)"
echo "$bazel"
