"""portcullis-scan and a real clamd agree, file by file, on a mixed corpus.

Both load the same bundled signatures (<repo>/sigs). For every file of
/usr/share/clamav-testfiles and every file generated below, the test
compares: found vs not found, and, where both found something, the set of
signature names (".UNOFFICIAL", which clamd appends to names from unsigned
databases, is stripped). clamd is asked with ALLMATCHSCAN <path> so that it
reports every signature, as Portcullis does; INSTREAM (what the product
uses) must agree with it on found vs not found.

A disagreement fails unless KNOWN_DIFFERENCES names the file with the kind
of difference, and each entry must still occur exactly so: a difference
that goes away (or changes kind) fails too, so the table stays honest.
docs/known-differences.md documents the same table; a test checks that the
two list the same files.
"""

import binascii
import difflib
import email.mime.message
import email.mime.multipart
import email.mime.text
import os
import random
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import samples_build as sb  # noqa: E402
from clamd_util import clamd_fixture, strip_unofficial  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SIGS = REPO / "sigs"
DOC = REPO / "docs" / "known-differences.md"
TESTFILES = Path(os.environ.get("PC_TESTFILES", "/usr/share/clamav-testfiles"))

CLAMD_ONLY = "clamd-only"
PORTCULLIS_ONLY = "portcullis-only"
NAMES = "names"

# file name -> (kind of difference, why). Kinds: clamd-only (clamd finds a
# signature, Portcullis finds none), portcullis-only, names (both find
# something, different signature sets).
UNPACKER = "clamd unpacks {} and scans the original executable inside; Portcullis does not unpack executables"
RAW_ONLY = (
    "the body signature matches clam.exe's bytes as they lie in the file, for both; "
    "clamd also extracts {} and the MD5 of the whole clam.exe matches, Portcullis does not extract it"
)
KNOWN_DIFFERENCES = {
    "clam-aspack.exe": (CLAMD_ONLY, UNPACKER.format("ASPack-packed PE")),
    "clam-mew.exe": (CLAMD_ONLY, UNPACKER.format("MEW-packed PE")),
    "clam-nsis.exe": (CLAMD_ONLY, UNPACKER.format("NSIS installers")),
    "clam-pespin.exe": (CLAMD_ONLY, UNPACKER.format("PESpin-packed PE")),
    "clam-petite.exe": (CLAMD_ONLY, UNPACKER.format("Petite-packed PE")),
    "clam-upack.exe": (CLAMD_ONLY, UNPACKER.format("Upack-packed PE")),
    "clam-upx.exe": (CLAMD_ONLY, UNPACKER.format("UPX-packed PE")),
    "clam-wwpack.exe": (CLAMD_ONLY, UNPACKER.format("WWPack-packed PE")),
    "clam-yc.exe": (CLAMD_ONLY, UNPACKER.format("yC-packed PE")),
    "clam.ea05.exe": (CLAMD_ONLY, UNPACKER.format("AutoIt v3.0.5 scripts")),
    "clam.ea06.exe": (CLAMD_ONLY, UNPACKER.format("AutoIt v3.2.6+ scripts")),
    "clam_IScab_int.exe": (CLAMD_ONLY, UNPACKER.format("InstallShield cabinets")),
    "clam_ISmsi_ext.exe": (CLAMD_ONLY, UNPACKER.format("InstallShield MSI setups")),
    "clam_ISmsi_int.exe": (CLAMD_ONLY, UNPACKER.format("InstallShield MSI setups")),
    "clam-fsg.exe": (NAMES, RAW_ONLY.format("the FSG-packed PE")),
    "clam_IScab_ext.exe": (NAMES, RAW_ONLY.format("the InstallShield cabinet")),
    "gen-mail-qp.eml": (
        NAMES,
        "both decode the quoted-printable EICAR; clamd's decoder adds a line break after the final "
        "soft line break (69 bytes), so only Portcullis, decoding to the exact 68 bytes as RFC 2045 "
        "says, also matches the SHA-256 signature",
    ),
}

