#!/usr/bin/env python3
"""cyr_adm (the admin shell over IMAP) and Debian's cyradm against a real
cyr_master (tests/integration/harness.py):

- a batch script creating 100 users with quotas and ACLs, checked over
  imaplib (LIST, GETQUOTA, GETACL);
- renaming a user with sub-mailboxes, deleting, the quota merge of "sq";
- batch failure semantics: stop at the first failing command (status 1, the
  server's NO text printed), -k goes on;
- SASL mechanisms, a wrong password, STARTTLS with certificate checking;
- the same create/ACL/quota/list/rename/delete session through Debian's
  cyradm (package cyrus-admin), checked the same way.

The node runs with unixhierarchysep: no, so names are seed 003's "user.fred".
"""

import imaplib
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests, set_password  # noqa: E402

CYRUS_CONF = 'SERVICES {\n  imap cmd="imapd" listen="127.0.0.1:0"\n}\n'
IMAPD_EXTRA = "admins: admin\nallowplaintext: yes\nunixhierarchysep: no\n"
N_USERS = 100


def port_of(node):
    return int(node.ports()["imap"][0].rsplit(":", 1)[1])


def start_node(args, extra=""):
    n = Node(args.bin, CYRUS_CONF, imapd_extra=IMAPD_EXTRA + extra, keep=args.keep)
    set_password(n, "admin", "secret")
    return n


def adm(node, script=None, stdin="", extra=(), host="127.0.0.1", timeout=120):
    """Runs cyr_adm; returns (exit status, stdout, stderr)."""
    cmd = [os.path.join(node.bin_dir, "cyr_adm"), "-u", "admin", "-w", "secret",
           "-p", str(port_of(node))] + list(extra)
    if script is not None:
        path = node.path("script.adm")
        with open(path, "w") as f:
            f.write(script)
        cmd += ["-f", path]
    cmd.append(host)
    res = subprocess.run(cmd, input=stdin.encode(), capture_output=True, timeout=timeout)
    return res.returncode, res.stdout.decode(), res.stderr.decode()


def imap_admin(node):
    c = imaplib.IMAP4("127.0.0.1", port_of(node))
    c.login("admin", "secret")
    return c


def listed(c, pattern):
    typ, data = c.list('""', pattern)
    assert typ == "OK", data
    names = []
    for line in data:
        if line is None:
            continue
        m = re.match(rb'\((.*?)\) (?:"."|NIL) (.*)$', line)
        assert m, line
        names.append(m.group(2).decode().strip('"'))
    return set(names)


def quota_of(c, root):
    typ, data = c.getquota(root)
    if typ != "OK":
        return None
    m = re.search(r"\((.*)\)", data[0].decode())
    words = m.group(1).split()
    return {words[i]: (int(words[i + 1]), int(words[i + 2])) for i in range(0, len(words), 3)}


def acl_of(c, mailbox):
    typ, data = c.getacl(mailbox)
    assert typ == "OK", data
    words = data[0].decode().split()[1:]
    return {words[i]: words[i + 1] for i in range(0, len(words) - 1, 2)}


def test_batch_100_users(args):
    with start_node(args) as n:
        n.start()
        lines = ["# seed 003's addusers, as a cyr_adm script"]
        for i in range(1, N_USERS + 1):
            lines += ["cm user.u%d" % i,
                      "sq user.u%d STORAGE %d MESSAGE 500" % (i, 1000 * i),
                      "sam user.u%d support read" % i]
        lines += ["cm user.u1.Sent", "sam user.u1 helpdesk all"]
        rc, out, err = adm(n, "\n".join(lines) + "\n")
        assert rc == 0, (rc, out, err)
        c = imap_admin(n)
        names = listed(c, "user.*")
        want = {"user.u%d" % i for i in range(1, N_USERS + 1)} | {"user.u1.Sent"}
        assert want <= names, sorted(want - names)[:5]
        for i in range(1, N_USERS + 1):
            q = quota_of(c, "user.u%d" % i)
            assert q == {"STORAGE": (0, 1000 * i), "MESSAGE": (0, 500)}, (i, q)
            acl = acl_of(c, "user.u%d" % i)
            assert acl.get("support") == "lrs", (i, acl)
        # "all" is cyradm's lrswipkxtea (the server may add the obsolete c and d).
        assert set("lrswipkxtea") <= set(acl_of(c, "user.u1")["helpdesk"]) <= set("lrswipkxteacd")
        c.logout()

        # The shell reads the same back in cyradm's formats.
        rc, out, err = adm(n, "lq user.u7\nlqr user.u1.Sent\nlam user.u3\nlm user.u1*\n")
        assert rc == 0, err
        assert " STORAGE 0/7000 (0%) MESSAGE 0/500 (0%)" in out, out
        assert "user.u1 STORAGE 0/1000 (0%) MESSAGE 0/500 (0%)" in out, out
        assert "support lrs" in out, out
        assert re.search(r"^user\.u1\.Sent ", out, re.M) and re.search(r"^user\.u10 ", out, re.M), out


