#!/usr/bin/env bash
# Installs what Portcullis needs to build, run and test, from Debian 12's
# packages. Used by scripts/run.sh, scripts/test.sh and .ci/run, so all three
# work on a fresh machine. Runs apt-get only when something is missing.
set -euo pipefail

PKGS=(
	# build
	build-essential cmake pkg-config clang-format
	# libraries
	libhyperscan-dev libarchive-dev libmagic-dev libgmime-3.0-dev libssl-dev
	libinih-dev libjansson-dev libsqlite3-dev libevent-dev libcurl4-openssl-dev
	libsystemd-dev
	# walker formats: TNEF, CHM/SZDD/KWAJ, OLE2, SIS (zlib)
	libytnef0-dev libmspack-dev libgsf-1-dev zlib1g-dev
	# what the scripts run: git (format.sh lists the sources), pgrep (procps),
	# useradd (passwd, run.sh creates the user portcullis)
	git procps passwd
	# tests, with the commands the integration tests run: clamd
	# (clamav-daemon), zip, 7z (p7zip-full: deflate64 zips), arj, /usr/bin/time -v,
	# openssl, swaks, mount/umount of a small tmpfs (mount); the Postfix tools
	# come with postfix below
	libcmocka-dev python3 python3-pytest clamav-daemon clamav-testfiles zip p7zip-full arj time
	openssl swaks mount
	# FTP proxy tests (tests/integration/test_ftp_*.py) and bench/ftp: pyftpdlib as
	# the upstream server, vsftpd as a second one (run on a private config and
	# port; the tests never use the system's instance), lftp and curl as clients
	python3-pyftpdlib vsftpd lftp curl
	# outbreak tests: keys and signatures made in the test (Ed25519)
	python3-cryptography
	# metrics test (tests/integration/test_metrics.py): Prometheus's own parser
	# reads what /metrics serves
	python3-prometheus-client
	# provider console test (tests/integration/test_provider_console.py): a real
	# headless browser driven by Selenium
	chromium chromium-driver python3-selenium
	# public MIME test messages of other libraries (tests/integration/test_mail_corpus.py)
	libpython3.11-testsuite golang-github-jhillyerd-enmime-dev
	# man pages: linted by ctest (man_lint)
	mandoc
	# fuzz targets (scripts/test.sh builds and replays them)
	clang libclang-rt-14-dev
)

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${PKGS[@]}"; do
	installed "$p" || missing+=("$p")
done
# Postfix, for tests/integration/test_postfix.py (each test runs a private
# instance with its own config on 127.0.0.1). Preseeded "No configuration":
# Debian then writes no /etc/postfix/main.cf, so the system instance is
# neither started nor bound to port 25. Never installed over another MTA
# (apt would remove it); the Postfix tests skip with the reason then.
want_postfix=0
if ! installed postfix; then
	if [ -e /usr/sbin/sendmail ]; then
		echo "deps: another MTA owns /usr/sbin/sendmail; not installing postfix" \
			"(tests/integration/test_postfix.py will skip)" >&2
	else
		want_postfix=1
		missing+=(postfix)
	fi
fi
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if [ $want_postfix -eq 1 ]; then
	echo "postfix postfix/main_mailer_type select No configuration" |
		$SUDO debconf-set-selections
fi
$SUDO apt-get update -q
# No policy-rc.d games: Debian's clamav-daemon may try to start its own clamd;
# our tests run their own on private sockets and do not depend on it.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