# Files the test writes: name -> function returning the bytes.
EML_HEAD = (
    "From: sender@example.org\r\nTo: rcpt@example.org\r\n"
    "Date: Wed, 01 Jan 2020 00:00:00 +0000\r\n"
)


def _random(n, seed):
    return random.Random(seed).randbytes(n)


def _text():
    words = "the quick brown fox jumps over a lazy dog while portcullis scans mail".split()
    r = random.Random(7)
    lines = [" ".join(r.choice(words) for _ in range(12)) for _ in range(400)]
    return ("\n".join(lines) + "\n").encode()


def _mail_qp_eicar():
    """EICAR as a quoted-printable attachment: '@' encoded, a soft break inside."""
    e = sb.eicar()
    qp = e.replace(b"@", b"=40")
    cut = qp.index(b"STANDARD-") + len(b"STANDARD-")
    body = qp[:cut] + b"=\r\n" + qp[cut:] + b"=\r\n"
    assert e not in body
    return (
        EML_HEAD.encode()
        + b"Subject: qp\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nhello\r\n"
        b'--b1\r\nContent-Type: text/plain; charset=us-ascii; name="eicar.txt"\r\n'
        b'Content-Disposition: attachment; filename="eicar.txt"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + body + b"\r\n--b1--\r\n"
    )


def _mail_uu_clam():
    """clam.exe uuencoded in the body of a plain text mail."""
    data = sb.clam_exe()
    lines = [binascii.b2a_uu(data[i : i + 45], backtick=True) for i in range(0, len(data), 45)]
    return (
        EML_HEAD.encode()
        + b"Subject: uu\r\nContent-Type: text/plain\r\n\r\nHere it is.\r\n\r\n"
        + b"begin 644 clam.exe\n"
        + b"".join(lines)
        + b"`\nend\n\r\nbye\r\n"
    )


def _mail_rfc822():
    """A forwarded message (message/rfc822) whose attachment is clam.exe."""
    inner = email.message_from_bytes(sb.mail_with_attachment(sb.clam_exe(), "clam.exe"))
    outer = email.mime.multipart.MIMEMultipart()
    outer["From"] = "fwd@example.org"
    outer["To"] = "rcpt@example.org"
    outer["Subject"] = "Fwd: test"
    outer["Date"] = "Wed, 01 Jan 2020 00:00:00 +0000"
    outer.attach(email.mime.text.MIMEText("forwarding"))
    outer.attach(email.mime.message.MIMEMessage(inner))
    return outer.as_bytes()


def _clean_mail():
    return sb.mail_with_attachment(b"nothing to see here\n" * 50, "notes.txt", ctype="text/plain")


def _mixed():
    return [("docs/readme.txt", b"hello\n"), ("bin/clam.exe", sb.clam_exe()), ("eicar.com", sb.eicar())]


def _nested():
    inner = sb.zip_bytes([("clam.exe", sb.clam_exe())])
    outer = sb.zip_bytes([("inner.zip", inner), ("readme.txt", b"nested\n")])
    return sb.tar_bytes([("dir/outer.zip", outer)], "w:gz")


