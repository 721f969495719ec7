"""Hostile input: bombs, deep nesting, too many files, path tricks, truncated
and encrypted archives, broken MIME, odd files. The scanner must finish in
bounded time and memory, never crash, never write outside its temp files,
and never call what it could not read clean.
"""

import binascii
import gzip
import os
import re
import shutil
import subprocess
import uuid
import zipfile
from pathlib import Path

import pytest

import gen_hostile as gh
from conftest import assert_sane
from samples_build import (CLAM_BODY, CLAM_MD5, CLAM_NAMES, EICAR_NAMES, TESTFILES, clam_exe,
                           eicar, tar_bytes, write, zip_bytes)

TIME = shutil.which("time", path="/usr/bin:/bin")
RSS_LIMIT_KB = 200 * 1024


def rss_kb(res):
    """Peak RSS from /usr/bin/time -v output in stderr, or None."""
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr)
    return int(m.group(1)) if m else None


def timed_wrapper():
    return [TIME, "-v"] if TIME else None


def check_rss(res):
    if "asan" in " ".join(map(str, res.cmd)):
        return  # the sanitizer build's shadow memory makes RSS meaningless
    if TIME is None:
        return  # /usr/bin/time not installed: only the RSS bound is skipped
    kb = rss_kb(res)
    assert kb is not None, "no RSS in /usr/bin/time output"
    assert kb < RSS_LIMIT_KB, "peak RSS %d KiB exceeds %d KiB" % (kb, RSS_LIMIT_KB)


# ------------------------------------------------------------------ bombs

@pytest.fixture(scope="module")
def bomb200(tmp_path_factory):
    d = tmp_path_factory.mktemp("bomb")
    return write(d / "bomb.zip", gh.zeros_zip(200 << 20))


def test_zip_bomb_default_limits(run_scan_both, bomb200):
    res = run_scan_both(bomb200, wrapper=timed_wrapper(), timeout=60)
    assert_sane(res)
    assert res.rc == 2
    assert res.limits() & {"max_ratio", "max_total_bytes", "max_file_size"}, res.limits()
    assert str(bomb200) not in res.ok
    assert res.count("Unscanned files") == 1
    check_rss(res)


def test_zip_bomb_ratio_limit(run_scan, bomb200):
    res = run_scan(bomb200, config={"max_ratio": 100, "max_file_size": "1G",
                                    "max_total_bytes": "1G"})
    assert_sane(res)
    assert res.rc == 2
    assert res.limits() == {"max_ratio"}
    u = [u for u in res.unscanned if u.limit == "max_ratio"][0]
    assert u.path == str(bomb200)
    assert "zeros.bin" in u.detail


def test_zip_bomb_total_bytes_limit(run_scan, bomb200):
    res = run_scan(bomb200, config={"max_ratio": 1000000, "max_file_size": "1G",
                                    "max_total_bytes": "16M"}, wrapper=timed_wrapper())
    assert_sane(res)
    assert res.rc == 2
    assert "max_total_bytes" in res.limits()
    check_rss(res)


def test_large_member_streams(run_scan, tmp_path):
    """With the limits relaxed, 200 MB of zeros followed by clam.exe is
    scanned to the end, in streaming memory."""
    f = write(tmp_path / "big.zip", gh.zeros_zip(200 << 20, tail=clam_exe()))
    res = run_scan(f, config={"max_ratio": 1000000, "max_file_size": "1G",
                              "max_total_bytes": "1G"}, wrapper=timed_wrapper())
    assert_sane(res)
    assert res.rc == 1
    assert res.found == {"%s//zeros.bin" % f: {CLAM_BODY}}
    assert not res.unscanned
    check_rss(res)


def test_nested_bomb_42(run_scan, tmp_path):
    """16**4 members of 10 MB zeros (655 GB) in a 20 KB file."""
    f = write(tmp_path / "42.zip", gh.nested_bomb(3, 16, 10 << 20))
    assert f.stat().st_size < 100 * 1024
    res = run_scan(f, wrapper=timed_wrapper(), timeout=60)
    assert_sane(res)
    assert res.rc == 2
    assert res.limits() & {"max_ratio", "max_total_bytes", "max_files", "max_scan_time"}
    assert res.elapsed < 60
    check_rss(res)


