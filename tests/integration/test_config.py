"""The configuration file: `-t` checks, file:line error messages, and that
the values read really change what the scan does."""

import re

import pytest

from conftest import assert_sane, write_config
from samples_build import CLAM_NAMES, EICAR_NAMES, clam_exe, eicar, write, zip_bytes


def check(run_scan, path):
    return run_scan("-t", "-c", path, db=None)


def test_shipped_config_valid(run_scan, repo):
    conf = repo / "etc" / "portcullis.conf"
    res = check(run_scan, conf)
    assert res.rc == 0, res.stderr
    assert "OK" in res.stdout
    assert res.stderr.strip() == ""


def test_defaults_valid(run_scan):
    res = run_scan("-t", db=None)
    assert res.rc == 0


def test_shipped_config_documents_every_key(repo):
    """Every key line sits in a paragraph that has a comment."""
    text = (repo / "etc" / "portcullis.conf").read_text()
    paragraphs = re.split(r"\n\s*\n", text)
    keys = 0
    for para in paragraphs:
        lines = para.splitlines()
        has_comment = any(l.lstrip().startswith((";", "#")) for l in lines)
        for l in lines:
            if re.match(r"^[a-z_]+\s*=", l):
                keys += 1
                assert has_comment, "undocumented key: %s" % l
    assert keys >= 20


def test_shipped_config_scans_like_defaults(run_scan, repo, tmp_path):
    """The shipped file states the defaults: scanning with it changes nothing."""
    data, _ = __import__("gen_hostile").deep_zip(20, "clam.exe", clam_exe())
    files = [write(tmp_path / "deep.zip", data), write(tmp_path / "e.com", eicar()),
             write(tmp_path / "c.txt", b"clean")]
    a = run_scan(*files)
    b = run_scan(*files, config=repo / "etc" / "portcullis.conf")
    assert a.rc == b.rc == 1
    assert sorted(a.lines) == sorted(b.lines)
    # deep.zip is 20 deep: the default max_depth (16) stops it.
    assert {u.limit for u in a.unscanned} == {"max_depth"}


