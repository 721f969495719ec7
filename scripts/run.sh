#!/usr/bin/env bash
# The main job: installs what is missing, builds and installs Portcullis,
# and starts the gateway daemon portcullisd on its embedded defaults:
# listening on 127.0.0.1:10025, delivering into a local Maildir, scanning
# with the built-in engine and the bundled test signatures. Then it sends
# one clean and one EICAR message through it and shows where each went.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
bash scripts/build.sh build -DCMAKE_INSTALL_PREFIX=/usr/local
cmake --install build >/dev/null
if ! id portcullis >/dev/null 2>&1; then
	useradd --system --no-create-home --home-dir /var/lib/portcullis \
		--shell /usr/sbin/nologin portcullis
fi

log=/var/log/portcullisd.log
# its rotation (copytruncate), where logrotate looks
[ -d /etc/logrotate.d ] && install -m 0644 etc/logrotate.d/portcullisd /etc/logrotate.d/portcullisd
if pid=$(pgrep -x portcullisd); then
	echo "stopping the running portcullisd ($pid)"
	kill $pid
	for _ in $(seq 50); do pgrep -x portcullisd >/dev/null || break; sleep 0.1; done
fi
: > "$log"
nohup /usr/local/sbin/portcullisd -f >>"$log" 2>&1 &
for _ in $(seq 100); do
	grep -q 'ready listeners=' "$log" && break
	if ! pgrep -x portcullisd >/dev/null; then cat "$log"; exit 1; fi
	sleep 0.1
done
grep -q 'ready listeners=' "$log" || { cat "$log"; exit 1; }
echo "portcullisd is running (pid $(pgrep -x portcullisd)), log: $log"
echo
echo "== sending a clean and an EICAR message to 127.0.0.1:10025"
python3 scripts/send_test_mail.py 127.0.0.1 10025
sleep 0.5
cat <<EOT

Where to look:
  clean mail        /var/lib/portcullis/Maildir/new/  (with X-Virus-Status: clean)
  the EICAR message quarantined:   portcullis-ctl quarantine list
                    and a notice to the recipient in the Maildir
  the decisions     grep 'message from' $log

Send your own:
  python3 scripts/send_test_mail.py 127.0.0.1 10025
  swaks --server 127.0.0.1:10025 --to bob@example.net --attach-type application/octet-stream --attach @FILE
Settings: /usr/local/etc/portcullis/portcullis.conf (check with portcullisd -t);
reload with: kill -HUP \$(pgrep -x portcullisd)
EOT
echo
ls -l /var/lib/portcullis/Maildir/new/
/usr/local/bin/portcullis-ctl quarantine list || true
