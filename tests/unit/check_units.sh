#!/usr/bin/env bash
# Static checks of the systemd units (built into BUILD/systemd/): systemd-
# analyze verify (the binaries pointed at this build) and security (the
# exposure must stay below 3.0, "OK"). Running them needs a systemd that is
# PID 1, which a container or CI machine seldom has: docs/operations.md.
set -euo pipefail
build=$1
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not found: skipped"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for u in portcullisd portcullis-provider; do
	sed -e "s|^ExecStartPre=[^ ]*/portcullisd|ExecStartPre=$build/portcullisd|" \
		-e "s|^ExecStart=[^ ]*/portcullisd|ExecStart=$build/portcullisd|" \
		-e "s|^ExecStart=[^ ]*/portcullis-provider|ExecStart=$build/portcullis-provider|" \
		"$build/systemd/$u.service" >"$tmp/$u.service"
	# verify: unknown keys, bad values, missing binaries (man pages are not installed here)
	out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$tmp/$u.service" 2>&1 || true)
	# every line is a complaint (verify exits 0 on most of them); a machine
	# without systemd as PID 1 may not know the install target: not ours
	bad=$(printf '%s\n' "$out" | grep -v -e '^$' -e 'multi-user\.target' || true)
	if [ -n "$bad" ]; then
		echo "$u.service: systemd-analyze verify:"; echo "$bad"; exit 1
	fi
	score=$(systemd-analyze security --offline=yes "$tmp/$u.service" 2>&1 | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	echo "$u.service: exposure $score"
	[ -n "$score" ] || { echo "$u.service: no exposure score"; exit 1; }
	awk -v s="$score" 'BEGIN { exit !(s < 3.0) }' || { echo "$u.service: exposure $score, not below 3.0"; exit 1; }
done
