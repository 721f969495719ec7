#!/usr/bin/env bash
# Installs what Portcullis needs to build, run and test, from Debian 12's
# packages. Used by scripts/run.sh, scripts/test.sh and .ci/run, so all three
# work on a fresh machine. Runs apt-get only when something is missing.
set -euo pipefail

PKGS=(
	# build
	build-essential cmake pkg-config
	# libraries
	libhyperscan-dev libarchive-dev libmagic-dev libgmime-3.0-dev libssl-dev
	libinih-dev libjansson-dev libsqlite3-dev libevent-dev
	# tests
	libcmocka-dev python3 python3-pytest clamav-daemon clamav-testfiles zip time
	openssl swaks procps
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# No policy-rc.d games: Debian's clamav-daemon may try to start its own clamd;
# our tests run their own on private sockets and do not depend on it.
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