def test_nested_bomb_42_ratio_disabled(run_scan, tmp_path):
    f = write(tmp_path / "42.zip", gh.nested_bomb(3, 16, 10 << 20))
    res = run_scan(f, config={"max_ratio": 1000000}, wrapper=timed_wrapper(), timeout=60)
    assert_sane(res)
    assert res.rc == 2
    assert res.limits() & {"max_total_bytes", "max_files", "max_scan_time"}
    check_rss(res)


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz"])
def test_compressed_stream_bomb(run_scan_both, tmp_path, kind):
    """1 GiB of zeros in one compressed stream: a limit, never OK (tar's
    reader used to take the zeros for an empty archive and stop)."""
    f = write(tmp_path / ("zeros.bin." + kind), gh.zeros_stream(kind))
    res = run_scan_both(f, wrapper=timed_wrapper(), timeout=60)
    assert_sane(res)
    assert res.rc == 2
    assert res.limits() & {"max_ratio", "max_file_size"}, res.limits()
    assert str(f) not in res.ok
    check_rss(res)


@pytest.mark.parametrize("kind", ["gz", "bz2"])
def test_compressed_stream_bomb_size_limit(run_scan, tmp_path, kind):
    """The ratio limit out of reach: max_file_size stops the decompressed bytes."""
    f = write(tmp_path / ("zeros.bin." + kind), gh.zeros_stream(kind, 64))
    res = run_scan(f, config={"max_ratio": 1000000, "max_file_size": "16M"})
    assert_sane(res)
    assert res.rc == 2
    assert res.limits() == {"max_file_size"}


def test_tar_in_gzip_is_a_child(run_scan, tmp_path):
    """A tar inside a compressed stream is opened as a child of its own, and
    what follows the tar's end in the stream is scanned too."""
    t = tar_bytes([("readme.txt", b"hello\n"), ("e.com", eicar())])
    f = write(tmp_path / "x.tar.gz", gzip.compress(t + bytes(4096) + clam_exe(), mtime=0))
    res = run_scan(f)
    assert_sane(res)
    assert res.rc == 1
    assert res.found == {"%s//x.tar//e.com" % f: EICAR_NAMES, "%s//x.tar" % f: {CLAM_BODY}}


# ------------------------------------------------------------------ nesting / counts

@pytest.fixture(scope="module")
def deep40(tmp_path_factory):
    d = tmp_path_factory.mktemp("deep")
    data, inner = gh.deep_zip(40, "clam.exe", clam_exe())
    return write(d / "deep.zip", data), inner


def test_deep_nesting_limited(run_scan_both, deep40):
    f, inner = deep40
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 2
    assert res.limits() == {"max_depth"}
    assert res.found == {}
    assert str(f) not in res.ok


def test_deep_nesting_found_when_allowed(run_scan, deep40):
    f, inner = deep40
    res = run_scan(f, config={"max_depth": 64})
    assert_sane(res)
    assert res.rc == 1
    assert res.found == {"%s//%s" % (f, inner): CLAM_NAMES}
    assert not res.unscanned


@pytest.mark.parametrize("depth,limit,expect_found", [(3, 3, True), (4, 3, False)])
def test_depth_limit_boundary(run_scan, tmp_path, depth, limit, expect_found):
    """max_depth counts containers: clam.exe inside `depth` nested zips."""
    data, inner = gh.deep_zip(depth, "clam.exe", clam_exe())
    f = write(tmp_path / "d.zip", data)
    res = run_scan(f, config={"max_depth": limit})
    assert_sane(res)
    if expect_found:
        assert res.rc == 1 and res.found == {"%s//%s" % (f, inner): CLAM_NAMES}
    else:
        assert res.rc == 2 and res.limits() == {"max_depth"} and res.found == {}


