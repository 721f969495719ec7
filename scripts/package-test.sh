#!/usr/bin/env bash
# Builds the Debian packages (dpkg-buildpackage -us -uc -b), runs lintian on
# them, installs them, starts the gateway the way its systemd unit does,
# sends a clean and an EICAR message through it, checks the conffile, the
# user and the directories, then removes and purges both packages. Meant
# for a brand-new Debian 12 root, as root:
#     ../shared/tools/fresh-debian.sh . 2400 'scripts/package-test.sh'
# (it installs what it needs; on a machine with the packages installed it
# replaces them). Not part of scripts/test.sh: it installs into the system.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export DEBIAN_FRONTEND=noninteractive

step() { echo; echo "== $*"; }
fail() { echo "package-test: FAILED: $*" >&2; exit 1; }

step "build dependencies"
bash scripts/deps.sh >/dev/null
apt-get install -y -q debhelper dpkg-dev lintian >/dev/null

step "dpkg-buildpackage -us -uc -b"
out=$(mktemp -d)
# a copy, so that the build leaves the tree as it was and the packages land in $out
git clone -q "$root" "$out/src" 2>/dev/null || cp -a "$root" "$out/src"
(cd "$out/src" && dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1) ||
	{ tail -60 "$out/build.log"; fail "dpkg-buildpackage"; }
ls -l "$out"/*.deb
gw=$(ls "$out"/portcullis_*_amd64.deb)
prov=$(ls "$out"/portcullis-provider_*_amd64.deb)

step "lintian (errors, warnings and infos fail; each tag overridden is justified in debian/*.lintian-overrides)"
lintian -I --fail-on error,warning,info "$out"/*.changes ||
	fail "lintian"

step "install"
apt-get install -y -q "$gw" "$prov" >/dev/null
for f in /usr/sbin/portcullisd /usr/bin/portcullis-ctl /usr/bin/portcullis-scan \
	/usr/sbin/portcullis-provider /etc/portcullis/portcullis.conf \
	/lib/systemd/system/portcullisd.service /lib/systemd/system/portcullis-provider.service \
	/usr/share/man/man5/portcullis.conf.5.gz /usr/share/man/man8/portcullisd.8.gz \
	/usr/share/portcullis/sigs /usr/share/portcullis/templates/recipient.txt \
	/usr/share/portcullis/templates/provider/console.html; do
	[ -e "$f" ] || fail "$f is not installed"
done
dpkg-query -W -f='${Conffiles}\n' portcullis | grep -q '/etc/portcullis/portcullis.conf' ||
	fail "portcullis.conf is not a conffile"
getent passwd portcullis >/dev/null || fail "no user portcullis"
getent passwd portcullis-provider >/dev/null || fail "no user portcullis-provider"
for d in /var/spool/portcullis /var/lib/portcullis/quarantine /var/lib/portcullis/Maildir/new \
	/var/cache/portcullis; do
	[ "$(stat -c %U:%a "$d")" = portcullis:750 ] || fail "$d: $(stat -c %U:%a "$d")"
done
[ "$(stat -c %U:%a /var/lib/portcullis-provider)" = portcullis-provider:700 ] ||
	fail "/var/lib/portcullis-provider: $(stat -c %U:%a /var/lib/portcullis-provider)"
portcullisd -t -c /etc/portcullis/portcullis.conf || fail "the installed config does not check"

step "start portcullisd as its unit does (ExecStartPre, ExecStart; no systemd as PID 1 here)"
unit=/lib/systemd/system/portcullisd.service
pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
start=$(sed -n 's/^ExecStart=//p' "$unit")
$pre || fail "ExecStartPre: $pre"
log=$(mktemp)
$start >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
	grep -q 'ready listeners=' "$log" && break
	kill -0 $pid 2>/dev/null || { cat "$log"; fail "portcullisd exited"; }
	sleep 0.1
done
grep -q 'ready listeners=' "$log" || { cat "$log"; fail "portcullisd not ready"; }
[ "$(ps -o user= -p $pid)" = portcullis ] || fail "portcullisd runs as $(ps -o user= -p $pid)"

step "a clean and an EICAR message"
python3 scripts/send_test_mail.py 127.0.0.1 10025 | tee "$out/replies"
grep -q 'clean test message .*-> 250' "$out/replies" || fail "clean message not accepted"
grep -q 'EICAR test .*-> 250 .*quarantined' "$out/replies" || fail "EICAR not quarantined"
sleep 0.5
grep -l 'Subject: clean test message' /var/lib/portcullis/Maildir/new/* >/dev/null ||
	fail "the clean message is not in the Maildir"
grep -l 'X-Virus-Status: clean' /var/lib/portcullis/Maildir/new/* >/dev/null ||
	fail "no X-Virus-Status: clean"
portcullis-ctl quarantine list | tee "$out/qlist"
grep -q 'Eicar' "$out/qlist" || fail "EICAR not in the quarantine"
kill -TERM $pid
wait $pid || fail "portcullisd did not stop cleanly"

step "the provider: a key made as its user, its state readable by it alone"
su -s /bin/sh -c 'portcullis-provider -d /var/lib/portcullis-provider keygen' portcullis-provider ||
	fail "provider keygen"
su -s /bin/sh -c 'portcullis-provider -d /var/lib/portcullis-provider gateways' \
	portcullis-provider >/dev/null || fail "provider gateways"

step "a changed conffile survives a reinstall"
echo '; changed by the admin' >>/etc/portcullis/portcullis.conf
dpkg -i "$gw" >/dev/null
grep -q 'changed by the admin' /etc/portcullis/portcullis.conf || fail "the conffile was replaced"

step "remove keeps the data and the config; purge deletes them"
apt-get remove -y -q portcullis portcullis-provider >/dev/null
[ ! -e /usr/sbin/portcullisd ] || fail "portcullisd still there after remove"
[ -e /etc/portcullis/portcullis.conf ] || fail "the config went with remove"
[ -n "$(ls /var/lib/portcullis/quarantine)" ] || fail "the quarantine went with remove"
[ -d /var/lib/portcullis-provider ] || fail "the provider's state went with remove"
apt-get purge -y -q portcullis portcullis-provider >/dev/null
for p in /etc/portcullis /var/lib/portcullis /var/spool/portcullis /var/cache/portcullis \
	/var/lib/portcullis-provider; do
	[ ! -e "$p" ] || fail "$p still there after purge"
done
rm -rf "$out" "$log"
echo
echo "package-test: OK"
