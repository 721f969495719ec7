"""The portcullis-scan command line: options, output format, exit codes,
directory recursion, summary counts."""

import os
import re

import pytest

from conftest import RE_SUMMARY, SUMMARY_HEADER, assert_sane
from samples_build import (CLAM_NAMES, EICAR_NAMES, clam_exe, eicar, write, zip_bytes)
import gen_hostile as gh

SUMMARY_KEYS = ["Known signatures", "Scanned files", "Infected files", "Unscanned files",
                "Errors", "Time"]


def test_help(run_scan):
    res = run_scan("--help", db=None)
    assert res.rc == 0
    assert res.stdout.startswith("usage: portcullis-scan")
    for opt in ("-d", "--clamd", "-c", "-t", "-r", "-j", "--skip-safe", "--quiet",
                "--no-summary"):
        assert re.search(r"(^|[\s,])%s\b" % re.escape(opt), res.stdout), opt
    assert "Exit status" in res.stdout


def test_version(run_scan):
    res = run_scan("--version", db=None)
    assert res.rc == 0
    assert re.fullmatch(r"portcullis-scan \d+\.\d+\.\d+\S*\n", res.stdout)


@pytest.mark.parametrize("args", [("--no-such-option",), ()])
def test_usage_errors(run_scan, args):
    res = run_scan(*args)
    assert res.rc == 2
    assert "usage:" in res.stderr
    assert res.stdout == ""


def test_clean_file(run_scan, tmp_path, sigdir):
    f = write(tmp_path / "clean.txt", b"nothing to see here\n")
    res = run_scan(f)
    assert_sane(res)
    assert res.rc == 0
    assert res.lines == ["%s: OK" % f]
    assert res.has_summary
    assert list(res.summary)[:len(SUMMARY_KEYS) - 1] == SUMMARY_KEYS[:-1]
    assert "Time" in res.summary
    assert re.fullmatch(r"\d+(\.\d+)? sec", res.summary["Time"])
    assert res.count("Known signatures") == 4
    assert res.count("Scanned files") == 1
    assert res.count("Infected files") == 0
    assert res.count("Unscanned files") == 0
    assert res.count("Errors") == 0


def test_eicar_file(run_scan, tmp_path):
    f = write(tmp_path / "eicar.com", eicar())
    res = run_scan(f)
    assert_sane(res)
    assert res.rc == 1
    assert sorted(res.lines) == sorted("%s: %s FOUND" % (f, n) for n in EICAR_NAMES)
    assert res.count("Infected files") == 1
    assert str(f) not in res.ok


def test_clam_exe_file(run_scan, tmp_path):
    f = write(tmp_path / "clam.exe", clam_exe())
    res = run_scan(f)
    assert_sane(res)
    assert res.rc == 1
    assert res.found == {str(f): CLAM_NAMES}


def test_summary_counts(run_scan, tmp_path):
    files = [write(tmp_path / "c1.txt", b"a"), write(tmp_path / "c2.txt", b"b"),
             write(tmp_path / "e.com", eicar()), write(tmp_path / "z.zip",
                                                        zip_bytes([("clam.exe", clam_exe())])),
             write(tmp_path / "enc.zip", gh.encrypted_zip([("x.txt", b"secret")]))]
    missing = tmp_path / "missing.txt"
    res = run_scan(*files, missing)
    assert_sane(res)
    assert res.rc == 1
    assert res.count("Scanned files") == 5
    assert res.count("Infected files") == 2
    assert res.count("Unscanned files") == 1
    assert res.count("Errors") == 1
    assert res.ok == {str(files[0]), str(files[1])}
    assert set(res.errors) == {str(missing)}
    assert "No such file" in res.errors[str(missing)]


@pytest.mark.parametrize("kinds,rc", [
    (("clean",), 0),
    (("clean", "clean"), 0),
    (("infected",), 1),
    (("missing",), 2),
    (("encrypted",), 2),
    (("clean", "missing"), 2),
    (("clean", "encrypted"), 2),
    (("infected", "missing"), 1),
    (("infected", "encrypted"), 1),
    (("missing", "infected", "clean"), 1),
])
def test_exit_codes(run_scan, tmp_path, kinds, rc):
    paths = []
    for i, k in enumerate(kinds):
        p = tmp_path / ("%d-%s" % (i, k))
        if k == "clean":
            write(p, b"clean %d\n" % i)
        elif k == "infected":
            write(p, eicar())
        elif k == "encrypted":
            write(p, gh.encrypted_zip([("a.txt", b"secret")]))
        paths.append(p)
    res = run_scan(*paths)
    assert_sane(res)
    assert res.rc == rc


def _tree(root):
    files = {
        "clean": [write(root / "a.txt", b"a\n"), write(root / "sub" / "b.txt", b"b\n"),
                  write(root / "sub" / "deeper" / "c.bin", bytes(100))],
        "infected": [write(root / "sub" / "eicar.com", eicar()),
                     write(root / "sub" / "deeper" / "x.zip",
                           zip_bytes([("clam.exe", clam_exe())]))],
    }
    (root / "emptydir").mkdir()
    return files


