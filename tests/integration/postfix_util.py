"""A private Postfix instance for the Postfix integration tests
(test_postfix.py), and the checks those tests make on what Postfix sends.

Owns: building and running a throw-away Postfix instance in its own
directory (config_directory, queue_directory, data_directory, maillog_file,
loopback-only inet_interfaces, its own ports; /etc/postfix is neither read
for configuration nor written), its queue and log as the tests see them,
the postfix_factory fixture that stops it at teardown and attaches its log
to a failing test's report, and carries_eicar(), which tells whether a
message (a bounce included) still holds the EICAR file. The recipes
themselves (which main.cf/master.cf lines make an after-queue or a
before-queue setup) live in test_postfix.py and docs/postfix.md; the sink
and portcullisd come from smtp_util.

Postfix must be started as root (its master drops to mail_owner itself);
the tests are skipped with the reason when it is not installed or when
they do not run as root. The system's own Postfix instance is neither
needed nor touched.
"""

import base64
import email
import email.policy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from samples_build import eicar
from smtp_util import _artifacts

POSTFIX = "/usr/sbin/postfix"
POSTQUEUE = "/usr/sbin/postqueue"
POSTCAT = "/usr/sbin/postcat"


def postfix_available():
    """None when Postfix can be run here, else the reason it cannot."""
    if not os.access(POSTFIX, os.X_OK):
        return "Postfix is not installed (scripts/deps.sh installs it)"
    if os.geteuid() != 0:
        return "a private Postfix instance must be started as root"
    return None


