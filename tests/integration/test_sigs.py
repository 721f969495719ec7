"""Signature files: malformed lines are reported as file:line and skipped
while the good lines still work; unsupported types are counted; hash
signatures (.hdb .hsb .sha256) and body signature offsets and wildcards
behave as in ClamAV, each with a positive and a negative case."""

import hashlib
import os
import re

import pytest

from conftest import assert_sane
from samples_build import EICAR_NAMES, eicar, write


def marker(i):
    """A distinct 16-byte pattern per good signature."""
    return hashlib.sha256(b"portcullis-marker-%d" % i).digest()[:16]


def warn_re(fname, line):
    return re.compile(r"^portcullis-scan: warning: (?:\S*/)?%s:%d: \S" % (re.escape(fname), line),
                      re.M)


def warned_lines(stderr, fname):
    """Line numbers of fname the scanner warned about."""
    return {int(m.group(1)) for m in
            re.finditer(r"^portcullis-scan: warning: (?:\S*/)?%s:(\d+): " % re.escape(fname),
                        stderr, re.M)}


def db_with(tmp_path, files):
    d = tmp_path / "db"
    d.mkdir(exist_ok=True)
    for name, content in files.items():
        (d / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return d


# ------------------------------------------------------------------ malformed lines

BAD_NDB_LINES = [
    ("bad hex", "Bad.Hex:0:*:4142zz4344"),
    ("odd length", "Bad.Odd:0:*:41424"),
    ("unknown offset keyword", "Bad.Offset:0:XYZ+3:41424344"),
    ("too few fields", "Bad.Few:0:*"),
    ("non-numeric target", "Bad.Target:x:*:41424344"),
    ("negative offset", "Bad.NegOff:0:-5:41424344"),
    ("empty pattern", "Bad.Empty:0:*:"),
    ("unbalanced brace", "Bad.Brace:0:*:4142{3-4344"),
    ("bad range", "Bad.Range:0:*:4142{9-3}4344"),
    ("unbalanced paren", "Bad.Paren:0:*:41(42|43"),
    ("binary garbage", "\xff\xfe\x00\x01garbage\x7f\x80:0:*:41424344"),
    ("NUL first", "\x00Bad.Nul:0:*:41424344"),
    ("100 KB line", "Bad.Long:0:*:" + "Z" * (100 * 1024)),
]


def test_malformed_ndb_lines(run_scan, tmp_path):
    """Each bad line is warned about with its line number; every good line
    in between still loads and matches."""
    lines, good, bad_lineno = [], {}, {}
    for i, (what, bad) in enumerate(BAD_NDB_LINES):
        name = "Good.Ndb.%d" % i
        lines.append("%s:0:*:%s" % (name, marker(i).hex()))
        good[name] = marker(i)
        lines.append(bad)
        bad_lineno[len(lines)] = what
    name = "Good.Ndb.Last"
    lines.append("%s:0:*:%s" % (name, marker(999).hex()))
    good[name] = marker(999)
    data = "\n".join(lines) + "\n"
    db = db_with(tmp_path, {"mixed.ndb": data.encode("latin-1")})
    sample = write(tmp_path / "sample.bin", b"--".join(good.values()))
    res = run_scan(sample, db=db)
    assert_sane(res)
    assert res.rc == 1
    assert res.found == {str(sample): set(good)}
    warned = warned_lines(res.stderr, "mixed.ndb")
    missing = {n: w for n, w in bad_lineno.items() if n not in warned}
    assert not missing, "bad lines not reported as mixed.ndb:LINE: %r" % missing
    # Only bad lines are warned about.
    assert warned <= set(bad_lineno)
    assert re.search(r"^portcullis-scan: info: sigdb: ndb loaded=%d unsupported=0 bad=%d\b"
                     % (len(good), len(bad_lineno)), res.stderr, re.M)


BAD_HASH_LINES = {
    "hdb": [
        ("bad hash length", "abcd:68:Bad.Len"),
        ("non-hex hash", "zz" * 16 + ":68:Bad.Hex"),
        ("non-numeric size", "%s:6x8:Bad.Size"),
        ("too few fields", "%s:68"),
        ("sha256 in hdb with a bad length", "a" * 63 + ":68:Bad.Len63"),
    ],
    "hsb": [
        ("bad hash length", "abcdef:68:Bad.Len"),
        ("non-numeric size", "%s:abc:Bad.Size"),
        ("missing name", "%s:68:"),
        ("binary garbage", "\x00\xff\x01:\x02:\x03"),
    ],
}


@pytest.mark.parametrize("ext", ["hdb", "hsb"])
def test_malformed_hash_lines(run_scan, tmp_path, ext):
    samples = {}
    lines, bad_lineno = [], {}
    for i, (what, bad) in enumerate(BAD_HASH_LINES[ext]):
        content = b"good hash sample %d\n" % i
        h = hashlib.md5(content) if ext == "hdb" else hashlib.sha256(content)
        name = "Good.%s.%d" % (ext, i)
        lines.append("%s:%d:%s" % (h.hexdigest(), len(content), name))
        samples[name] = content
        lines.append(bad.replace("%s", h.hexdigest()) if "%s" in bad else bad)
        bad_lineno[len(lines)] = what
    db = db_with(tmp_path, {"h.%s" % ext: ("\n".join(lines) + "\n").encode("latin-1")})
    files = {name: write(tmp_path / ("%s.bin" % name), c) for name, c in samples.items()}
    res = run_scan(*files.values(), db=db)
    assert_sane(res)
    assert res.rc == 1
    assert res.found == {str(f): {n} for n, f in files.items()}
    warned = warned_lines(res.stderr, "h.%s" % ext)
    missing = {n: w for n, w in bad_lineno.items() if n not in warned}
    assert not missing, "bad lines not reported: %r" % missing


def test_empty_and_comment_files(run_scan, tmp_path):
    db = db_with(tmp_path, {"empty.ndb": "", "empty.hdb": "", "blank.hsb": "\n\n",
                            "ok.ndb": "Good.One:0:*:%s\n" % marker(1).hex()})
    f = write(tmp_path / "s.bin", b"xx" + marker(1))
    res = run_scan(f, db=db)
    assert_sane(res)
    assert res.rc == 1
    assert res.found == {str(f): {"Good.One"}}
    assert res.count("Known signatures") == 1


def test_crlf_signature_file(run_scan, tmp_path):
    db = db_with(tmp_path, {"crlf.ndb": "Crlf.One:0:*:%s\r\nCrlf.Two:0:*:%s\r\n" % (
        marker(1).hex(), marker(2).hex())})
    f = write(tmp_path / "s.bin", marker(2))
    res = run_scan(f, db=db)
    assert res.rc == 1 and res.found == {str(f): {"Crlf.Two"}}


def test_unknown_extension_skipped(run_scan, tmp_path):
    db = db_with(tmp_path, {"README": "not signatures\n", "notes.txt": "x:y:z\n",
                            "ok.ndb": "Good.One:0:*:%s\n" % marker(1).hex()})
    f = write(tmp_path / "s.bin", marker(1))
    res = run_scan(f, db=db)
    assert res.rc == 1 and res.found == {str(f): {"Good.One"}}
    assert res.count("Known signatures") == 1


# ------------------------------------------------------------------ unsupported types

UNSUPPORTED = {
    "x.ldb": "Lsig.One;Engine:51-255,Target:1;0&1;41424344;45464748\n"
             "Lsig.Two;Target:0;0;41424344\nLsig.Three;Target:0;0;4142\n",
    "x.cbc": "ClamBCafhm`lhnf|afefdfggifnf```aa```|biacflfafmfbfcfdf`"
             "cfgfefdf`jd`dabbe`dbcg`aa`cdaaed```b`ahah`bb`b`\n",
    "x.mdb": "237568:ce914ce1e0f3c1a3a5a0e5e4c3e3c3a1:Mdb.One\n"
             "4096:00112233445566778899aabbccddeeff:Mdb.Two\n",
}


def test_unsupported_types_counted(run_scan, tmp_path):
    files = dict(UNSUPPORTED)
    files["ok.ndb"] = "Good.One:0:*:%s\n" % marker(1).hex()
    db = db_with(tmp_path, files)
    f = write(tmp_path / "s.bin", marker(1))
    res = run_scan(f, db=db)
    assert_sane(res)
    assert res.rc == 1 and res.found == {str(f): {"Good.One"}}
    stats = [l for l in res.stderr.splitlines() if "sigdb" in l]
    assert stats, "no sigdb stats lines in the log"
    text = "\n".join(stats)
    # Each unsupported type appears in the stats with its count.
    for ext, n in (("ldb", 3), ("cbc", 1), ("mdb", 2)):
        assert re.search(r"^portcullis-scan: info: sigdb: %s\b[^\n]*\bunsupported=%d\b"
                         % (ext, n), text, re.M), \
            "%s (%d signatures) not counted in: %s" % (ext, n, text)
    # They are not counted as known signatures.
    assert res.count("Known signatures") == 1


# ------------------------------------------------------------------ hash signatures

def test_sha256_list(run_scan, tmp_path):
    blocked = b"this exact file is blocked by the provider\n"
    other = b"this exact file is blocked by the provider!\n"
    h = hashlib.sha256(blocked).hexdigest()
    db = db_with(tmp_path, {"block.sha256": "%s Blocked.File\n" % h})
    a = write(tmp_path / "blocked.bin", blocked)
    b = write(tmp_path / "other.bin", other)
    res = run_scan(a, b, db=db)
    assert_sane(res)
    assert res.rc == 1
    assert res.found == {str(a): {"Blocked.File"}}
    assert res.ok == {str(b)}


def test_md5_size_must_match(run_scan, tmp_path):
    data = b"md5 target content\n" * 7
    md5 = hashlib.md5(data).hexdigest()
    db = db_with(tmp_path, {"s.hdb": "%s:%d:Md5.Right\n%s:%d:Md5.WrongSize\n" % (
        md5, len(data), md5, len(data) + 1)})
    f = write(tmp_path / "t.bin", data)
    g = write(tmp_path / "u.bin", data + b"x")
    res = run_scan(f, g, db=db)
    assert_sane(res)
    assert res.found == {str(f): {"Md5.Right"}}
    assert res.ok == {str(g)}


def test_hsb_any_size(run_scan, tmp_path):
    """`*` as the size (ClamAV writes a minimum engine level after the name
    then; both forms are accepted)."""
    data = b"sha256 any-size content\n"
    data2 = b"other any-size content, longer\n"
    h = hashlib.sha256(data).hexdigest()
    h2 = hashlib.sha256(data2).hexdigest()
    h3 = hashlib.sha1(b"sha1 content").hexdigest()
    db = db_with(tmp_path, {"s.hsb": "%s:*:Sha256.AnySize:73\n%s:*:Other.AnySize\n"
                                     "%s:12:Sha1.Exact\n" % (h, h2, h3)})
    f = write(tmp_path / "t.bin", data)
    f2 = write(tmp_path / "t2.bin", data2)
    g = write(tmp_path / "sha1.bin", b"sha1 content")
    n = write(tmp_path / "n.bin", data + b"\n")
    res = run_scan(f, f2, g, n, db=db)
    assert_sane(res)
    assert res.found == {str(f): {"Sha256.AnySize"}, str(f2): {"Other.AnySize"},
                         str(g): {"Sha1.Exact"}}
    assert res.ok == {str(n)}


def test_hash_inside_archive(run_scan, tmp_path):
    """Hashes apply to every node: a member of a zip, and the zip itself."""
    from samples_build import zip_bytes
    data = b"member content for hashing\n"
    z = zip_bytes([("m.txt", data)])
    db = db_with(tmp_path, {"s.hdb": "%s:%d:Member.Md5\n%s:%d:Zip.Md5\n" % (
        hashlib.md5(data).hexdigest(), len(data), hashlib.md5(z).hexdigest(), len(z))})
    f = write(tmp_path / "a.zip", z)
    res = run_scan(f, db=db)
    assert_sane(res)
    assert res.found == {str(f): {"Zip.Md5"}, "%s//m.txt" % f: {"Member.Md5"}}


def test_bundled_hsb_exact_eicar_only(run_scan, tmp_path):
    """The bundled SHA-256 matches only the exact 68-byte EICAR file; with
    a trailing newline only the body signature matches."""
    a = write(tmp_path / "exact.com", eicar())
    b = write(tmp_path / "nl.com", eicar() + b"\n")
    res = run_scan(a, b)
    assert_sane(res)
    assert res.found == {str(a): EICAR_NAMES, str(b): {"Eicar-Test-Signature"}}


# ------------------------------------------------------------------ ndb offsets and wildcards

P = "deadbeefcafebabe"        # the anchor pattern used below
PB = bytes.fromhex(P)


def pad(n, byte=b"."):
    return byte * n


# name -> (ndb line body after "Name:0:", [(sample bytes, should match)])
NDB_CASES = {
    "Off.Exact": ("10:" + P, [(pad(10) + PB, True), (pad(9) + PB + pad(1), False),
                              (pad(11) + PB, False), (PB + pad(10), False)]),
    "Off.Zero": ("0:" + P, [(PB + pad(5), True), (pad(1) + PB, False)]),
    "Off.Range": ("10,5:" + P, [(pad(10) + PB, True), (pad(15) + PB, True),
                                (pad(12) + PB + pad(3), True), (pad(9) + PB, False),
                                (pad(16) + PB, False)]),
    "Off.Eof": ("EOF-8:" + P, [(pad(30) + PB, True), (pad(30) + PB + pad(1), False),
                               (PB + pad(30), False)]),
    "Off.EofRange": ("EOF-12,4:" + P, [(pad(5) + PB + pad(4), True),
                                       (pad(5) + PB, True), (pad(5) + PB + pad(5), False)]),
    "Off.Any": ("*:" + P, [(pad(1000) + PB + pad(1000), True), (PB[:-1], False)]),
    "Wild.QQ": ("*:dead??beef", [(bytes.fromhex("dead00beef"), True),
                                 (bytes.fromhex("deadffbeef"), True),
                                 (bytes.fromhex("deadbeef"), False),
                                 (bytes.fromhex("dead0000beef"), False)]),
    "Wild.NibbleLow": ("*:dead?fbeef", [(bytes.fromhex("dead0fbeef"), True),
                                        (bytes.fromhex("deadafbeef"), True),
                                        (bytes.fromhex("deadf0beef"), False)]),
    "Wild.NibbleHigh": ("*:deada?beef", [(bytes.fromhex("deada0beef"), True),
                                         (bytes.fromhex("deadafbeef"), True),
                                         (bytes.fromhex("dead0abeef"), False)]),
    "Wild.Star": ("*:dead*beef", [(bytes.fromhex("dead") + pad(500) + bytes.fromhex("beef"), True),
                                  (bytes.fromhex("deadbeef"), True),
                                  (bytes.fromhex("beef") + pad(5) + bytes.fromhex("dead"), False)]),
    "Wild.Gap": ("*:dead{3}beef", [(bytes.fromhex("dead") + pad(3) + bytes.fromhex("beef"), True),
                                   (bytes.fromhex("dead") + pad(2) + bytes.fromhex("beef"), False),
                                   (bytes.fromhex("dead") + pad(4) + bytes.fromhex("beef"), False)]),
    "Wild.GapRange": ("*:dead{2-4}beef", [
        (bytes.fromhex("dead") + pad(2) + bytes.fromhex("beef"), True),
        (bytes.fromhex("dead") + pad(4) + bytes.fromhex("beef"), True),
        (bytes.fromhex("dead") + pad(1) + bytes.fromhex("beef"), False),
        (bytes.fromhex("dead") + pad(5) + bytes.fromhex("beef"), False)]),
    "Wild.GapMax": ("*:dead{-2}beef", [
        (bytes.fromhex("deadbeef"), True),
        (bytes.fromhex("dead") + pad(2) + bytes.fromhex("beef"), True),
        (bytes.fromhex("dead") + pad(3) + bytes.fromhex("beef"), False)]),
    "Wild.GapMin": ("*:dead{3-}beef", [
        (bytes.fromhex("dead") + pad(3) + bytes.fromhex("beef"), True),
        (bytes.fromhex("dead") + pad(300) + bytes.fromhex("beef"), True),
        (bytes.fromhex("dead") + pad(2) + bytes.fromhex("beef"), False)]),
    "Wild.Alt": ("*:dead(01|0203)beef", [
        (bytes.fromhex("dead01beef"), True),
        (bytes.fromhex("dead0203beef"), True),
        (bytes.fromhex("dead02beef"), False),
        (bytes.fromhex("dead0103beef"), False)]),
}


@pytest.fixture(scope="module")
def ndb_case_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("ndbcases")
    (d / "cases.ndb").write_text(
        "".join("%s:0:%s\n" % (n, body) for n, (body, _) in NDB_CASES.items()))
    return d


def test_ndb_offsets_and_wildcards(run_scan, tmp_path, ndb_case_db):
    expected, files = {}, []
    for name, (_, samples) in NDB_CASES.items():
        for i, (data, match) in enumerate(samples):
            f = write(tmp_path / ("%s-%d-%s.bin" % (name, i, "pos" if match else "neg")), data)
            files.append(f)
            if match:
                expected[str(f)] = name
    res = run_scan(*files, db=ndb_case_db)
    assert_sane(res)
    assert not warned_lines(res.stderr, "cases.ndb"), "a valid test signature was rejected"
    assert res.count("Known signatures") == len(NDB_CASES)
    wrong = []
    for f in files:
        got = res.found.get(str(f), set())
        want = {expected[str(f)]} if str(f) in expected else set()
        # Other case signatures may legitimately match too (e.g. Off.Any on
        # an exact-offset sample); only the case's own name is judged.
        own = f.name.split("-")[0]
        if (own in got) != (own in want):
            wrong.append("%s: expected %s, got %s" % (f.name, sorted(want), sorted(got)))
    assert not wrong, "\n".join(wrong)


def test_ndb_target_type(run_scan, tmp_path):
    """Target 1 (PE) matches a PE file but not the same bytes in a text file."""
    from samples_build import clam_exe
    db = db_with(tmp_path, {"t.ndb": "Target.Pe:1:*:%s\nTarget.Any:0:*:%s\n" % (
        "50ff66700e1fbe3100e9e5ff", "50ff66700e1fbe3100e9e5ff")})
    pe = write(tmp_path / "clam.exe", clam_exe())
    txt = write(tmp_path / "t.txt", b"text " + bytes.fromhex("50ff66700e1fbe3100e9e5ff") + b"\n")
    res = run_scan(pe, txt, db=db)
    assert_sane(res)
    assert res.found == {str(pe): {"Target.Pe", "Target.Any"}, str(txt): {"Target.Any"}}


def test_ndb_match_across_chunk_boundary(run_scan, tmp_path):
    """Streaming: a pattern straddling any read boundary still matches."""
    db = db_with(tmp_path, {"b.ndb": "Boundary.Hit:0:*:%s\n" % marker(7).hex()})
    files = []
    for k in (12, 14, 16, 17, 20):
        at = (1 << k) - 8
        files.append(write(tmp_path / ("b%d.bin" % k), pad(at, b"\0") + marker(7) + pad(64, b"\0")))
    res = run_scan(*files, db=db)
    assert_sane(res)
    assert res.found == {str(f): {"Boundary.Hit"} for f in files}


def test_warning_format(run_scan, tmp_path):
    db = db_with(tmp_path, {"w.ndb": "Good.A:0:*:%s\nBroken\n" % marker(3).hex()})
    f = write(tmp_path / "x.bin", marker(3))
    res = run_scan(f, db=db)
    assert res.rc == 1
    assert warn_re("w.ndb", 2).search(res.stderr)
    assert os.path.basename(str(db)) in res.stderr or "w.ndb" in res.stderr
