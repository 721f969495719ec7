#!/usr/bin/env bash
# The one command that installs what is missing, builds, and runs every test:
# unit tests (ctest) in a normal build and under ASan+UBSan, then the
# integration tests (pytest, real peers on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/deps.sh

echo "== build (warnings are errors)"
bash scripts/build.sh build
echo "== unit tests"
(cd build && ctest --output-on-failure -j 2)

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer"
bash scripts/build.sh build-asan -DPORTCULLIS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
echo "== unit tests under ASan + UBSan"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 \
	LSAN_OPTIONS=suppressions=$root/tests/unit/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j 2)

echo "== integration tests"
# portcullis-scan runs from both builds (the tests pick); the daemon and
# portcullis-ctl run from the sanitizer build, so every SMTP test also
# checks for memory errors and leaks at the daemon's exit.
export PORTCULLIS_SCAN=$root/build/portcullis-scan
export PORTCULLIS_SCAN_ASAN=$root/build-asan/portcullis-scan
export PORTCULLISD=$root/build-asan/portcullisd
export PORTCULLIS_CTL=$root/build-asan/portcullis-ctl
export PORTCULLIS_CTL_ASAN=$root/build-asan/portcullis-ctl
export ASAN_OPTIONS=detect_leaks=1
export LSAN_OPTIONS=suppressions=$root/tests/unit/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
set +e
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
	echo "pytest collected no tests" >&2
	exit 1
fi
exit $rc
