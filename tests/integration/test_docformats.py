"""Documents whose content hides in their text: PDF streams (Flate,
ASCIIHex, ASCII85), RTF embedded objects (\\objdata, OLE1 Package) and HTML
data: URIs. Each sample is made here, clean and with EICAR inside, so that
the EICAR bytes never lie in the file as they are: only decoding finds
them. Then ClamAV's test files, damaged documents (no crash, no hang, a
sane verdict), the limits, and a few through portcullisd as attachments.
"""

import base64
import binascii
import struct
import urllib.parse
import zlib

import pytest

from conftest import assert_sane
from samples_build import CLAM_MD5, EICAR_NAMES, eicar

CLEAN = b"Quarterly report: nothing to see here.\n" * 20


# ---------------------------------------------------------------- samples

def pdf(streams, extra_objs=()):
    """A PDF with one object per (dict, data) in streams, numbered from 2."""
    out = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"]
    for i, (d, data) in enumerate(streams, 2):
        out.append(b"%d 0 obj\n<< %s /Length %d >>\nstream\n" % (i, d, len(data)) + data +
                   b"\nendstream\nendobj\n")
    out.extend(extra_objs)
    out.append(b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")
    return b"".join(out)


def pdf_flate(payload):
    return pdf([(b"/Filter /FlateDecode", zlib.compress(payload))])


def pdf_embedded(payload, name=b"eicar.com"):
    """A PDF attachment (/EmbeddedFile) through ASCIIHex then Flate."""
    data = binascii.hexlify(zlib.compress(payload)) + b">"
    spec = b"3 0 obj\n<< /Type /Filespec /F (%s) /EF << /F 2 0 R >> >>\nendobj\n" % name
    return pdf([(b"/Type /EmbeddedFile /Filter [/AHx /Fl]", data)], [spec])


def pdf_a85(payload):
    return pdf([(b"/Filter /ASCII85Decode", base64.a85encode(payload, adobe=True)[2:])])


def ole1_package(label, payload):
    """An OLE1 embedded object of class Package holding payload as label."""
    def lstr(b):
        return struct.pack("<I", len(b)) + b

    path = b"C:\\Temp\\" + label + b"\x00"
    native = (b"\x02\x00" + label + b"\x00" + path + b"\x00\x00\x03\x00" + lstr(path) +
              struct.pack("<I", len(payload)) + payload)
    return (struct.pack("<II", 0x0501, 2) + lstr(b"Package\x00") + lstr(b"") + lstr(b"") +
            lstr(native))


def rtf_object(objdata_hex):
    body = b"\r\n".join(objdata_hex[i:i + 128] for i in range(0, len(objdata_hex), 128))
    return (b"{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Times;}}\\pard Report\\par\r\n"
            b"{\\object\\objemb\\objw855\\objh765{\\*\\objclass Package}{\\*\\objdata " + body +
            b"}{\\result {\\pict\\wmetafile8 0100}}}\\par}\r\n")


def rtf_package(payload, label=b"eicar.com"):
    return rtf_object(binascii.hexlify(ole1_package(label, payload)))


def html_b64(payload, mime=b"application/octet-stream"):
    return (b"<!DOCTYPE html>\n<html><body><p>Invoice</p>\n<a download=\"x.com\" href=\"data:" +
            mime + b";base64," + base64.b64encode(payload) + b"\">open</a>\n</body></html>\n")


def html_pct(payload):
    enc = urllib.parse.quote_from_bytes(payload, safe="").encode()
    return (b"<html><head><style>body { background: url('data:text/plain," + enc +
            b"') }</style></head><body>hi</body></html>\n")


INFECTED = {
    "flate.pdf": (pdf_flate, "flate.pdf//obj2"),
    "embedded.pdf": (pdf_embedded, "embedded.pdf//obj2"),
    "a85.pdf": (pdf_a85, "a85.pdf//obj2"),
    "package.rtf": (rtf_package, "package.rtf//eicar.com"),
    "b64.html": (html_b64, "b64.html//data1"),
    "pct.html": (html_pct, "pct.html//data1"),
}


@pytest.mark.parametrize("name", sorted(INFECTED))
def test_documents(run_scan_both, tmp_path, name):
    """The clean document is OK; the same with EICAR inside is found in its child."""
    make, where = INFECTED[name]
    clean, bad = tmp_path / ("clean-" + name), tmp_path / name
    clean.write_bytes(make(CLEAN))
    bad.write_bytes(make(eicar()))
    assert eicar() not in bad.read_bytes(), "the sample must hide EICAR"
    res = run_scan_both(clean, bad)
    assert_sane(res)
    assert str(clean) in res.ok and not res.names_under(clean), res.stdout
    assert not res.unscanned, res.stdout
    assert res.found.get("%s/%s" % (tmp_path, where), set()) & EICAR_NAMES, res.stdout


def test_by_name_and_by_content(run_scan, tmp_path):
    """A PDF with junk before its header, an RTF renamed .txt, HTML without tags named .html."""
    junk_pdf = tmp_path / "junk.bin"
    junk_pdf.write_bytes(b"\x00\x01 mail gateway junk\n" * 10 + pdf_flate(eicar()))
    rtf_txt = tmp_path / "renamed.txt"
    rtf_txt.write_bytes(rtf_package(eicar()))
    frag = tmp_path / "fragment.html"
    frag.write_bytes(b"<img src=\"data:;base64," + base64.b64encode(eicar()) + b"\">\n")
    res = run_scan(junk_pdf, rtf_txt, frag)
    assert_sane(res)
    for f in (junk_pdf, rtf_txt, frag):
        assert res.names_under(f) & EICAR_NAMES, (f, res.stdout)


@pytest.mark.parametrize("name,where", [
    ("clam.pdf", "clam.pdf//obj15"),
    ("clam.exe.rtf", "clam.exe.rtf//Clam.exe"),
    ("clam.exe.html", "clam.exe.html//data1"),
])
def test_clamav_testfiles(run_scan, testfiles, name, where):
    if not (testfiles / name).is_file():
        pytest.skip("clamav-testfiles not installed")
    res = run_scan(testfiles / name)
    assert_sane(res)
    assert CLAM_MD5 in res.found.get("%s/%s" % (testfiles, where), set()), res.stdout


# ---------------------------------------------------------------- damage

def _damaged():
    e = eicar()
    good_pdf = pdf_flate(e)
    z = zlib.compress(e)
    return {
        "cut-in-stream.pdf": good_pdf[:good_pdf.index(b"stream\n") + 7 + len(z) // 2],
        "no-endstream.pdf": b"%PDF-1.4\n2 0 obj\n<< /Filter /FlateDecode >>\nstream\n" + z,
        "bad-flate.pdf": pdf([(b"/Filter /FlateDecode", b"\x78\x9c" + bytes(range(256)) * 4)]),
        "huge-length.pdf": pdf([(b"/Filter /FlateDecode /Length 99999999999999999999", z)]),
        "filter-soup.pdf": pdf([(b"/Filter [/AHx /A85 /Fl /LZW /Fl /Fl /Fl /Fl /Fl /Fl /Fl]",
                                 b"zz~>")]),
        "only-headers.pdf": b"%PDF-1.4\n" + b"1 0 obj stream\n" * 3000,
        "unclosed.rtf": rtf_package(e)[:-40],
        "bad-ole1.rtf": rtf_object(b"0105000002000000ffffffff41414141"),
        "bin-past-end.rtf": b"{\\rtf1{\\object{\\*\\objdata \\bin999999999 abc",
        "deep-groups.rtf": b"{\\rtf1{\\*\\objdata " + b"{" * 100000 + b"41",
        "no-comma.html": b"<html><a href=\"data:text/plain;base64" + b"A" * 100000,
        "bad-b64.html": b"<html><a href=\"data:;base64,!!!!====%%%%\">x</a></html>",
    }


def _intact(name):
    """A readable document of the damaged one's kind with EICAR in it, to go first."""
    e = eicar()
    if name.endswith(".pdf"):
        p = pdf_flate(e)
        return p[:p.index(b"trailer")]
    if name.endswith(".rtf"):
        return rtf_package(e)
    return html_b64(e)


@pytest.mark.parametrize("name", sorted(_damaged()))
def test_damaged_sane(run_scan_both, tmp_path, name):
    """Damage after an intact object: no crash or hang, and what is readable is found."""
    f = tmp_path / name
    f.write_bytes(_intact(name) + _damaged()[name])
    res = run_scan_both(f, timeout=30)
    assert_sane(res)
    assert res.rc == 1 and not res.errors, res.stdout
    assert res.names_under(f) & EICAR_NAMES, res.stdout


def test_damaged_keeps_what_is_readable(run_scan, tmp_path):
    """A PDF cut after its stream, an RTF cut after its object: EICAR still found."""
    e = eicar()
    p = pdf_flate(e)
    cut_pdf = tmp_path / "cut.pdf"
    cut_pdf.write_bytes(p[:p.index(b"endstream")])
    r = rtf_package(e)
    cut_rtf = tmp_path / "cut.rtf"
    cut_rtf.write_bytes(r[:r.index(b"}{\\result")])
    res = run_scan(cut_pdf, cut_rtf)
    assert_sane(res)
    assert res.names_under(cut_pdf) & EICAR_NAMES, res.stdout
    assert res.names_under(cut_rtf) & EICAR_NAMES, res.stdout


# ---------------------------------------------------------------- limits

def test_flate_bomb_is_a_limit(run_scan, tmp_path):
    f = tmp_path / "bomb.pdf"
    f.write_bytes(pdf([(b"/Filter /FlateDecode", zlib.compress(bytes(64 << 20), 9))]))
    res = run_scan(f, timeout=30)
    assert_sane(res)
    assert res.rc == 2 and not res.names(), res.stdout
    assert res.limits() & {"max_ratio", "max_file_size"}, res.stdout
    assert res.elapsed < 10


def test_doc_max_objects(run_scan, tmp_path):
    f = tmp_path / "many.pdf"
    f.write_bytes(pdf([(b"", CLEAN)] * 4 + [(b"/Filter /FlateDecode", zlib.compress(eicar()))]))
    res = run_scan(f, config={"doc_max_objects": 3})
    assert_sane(res)
    assert res.limits() == {"max_files"} and not res.names(), res.stdout
    res = run_scan(f, config={"doc_max_objects": 10})
    assert res.names() & EICAR_NAMES and not res.unscanned, res.stdout


def test_doc_max_objects_in_config_range(run_scan, tmp_path):
    res = run_scan("-t", config={"doc_max_objects": 5}, db=None)
    assert res.rc == 0, res.stderr
    res = run_scan("-t", config={"doc_max_objects": 0}, db=None)
    assert res.rc == 2 and "doc_max_objects" in res.stderr, res.stderr


# ---------------------------------------------------------------- SMTP

pytest.register_assert_rewrite("smtp_util")
from smtp_util import Client, b64_part, check, multipart, part  # noqa: E402

pytest_plugins = ["smtp_util"]

TEXT = part("text/plain; charset=utf-8", b"See the attached documents.\r\n", "7bit")


def _send(d, rcpt, msg):
    with Client(d.port) as c:
        c.banner()
        c.ehlo("docs.example")
        r = c.mail("sender@example.net", [rcpt], msg)
        c.quit()
    return r


def test_smtp_documents(sink, proxy_factory):
    d = proxy_factory(sink=sink, inbound={"infected": "reject"})
    cases = [
        ("report.pdf", "application/pdf", pdf_embedded),
        ("letter.rtf", "application/rtf", rtf_package),
        ("page.html", "text/html", html_b64),
    ]
    for i, (fname, ctype, make) in enumerate(cases):
        bad = multipart([TEXT, b64_part(make(eicar()), fname, ctype)], subject="bad " + fname)
        r = _send(d, "bad%d@example.org" % i, bad)
        check(r, r"^550 5\.7\.1 message rejected: virus found \(Eicar-Test-Signature")
        good = multipart([TEXT, b64_part(make(CLEAN), fname, ctype)], subject="good " + fname)
        r = _send(d, "good%d@example.org" % i, good)
        check(r, r"^250 2\.0\.0 Ok: queued as SINK\d+$")
    sink.wait_messages(len(cases))
    assert sorted(m.rcpts[0] for m in sink.messages) == ["good%d@example.org" % i
                                                         for i in range(len(cases))]
