"""Containers: the clamav-testfiles acceptance table and generated archives.

Acceptance: the bundled test signature set finds clam.exe inside every
container in /usr/share/clamav-testfiles that libarchive and the mail walker
can read; TESTFILE_TABLE lists every file there, and for the ones we cannot
read, why. The table is asserted exactly both ways: a file listed as
unreachable that starts being found means the table must be updated.
"""

import zipfile

import pytest

from conftest import Runner, assert_sane
from samples_build import (CLAM_BODY, CLAM_MD5, CLAM_NAMES, EICAR_NAMES, GIF_1X1, PNG_1X1,
                           bz2_bytes, clam_exe, eicar, gz_bytes, mail_with_attachment,
                           tar_bytes, write, xz_bytes, zip_bytes)

# How each test file is expected to come out of a scan with the bundled
# signatures and default limits.
#   UNPACKED  clam.exe is reached inside the container: a hit strictly inside
#             the file's path carries the MD5 name, which only the whole
#             544-byte clam.exe can match.
#   RAW       clam.exe's bytes lie uncompressed in the file, so the body
#             signature matches the file itself, but the container is not
#             unpacked (no MD5 hit). The reason says why not.
#   NOTHING   neither: the container cannot be read, nothing is found.
# For NOTHING/RAW files where the format IS known to libarchive but its
# content is not readable, `unscanned` is the UNSCANNED kind the scan must
# report instead of a silent OK.
UNPACKED, RAW, NOTHING = "unpacked", "raw", "nothing"


def U(inner="clam.exe"):
    return (UNPACKED, inner, None, "")


def R(reason, unscanned=None):
    return (RAW, None, unscanned, reason)


def N(reason, unscanned=None):
    return (NOTHING, None, unscanned, reason)


PACKED = "packed PE ({}): the packer is not undone, clam.exe's code is compressed/encrypted"

TESTFILE_TABLE = {
    "clam.exe": ("self", None, None, ""),
    "clam-aspack.exe": N(PACKED.format("ASPack")),
    "clam-fsg.exe": R(PACKED.format("FSG") + "; FSG leaves the signed code bytes intact"),
    "clam-mew.exe": N(PACKED.format("MEW")),
    "clam-nsis.exe": N("NSIS installer: its LZMA/zlib data block is not a libarchive format"),
    "clam-pespin.exe": N(PACKED.format("PESpin")),
    "clam-petite.exe": N(PACKED.format("Petite")),
    "clam-upack.exe": N(PACKED.format("Upack")),
    "clam-upx.exe": N(PACKED.format("UPX")),
    "clam-wwpack.exe": N(PACKED.format("WWPack32")),
    "clam-yc.exe": N(PACKED.format("yoda's Crypter over UPX")),
    "clam.7z": U(),
    "clam.arj": U(),
    "clam.bin-be.cpio": U(),
    "clam.bin-le.cpio": U(),
    "clam.bz2.zip": U(),
    "clam.cab": U(),
    "clam.chm": U("clam.exe.txt"),
    "clam.d64.zip": U(),
    "clam.ea05.exe": N("AutoIt EA05 compiled script inside a UPX-packed PE: not unpacked"),
    "clam.ea06.exe": N("AutoIt EA06 compiled script inside a UPX-packed PE: not unpacked"),
    "clam.exe.binhex": U(),
    "clam.exe.bz2": U(),
    "clam.exe.html": U("data1"),
    "clam.exe.mbox.base64": U(),
    "clam.exe.mbox.uu": U(),
    "clam.exe.rtf": U("Clam.exe"),
    "clam.exe.szdd": U("#1"),
    "clam.impl.zip": U("CLAM.EXE"),
    "clam.mail": U(),
    "clam.newc.cpio": U(),
    "clam.odc.cpio": U(),
    "clam.ole.doc": U("Clam.exe"),
    "clam.pdf": U("obj15"),
    "clam.ppt": U(),
    "clam.sis": U(),
    "clam.tar.gz": U(),
    "clam.tnef": U(),
    "clam.zip": U(),
    "clam_IScab_ext.exe": R("InstallShield setup: clam.exe lies uncompressed in the PE's "
                            "data; PEs are not handed to libarchive (the MS cabinet inside "
                            "holds only InstallShield's own DLLs anyway)"),
    "clam_IScab_int.exe": N("InstallShield setup: clam.exe is in InstallShield's own "
                            "compressed data, not in the MS cabinet libarchive could read"),
    "clam_ISmsi_ext.exe": N("InstallShield MSI setup: MSI (OLE2) is not parsed"),
    "clam_ISmsi_int.exe": N("InstallShield MSI setup: MSI (OLE2) is not parsed"),
    "clam_cache_emax.tgz": U(),
}


