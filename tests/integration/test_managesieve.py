"""ManageSieve (RFC 5804, cyrus.conf cmd="timsieved") against a running
cyr_master: a raw-socket client for the protocol itself (capabilities,
AUTHENTICATE PLAIN and SCRAM-SHA-256 with initial responses and
continuations, proxy authorization, PUTSCRIPT with literals, LISTSCRIPTS,
SETACTIVE, GETSCRIPT byte for byte, CHECKSCRIPT errors with their line,
DELETESCRIPT/RENAMESCRIPT rules, HAVESPACE and the size and count limits,
bad input, over-long lines and literals, a replica refusing writes,
shutdown), then Debian's real Cyrus clients when they are installed:
sieveshell (cyrus-admin) and sivtest (cyrus-clients)."""

import base64
import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import tempfile

from harness import Node, run_tests

CYRUS_CONF = 'SERVICES {\n  sieve cmd="timsieved" listen="127.0.0.1:0"\n}\n'

# Small limits so that tests reach them: 4 KiB scripts, 3 per user.
IMAPD_EXTRA = ("admins: admin\n"
               "allowplaintext: yes\n"
               "sieve_maxscripts: 3\n"
               "sieve_maxscriptsize: 4\n"
               "failedloginpause: 1s\n")

USERS = {"pat": "patsecret", "ann": "annsecret", "admin": "adminsecret"}

GOOD_SCRIPT = (b'require ["fileinto"];\r\n'
               b'# a comment with "quotes", a {3} and UTF-8: \xc3\x9c\r\n'
               b'if header :contains "subject" "report" {\r\n'
               b'  fileinto "INBOX.reports";\r\n'
               b'}\n'
               b'keep;\r\n')

BAD_SCRIPT_LINE_3 = b'require "fileinto";\r\nkeep;\r\nfrobnicate "x";\r\n'


