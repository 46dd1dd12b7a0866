# Sourced by scripts/install-*.sh: a private apt for Debian's unstable suite on a bookworm
# machine. Everything apt reads or writes lives under one directory (sources, preferences,
# package lists, state, cache, logs, an empty dpkg status), so the host's /var/lib/apt,
# /var/cache/apt and /var/log/apt are never written, not even by a download-only run (without
# Dir::State and Dir::Log apt rewrites /var/log/apt/eipp.log.xz). The host's apt.conf.d is
# still read: it may hold the proxy this machine needs.
#
# private_apt_setup DIR   creates DIR's layout for the mirror this machine's apt already uses
#                         and sets the array apt_private (options for apt-get and apt-cache);
#                         downloaded packages land in DIR/cache/archives, DIR/pkg is free for
#                         `apt-get download`. Returns 1 when no Debian mirror is configured.

# shellcheck shell=bash
private_apt_setup() {
  local dir=$1 mirror
  # The mirror this machine's apt already uses (deb822 or one-line sources).
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
    sed -nE 's#^(URIs:|deb)[[:space:]]+([a-z]+://[^[:space:]]+/debian)/?([[:space:]].*)?$#\2#p' | head -n 1 || true)
  if [[ -z "$mirror" ]]; then
    echo "$(basename "$0"): cannot find a Debian mirror in /etc/apt sources" >&2
    return 1
  fi
  private_apt_mirror=$mirror
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/sources" "$dir/preferences.d" \
    "$dir/state" "$dir/log" "$dir/pkg"
  cat >"$dir/sources/unstable.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  : >"$dir/status"
  apt_private=(
    -q
    -o Dir::Etc::sourcelist=/dev/null
    -o Dir::Etc::sourceparts="$dir/sources"
    -o Dir::Etc::preferences=/dev/null
    -o Dir::Etc::preferencesparts="$dir/preferences.d"
    -o Dir::State="$dir/state"
    -o Dir::State::Lists="$dir/lists"
    -o Dir::State::status="$dir/status"
    -o Dir::Cache="$dir/cache"
    -o Dir::Log="$dir/log"
    -o Debug::NoLocking=1
    -o APT::Architectures=amd64
    -o APT::Install-Recommends=0
    -o APT::Sandbox::User=root
  )
}