GENERATED = {
    "gen-empty.bin": lambda: b"",
    "gen-random-1k.bin": lambda: _random(1024, 1),
    "gen-random-300k.bin": lambda: _random(300 * 1024, 2),
    "gen-text.txt": _text,
    "gen-image.gif": lambda: sb.GIF_1X1,
    "gen-clean.zip": lambda: sb.zip_bytes([("a.txt", _text()), ("b.bin", _random(5000, 3))]),
    "gen-clean.tar.gz": lambda: sb.tar_bytes([("a.txt", _text())], "w:gz"),
    "gen-clean.eml": _clean_mail,
    "gen-eicar.com": sb.eicar,
    "gen-eicar.txt": sb.eicar,
    "gen-eicar.gif": sb.eicar,
    "gen-clam.exe": sb.clam_exe,
    "gen-clam-exe.gif": sb.clam_exe,
    "gen-clam-exe.txt": sb.clam_exe,
    "gen-mixed.zip": lambda: sb.zip_bytes(_mixed()),
    "gen-mixed-stored.zip": lambda: sb.zip_bytes(_mixed(), compression=0),
    "gen-mixed.tar": lambda: sb.tar_bytes(_mixed(), "w"),
    "gen-mixed.tar.gz": lambda: sb.tar_bytes(_mixed(), "w:gz"),
    "gen-mixed.tar.bz2": lambda: sb.tar_bytes(_mixed(), "w:bz2"),
    "gen-mixed.tar.xz": lambda: sb.tar_bytes(_mixed(), "w:xz"),
    "gen-clam.exe.gz": lambda: sb.gz_bytes(sb.clam_exe(), "clam.exe"),
    "gen-clam.exe.bz2": lambda: sb.bz2_bytes(sb.clam_exe()),
    "gen-clam.exe.xz": lambda: sb.xz_bytes(sb.clam_exe()),
    "gen-eicar.com.gz": lambda: sb.gz_bytes(sb.eicar(), "eicar.com"),
    "gen-nested.tar.gz": _nested,
    "gen-mail-base64.eml": lambda: sb.mail_with_attachment(sb.clam_exe(), "clam.exe"),
    "gen-mail-qp.eml": _mail_qp_eicar,
    "gen-mail-uu.eml": _mail_uu_clam,
    "gen-mail-rfc822.eml": _mail_rfc822,
}


def _testfile_names():
    if not TESTFILES.is_dir():
        return []
    return sorted(p.name for p in TESTFILES.iterdir() if p.is_file())


CORPUS = _testfile_names() + sorted(GENERATED)

clamd = clamd_fixture(str(SIGS), scope="module")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """name -> absolute path of every file of the corpus."""
    if not (TESTFILES / "clam.exe").is_file():
        pytest.skip(f"clamav-testfiles not installed ({TESTFILES})")
    d = tmp_path_factory.mktemp("corpus")
    os.chmod(d, 0o755)
    out = {n: str(TESTFILES / n) for n in _testfile_names()}
    for name, make in GENERATED.items():
        p = d / name
        p.write_bytes(make())
        p.chmod(0o644)
        out[name] = str(p)
    return out


@pytest.fixture(scope="module")
def clamd_verdicts(clamd, corpus):
    """name -> sorted list of clamd's signature names (ALLMATCHSCAN)."""
    return {n: clamd.allmatchscan(p) for n, p in corpus.items()}


def _names(names):
    return {strip_unofficial(n) for n in names}


def classify(clamd_names, pc_names):
    """None when they agree, else the kind of difference."""
    if clamd_names and pc_names:
        return None if clamd_names == pc_names else NAMES
    if clamd_names:
        return CLAMD_ONLY
    if pc_names:
        return PORTCULLIS_ONLY
    return None


@pytest.mark.parametrize("name", CORPUS)
def test_agree(name, corpus, clamd, clamd_verdicts, run_scan):
    path = corpus[name]
    res = run_scan(path)  # -d <repo>/sigs
    assert res.rc in (0, 1, 2), f"exit code {res.rc}"
    assert not res.sanitizer_report(), "sanitizer report on stderr"
    assert not res.unparsed, f"lines in no known format: {res.unparsed[:5]}"
    assert res.has_summary, "no summary block"

    cl = _names(clamd_verdicts[name])
    pc = _names(res.names_under(path))
    # The product streams to clamd; INSTREAM must see what ALLMATCHSCAN saw.
    with open(path, "rb") as f:
        assert bool(clamd.instream(f.read())) == bool(cl), "clamd INSTREAM != ALLMATCHSCAN"

    got = classify(cl, pc)
    detail = (
        f"{name}: clamd={sorted(cl)} portcullis={sorted(pc)} "
        f"errors={res.errors} unscanned={[(u.path, u.kind, u.detail) for u in res.unscanned]}"
    )
    known = KNOWN_DIFFERENCES.get(name)
    if known is None:
        assert got is None, f"unexpected difference ({got}): {detail}"
    else:
        assert got is not None, (
            f"known difference no longer occurs, remove it from KNOWN_DIFFERENCES "
            f"and docs/known-differences.md: {detail}"
        )
        assert got == known[0], f"difference is {got}, table says {known[0]}: {detail}"
    if pc:
        # Any hit makes the exit code 1 (an error elsewhere may make it 2).
        assert res.rc in (1, 2)
    elif not res.errors:
        assert res.rc == 0 or res.unscanned, f"exit code {res.rc} without a finding"