@pytest.fixture(scope="module")
def testfiles_scan(scan_bin, sigdir, tmp_path_factory):
    """One scan of every file in the testfiles directory, default limits."""
    from conftest import TESTFILES
    if not (TESTFILES / "clam.exe").is_file():
        pytest.skip("clamav-testfiles not installed")
    files = sorted(p for p in TESTFILES.iterdir() if p.is_file())
    r = Runner(scan_bin, sigdir, tmp_path_factory.mktemp("tf"))
    res = r(*files, timeout=120)
    return r, res, files


@pytest.fixture
def tf(request, testfiles_scan):
    r, res, files = testfiles_scan
    request.node._pc_runner = r
    return res, files


def classify(res, path):
    """What the scan did with one test file: UNPACKED, RAW or NOTHING."""
    p = str(path)
    inside = set()
    for hp, names in res.found.items():
        if hp.startswith(p + "//"):
            inside |= names
    top = res.found.get(p, set())
    if CLAM_MD5 in inside:
        return UNPACKED
    if top or inside:
        return RAW
    return NOTHING


def test_table_lists_every_testfile(testfiles):
    present = {p.name for p in testfiles.iterdir() if p.is_file()}
    assert sorted(present - set(TESTFILE_TABLE)) == [], "files missing from TESTFILE_TABLE"
    assert sorted(set(TESTFILE_TABLE) - present) == [], "table lists files not installed"


def test_testfiles_scan_sane(tf):
    res, files = tf
    assert_sane(res)
    assert res.rc == 1
    assert res.has_summary
    assert res.count("Scanned files") == len(files)
    expect_infected = sum(1 for f in files if TESTFILE_TABLE.get(f.name, (NOTHING,))[0] != NOTHING)
    assert res.count("Infected files") == expect_infected
    # Every file has a verdict line of its own (or hits inside it).
    for f in files:
        p = str(f)
        mentioned = (p in res.ok or any(h == p or h.startswith(p + "//") for h in res.found)
                     or any(u.path == p or u.path.startswith(p + "//") for u in res.unscanned)
                     or p in res.errors)
        assert mentioned, "no output line for %s" % p
    assert not res.errors, "no test file should give an ERROR"


@pytest.mark.parametrize("name", sorted(TESTFILE_TABLE))
def test_testfile(tf, name):
    res, files = tf
    path = next((f for f in files if f.name == name), None)
    if path is None:
        pytest.skip("%s not installed" % name)
    kind, inner, unscanned, reason = TESTFILE_TABLE[name]
    p = str(path)
    if kind == "self":
        assert res.found.get(p) == CLAM_NAMES
        return
    got = classify(res, path)
    assert got == kind, "%s: expected %s, scan says %s (%s)" % (
        name, kind, got, reason or "readable container")
    if kind == UNPACKED:
        assert CLAM_BODY in res.names_under(p)
        if inner is not None:
            want = p + "//" + inner
            # Archive members end in "//clam.exe", MIME parts in "/clam.exe"
            # ("clam.mail//2/clam.exe", see walk.h).
            hits = {h for h in res.found if h.endswith("/" + inner) and h.startswith(p + "//")}
            assert hits, "expected a hit at %s...//%s" % (p, inner)
            assert any(CLAM_MD5 in res.found[h] for h in hits), want
        # Reached and identified: nothing about this file is reported OK.
        assert p not in res.ok
    elif kind == RAW:
        assert res.found.get(p) == {CLAM_BODY}
        assert p not in res.ok
    else:
        assert not res.names_under(p)
        assert reason
    if unscanned:
        kinds = {u.kind for u in res.unscanned if u.path == p or u.path.startswith(p + "//")}
        assert unscanned in kinds, "%s must be reported %s UNSCANNED, not clean" % (
            name, unscanned)


