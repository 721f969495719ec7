"""portcullis-scan --clamd against a real clamd on loopback, and against
clamds that are dead, hang, or talk nonsense.

The real clamd loads the bundled signatures plus one signature of its own
(Clamd.Only.Marker), so a hit on the marker can only have come through
clamd. A second clamd has StreamMaxLength 1M to exercise its size limit.
A failure of clamd must never let a file through as OK: exit 2 and an
ERROR line (or an UNSCANNED line for clamd's size limit).
"""

import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import samples_build as sb  # noqa: E402
from clamd_util import clamd_fixture, copy_sigs, free_tcp_port, strip_unofficial  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SIGS = REPO / "sigs"
MARKER = b"PORTCULLIS-CLAMD-BACKEND-TEST-MARKER-7f3a9c"
MARKER_SIG = "Clamd.Only.Marker"
EICAR_NAMES = {"Eicar-Test-Signature", "Eicar-Test-Signature.SHA256"}
CLAM_NAMES = {"Portcullis.Test.ClamExe", "Portcullis.Test.ClamExe.MD5"}
BOUND = 20.0  # seconds any failing-clamd run may take at most


def _clamd_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("clamd-db")
    copy_sigs(SIGS, d)
    (d / "clamd-only.ndb").write_text(f"{MARKER_SIG}:0:*:{MARKER.hex()}\n")
    os.chmod(d, 0o755)
    return str(d)


def _plain_db(tmp_path_factory):
    return str(copy_sigs(SIGS, tmp_path_factory.mktemp("limited-db")))


clamd = clamd_fixture(_clamd_db, scope="module")
limited_clamd = clamd_fixture(
    _plain_db, scope="module", extra_conf={"StreamMaxLength": "1M"}, name="limited_clamd"
)


def _addr(c, transport):
    return c.socket if transport == "unix" else c.tcp_addr


def _write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def _sane(res):
    assert res.rc in (0, 1, 2), f"exit code {res.rc}"
    assert not res.sanitizer_report(), "sanitizer report on stderr"
    assert not res.unparsed, f"lines in no known format: {res.unparsed[:5]}"


def _log_count(c, text):
    return c.log_text().count(text)


