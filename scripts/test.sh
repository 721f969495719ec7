#!/usr/bin/env bash
# The one command that installs what is missing, builds, and runs every test:
# unit tests (ctest) in a normal build and under ASan+UBSan, then the
# integration tests (pytest, real peers on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/deps.sh

echo "== format (.clang-format)"
bash scripts/format.sh --check

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

echo "== fuzz targets (clang + libFuzzer): replay tests/fuzz/regress, then a short seeded run"
# Seeded and bounded by runs, not time, so a run is the same on every
# machine: this is a regression check, real fuzzing runs for hours by hand.
CC=clang cmake -S . -B build-fuzz -DPORTCULLIS_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc 2>/dev/null || echo 2)" --target fuzz_ndb fuzz_walk \
	fuzz_smtp_data fuzz_smtp_reply fuzz_smtp_cmd fuzz_rewrite fuzz_zipdec fuzz_textblocks \
	fuzz_doc fuzz_sis fuzz_mailnorm fuzz_b64dec fuzz_arj fuzz_ftp_wire fuzz_omsg >/dev/null
for spec in ndb:100000 walk:50000 smtp_data:100000 smtp_reply:100000 smtp_cmd:200000 \
	rewrite:30000 zipdec:50000 textblocks:20000 doc:100000 sis:150000 mailnorm:80000 \
	b64dec:200000 arj:30000 ftp_wire:200000 omsg:100000; do
	name=${spec%%:*}
	runs=${spec##*:}
	bin=build-fuzz/tests/fuzz/fuzz_$name
	for r in tests/fuzz/regress/"$name"-*; do
		[ -e "$r" ] || continue
		"$bin" "$r" >/dev/null 2>&1 || { echo "fuzz_$name: regression $r fails" >&2; "$bin" "$r"; exit 1; }
	done
	corpus=$(mktemp -d)
	if ! "$bin" -seed=1 -runs="$runs" -rss_limit_mb=2048 -artifact_prefix=build-fuzz/ \
		"$corpus" >build-fuzz/fuzz_$name.log 2>&1; then
		tail -40 build-fuzz/fuzz_$name.log >&2
		rm -rf "$corpus"
		exit 1
	fi
	rm -rf "$corpus"
	echo "fuzz_$name: $runs runs, no crash"
done

echo "== integration tests"
# portcullis-scan runs from both builds (the tests pick); the daemon and
# portcullis-ctl run from the sanitizer build, so every SMTP test also
# checks for memory errors and leaks at the daemon's exit.
export PORTCULLIS_SCAN=$root/build/portcullis-scan
export PORTCULLIS_SCAN_ASAN=$root/build-asan/portcullis-scan
export PORTCULLISD=$root/build-asan/portcullisd
export PORTCULLIS_CTL=$root/build-asan/portcullis-ctl
export PORTCULLIS_CTL_ASAN=$root/build-asan/portcullis-ctl
export PORTCULLIS_PROVIDER=$root/build-asan/portcullis-provider
export ASAN_OPTIONS=detect_leaks=1
export LSAN_OPTIONS=suppressions=$root/tests/unit/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
set +e
/usr/bin/python3 -m pytest -q -rs -p no:cacheprovider tests/integration "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
	echo "pytest collected no tests" >&2
	exit 1
fi
exit $rc
