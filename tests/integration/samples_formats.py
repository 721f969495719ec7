"""Builds samples of the formats src/scan/ex_*.c open, byte by byte.

No Debian package writes TNEF, SZDD/KWAJ, SIS or OLE2 from a script, so
each writer here is the smallest file the format's reader takes: TNEF
attributes with their checksums, COMPRESS.EXE's LZSS as literal runs, a
SIS release 6 header with one zlib-compressed file, an OLE2 compound file
of 512-byte sectors with one storage holding one stream. CHM needs LZX and
a directory; chm_bytes() runs chmcmd (Free Pascal) when it is installed.
"""

import shutil
import struct
import subprocess
import zlib


def tnef_bytes(attachments):
    """A TNEF stream (winmail.dat) with [(name, data)] as attachments."""
    def attr(level, aid, data):
        return (struct.pack("<BII", level, aid, len(data)) + data +
                struct.pack("<H", sum(data) & 0xffff))
    out = struct.pack("<IH", 0x223e9f78, 0x0001)
    out += attr(1, 0x00089006, struct.pack("<I", 0x00010000))       # attTnefVersion
    out += attr(1, 0x00069007, b"\xe4\x04\x00\x00\x00\x00\x00\x00")  # attOemCodepage
    out += attr(1, 0x00078008, b"IPM.Microsoft Mail.Note\0")          # attMessageClass
    for name, data in attachments:
        out += attr(2, 0x00069002, struct.pack("<HIHHI", 1, 0xffffffff, 0, 0, 0))  # Renddata
        out += attr(2, 0x00018010, name.encode() + b"\0")             # attAttachTitle
        out += attr(2, 0x0006800f, data)                              # attAttachData
    return out


def _lzss_literals(data):
    """COMPRESS.EXE LZSS with every byte a literal (control byte 0xff)."""
    out = b""
    for i in range(0, len(data), 8):
        chunk = data[i:i + 8]
        out += bytes([(1 << len(chunk)) - 1]) + chunk
    return out


def szdd_bytes(data):
    return b"SZDD\x88\xf0\x27\x33A_" + struct.pack("<I", len(data)) + _lzss_literals(data)


def kwaj_bytes(data, name="eicar", ext="com", method=2):
    """KWAJ with the decompressed length and a file name; method 0 stored,
    1 XOR 0xff, 2 SZDD's LZSS."""
    opt = struct.pack("<I", len(data)) + name.encode() + b"\0" + ext.encode() + b"\0"
    flags = 0x01 | 0x08 | 0x10
    body = {0: data, 1: bytes(b ^ 0xff for b in data), 2: _lzss_literals(data)}[method]
    return b"KWAJ\x88\xf0\x27\xd1" + struct.pack("<HHH", method, 14 + len(opt), flags) + opt + body


def sis_bytes(data, name="eicar.com"):
    """A SIS file of EPOC release 6 installing one file, zlib-compressed."""
    comp = zlib.compress(data)
    dst = ("!:\\system\\apps\\" + name).encode("utf-16-le")
    src = ("C:\\build\\" + name).encode("utf-16-le")
    lang_at, files_at = 100, 102
    rec_len = 48
    src_at = files_at + rec_len
    dst_at = src_at + len(src)
    data_at = dst_at + len(dst)
    h = bytearray(100)
    struct.pack_into("<IIII", h, 0, 0x10201a7a, 0x10003a12, 0x10000419, 0)
    struct.pack_into("<HHHHHHHH", h, 16, 0, 1, 1, 0, 0, 0, ord("!"), 0)
    struct.pack_into("<IHHHHI", h, 32, 200, 1, 0, 1, 0, 0)   # version, options (unicode)
    struct.pack_into("<IIIII", h, 48, lang_at, files_at, 0, 0, 0)
    rec = struct.pack("<IIIIIIIIIIII", 0, 0, 0, len(src), src_at, len(dst), dst_at,
                      len(comp), data_at, len(data), 0, 0)
    return bytes(h) + struct.pack("<H", 1) + rec + src + dst + comp


def ole2_bytes(data, storage="Macros", stream="Module1"):
    """An OLE2 compound file: Root Entry > storage > stream (data padded
    with NULs to 4096 bytes, so that it lives in regular sectors)."""
    ssz = 512
    data = data + b"\0" * max(0, 4096 - len(data))
    nsec = (len(data) + ssz - 1) // ssz
    END, FREE, FATSECT = 0xfffffffe, 0xffffffff, 0xfffffffd
    hdr = bytearray(ssz)
    hdr[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", hdr, 24, 0x3e, 3, 0xfffe, 9, 6)
    struct.pack_into("<IIIIIIIII", hdr, 40, 0, 1, 1, 0, 4096, END, 0, END, 0)
    struct.pack_into("<I", hdr, 76, 0)             # DIFAT[0]: the FAT in sector 0
    for i in range(1, 109):
        struct.pack_into("<I", hdr, 76 + 4 * i, FREE)
    fat = [FATSECT, END] + [2 + i + 1 for i in range(nsec - 1)] + [END]
    fat += [FREE] * (ssz // 4 - len(fat))
    fat_sec = struct.pack("<%dI" % len(fat), *fat)

    def entry(name, kind, child, start, size):
        n = name.encode("utf-16-le") + b"\0\0"
        e = bytearray(128)
        e[0:len(n)] = n
        struct.pack_into("<HBB", e, 64, len(n), kind, 1)
        struct.pack_into("<III", e, 68, FREE, FREE, child)
        struct.pack_into("<II", e, 116, start, size)
        return bytes(e)
    dirs = (entry("Root Entry", 5, 1, END, 0) + entry(storage, 1, 2, 0, 0) +
            entry(stream, 2, FREE, 2, len(data)) + entry("", 0, FREE, 0, 0))
    return bytes(hdr) + fat_sec + dirs + data.ljust(nsec * ssz, b"\0")


def chm_bytes(tmp_path, name, data):
    """A CHM holding data as `name`, compiled by chmcmd; None without it."""
    if shutil.which("chmcmd") is None:
        return None
    d = tmp_path / ("chm-" + name.replace(".", "-"))
    d.mkdir()
    (d / name).write_bytes(data)
    (d / "p.hhp").write_text("[OPTIONS]\nCompiled file=out.chm\nDefault topic=%s\n\n"
                             "[FILES]\n%s\n" % (name, name))
    subprocess.run(["chmcmd", "p.hhp"], cwd=d, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    b = bytearray((d / "out.chm").read_bytes())
    # chmcmd 3.2 writes the header's second GUID as a copy of the first
    # ({7C01FD10-...} twice); the format, and libmspack, want {7C01FD11-...}.
    if b[0x28:0x2c] == b"\x10\xfd\x01\x7c":
        b[0x28] = 0x11
    return bytes(b)
