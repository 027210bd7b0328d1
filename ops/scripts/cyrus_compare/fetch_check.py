"""FETCH (ENVELOPE, BODYSTRUCTURE, BODY, sections, BINARY), APPEND and SEARCH over a
generated corpus of 52 awkward messages (RFC 2047/2231 encodings, groups, broken
MIME, missing boundaries, 8-bit headers, LF-only lines, unknown transfer
encodings...), namespace config a (altnamespace, unixhierarchysep).

Each message is appended to u1's INBOX on both servers, then every item of
FETCH_ITEMS (and the extra sections given with the message) is fetched by UID
and compared value by value; SEARCH results are compared as corpus indexes."""

import re
import sys

from clients import imap_login, literal
from report import Response, Step, imap_status, normalize
from servers import ADMIN

NAME = "fetch"

CRLF = b"\r\n"


def msg(headers, body=b"", sep=True):
    """headers: list of str/bytes header lines (may contain their own folding);
    body: str/bytes with \\n line ends (converted to CRLF)."""
    hs = [h.encode("utf-8") if isinstance(h, str) else h for h in headers]
    hs = [h.replace(b"\r\n", b"\n").replace(b"\n", CRLF) for h in hs]
    b = body.encode("utf-8") if isinstance(body, str) else body
    b = b.replace(b"\r\n", b"\n").replace(b"\n", CRLF)
    out = CRLF.join(hs) + CRLF
    if sep:
        out += CRLF + b
    return out


STD = ["Date: Mon, 3 Jun 2024 10:00:00 +0200", "From: Alice Example <alice@example.com>",
       "To: Bob <bob@example.org>", "Message-ID: <m%d@example.com>"]


def std(i, subject, extra=()):
    return [STD[0], STD[1], STD[2], STD[3] % i, "Subject: " + subject] + list(extra)


B64_ZEBRA = "VGhpcyB0ZXh0IGhpZGVzIHRoZSB3b3JkIHplYnJhYmFzZTY0IGluc2lkZSBiYXNlNjQu\nClNlY29uZCBsaW5lLgo=\n"
# "This text hides the word zebrabase64 inside base64.\nSecond line.\n"
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA\n60e6kgAAAABJRU5ErkJggg==\n"