# (config text, line of the error, regex the message must match)
BAD = {
    "unknown_key": ("[scan]\nmax_dpeth = 3\n", 2, r"unknown key"),
    "unknown_section": ("[scan]\nmax_depth = 3\n[scna]\nmax_depth = 3\n", 3,
                        r"unknown section"),
    "key_before_section": ("max_depth = 3\n[scan]\n", 1, r"unknown section|section"),
    "not_a_number": ("[scan]\n\nmax_depth = deep\n", 3, r"whole number"),
    "negative": ("[scan]\nmax_files = -5\n", 2, r"whole number|range"),
    "fraction": ("[scan]\nmax_files = 2.5\n", 2, r"whole number"),
    "zero_depth": ("[scan]\nmax_depth = 0\n", 2, r"out of range"),
    "depth_too_big": ("[scan]\nmax_depth = 65\n", 2, r"out of range"),
    "ratio_too_small": ("[scan]\nmax_ratio = 1\n", 2, r"out of range"),
    "total_too_small": ("[scan]\nmax_total_bytes = 1k\n", 2, r"out of range"),
    "huge_number": ("[scan]\nmax_files = 99999999999999999999999\n", 2,
                    r"whole number|out of range"),
    "bad_size": ("[scan]\nmax_file_size = 10Q\n", 2, r"size"),
    "bad_duration": ("[scan]\nmax_scan_time = soon\n", 2, r"duration"),
    "bad_bool": ("[scan]\nskip_safe_types = maybe\n", 2, r"yes or no"),
    "bad_enum": ("[scan]\nbackend = magic\n", 2, r"unknown value"),
    "bad_log_level": ("[log]\nlevel = loud\n", 2, r"unknown value"),
    "empty_string": ("[scan]\ndatabase_dir =\n", 2, r"empty"),
    "duplicate": ("[scan]\nmax_depth = 3\nmax_files = 9\nmax_depth = 4\n", 4, r"duplicate"),
    "syntax": ("[scan]\nthis is not a setting\n", 2, r"syntax"),
    "unclosed_section": ("[scan\nmax_depth = 3\n", 1, r"syntax|section"),
    "long_line": ("[scan]\nsafe_types = " + "image/png " * 40 + "\n", 2, r"longer"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config(run_scan, tmp_path, case):
    text, line, pattern = BAD[case]
    p = write_config(tmp_path / ("%s.conf" % case), text)
    res = check(run_scan, p)
    assert res.rc != 0
    assert res.rc == 2
    msgs = [l for l in res.stderr.splitlines() if l.startswith("%s:%d: " % (p, line))]
    assert msgs, "no '%s:%d:' message" % (p, line)
    assert any(re.search(pattern, m) for m in msgs), msgs
    # The same file refuses to scan too (not only under -t).
    f = write(tmp_path / "e.com", eicar())
    res = run_scan(f, config=p)
    assert res.rc == 2
    assert res.found == {}


def test_bare_unknown_section(run_scan, tmp_path):
    """An unknown section with no keys is still an unknown section."""
    p = write_config(tmp_path / "bare.conf", "[scan]\nmax_depth = 3\n[bogus]\n")
    res = check(run_scan, p)
    assert res.rc == 2
    assert "%s:3: " % p in res.stderr


def test_all_errors_reported(run_scan, tmp_path):
    text = ("[scan]\n"          # 1
            "max_depth = x\n"   # 2
            "nokey = 1\n"       # 3
            "; comment\n"       # 4
            "max_ratio = 0\n"   # 5
            "[nope]\n"          # 6
            "a = b\n")          # 7
    p = write_config(tmp_path / "many.conf", text)
    res = check(run_scan, p)
    assert res.rc == 2
    lines = {int(m.group(1)) for m in re.finditer(r"^%s:(\d+): " % re.escape(str(p)),
                                                  res.stderr, re.M)}
    assert lines == {2, 3, 5, 6}


def test_missing_config_file(run_scan, tmp_path):
    res = check(run_scan, tmp_path / "nope.conf")
    assert res.rc == 2
    assert "nope.conf" in res.stderr


def test_valid_variants(run_scan, tmp_path):
    text = ("# hash comment\n; semicolon comment\n[log]\nlevel = warn\n\n[scan]\n"
            "max_depth = 64\nmax_total_bytes = 1G\nmax_file_size = 512k\n"
            "max_scan_time = 1500ms\nmax_ratio = 1000000\nskip_safe_types = yes\n"
            "safe_types = image/png\n image/gif\n\timage/jpeg\n"
            "safe_extensions = png, gif\n")
    p = write_config(tmp_path / "ok.conf", text)
    res = check(run_scan, p)
    assert res.rc == 0, res.stderr


def test_config_database_dir_and_override(run_scan, tmp_path, sigdir):
    f = write(tmp_path / "e.com", eicar())
    # database_dir from the config file.
    res = run_scan(f, config={"database_dir": sigdir}, db=None)
    assert_sane(res)
    assert res.rc == 1 and res.found == {str(f): EICAR_NAMES}
    # -d overrides the config file's directory.
    res = run_scan(f, config={"database_dir": tmp_path / "nonexistent"})
    assert res.rc == 1 and res.found == {str(f): EICAR_NAMES}
    # Without -d the bad directory from the file is used and fails.
    res = run_scan(f, config={"database_dir": tmp_path / "nonexistent"}, db=None)
    assert res.rc == 2 and res.found == {}


def test_config_limit_takes_effect(run_scan, tmp_path):
    f = write(tmp_path / "z.zip", zip_bytes([("in.zip", zip_bytes([("clam.exe", clam_exe())]))]))
    res = run_scan(f, config={"max_depth": 2})
    assert_sane(res)
    assert res.rc == 1 and res.found == {"%s//in.zip//clam.exe" % f: CLAM_NAMES}
    res = run_scan(f, config={"max_depth": 1})
    assert_sane(res)
    assert res.rc == 2 and res.limits() == {"max_depth"} and res.found == {}