def test_unreachable_listed(tf, capsys):
    """Lists every test file the scan cannot unpack, with the reason."""
    res, files = tf
    rows = []
    for f in files:
        kind, _, _, reason = TESTFILE_TABLE.get(f.name, (None, None, None, "NOT IN TABLE"))
        got = classify(res, f) if kind != "self" else "self"
        if got in (RAW, NOTHING):
            rows.append((f.name, got, reason))
    with capsys.disabled():
        print("\nclamav-testfiles not unpacked (%d):" % len(rows))
        for name, got, reason in rows:
            print("  %-22s %-8s %s" % (name, got, reason))
    assert all(reason and reason != "NOT IN TABLE" for _, _, reason in rows)
    # At least the archive formats libarchive reads must not be on this list.
    readable = {"clam.zip", "clam.7z", "clam.tar.gz", "clam.cab", "clam.mail"}
    assert readable.isdisjoint({n for n, _, _ in rows})


# ---------------------------------------------------------------- generated

def _members():
    return [("clam.exe", clam_exe()), ("docs/eicar.com", eicar()), ("readme.txt", b"hello\n")]


GENERATED = {
    "a.zip": lambda m: zip_bytes(m),
    "a-stored.zip": lambda m: zip_bytes(m, zipfile.ZIP_STORED),
    "a-bzip2.zip": lambda m: zip_bytes(m, zipfile.ZIP_BZIP2),
    "a-lzma.zip": lambda m: zip_bytes(m, zipfile.ZIP_LZMA),
    "a.tar": lambda m: tar_bytes(m),
    "a.tar.gz": lambda m: tar_bytes(m, "w:gz"),
    "a.tar.bz2": lambda m: tar_bytes(m, "w:bz2"),
    "a.tar.xz": lambda m: tar_bytes(m, "w:xz"),
}


@pytest.mark.parametrize("fname", sorted(GENERATED))
def test_generated_archive(run_scan, tmp_path, fname):
    f = write(tmp_path / fname, GENERATED[fname](_members()))
    res = run_scan(f)
    assert_sane(res)
    assert res.rc == 1
    # A tar in a compressed stream is a node of its own: a.tar.gz//a.tar.
    base = "%s//a.tar" % f if fname.startswith("a.tar.") else str(f)
    assert res.found.get("%s//clam.exe" % base) == CLAM_NAMES
    assert res.found.get("%s//docs/eicar.com" % base) == EICAR_NAMES
    if fname in ("a.tar", "a-stored.zip") or base != str(f):
        # clam.exe lies uncompressed in the container: its own bytes match too.
        assert res.found.get(base) == {CLAM_BODY}
        assert len(res.found) == 3
    else:
        assert len(res.found) == 2
    # The clean member produces no hit, and no member is unscanned.
    assert not any(h.endswith("readme.txt") for h in res.found)
    assert not res.unscanned
    assert res.count("Infected files") == 1
    assert res.count("Scanned files") == 1


@pytest.mark.parametrize("fname,packer", [("clam.exe.gz", gz_bytes), ("clam.exe.bz2", bz2_bytes),
                                          ("clam.exe.xz", xz_bytes)])
def test_single_stream_compressed(run_scan, tmp_path, fname, packer):
    f = write(tmp_path / fname, packer(clam_exe()))
    res = run_scan(f)
    assert_sane(res)
    assert res.rc == 1
    # The compressed bytes match nothing; the MD5 proves it was decompressed.
    # The one member is named after the container without its suffix.
    assert res.found == {"%s//clam.exe" % f: CLAM_NAMES}


