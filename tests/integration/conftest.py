"""Generic fixtures for the integration tests of `portcullis-scan`.

Owns: locating the repository, the binary and the bundled signatures;
running the CLI with a timeout; parsing its output into findings and the
summary block; attaching the output of every run to a failing test's report.
It knows nothing of particular samples (see samples_build.py).

Binary: $PORTCULLIS_SCAN, else <repo>/build/portcullis-scan.
"""

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TESTFILES = Path(os.environ.get("PC_TESTFILES", "/usr/share/clamav-testfiles"))

SUMMARY_HEADER = "----------- SCAN SUMMARY -----------"

RE_FOUND = re.compile(r"^(?P<path>.*): (?P<name>\S+) FOUND$")
RE_OK = re.compile(r"^(?P<path>.*): OK$")
RE_UNSCANNED = re.compile(
    r"^(?P<path>.*): (?:(?P<kind>ENCRYPTED|CORRUPT)|LIMIT (?P<limit>\w+)) "
    r"UNSCANNED \((?P<detail>.*)\)$")
RE_ERROR = re.compile(r"^(?P<path>.*): ERROR \((?P<reason>.*)\)$")
RE_SUMMARY = re.compile(r"^(?P<key>[A-Za-z][A-Za-z ]*): (?P<value>.*)$")

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:", "ThreadSanitizer")


@dataclass
class Unscanned:
    path: str
    kind: str        # "ENCRYPTED", "CORRUPT" or "LIMIT"
    limit: str       # limit name when kind == "LIMIT", else ""
    detail: str      # "where: reason"


@dataclass
class ScanResult:
    """One run of the CLI, parsed."""
    cmd: list
    rc: int
    stdout: str
    stderr: str
    elapsed: float
    lines: list = field(default_factory=list)       # finding lines, before the summary
    summary: dict = field(default_factory=dict)     # "Scanned files" -> "3"
    has_summary: bool = False
    found: dict = field(default_factory=dict)       # path -> set of signature names
    ok: set = field(default_factory=set)            # paths reported OK
    unscanned: list = field(default_factory=list)   # [Unscanned]
    errors: dict = field(default_factory=dict)      # path -> reason
    unparsed: list = field(default_factory=list)    # finding lines matching no format

    def names(self):
        """Every signature name reported, over all paths."""
        out = set()
        for v in self.found.values():
            out |= v
        return out

    def names_under(self, root):
        """Signature names of hits at root or inside it (root//...)."""
        root = str(root)
        out = set()
        for p, v in self.found.items():
            if p == root or p.startswith(root + "//"):
                out |= v
        return out

    def hit_paths(self, name=None):
        return {p for p, v in self.found.items() if name is None or name in v}

    def limits(self):
        return {u.limit for u in self.unscanned if u.kind == "LIMIT"}

    def kinds(self):
        return {u.kind for u in self.unscanned}

    def count(self, key):
        """An integer from the summary block (KeyError if absent)."""
        return int(self.summary[key].split()[0])

    def sanitizer_report(self):
        return [m for m in SANITIZER_MARKS if m in self.stderr]

    def describe(self):
        return ("$ %s\nrc=%s (%.2fs)\n--- stdout ---\n%s\n--- stderr ---\n%s" %
                (" ".join(_shq(a) for a in self.cmd), self.rc, self.elapsed,
                 _clip(self.stdout), _clip(self.stderr)))


def _shq(s):
    s = str(s)
    if re.fullmatch(r"[\w./=,:+-]+", s):
        return s
    return "'" + s.replace("'", "'\\''") + "'"