def free_ports(n):
    """n distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def wait_port(port, timeout=20.0):
    """Waits until 127.0.0.1:port accepts a connection; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
                s.settimeout(1.0)
                try:
                    s.recv(512)  # let the server see a polite client, not a reset
                except OSError:
                    pass
                return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_until(pred, timeout, step=0.1):
    """Polls pred() until it returns a true value (returned) or timeout (None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(step)


def tail(text, n=120):
    lines = text.splitlines()
    if len(lines) <= n:
        return text
    return "[... %d lines ...]\n" % (len(lines) - n) + "\n".join(lines[-n:])


def eicar_markers():
    """Byte strings whose presence means the EICAR file is there: the file
    itself, its first half, and the start of its base64 form (a MIME
    encoder starts the encoded attachment with it, however it wraps)."""
    b64 = base64.b64encode(eicar())
    return [eicar(), eicar()[:34], b64[:60], b64[:40]]


def carries_eicar(data):
    """True when raw message bytes carry the EICAR file: in the raw text
    (also base64-encoded, also across a line break), or in any MIME part
    once decoded, messages nested in message/rfc822 parts (a bounce)
    included."""
    unfolded = data.replace(b"\r\n", b"").replace(b"\n", b"")
    for m in eicar_markers():
        if m in data or m in unfolded:
            return True
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and eicar()[:34] in payload:
            return True
    return False


# ---------------------------------------------------------------------------
# A private Postfix instance

# Services every instance needs; nothing chrooted, so no copies of system
# files are needed in the queue directory. No "smtp inet" (port 25).
BASE_MASTER_CF = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """
    A Postfix instance of its own under a fresh directory DIR in /tmp:
    DIR/etc (main.cf, master.cf), DIR/queue, DIR/data, DIR/maillog. It has
    no local domain: all mail is relayed to relayhost [127.0.0.1]:relay_port
    (the final sink). `main` adds to or overrides the main.cf parameters
    below; `services` (master.cf lines) is appended to BASE_MASTER_CF.
    """

    def __init__(self, relay_port, main=None, services="", hostname="mx.postfix.test",
                 name="postfix"):
        # Not under pytest's tmp_path: that is mode 0700, and Postfix's
        # daemons run as the postfix user.
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix="pc-postfix-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.etc = self.dir / "etc"
        self.queue_dir = self.dir / "queue"
        self.data_dir = self.dir / "data"
        self.maillog = self.dir / "maillog"
        self.hostname = hostname
        self.started = False
        self.history = []     # commands run, for the failure report
        self.params = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.data_dir),
            # Postfix 3.4+: log to a file through postlogd (see master.cf).
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": str(self.dir),
            "myhostname": hostname,
            "mydomain": "postfix.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relayhost": "[127.0.0.1]:%d" % relay_port,
            "smtp_host_lookup": "native",
            "smtp_connect_timeout": "5s",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            "smtpd_client_port_logging": "yes",
            "smtputf8_enable": "no",
        }
        for k, v in (main or {}).items():
            if v is None:
                self.params.pop(k, None)
            else:
                self.params[k] = v
        self.services = services
        self.etc.mkdir()
        self.queue_dir.mkdir()
        self.data_dir.mkdir()
        shutil.chown(self.data_dir, user="postfix")
        (self.etc / "main.cf").write_text(
            "".join("%s = %s\n" % kv for kv in self.params.items()))
        (self.etc / "master.cf").write_text(BASE_MASTER_CF + services)

    def _run(self, cmd, timeout=30, check=True):
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        self.history.append("$ %s\nrc=%d (%.2fs)\n%s%s" % (
            " ".join(cmd), p.returncode, time.monotonic() - t0,
            p.stdout.decode("utf-8", "replace")[-2000:],
            p.stderr.decode("utf-8", "replace")[-2000:]))
        if check and p.returncode != 0:
            pytest.fail("command failed: %s\n%s" % (" ".join(cmd), self.describe()))
        return p

    def start(self, ports, timeout=20):
        """postfix check (it also creates the queue directories), postfix
        start, then waits until every port in ports accepts connections."""
        self._run([POSTFIX, "-c", str(self.etc), "check"])
        self._run([POSTFIX, "-c", str(self.etc), "start"])
        self.started = True
        for port in ports:
            if not wait_port(port, timeout):
                pytest.fail("Postfix does not listen on 127.0.0.1:%d within %ss" %
                            (port, timeout))

    def master_pid(self):
        try:
            return int((self.queue_dir / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        """postfix stop; waits (bounded) until the master is gone, then
        postfix abort, then SIGKILL."""
        if not self.started:
            return
        pid = self.master_pid()
        self._run([POSTFIX, "-c", str(self.etc), "stop"], check=False)
        if pid is not None and not wait_until(lambda: not _alive(pid), 15):
            self._run([POSTFIX, "-c", str(self.etc), "abort"], check=False)
            if not wait_until(lambda: not _alive(pid), 5):
                os.kill(pid, signal.SIGKILL)
        self.started = False

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def flush(self):
        """postqueue -f: try everything that is deferred now."""
        self._run([POSTQUEUE, "-c", str(self.etc), "-f"], check=False)

    def queue(self):
        """The queue as postqueue -j lists it: one dict per message."""
        p = self._run([POSTQUEUE, "-c", str(self.etc), "-j"])
        return [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]

    def queue_contents(self, queue_id):
        """Header and body of a queued message (postcat -bh); b"" when gone."""
        p = self._run([POSTCAT, "-c", str(self.etc), "-bh", "-q", queue_id], check=False)
        return p.stdout if p.returncode == 0 else b""

    def wait_queue_empty(self, timeout=30):
        """True once postqueue lists nothing (flushing deferred mail on the way)."""
        def empty():
            q = self.queue()
            if any(m.get("queue_name") == "deferred" for m in q):
                self.flush()
            return q == []
        return wait_until(empty, timeout, step=0.3) is not None

    def log(self):
        try:
            return self.maillog.read_text(errors="replace")
        except OSError:
            return ""

    def wait_log(self, regex, timeout=30):
        """Waits for a maillog line matching regex; the match, or None."""
        rx = re.compile(regex, re.M)
        return wait_until(lambda: rx.search(self.log()), timeout, step=0.1)

    def describe(self):
        try:
            main_cf = (self.etc / "main.cf").read_text()
        except OSError:
            main_cf = "(gone)"
        return ("Postfix instance in %s\n%s\n--- main.cf ---\n%s--- master.cf (after the base "
                "services) ---\n%s--- maillog ---\n%s" %
                (self.dir, "\n".join(self.history[-6:]), main_cf, self.services,
                 tail(self.log(), 200)))


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


@pytest.fixture
def postfix_factory(request):
    """postfix_factory(relay_port, main=None, services="", start_ports=None)
    -> a Postfix instance, started (postfix check, postfix start, listening
    on start_ports) unless start_ports is None. Skips the test when Postfix
    cannot run here. At teardown it is stopped and its directory removed;
    a failing test's report gets its maillog."""
    why = postfix_available()
    if why:
        pytest.skip(why)
    made = []

    def make(relay_port, main=None, services="", start_ports=None, **kw):
        pf = Postfix(relay_port, main=main, services=services, **kw)
        made.append(pf)
        _artifacts(request.node).append(pf)
        if start_ports is not None:
            pf.start(start_ports)
        return pf

    yield make
    for pf in made:
        pf.stop()
        final = pf.log()  # kept for a report made after the directory is gone
        pf.log = lambda final=final: final
        pf.remove()
