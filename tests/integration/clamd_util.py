"""A real clamd on loopback for integration tests.

ClamdProcess writes a clamd.conf into a private directory (unix socket
there, TCP on a free 127.0.0.1 port, the caller's database directory),
starts /usr/sbin/clamd in the foreground as a child, waits until PING
answers PONG, and on stop() terminates it. It also speaks enough of the
clamd protocol for tests to ask clamd directly (PING, INSTREAM,
ALLMATCHSCAN), independently of Portcullis's own C client.

clamd_fixture() turns this into a pytest fixture; it prints clamd's log
when a test that used it failed:

    from clamd_util import clamd_fixture
    clamd = clamd_fixture(SIGS_DIR, scope="module")

    def test_x(clamd):
        assert clamd.instream(b"...") == []

Notes on clamd 1.4 that shape this helper:
  * clamd.conf has no AllMatchScans option: all-match mode exists only as
    the ALLMATCHSCAN <path> command; INSTREAM stops at the first match.
  * Signatures from databases other than signed .cvd/.cld are reported with
    ".UNOFFICIAL" appended; strip_unofficial() removes it.
"""

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

CLAMD = os.environ.get("CLAMD", "/usr/sbin/clamd")
START_TIMEOUT = 60.0  # seconds until PONG; our few signatures load in about one
IO_TIMEOUT = 60.0
UNOFFICIAL = ".UNOFFICIAL"


class ClamdError(Exception):
    """clamd answered ... ERROR, or the connection failed."""


