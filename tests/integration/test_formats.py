"""The formats of src/scan/ex_*.c: TNEF, CHM, SZDD, KWAJ, OLE2, SIS.

For each: EICAR inside a sample built in the test is found at its path
inside the container, a clean sample is OK, and a damaged one is reported
CORRUPT (never OK) without a crash, in the normal and the sanitizer build.
Then the clamav-testfiles these formats make reachable, a decompression
bomb in each decoder that inflates, and libytnef's stdout chatter kept out
of portcullis-scan's parsed output.
"""

import struct
import zlib

import pytest

from conftest import assert_sane
from samples_build import CLAM_MD5, EICAR_BODY, EICAR_NAMES, eicar
from samples_formats import (chm_bytes, kwaj_bytes, ole2_bytes, sis_bytes, szdd_bytes,
                             tnef_bytes)

CLEAN = b"Nothing to see here: a plain, harmless payload.\n" * 4


def _chm(tmp_path, data):
    b = chm_bytes(tmp_path, "page.htm", data)
    if b is None:
        pytest.skip("chmcmd (Free Pascal's CHM compiler) not installed")
    return b


# name -> (file name, builder(tmp_path, payload), path of the payload inside, names)
FORMATS = {
    "tnef": ("winmail.dat", lambda t, d: tnef_bytes([("eicar.com", d)]), "eicar.com",
             EICAR_NAMES),
    "chm": ("help.chm", _chm, "page.htm", EICAR_NAMES),
    "szdd": ("eicar.co_", lambda t, d: szdd_bytes(d), "#1", EICAR_NAMES),
    "kwaj-lzss": ("eicar.kwj", lambda t, d: kwaj_bytes(d, method=2), "eicar.com", EICAR_NAMES),
    "kwaj-xor": ("eicar.kwj", lambda t, d: kwaj_bytes(d, method=1), "eicar.com", EICAR_NAMES),
    "kwaj-stored": ("eicar.kwj", lambda t, d: kwaj_bytes(d, method=0), "eicar.com",
                    EICAR_NAMES),
    "sis": ("app.sis", lambda t, d: sis_bytes(d), "eicar.com", EICAR_NAMES),
    # The stream is padded to 4096 bytes: the body signature, not the hash.
    "ole2": ("macro.doc", lambda t, d: ole2_bytes(d), "Macros/Module1", {EICAR_BODY}),
}