def _log_has(c, text, more_than=0, timeout=5.0):
    """clamd writes its log asynchronously: waits a little until text
    occurs more than more_than times."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if _log_count(c, text) > more_than:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def lonely_db(tmp_path):
    """A database with one signature nothing here matches."""
    d = tmp_path / "lonely-db"
    d.mkdir()
    (d / "unrelated.ndb").write_text("Unrelated.Test.Sig:0:*:00ff00ff5a5a5a5a11223344deadbeef\n")
    return d


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_finds_eicar_via_clamd_alone(transport, clamd, run_scan, tmp_path, lonely_db):
    """The built-in engine has no EICAR signature; clamd has: it is found."""
    eicar = _write(tmp_path, "eicar.com", sb.eicar())
    empty = tmp_path / "empty-db"
    empty.mkdir()
    logged = _log_count(clamd, "Eicar-Test-Signature.UNOFFICIAL FOUND")
    res = run_scan("--clamd", _addr(clamd, transport), eicar, db=empty)
    _sane(res)
    if res.rc == 2 and eicar not in res.found and eicar not in res.ok:
        # The CLI refuses an empty database; one unrelated signature then.
        res = run_scan("--clamd", _addr(clamd, transport), eicar, db=lonely_db)
        _sane(res)
    assert eicar not in res.ok
    assert res.rc == 1
    # clamd reports no inner path: the hit is on the path we passed.
    assert set(res.found) == {eicar}
    names = {strip_unofficial(n) for n in res.found[eicar]}
    assert names and names <= EICAR_NAMES, res.found
    assert res.count("Infected files") == 1
    # clamd logged this very scan.
    assert _log_has(clamd, "Eicar-Test-Signature.UNOFFICIAL FOUND", logged), clamd.log_text()


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_chain_any_hit_counts(transport, clamd, run_scan, tmp_path):
    """Built-in engine then clamd: a hit of either counts, clean stays OK."""
    marker = _write(tmp_path, "notes.txt", b"some text\n" + MARKER + b"\nmore text\n")
    eicar = _write(tmp_path, "eicar.txt", sb.eicar())
    clean = _write(tmp_path, "clean.txt", b"nothing here\n" * 100)
    zipped = _write(tmp_path, "clam.zip", sb.zip_bytes([("clam.exe", sb.clam_exe())]))
    res = run_scan("--clamd", _addr(clamd, transport), marker, eicar, clean, zipped)
    _sane(res)
    assert res.rc == 1
    # Only clamd knows the marker.
    assert {strip_unofficial(n) for n in res.names_under(marker)} == {MARKER_SIG}
    # Both know EICAR: the built-in names are there (clamd's may be too).
    assert EICAR_NAMES <= {strip_unofficial(n) for n in res.names_under(eicar)}
    # The built-in engine reports inside the zip; clamd at the top.
    assert any(p.startswith(zipped + "//") for p in res.hit_paths())
    top = res.found.get(zipped, set())
    assert top and all(n.endswith(".UNOFFICIAL") for n in top), res.found
    assert {strip_unofficial(n) for n in top} <= CLAM_NAMES, res.found
    assert clean in res.ok and not res.names_under(clean)
    assert res.count("Infected files") == 3


def test_clean_ok_via_clamd(clamd, run_scan, tmp_path):
    clean = _write(tmp_path, "clean.bin", os.urandom(200000))
    res = run_scan("--clamd", clamd.socket, clean)
    _sane(res)
    assert res.rc == 0
    assert res.ok == {clean}
    assert res.count("Infected files") == 0


def _assert_error_not_ok(res, path, addr):
    _sane(res)
    assert path not in res.ok, "a clamd failure let the file through as OK"
    assert res.rc == 2
    assert path in res.errors, f"no ERROR line for {path}: {res.lines}"
    assert "clamd" in res.errors[path] and addr in res.errors[path], res.errors[path]
    assert res.elapsed < BOUND


def test_dead_unix_socket(run_scan, tmp_path):
    clean = _write(tmp_path, "clean.txt", b"hello\n")
    dead = str(tmp_path / "nobody.sock")
    # A socket file nobody listens on: connect is refused.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(dead)
    try:
        res = run_scan("--clamd", dead, clean)
    finally:
        s.close()
    _assert_error_not_ok(res, clean, dead)
    assert "Connection refused" in res.errors[clean]


def test_missing_unix_socket(run_scan, tmp_path):
    clean = _write(tmp_path, "clean.txt", b"hello\n")
    dead = str(tmp_path / "missing.sock")
    res = run_scan("--clamd", dead, clean)
    _assert_error_not_ok(res, clean, dead)


def test_dead_tcp_port(run_scan, tmp_path):
    clean = _write(tmp_path, "clean.txt", b"hello\n")
    addr = f"127.0.0.1:{free_tcp_port()}"
    res = run_scan("--clamd", addr, clean)
    _assert_error_not_ok(res, clean, addr)
    assert "Connection refused" in res.errors[clean]


def test_dead_clamd_infected_still_found(run_scan, tmp_path):
    """The built-in hit survives a dead clamd; the file is never OK."""
    eicar = _write(tmp_path, "eicar.com", sb.eicar())
    dead = str(tmp_path / "missing.sock")
    res = run_scan("--clamd", dead, eicar)
    _sane(res)
    assert eicar not in res.ok
    assert EICAR_NAMES <= res.names_under(eicar)
    assert res.rc in (1, 2)


class FakeClamd:
    """A unix-socket server that reads the request and then misbehaves."""

    def __init__(self, path, mode):
        self.path = path
        self.mode = mode
        self.conns = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _serve(self, c):
        c.settimeout(BOUND)
        try:
            first = c.recv(65536)
            if self.mode == "garbage":
                c.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello")
            elif self.mode == "close":
                pass
            elif self.mode == "hang":
                # Read on, never answer, until the client gives up.
                while first and not self.stop.is_set():
                    first = c.recv(65536)
        except OSError:
            pass
        finally:
            c.close()

    def _run(self):
        end = time.monotonic() + 4 * BOUND
        while not self.stop.is_set() and time.monotonic() < end:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("mode", ["hang", "garbage", "close"])
def test_misbehaving_clamd(mode, run_scan, tmp_path):
    clean = _write(tmp_path, "clean.txt", b"hello\n" * 1000)
    addr = str(tmp_path / f"{mode}.sock")
    fake = FakeClamd(addr, mode)
    try:
        res = run_scan(
            "--clamd", addr, clean, config={"clamd_timeout": "1s", "clamd_connect_timeout": "1s"}
        )
    finally:
        fake.close()
    _assert_error_not_ok(res, clean, addr)
    assert fake.conns >= 1
    if mode == "hang":
        assert "no reply within" in res.errors[clean]
        assert res.elapsed >= 1.0


def test_clamd_stream_limit(limited_clamd, run_scan, tmp_path):
    """Over clamd's StreamMaxLength: UNSCANNED (limit), never OK."""
    big = _write(tmp_path, "big.bin", os.urandom(3 * 1024 * 1024))
    small = _write(tmp_path, "small.bin", os.urandom(100 * 1024))
    res = run_scan("--clamd", limited_clamd.socket, big, small)
    _sane(res)
    assert big not in res.ok
    assert small in res.ok
    lim = [u for u in res.unscanned if u.path == big]
    assert lim, f"no UNSCANNED line for {big}: {res.lines}"
    assert lim[0].kind == "LIMIT" and lim[0].limit == "max_file_size", lim
    assert "size limit exceeded" in lim[0].detail
    assert res.rc != 0
    assert _log_has(limited_clamd, "INSTREAM: Size limit reached"), limited_clamd.log_text()
