#!/usr/bin/env bash
# Formats the C sources with the committed .clang-format, or with --check
# fails (and shows the difference) when a file is not formatted.
#   scripts/format.sh [--check]
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard 'src/*.[ch]' 'tests/*.[ch]' 'bench/*.[ch]')
if [ "${1:-}" = "--check" ]; then
	bad=0
	for f in "${files[@]}"; do
		if ! clang-format --style=file "$f" | diff -u "$f" - >/dev/null; then
			echo "format: $f is not formatted (scripts/format.sh fixes it):" >&2
			clang-format --style=file "$f" | diff -u "$f" - | head -20 >&2 || true
			bad=1
		fi
	done
	exit $bad
fi
clang-format -i --style=file "${files[@]}"
