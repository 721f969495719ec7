"""Encoded blocks in text (scan/textblocks.h): what the MIME structure does
not show is decoded and scanned too. Each shape is sent clean and with
EICAR (or ClamAV's clam.exe) through portcullis-scan, some through
portcullisd: yEnc inline and as an x-yencode part, BinHex 4.0 in a text
part, a base64 run in HTML, uuencode in a multipart's preamble, and a MIME
entity after a boundary that does not match the declared one.
"""

import base64
import binascii
import re
import struct

import pytest

pytest.register_assert_rewrite("smtp_util")
from smtp_util import *  # noqa: E402,F401,F403

pytest_plugins = ["smtp_util"]

# EICAR with trailing NULs (the signature is at offset 0): long enough that
# its base64 passes the 256-character minimum of a run.
EICAR_LONG = EICAR + b"\0" * 200
CLEAN = bytes((i * 7 + 3) % 256 for i in range(700))
CLEAN_TEXT = b"Nothing to see here, just some words.\r\n" * 8

HQX = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"


def yenc(data, name, line=128):
    out, cur = b"", bytearray()
    for b in data:
        c = (b + 42) % 256
        if c in (0, 10, 13, 61):
            cur += bytes([61, (c + 64) % 256])
        else:
            cur.append(c)
        if len(cur) >= line:
            out += bytes(cur) + b"\r\n"
            cur = bytearray()
    if cur:
        out += bytes(cur) + b"\r\n"
    return (b"=ybegin line=%d size=%d name=%s\r\n" % (line, len(data), name.encode()) + out +
            b"=yend size=%d crc32=%08x\r\n" % (len(data), binascii.crc32(data)))


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xffff if crc & 0x8000 else (crc << 1) & 0xffff
    return crc


def binhex(data, name, rsrc=b""):
    n = name.encode()
    hdr = bytes([len(n)]) + n + b"\0TEXTttxt\0\0" + struct.pack(">II", len(data), len(rsrc))
    body = (hdr + struct.pack(">H", crc16(hdr)) + data + struct.pack(">H", crc16(data)) + rsrc +
            struct.pack(">H", crc16(rsrc)))
    body = body.replace(b"\x90", b"\x90\x00")
    chars, acc, nbits = bytearray(), 0, 0
    for b in body:
        acc, nbits = (acc << 8) | b, nbits + 8
        while nbits >= 6:
            nbits -= 6
            chars.append(HQX[(acc >> nbits) & 63])
    if nbits:
        chars.append(HQX[(acc << (6 - nbits)) & 63])
    text = b":" + bytes(chars) + b":"
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return b"(This file must be converted with BinHex 4.0)\r\n" + b"\r\n".join(lines) + b"\r\n"


def b64_lines(data):
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def yenc_inline(data):
    body = b"Here is the file, yEncoded:\r\n\r\n" + yenc(data, "file.bin") + b"\r\nBye.\r\n"
    return multipart([part("text/plain; charset=us-ascii", body, "8bit")])


def yenc_mime(data):
    return multipart([part("text/plain", b"see the attachment\r\n", "7bit"),
                      part("application/octet-stream", yenc(data, "file.bin"), "x-yencode",
                           "file.bin")])


def binhex_text(data):
    body = b"A Macintosh file follows.\r\n\r\n" + binhex(data, "file.bin")
    return multipart([part("text/plain; charset=us-ascii", body, "7bit")])


def b64_html(data):
    html = (b"<html><body><p>Download:</p><a href=\"data:application/octet-stream;base64," +
            base64.b64encode(data) + b"\">file</a></body></html>\r\n")
    return multipart([part("text/html; charset=us-ascii", html, "7bit")])


def uu_preamble(data):
    b = b"=_pre_b0"
    out = headers("uu in the preamble")
    out += b'Content-Type: multipart/mixed; boundary="' + b + b'"\r\n\r\n'
    out += b"This is a MIME message. A file follows, uuencoded.\r\n\r\n" + uu_block(data, "f.bin")
    out += b"\r\n--" + b + b"\r\n" + part("text/plain", b"hello\r\n", "7bit")
    out += b"\r\n--" + b + b"--\r\n"
    return out


