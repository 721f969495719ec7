"""Messages whose structure is odd but real, for the mail-corpus tests.

Owns: one builder per shape (issue 8 parts 1 and 2), each able to make the
message clean or with EICAR in a base64 part inside its own structure, and
with or without one extra X- field on top; and insert_infected(), which
puts a base64 EICAR part into any existing message (the public corpora).
EICAR is only ever inside a base64 part, so the root's raw bytes never
match: a hit means the walker found and decoded the part.
"""

import base64
import re

from samples_build import eicar

EICAR = eicar()
CLEAN = b"nothing to see here\r\n" * 4
X_TOP = b"X-Relay-Checked: yes (added by a relay)\r\n"

B = b"=_shape_b1"
LONG_B = (b"---- this boundary is longer than the seventy characters RFC 2046 "
          b"allows and has spaces ----")
HDR = (b"From: a@example.net\r\nTo: b@example.org\r\nSubject: shape\r\n"
       b"Date: Sat, 5 Dec 2026 08:00:00 +0000\r\nMessage-ID: <shape@example.net>\r\n"
       b"MIME-Version: 1.0\r\n")


def b64(data):
    s = base64.b64encode(data)
    return b"\r\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + b"\r\n"


def att(infected, name=b"file.com", hdr_extra=b"", sep=b"\r\n"):
    """An attachment part (headers, separator, base64 body)."""
    return (b"Content-Type: application/octet-stream; name=\"" + name + b"\"\r\n" + hdr_extra +
            b"Content-Disposition: attachment; filename=\"" + name + b"\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n" + sep +
            b64(EICAR if infected else CLEAN))


def text_part(t=b"Hello.\r\n"):
    return b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + t


def mp(parts, b=B, ct_b=None, preamble=b"This is a MIME message.\r\n", epilogue=b"",
       top=HDR, sep=b"\r\n", subtype=b"mixed"):
    ct_b = b if ct_b is None else ct_b
    body = preamble
    for p in parts:
        body += b"--" + b + b"\r\n" + p + b"\r\n"
    body += b"--" + b + b"--\r\n" + epilogue
    return top + b"Content-Type: multipart/" + subtype + b"; boundary=\"" + ct_b + b"\"\r\n" + \
        sep + body


# ------------------------------------------------------------ part 1 shapes

def s_textbook(inf):
    return mp([text_part(), att(inf)])


def s_bom(inf):
    return b"\xef\xbb\xbf" + mp([text_part(), att(inf)])


def s_ws_line_top(inf):
    top = HDR.replace(b"Subject: shape\r\n", b"Subject: shape\r\n \r\n")
    return mp([text_part(), att(inf)], top=top)


def s_ws_line_tab_top(inf):
    top = HDR.replace(b"Subject: shape\r\n", b"Subject: shape\r\n\t \r\n")
    return mp([text_part(), att(inf)], top=top)


def s_ws_line_part(inf):
    a = att(inf).replace(b"Content-Transfer-Encoding", b" \r\nContent-Transfer-Encoding")
    return mp([text_part(), a])


def s_space_colon_top(inf):
    m = mp([text_part(), att(inf)])
    return m.replace(b"Content-Type: multipart", b"Content-Type : multipart", 1)


def s_space_colon_part(inf):
    a = att(inf).replace(b"Content-Transfer-Encoding:", b"Content-Transfer-Encoding  :")
    return mp([text_part(), a])


def s_no_separator_top(inf):
    return mp([text_part(), att(inf)], sep=b"", preamble=b"")


def s_no_separator_part(inf):
    return mp([text_part(), att(inf, sep=b"")])


def s_ws_separator_top(inf):
    return mp([text_part(), att(inf)], sep=b" \r\n")


def s_ws_separator_part(inf):
    return mp([text_part(), att(inf, sep=b"\t\r\n")])


def s_junk_before_fields(inf):
    return b"this line is not a header field\r\n" + mp([text_part(), att(inf)])


def s_long_boundary_spaces(inf):
    return mp([text_part(), att(inf)], b=LONG_B)


def s_boundary_trailing_space_param(inf):
    # The parameter has trailing whitespace the delimiter lines lack.
    return mp([text_part(), att(inf)], ct_b=B + b"  ")


def s_boundary_padding(inf):
    # Delimiter lines with transport padding (RFC 2046 allows it).
    m = mp([text_part(), att(inf)])
    return m.replace(b"--" + B + b"\r\n", b"--" + B + b" \t \r\n")


def s_lf_only(inf):
    return mp([text_part(), att(inf)]).replace(b"\r\n", b"\n")