def set_passwords(node, users):
    """Gives each user of `users` (name: password) its password on `node`."""
    for user, pw in users.items():
        p = subprocess.run([os.path.join(node.bin_dir, "cyr_passwd"), "-C", node.imapd_conf, user],
                           input=(pw + "\n").encode(), capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr


class SieveNode(Node):
    def __init__(self, args, extra=""):
        super().__init__(args.bin, CYRUS_CONF, IMAPD_EXTRA + extra, keep=args.keep)

    def start(self, **kw):
        super().start(**kw)
        set_passwords(self, USERS)
        return self

    def addr(self):
        host, port = self.ports()["sieve"][0].rsplit(":", 1)
        return host, int(port)

    def client(self):
        return Sieve(self.addr())

    def login(self, user="pat"):
        c = self.client()
        r = c.auth_plain(user, USERS[user])
        assert r.ok, r
        return c


class Resp:
    """A final response line: OK, NO or BYE, its code and text; `lines` are
    the token lists of the lines before it (LISTSCRIPTS, capabilities...)."""

    def __init__(self, tokens, lines):
        self.kind = tokens[0][1].decode()
        self.code, self.code_arg, self.text = None, None, None
        self.lines = lines
        rest = tokens[1:]
        if rest and rest[0][0] == "(":
            close = next(i for i, t in enumerate(rest) if t[0] == ")")
            inner = rest[1:close]
            self.code = inner[0][1].decode()
            if len(inner) > 1:
                self.code_arg = inner[1][1]
            rest = rest[close + 1:]
        if rest:
            self.text = rest[0][1].decode(errors="replace")

    @property
    def ok(self):
        return self.kind == "OK"

    def __repr__(self):
        return "<%s (%s %r) %r>" % (self.kind, self.code, self.code_arg, self.text)


def quoted(s):
    if isinstance(s, str):
        s = s.encode()
    return b'"' + s.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def literal(data):
    return b"{%d+}\r\n" % len(data) + data


class Sieve:
    """A minimal ManageSieve client over a raw socket; every read is bounded."""

    MAX_BUFFER = 1 << 22

    def __init__(self, addr, timeout=60):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.buf = b""
        self.greeting = self.response()
        assert self.greeting.ok, self.greeting

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buf += chunk
        assert len(self.buf) < self.MAX_BUFFER, "runaway response"

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def tokens(self):
        """One logical line as tokens ("atom"|"str"|"("|")", bytes); literals
        are read in place and the line goes on after them."""
        toks = []
        line, i = self.line(), 0
        for _ in range(10000):
            while line[i:i + 1] == b" ":
                i += 1
            if i >= len(line):
                return toks
            c = line[i:i + 1]
            if c == b'"':
                j, out = i + 1, bytearray()
                while line[j:j + 1] != b'"':
                    if line[j:j + 1] == b"\\":
                        j += 1
                    out += line[j:j + 1]
                    j += 1
                toks.append(("str", bytes(out)))
                i = j + 1
            elif c == b"{":
                j = line.index(b"}", i)
                toks.append(("str", self.exact(int(line[i + 1:j].rstrip(b"+")))))
                line, i = self.line(), 0
            elif c in (b"(", b")"):
                toks.append((c.decode(), c))
                i += 1
            else:
                j = i
                while j < len(line) and line[j:j + 1] not in (b" ", b"(", b")"):
                    j += 1
                toks.append(("atom", line[i:j]))
                i = j
        raise AssertionError("line with too many tokens")

    def response(self):
        lines = []
        for _ in range(10000):
            t = self.tokens()
            if t and t[0][0] == "atom" and t[0][1] in (b"OK", b"NO", b"BYE"):
                return Resp(t, lines)
            lines.append(t)
        raise AssertionError("no final response")

    def cmd(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.send(data + b"\r\n")
        return self.response()

    def capabilities(self, resp=None):
        resp = resp or self.cmd("CAPABILITY")
        assert resp.ok, resp
        return {t[0][1].decode(): (t[1][1].decode() if len(t) > 1 else None) for t in resp.lines}

    def auth_plain(self, user, password, authz=""):
        msg = ("%s\0%s\0%s" % (authz, user, password)).encode()
        return self.cmd(b'AUTHENTICATE "PLAIN" ' + quoted(base64.b64encode(msg)))

    def put(self, name, script):
        return self.cmd(b"PUTSCRIPT " + quoted(name) + b" " + literal(script))

    def list(self):
        r = self.cmd("LISTSCRIPTS")
        assert r.ok, r
        return {t[0][1].decode(): len(t) > 1 and t[1][1] == b"ACTIVE" for t in r.lines}

    def get(self, name):
        r = self.cmd(b"GETSCRIPT " + quoted(name))
        return r, (r.lines[0][0][1] if r.ok else None)

    def closed(self):
        """True once the server has closed the connection (reads what is left)."""
        try:
            for _ in range(1000):
                self._fill()
        except (EOFError, ConnectionResetError):
            return True
        return False


# ---- the protocol ---------------------------------------------------------------------------

def test_greeting_capabilities_and_state(args):
    with SieveNode(args) as n:
        n.start()
        c = n.client()
        caps = c.capabilities(c.greeting)
        assert caps["IMPLEMENTATION"], caps
        assert caps["VERSION"] == "1.0", caps
        assert "PLAIN" in caps["SASL"].split() and "SCRAM-SHA-256" in caps["SASL"].split(), caps
        assert "fileinto" in caps["SIEVE"].split(), caps
        assert caps["MAXREDIRECTS"] == "5", caps
        assert "STARTTLS" not in caps and "OWNER" not in caps, caps  # no TLS configured
        assert c.capabilities() == caps
        for before_auth in ("LISTSCRIPTS", 'GETSCRIPT "x"', 'PUTSCRIPT "x" "keep;"', 'CHECKSCRIPT "keep;"'):
            r = c.cmd(before_auth)
            assert r.kind == "NO" and "uthenticate" in r.text, (before_auth, r)
        r = c.cmd('NOOP "tag-1"')
        assert r.ok and r.code == "TAG" and r.code_arg == b"tag-1", r
        assert c.auth_plain("pat", USERS["pat"]).ok
        after = c.capabilities()
        assert after["OWNER"] == "pat" and "SASL" not in after, after
        r = c.auth_plain("pat", USERS["pat"])
        assert r.kind == "NO", r  # already authenticated
        r = c.cmd("LOGOUT")
        assert r.ok, r
        assert c.closed()
        assert n.stop() == 0


def test_script_lifecycle(args):
    with SieveNode(args) as n:
        n.start()
        c = n.login()
        assert c.list() == {}
        r = c.put("filters", GOOD_SCRIPT)
        assert r.ok, r
        assert c.list() == {"filters": False}
        r, body = c.get("filters")
        assert r.ok and body == GOOD_SCRIPT, (r, body)
        assert c.cmd('SETACTIVE "filters"').ok
        assert c.list() == {"filters": True}
        r = c.cmd('DELETESCRIPT "filters"')
        assert r.kind == "NO" and r.code == "ACTIVE", r
        assert c.put("other", b"keep;\r\n").ok
        r = c.cmd('RENAMESCRIPT "filters" "other"')
        assert r.kind == "NO" and r.code == "ALREADYEXISTS", r
        r = c.cmd('RENAMESCRIPT "missing" "x"')
        assert r.kind == "NO" and r.code == "NONEXISTENT", r
        assert c.cmd('RENAMESCRIPT "filters" "main"').ok
        assert c.list() == {"main": True, "other": False}, c.list()
        r, _ = c.get("filters")
        assert r.kind == "NO" and r.code == "NONEXISTENT", r
        r = c.cmd('SETACTIVE "missing"')
        assert r.kind == "NO" and r.code == "NONEXISTENT", r
        # A second session sees the same scripts (they are in the store).
        c2 = n.login()
        assert c2.list() == {"main": True, "other": False}
        r, body = c2.get("main")
        assert body == GOOD_SCRIPT, body
        # Replacing a script keeps it active; "" deactivates.
        assert c2.put("main", b"keep;\r\n").ok
        assert c2.list()["main"] is True
        assert c.cmd('SETACTIVE ""').ok
        assert c.list() == {"main": False, "other": False}
        assert c.cmd('DELETESCRIPT "main"').ok
        r = c.cmd('DELETESCRIPT "main"')
        assert r.kind == "NO" and r.code == "NONEXISTENT", r
        assert c.list() == {"other": False}
        # Another user's scripts are separate.
        c3 = n.login("ann")
        assert c3.list() == {}
        for s in (c, c2, c3):
            s.close()
        assert n.stop() == 0


def test_checkscript_and_compile_errors(args):
    with SieveNode(args) as n:
        n.start()
        c = n.login()
        assert c.cmd(b"CHECKSCRIPT " + literal(GOOD_SCRIPT)).ok
        r = c.cmd(b"CHECKSCRIPT " + literal(BAD_SCRIPT_LINE_3))
        assert r.kind == "NO" and r.text and "line 3" in r.text.lower(), r
        r = c.put("broken", BAD_SCRIPT_LINE_3)
        assert r.kind == "NO" and "line 3" in r.text.lower(), r
        r = c.put("unknown-ext", b'require "x-no-such-extension";\r\nkeep;\r\n')
        assert r.kind == "NO", r
        assert c.list() == {}, "a script that does not compile must not be stored"
        assert c.cmd('CHECKSCRIPT "keep;"').ok  # quoted strings are scripts too
        c.close()
        assert n.stop() == 0


def test_limits(args):
    with SieveNode(args) as n:
        n.start()
        c = n.login()
        assert c.cmd('HAVESPACE "a" 100').ok
        r = c.cmd('HAVESPACE "a" 5000')
        assert r.kind == "NO" and r.code == "QUOTA/MAXSIZE", r
        for name in ("s1", "s2", "s3"):
            assert c.put(name, b"keep;\r\n").ok
        r = c.cmd('HAVESPACE "s4" 10')
        assert r.kind == "NO" and r.code == "QUOTA/MAXSCRIPTS", r
        assert c.cmd('HAVESPACE "s1" 10').ok  # replacing does not add a script
        r = c.put("s4", b"keep;\r\n")
        assert r.kind == "NO" and r.code == "QUOTA/MAXSCRIPTS", r
        assert c.put("s1", b"discard;\r\n").ok
        assert sorted(c.list()) == ["s1", "s2", "s3"]
        # Over the size limit: a literal that is kept, then one that is
        # read and thrown away; the session goes on either way.
        big = b"# " + b"x" * 10000 + b"\r\nkeep;\r\n"
        r = c.cmd(b'PUTSCRIPT "big" ' + literal(big))
        assert r.kind == "NO" and r.code == "QUOTA/MAXSIZE", r
        huge = b"#" * 100000
        r = c.cmd(b'PUTSCRIPT "huge" ' + literal(huge))
        assert r.kind == "NO" and r.code == "QUOTA/MAXSIZE", r
        r = c.cmd(b"CHECKSCRIPT " + literal(huge))
        assert r.kind == "NO" and r.code == "QUOTA/MAXSIZE", r
        assert c.cmd('NOOP "still-here"').ok
        # Script names.
        assert c.cmd('DELETESCRIPT "s3"').ok
        for bad in (b'""', b'"a/b"', literal(b"tab\there"), literal(b"\xff\xfe"), quoted(b"n" * 513)):
            r = c.cmd(b"PUTSCRIPT " + bad + b' "keep;"')
            assert r.kind == "NO", (bad, r)
        assert c.put("\u00dcber filters", b"keep;\r\n").ok
        assert "\u00dcber filters" in c.list()
        c.close()
        assert n.stop() == 0


def test_bad_input(args):
    with SieveNode(args) as n:
        n.start()
        c = n.login()
        for bad in (b"FROBNICATE", b'GETSCRIPT "a\\x"', b"GETSCRIPT (", b'NOOP "a" "b" "c" "d" "e"',
                    b'HAVESPACE "a" "10"', b"PUTSCRIPT", b'GETSCRIPT "unterminated', b"\x01\x02"):
            r = c.cmd(bad)
            assert r.kind == "NO", (bad, r)
        # A bad command's literal is consumed, not run as commands.
        r = c.cmd(b"NOOP ( " + literal(b'LOGOUT\r\nDELETESCRIPT "x"'))
        assert r.kind == "NO", r
        r = c.cmd('NOOP "after"')
        assert r.ok and r.code_arg == b"after", r
        # Pipelined commands are answered in order.
        c.send(b'NOOP "p1"\r\nPUTSCRIPT "p" {5+}\r\nkeep;\r\nNOOP "p2"\r\nLISTSCRIPTS\r\n')
        answers = [c.response() for _ in range(4)]
        assert [a.kind for a in answers] == ["OK"] * 4, answers
        assert answers[0].code_arg == b"p1" and answers[2].code_arg == b"p2"
        assert answers[3].lines[0][0][1] == b"p"
        # An absurd literal is not read: BYE, and the connection is closed.
        c.send(b'PUTSCRIPT "x" {100000000+}\r\n')
        r = c.response()
        assert r.kind == "BYE", r
        assert c.closed()
        # An over-long line ends the session: its skipped rest announced a
        # literal, whose octets must not be run as commands.
        c = n.login()
        assert c.put("keepme", b"keep;\r\n").ok
        c.send(b'PUTSCRIPT "' + b"x" * 40000 + b'" ' + literal(b'DELETESCRIPT "keepme"\r\n'))
        r = c.response()
        assert r.kind == "BYE" and "too long" in r.text.lower(), r
        assert c.closed()
        c = n.login()
        assert "keepme" in c.list()
        c.close()
        assert n.stop() == 0


# ---- authentication -----------------------------------------------------------------------

def scram_sha256_exchange(c, user, password):
    """AUTHENTICATE SCRAM-SHA-256 with an initial response; the server's
    challenge comes as a string, our answer goes as a literal, and the
    server's signature comes in OK (SASL ...)."""
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=%s,r=%s" % (user, nonce)
    c.send(b'AUTHENTICATE "SCRAM-SHA-256" ' + quoted(base64.b64encode(("n,," + first_bare).encode())) + b"\r\n")
    t = c.tokens()
    assert t and t[0][0] == "str", t
    server_first = base64.b64decode(t[0][1]).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(nonce), attrs
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    without_proof = "c=biws,r=" + attrs["r"]
    auth_msg = ",".join([first_bare, server_first, without_proof]).encode()
    signature = hmac.new(hashlib.sha256(client_key).digest(), auth_msg, "sha256").digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
    c.send(literal(base64.b64encode((without_proof + ",p=" + proof).encode())) + b"\r\n")
    r = c.response()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    expected = "v=" + base64.b64encode(hmac.new(server_key, auth_msg, "sha256").digest()).decode()
    return r, expected


def test_authentication(args):
    with SieveNode(args) as n:
        n.start()
        # Wrong password: NO, logged as a badlogin, and the session goes on.
        c = n.client()
        r = c.auth_plain("pat", "wrong")
        assert r.kind == "NO", r
        n.wait_log("badlogin")
        assert c.auth_plain("pat", USERS["pat"]).ok
        c.close()
        # PLAIN without an initial response: an empty challenge, answered
        # with a literal.
        c = n.client()
        c.send(b'AUTHENTICATE "PLAIN"\r\n')
        t = c.tokens()
        assert t == [("str", b"")], t
        c.send(literal(base64.b64encode(b"\0pat\0" + USERS["pat"].encode())) + b"\r\n")
        r = c.response()
        assert r.ok, r
        assert c.list() == {}
        c.close()
        # Aborting an exchange with "*".
        c = n.client()
        c.send(b'AUTHENTICATE "PLAIN"\r\n')
        c.tokens()
        r = c.cmd('"*"')
        assert r.kind == "NO", r
        r = c.cmd('AUTHENTICATE "NO-SUCH-MECH"')
        assert r.kind == "NO", r
        # SCRAM-SHA-256, with the server's final message in OK (SASL ...).
        r, expected = scram_sha256_exchange(c, "pat", USERS["pat"])
        assert r.ok and r.code == "SASL", r
        assert base64.b64decode(r.code_arg).decode() == expected, (r, expected)
        assert c.put("mine", b"keep;\r\n").ok
        # UNAUTHENTICATE returns to the non-authenticated state.
        assert c.cmd("UNAUTHENTICATE").ok
        assert c.cmd("LISTSCRIPTS").kind == "NO"
        assert c.auth_plain("ann", USERS["ann"]).ok
        assert c.list() == {}
        c.close()
        # An admin may act as another user (proxy authorization); a user may not.
        c = n.client()
        assert c.auth_plain("admin", USERS["admin"], authz="pat").ok
        assert c.list() == {"mine": False}
        assert c.capabilities()["OWNER"] == "pat"
        c.close()
        c = n.client()
        r = c.auth_plain("ann", USERS["ann"], authz="pat")
        assert r.kind == "NO", r
        c.close()
        assert n.stop() == 0


def test_starttls(args):
    with SieveNode(args) as n:
        cert, key = n.path("cert.pem"), n.path("key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=120)
        n.write_imapd_conf(IMAPD_EXTRA.replace("allowplaintext: yes", "allowplaintext: no") +
                           "tls_server_cert: %s\ntls_server_key: %s\n" % (cert, key))
        n.start()
        c = n.client()
        caps = c.capabilities(c.greeting)
        assert "STARTTLS" in caps, caps
        assert "PLAIN" not in caps["SASL"].split(), caps  # no plaintext password before TLS
        r = c.auth_plain("pat", USERS["pat"])
        assert r.kind == "NO" and r.code == "ENCRYPT-NEEDED", r
        assert c.cmd("STARTTLS").ok
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        assert c.buf == b""
        c.sock = ctx.wrap_socket(c.sock)
        # RFC 5804 2.2: the capabilities again, now with PLAIN and without STARTTLS.
        caps = c.capabilities(c.response())
        assert "STARTTLS" not in caps and "PLAIN" in caps["SASL"].split(), caps
        assert c.auth_plain("pat", USERS["pat"]).ok
        assert c.put("over-tls", b"keep;\r\n").ok
        assert c.list() == {"over-tls": False}
        c.close()
        assert n.stop() == 0


# ---- the node ---------------------------------------------------------------------------------

def test_replica_refuses_writes(args):
    with SieveNode(args, "failover_role: replica\n") as n:
        n.start()
        c = n.login()
        r = c.put("x", b"keep;\r\n")
        assert r.kind == "NO" and r.code == "TRYLATER", r
        r = c.cmd('SETACTIVE ""')
        assert r.kind == "NO" and r.code == "TRYLATER", r
        assert c.list() == {}  # reads still work
        assert c.cmd(b"CHECKSCRIPT " + literal(GOOD_SCRIPT)).ok
        c.close()
        assert n.stop() == 0


def test_shutdown_says_bye(args):
    with SieveNode(args) as n:
        n.start()
        c = n.login()
        assert n.stop() == 0
        r = c.response()
        assert r.kind == "BYE" and r.code == "TRYLATER", r
        assert c.closed()


# ---- real clients -----------------------------------------------------------------------------

def find_tool(name):
    for path in (shutil.which(name), "/usr/lib/cyrus/bin/" + name):
        if path and os.access(path, os.X_OK):
            return path
    return None


def test_sieveshell(args):
    tool = find_tool("sieveshell")
    if not tool:
        print("SKIP test_sieveshell: sieveshell is not installed (package cyrus-admin)")
        return
    with SieveNode(args) as n:
        n.start()
        host, port = n.addr()
        work = tempfile.mkdtemp(prefix="cyr_sieveshell.")
        try:
            src = os.path.join(work, "upload.siv")
            back = os.path.join(work, "download.siv")
            with open(src, "wb") as f:
                f.write(GOOD_SCRIPT)

            def shell(commands):
                p = subprocess.run([tool, "--user=pat", "--authname=pat", "--password=" + USERS["pat"],
                                    "--exec=" + "\n".join(commands) + "\n", "%s:%d" % (host, port)],
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=120, cwd=work)
                return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")

            rc, out = shell(["put %s vacation" % src, "activate vacation", "list", "get vacation %s" % back])
            assert rc == 0, out
            assert "vacation  <- active script" in out, out
            with open(back, "rb") as f:
                assert f.read() == GOOD_SCRIPT
            c = n.login()
            assert c.list() == {"vacation": True}
            c.close()
            rc, out = shell(["delete vacation"])
            assert rc == 1 and "delete failed" in out, out  # the active script
            rc, out = shell(["deactivate", "delete vacation", "list"])
            assert rc == 0, out
            c = n.login()
            assert c.list() == {}
            c.close()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        assert n.stop() == 0


def test_sivtest(args):
    tool = find_tool("sivtest")
    if not tool:
        print("SKIP test_sivtest: sivtest is not installed (package cyrus-clients)")
        return
    with SieveNode(args) as n:
        n.start()
        host, port = n.addr()
        work = tempfile.mkdtemp(prefix="cyr_sivtest.")
        try:
            for mech in ("PLAIN", "SCRAM-SHA-256", "LOGIN"):
                cmds = os.path.join(work, "cmds")
                name = "via-" + mech.lower()
                with open(cmds, "wb") as f:
                    f.write(b'PUTSCRIPT "%s" {5+}\r\nkeep;\r\nLISTSCRIPTS\r\nLOGOUT\r\n' % name.encode())
                p = subprocess.run([tool, "-a", "pat", "-u", "pat", "-w", USERS["pat"], "-m", mech,
                                    "-p", str(port), "-f", cmds, host],
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
                out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
                assert p.returncode == 0 and "Authenticated." in out, (mech, out)
                assert '"%s"' % name in out, (mech, out)
            c = n.login()
            assert sorted(c.list()) == ["via-login", "via-plain", "via-scram-sha-256"]
            c.close()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        assert n.stop() == 0


if __name__ == "__main__":
    run_tests([test_greeting_capabilities_and_state, test_script_lifecycle, test_checkscript_and_compile_errors,
               test_limits, test_bad_input, test_authentication, test_starttls, test_replica_refuses_writes,
               test_shutdown_says_bye, test_sieveshell, test_sivtest])