def test_table_names_corpus_files():
    """Every entry of KNOWN_DIFFERENCES is a file of the corpus."""
    if not TESTFILES.is_dir():
        pytest.skip(f"clamav-testfiles not installed ({TESTFILES})")
    assert set(KNOWN_DIFFERENCES) <= set(CORPUS), set(KNOWN_DIFFERENCES) - set(CORPUS)


DETECTION_HEADING = "## Detection: the files of clamav-testfiles"


def _doc_differences_part():
    """The doc up to the detection table (whose rows are not differences)."""
    return DOC.read_text().split(DETECTION_HEADING)[0]


def _mark(found):
    return "found" if found else "missed"


def test_detection_table(corpus, clamd, clamd_verdicts, run_scan):
    """The detection table in the doc is what built-in, chain and clamd find
    today, file by file, and its summary line counts it right."""
    names = _testfile_names()
    rows, counts = [], [0, 0, 0]
    for name in names:
        path = corpus[name]
        builtin = bool(run_scan(path).names_under(path))
        chain = bool(run_scan("--clamd", clamd.tcp_addr, path).names_under(path))
        cl = bool(clamd_verdicts[name])
        for i, f in enumerate((builtin, chain, cl)):
            counts[i] += f
        rows.append(f"| {name} | {_mark(builtin)} | {_mark(chain)} | {_mark(cl)} |")
    n = len(names)
    want = "\n".join(
        [
            DETECTION_HEADING,
            "",
            f"Built-in: {counts[0]} of {n}; chain: {counts[1]} of {n}; clamd: {counts[2]} of {n}.",
            "",
            "| File | Built-in | Chain | clamd |",
            "|------|----------|-------|-------|",
        ]
        + rows
    )
    text = DOC.read_text()
    assert DETECTION_HEADING in text, f"no detection table in {DOC}; it should read:\n{want}"
    got = text.split(DETECTION_HEADING, 1)[1]
    got = DETECTION_HEADING + got.split("\n## ", 1)[0]
    diff = "".join(
        difflib.unified_diff(
            got.strip().splitlines(True), want.strip().splitlines(True), "doc", "found today"
        )
    )
    assert got.strip() == want.strip(), f"the detection table in {DOC} is not what is found today:\n{diff}"
    # Chain is the union: it never finds less than either engine alone.
    assert counts[1] >= max(counts[0], counts[2])


def test_doc_matches_table():
    """docs/known-differences.md lists the same files with the same kinds."""
    rows = {}
    for line in _doc_differences_part().splitlines():
        m = re.match(r"^\|\s*`([^`]+)`\s*\|\s*([a-z-]+)\s*\|", line)
        if m:
            rows[m.group(1)] = m.group(2)
    want = {k: v[0] for k, v in KNOWN_DIFFERENCES.items()}
    assert rows == want, (
        f"only in doc: {sorted(set(rows) - set(want))}, "
        f"only in test: {sorted(set(want) - set(rows))}, "
        f"kinds differ: {sorted(k for k in rows if k in want and rows[k] != want[k])}"
    )


def test_corpus_is_mixed(clamd_verdicts):
    """The corpus has both clean and infected files, by clamd's account."""
    infected = {n for n, v in clamd_verdicts.items() if v}
    clean = set(clamd_verdicts) - infected
    assert {"gen-eicar.com", "gen-mail-qp.eml", "gen-mail-uu.eml", "gen-nested.tar.gz"} <= infected
    assert {"gen-empty.bin", "gen-text.txt", "gen-clean.zip", "gen-clean.eml"} <= clean
    assert _names(clamd_verdicts["gen-eicar.com"]) == {
        "Eicar-Test-Signature",
        "Eicar-Test-Signature.SHA256",
    }
