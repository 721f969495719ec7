#!/usr/bin/env python3
"""Writes the demo folder scanned by scripts/run.sh: clean files and test
infections (EICAR, ClamAV's clam.exe test file) plain, zipped and in mail."""
import io
import os
import shutil
import sys
import tarfile
import zipfile
from email.message import EmailMessage

# Split so that this file itself is not a test virus.
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
CLAM = "/usr/share/clamav-testfiles/clam.exe"


def main(dest):
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    clam = open(CLAM, "rb").read()

    def put(name, data):
        with open(os.path.join(dest, name), "wb") as f:
            f.write(data)

    put("readme.txt", b"Nothing to see here.\n")
    put("report.csv", b"id,value\n1,2\n3,4\n")
    put("eicar.txt", EICAR)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("docs/clam.exe", clam)
        z.writestr("docs/notes.txt", b"clean\n")
    put("invoice.zip", buf.getvalue())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo("setup.gif")  # an executable named like a picture
        info.size = len(clam)
        t.addfile(info, io.BytesIO(clam))
    put("photos.tar.gz", buf.getvalue())
    msg = EmailMessage()
    msg["From"] = "alice@example.org"
    msg["To"] = "bob@example.net"
    msg["Subject"] = "the file you asked for"
    msg.set_content("See attachment.\n")
    msg.add_attachment(clam, maintype="application", subtype="octet-stream",
                       filename="update.exe")
    put("mail.eml", bytes(msg))
    uu = io.BytesIO()
    import binascii
    uu.write(b"Hello,\n\nbegin 644 eicar.com\n")
    for i in range(0, len(EICAR), 45):
        uu.write(binascii.b2a_uu(EICAR[i:i + 45]))
    uu.write(b"`\nend\n\nBye.\n")
    put("newsletter.txt", uu.getvalue())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo")