def test_max_files(run_scan, tmp_path):
    f = write(tmp_path / "many.zip", gh.many_files_zip(60, first=("clam.exe", clam_exe())))
    res = run_scan(f, config={"max_files": 10})
    assert_sane(res)
    # clam.exe comes first, so it is found; the rest is reported as not scanned.
    assert res.found == {"%s//clam.exe" % f: CLAM_NAMES}
    assert "max_files" in res.limits()
    assert res.rc == 1
    # The same archive under the default limit: found, nothing unscanned.
    res = run_scan(f)
    assert res.rc == 1 and not res.unscanned


def test_max_files_hides_nothing(run_scan_both, tmp_path):
    """The infected member is past the limit: the result must not be OK."""
    members = [("f%03d.txt" % i, b"x%d" % i) for i in range(30)] + [("clam.exe", clam_exe())]
    f = write(tmp_path / "late.zip", zip_bytes(members))
    res = run_scan_both(f, config={"max_files": 5})
    assert_sane(res)
    assert res.rc == 2
    assert "max_files" in res.limits()
    assert str(f) not in res.ok


def test_max_file_size(run_scan, tmp_path):
    big = clam_exe() + bytes(8192)
    f = write(tmp_path / "big.zip", zip_bytes([("big.exe", big)]))
    res = run_scan(f, config={"max_file_size": "4K"})
    assert_sane(res)
    assert "max_file_size" in res.limits()
    assert res.rc in (1, 2)
    assert str(f) not in res.ok


def test_max_total_bytes(run_scan, tmp_path):
    rnd = os.urandom(600 * 1024)
    f = write(tmp_path / "t.zip", zip_bytes([("a.bin", rnd), ("b.bin", rnd[::-1]),
                                             ("c.bin", rnd[1:])]))
    res = run_scan(f, config={"max_total_bytes": "1M"})
    assert_sane(res)
    assert res.rc == 2
    assert "max_total_bytes" in res.limits()
    res = run_scan(f, config={"max_total_bytes": "4M"})
    assert res.rc == 0 and str(f) in res.ok


def test_max_scan_time(run_scan, tmp_path):
    f = write(tmp_path / "slow.zip", gh.many_files_zip(3000))
    res = run_scan(f, config={"max_scan_time": "1ms"})
    assert_sane(res)
    assert res.rc == 2
    assert "max_scan_time" in res.limits()
    res = run_scan(f, config={"max_scan_time": "60s"})
    assert res.rc == 0 and str(f) in res.ok


# ------------------------------------------------------------------ path tricks

def test_path_tricks(run_scan_both, tmp_path):
    tag = uuid.uuid4().hex[:12]
    evil = [
        "../../../../../../../../tmp/pwned-%s" % tag,
        "/tmp/pwned-abs-%s" % tag,
        "/etc/pwned-%s" % tag,
        "..\\..\\..\\tmp\\pwned-bs-%s" % tag,
    ]
    ctrl = ["line1\nline2-%s.exe" % tag, "esc\x1b[2J\x1b[31mred-%s.exe" % tag,
            "cr\rret-%s.exe" % tag, "tab\there-%s.exe" % tag]
    longname = "L" * 5000 + ".exe"
    members = [(n, clam_exe()) for n in evil + ctrl] + [(longname, clam_exe())]
    z = write(tmp_path / "tricks.zip", zip_bytes(members))
    t = write(tmp_path / "tricks.tar", tar_bytes(members))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    before_tmp = set(os.listdir("/tmp"))
    res = run_scan_both(z, t, cwd=cwd)
    assert_sane(res)
    assert res.rc == 1
    # Nothing was written anywhere by name.
    assert list(cwd.iterdir()) == []
    created = {n for n in set(os.listdir("/tmp")) - before_tmp if tag in n}
    assert created == set()
    assert not Path("/etc/pwned-%s" % tag).exists()
    # One line per hit, each a single line without control characters.
    assert "\x1b" not in res.stdout and "\r" not in res.stdout
    for line in res.lines:
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line), repr(line)
        assert line.startswith(str(tmp_path)), "line not starting with a path: %r" % line[:80]
    # Every member was scanned: MD5 hits under each archive, one per member.
    for arc in (z, t):
        hits = [p for p in res.hit_paths(CLAM_MD5) if p.startswith("%s//" % arc)]
        assert len(hits) == len(members), (arc, hits)
    # Control characters are shown as '?', leading slashes dropped (walk.h).
    for arc in (z, t):
        assert "%s//line1?line2-%s.exe" % (arc, tag) in res.found
        assert "%s//esc?[2J?[31mred-%s.exe" % (arc, tag) in res.found
        assert "%s//etc/pwned-%s" % (arc, tag) in res.found
    assert any("L" * 200 in p for p in res.found)


