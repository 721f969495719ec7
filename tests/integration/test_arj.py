"""ARJ archives, read by our own reader (src/scan/arj.c; libarchive has
none): ClamAV's clam.arj, archives made here with the `arj` tool (methods
0, 1 and 4, EICAR inside and clean ones, several members over more than
one window), and damaged ones (no crash, a verdict that is not clean).
"""

import random
import shutil
import struct
import subprocess

import pytest

from conftest import assert_sane
from samples_build import CLAM_NAMES, EICAR_NAMES, eicar

CLEAN = b"Quarterly report: nothing to see here.\n" * 40
# EICAR as a file may end in white space; padded so that arj packs it.
EICAR_PADDED = eicar() + b"\r\n" * 400

ARJ = shutil.which("arj")
need_arj = pytest.mark.skipif(ARJ is None, reason="the arj tool is not installed (scripts/deps.sh)")


def make_arj(tmp_path, name, method, members):
    """An archive name made by arj with -m<method> from (file name, bytes) members."""
    d = tmp_path / ("src-" + name)
    d.mkdir()
    for fname, data in members:
        (d / fname).write_bytes(data)
    out = tmp_path / name
    subprocess.run([ARJ, "a", "-y", "-m%d" % method, str(out)] + [f for f, _ in members],
                   cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def first_member_method(data):
    """The method byte of the archive's first local header."""
    hsize = struct.unpack_from("<H", data, 2)[0]
    pos = 4 + hsize + 4
    while struct.unpack_from("<H", data, pos)[0]:
        pos += 2 + struct.unpack_from("<H", data, pos)[0] + 4
    pos += 2
    assert data[pos:pos + 2] == b"\x60\xea"
    return data[pos + 4 + 5]


def test_clamav_testfile(run_scan_both, testfiles):
    f = testfiles / "clam.arj"
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 1 and not res.unscanned, res.stdout
    assert res.found.get("%s//clam.exe" % f, set()) & CLAM_NAMES, res.stdout


@need_arj
@pytest.mark.parametrize("method", [0, 1, 4])
def test_eicar_and_clean(run_scan_both, tmp_path, method):
    payload = eicar() if method == 0 else EICAR_PADDED
    bad = make_arj(tmp_path, "bad%d.arj" % method, method, [("eicar.com", payload)])
    clean = make_arj(tmp_path, "clean%d.arj" % method, method, [("report.txt", CLEAN)])
    # The member really is packed with the method asked for.
    assert first_member_method(bad.read_bytes()) == method
    assert first_member_method(clean.read_bytes()) == method
    res = run_scan_both(bad, clean)
    assert_sane(res)
    assert res.rc == 1 and not res.unscanned, res.stdout
    assert res.found.get("%s//eicar.com" % bad, set()) & EICAR_NAMES, res.stdout
    assert str(clean) in res.ok and not res.names_under(clean), res.stdout


@need_arj
@pytest.mark.parametrize("method", [1, 4])
def test_many_members_many_windows(run_scan, tmp_path, testfiles, method):
    """Members larger than the 26 KiB window and several Huffman blocks."""
    rnd = random.Random(method).randbytes(150000)
    text = b"".join(b"line %d of the ledger\n" % i for i in range(20000))
    clam = (testfiles / "clam.exe").read_bytes()
    f = make_arj(tmp_path, "many%d.arj" % method, method,
                 [("noise.bin", rnd), ("ledger.txt", text), ("clam.exe", clam)])
    res = run_scan(f)
    assert_sane(res)
    assert res.rc == 1 and not res.unscanned, res.stdout
    assert res.found.get("%s//clam.exe" % f, set()) & CLAM_NAMES, res.stdout


@need_arj
def test_damaged_not_clean(run_scan_both, tmp_path):
    """Damaged archives are corrupt; a text file merely named .arj stays clean text."""
    good = make_arj(tmp_path, "good.arj", 1, [("report.txt", CLEAN)]).read_bytes()
    cases = {
        # the packed data cut in the middle
        "cut.arj": good[:len(good) - 30],
        # a byte of the packed data changed: bad data or a CRC mismatch
        "flipped.arj": good[:-20] + bytes([good[-20] ^ 0x55]) + good[-19:],
        # the local header's CRC wrong
        "badhdr.arj": bytearray(good),
    }
    hsize = struct.unpack_from("<H", good, 2)[0]
    local = 4 + hsize + 4 + 2
    cases["badhdr.arj"][local + 4 + 8] ^= 0xff  # in the time stamp
    files = []
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(bytes(data))
        files.append(p)
    notes = tmp_path / "notes.arj"
    notes.write_bytes(CLEAN)
    res = run_scan_both(notes, *files, timeout=30)
    assert_sane(res)
    assert not res.errors, res.stdout
    assert str(notes) in res.ok and not res.names_under(notes), res.stdout
    assert not any(u.path.startswith(str(notes)) for u in res.unscanned), res.stdout
    for p in files:
        assert str(p) not in res.ok, res.stdout
        assert any(u.path.startswith(str(p)) and u.kind == "CORRUPT" for u in res.unscanned), \
            (p, res.stdout)



@need_arj
@pytest.mark.parametrize("method,config", [(1, None), (4, {"max_file_size": "1M"})])
def test_bomb_is_a_limit(run_scan, tmp_path, method, config):
    """64 MiB of zeros packed small: cut at a limit, quickly, the limit noted.
    Method 1 packs them past scan.max_ratio; method 4 cannot (about 85:1),
    so it meets a smaller scan.max_file_size."""
    f = make_arj(tmp_path, "bomb%d.arj" % method, method, [("zeros.bin", bytes(64 << 20))])
    res = run_scan(f, config=config, timeout=30)
    assert_sane(res)
    assert res.rc == 2 and not res.names(), res.stdout
    assert res.limits() & {"max_ratio", "max_file_size"}, res.stdout
    assert res.elapsed < 10