def _clip(s, n=6000):
    if len(s) <= n:
        return s
    return s[:n // 2] + "\n[... %d characters ...]\n" % (len(s) - n) + s[-n // 2:]


def parse_output(res):
    """Fills the parsed fields of res from res.stdout."""
    in_summary = False
    for line in res.stdout.split("\n"):
        if line == "":
            continue
        if line == SUMMARY_HEADER:
            in_summary = True
            res.has_summary = True
            continue
        if in_summary:
            m = RE_SUMMARY.match(line)
            if m:
                res.summary[m.group("key").strip()] = m.group("value").strip()
            continue
        res.lines.append(line)
        m = RE_FOUND.match(line)
        if m:
            res.found.setdefault(m.group("path"), set()).add(m.group("name"))
            continue
        m = RE_OK.match(line)
        if m:
            res.ok.add(m.group("path"))
            continue
        m = RE_UNSCANNED.match(line)
        if m:
            res.unscanned.append(Unscanned(m.group("path"), m.group("kind") or "LIMIT",
                                           m.group("limit") or "", m.group("detail")))
            continue
        m = RE_ERROR.match(line)
        if m:
            res.errors[m.group("path")] = m.group("reason")
            continue
        res.unparsed.append(line)
    return res


def write_config(path, text=None, **scan_keys):
    """Writes an INI config: text as given, or a [scan] section of keys."""
    if text is None:
        text = "[scan]\n" + "".join("%s = %s\n" % kv for kv in scan_keys.items())
    Path(path).write_text(text)
    return Path(path)


class Runner:
    """Runs portcullis-scan; remembers every run for the failure report."""

    def __init__(self, scan_bin, sigdir, tmp_path, env=None):
        self.scan_bin = scan_bin
        self.env = env or {}
        self.sigdir = sigdir
        self.tmp_path = tmp_path
        self.history = []
        self._nconf = 0

    def __call__(self, *args, config=None, db="default", timeout=60, env=None, cwd=None,
                 wrapper=None, stdin=subprocess.DEVNULL):
        """
        Runs the CLI with args (paths converted with str). config: None, a
        Path of an existing file, a str of INI text, or a dict of [scan]
        keys. db: "default" = -d <repo>/sigs, None = no -d, else a path.
        Returns a parsed ScanResult; a timeout fails the test.
        """
        cmd = [str(self.scan_bin)]
        if db == "default":
            cmd += ["-d", str(self.sigdir)]
        elif db is not None:
            cmd += ["-d", str(db)]
        if config is not None:
            if isinstance(config, (dict, str)):
                self._nconf += 1
                p = self.tmp_path / ("portcullis-test-%d.conf" % self._nconf)
                if isinstance(config, dict):
                    write_config(p, **config)
                else:
                    write_config(p, config)
                config = p
            cmd += ["-c", str(config)]
        cmd += [str(a) for a in args]
        full = list(wrapper or []) + cmd
        e = dict(os.environ)
        e.update(self.env)
        if env:
            e.update(env)
        t0 = time.monotonic()
        try:
            p = subprocess.run(full, stdin=stdin, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout, env=e, cwd=cwd)
        except subprocess.TimeoutExpired as ex:
            res = ScanResult(full, -999, _dec(ex.stdout), _dec(ex.stderr),
                             time.monotonic() - t0)
            self.history.append(res)
            pytest.fail("portcullis-scan did not finish within %ss" % timeout)
        res = ScanResult(full, p.returncode, _dec(p.stdout), _dec(p.stderr),
                         time.monotonic() - t0)
        parse_output(res)
        self.history.append(res)
        return res


def _dec(b):
    if b is None:
        return ""
    if isinstance(b, str):
        return b
    return b.decode("utf-8", errors="backslashreplace")


def assert_sane(res):
    """No crash, no signal, no sanitizer report, a documented exit code."""
    assert res.rc in (0, 1, 2), "exit code %d (negative = killed by a signal)" % res.rc
    assert not res.sanitizer_report(), "sanitizer report in stderr"
    assert not res.unparsed, "output lines in no known format: %r" % res.unparsed[:5]


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture(scope="session")
def scan_bin():
    p = Path(os.environ.get("PORTCULLIS_SCAN", REPO / "build" / "portcullis-scan"))
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail("portcullis-scan not found at %s (build it or set PORTCULLIS_SCAN)" % p)
    return p


ASAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
if (REPO / "tests" / "unit" / "lsan.supp").is_file():
    ASAN_ENV["LSAN_OPTIONS"] = "suppressions=%s:print_suppressions=0" % (
        REPO / "tests" / "unit" / "lsan.supp")


@pytest.fixture(scope="session")
def sigdir():
    d = REPO / "sigs"
    assert (d / "portcullis-test.ndb").is_file(), "bundled signatures missing in %s" % d
    return d


@pytest.fixture(scope="session")
def testfiles():
    if not (TESTFILES / "clam.exe").is_file():
        pytest.skip("clamav-testfiles not installed (%s)" % TESTFILES)
    return TESTFILES


@pytest.fixture
def run_scan(request, scan_bin, sigdir, tmp_path):
    r = Runner(scan_bin, sigdir, tmp_path)
    request.node._pc_runner = r
    return r


@pytest.fixture(params=["release", "asan"])
def run_scan_both(request, scan_bin, asan_bin_opt, sigdir, tmp_path):
    """run_scan with the normal build, then with the sanitizer build (that
    variant is skipped when no sanitizer build exists)."""
    if request.param == "release":
        r = Runner(scan_bin, sigdir, tmp_path)
    else:
        if asan_bin_opt is None:
            pytest.skip("no sanitizer build of portcullis-scan")
        r = Runner(asan_bin_opt, sigdir, tmp_path, env=ASAN_ENV)
    request.node._pc_runner = r
    return r


@pytest.fixture(scope="session")
def asan_bin_opt():
    p = Path(os.environ.get("PORTCULLIS_SCAN_ASAN", REPO / "build-asan" / "portcullis-scan"))
    return p if p.is_file() and os.access(p, os.X_OK) else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    r = getattr(item, "_pc_runner", None)
    if r is None or not rep.failed or not r.history:
        return
    runs = r.history[-4:]
    skipped = len(r.history) - len(runs)
    text = "\n\n".join(x.describe() for x in runs)
    if skipped:
        text = "(%d earlier runs not shown)\n\n" % skipped + text
    rep.sections.append(("portcullis-scan runs", text))