def test_rename_delete_and_quota_merge(args):
    with start_node(args) as n:
        n.start()
        rc, out, err = adm(n, "cm user.fred\ncm user.fred.Work\ncm user.fred.Work.2019\n"
                              "sq user.fred STORAGE 5000\nsam user.fred.Work barney lrs\n"
                              "sq user.fred MESSAGE 100\n"           # keeps STORAGE
                              "renm user.fred user.wilma\n")
        assert rc == 0, (out, err)
        c = imap_admin(n)
        names = listed(c, "user.*")
        assert {"user.wilma", "user.wilma.Work", "user.wilma.Work.2019"} <= names, names
        assert not any(x.startswith("user.fred") for x in names), names
        assert quota_of(c, "user.wilma") == {"STORAGE": (0, 5000), "MESSAGE": (0, 100)}
        assert acl_of(c, "user.wilma.Work").get("barney") == "lrs"
        c.logout()
        # "none" removes one limit; "sq root none" removes the quota.
        rc, out, err = adm(n, "sq user.wilma MESSAGE none\nlq user.wilma\n")
        assert rc == 0 and out.strip() == "STORAGE 0/5000 (0%)", (out, err)
        rc, out, err = adm(n, "sq user.wilma none\ndam user.wilma.Work barney\n"
                              "dm user.wilma.Work.2019\ndm user.wilma.Work\nlm user.wilma*\n")
        assert rc == 0, (out, err)
        assert out.split() == ["user.wilma", "(\\HasNoChildren)"], out
        c = imap_admin(n)
        assert quota_of(c, "user.wilma") is None or quota_of(c, "user.wilma") == {}
        c.logout()
        rc, out, err = adm(n, "dm user.wilma\nlm user.*\n")
        assert rc == 0 and "user.wilma" not in out, (out, err)


def test_batch_errors(args):
    with start_node(args) as n:
        n.start()
        script = "cm user.a\ncm user.a\ncm user.b\n"
        rc, out, err = adm(n, script)
        assert rc == 1, (rc, err)
        assert "NO [ALREADYEXISTS]" in err and "script.adm:2" in err, err
        c = imap_admin(n)
        assert "user.b" not in listed(c, "user.*")  # stopped at line 2
        rc, out, err = adm(n, "cm user.a\nbogus\nsam user.a fred\ncm user.b\n", extra=["-k"])
        assert rc == 1
        assert "unknown command 'bogus'" in err and "usage: setaclmailbox" in err, err
        assert "user.b" in listed(c, "user.*")  # -k went on
        c.logout()
        # Commands on stdin (not a terminal) work like a script; quit ends it.
        rc, out, err = adm(n, stdin="lm user.a\nquit\ncm user.c\n")
        assert rc == 0 and out.startswith("user.a"), (out, err)
        assert "user.c" not in listed(imap_admin(n), "user.*")


def test_runbook_shared_folders(args):
    """docs/runbook.md "Shared folders and bulletin boards", as written there."""
    with start_node(args) as n:
        n.start()
        rc, out, err = adm(n, "cm user.announce\ncm user.announce.events\ncm user.announce.for_sale\n"
                              "sam user.announce.* anyone lr johndoe p msmith p\n"
                              "cm user.johndoe\ncm user.johndoe.grant-proposal\n"
                              "sam user.johndoe.grant-proposal annsmith read\n"
                              "cm bb\ncm bb.general\nsam bb.general anyone read group:staff post\n"
                              "sq bb STORAGE 512000\nlam user.announce.events\n")
        assert rc == 0, (out, err)
        assert "Setting ACL on user.announce.events...OK." in out, out
        assert "anyone lr\njohndoe p\nmsmith p" in out, out
        c = imap_admin(n)
        for m in ("user.announce.events", "user.announce.for_sale"):
            acl = acl_of(c, m)
            assert (acl["anyone"], acl["johndoe"], acl["msmith"]) == ("lr", "p", "p"), (m, acl)
        assert acl_of(c, "user.johndoe.grant-proposal")["annsmith"] == "lrs"
        acl = acl_of(c, "bb.general")
        assert (acl["anyone"], acl["group:staff"]) == ("lrs", "lrsp"), acl
        assert quota_of(c, "bb") == {"STORAGE": (0, 512000)}
        c.logout()


def test_create_on_partition(args):
    n = start_node(args)
    with n:
        n.write_imapd_conf(IMAPD_EXTRA + "partition-p2: %s\n" % n.path("spool2"))
        os.makedirs(n.path("spool2"), exist_ok=True)
        n.start()
        rc, out, err = adm(n, "cm user.onp2 p2\ncm --partition default user.ondef\n")
        assert rc == 0, (out, err)
        rc, out, err = adm(n, "cm user.nowhere nosuchpartition\n")
        assert rc == 1 and "createmailbox: " in err and "Unknown partition" in err, (rc, err)
        # The mailbox's files live on the partition asked for.
        res = subprocess.run([os.path.join(n.bin_dir, "cyr_mbpath"), "-C", n.imapd_conf, "user.onp2"],
                             capture_output=True, timeout=60)
        assert res.returncode == 0 and res.stdout.decode().startswith(n.path("spool2")), res
        assert "user.nowhere" not in listed(imap_admin(n), "user.*")


