#!/usr/bin/env bash
# Print the path of a Python 3.13.2 or later for Home Assistant 2026's test venv,
# installing or building it first if the machine has none.
#
# Home Assistant 2025.5 and later need Python 3.13.2+; the pyenv 3.13.0 on the CI
# machine is too old. In order:
#   1. python3.13 from apt, where the machine's own sources offer it (Debian 13);
#   2. a build cached on this machine by an earlier run ($WATTBRIDGE_PY313_CACHE,
#      default /var/cache/wattbridge/python3.13);
#   3. a build from Debian 13's source package python3.13 (upstream source with
#      Debian's patches), fetched with `apt-get source` through a deb-src line made from
#      the URIs in this machine's apt sources, installed into the cache above.
# Everything it prints besides the path goes to stderr.
#
# Usage: PY=$(homeassistant_component/scripts/python313.sh)
set -euo pipefail

cache=${WATTBRIDGE_PY313_CACHE:-/var/cache/wattbridge/python3.13}
minimum="3.13.2"
log() { printf 'python313: %s\n' "$*" >&2; }

# usable PYTHON: prints nothing, succeeds if PYTHON is new enough and has the C
# modules Home Assistant imports (ssl, sqlite3 for the recorder, ctypes, lzma, bz2).
usable() {
    [[ -x "$1" ]] && "$1" - "$minimum" <<'PY' >/dev/null 2>&1
import sys
import bz2, ctypes, lzma, sqlite3, ssl, venv, zlib  # noqa: F401
need = tuple(int(p) for p in sys.argv[1].split("."))
sys.exit(0 if sys.version_info[:3] >= need else 1)
PY
}

# 1. apt, where the machine's suite has python3.13 (Debian 13 and later).
if apt-cache policy python3.13 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    if ! usable /usr/bin/python3.13; then
        log "installing python3.13 from apt"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            python3.13 python3.13-venv python3.13-dev >&2
    fi
    if usable /usr/bin/python3.13; then
        echo /usr/bin/python3.13
        exit 0
    fi
    log "apt's python3.13 is older than $minimum; building one instead"
fi

# 2. an earlier run's build.
if usable "$cache/bin/python3.13"; then
    echo "$cache/bin/python3.13"
    exit 0
fi

# 3. build it once. The lock keeps two CI runs on this machine from building at once;
# the second waits and then finds the first one's build.
mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9
if usable "$cache/bin/python3.13"; then
    echo "$cache/bin/python3.13"
    exit 0
fi

# The Debian archive this machine already uses: the URIs (and keyring) of the apt
# source whose suites include the machine's own codename, in deb822 (*.sources) or
# one-line (*.list) form. Only files apt reads (.sources, .list) are considered.
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
archive=$(python3 - "$codename" <<'PY'
import glob, re, sys

codename = sys.argv[1]
files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
deb822 = sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
for path in deb822:
    for stanza in open(path).read().split("\n\n"):
        fields = dict(
            (k.strip().lower(), v.strip())
            for k, v in (line.split(":", 1) for line in stanza.splitlines()
                         if ":" in line and not line.startswith("#"))
        )
        if "deb" in fields.get("types", "").split() and codename in fields.get("suites", "").split():
            print(fields["uris"].split()[0], fields.get("signed-by", ""))
            sys.exit(0)
for path in files:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        m = re.match(r"\s*deb\s+(\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line)
        if m and m.group(4) == codename:
            key = re.search(r"signed-by=(\S+)", m.group(2) or "")
            print(m.group(3), key.group(1) if key else "")
            sys.exit(0)
sys.exit(f"no apt source for suite {codename!r} in /etc/apt/sources.list*")
PY
)
read -r uri keyring <<<"$archive"

# What building CPython with the modules HA needs takes (ssl, sqlite3, ctypes, lzma,
# bz2, readline, uuid, dbm), and dpkg-dev for `apt-get source`.
build_deps=(build-essential dpkg-dev libssl-dev libffi-dev zlib1g-dev libsqlite3-dev
    libbz2-dev liblzma-dev libreadline-dev uuid-dev libgdbm-dev libncurses-dev)
missing=()
for package in "${build_deps[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$package")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing the build's dependencies: ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2
fi
keyring=${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}
log "building Python from Debian 13's source package python3.13 (archive $uri)"

work=$(mktemp -d /var/tmp/wattbridge-py313.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/src"
echo "deb-src [signed-by=$keyring] $uri trixie main" >"$work/trixie-src.list"
# A private source list and state directory: the machine's own apt configuration
# and package lists stay as they were.
apt_opts=(
    -o "Dir::Etc::SourceList=$work/trixie-src.list"
    -o "Dir::Etc::SourceParts=/nonexistent"
    -o "Dir::State::Lists=$work/lists"
    # The private folders belong to root; apt's download user could not write them.
    -o "APT::Sandbox::User=root"
)
apt-get "${apt_opts[@]}" -qq update >&2
(cd "$work/src" && apt-get "${apt_opts[@]}" -qq source python3.13 >&2)
srcdir=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'python3.13-*' | head -n1)
[[ -n "$srcdir" ]] || { log "apt-get source python3.13 unpacked nothing"; exit 1; }

# Build into a staging prefix, move it into place when it works: an interrupted
# build never looks like a cached one.
stage="$cache.partial"
rm -rf "$stage"
(
    cd "$srcdir"
    # No ensurepip at install: Debian's patch lets it seed pip only inside a venv,
    # which is the only place this Python is used.
    ./configure --prefix="$cache" --with-ensurepip=no \
        >"$work/configure.log" 2>&1 || { tail -n 40 "$work/configure.log" >&2; exit 1; }
    make -j"$(nproc)" >"$work/make.log" 2>&1 || { tail -n 60 "$work/make.log" >&2; exit 1; }
    make install DESTDIR="$stage" >"$work/install.log" 2>&1 \
        || { tail -n 40 "$work/install.log" >&2; exit 1; }
)
rm -rf "$cache"
mv "$stage$cache" "$cache"
rm -rf "$stage"
if ! usable "$cache/bin/python3.13"; then
    log "the build at $cache lacks a module Home Assistant needs (ssl, sqlite3, ctypes, lzma, bz2)"
    exit 1
fi
log "built $("$cache/bin/python3.13" --version) into $cache"
echo "$cache/bin/python3.13"