# ------------------------------------------------------------------ truncation

def _truncation_sources():
    srcs = {"clam.zip": None, "clam.7z": None, "clam.tar.gz": None}
    for n in srcs:
        p = TESTFILES / n
        srcs[n] = p.read_bytes() if p.is_file() else None
    srcs["gen.zip"] = zip_bytes([("clam.exe", clam_exe()), ("e.com", eicar())])
    srcs["gen.tar.xz"] = tar_bytes([("clam.exe", clam_exe())], "w:xz")
    srcs["gen.tar.bz2"] = tar_bytes([("clam.exe", clam_exe())], "w:bz2")
    return {k: v for k, v in srcs.items() if v is not None}


def test_truncated_archives(run_scan_both, tmp_path):
    files = {}
    for name, data in _truncation_sources().items():
        for frac in (0.05, 0.25, 0.5, 0.75, 0.9):
            cut = max(1, int(len(data) * frac))
            files[write(tmp_path / ("%d-%s" % (cut, name)), data[:cut])] = (name, frac)
        files[write(tmp_path / ("minus1-%s" % name), data[:-1])] = (name, 0.99)
    res = run_scan_both(*files)
    assert_sane(res)
    assert res.count("Scanned files") == len(files)
    for f, (name, frac) in files.items():
        p = str(f)
        lines = [l for l in res.lines if l.startswith(p + ":") or l.startswith(p + "//")]
        assert lines, "no line for %s" % p
        if 0.25 <= frac <= 0.9:
            # Cut in the middle: identified as an archive but not readable
            # whole, so CORRUPT (or FOUND in what could be read), never OK.
            assert p not in res.ok, "%s cut at %d%% reported OK" % (name, frac * 100)