def test_nested_zip_tgz_zip(run_scan, tmp_path):
    inner = zip_bytes([("clam.exe", clam_exe()), ("eicar.com", eicar())])
    mid = tar_bytes([("inner.zip", inner), ("clean.txt", b"x" * 100)], "w:gz")
    outer = zip_bytes([("mid.tar.gz", mid)])
    f = write(tmp_path / "outer.zip", outer)
    res = run_scan(f)
    assert_sane(res)
    assert res.rc == 1
    assert res.found == {
        "%s//mid.tar.gz//mid.tar//inner.zip//clam.exe" % f: CLAM_NAMES,
        "%s//mid.tar.gz//mid.tar//inner.zip//eicar.com" % f: EICAR_NAMES,
    }
    assert res.count("Infected files") == 1


def test_mail_with_zip_attachment(run_scan, tmp_path):
    z = zip_bytes([("clam.exe", clam_exe())])
    f = write(tmp_path / "msg.eml", mail_with_attachment(z, "report.zip", ctype="application/zip"))
    res = run_scan(f)
    assert_sane(res)
    assert res.rc == 1
    # MIME part 2 (after the text part), by its declared name.
    assert res.found == {"%s//2/report.zip//clam.exe" % f: CLAM_NAMES}


def _uu(data, name):
    import binascii
    out = [b"begin 644 " + name.encode()]
    for i in range(0, len(data), 45):
        out.append(binascii.b2a_uu(data[i:i + 45]).rstrip(b"\n"))
    out += [b"`", b"end"]
    return b"\n".join(out) + b"\n"


def test_uuencoded_text_file(run_scan, tmp_path):
    f = write(tmp_path / "notes.txt", b"Some notes.\n\n" + _uu(clam_exe(), "clam.exe") +
              b"\nmore text\n" + _uu(eicar(), "eicar.com"))
    res = run_scan(f)
    assert_sane(res)
    assert res.rc == 1
    assert res.found == {"%s//uu1/clam.exe" % f: CLAM_NAMES,
                         "%s//uu2/eicar.com" % f: EICAR_NAMES}


def test_uuencoded_in_mail_text_part(run_scan, tmp_path):
    body = b"Hello,\n\n" + _uu(clam_exe(), "clam.exe") + b"\nbye\n"
    msg = (b"From: a@example.org\nTo: b@example.org\nSubject: uu\nMIME-Version: 1.0\n"
           b"Content-Type: text/plain\n\n" + body)
    f = write(tmp_path / "uu.eml", msg)
    res = run_scan(f)
    assert_sane(res)
    assert res.rc == 1
    assert CLAM_MD5 in res.names_under(f)
    (p,) = res.hit_paths(CLAM_MD5)
    assert p.startswith("%s//" % f) and p.endswith(".uu1/clam.exe"), p


def test_nested_message_rfc822(run_scan, tmp_path):
    inner = mail_with_attachment(clam_exe(), "clam.exe")
    outer = (b"From: a@example.org\nTo: b@example.org\nSubject: fwd\nMIME-Version: 1.0\n"
             b"Content-Type: multipart/mixed; boundary=X\n\n--X\nContent-Type: text/plain\n\n"
             b"forwarded\n--X\nContent-Type: message/rfc822\n\n" + inner + b"\n--X--\n")
    f = write(tmp_path / "fwd.eml", outer)
    res = run_scan(f)
    assert_sane(res)
    assert res.rc == 1
    assert res.names_under(f) == CLAM_NAMES