def test_directory_needs_r(run_scan, tmp_path):
    d = tmp_path / "tree"
    _tree(d)
    res = run_scan(d)
    assert_sane(res)
    assert res.rc == 2
    assert set(res.errors) == {str(d)}
    assert "-r" in res.errors[str(d)]
    assert res.count("Scanned files") == 0
    assert res.found == {}


@pytest.mark.parametrize("trailing_slash", [False, True])
def test_recursive(run_scan, tmp_path, trailing_slash):
    d = tmp_path / "tree"
    files = _tree(d)
    arg = str(d) + ("/" if trailing_slash else "")
    res = run_scan("-r", arg)
    assert_sane(res)
    assert res.rc == 1
    assert res.ok == {str(f) for f in files["clean"]}
    assert res.found == {
        str(files["infected"][0]): EICAR_NAMES,
        "%s//clam.exe" % files["infected"][1]: CLAM_NAMES,
    }
    assert res.count("Scanned files") == 5
    assert res.count("Infected files") == 2


def test_recursive_symlinks_not_followed(run_scan, tmp_path):
    d = tmp_path / "tree"
    write(d / "a.txt", b"a")
    outside = write(tmp_path / "outside" / "eicar.com", eicar())
    os.symlink(outside, d / "link.com")
    os.symlink(tmp_path / "outside", d / "linkdir")
    os.symlink(d, d / "loop")
    res = run_scan("-r", d)
    assert_sane(res)
    assert res.rc == 0
    assert res.ok == {str(d / "a.txt")}
    assert res.count("Scanned files") == 1
    # A symlink named on the command line is followed.
    res = run_scan(d / "link.com")
    assert res.rc == 1
    assert res.found == {str(d / "link.com"): EICAR_NAMES}


def test_multiple_paths_and_jobs(run_scan, tmp_path):
    paths = []
    for i in range(24):
        if i % 3 == 0:
            paths.append(write(tmp_path / ("e%02d.com" % i), eicar()))
        elif i % 3 == 1:
            paths.append(write(tmp_path / ("z%02d.zip" % i), zip_bytes([("clam.exe", clam_exe()),
                                                                      ("n.txt", b"%d" % i)])))
        else:
            paths.append(write(tmp_path / ("c%02d.txt" % i), b"clean %d\n" % i))
    results = [run_scan("-j", str(j), *paths) for j in (1, 4)]
    for res in results:
        assert_sane(res)
        assert res.rc == 1
        assert res.count("Scanned files") == 24
        assert res.count("Infected files") == 16
        assert len(res.ok) == 8
    assert sorted(results[0].lines) == sorted(results[1].lines)


def test_jobs_bad_value(run_scan, tmp_path):
    f = write(tmp_path / "a.txt", b"a")
    res = run_scan("-j", "lots", f)
    assert res.rc == 2
    assert "threads" in res.stderr


def test_quiet(run_scan, tmp_path):
    c = write(tmp_path / "c.txt", b"clean")
    e = write(tmp_path / "e.com", eicar())
    res = run_scan("--quiet", c, e)
    assert_sane(res)
    assert res.rc == 1
    assert res.ok == set()
    assert res.found == {str(e): EICAR_NAMES}
    assert res.count("Scanned files") == 2


def test_no_summary(run_scan, tmp_path):
    f = write(tmp_path / "e.com", eicar())
    res = run_scan("--no-summary", f)
    assert_sane(res)
    assert res.rc == 1
    assert SUMMARY_HEADER not in res.stdout
    assert not res.has_summary
    assert all(not RE_SUMMARY.match(l) or "FOUND" in l for l in res.stdout.splitlines())
    assert res.found == {str(f): EICAR_NAMES}


def test_engine_log_line(run_scan, tmp_path):
    f = write(tmp_path / "a.txt", b"a")
    res = run_scan(f)
    assert res.rc == 0
    m = re.search(r"^portcullis-scan: info: engine: built body=(\d+) hash=(\d+)", res.stderr, re.M)
    assert m, "no engine build log line"
    assert (int(m.group(1)), int(m.group(2))) == (2, 2)
    # Logs go to stderr, results to stdout.
    assert "info:" not in res.stdout


@pytest.mark.parametrize("kind", ["missing", "empty", "file"])
def test_bad_database_dir(run_scan, tmp_path, kind):
    db = tmp_path / "db"
    if kind == "empty":
        db.mkdir()
    elif kind == "file":
        write(db, b"not a directory")
    f = write(tmp_path / "e.com", eicar())
    res = run_scan(f, db=db)
    # Scanning against no signatures would pass everything: refuse.
    assert res.rc == 2
    assert res.found == {} and res.ok == set()
    assert str(db) in res.stderr


def test_stdout_lines_all_parse(run_scan, tmp_path):
    files = [write(tmp_path / "e.com", eicar()), write(tmp_path / "c.txt", b"c"),
             write(tmp_path / "enc.zip", gh.encrypted_zip([("a", b"b")])),
             write(tmp_path / "bad.gz", b"\x1f\x8b\x08\x00garbage" * 3)]
    res = run_scan(*files, tmp_path / "nope")
    assert_sane(res)
    assert res.has_summary
    n = len(res.lines)
    assert n >= 6
    # Findings precede the summary; the summary ends the output.
    out = res.stdout.rstrip("\n").split("\n")
    i = out.index(SUMMARY_HEADER)
    assert all(RE_SUMMARY.match(l) for l in out[i + 1:])