def test_truncated_one_at_a_time(run_scan_both, tmp_path):
    """A few cut points each in its own process, so a crash is attributed."""
    data = (TESTFILES / "clam.7z").read_bytes() if (TESTFILES / "clam.7z").is_file() else None
    if data is None:
        pytest.skip("clam.7z not installed")
    for cut in (32, 33, len(data) // 2, len(data) - 20):
        f = write(tmp_path / ("c%d.7z" % cut), data[:cut])
        res = run_scan_both(f)
        assert_sane(res)


# ------------------------------------------------------------------ zip damage

def _two_members():
    return [("clam.exe", clam_exe()), ("eicar.com", eicar())]


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_zip_garbage_central_directory(run_scan_both, tmp_path, compression):
    """The central directory is random bytes: the members are found by their
    local headers."""
    f = write(tmp_path / "badcd.zip",
              gh.garbage_central_directory(zip_bytes(_two_members(), compression)))
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 1
    assert res.found.get("%s//clam.exe" % f) == CLAM_NAMES
    assert res.found.get("%s//eicar.com" % f) == EICAR_NAMES


def test_zip_no_central_directory_descriptors(run_scan_both, tmp_path):
    """Written to a pipe (sizes in data descriptors), then cut before the
    directory: stored and deflated members are still found."""
    for compression in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        data = gh.streamed_zip(_two_members(), compression)
        f = write(tmp_path / ("cut%d.zip" % compression), data[:data.index(b"PK\1\2")])
        g = write(tmp_path / ("bad%d.zip" % compression), gh.garbage_central_directory(data))
        res = run_scan_both(f, g)
        assert_sane(res)
        for z in (f, g):
            assert res.found.get("%s//clam.exe" % z) == CLAM_NAMES, z
            assert res.found.get("%s//eicar.com" % z) == EICAR_NAMES, z


def test_zip_hidden_local_entry(run_scan_both, tmp_path):
    """A local entry that the central directory does not list is scanned."""
    f = write(tmp_path / "hidden.zip",
              gh.hidden_entry_zip(("readme.txt", b"hello\n"), ("e.com", eicar())))
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 1
    assert res.found == {"%s//e.com" % f: EICAR_NAMES}


@pytest.mark.parametrize("seed", range(8))
def test_zip_magic_then_random(run_scan_both, tmp_path, seed):
    """PK\3\4 and random bytes: never clean."""
    import random
    rnd = random.Random(seed)
    f = write(tmp_path / ("r%d.zip" % seed),
              b"PK\3\4" + bytes(rnd.randrange(256) for _ in range(rnd.randrange(30, 9000))))
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 2
    assert str(f) not in res.ok
    assert res.kinds() & {"CORRUPT", "ENCRYPTED"}


def test_zip_magic_shorter_than_a_header_is_clean(run_scan_both, tmp_path):
    """PK\3\4 and fewer bytes than one local header (a real attachment
    in enmime's test mail): no member can be in it, so it is clean; one
    byte more than a header and it is not (test above)."""
    f = write(tmp_path / "short.bin", b"PK\3\4\x14\x00\x08\x00\x08\x00\xc2\x02)J\x00\x00")
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 0 and str(f) in res.ok, res.stdout


def test_real_zips_stay_clean(run_scan_both, tmp_path):
    files = [write(tmp_path / "a.zip", zip_bytes([("a.txt", b"hello\n"), ("d/b.txt", b"x")])),
             write(tmp_path / "s.zip", gh.streamed_zip([("a.txt", b"hello\n")])),
             write(tmp_path / "e.zip", zip_bytes([])),
             write(tmp_path / "n.zip", zip_bytes([("in.zip", zip_bytes([("a.txt", b"a")]))],
                                                 zipfile.ZIP_STORED))]
    res = run_scan_both(*files)
    assert_sane(res)
    assert res.rc == 0
    assert res.ok == {str(f) for f in files}


@pytest.mark.parametrize("prefix", [b"\0" * 4096, b"MZ" + bytes(range(256)) * 16],
                         ids=["zeros", "mz"])
def test_zip_self_extractor(run_scan_both, tmp_path, prefix):
    """4 KiB before the zip (a self-extractor's program): the zip is a child."""
    f = write(tmp_path / "setup.exe", prefix + zip_bytes(_two_members()))
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 1
    assert res.found.get("%s//sfx.zip//clam.exe" % f) == CLAM_NAMES
    assert res.found.get("%s//sfx.zip//eicar.com" % f) == EICAR_NAMES


@pytest.mark.parametrize("name,member", [("clam.d64.zip", "clam.exe"),
                                         ("clam.impl.zip", "CLAM.EXE")])
def test_zip_methods_testfiles(run_scan_both, testfiles, name, member):
    """Deflate64 and implode members, which libarchive cannot decode."""
    f = testfiles / name
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 1
    assert res.found == {"%s//%s" % (f, member): CLAM_NAMES}
    assert not res.unscanned


@pytest.mark.skipif(shutil.which("7z") is None, reason="7z (p7zip-full) not installed")
def test_zip_deflate64_7z(run_scan_both, tmp_path):
    """A deflate64 zip made by 7-Zip: long matches and distances past 32 KiB."""
    import random
    rnd = random.Random(5)
    block = bytes(rnd.randrange(256) for _ in range(50000))
    src = tmp_path / "src"
    write(src / "clam.exe", clam_exe())
    write(src / "big.bin", block + bytes(70000) + block + clam_exe() + block[:40000])
    out = tmp_path / "d64.zip"
    subprocess.run(["7z", "a", "-tzip", "-mm=Deflate64", "-mx=9", str(out),
                    str(src / "clam.exe"), str(src / "big.bin")], check=True,
                   stdout=subprocess.DEVNULL)
    assert b"\x09\x00" in out.read_bytes()[8:10]
    res = run_scan_both(out)
    assert_sane(res)
    assert res.rc == 1
    assert res.found.get("%s//clam.exe" % out) == CLAM_NAMES
    assert res.found.get("%s//big.bin" % out) == {CLAM_BODY}
    assert not res.unscanned


def test_zip_deflate64_bomb(run_scan, tmp_path, testfiles):
    """A deflate64 member of zeros is cut by the limits like any other."""
    pytest.importorskip("zlib")
    f = write(tmp_path / "b64.zip", gh.deflate64_zeros_zip(64 << 20))
    res = run_scan(f, config={"max_file_size": "8M"})
    assert_sane(res)
    assert res.rc == 2
    assert "max_file_size" in res.limits() or "max_ratio" in res.limits()


# ------------------------------------------------------------------ encryption

def test_encrypted_zip(run_scan_both, tmp_path):
    f = write(tmp_path / "enc.zip", gh.encrypted_zip([("clam.exe", clam_exe())]))
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 2
    assert res.kinds() == {"ENCRYPTED"}
    assert res.found == {}
    assert str(f) not in res.ok
    assert res.count("Unscanned files") == 1


def test_encrypted_flag_only(run_scan_both, tmp_path):
    f = write(tmp_path / "flag.zip", gh.flag_only_encrypted_zip("clam.exe", clam_exe()))
    res = run_scan_both(f)
    assert_sane(res)
    assert "ENCRYPTED" in res.kinds()
    assert str(f) not in res.ok


def test_encrypted_plus_plain_member(run_scan_both, tmp_path):
    # Put a plain clam.exe next to an encrypted member: found wins the exit code,
    # and the encrypted member is still reported.
    entries = [{"name": b"plain.exe", "data": clam_exe()}]
    crc = binascii.crc32(b"secret data") & 0xffffffff
    entries.append({"name": b"secret.bin", "data": gh.zipcrypto_encrypt(b"secret data", b"pw", crc),
                    "flags": 1, "crc": crc, "usize": 11})
    f = write(tmp_path / "mixed.zip", gh.raw_zip(entries))
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 1
    assert res.found.get("%s//plain.exe" % f) == CLAM_NAMES
    assert "ENCRYPTED" in res.kinds()


@pytest.mark.skipif(shutil.which("zip") is None, reason="zip(1) not installed")
def test_encrypted_zip_tool(run_scan, tmp_path):
    src = write(tmp_path / "src" / "clam.exe", clam_exe())
    out = tmp_path / "tool.zip"
    subprocess.run(["zip", "-q", "-j", "-P", "secret", str(out), str(src)], check=True)
    res = run_scan(out)
    assert_sane(res)
    assert res.rc == 2
    assert res.kinds() == {"ENCRYPTED"}


# ------------------------------------------------------------------ broken MIME

def test_mime_missing_final_boundary(run_scan_both, tmp_path):
    f = write(tmp_path / "nofinal.eml", gh.mime_attachment(clam_exe(), final=False))
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 1
    assert CLAM_MD5 in res.names_under(f)


@pytest.mark.parametrize("crlf", [False, True])
def test_mime_line_endings(run_scan, tmp_path, crlf):
    f = write(tmp_path / "m.eml", gh.mime_attachment(clam_exe(), crlf=crlf))
    res = run_scan(f)
    assert_sane(res)
    assert res.rc == 1
    assert res.names_under(f) == CLAM_NAMES


def test_mime_mixed_line_endings(run_scan_both, tmp_path):
    m = gh.mime_attachment(clam_exe(), crlf=True)
    # Every other line back to a bare LF.
    lines = m.split(b"\r\n")
    m = b"".join(l + (b"\r\n" if i % 2 else b"\n") for i, l in enumerate(lines))
    f = write(tmp_path / "mixed.eml", m)
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 1
    assert CLAM_MD5 in res.names_under(f)


def test_mime_huge_header(run_scan_both, tmp_path):
    f = write(tmp_path / "hdr.eml",
              gh.mime_attachment(clam_exe(), headers=b"X-Long: " + b"a" * (1 << 20) + b"\n"))
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 1
    assert CLAM_MD5 in res.names_under(f)


def test_mime_nul_bytes(run_scan_both, tmp_path):
    f = write(tmp_path / "nul.eml",
              gh.mime_attachment(clam_exe(), headers=b"X-Nul: a\x00b\x00c\n",
                                 preamble_text=b"text\x00with\x00nuls" * 100))
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 1
    assert CLAM_MD5 in res.names_under(f)


def test_mime_bad_base64(run_scan_both, tmp_path):
    m = gh.mime_attachment(clam_exe())
    # Damage the base64 body: stray '=' padding in the middle and junk bytes.
    i = m.index(b"TVpQ")
    bad = m[:i + 40] + b"==!!\x01\x02***" + m[i + 40:i + 200] + b"\n"
    f = write(tmp_path / "b64.eml", bad)
    res = run_scan_both(f)
    assert_sane(res)
    # clam.exe is damaged: its MD5 cannot match.
    assert CLAM_MD5 not in res.names()


def test_mime_headers_only(run_scan_both, tmp_path):
    f = write(tmp_path / "h.eml", b"From: a@example.org\nTo: b@example.org\nSubject: x\n")
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 0 and res.ok == {str(f)}


def test_mime_nested_1000(run_scan_both, tmp_path):
    f = write(tmp_path / "deep.eml", gh.nested_multipart(1000, clam_exe()))
    res = run_scan_both(f, timeout=60)
    assert_sane(res)
    # Either reached and found, or reported unscanned: never a silent OK.
    assert res.rc in (1, 2)
    assert str(f) not in res.ok
    if res.rc == 1:
        assert CLAM_MD5 in res.names_under(f)


def test_mime_nested_shallow_found(run_scan, tmp_path):
    f = write(tmp_path / "n.eml", gh.nested_multipart(5, clam_exe()))
    res = run_scan(f)
    assert_sane(res)
    assert res.rc == 1
    assert res.names_under(f) == CLAM_NAMES


def test_mime_many_parts(run_scan_both, tmp_path):
    """More parts than mail_max_parts: a limit, not a silent OK."""
    parts = b"".join(b"--B\nContent-Type: text/plain\n\npart %d\n" % i for i in range(50))
    msg = (b"From: a@example.org\nMIME-Version: 1.0\nContent-Type: multipart/mixed; "
           b"boundary=B\n\n" + parts + b"--B--\n")
    f = write(tmp_path / "many.eml", msg)
    res = run_scan_both(f, config={"mail_max_parts": 10})
    assert_sane(res)
    assert res.rc == 2
    assert res.kinds() == {"LIMIT"}


# ------------------------------------------------------------------ odd files

def test_empty_file(run_scan_both, tmp_path):
    f = write(tmp_path / "empty", b"")
    res = run_scan_both(f)
    assert_sane(res)
    assert res.rc == 0
    assert res.ok == {str(f)}


def test_nonexistent_path(run_scan, tmp_path):
    f = tmp_path / "does-not-exist"
    res = run_scan(f)
    assert_sane(res)
    assert res.rc == 2
    assert str(f) in res.errors
    assert res.count("Errors") == 1


def test_unreadable_file(run_scan, tmp_path):
    f = write(tmp_path / "secret.exe", clam_exe())
    f.chmod(0)
    try:
        try:
            with open(f, "rb"):
                pytest.skip("running as root: chmod 000 does not stop reading")
        except PermissionError:
            pass
        res = run_scan(f)
        assert_sane(res)
        assert res.rc == 2
        assert str(f) in res.errors
    finally:
        f.chmod(0o644)


def test_fifo_in_tree(run_scan, tmp_path):
    """A FIFO met while recursing must not hang the scan (nobody writes to it)."""
    d = tmp_path / "tree"
    d.mkdir()
    os.mkfifo(d / "fifo")
    f = write(d / "clam.exe", clam_exe())
    res = run_scan("-r", d, timeout=20)
    assert_sane(res)
    assert res.rc in (1, 2)
    assert res.found.get(str(f)) == CLAM_NAMES