def s_nested_rfc822_bom_part(inf):
    inner = mp([text_part(), att(inf)], b=b"=_inner", top=HDR.replace(b"Subject: shape",
                                                                     b"Subject : inner"))
    p = b"Content-Type: message/rfc822\r\n\r\n" + inner
    return mp([text_part(), p])


SHAPES_1 = [s_textbook, s_bom, s_ws_line_top, s_ws_line_tab_top, s_ws_line_part,
            s_space_colon_top, s_space_colon_part, s_no_separator_top, s_no_separator_part,
            s_ws_separator_top, s_ws_separator_part, s_junk_before_fields,
            s_long_boundary_spaces, s_boundary_trailing_space_param, s_boundary_padding,
            s_lf_only, s_nested_rfc822_bom_part]


# ------------------------------------------------------------ part 2 shapes
# Empty and odd but valid. "infected" adds an EICAR part next to the shape.

def _maybe(inf, parts):
    return parts + [att(True)] if inf else parts


def e_only_empty_part(inf):
    if not inf:
        return HDR + b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n--b--\r\n"
    return mp([b"", att(True)])


def e_empty_preamble(inf):
    return mp(_maybe(inf, [text_part()]), preamble=b"")


def e_empty_epilogue(inf):
    return mp(_maybe(inf, [text_part()]), epilogue=b"")


def e_empty_parts(inf):
    return mp(_maybe(inf, [b"", b"\r\n", text_part(b"")]))


def e_nested_empty(inf):
    inner = b"Content-Type: multipart/alternative; boundary=\"in\"\r\n\r\n--in\r\n--in--\r\n"
    inner2 = b"Content-Type: multipart/related; boundary=\"in2\"\r\n\r\n--in2--\r\n"
    return mp(_maybe(inf, [inner, inner2]))


def e_no_parts(inf):
    if not inf:
        return HDR + b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b--\r\n"
    return mp([att(True)])


def e_empty_body(inf):
    if not inf:
        return HDR + b"Content-Type: text/plain\r\n\r\n"
    return mp([att(True)])


def e_headers_only(inf):
    if not inf:
        return HDR.rstrip(b"\r\n")
    return mp([att(True)])


def e_empty_rfc822(inf):
    return mp(_maybe(inf, [b"Content-Type: message/rfc822\r\n\r\n"]))


SHAPES_2 = [e_only_empty_part, e_empty_preamble, e_empty_epilogue, e_empty_parts,
            e_nested_empty, e_no_parts, e_empty_body, e_headers_only, e_empty_rfc822]


def with_x(msg, x):
    """The message with one extra field on top (after a BOM, as a relay would not see it)."""
    if not x:
        return msg
    return X_TOP + msg


# ------------------------------------------------- infecting a real message

_CT_RE = re.compile(rb"^content-type[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.I | re.M)
_B_RE = re.compile(rb"boundary[ \t]*=[ \t]*(\"[^\"]*\"|[^;\s]+)", re.I)


def top_boundary(msg):
    """The boundary of the top-level multipart, or None."""
    end = re.search(rb"\r?\n\r?\n", msg)
    head = msg[:end.start() + 1] if end else msg
    m = _CT_RE.search(head)
    if not m or not re.search(rb"multipart/", m.group(1), re.I):
        return None
    b = _B_RE.search(m.group(1))
    if not b:
        return None
    v = b.group(1)
    return v[1:-1] if v.startswith(b"\"") else v


def insert_infected(msg):
    """
    msg with a base64 EICAR part added inside its own structure: after the
    first delimiter of its top-level multipart, or, if it is not multipart,
    as a uuencode-free replacement: the body wrapped in a new multipart.
    Line ends follow the message's.
    """
    eol = b"\r\n" if b"\r\n" in msg[:2000] else b"\n"
    part = att(True, name=b"inserted.com").replace(b"\r\n", eol)
    b = top_boundary(msg)
    if b is not None:
        delim = b"--" + b
        i = msg.find(eol + delim)
        if i >= 0 and msg[i + len(eol) + len(delim):][:2] != b"--":
            j = i + len(eol)
            return msg[:j] + delim + eol + part + eol + msg[j:]
    # Not multipart: the whole message becomes part 1 of a new multipart.
    nb = b"=_inserted_boundary"
    return (b"MIME-Version: 1.0" + eol + b"Content-Type: multipart/mixed; boundary=\"" + nb +
            b"\"" + eol + eol + b"--" + nb + eol + b"Content-Type: message/rfc822" + eol + eol +
            msg + eol + b"--" + nb + eol + part + eol + b"--" + nb + b"--" + eol)