def build_corpus():
    C = []  # (name, bytes, extra fetch sections)

    def add(name, data, extra=()):
        C.append((name, data, list(extra)))

    add("plain text/plain, simple", msg(std(1, "plain message", ["MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii"]), "Hello Bob,\nplain body line.\n"))
    add("no Content-Type, no MIME-Version", msg(std(2, "no content type"), "Body without any MIME headers.\n"))
    add("charset quoted, format=flowed, extra params", msg(std(3, "charset quoted", ["MIME-Version: 1.0",
        'Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes']), "Quoted charset body \n"))
    add("uppercase type/charset names, unquoted", msg(std(4, "uppercase", ["MIME-Version: 1.0",
        "Content-Type: TEXT/PLAIN; CHARSET=Iso-8859-1", "Content-Transfer-Encoding: 7BIT"]), "Upper case type.\n"))
    add("multipart/alternative text+html", msg(std(5, "alternative", ["MIME-Version: 1.0",
        'Content-Type: multipart/alternative; boundary="alt-b"']),
        "--alt-b\nContent-Type: text/plain; charset=utf-8\n\nplain part\n--alt-b\n"
        "Content-Type: text/html; charset=utf-8\n\n<p>html part</p>\n--alt-b--\n"))
    add("multipart/mixed, attachment filename*=UTF-8'' (RFC 2231) + name=", msg(std(6, "attachment 2231", [
        "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=mixb"]),
        "--mixb\nContent-Type: text/plain\n\nSee attached.\n--mixb\n"
        "Content-Type: application/pdf; name=\"rates.pdf\"\n"
        "Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf; size=12\n"
        "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQKJeLjz9MK\n--mixb--\n"))
    add("multipart/mixed, RFC 2231 continuations in filename and name", msg(std(7, "2231 continuations", [
        "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=\"c2231\""]),
        "--c2231\nContent-Type: text/plain; charset=us-ascii\n\nbody\n--c2231\n"
        "Content-Type: text/plain;\n name*0=\"a very long \";\n name*1=\"file name.txt\"\n"
        "Content-Disposition: attachment;\n filename*0*=UTF-8''very%20long%20;\n filename*1*=%C3%BCnicode%20;\n"
        " filename*2=\"name.txt\"\n\nattachment text\n--c2231--\n"))
    add("nested multipart mixed(alternative(text, related(html,image)), attachment)", msg(std(8, "nested", [
        "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=outer"]),
        "--outer\nContent-Type: multipart/alternative; boundary=alt\n\n"
        "--alt\nContent-Type: text/plain\n\nnested plain\n"
        "--alt\nContent-Type: multipart/related; boundary=rel; type=\"text/html\"\n\n"
        "--rel\nContent-Type: text/html\n\n<img src=\"cid:img1@x\">\n"
        "--rel\nContent-Type: image/png\nContent-ID: <img1@x>\nContent-Transfer-Encoding: base64\n\n" + PNG_B64 +
        "--rel--\n--alt--\n"
        "--outer\nContent-Type: application/octet-stream; name=data.bin\n"
        "Content-Disposition: attachment; filename=data.bin\nContent-Transfer-Encoding: base64\n\nAAECAwQF\n"
        "--outer--\n", ), ["2.1", "1.2", "1.2.2", "1.2.2.MIME"])
    inner = ("From: Inner Sender <inner@example.net>\nTo: inner-to@example.net\nSubject: =?UTF-8?Q?inner_subj=C3=A9?=\n"
             "Date: Tue, 4 Jun 2024 08:00:00 +0000\nMessage-ID: <inner@example.net>\nMIME-Version: 1.0\n"
             "Content-Type: multipart/alternative; boundary=inb\n\n"
             "--inb\nContent-Type: text/plain\n\ninnerword plain\n--inb\nContent-Type: text/html\n\n<b>innerword</b>\n--inb--\n")
    add("message/rfc822 attachment containing multipart", msg(std(9, "forwarded", [
        "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=fwd"]),
        "--fwd\nContent-Type: text/plain\n\nForwarded message below.\n"
        "--fwd\nContent-Type: message/rfc822\nContent-Disposition: inline\n\n" + inner + "\n--fwd--\n"),
        ["2.HEADER", "2.TEXT", "2.MIME", "2.1.MIME", "2.2", "2.HEADER.FIELDS (SUBJECT)"])
    add("multipart/signed with pgp-signature", msg(std(10, "signed", ["MIME-Version: 1.0",
        'Content-Type: multipart/signed; micalg=pgp-sha256;\n protocol="application/pgp-signature"; boundary="sig"']),
        "This is an OpenPGP/MIME signed message\n--sig\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n\nsigned text\n--sig\n"
        "Content-Type: application/pgp-signature; name=\"signature.asc\"\n"
        "Content-Description: OpenPGP digital signature\nContent-Disposition: attachment; filename=\"signature.asc\"\n\n"
        "-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n\n--sig--\n"))
    add("multipart with missing final boundary", msg(std(11, "missing final boundary", ["MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=nofinal"]),
        "--nofinal\nContent-Type: text/plain\n\nfirst\n--nofinal\nContent-Type: text/plain\n\nsecond, never closed\n"))
    add("multipart with a part with no headers", msg(std(12, "headerless part", ["MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=nh"]),
        "--nh\n\nno headers here\n--nh\nContent-Type: text/html\n\n<p>x</p>\n--nh--\n"))
    add("empty body", msg(std(13, "empty body", ["MIME-Version: 1.0", "Content-Type: text/plain"]), ""))
    add("RFC 2047 Subject (B+Q, adjacent words) and From display name", msg([
        STD[0], "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <pirard@example.be>", STD[2], STD[3] % 14,
        "Subject: =?UTF-8?Q?Caf=C3=A9_au_lait?= =?UTF-8?B?w6AgbGEgY3LDqG1l?= and more"], "encoded words\n"))
    add("RFC 2047 in addresses, encoded word inside quotes", msg([
        STD[0], "From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <jorg@example.de>",
        'To: "=?UTF-8?B?SsO2cmc=?=" <j2@example.de>, =?utf-8?q?Zo=C3=AB?= <zoe@example.de>',
        "Cc: =?UTF-8?Q?bad?encoding?= <bad@example.de>", STD[3] % 15, "Subject: addresses"], "b\n"))
    add("To: undisclosed-recipients:;", msg([STD[0], STD[1], "To: undisclosed-recipients:;", STD[3] % 16,
                                            "Subject: undisclosed"], "b\n"))
    add("To: named group with members, empty group in Cc", msg([STD[0], STD[1],
        "To: A Group: a@b.example, \"C D\" <c@d.example>;, solo@example.com",
        "Cc: Empty:;", STD[3] % 17, "Subject: group"], "b\n"))
    add("addresses without display names / angle only", msg([STD[0], "From: bob@example.com",
        "To: <carol@example.com>, dave@example.com", STD[3] % 18, "Subject: bare addrs"], "b\n"))
    add("addresses with comments", msg([STD[0], "From: bob@example.com (Bob Smith)",
        'To: "Carol" (the boss) <carol@example.com>, dave@example.com (Dave (nested) D)',
        "Cc: (only comment) eve@example.com", STD[3] % 19, "Subject: comments"], "b\n"))
    add("quoted local parts", msg([STD[0], 'From: "john.doe+x"@example.com',
        'To: "weird \\"local\\""@example.com, "john doe"@example.com, "Name, Comma" <nc@example.com>',
        STD[3] % 20, "Subject: quoted local"], "b\n"))
    add("missing Date", msg([STD[1], STD[2], STD[3] % 21, "Subject: no date"], "b\n"))
    add("invalid Date", msg(["Date: not a date at all", STD[1], STD[2], STD[3] % 22, "Subject: bad date"], "b\n"))
    add("very long folded headers", msg([STD[0], STD[1],
        "To: " + ",\n\t".join("Recipient Number %d <r%d@example.com>" % (k, k) for k in range(12)),
        STD[3] % 23, "Subject: This is a very long subject line that goes on and on\n and on, folded with"
        " a space,\n\tand then with a tab, and " + "x" * 200,
        "References: " + "\n ".join("<ref%d.%s@example.com>" % (k, "y" * 30) for k in range(10))], "b\n"))
    add("8-bit raw UTF-8 header bytes", msg([STD[0], "From: J\u00f6rg Raw <raw@example.de>",
        "To: Bob <bob@example.org>", STD[3] % 24, "Subject: Gr\u00fc\u00dfe raw 8bit"], "raw\n"))
    add("LF-only line endings", (msg(std(25, "lf only", ["MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=lfb"]),
        "--lfb\nContent-Type: text/plain\n\nlf line one\nlf line two\n--lfb--\n")).replace(CRLF, b"\n"))
    add("CTE base64 text/plain (search word inside)", msg(std(26, "base64 body", ["MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64"]), B64_ZEBRA))
    add("CTE quoted-printable with soft breaks", msg(std(27, "qp body", ["MIME-Version: 1.0",
        "Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: Quoted-Printable"]),
        "na=EFve caf=E9 quok=\nkaqp split word=3D\nlong line soft break=\n\n"))
    add("CTE 8bit UTF-8 body", msg(std(28, "8bit body", ["MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]), "na\u00efve 8bit body \u20ac\n"))
    add("multipart with CTE binary part", msg(std(29, "binary part", ["MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=binb"]),
        b"--binb\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n"
        b"\x01\x02\xff\xfe binary \x80\x81\n--binb\nContent-Type: text/plain\n\nafter\n--binb--\n"))
    add("single part with Content-Language/Location/MD5/ID/Description", msg(std(30, "all mime headers", [
        "MIME-Version: 1.0", "Content-Type: text/plain; charset=us-ascii",
        "Content-ID: <cid30@example.com>", "Content-Description: A =?UTF-8?Q?d=C3=A9scription?=",
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==", "Content-Language: en-GB, fr",
        "Content-Location: http://example.com/a%20b.txt", "Content-Disposition: inline; filename=a.txt"]), "x\n"))
    add("multipart parts with Content-Language/Location/ID/Description/MD5", msg(std(31, "part mime headers", [
        "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=pm"]),
        "--pm\nContent-Type: text/plain\nContent-Language: de\nContent-Location: part1.txt\n"
        "Content-ID: <p1@x>\nContent-Description: part one\nContent-MD5: AAAAAAAAAAAAAAAAAAAAAA==\n\none\n"
        "--pm\nContent-Type: image/png\nContent-Disposition: inline\nContent-Language: (comment) en\n"
        "Content-Transfer-Encoding: base64\n\n" + PNG_B64 + "--pm--\n"))
    add("lower/mixed case multipart and part types", msg(std(32, "case types", ["MIME-Version: 1.0",
        "content-type: Multipart/MIXED; Boundary=\"CaseB\""]),
        "--CaseB\ncontent-type: text/PLAIN; charset=UTF-8\n\nmixed case\n--CaseB\n"
        "CONTENT-TYPE: IMAGE/Png\nContent-Transfer-Encoding: BASE64\n\n" + PNG_B64 + "--CaseB--\n"))
    add("only headers, no blank line", msg(std(33, "headers only"), sep=False))
    add("only headers, no final CRLF", msg(std(34, "headers only no crlf"), sep=False)[:-2])
    add("duplicate Content-Type headers", msg(std(35, "dup content-type", ["MIME-Version: 1.0",
        "Content-Type: text/html; charset=utf-8", "Content-Type: text/plain; charset=iso-8859-1"]), "<p>dup</p>\n"))
    add("In-Reply-To / Message-ID odd spacing, comments, multiple ids", msg([STD[0], STD[1], STD[2],
        "Message-ID:<nospace@example.com>", "Subject: odd ids",
        "In-Reply-To:   <a@example.com>  (comment)\n <b@example.com> phrase",
        "References: <a@example.com>\n\t<b@example.com>"], "b\n"))
    add("Message-ID with internal spaces, no angle brackets In-Reply-To", msg([STD[0], STD[1], STD[2],
        "Message-ID: <  spaced @ example.com >", "In-Reply-To: bare-id@example.com", "Subject: odd ids 2"], "b\n"))
    add("Sender and Reply-To present, multiple From", msg([STD[0],
        "From: Alice <alice@example.com>, Carol <carol@example.com>", "Sender: Sec <sec@example.com>",
        "Reply-To: List <list@example.com>", "To: Bob <bob@example.org>", "Cc: cc@example.org",
        "Bcc: hidden@example.org", STD[3] % 38, "Subject: sender replyto"], "b\n"))
    add("multipart without boundary parameter", msg(std(39, "no boundary", ["MIME-Version: 1.0",
        "Content-Type: multipart/mixed"]), "--x\nContent-Type: text/plain\n\nlost\n--x--\n"))
    add("top-level message/rfc822 body", msg(std(40, "toplevel rfc822", ["MIME-Version: 1.0",
        "Content-Type: message/rfc822"]), "From: deep@example.com\nSubject: deep\n\ndeep body\n"),
        ["1.HEADER", "1.TEXT", "1.1"])
    add("malformed Content-Type params (empty value, no subtype, stray ;)", msg(std(41, "malformed ct", [
        "MIME-Version: 1.0", "Content-Type: text; charset=; ; foo=\"bar"]), "x\n"))
    add("Content-Type with comments and RFC 2231 charset/lang in name", msg(std(42, "ct comments", [
        "MIME-Version: 1.0",
        "Content-Type: text/plain (a comment); charset=\"us-ascii\" (another);\n name*=iso-8859-1'fr'caf%E9.txt"]),
        "x\n"))
    add("malformed encoded words and folded encoded Subject", msg([STD[0], STD[1], STD[2], STD[3] % 43,
        "Subject: =?UTF-8?Q?first_part_?=\n =?UTF-8?Q?second_part?= =?unknown-charset?Q?zz?= =?UTF-8?X?bad?= "
        "=?UTF-8?B?!!!?=", "Comments: =?UTF-8?Q?Caf=C3=A9?="], "b\n"))
    add("multipart with preamble and epilogue", msg(std(44, "preamble epilogue", ["MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=pe"]),
        "This is the preamble.\n\n--pe\nContent-Type: text/plain\n\npart\n--pe--\nThis is the epilogue.\n"))
    add("multipart/report with delivery-status and rfc822-headers", msg([STD[0],
        "From: Mail Delivery System <MAILER-DAEMON@example.com>", STD[2], STD[3] % 45,
        "Subject: Undelivered Mail", "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status; boundary=rep"],
        "--rep\nContent-Type: text/plain\n\nbounced\n--rep\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; example.com\n\nFinal-Recipient: rfc822; x@example.com\nAction: failed\n"
        "--rep\nContent-Type: text/rfc822-headers\n\nFrom: a@b\nSubject: orig\n--rep--\n"),
        ["2.1", "3.HEADER"])
    add("message/rfc822 part with base64 CTE and message/global", msg(std(46, "rfc822 base64", [
        "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=gb"]),
        "--gb\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
        "RnJvbTogeEB5DQpTdWJqZWN0OiBiNjQgaW5uZXINCg0KYm9keQ0K\n"
        "--gb\nContent-Type: message/global\n\nFrom: g@y\nSubject: glob\n\ngbody\n--gb--\n"),
        ["1.HEADER", "2.HEADER", "1.1", "2.1"])
    add("empty multipart (no parts at all)", msg(std(47, "empty multipart", ["MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=empt"]), "just text, no boundaries\n"))
    add("header without colon, and whitespace before colon", msg([STD[0], STD[1], STD[2], STD[3] % 48,
        "Subject : spaced colon", "This line has no colon", "X-Ok: yes"], "b\n"))
    add("QP lowercase CTE name, us-ascii, soft break inside word", msg(std(49, "qp lower", ["MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: quoted-printable"]),
        "wombat=\nqp and plainwordqp here\n"))
    add("QP mixed-case CTE name, utf-8, no soft break", msg(std(50, "qp mixed", ["MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: Quoted-Printable"]),
        "numbatqp caf=C3=A9\n"))
    add("unknown CTE x-uuencode", msg(std(51, "uuencode", ["MIME-Version: 1.0",
        "Content-Type: application/octet-stream", "Content-Transfer-Encoding: x-uuencode"]),
        "begin 644 a\n#86)C\n`\nend\n"))
    add("base64 body with invalid characters and no padding", msg(std(52, "bad base64", ["MIME-Version: 1.0",
        "Content-Type: text/plain", "Content-Transfer-Encoding: base64"]), "aGVsbG8g!!d29y\nbGQ\n"))
    return C


# ---------------------------------------------------------------- FETCH response parsing

def parse_sexp(s, i):
    """Returns end index of one IMAP value starting at s[i]."""
    c = s[i:i + 1]
    if c == b"(":
        i += 1
        while True:
            while s[i:i + 1] == b" ":
                i += 1
            if s[i:i + 1] == b")":
                return i + 1
            i = parse_sexp(s, i)
    if c == b'"':
        i += 1
        while s[i:i + 1] != b'"':
            i += 2 if s[i:i + 1] == b"\\" else 1
        return i + 1
    m = re.compile(rb"~?\{(\d+)\+?\}\r\n").match(s, i)
    if m:
        return m.end() + int(m.group(1))
    # atom, possibly with [section] and <partial>
    j = i
    depth = 0
    while j < len(s):
        ch = s[j:j + 1]
        if ch == b"[":
            depth += 1
        elif ch == b"]":
            depth -= 1
        elif depth == 0 and ch in b" ()":
            break
        j += 1
    return j


def fetch_items(line):
    """'* n FETCH (k v k v)' -> {KEY: raw value} (keys upper-cased)."""
    m = re.match(rb"\* \d+ FETCH ", line)
    if not m:
        return None
    s = line[m.end():]
    items = {}
    i = 1
    try:
        while i < len(s) and s[i:i + 1] != b")":
            while s[i:i + 1] == b" ":
                i += 1
            k_end = parse_sexp(s, i)
            key = s[i:k_end].upper()
            i = k_end + 1
            v_end = parse_sexp(s, i)
            items[key] = s[i:v_end]
            i = v_end
    except Exception:  # noqa: BLE001
        items[b"PARSE-ERROR"] = s
    return items


def show(b):
    """bytes -> printable str (non-ASCII/control as \\xNN, CRLF shown as \\r\\n)."""
    out = []
    for ch in b:
        if ch == 13:
            out.append("\\r")
        elif ch == 10:
            out.append("\\n")
        elif 32 <= ch < 127:
            out.append(chr(ch))
        else:
            out.append("\\x%02x" % ch)
    return "".join(out)


# ---------------------------------------------------------------- scenario

APPEND_DATE = b'"03-Jun-2024 10:00:00 +0200"'

FETCH_ITEMS = ["ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822.SIZE", "BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]",
               "BODY.PEEK[1]", "BODY.PEEK[1.MIME]", "BODY.PEEK[2.1]",
               "BODY.PEEK[HEADER.FIELDS (Subject From)]", "BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
               "BODY.PEEK[]<0.100>", "BINARY.PEEK[1]", "BINARY.SIZE[1]"]

SEARCHES = [
    b"SUBJECT lait",
    b"CHARSET UTF-8 SUBJECT " + literal("Caf\u00e9".encode()),
    b"CHARSET UTF-8 SUBJECT " + literal("cr\u00e8me".encode()),
    b"SUBJECT \"inner\"",
    b"CHARSET UTF-8 SUBJECT " + literal("Gr\u00fc\u00dfe".encode()),
    b"FROM Pirard",
    b"CHARSET UTF-8 FROM " + literal("Andr\u00e9".encode()),
    b"CHARSET UTF-8 FROM " + literal("M\u00fcller".encode()),
    b"FROM \"Alice Example\"",
    b"CHARSET UTF-8 TO " + literal("Zo\u00eb".encode()),
    b"TO undisclosed",
    b"TO \"A Group\"",
    b"BODY zebrabase64",
    b"BODY quokkaqp",
    b"BODY quok",
    b"BODY wombatqp",
    b"BODY plainwordqp",
    b"BODY numbatqp",
    b"BODY hello",
    b"BODY \"split word=\"",
    b"CHARSET UTF-8 BODY " + literal("na\u00efve".encode()),
    b"CHARSET UTF-8 BODY " + literal("caf\u00e9".encode()),
    b"BODY innerword",
    b"TEXT innerword",
    b"TEXT Pirard",
    b"TEXT zebrabase64",
    b"BODY preamble",
    b"BODY epilogue",
    b"HEADER Message-ID nospace",
    b"HEADER In-Reply-To b@example.com",
    b"NOT HEADER Date \"\"",
    b"SENTON 3-Jun-2024",
    b"SENTBEFORE 1-Jan-2000",
    b"LARGER 2000",
    b"HEADER Content-Type text/plain",
    b"CHARSET UTF-8 TEXT " + literal("\u20ac".encode()),
    b"CHARSET UTF-8 HEADER Content-Description " + literal("d\u00e9scription".encode()),
]


LITERAL_START = re.compile(rb"~?\{(\d+)\}\r\n")


def canonical_strings(value):
    """Every string of a FETCH value, quoted or literal, written as a quoted string:
    a server may send any string either way (RFC 3501 4.3), so only content counts."""
    out = bytearray()
    i = 0
    while i < len(value):
        m = LITERAL_START.match(value, i)
        if value[i:i + 1] == b'"':
            j = i + 1
            content = bytearray()
            while j < len(value) and value[j:j + 1] != b'"':
                if value[j:j + 1] == b"\\":
                    j += 1
                content += value[j:j + 1]
                j += 1
            i = j + 1
        elif m:
            content = value[m.end():m.end() + int(m.group(1))]
            i = m.end() + int(m.group(1))
        else:
            out += value[i:i + 1]
            i += 1
            continue
        out += b'"' + bytes(content).replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return bytes(out)


def _fetch_values(untagged, tagged):
    """FETCH items other than UID and FLAGS as printable "KEY value" lines."""
    values = []
    for line in untagged:
        items = fetch_items(line)
        if items is None:
            values.append("untagged: " + show(line))
            continue
        items.pop(b"UID", None)
        items.pop(b"FLAGS", None)
        values += [show(k) + " " + show(canonical_strings(v)) for k, v in items.items()]
    status = imap_status(tagged.decode("latin-1"))
    return Response(values, "" if status == "OK" else status, "" if status == "OK" else show(tagged))


def run(workspace, progress=sys.stderr):
    corpus = build_corpus()
    progress.write("fetch: %d messages\n" % len(corpus))
    cyrus, ours = workspace.start_pair(NAME, True)
    servers = (cyrus, ours)
    steps = []
    try:
        sessions = {}
        for server in servers:
            admin = imap_login(server.port, ADMIN)
            admin.cmd('CREATE "user/u1"')
            admin.close()
            sessions[server.label] = imap_login(server.port, "u1")
        # corpus index -> UID, per server (a message one server refuses is not fetched)
        uids = {"cyrus": {}, "ours": {}}
        for index, (name, data, _) in enumerate(corpus):
            answers = {}
            for label, session in sessions.items():
                _, tagged = session.bcmd(b"APPEND INBOX () " + APPEND_DATE + b" " + literal(data))
                m = re.search(rb"APPENDUID \d+ (\d+)", tagged)
                if m:
                    uids[label][index] = int(m.group(1))
                text = tagged.decode("latin-1")
                status = re.sub(r"(APPENDUID <uv>) \d+", r"\1 <uid>", imap_status(text))
                answers[label] = Response([], status, normalize(show(tagged)))
            steps.append(Step("APPEND", "", "#%02d %s" % (index, name), answers["cyrus"], answers["ours"]))
        for session in sessions.values():
            session.bcmd(b"SELECT INBOX")
        for index, (name, data, extra_sections) in enumerate(corpus):
            if index not in uids["cyrus"] or index not in uids["ours"]:
                continue
            for item in FETCH_ITEMS + ["BODY.PEEK[%s]" % s for s in extra_sections]:
                answers = {label: _fetch_values(*session.bcmd(b"UID FETCH %d (%s)" % (uids[label][index],
                                                                                     item.encode())))
                           for label, session in sessions.items()}
                steps.append(Step("FETCH", "", "#%02d %s: %s" % (index, name, item), answers["cyrus"],
                                  answers["ours"]))
        index_of_uid = {label: {uid: index for index, uid in by_index.items()} for label, by_index in uids.items()}
        for criteria in SEARCHES:
            answers = {}
            for label, session in sessions.items():
                untagged, tagged = session.bcmd(b"UID SEARCH " + criteria)
                hits = []
                for line in untagged:
                    if line.startswith(b"* SEARCH"):
                        hits += [index_of_uid[label].get(int(x), -1) for x in line.split()[2:]]
                # only messages stored on both servers are comparable
                hits = sorted(h for h in hits if h in uids["cyrus"] and h in uids["ours"])
                text = tagged.decode("latin-1")
                answers[label] = Response(["matches " + " ".join("#%02d" % h for h in hits)], imap_status(text),
                                          normalize(show(tagged)))
            steps.append(Step("SEARCH", "", "UID SEARCH " + show(criteria), answers["cyrus"], answers["ours"]))
        for session in sessions.values():
            session.close()
    finally:
        workspace.stop_pair(servers)
    return steps
