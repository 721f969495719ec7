"""Generators of hostile inputs: bombs, deep nesting, path tricks, encrypted
and truncated archives, broken MIME. Everything is built in memory or in the
caller's directory at run time; nothing here holds malware bytes.
"""

import binascii
import bz2
import io
import lzma
import struct
import zipfile
import zlib

from samples_build import FIXED_TIME, zip_bytes


# ------------------------------------------------------------------ zip bombs

def zeros_zip(size, tail=b"", name="zeros.bin", chunk=1 << 20):
    """A zip with one deflated member: `size` zero bytes, then `tail`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        zi = zipfile.ZipInfo(name, FIXED_TIME)
        zi.compress_type = zipfile.ZIP_DEFLATED
        with z.open(zi, "w", force_zip64=size >= (1 << 31)) as w:
            block = bytes(chunk)
            left = size
            while left > 0:
                n = min(left, chunk)
                w.write(block[:n])
                left -= n
            w.write(tail)
    return buf.getvalue()


def zeros_stream(kind, size_mib=1024):
    """A single compressed stream ("gz", "bz2" or "xz") of size_mib MiB of
    zeros: 1 MiB compressed once and its member/stream repeated, which the
    formats allow (concatenated gzip members, bzip2 and xz streams)."""
    block = bytes(1 << 20)
    if kind == "gz":
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        one = c.compress(block) + c.flush()
    elif kind == "bz2":
        one = bz2.compress(block, 9)
    else:
        one = lzma.compress(block, preset=0)
    return one * size_mib


def nested_bomb(layers, fanout, leaf_size):
    """42.zip-like: each layer holds `fanout` copies of the layer below; the
    bottom holds `fanout` members of leaf_size zeros. Unpacked size is
    fanout**(layers+1) * leaf_size."""
    zeros = bytes(leaf_size)
    data = zip_bytes([("%d.bin" % i, zeros) for i in range(fanout)])
    for level in range(layers):
        data = zip_bytes([("l%d-%d.zip" % (level, i), data) for i in range(fanout)])
    return data


# ------------------------------------------------------------------ nesting

def deep_zip(depth, name, payload):
    """payload as `name` inside `depth` nested zips (d1.zip//d2.zip//...).
    Returns (bytes, inner path below the outer file)."""
    data = zip_bytes([(name, payload)])
    path = [name]
    for i in range(depth - 1, 0, -1):
        inner = "d%d.zip" % i
        data = zip_bytes([(inner, data)])
        path.insert(0, inner)
    return data, "//".join(path)


def many_files_zip(n, first=None):
    """n small members; `first` (name, bytes) is put first when given."""
    members = [first] if first else []
    members += [("f%05d.txt" % i, b"file %d\n" % i) for i in range(n - len(members))]
    return zip_bytes(members)


# ------------------------------------------------------------------ raw zips

def _dos_time():
    y, mo, d, h, mi, s = FIXED_TIME
    return (h << 11) | (mi << 5) | (s // 2), ((y - 1980) << 9) | (mo << 5) | d


def raw_zip(entries):
    """
    Writes a zip by hand. entries: dicts with name (bytes), data (the bytes
    as stored), flags, method, crc, usize; missing ones are derived for a
    stored member. Lets tests set bits the zipfile module will not.
    """
    out = io.BytesIO()
    central = []
    t, d = _dos_time()
    for e in entries:
        name = e["name"]
        data = e["data"]
        flags = e.get("flags", 0)
        method = e.get("method", 0)
        crc = e.get("crc", binascii.crc32(data) & 0xffffffff)
        usize = e.get("usize", len(data))
        off = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034b50, 20, flags, method, t, d, crc,
                              len(data), usize, len(name), 0))
        out.write(name)
        out.write(data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 0x031e, 20, flags, method,
                                   t, d, crc, len(data), usize, len(name), 0, 0, 0, 0,
                                   0o100644 << 16, off) + name)
    cd_off = out.tell()
    for c in central:
        out.write(c)
    cd_len = out.tell() - cd_off
    out.write(struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, len(entries), len(entries), cd_len,
                          cd_off, 0))
    return out.getvalue()


def garbage_central_directory(data, seed=1):
    """data (a zip) with its central directory overwritten by random bytes;
    the local entries and the end record stay."""
    import random
    cd = data.index(b"PK\1\2")
    end = data.rindex(b"PK\5\6")
    rnd = random.Random(seed)
    return data[:cd] + bytes(rnd.randrange(256) for _ in range(end - cd)) + data[end:]


def hidden_entry_zip(listed, hidden):
    """A zip whose central directory lists only `listed` (name, bytes),
    with a local entry for `hidden` (name, bytes, stored) before it that
    no directory entry points at."""
    z = raw_zip([{"name": listed[0].encode(), "data": listed[1]}])
    h = raw_zip([{"name": hidden[0].encode(), "data": hidden[1]}])
    hidden_local = h[:h.index(b"PK\1\2")]
    # The listed entry's local header moves back by len(hidden_local): fix
    # the directory's offsets.
    cd = z.index(b"PK\1\2")
    local, central = z[:cd], bytearray(z[cd:])
    struct.pack_into("<I", central, 42, len(hidden_local))
    end = central.rindex(b"PK\5\6")
    struct.pack_into("<I", central, end + 16, len(hidden_local) + len(local))
    return hidden_local + local + bytes(central)


def streamed_zip(members, compression=zipfile.ZIP_DEFLATED):
    """A zip as written to a pipe: each local header without sizes, a data
    descriptor after each member."""
    class Pipe(io.RawIOBase):
        def __init__(self):
            self.buf = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.buf += b
            return len(b)

    out = Pipe()
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, data in members:
            with z.open(zipfile.ZipInfo(name, FIXED_TIME), "w") as w:
                w.write(data)
    return bytes(out.buf)


class _Bits:
    """A deflate bit writer: values least significant bit first."""

    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value, n):
        self.acc |= value << self.n
        self.n += n
        while self.n >= 8:
            self.out.append(self.acc & 0xff)
            self.acc >>= 8
            self.n -= 8

    def huff(self, code, n):
        """A Huffman code, sent most significant bit first."""
        self.put(int(format(code, "0%db" % n)[::-1], 2), n)

    def done(self):
        if self.n:
            self.out.append(self.acc & 0xff)
        return bytes(self.out)


def deflate64_zeros_zip(size):
    """A zip with one deflate64 member of `size` zeros: one fixed-code block
    of a literal 0 and matches of 65538 (symbol 285 + 16 bits, which only
    deflate64 has) at distance 1."""
    b = _Bits()
    b.put(1, 1)          # last block
    b.put(1, 2)          # fixed codes
    b.huff(0x30, 8)      # literal 0
    left = size - 1
    while left > 0:
        n = min(left, 65538)
        if n < 3:
            for _ in range(n):
                b.huff(0x30, 8)
        else:
            b.huff(0xc0 + 5, 8)  # symbol 285
            b.put(n - 3, 16)
            b.huff(0, 5)         # distance code 0: 1
        left -= n
    b.huff(0, 7)         # end of block
    data = b.done()
    crc = 0
    chunk = bytes(1 << 20)
    for i in range(0, size, len(chunk)):
        crc = zlib.crc32(chunk[:min(len(chunk), size - i)], crc)
    return raw_zip([{"name": b"zeros.bin", "data": data, "method": 9, "crc": crc,
                     "usize": size}])


def _crc_update(k, c):
    return (~zlib.crc32(bytes([c]), ~k & 0xffffffff)) & 0xffffffff


def zipcrypto_encrypt(plain, password, crc):
    """Traditional PKWARE encryption (APPNOTE 6.1): 12-byte header + data."""
    k = [0x12345678, 0x23456789, 0x34567890]

    def update(c):
        k[0] = _crc_update(k[0], c)
        k[1] = ((k[1] + (k[0] & 0xff)) * 134775813 + 1) & 0xffffffff
        k[2] = _crc_update(k[2], k[1] >> 24)

    def stream_byte():
        t = (k[2] | 2) & 0xffff
        return ((t * (t ^ 1)) >> 8) & 0xff

    for c in password:
        update(c)
    header = bytes(range(1, 12)) + bytes([crc >> 24])
    out = bytearray()
    for c in header + plain:
        out.append(c ^ stream_byte())
        update(c)
    return bytes(out)


def encrypted_zip(members, password=b"infected"):
    """A ZipCrypto-encrypted zip (stored members), written by hand."""
    entries = []
    for name, data in members:
        crc = binascii.crc32(data) & 0xffffffff
        entries.append({"name": name.encode(), "data": zipcrypto_encrypt(data, password, crc),
                        "flags": 1, "crc": crc, "usize": len(data)})
    return raw_zip(entries)


def flag_only_encrypted_zip(name, data):
    """A stored member whose data is plain but whose encryption bit is set."""
    return raw_zip([{"name": name.encode(), "data": data, "flags": 1}])


# ------------------------------------------------------------------ MIME

def mime_attachment(payload, filename="clam.exe", boundary="BOUNDARY", final=True, crlf=False,
                    headers=b"", preamble_text=b"hello"):
    """A multipart/mixed message with a base64 attachment, built by hand so
    tests can break it. headers: extra raw header lines (ending in \\n)."""
    b64 = binascii.b2a_base64(payload, newline=False)
    lines = [b"From: a@example.org", b"To: b@example.org", b"Subject: test",
             b"MIME-Version: 1.0"]
    msg = b"\n".join(lines) + b"\n" + headers
    msg += b"Content-Type: multipart/mixed; boundary=\"" + boundary.encode() + b"\"\n\n"
    msg += b"--" + boundary.encode() + b"\nContent-Type: text/plain\n\n" + preamble_text + b"\n"
    msg += (b"--" + boundary.encode() + b"\nContent-Type: application/octet-stream; name=\"" +
            filename.encode() + b"\"\nContent-Transfer-Encoding: base64\n"
            b"Content-Disposition: attachment; filename=\"" + filename.encode() + b"\"\n\n")
    msg += b"\n".join(b64[i:i + 76] for i in range(0, len(b64), 76)) + b"\n"
    if final:
        msg += b"--" + boundary.encode() + b"--\n"
    if crlf:
        msg = msg.replace(b"\n", b"\r\n")
    return msg


def nested_multipart(depth, payload, filename="clam.exe"):
    """depth multipart/mixed levels, each holding the next; the innermost holds
    a base64 attachment."""
    b64 = binascii.b2a_base64(payload, newline=False)
    body = (b"Content-Type: application/octet-stream; name=\"" + filename.encode() +
            b"\"\nContent-Transfer-Encoding: base64\n\n" +
            b"\n".join(b64[i:i + 76] for i in range(0, len(b64), 76)) + b"\n")
    for i in range(depth):
        bnd = b"b%d" % i
        body = (b"Content-Type: multipart/mixed; boundary=\"" + bnd + b"\"\n\n--" + bnd + b"\n" +
                body + b"--" + bnd + b"--\n")
    return b"From: a@example.org\nTo: b@example.org\nSubject: deep\nMIME-Version: 1.0\n" + body
