#!/usr/bin/env python3
"""Sends a clean message and one with the EICAR test file to a Portcullis
listener and prints each reply.  usage: send_test_mail.py [HOST [PORT]]"""
import smtplib
import sys
from email.message import EmailMessage

# Split so that this file itself is not a test virus.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def message(subject, attach=None):
    m = EmailMessage()
    m["From"] = "alice@example.org"
    m["To"] = "bob@example.net"
    m["Subject"] = subject
    m.set_content("Hello Bob,\n\nthis is a test of the Portcullis gateway.\n")
    if attach:
        m.add_attachment(attach, maintype="application", subtype="octet-stream",
                         filename="eicar.com")
    return m


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 10025
    with smtplib.SMTP(host, port, timeout=60) as s:
        s.ehlo("demo.example.org")
        for subject, attach in (("clean test message", None), ("EICAR test", EICAR)):
            msg = message(subject, attach)
            s.mail("alice@example.org")
            s.rcpt("bob@example.net")
            code, text = s.data(msg.as_bytes())
            print("%-20s -> %d %s" % (subject, code, text.decode(errors="replace")))


if __name__ == "__main__":
    main()
