"""Mail whose structure is not textbook (issue 8 parts 1 and 2).

Our own corpus (mail_shapes.py): every shape clean and with EICAR in a
base64 part inside its own structure, each with and without one extra X-
field on top, through `portcullis-scan --mail` (the walk portcullisd does
for SMTP DATA): clean ones are OK (never corrupt), infected ones found, and
the extra field changes nothing. Then the public test messages of other
MIME libraries that Debian packages (CPython's email tests, enmime's
testdata): no crash, no clean message refused, and an EICAR part inserted
into each is found. A sample of both goes through portcullisd end to end.
"""

import re
from pathlib import Path

import pytest

pytest.register_assert_rewrite("smtp_util")
from smtp_util import *  # noqa: E402,F401,F403
import mail_shapes as ms  # noqa: E402

pytest_plugins = ["smtp_util"]

CORPORA = {
    "cpython": (Path("/usr/lib/python3.11/test/test_email/data"), "msg_*.txt",
                "libpython3.11-testsuite"),
    "enmime": (Path("/usr/share/gocode/src/github.com/jhillyerd/enmime/testdata"), "**/*.raw",
               "golang-github-jhillyerd-enmime-dev"),
}
SHAPES = ms.SHAPES_1 + ms.SHAPES_2


def _write_shapes(tmp_path):
    """Every variant as a file; returns {file: (shape, infected, x)}."""
    out = {}
    for f in SHAPES:
        for inf in (False, True):
            for x in (False, True):
                p = tmp_path / ("%s-%s-%s.eml" % (f.__name__, "inf" if inf else "clean",
                                                  "x" if x else "plain"))
                p.write_bytes(ms.with_x(f(inf), x))
                out[str(p)] = (f.__name__, inf, x)
    return out


def _outcome(res, path):
    """'found', 'ok', 'corrupt', 'limit', ... for one scanned file."""
    if res.names_under(path):
        return "found"
    for u in res.unscanned:
        if u.path == path or u.path.startswith(path + "//"):
            return u.kind.lower()
    if path in res.errors:
        return "error"
    return "ok" if path in res.ok else "missing"


def test_shapes(run_scan, tmp_path):
    files = _write_shapes(tmp_path)
    res = run_scan("--mail", "--no-summary", *files)
    assert not res.errors and not res.unparsed, res.stdout
    bad = []
    for path, (shape, inf, x) in sorted(files.items()):
        got = _outcome(res, path)
        want = "found" if inf else "ok"
        if got != want:
            bad.append("%s infected=%s x=%s: %s, want %s" % (shape, inf, x, got, want))
        if inf:
            assert res.names_under(path) <= EICAR_NAMES_SET, res.found
    assert not bad, "\n".join(bad)


EICAR_NAMES_SET = {"Eicar-Test-Signature", "Eicar-Test-Signature.SHA256"}


def test_empty_shapes_not_corrupt_without_mail_flag(run_scan, tmp_path):
    """Part 2 as portcullis-scan sees .eml files: nothing to scan is clean."""
    files = []
    for f in ms.SHAPES_2:
        p = tmp_path / ("%s.eml" % f.__name__)
        p.write_bytes(f(False))
        files.append(p)
    res = run_scan("--no-summary", *files)
    assert res.rc == 0 and not res.unscanned and not res.found, res.stdout


def _corpus(name):
    d, pattern, pkg = CORPORA[name]
    files = sorted(p for p in d.glob(pattern) if p.is_file())
    if not files:
        pytest.skip("%s not installed (scripts/deps.sh)" % pkg)
    return files


@pytest.mark.parametrize("corpus", sorted(CORPORA))
def test_public_corpus(run_scan, tmp_path, corpus):
    files = _corpus(corpus)
    clean_dir, inf_dir = tmp_path / "clean", tmp_path / "infected"
    clean_dir.mkdir()
    inf_dir.mkdir()
    names = []
    for i, f in enumerate(files):
        n = "%03d-%s" % (i, re.sub(r"[^\w.-]", "_", f.name))
        data = f.read_bytes()
        (clean_dir / n).write_bytes(data)
        (inf_dir / n).write_bytes(ms.insert_infected(data))
        names.append(n)
    res = run_scan("--mail", "--no-summary", "-r", clean_dir, inf_dir, timeout=300)
    assert not res.errors and not res.unparsed, res.stdout
    refused, missed = [], []
    for n in names:
        c, i = str(clean_dir / n), str(inf_dir / n)
        if _outcome(res, c) != "ok":
            refused.append("%s: %s" % (n, _outcome(res, c)))
        if _outcome(res, i) != "found":
            missed.append("%s: %s" % (n, _outcome(res, i)))
    assert not refused, "clean messages not called clean:\n" + "\n".join(refused)
    assert not missed, "inserted EICAR not found:\n" + "\n".join(missed)


# ------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def reject_env(request, tmp_path_factory):
    d, s = start_shared(request, tmp_path_factory, "corpus", verbose=False,
                        inbound={"infected": "reject"})
    return d, s


def _send(d, rcpt, msg):
    with Client(d.port) as c:
        c.banner()
        c.ehlo("corpus.example")
        r = c.mail("corpus@example.net", [rcpt], msg)
        c.quit()
    return r


def _pairs(src):
    """(clean, infected) CRLF messages of a shape builder or a corpus file."""
    if isinstance(src, Path):
        clean = src.read_bytes()
        if b"\r\n" not in clean[:2000]:
            clean = to_crlf(clean)
        return clean, ms.insert_infected(clean)
    clean, infected = src(False), src(True)
    if b"\r\n" not in clean:
        clean, infected = to_crlf(clean), to_crlf(infected)
    return clean, infected


def _run_smtp(d, tag, sources):
    """Clean: 250 (delivered). Infected: 550. Both with and without an X- field on top."""
    bad = []
    for name, src in sources:
        clean, infected = _pairs(src)
        t = re.sub(r"\W", "-", name)[:40]
        for x in (False, True):
            r = _send(d, "c-%s-%s-%d@example.org" % (tag, t, x), ms.with_x(clean, x))
            if not r.first.startswith("250 "):
                bad.append("%s x=%s clean: %s" % (name, x, r.first))
            r = _send(d, "i-%s-%s-%d@example.org" % (tag, t, x), ms.with_x(infected, x))
            if not re.match(r"^550 5\.7\.1 message rejected: virus found \(%s\)$"
                            % names_rx(EICAR_RE), r.first):
                bad.append("%s x=%s infected: %s" % (name, x, r.first))
    assert not bad, "\n".join(bad)


def test_smtp_shapes(request, reject_env):
    d, sink = reject_env
    attach(request.node, d, sink)
    _run_smtp(d, "shape", [(f.__name__, f) for f in SHAPES])


@pytest.mark.parametrize("corpus", sorted(CORPORA))
def test_smtp_public(request, reject_env, corpus):
    d, sink = reject_env
    attach(request.node, d, sink)
    _run_smtp(d, corpus, [(p.name, p) for p in _corpus(corpus)])
