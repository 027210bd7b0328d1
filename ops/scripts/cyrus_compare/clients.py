"""Raw line clients for IMAP, POP3 and LMTP on 127.0.0.1.

Deliberately minimal (no imaplib/poplib): the checks compare the servers'
exact lines, so nothing may be parsed away or retried."""

import re
import socket

from servers import password_of

SYNC_LITERAL = re.compile(rb"\{(\d+)\}\r\n")
LITERAL_AT_END = re.compile(rb"~?\{(\d+)\+?\}$")


class LineConnection:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def read_line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_exact(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed")
            self.buf += data
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def close(self):
        self.sock.close()


class Imap(LineConnection):
    """cmd() takes and returns str; bcmd() bytes (for 8-bit message data)."""

    def __init__(self, port):
        super().__init__(port)
        self.tag_count = 0
        self.greeting = self.read_line().decode(errors="replace")

    def _response_line(self):
        """One logical response line, literals inlined as {n}\\r\\n<bytes>."""
        line = self.read_line()
        while True:
            m = LITERAL_AT_END.search(line)
            if not m:
                return line
            line = line + b"\r\n" + self.read_exact(int(m.group(1))) + self.read_line()

    def bcmd(self, command):
        """Sends one command (without tag); synchronizing literals {n}\\r\\n in it wait
        for the server's "+". Returns (untagged lines, tagged line without the tag)."""
        self.tag_count += 1
        tag = b"T%d" % self.tag_count
        data = tag + b" " + command
        pending = b""
        pos = 0
        while True:
            m = SYNC_LITERAL.search(data, pos)
            if not m:
                break
            self.sock.sendall(pending + data[pos:m.end()])
            reply = self.read_line()
            if not reply.startswith(b"+"):
                # Refused before the literal (e.g. NO [OVERQUOTA]): the command is over.
                return [], reply[len(tag) + 1:] if reply.startswith(tag + b" ") else reply
            end = m.end() + int(m.group(1))
            pending = data[m.end():end]
            pos = end
        self.sock.sendall(pending + data[pos:] + b"\r\n")
        untagged = []
        while True:
            line = self._response_line()
            if line.startswith(tag + b" "):
                return untagged, line[len(tag) + 1:]
            untagged.append(line)

    def cmd(self, command):
        untagged, tagged = self.bcmd(command.encode())
        return [u.decode(errors="replace") for u in untagged], tagged.decode(errors="replace")

    def login(self, user):
        _, tagged = self.cmd('LOGIN "%s" "%s"' % (user, password_of(user)))
        if not tagged.startswith("OK"):
            raise RuntimeError("login %s failed: %s" % (user, tagged))

    def close(self):
        try:
            self.cmd("LOGOUT")
        except (OSError, EOFError):
            pass
        super().close()


def imap_login(port, user):
    conn = Imap(port)
    conn.login(user)
    return conn


def literal(data):
    """A synchronizing literal of bytes or str."""
    if isinstance(data, str):
        data = data.encode()
    return b"{%d}\r\n" % len(data) + data


class Pop3(LineConnection):
    MULTILINE = ("CAPA", "TOP", "RETR")

    def __init__(self, port):
        super().__init__(port)
        self.greeting = self.read_line().decode(errors="replace")

    def cmd(self, command):
        """Returns (lines of a multi-line answer, first line)."""
        self.sock.sendall(command.encode() + b"\r\n")
        first = self.read_line().decode(errors="replace")
        words = command.split()
        verb = words[0].upper()
        multiline = verb in self.MULTILINE or (verb in ("LIST", "UIDL") and len(words) == 1)
        lines = []
        if first.startswith("+OK") and multiline:
            while True:
                line = self.read_line().decode(errors="replace")
                if line == ".":
                    break
                lines.append(line)
        return lines, first


class Lmtp(LineConnection):
    def __init__(self, port):
        super().__init__(port)
        self.greeting = self.read_line().decode(errors="replace")

    def _reply(self):
        lines = []
        while True:
            line = self.read_line().decode(errors="replace")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return lines

    def cmd(self, command, replies=1):
        """replies: how many replies the command gets (DATA's end: one per recipient).
        Returns (all lines but the last, the last)."""
        self.sock.sendall(command.encode() + b"\r\n")
        lines = []
        for _ in range(replies):
            lines += self._reply()
        return lines[:-1], lines[-1]
