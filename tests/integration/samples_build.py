"""Builds test samples at run time: EICAR, containers, mails, images.

Owns the sample bytes and container writers used by the integration tests.
Nothing here is committed as a file: EICAR is joined from two halves, clam.exe
is read from the clamav-testfiles package, archives are written with the
standard library into the test's tmp_path.
"""

import bz2
import email.encoders
import email.mime.application
import email.mime.multipart
import email.mime.text
import gzip
import hashlib
import io
import lzma
import os
import struct
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

TESTFILES = Path(os.environ.get("PC_TESTFILES", "/usr/share/clamav-testfiles"))

# Names of the bundled signatures in <repo>/sigs.
EICAR_BODY = "Eicar-Test-Signature"
EICAR_SHA256 = "Eicar-Test-Signature.SHA256"
CLAM_BODY = "Portcullis.Test.ClamExe"
CLAM_MD5 = "Portcullis.Test.ClamExe.MD5"
EICAR_NAMES = {EICAR_BODY, EICAR_SHA256}
CLAM_NAMES = {CLAM_BODY, CLAM_MD5}


def eicar():
    """The 68-byte EICAR test file, assembled here so no file holds it."""
    a = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$"
    b = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    data = (a + b).encode("ascii")
    assert len(data) == 68
    return data


def clam_exe():
    """ClamAV's harmless test executable (544 bytes)."""
    data = (TESTFILES / "clam.exe").read_bytes()
    assert hashlib.md5(data).hexdigest() == "aa15bcf478d165efd2065190eb473bcb"
    return data


# A 1x1 GIF89a (and PNG_1X1 below): real images, libmagic says image/gif, image/png.
GIF_1X1 = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000"
    "010001000002024401003b")


def _png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def png_1x1():
    """A valid 1x1 RGBA PNG, checksums computed."""
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) +
            _png_chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00\x00")) +
            _png_chunk(b"IEND", b""))


PNG_1X1 = png_1x1()

FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def write(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def zip_bytes(members, compression=zipfile.ZIP_DEFLATED):
    """members: list of (name, bytes). Returns the zip file's bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members:
            zi = zipfile.ZipInfo(name, FIXED_TIME)
            zi.compress_type = compression
            zi.external_attr = 0o644 << 16
            z.writestr(zi, data)
    return buf.getvalue()


def tar_bytes(members, mode="w"):
    """mode: "w", "w:gz", "w:bz2", "w:xz". members: list of (name, bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1577836800
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def gz_bytes(data, name=None):
    buf = io.BytesIO()
    with gzip.GzipFile(filename=name or "", mode="wb", fileobj=buf, mtime=0) as g:
        g.write(data)
    return buf.getvalue()


def bz2_bytes(data):
    return bz2.compress(data)


def xz_bytes(data):
    return lzma.compress(data, format=lzma.FORMAT_XZ)


def mail_with_attachment(payload, filename, text="see attachment", ctype="application/octet-stream"):
    """A multipart/mixed RFC 5322 message with payload base64-attached."""
    msg = email.mime.multipart.MIMEMultipart()
    msg["From"] = "sender@example.org"
    msg["To"] = "rcpt@example.org"
    msg["Subject"] = "test"
    msg["Date"] = "Wed, 01 Jan 2020 00:00:00 +0000"
    msg["Message-ID"] = "<test@example.org>"
    msg.attach(email.mime.text.MIMEText(text))
    maintype, subtype = ctype.split("/", 1)
    part = email.mime.application.MIMEApplication(payload, _subtype=subtype)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    msg.attach(part)
    return msg.as_bytes()


def zeros_deflated_member(size, chunk=1 << 20):
    """A zip member of `size` zero bytes, deflated, written in chunks."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        zi = zipfile.ZipInfo("zeros.bin", FIXED_TIME)
        zi.compress_type = zipfile.ZIP_DEFLATED
        with z.open(zi, "w", force_zip64=size >= (1 << 31)) as w:
            block = bytes(chunk)
            left = size
            while left > 0:
                n = min(left, chunk)
                w.write(block[:n])
                left -= n
    return buf.getvalue()


def now():
    return time.monotonic()
