"""Sieve end to end on a running cyr_master: a script stored over
ManageSieve, mail delivered with Python's smtplib.LMTP, the result read over
IMAP as the user. fileinto with flags, reject answered in LMTP for one
recipient of two, discard, redirect and vacation through a stand-in
`sendmail` that records what it was given, and a script that breaks after a
config change keeps the mail."""

import imaplib
import os
import smtplib

from harness import Node, run_tests
from test_managesieve import Sieve, set_passwords

CYRUS_CONF = (
    'SERVICES {\n'
    '  imap  cmd="imapd" listen="127.0.0.1:0"\n'
    '  lmtp  cmd="lmtpd -a" listen="127.0.0.1:0"\n'
    '  sieve cmd="timsieved" listen="127.0.0.1:0"\n'
    '}\n')

USERS = {"pat": "patsecret", "ann": "annsecret", "admin": "adminsecret"}


class SieveMailNode(Node):
    def __init__(self, args, extra=""):
        super().__init__(args.bin, CYRUS_CONF, "", keep=args.keep)
        self.sendmail_log = self.path("sendmail.log")
        sendmail = self.script("sendmail",
                               '{ echo "ARGS $*"; cat; echo "--END--"; } >> "%s"\n' % self.sendmail_log)
        self.write_imapd_conf("admins: admin\n"
                              "allowplaintext: yes\n"
                              "servername: mail.example.org\n"
                              "autocreate_quota: 0\n"
                              "autocreate_post: yes\n"
                              "sendmail: %s\n" % sendmail + extra)

    def start(self, **kw):
        super().start(**kw)
        set_passwords(self, USERS)
        return self

    def addr(self, service):
        host, port = self.ports()[service][0].rsplit(":", 1)
        return host, int(port)

    def install(self, user, script, name="main", activate=True):
        c = Sieve(self.addr("sieve"))
        try:
            c.capabilities()
            assert c.auth_plain(user, USERS[user]).ok
            r = c.put(name, script)
            assert r.ok, r
            if activate:
                assert c.cmd('SETACTIVE "%s"' % name).ok
        finally:
            c.close()

    def lmtp(self, rcpts, subject, mail_from="ann@example.net", extra=""):
        host, port = self.addr("lmtp")
        c = smtplib.LMTP(host, port, timeout=60)
        try:
            c.ehlo_or_helo_if_needed()
            msg = ("From: Ann <ann@example.net>\r\nTo: pat@mail.example.org\r\nSubject: %s\r\n"
                   "Message-ID: <%s@example.net>\r\n%s\r\nbody\r\n" % (subject, subject.replace(" ", "."), extra))
            code, _ = c.mail(mail_from)
            assert code == 250
            for r in rcpts:
                code, _ = c.rcpt(r)
                assert code == 250, (r, code)
            c.putcmd("data")
            code, _ = c.getreply()
            assert code == 354
            c.send(msg.encode() + b".\r\n")
            # LMTP: one reply per recipient, in order.
            return [c.getreply() for _ in rcpts]
        finally:
            c.close()

    def imap(self, user):
        host, port = self.addr("imap")
        m = imaplib.IMAP4(host, port)
        m.login(user, USERS[user])
        return m

    def header_field(self, user, mailbox, field):
        """The named header field of every message in the mailbox, in UID order."""
        m = self.imap(user)
        try:
            typ, data = m.select(mailbox)
            assert typ == "OK", (mailbox, data)
            typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (%s)])" % field)
            return [item[1].decode().strip() for item in data if isinstance(item, tuple)]
        finally:
            m.logout()

    def messages(self, user, mailbox):
        m = self.imap(user)
        try:
            typ, data = m.select(mailbox)
            if typ != "OK":
                return None
            typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])") if int(data[0]) else ("OK", [])
            out = []
            for item in data:
                if isinstance(item, tuple):
                    flags = item[0].decode()
                    subject = item[1].decode().strip().split(": ", 1)[1]
                    out.append((subject, flags))
            return out
        finally:
            m.logout()

    def sent(self):
        if not os.path.exists(self.sendmail_log):
            return ""
        with open(self.sendmail_log, encoding="utf-8", errors="replace") as f:
            return f.read()