def test_auth_mechanisms(args):
    with start_node(args) as n:
        n.start()
        for mech in ("SCRAM-SHA-256", "PLAIN", "LOGIN"):
            rc, out, err = adm(n, stdin="cm user.%s\n" % mech.replace("-", "_").lower(),
                               extra=["-a", mech])
            assert rc == 0, (mech, err)
        cmd = [os.path.join(n.bin_dir, "cyr_adm"), "-u", "admin", "-w", "wrong",
               "-p", str(port_of(n)), "127.0.0.1"]
        res = subprocess.run(cmd, input=b"lm\n", capture_output=True, timeout=60)
        assert res.returncode != 0 and b"AUTHENTICATIONFAILED" in res.stderr, res.stderr
        pw = n.path("pw")
        with open(pw, "w") as f:
            f.write("secret\n")
        cmd = [os.path.join(n.bin_dir, "cyr_adm"), "-C", n.imapd_conf, "--password-file", pw,
               "-p", str(port_of(n)), "127.0.0.1"]  # user "admin" from admins: in imapd.conf
        res = subprocess.run(cmd, input=b"lm user.plain\n", capture_output=True, timeout=60)
        assert res.returncode == 0 and b"user.plain" in res.stdout, res.stderr


def test_starttls(args):
    n = start_node(args)
    with n:
        cert, key = n.path("cert.pem"), n.path("key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        n.write_imapd_conf(IMAPD_EXTRA.replace("allowplaintext: yes\n", "") +
                           "tls_server_cert: %s\ntls_server_key: %s\n" % (cert, key))
        n.start()
        # Plain text is refused (LOGINDISABLED); STARTTLS with the CA works.
        rc, out, err = adm(n, stdin="lm\n", extra=["-a", "PLAIN"], host="localhost")
        assert rc != 0, (out, err)
        rc, out, err = adm(n, stdin="cm user.t\nlm user.t\n",
                           extra=["--starttls", "--cafile", cert], host="localhost")
        assert rc == 0 and "user.t" in out, (out, err)
        # Without our CA the certificate is not trusted: refused, not ignored.
        rc, out, err = adm(n, stdin="lm\n", extra=["--starttls"], host="localhost")
        assert rc != 0 and "TLS handshake" in err, (rc, err)


def test_debian_cyradm(args):
    cyradm = shutil.which("cyradm")
    if not cyradm:
        print("SKIPPED: cyradm not installed (Debian package cyrus-admin; "
              "ops/scripts/install-deps.sh --tests installs it)")
        return
    with start_node(args) as n:
        n.start()
        session = ("cm user.deb1\ncm user.deb1.Drafts\ncm user.deb2\n"
                   "sq user.deb1 STORAGE 3000\n"
                   "sam user.deb1 support read\nsam user.deb2 helpdesk all\n"
                   "lam user.deb1\nlq user.deb1\nlqr user.deb1.Drafts\nlm user.deb*\n"
                   "renm user.deb2 user.deb3\ndm user.deb1.Drafts\n"
                   "dam user.deb1 support\nlam user.deb1\n")
        res = subprocess.run([cyradm, "--user", "admin", "-w", "secret", "--port", str(port_of(n)),
                              "127.0.0.1"], input=session.encode(), capture_output=True, timeout=120)
        out, err = res.stdout.decode(), res.stderr.decode()
        assert res.returncode == 0 and err.strip() == "", (res.returncode, out, err)
        assert "support lrs" in out, out
        assert " STORAGE 0/3000 (0%)" in out and "user.deb1 STORAGE 0/3000 (0%)" in out, out
        assert "user.deb1.Drafts (\\HasNoChildren)" in out, out
        c = imap_admin(n)
        names = listed(c, "user.*")
        assert "user.deb1" in names and "user.deb3" in names, names
        assert "user.deb2" not in names and "user.deb1.Drafts" not in names, names
        assert quota_of(c, "user.deb1") == {"STORAGE": (0, 3000)}
        assert "support" not in acl_of(c, "user.deb1")
        assert set("lrswipkxtea") <= set(acl_of(c, "user.deb3")["helpdesk"]) <= set("lrswipkxteacd")
        c.logout()


if __name__ == "__main__":
    run_tests([test_batch_100_users, test_rename_delete_and_quota_merge, test_batch_errors,
               test_create_on_partition, test_runbook_shared_folders, test_auth_mechanisms, test_starttls, test_debian_cyradm])
