"""SCRAM-SHA-256 on the csync port, byte for byte as Cyrus's sync_client sees it.

Cyrus 3.6's sync_client picks SCRAM-SHA-256 from our banner. Its SASL library
(Cyrus SASL 2.1.28) refuses a server-first message whose iteration count is
above 65536 ("bad protocol / cancel"), which is what our old default of
100000 caused (issue 8); it also wants the salt as padded base64 and the
nonce to start with its own. This test speaks the exchange itself, with the
same checks, against a node with the default configuration:

  C: AUTHENTICATE SCRAM-SHA-256 <base64 client-first>
  S: + <base64 server-first>            r=<cnonce><snonce>,s=<salt>,i=<n>
  C: <base64 client-final>              c=biws,r=<nonce>,p=<proof>
  S: + <base64 server-final>            v=<server signature>
  C: (empty line)
  S: OK Success (no protection)

The server-final goes in a continuation (csync's OK carries no data, as with
Cyrus's own sync_server), and the client acknowledges it with an empty line.
"""

import base64
import hashlib
import hmac
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests  # noqa: E402
from test_repl import IMAPD_EXTRA, REPLICA_CONF, addr, set_password  # noqa: E402

CYRUS_SASL_MAX_ITERATIONS = 0x10000  # Cyrus SASL's client: MAX_ITERATION_COUNTER
CLIENT_NONCE = "fyko+d2lbbFgONRv9qkxdawLfyko+d2l"  # 32 characters, as Cyrus SASL sends


def read_line(f):
    line = f.readline(65536)
    assert line.endswith(b"\r\n"), line
    return line[:-2].decode()


def scram_session(node, user, password, iterations_limit=CYRUS_SASL_MAX_ITERATIONS):
    host, port = addr(node, "syncserver")
    with socket.create_connection((host, port), timeout=30) as s:
        f = s.makefile("rb")
        banner = []
        while True:
            line = read_line(f)
            banner.append(line)
            if line.startswith("* OK"):
                break
            assert len(banner) < 50, banner
        sasl = [l for l in banner if l.startswith("* SASL ")]
        assert sasl and "SCRAM-SHA-256" in sasl[0].split()[2:], banner

        client_first_bare = "n=%s,r=%s" % (user, CLIENT_NONCE)
        s.sendall(b"AUTHENTICATE SCRAM-SHA-256 " + base64.b64encode(("n,," + client_first_bare).encode()) + b"\r\n")
        cont = read_line(f)
        assert cont.startswith("+ "), cont
        server_first = base64.b64decode(cont[2:], validate=True).decode()
        m = re.fullmatch(r"r=([\x21-\x2b\x2d-\x7e]+),s=([A-Za-z0-9+/=]+),i=(\d+)", server_first)
        assert m, server_first
        nonce, salt_b64, iterations = m.group(1), m.group(2), int(m.group(3))
        assert nonce.startswith(CLIENT_NONCE) and len(nonce) > len(CLIENT_NONCE), nonce
        assert len(salt_b64) % 4 == 0, salt_b64  # Cyrus SASL wants padded base64
        salt = base64.b64decode(salt_b64, validate=True)
        assert 4096 <= iterations <= iterations_limit, iterations

        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = "c=biws,r=" + nonce
        auth_message = ",".join([client_first_bare, server_first, without_proof]).encode()
        signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        s.sendall(base64.b64encode((without_proof + ",p=" + base64.b64encode(proof).decode()).encode()) + b"\r\n")

        final = read_line(f)
        assert final.startswith("+ "), final
        server_final = base64.b64decode(final[2:], validate=True).decode()
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        expect = "v=" + base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha256).digest()).decode()
        assert server_final == expect, (server_final, expect)
        s.sendall(b"\r\n")
        ok = read_line(f)
        assert ok == "OK Success (no protection)", ok
        # Authenticated: a command that needs it is answered.
        s.sendall(b"NOOP\r\n")
        assert read_line(f) == "OK Noop completed"
        s.sendall(b"EXIT\r\n")


def test_default_iterations_suit_cyrus_sasl_clients(args):
    with Node(args.bin, REPLICA_CONF, imapd_extra=IMAPD_EXTRA, keep=args.keep) as node:
        set_password(node, "admin", "secret")
        node.start()
        scram_session(node, "admin", "secret")


def test_raised_iterations_are_sent_as_configured(args):
    # A site may raise the count; then Cyrus SASL clients cannot use SCRAM
    # (they take PLAIN, docs/migrating-from-cyrus.md). The count on the wire
    # is the one the key was made with.
    extra = IMAPD_EXTRA + "sasl_scram_iteration_counter: 100000\n"
    with Node(args.bin, REPLICA_CONF, imapd_extra=extra, keep=args.keep) as node:
        set_password(node, "admin", "secret")
        node.start()
        try:
            scram_session(node, "admin", "secret")
        except AssertionError as e:
            assert "100000" in str(e), e
        else:
            raise AssertionError("a 100000-iteration key was offered within Cyrus SASL's limit")
        scram_session(node, "admin", "secret", iterations_limit=100000)


if __name__ == "__main__":
    run_tests([test_default_iterations_suit_cyrus_sasl_clients, test_raised_iterations_are_sent_as_configured])