def test_fileinto_reject_discard(args):
    with SieveMailNode(args) as n:
        n.start()
        # The first delivery creates the INBOXes (autocreate_post); the
        # folder the script files into is created by the script (:create).
        assert [r[0] for r in n.lmtp(["pat", "ann"], "hello")] == [250, 250]
        n.install("pat", b'require ["fileinto", "imap4flags", "reject", "mailbox"];\r\n'
                         b'if header :contains "subject" "[list]" {\r\n'
                         b'  fileinto :create :flags "\\\\Seen" "Lists";\r\n'
                         b'} elsif header :is "subject" "spam" {\r\n'
                         b'  reject "No, thank you.";\r\n'
                         b'} elsif header :is "subject" "junk" {\r\n'
                         b'  discard;\r\n'
                         b'}\r\n')
        assert [r[0] for r in n.lmtp(["pat"], "[list] weekly")] == [250]
        replies = n.lmtp(["pat", "ann"], "spam")
        assert replies[0][0] == 550 and b"No, thank you." in replies[0][1], replies
        assert replies[1][0] == 250, replies  # ann has no script: delivered
        assert [r[0] for r in n.lmtp(["pat"], "junk")] == [250]
        assert [r[0] for r in n.lmtp(["pat"], "normal")] == [250]
        inbox = n.messages("pat", "INBOX")
        assert [s for s, _ in inbox] == ["hello", "normal"], inbox
        lists = n.messages("pat", "Lists")
        assert [s for s, _ in lists] == ["[list] weekly"], lists
        assert "\\Seen" in lists[0][1], lists
        assert [s for s, _ in n.messages("ann", "INBOX")] == ["hello", "spam"]
        assert "sieve: pat: rejected message" in n.log()
        assert n.stop() == 0


def test_redirect_and_vacation_through_sendmail(args):
    # Without duplicate suppression too: vacation's memory of whom it
    # answered is in the duplicate database all the same.
    with SieveMailNode(args, extra="duplicatesuppression: no\n") as n:
        n.start()
        assert [r[0] for r in n.lmtp(["pat"], "first")] == [250]
        n.install("pat", b'require ["vacation", "copy"];\r\n'
                         b'redirect :copy "pat@elsewhere.example";\r\n'
                         b'vacation :days 3 :subject "Out of office" "Back on Monday.";\r\n')
        assert [r[0] for r in n.lmtp(["pat"], "question one")] == [250]
        assert [r[0] for r in n.lmtp(["pat"], "question two")] == [250]
        # A list message gets no vacation answer (RFC 5230 4.5).
        assert [r[0] for r in n.lmtp(["pat"], "list post", mail_from="list-bounces@example.net",
                                     extra="List-Id: <l.example.net>\r\n")] == [250]
        sent = n.sent()
        redirects = sent.count("ARGS -i -f ann@example.net -- pat@elsewhere.example")
        vacations = sent.count("ARGS -i -f <> -- ann@example.net")
        assert redirects == 2, sent
        assert vacations == 1, sent  # once per sender within :days
        assert "Subject: Out of office" in sent and "Back on Monday." in sent, sent
        assert "Auto-Submitted: auto-replied" in sent, sent
        assert "In-Reply-To: <question.one@example.net>" in sent, sent
        assert sent.count("ARGS") == 4, sent  # the list post: only its redirect
        assert [s for s, _ in n.messages("pat", "INBOX")] == ["first", "question one", "question two", "list post"]
        assert n.stop() == 0