def test_clean_archives_ok(run_scan, tmp_path):
    """A corpus of clean containers: all OK, rc 0 (fails a scanner that finds everything)."""
    clean = [("a.txt", b"hello world\n" * 100), ("b.bin", bytes(range(256)) * 10),
             ("img.png", PNG_1X1)]
    files = [
        write(tmp_path / "c.zip", zip_bytes(clean)),
        write(tmp_path / "c.tar.gz", tar_bytes(clean, "w:gz")),
        write(tmp_path / "c.tar.xz", tar_bytes(clean, "w:xz")),
        write(tmp_path / "c.txt.gz", gz_bytes(b"clean\n" * 1000)),
        write(tmp_path / "c.eml", mail_with_attachment(b"%PDF-1.4 not really\n", "x.pdf")),
        write(tmp_path / "c.gif", GIF_1X1),
        # EICAR not at offset 0 and not the exact file: must not match.
        write(tmp_path / "eicar-offset.txt", b"prefix " + eicar()),
        # clam.exe with its signed region broken: neither signature matches.
        write(tmp_path / "clam-broken.exe", clam_exe().replace(bytes.fromhex("0466ac79"),
                                                               bytes.fromhex("0466ac7a"))),
    ]
    res = run_scan(*files)
    assert_sane(res)
    assert res.rc == 0
    assert res.found == {}
    assert res.ok == {str(f) for f in files}
    assert res.count("Scanned files") == len(files)
    assert res.count("Infected files") == 0


# ---------------------------------------------------------------- safe types

def test_skip_safe_does_not_skip_disguised(run_scan, tmp_path):
    files = {
        "eicar": write(tmp_path / "eicar.txt", eicar()),
        "clam_gif": write(tmp_path / "clam.gif", clam_exe()),
        "clam_png": write(tmp_path / "clam.png", clam_exe()),
    }
    for args in ((), ("--skip-safe",)):
        res = run_scan(*args, *files.values())
        assert_sane(res)
        assert res.rc == 1
        assert res.found.get(str(files["eicar"])) == EICAR_NAMES, args
        assert res.found.get(str(files["clam_gif"])) == CLAM_NAMES, args
        assert res.found.get(str(files["clam_png"])) == CLAM_NAMES, args


def test_skip_safe_skips_real_image(run_scan, tmp_path):
    """A real GIF with clam.exe appended: the body signature (offset *) matches
    it, so only the safe-type gate can make it come out clean."""
    gif = write(tmp_path / "pic.gif", GIF_1X1 + clam_exe())
    png = write(tmp_path / "pic.png", PNG_1X1 + clam_exe())
    # Same content, unsafe name: scanned even with --skip-safe.
    gif_exe = write(tmp_path / "pic.exe", GIF_1X1 + clam_exe())
    # A safe name on content that is not an image: scanned.
    txt_gif = write(tmp_path / "text.gif", b"just text " + clam_exe())

    res = run_scan(gif, png, gif_exe, txt_gif)
    assert_sane(res)
    assert res.rc == 1
    for f in (gif, png, gif_exe, txt_gif):
        assert res.found.get(str(f)) == {CLAM_BODY}, f

    res = run_scan("--skip-safe", gif, png, gif_exe, txt_gif)
    assert_sane(res)
    assert res.rc == 1
    assert str(gif) not in res.found
    assert str(png) not in res.found
    assert res.found.get(str(gif_exe)) == {CLAM_BODY}
    assert res.found.get(str(txt_gif)) == {CLAM_BODY}


def test_skip_safe_inside_zip(run_scan, tmp_path):
    # Deflated, so the zip's own bytes do not hold the pattern.
    z = write(tmp_path / "pics.zip", zip_bytes([("pic.gif", GIF_1X1 + clam_exe()),
                                                ("pic.exe", GIF_1X1 + clam_exe())]))
    res = run_scan(z)
    assert res.hit_paths() == {"%s//pic.gif" % z, "%s//pic.exe" % z}
    res = run_scan("--skip-safe", z)
    assert_sane(res)
    assert res.hit_paths() == {"%s//pic.exe" % z}


def test_skip_safe_from_config(run_scan, tmp_path):
    gif = write(tmp_path / "pic.gif", GIF_1X1 + clam_exe())
    res = run_scan(gif, config={"skip_safe_types": "yes"})
    assert_sane(res)
    assert res.rc == 0 and str(gif) in res.ok
    # The lists come from the config: with gif removed it is scanned again.
    res = run_scan(gif, config={"skip_safe_types": "yes", "safe_extensions": "png jpg"})
    assert res.found.get(str(gif)) == {CLAM_BODY}