def free_tcp_port():
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def foreign_clamav_processes(exclude=()):
    """[(pid, cmdline)] of clamd/freshclam processes we did not start.

    A Debian init script may have started them (no systemd here); ours use
    their own socket, port and database directory, so they cannot
    interfere, but a test log should say that they exist."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in exclude:
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            if comm not in ("clamd", "freshclam"):
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        found.append((int(pid), cmd))
    return found


def strip_unofficial(name):
    return name[: -len(UNOFFICIAL)] if name.endswith(UNOFFICIAL) else name


def parse_replies(raw):
    """Splits NUL-terminated reply lines; the last one must be complete."""
    if not raw:
        raise ClamdError("connection closed without reply")
    if not raw.endswith(b"\0"):
        raise ClamdError(f"truncated reply {raw[:100]!r}")
    return [line.decode("utf-8", "replace") for line in raw[:-1].split(b"\0")]


def parse_scan_reply(raw):
    """Signature names (in order, repeats kept) from a scan reply; [] if OK."""
    names = []
    for line in parse_replies(raw):
        if line.endswith(" FOUND"):
            names.append(line[: -len(" FOUND")].rsplit(" ", 1)[1])
        elif line.endswith(": OK"):
            continue
        else:
            raise ClamdError(line)
    return names


class ClamdProcess:
    """One clamd child process with its own directory, socket and port."""

    def __init__(self, workdir, dbdir, extra_conf=None):
        self.workdir = os.path.abspath(workdir)
        self.dbdir = os.path.abspath(dbdir)
        self.socket = os.path.join(self.workdir, "clamd.sock")
        self.logfile = os.path.join(self.workdir, "clamd.log")
        self.conffile = os.path.join(self.workdir, "clamd.conf")
        self.pidfile = os.path.join(self.workdir, "clamd.pid")
        self.stdout = os.path.join(self.workdir, "clamd.out")
        self.port = None
        self.proc = None
        self.extra_conf = dict(extra_conf or {})

    @property
    def tcp_addr(self):
        return f"127.0.0.1:{self.port}"

    def _conf(self):
        conf = {
            "Foreground": "yes",
            "LocalSocket": self.socket,
            "LocalSocketMode": "660",
            "TCPSocket": str(self.port),
            "TCPAddr": "127.0.0.1",
            "DatabaseDirectory": self.dbdir,
            "LogFile": self.logfile,
            "LogTime": "yes",
            "LogVerbose": "yes",
            "PidFile": self.pidfile,
            "AllowAllMatchScan": "yes",
            "ScanArchive": "yes",
            "ScanMail": "yes",
            "ScanPE": "yes",
            "ScanOLE2": "yes",
            "ScanPDF": "yes",
            "ScanHTML": "yes",
            # Signature against signature: no heuristic or phishing names.
            "HeuristicAlerts": "no",
            "PhishingSignatures": "no",
            "PhishingScanURLs": "no",
            "Bytecode": "no",
            # Generous limits: the corpus is small, nothing should hit them.
            "StreamMaxLength": "200M",
            "MaxScanSize": "400M",
            "MaxFileSize": "200M",
            "MaxRecursion": "64",
            "MaxFiles": "10000",
            "MaxScanTime": "120000",
            "SelfCheck": "0",
        }
        if os.geteuid() == 0:
            # We run as root in CI; clamd accepts "User root" (setuid to
            # itself). A non-root run must not name a user at all.
            conf["User"] = "root"
        conf.update(self.extra_conf)
        return "".join(f"{k} {v}\n" for k, v in conf.items() if v is not None)

    def start(self):
        if not os.access(CLAMD, os.X_OK):
            pytest.skip(f"{CLAMD} not installed (Debian package clamav-daemon)")
        os.makedirs(self.workdir, exist_ok=True)
        others = foreign_clamav_processes()
        if others:
            sys.stderr.write(
                "clamd_util: other ClamAV processes run here (not ours, left alone; "
                f"separate socket and port): {others}\n"
            )
        self.port = free_tcp_port()
        with open(self.conffile, "w") as f:
            f.write(self._conf())
        with open(self.stdout, "wb") as out:
            self.proc = subprocess.Popen(
                [CLAMD, "--foreground", "-c", self.conffile],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                raise RuntimeError(f"clamd exited at start:\n{self.log_text()}")
            if self.ping(self.socket, timeout=1.0) and self.ping(self.tcp_addr, timeout=1.0):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"clamd did not answer PING within {START_TIMEOUT} s:\n{self.log_text()}")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.proc = None

    def log_text(self):
        parts = []
        for name in (self.stdout, self.logfile):
            with contextlib.suppress(OSError), open(name, errors="replace") as f:
                parts.append(f"==> {name} <==\n{f.read()}")
        return "\n".join(parts)

    # -- talking to clamd -------------------------------------------------

    def _connect(self, addr, timeout):
        addr = addr or self.socket
        if addr.startswith("/"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = addr
        else:
            host, port = addr.rsplit(":", 1)
            s = socket.socket(socket.AF_INET6 if host.startswith("[") else socket.AF_INET)
            target = (host.strip("[]"), int(port))
        s.settimeout(timeout)
        try:
            s.connect(target)
        except OSError:
            s.close()
            raise
        return s

    @staticmethod
    def _read_all(s):
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b

    def command(self, cmd, addr=None, timeout=IO_TIMEOUT, payload=None):
        """Sends z<cmd>\\0 (and an INSTREAM payload); returns the raw reply."""
        with self._connect(addr, timeout) as s:
            s.sendall(b"z" + cmd + b"\0")
            if payload is not None:
                for off in range(0, len(payload), 65536):
                    chunk = payload[off : off + 65536]
                    s.sendall(struct.pack(">I", len(chunk)) + chunk)
                s.sendall(b"\0\0\0\0")
            return self._read_all(s)

    def ping(self, addr=None, timeout=IO_TIMEOUT):
        try:
            return self.command(b"PING", addr, timeout) == b"PONG\0"
        except OSError:
            return False

    def instream(self, data, addr=None):
        """Names from INSTREAM (clamd stops at the first match)."""
        return parse_scan_reply(self.command(b"INSTREAM", addr, payload=data))

    def allmatchscan(self, path):
        """Every signature name clamd finds in the file at path (clamd reads it)."""
        path = os.path.abspath(path)
        if "\0" in path or "\n" in path:
            raise ValueError(path)
        return parse_scan_reply(self.command(b"ALLMATCHSCAN " + path.encode()))


class ClamdCounter:
    """A TCP proxy between a client and clamd that counts the commands.

    Each connection's first NUL-terminated word ("zINSTREAM", "zPING") is
    recorded in commands, then the bytes go both ways unchanged. With
    fail_after=N, connections after the N-th are accepted and closed at once
    without a byte forwarded: clamd "dies" for everything after them.
    The address to give the client is addr ("127.0.0.1:PORT").

        with ClamdCounter(clamd.tcp_addr) as counter:
            ...
            assert counter.count(b"zINSTREAM") == 1
    """

    def __init__(self, target, fail_after=None):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.fail_after = fail_after
        self.commands = []
        self.refused = 0
        self._lock = threading.Lock()
        self._srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(64)
        self.addr = "127.0.0.1:%d" % self._srv.getsockname()[1]
        self._conns = 0
        self._closing = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        self._closing = True
        with contextlib.suppress(OSError):
            self._srv.shutdown(socket.SHUT_RDWR)
        self._srv.close()
        self._thread.join(5)

    def count(self, cmd=b"zINSTREAM"):
        with self._lock:
            return sum(1 for c in self.commands if c == cmd)

    def reset(self):
        with self._lock:
            self.commands.clear()
            self.refused = 0

    def _accept(self):
        while not self._closing:
            try:
                c, _ = self._srv.accept()
            except OSError:
                return
            self._conns += 1
            if self.fail_after is not None and self._conns > self.fail_after:
                with self._lock:
                    self.refused += 1
                c.close()
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            u = socket.create_connection(self.target, timeout=IO_TIMEOUT)
        except OSError:
            c.close()
            return
        first = b""
        c.settimeout(IO_TIMEOUT)
        try:
            while b"\0" not in first and len(first) < 64:
                b = c.recv(64 - len(first))
                if not b:
                    break
                first += b
            with self._lock:
                self.commands.append(first.split(b"\0", 1)[0])
            u.sendall(first)
            t = threading.Thread(target=self._pump, args=(u, c), daemon=True)
            t.start()
            self._pump(c, u)
            t.join(IO_TIMEOUT)
        except OSError:
            pass
        finally:
            c.close()
            u.close()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _print_on_failure(request, failed_before, text):
    if request.session.testsfailed <= failed_before:
        return
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    banner = "---------- clamd log (a test using clamd failed) ----------"
    if tr is not None:
        tr.write_line("")
        tr.write_line(banner)
        for line in text.splitlines():
            tr.write_line(line)
    else:
        sys.stderr.write(f"\n{banner}\n{text}\n")


def clamd_fixture(dbdir, scope="module", extra_conf=None, name=None):
    """A pytest fixture yielding a started ClamdProcess over dbdir.

    dbdir is a path or a callable(tmp_path_factory) -> path (to build a
    database first). Assign the result to a module-level name in a test
    file; that name is the fixture."""

    @pytest.fixture(scope=scope, name=name)
    def _clamd(request, tmp_path_factory):
        db = dbdir(tmp_path_factory) if callable(dbdir) else dbdir
        work = tmp_path_factory.mktemp("clamd")
        # clamd (maybe as the clamav user when not root) must read these.
        os.chmod(work, 0o755)
        proc = ClamdProcess(work, db, extra_conf)
        failed_before = request.session.testsfailed
        proc.start()
        try:
            yield proc
        finally:
            proc.stop()
            _print_on_failure(request, failed_before, proc.log_text())

    return _clamd


def copy_sigs(src, dst, names=None):
    """Copies the ClamAV database files of src (or only names) into dst."""
    os.makedirs(dst, exist_ok=True)
    for n in sorted(os.listdir(src)):
        if names is not None and n not in names:
            continue
        if n.rsplit(".", 1)[-1] in ("ndb", "hdb", "hsb", "mdb", "msb", "ldb", "cvd", "cld"):
            shutil.copy(os.path.join(src, n), os.path.join(dst, n))
    return dst