def test_script_broken_by_a_config_change_keeps_mail(args):
    with SieveMailNode(args) as n:
        n.start()
        assert [r[0] for r in n.lmtp(["pat"], "first")] == [250]
        n.install("pat", b'require "fileinto";\r\nfileinto "Elsewhere";\r\n')
        assert n.stop() == 0
        # The site turns fileinto off; the stored script no longer compiles.
        with open(n.imapd_conf, "a") as f:
            f.write("sieve_extensions: vacation reject\n")
        n.start()
        assert [r[0] for r in n.lmtp(["pat"], "second")] == [250]
        assert [s for s, _ in n.messages("pat", "INBOX")] == ["first", "second"]
        assert "does not compile" in n.log()
        assert n.stop() == 0


def test_include_regex_duplicate_editheader(args):
    """A script that includes a site script (sievedir/global) and one of the
    user's own, files by a regex with its match, suppresses a repeated
    ticket with the duplicate test, and adds a header field the stored
    message carries."""
    with SieveMailNode(args) as n:
        sievedir = n.path("sievedir")
        os.makedirs(os.path.join(sievedir, "global"))
        with open(n.imapd_conf, "a") as f:
            f.write("sievedir: %s\n" % sievedir)
        with open(os.path.join(sievedir, "global", "lists.script"), "wb") as f:
            f.write(b'require ["fileinto", "regex", "mailbox", "variables"];\r\n'
                    b'if header :regex "list-id" "<([a-z]+)[.]example[.]net>" {\r\n'
                    b'  fileinto :create "Lists/${1}";\r\n'
                    b'  stop;\r\n'
                    b'}\r\n')
        n.start()
        assert [r[0] for r in n.lmtp(["pat"], "hello")] == [250]
        n.install("pat", b'require ["duplicate", "fileinto", "mailbox"];\r\n'
                         b'if duplicate :header "X-Ticket" :seconds 3600 {\r\n'
                         b'  fileinto :create "Dups";\r\n'
                         b'}\r\n', name="tickets", activate=False)
        n.install("pat", b'require ["include", "editheader", "variables", "regex"];\r\n'
                         b'include :global "lists";\r\n'
                         b'include :personal "tickets";\r\n'
                         b'if header :regex "subject" "^\\\\[ticket ([0-9]+)\\\\]" {\r\n'
                         b'  addheader "X-Ticket-Seen" "${1}";\r\n'
                         b'}\r\n')
        assert [r[0] for r in n.lmtp(["pat"], "[ticket 42] help", extra="X-Ticket: 42\r\n")] == [250]
        assert [r[0] for r in n.lmtp(["pat"], "[ticket 42] again", extra="X-Ticket: 42\r\n")] == [250]
        assert [r[0] for r in n.lmtp(["pat"], "[ticket 43] other", extra="X-Ticket: 43\r\n")] == [250]
        assert [r[0] for r in n.lmtp(["pat"], "news", extra="List-Id: <weekly.example.net>\r\n")] == [250]
        assert [s for s, _ in n.messages("pat", "INBOX")] == ["hello", "[ticket 42] help", "[ticket 43] other"]
        assert [s for s, _ in n.messages("pat", "Dups")] == ["[ticket 42] again"]
        assert [s for s, _ in n.messages("pat", "Lists/weekly")] == ["news"]
        assert n.header_field("pat", "INBOX", "X-Ticket-Seen") == ["", "X-Ticket-Seen: 42", "X-Ticket-Seen: 43"]
        assert n.header_field("pat", "Dups", "X-Ticket-Seen") == ["X-Ticket-Seen: 42"]
        # A missing personal script is a runtime error: the message is kept.
        n.install("pat", b'require "include";\r\ninclude "nosuch";\r\ndiscard;\r\n')
        assert [r[0] for r in n.lmtp(["pat"], "kept anyway")] == [250]
        assert [s for s, _ in n.messages("pat", "INBOX")][-1] == "kept anyway"
        assert n.stop() == 0


if __name__ == "__main__":
    run_tests([test_fileinto_reject_discard, test_redirect_and_vacation_through_sendmail,
               test_script_broken_by_a_config_change_keeps_mail, test_include_regex_duplicate_editheader])