def broken_boundary(data):
    """The header declares one boundary, the body uses another: GMime sees no
    part, and the entities are found in the text by their boundary line."""
    real = b"----=_Part_1_real but long enough, with spaces and more than seventy characters"
    out = headers("broken boundary")
    out += b'Content-Type: multipart/mixed; boundary="declared-boundary"\r\n\r\n'
    out += b"This is a multi-part message in MIME format.\r\n\r\n"
    out += b"--" + real + b"\r\n" + part("text/plain", b"hello there\r\n", "7bit")
    out += b"\r\n--" + real + b"\r\n" + b64_part(data, "file.bin")
    out += b"\r\n--" + real + b"--\r\n"
    return out


SHAPES = {
    "yenc-inline": (yenc_inline, "1.yenc1/file.bin"),
    "yenc-mime": (yenc_mime, "2.yenc1/file.bin"),
    "binhex-text": (binhex_text, "1.hqx1/file.bin"),
    "b64-html": (b64_html, "1.b64-1"),
    "uu-preamble": (uu_preamble, "pre.uu1/f.bin"),
    "broken-boundary": (broken_boundary, "pre.mime1//2/file.bin"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_shape(run_scan_both, tmp_path, shape):
    """Infected: found at the block's path. The same shape clean: OK, not
    corrupt, no limit."""
    build, where = SHAPES[shape]
    f = tmp_path / ("%s.eml" % shape)
    f.write_bytes(build(EICAR_LONG))
    res = run_scan_both(f)
    assert res.rc == 1, res.stdout
    path = "%s//%s" % (f, where)
    assert res.found.get(path) == {"Eicar-Test-Signature"}, res.found
    f.write_bytes(build(CLEAN))
    res = run_scan_both(f)
    assert res.rc == 0, res.stdout
    assert res.ok == {str(f)} and not res.unscanned, res.stdout


def test_damaged_blocks_are_scanned_not_refused(run_scan_both, tmp_path):
    """A BinHex block with a wrong CRC, yEnc without =yend, a cut base64 run:
    what was decoded is scanned, and the damage alone never makes it corrupt."""
    hqx = binhex(EICAR_LONG, "f.bin")
    hqx = hqx[:len(hqx) - 12] + b"!!!!!!!!:\r\n"
    y = yenc(EICAR_LONG, "y.bin")
    y = y[:y.index(b"=yend")]
    f = tmp_path / "damaged.txt"
    f.write_bytes(b"one\r\n" + hqx + b"two\r\n" + y)
    res = run_scan_both(f)
    assert res.rc == 1, res.stdout
    assert res.found.get("%s//hqx1/f.bin" % f) == {"Eicar-Test-Signature"}, res.found
    assert res.found.get("%s//yenc1/y.bin" % f) == {"Eicar-Test-Signature"}, res.found
    clean = tmp_path / "damaged-clean.txt"
    clean.write_bytes(b"(This file must be converted with BinHex 4.0)\r\n:!!!!\x01junk:\r\n"
                      b"=ybegin line=128 size=10 name=x\r\nabc\r\n")
    res = run_scan_both(clean)
    assert res.rc == 0 and not res.unscanned, res.stdout


def test_plain_text_file(run_scan_both, tmp_path):
    """A plain text file (no mail): every kind, ids without a part."""
    f = tmp_path / "notes.txt"
    f.write_bytes(b"hello\r\n" + yenc(EICAR_LONG, "a.bin") + b"and\r\n" +
                  binhex(EICAR_LONG, "b.bin") + b"and a run:\r\n" + b64_lines(EICAR_LONG))
    res = run_scan_both(f)
    assert res.rc == 1
    assert {"%s//yenc1/a.bin" % f, "%s//hqx1/b.bin" % f, "%s//b64-1" % f} <= res.hit_paths(), \
        res.found


def test_text_blocks_off(run_scan, tmp_path):
    """scan.text_blocks = no: the defence in depth is gone (as on main)."""
    f = tmp_path / "y.eml"
    f.write_bytes(yenc_inline(EICAR_LONG))
    assert run_scan(f).rc == 1
    res = run_scan(f, config={"text_blocks": "no"})
    assert res.rc == 0, res.stdout


def test_text_max_blocks(run_scan, tmp_path):
    """More blocks than text_max_blocks: a limit, never a silent OK."""
    f = tmp_path / "many.txt"
    f.write_bytes(b"".join(yenc(CLEAN[:50], "f%d" % i) for i in range(5)))
    res = run_scan(f, config={"text_max_blocks": 3})
    assert res.rc != 0
    assert [u.limit for u in res.unscanned] == ["max_files"], res.stdout


def test_binhex_bomb_is_a_limit(run_scan, tmp_path):
    """BinHex run-length codes that expand a few KiB into far more than
    max_file_size: cut, and a limit verdict."""
    n = b"bomb".ljust(4)
    hdr = bytes([4]) + n + b"\0TEXTttxt\0\0" + struct.pack(">II", 0xffffffff, 0)
    body = hdr + struct.pack(">H", crc16(hdr)) + b"A" + b"\x90\xff" * 20000
    chars, acc, nbits = bytearray(), 0, 0
    for b in body:
        acc, nbits = (acc << 8) | b, nbits + 8
        while nbits >= 6:
            nbits -= 6
            chars.append(HQX[(acc >> nbits) & 63])
    f = tmp_path / "bomb.hqx"
    f.write_bytes(b"(This file must be converted with BinHex 4.0)\r\n:" + bytes(chars) + b":\r\n")
    res = run_scan(f, config={"max_file_size": "1M"})
    assert res.rc != 0 and res.unscanned, res.stdout
    assert res.unscanned[0].limit in ("max_file_size", "max_ratio"), res.stdout


def test_clamav_testfiles(run_scan, testfiles):
    res = run_scan(testfiles / "clam.exe.binhex")
    assert res.found == {"%s//hqx1/clam.exe" % (testfiles / "clam.exe.binhex"):
                         {"Portcullis.Test.ClamExe.MD5", "Portcullis.Test.ClamExe"}} or \
        res.rc == 1, res.stdout
    assert res.rc == 1, res.stdout
    res = run_scan(testfiles / "clam.exe.html")
    assert res.rc == 1, res.stdout
    assert any(p.startswith(str(testfiles / "clam.exe.html") + "//") for p in res.hit_paths())


@pytest.fixture(scope="module")
def reject_env(request, tmp_path_factory):
    return start_shared(request, tmp_path_factory, "textblocks", verbose=False,
                        inbound={"infected": "reject"})


@pytest.mark.parametrize("shape", ["yenc-inline", "binhex-text", "broken-boundary"])
def test_smtp(request, reject_env, shape):
    """Through portcullisd: infected is refused, clean is delivered."""
    d, sink = reject_env
    attach(request.node, d, sink)
    build, _ = SHAPES[shape]
    for infected in (True, False):
        frm = "s-%s-%d@example.net" % (shape, infected)
        rcpt = "r-%s-%d@example.org" % (shape, infected)
        msg = build(EICAR_LONG if infected else CLEAN)
        mark = d.mark()
        with Client(d.port) as c:
            c.banner()
            c.ehlo("textblocks.example")
            r = c.mail(frm, [rcpt], msg)
            c.quit()
        if infected:
            check(r, "^550 5\\.7\\.1 message rejected: virus found \\(Eicar-Test-Signature\\)$")
            log_of(d, after=mark, status="infected", **{"from": "<%s>" % re.escape(frm)})
        else:
            check(r, "^250 ")
            settle(d, sink)
            assert [m for m in sink.messages if m.rcpts == [rcpt]], "the clean one is delivered"


@pytest.fixture(scope="module")
def strip_env(request, tmp_path_factory):
    return start_shared(request, tmp_path_factory, "textblocks-strip", verbose=False,
                        inbound={"infected": "strip"})


@pytest.mark.parametrize("kind", ["yenc", "b64-html", "hqx"])
def test_strip_resolves_to_the_text_part(request, strip_env, run_scan, tmp_path, kind):
    """A hit inside a block (id "2.yenc1", "2.b64-1", "2.hqx1") strips the text
    part that holds it, not the whole message into quarantine."""
    d, sink = strip_env
    attach(request.node, d, sink)
    if kind == "yenc":
        bad = part("text/plain; charset=us-ascii", b"file:\r\n" + yenc(EICAR_LONG, "f.bin"),
                   "8bit")
    elif kind == "hqx":
        bad = part("text/plain; charset=us-ascii", binhex(EICAR_LONG, "f.bin"), "7bit")
    else:
        bad = part("text/html", b"<a href=\"data:application/x;base64," +
                   base64.b64encode(EICAR_LONG) + b"\">x</a>\r\n", "7bit")
    first = part("text/plain", CLEAN_TEXT, "7bit")
    msg = multipart([first, bad], subject="strip " + kind)
    frm, rcpt = "s-strip-%s@example.net" % kind, "r-strip-%s@example.org" % kind
    with Client(d.port) as c:
        c.banner()
        c.ehlo("textblocks.example")
        r = c.mail(frm, [rcpt], msg)
        c.quit()
    check(r, "^250 2\\.0\\.0 Ok: queued as SINK\\d+$")
    settle(d, sink)
    (m,) = [m for m in sink.messages if m.rcpts == [rcpt]]
    trace, out = strip_trace(m.data)
    assert trace.get("X-Virus-Status", "") == "cleaned (Eicar-Test-Signature)", trace
    ps, pg = split_parts(msg), split_parts(out)
    assert len(pg) == 2 and pg[0] == ps[0], "the clean part is untouched"
    assert pg[1] != ps[1], "the part holding the block is replaced"
    assert not [q for q in d.quarantine() if q["rcpts"] == [rcpt]]
    f = tmp_path / "delivered.eml"
    f.write_bytes(m.data)
    res = run_scan(f)
    assert res.rc == 0 and not res.names(), "the delivered copy is clean:\n" + res.stdout


def test_containers_inside_blocks(run_scan_both, tmp_path):
    """A block is walked like any node: a zip decoded from a base64 run is
    opened, and a message decoded from one run is read to its own end, not
    into the block after it (blocks share one temporary file)."""
    z = zip_bytes([("readme.txt", b"hello\n"), ("eicar.com", EICAR)])
    inner = multipart([b64_part(EICAR, "in.com")], subject="inner")
    f = tmp_path / "page.html"
    f.write_bytes(b"<html><p>one</p><img src=\"data:application/zip;base64," + base64.b64encode(z) +
                  b"\"><p>two</p><a href=\"data:message/rfc822;base64," +
                  base64.b64encode(inner) + b"\">m</a><p>three</p><a href=\"data:x;base64," +
                  base64.b64encode(EICAR_LONG) + b"\">e</a></html>\r\n")
    res = run_scan_both(f)
    assert res.rc == 1, res.stdout
    want = {"%s//b64-1//eicar.com" % f, "%s//b64-2//1/in.com" % f, "%s//b64-3" % f}
    assert want <= res.hit_paths(), res.found
    assert not res.unscanned, res.stdout


def test_nested_blocks_stop_at_max_depth(run_scan_both, tmp_path):
    """yEnc in yEnc in yEnc ...: each level costs some 60 bytes, so without a
    bound a small file would recurse thousands of levels deep. Blocks count
    as a level like a container's children: past max_depth, a limit."""
    data = EICAR_LONG
    for i in range(40):
        data = yenc(data, "l%d" % i)
    f = tmp_path / "deep.txt"
    f.write_bytes(data)
    res = run_scan_both(f)
    assert res.rc != 0, res.stdout
    assert [u.limit for u in res.unscanned] == ["max_depth"], res.stdout
    shallow = tmp_path / "shallow.txt"
    data = EICAR_LONG
    for i in range(3):
        data = yenc(data, "l%d" % i)
    shallow.write_bytes(data)
    res = run_scan_both(shallow)
    assert res.rc == 1 and not res.unscanned, res.stdout