def _build(tmp_path, fmt, data):
    name, build, inner, names = FORMATS[fmt]
    p = tmp_path / name
    p.write_bytes(build(tmp_path, data))
    return p, inner, names


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_infected_and_clean(run_scan_both, tmp_path, fmt):
    """EICAR inside is found at its path; the same container with a clean
    payload is OK (opened, not refused as damaged)."""
    p, inner, names = _build(tmp_path, fmt, eicar())
    res = run_scan_both(p)
    assert_sane(res)
    assert res.rc == 1
    assert res.found.get("%s//%s" % (p, inner)) == names, res.found
    assert not res.unscanned
    (tmp_path / "clean").mkdir()
    p, _, _ = _build(tmp_path / "clean", fmt, CLEAN)
    res = run_scan_both(p)
    assert_sane(res)
    assert res.rc == 0 and str(p) in res.ok, res.stdout


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_damaged(run_scan_both, tmp_path, fmt):
    """Cut in the middle of its data: reported CORRUPT, not OK, no crash."""
    p, _, _ = _build(tmp_path, fmt, eicar() + CLEAN * 4)
    b = p.read_bytes()
    cut = {"ole2": 1024 + 100}.get(fmt, len(b) // 2)
    p.write_bytes(b[:cut])
    res = run_scan_both(p)
    assert_sane(res)
    assert str(p) not in res.ok, res.stdout
    assert "CORRUPT" in res.kinds(), res.stdout


@pytest.mark.parametrize("name,inner", [
    ("clam.chm", "clam.exe.txt"),
    ("clam.exe.szdd", "#1"),
    ("clam.tnef", "clam.exe"),
    ("clam.sis", "clam.exe"),
    ("clam.ppt", "PowerPoint Document/#1//?Ole10Native/clam.exe"),
    ("clam.ole.doc", "ObjectPool/_1279313719/?Ole10Native/Clam.exe"),
])
def test_testfile_unpacked(run_scan_both, testfiles, name, inner):
    """clam.exe itself (its MD5) is reached inside each of these, at the
    path its container gives it (the walker shows the \\1 of "\\1Ole10Native"
    as "?")."""
    res = run_scan_both(testfiles / name)
    assert_sane(res)
    assert res.rc == 1
    inside = {h for h, names in res.found.items()
              if h.startswith(str(testfiles / name) + "//") and CLAM_MD5 in names}
    assert any(h.endswith("/" + inner) for h in inside), res.stdout
    assert not res.unscanned, res.stdout


def test_tnef_library_chatter_off_stdout(run_scan, tmp_path):
    """libytnef prints to stdout about damage it meets (here MAPI
    properties counting over its own limit of 1000): portcullis-scan's
    output keeps its own format, and the damage is reported."""
    mapi = struct.pack("<I", 5000) + b"\0" * 16
    attr = struct.pack("<BII", 1, 0x00069003, len(mapi)) + mapi + struct.pack(
        "<H", sum(mapi) & 0xffff)
    p = tmp_path / "winmail.dat"
    p.write_bytes(tnef_bytes([("a.txt", b"hello")]) + attr)
    res = run_scan(p)
    assert_sane(res)
    assert "CORRUPT" in res.kinds(), res.stdout
    assert "ERROR" not in res.stdout.replace("ERROR (", ""), res.stdout


def _sis_bomb():
    """A SIS file whose one file inflates to 64 MiB of zeros."""
    big = zlib.compress(b"\0" * (64 << 20), 9)
    s = bytearray(sis_bytes(b"x"))
    # The record's compressed length, pointer and original length (release 6).
    rec = 102
    ptr = struct.unpack_from("<I", s, rec + 32)[0]
    struct.pack_into("<I", s, rec + 28, len(big))
    struct.pack_into("<I", s, rec + 36, 64 << 20)
    return bytes(s[:ptr]) + big


def test_sis_bomb_limit(run_scan, tmp_path):
    p = tmp_path / "bomb.sis"
    p.write_bytes(_sis_bomb())
    res = run_scan(p, config={"max_file_size": "1M", "max_ratio": 1000000})
    assert_sane(res)
    assert res.rc == 2 and res.limits() == {"max_file_size"}, res.stdout


def test_sis_bomb_ratio(run_scan, tmp_path):
    p = tmp_path / "bomb.sis"
    p.write_bytes(_sis_bomb())
    res = run_scan(p, config={"max_ratio": 100})
    assert_sane(res)
    assert res.rc == 2 and "max_ratio" in res.limits(), res.stdout


def test_ole2_ppt_object_bomb(run_scan, tmp_path):
    """A PowerPoint stream whose embedded object inflates to 16 MiB (the
    sample's one FAT sector holds 126 sectors of stream: 16 KiB packed)."""
    z = zlib.compress(b"\0" * (16 << 20), 9)
    rec = struct.pack("<HHI", 0x10, 0x1011, 4 + len(z)) + struct.pack("<I", 16 << 20) + z
    p = tmp_path / "bomb.ppt"
    p.write_bytes(ole2_bytes(rec, storage="Slides", stream="PowerPoint Document"))
    res = run_scan(p, config={"max_file_size": "1M"})
    assert_sane(res)
    assert res.rc == 2 and res.limits() == {"max_file_size"}, res.stdout


@pytest.mark.parametrize("cut", [9, 14, 20])
def test_kwaj_header_cut(run_scan_both, tmp_path, cut):
    """A KWAJ header cut short: libmspack 0.11 frees two header pointers it
    has not set yet (ex_mspack.c zeroes its allocations for that)."""
    p = tmp_path / "cut.kwj"
    p.write_bytes(kwaj_bytes(eicar(), method=2)[:cut])
    res = run_scan_both(p)
    assert_sane(res)
    assert "CORRUPT" in res.kinds(), res.stdout
