"""Everyday commands side by side, namespace config a (altnamespace, unixhierarchysep):
IMAP capabilities, ID, NAMESPACE; ACL (GETACL/SETACL/DELETEACL/LISTRIGHTS/MYRIGHTS,
and what u2 may do with u1's folders under each right); QUOTA (limits reached by
APPEND and COPY); STATUS, SELECT/EXAMINE, CONDSTORE, QRESYNC, EXPUNGE, COPY, MOVE
with a second session of the same user watching; SEARCH and ESEARCH keys and
errors; then LMTP (lmtpd -a) deliveries and errors, and POP3 (Cyrus's pop3d is
in the separate cyrus-pop3d package: without it the POP3 part is skipped)."""

import re
import sys

from clients import Imap, Lmtp, Pop3, imap_login
from report import Response, Step, imap_response, lmtp_status, pop3_status
from servers import ADMIN, USER_PASSWORD, USERS

NAME = "cmd"


def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mkmsg(subject, date, size, extra=""):
    head = "From: a@example.com\r\nTo: u1@example.com\r\nSubject: %s\r\nDate: %s\r\n%s\r\n" % (
        subject, date, extra)
    body = ""
    need = size - len(head)
    while len(body) + 2 < need:
        n = min(70, need - len(body) - 2)
        body += "x" * n + "\r\n"
    msg = head + body
    msg += "y" * (size - len(msg))
    assert len(msg) == size, (len(msg), size)
    return msg


def append(mbox, msg, flags="", idate=None):
    s = "APPEND %s" % q(mbox)
    if flags:
        s += " (%s)" % flags
    if idate:
        s += ' "%s"' % idate
    return s + " {%d}\r\n%s" % (len(msg), msg)


M = [
    # subject, Date:, size, flags, internaldate
    ("one", "Mon, 01 Jan 2024 10:00:00 +0000", 1000, "\\Seen", "01-Jan-2024 10:00:00 +0000"),
    ("two", "Mon, 15 Jan 2024 10:00:00 +0000", 1500, "", "15-Jan-2024 10:00:00 +0000"),
    ("three", "Thu, 01 Feb 2024 10:00:00 +0000", 3000, "\\Flagged $Foo", "01-Feb-2024 10:00:00 +0000"),
    ("four", "Fri, 01 Mar 2024 23:30:00 -0500", 2048, "\\Seen \\Answered", "01-Mar-2024 23:30:00 -0500"),
    ("five", "Mon, 01 Apr 2024 10:00:00 +0000", 500, "", "01-Apr-2024 10:00:00 +0000"),
]


def msgs_into(who, mbox):
    return [(who, append(mbox, mkmsg(s, d, z), f, i)) for s, d, z, f, i in M]


def steps():
    """IMAP steps as (session, command). Sessions: admin, u1, u1b (a second session of
    u1, to see what other sessions are told), u2, u3, and anon (a fresh connection not
    logged in, per step). {uv}/{ms} in a command are filled from the CAPTURE step
    (UIDVALIDITY and HIGHESTMODSEQ of Test on that server)."""
    S = []
    A = S.append
    # ---- 6. capabilities, ID, NAMESPACE
    A(("anon", "CAPABILITY"))
    A(("anon", "GREETING"))
    A(("anon", "ID NIL"))
    A(("anon", "NAMESPACE"))
    A(("u1", "CAPABILITY"))
    A(("admin", "CAPABILITY"))
    A(("u1", "ID NIL"))
    A(("u1", 'ID ("name" "cmdcompare" "version" "1.0")'))
    A(("u1", "NAMESPACE"))
    A(("admin", "NAMESPACE"))
    # ---- 1. ACL
    A(("u1", "GETACL INBOX"))
    A(("u1", "MYRIGHTS INBOX"))
    A(("u1", "LISTRIGHTS INBOX u2"))
    A(("u1", "LISTRIGHTS INBOX anyone"))
    A(("u1", "LISTRIGHTS INBOX u1"))
    A(("u1", "LISTRIGHTS INBOX group:staff"))
    for f in ("Sub", "OnlyL", "OnlyR", "LR", "AdminMe"):
        A(("u1", "CREATE %s" % f))
    A(("u1", "GETACL Sub"))
    A(("u1", "MYRIGHTS Sub"))
    A(("u1", "SETACL Sub u2 lr"))
    A(("u1", "GETACL Sub"))
    A(("u1", "SETACL Sub u2 +w"))
    A(("u1", "GETACL Sub"))
    A(("u1", "SETACL Sub u2 -r"))
    A(("u1", "GETACL Sub"))
    A(("u1", "SETACL Sub u2 cd"))
    A(("u1", "GETACL Sub"))
    A(("u1", "SETACL Sub u2 +c"))
    A(("u1", "GETACL Sub"))
    A(("u1", "SETACL Sub u2 lrswipkxtecdan"))
    A(("u1", "GETACL Sub"))
    A(("u1", "SETACL Sub u2 lrz"))
    A(("u1", "GETACL Sub"))
    A(("u1", "SETACL Sub u2 LR"))
    A(("u1", "SETACL Sub -u3 w"))
    A(("u1", "GETACL Sub"))
    A(("u1", "SETACL Sub anyone lr"))
    A(("u1", "SETACL Sub group:staff lrs"))
    A(("u1", "GETACL Sub"))
    A(("u1", "LISTRIGHTS Sub u2"))
    A(("u1", "LISTRIGHTS Sub anyone"))
    A(("u1", "LISTRIGHTS Sub -u3"))
    A(("u1", "DELETEACL Sub -u3"))
    A(("u1", "DELETEACL Sub nosuchuser"))
    A(("u1", "DELETEACL Sub group:staff"))
    A(("u1", "SETACL Sub u2 \"\""))
    A(("u1", "GETACL Sub"))
    A(("u1", "SETACL Sub u1 lr"))
    A(("u1", "GETACL Sub"))
    A(("u1", "MYRIGHTS Sub"))
    A(("u1", "SETACL Sub u1 lrswipkxtecdan"))
    A(("u1", "SETACL Nope u2 lr"))
    A(("u1", "GETACL Nope"))
    A(("u1", "SETACL OnlyL u2 l"))
    A(("u1", "SETACL OnlyR u2 r"))
    A(("u1", "SETACL LR u2 lr"))
    A(("u1", "SETACL AdminMe u2 lra"))
    A(("u1", "SETACL INBOX anyone p"))
    A(("u1", "GETACL INBOX"))
    A(("u1", "DELETEACL INBOX anyone"))
    A(("u2", 'LIST "" "Other Users/*"'))
    for f in ("OnlyL", "OnlyR", "LR", "AdminMe", "Nope"):
        mb = q("Other Users/u1/" + f)
        A(("u2", "MYRIGHTS %s" % mb))
        A(("u2", "GETACL %s" % mb))
        A(("u2", "LISTRIGHTS %s u2" % mb))
        A(("u2", "STATUS %s (MESSAGES UIDNEXT)" % mb))
        A(("u2", "SELECT %s" % mb))
        A(("u2", "CLOSE"))
        A(("u2", "EXAMINE %s" % mb))
        A(("u2", "CLOSE"))
        A(("u2", append("Other Users/u1/" + f, mkmsg("x", "Mon, 01 Jan 2024 10:00:00 +0000", 200))))
        A(("u2", "SETACL %s u3 lr" % mb))
        A(("u2", "DELETEACL %s u3" % mb))
        A(("u2", "DELETE %s" % mb))
    A(("u2", 'GETACL "Other Users/u1"'))
    A(("u2", 'MYRIGHTS "Other Users/u1"'))
    A(("u2", 'SELECT "Other Users/u1"'))
    A(("u1", "GETACL AdminMe"))
    A(("admin", 'GETACL "user/u1"'))
    A(("admin", 'MYRIGHTS "user/u1"'))
    A(("admin", 'LISTRIGHTS "user/u1" admin'))
    A(("admin", 'SETACL "user/u1/Sub" u3 lr'))
    A(("admin", 'GETACL "user/u1/Sub"'))
    A(("admin", 'DELETEACL "user/u1/Sub" u3'))
    A(("admin", 'SELECT "user/u1"'))
    A(("admin", 'CLOSE'))
    # ---- 2. QUOTA (on u3)
    A(("u3", "GETQUOTAROOT INBOX"))
    A(("admin", 'SETQUOTA "user/u3" (STORAGE 10)'))
    A(("u3", "GETQUOTAROOT INBOX"))
    A(("u3", 'GETQUOTA "user/u3"'))
    A(("u3", 'GETQUOTA "INBOX"'))
    A(("u3", 'GETQUOTA ""'))
    A(("admin", 'GETQUOTA "user/u3"'))
    A(("admin", 'GETQUOTAROOT "user/u3"'))
    A(("u3", append("INBOX", mkmsg("q1", "Mon, 01 Jan 2024 10:00:00 +0000", 1000))))
    A(("u3", "GETQUOTAROOT INBOX"))
    A(("u3", append("INBOX", mkmsg("q2", "Mon, 01 Jan 2024 10:00:00 +0000", 1500))))
    A(("u3", "GETQUOTAROOT INBOX"))
    A(("u3", append("INBOX", mkmsg("q3", "Mon, 01 Jan 2024 10:00:00 +0000", 3000))))
    A(("u3", "GETQUOTAROOT INBOX"))
    A(("u3", append("INBOX", mkmsg("q4", "Mon, 01 Jan 2024 10:00:00 +0000", 6000))))
    A(("u3", "GETQUOTAROOT INBOX"))
    A(("u3", append("INBOX", mkmsg("q5", "Mon, 01 Jan 2024 10:00:00 +0000", 3000))))
    A(("u3", "GETQUOTAROOT INBOX"))
    A(("u3", 'SETQUOTA "user/u3" (STORAGE 1000)'))
    A(("admin", 'SETQUOTA "user/u3" (STORAGE 100 MESSAGE 6)'))
    A(("u3", 'GETQUOTA "user/u3"'))
    A(("u3", "CREATE QSub"))
    A(("u3", "SELECT INBOX"))
    A(("u3", "COPY 1:* QSub"))
    A(("u3", "GETQUOTAROOT INBOX"))
    A(("u3", "COPY 1:* QSub"))
    A(("u3", "UNSELECT"))
    A(("u3", append("QSub", mkmsg("q6", "Mon, 01 Jan 2024 10:00:00 +0000", 100))))
    A(("admin", 'SETQUOTA "user/u3/QSub" (STORAGE 50)'))
    A(("u3", "GETQUOTAROOT QSub"))
    A(("u3", "GETQUOTAROOT INBOX"))
    A(("admin", 'GETQUOTA "user/u3/QSub"'))
    A(("admin", 'SETQUOTA "user/u3" (STORAGE 100 MESSAGE 6 FOOBAR 3)'))
    A(("admin", 'SETQUOTA "user/u3" ()'))
    A(("admin", 'GETQUOTA "user/u3"'))
    A(("admin", 'GETQUOTAROOT "user/u3"'))
    A(("admin", 'GETQUOTA "user/nosuch"'))
    A(("admin", 'SETQUOTA "user/nosuch" (STORAGE 5)'))
    A(("u3", "GETQUOTAROOT Nope"))
    A(("u3", 'GETQUOTAROOT "Other Users/u1"'))
    # ---- 3. STATUS / SELECT / CONDSTORE / QRESYNC / EXPUNGE / COPY / MOVE
    A(("u1", "CREATE Test"))
    A(("u1", "CREATE Test2"))
    A(("u1", "STATUS Test (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE)"))
    S.extend(msgs_into("u1", "Test"))
    A(("u1", "STATUS Test (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE)"))
    A(("u1", "STATUS Test (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE DELETED MAILBOXID)"))
    A(("u1", "STATUS Test (APPENDLIMIT)"))
    A(("u1", "STATUS Test (FOO)"))
    A(("u1", "STATUS Test ()"))
    A(("u1", "CAPTURE"))  # captures {uv} {ms} of Test
    A(("u1", "EXAMINE Test"))
    A(("u1", "SELECT Test"))
    A(("u1", "SELECT Test (CONDSTORE)"))
    A(("u1b", "SELECT Test"))
    A(("u1", "STORE 1 +FLAGS.SILENT (\\Flagged)"))
    A(("u1", "FETCH 1 (FLAGS)"))
    A(("u1b", "NOOP"))
    A(("u1b", "FETCH 1 (FLAGS)"))
    A(("u1", "STORE 2 +FLAGS (\\Seen)"))
    A(("u1b", "FETCH 2 (FLAGS)"))
    A(("u1b", "NOOP"))
    A(("u1", "FETCH 1:* (FLAGS MODSEQ)"))
    A(("u1", "STORE 3 (UNCHANGEDSINCE 1) +FLAGS (\\Answered)"))
    A(("u1", "UID STORE 3 (UNCHANGEDSINCE 1) +FLAGS (\\Answered)"))
    A(("u1", "STORE 3 (UNCHANGEDSINCE 99999999) +FLAGS (\\Answered)"))
    A(("u1", "STORE 3 +FLAGS.SILENT (\\Answered)"))
    A(("u1", "STORE 1:2 (UNCHANGEDSINCE {ms}) -FLAGS (\\Flagged)"))
    A(("u1", "FETCH 1:* (FLAGS) (CHANGEDSINCE {ms})"))
    A(("u1", "STORE 2 +FLAGS (\\Deleted)"))
    A(("u1", "EXPUNGE"))
    A(("u1b", "NOOP"))
    A(("u1", "STORE 3:4 +FLAGS.SILENT (\\Deleted)"))
    A(("u1", "UID EXPUNGE 4"))
    A(("u1", "UID EXPUNGE 999"))
    A(("u1b", "NOOP"))
    A(("u1", "COPY 1 Test2"))
    A(("u1", "UID COPY 1:* Test2"))
    A(("u1", "COPY 1 NoSuchFolder"))
    A(("u1", "COPY 99 Test2"))
    A(("u1", "UID COPY 99 Test2"))
    A(("u1", "MOVE 1 Test2"))
    A(("u1b", "NOOP"))
    A(("u1", "UID MOVE 5 Test2"))
    A(("u1", "UID MOVE 5 Test2"))
    A(("u1", "MOVE 1 NoSuchFolder"))
    A(("u1", "CLOSE"))
    A(("u1b", "NOOP"))
    A(("u1b", "UNSELECT"))
    A(("u1", "STATUS Test (MESSAGES RECENT UIDNEXT UNSEEN SIZE)"))
    A(("u1", "ENABLE QRESYNC"))
    A(("u1", "ENABLE QRESYNC"))
    A(("u1", "SELECT Test (QRESYNC ({uv} {ms}))"))
    A(("u1", "SELECT Test (QRESYNC ({uv} {ms} 1:10))"))
    A(("u1", "SELECT Test (QRESYNC (12345 {ms}))"))
    # QRESYNC enabled: EXPUNGE/MOVE must be reported as VANISHED
    A(("u1b", "ENABLE QRESYNC"))
    A(("u1b", "SELECT Test"))
    A(("u1", append("Test", mkmsg("qr1", "Mon, 01 Jan 2024 10:00:00 +0000", 400))))
    A(("u1", append("Test", mkmsg("qr2", "Mon, 01 Jan 2024 10:00:00 +0000", 400))))
    A(("u1", append("Test", mkmsg("qr3", "Mon, 01 Jan 2024 10:00:00 +0000", 400))))
    A(("u1b", "NOOP"))
    A(("u1", "STORE 1 +FLAGS.SILENT (\\Flagged)"))
    A(("u1", "UID STORE 7 +FLAGS ($Bar)"))
    A(("u1b", "NOOP"))
    A(("u1b", "FETCH 1 (FLAGS)"))
    A(("u1", "STORE 2 +FLAGS (\\Deleted)"))
    A(("u1", "EXPUNGE"))
    A(("u1b", "NOOP"))
    A(("u1", "STORE 2 +FLAGS.SILENT (\\Deleted)"))
    A(("u1", "UID EXPUNGE 1:*"))
    A(("u1", "MOVE 1 Test2"))
    A(("u1b", "NOOP"))
    A(("u1", "FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)"))
    A(("u1", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)"))
    A(("u1", "CLOSE"))
    A(("u1b", "UNSELECT"))
    A(("u1", "SELECT Test"))
    A(("u1", "UNSELECT"))
    A(("u1", "STATUS Test2 (MESSAGES RECENT UIDNEXT UNSEEN SIZE)"))
    A(("u1", "EXAMINE Test2"))
    A(("u1", "STORE 1 +FLAGS (\\Seen)"))
    A(("u1", "EXPUNGE"))
    A(("u1", "UNSELECT"))
    # ---- 4. SEARCH
    A(("u1", "CREATE Srch"))
    A(("u1", "CREATE Empty"))
    S.extend(msgs_into("u1", "Srch"))
    A(("u1", "SELECT Srch"))
    for c in ["SEARCH ALL", "SEARCH UNSEEN", "SEARCH SEEN", "SEARCH FLAGGED", "SEARCH UNFLAGGED",
              "SEARCH ANSWERED", "SEARCH NEW", "SEARCH RECENT", "SEARCH OLD",
              "SEARCH LARGER 1500", "SEARCH SMALLER 1500", "SEARCH LARGER 2047", "SEARCH SMALLER 2048",
              "SEARCH BEFORE 1-Feb-2024", "SEARCH SINCE 1-Feb-2024", "SEARCH ON 1-Feb-2024",
              "SEARCH ON 2-Mar-2024", "SEARCH ON 1-Mar-2024",
              "SEARCH SENTBEFORE 1-Feb-2024", "SEARCH SENTSINCE 1-Feb-2024", "SEARCH SENTON 1-Mar-2024",
              "SEARCH SENTON 2-Mar-2024", "SEARCH SENTBEFORE 2-Mar-2024", "SEARCH SENTSINCE 2-Mar-2024",
              "SEARCH UID 2:4", "SEARCH UID 3:*", "UID SEARCH UID 4:2", "UID SEARCH 2:*",
              "SEARCH OR FLAGGED UNSEEN", "SEARCH NOT SEEN", "SEARCH NOT (SEEN FLAGGED)",
              "SEARCH KEYWORD $Foo", "SEARCH UNKEYWORD $Foo", "SEARCH KEYWORD $Bar",
              "SEARCH MODSEQ 1", "SEARCH MODSEQ 99999999",
              'SEARCH MODSEQ "/flags/\\\\flagged" all 1',
              "SEARCH SUBJECT three", "SEARCH HEADER Subject four", "SEARCH FROM example", "SEARCH BODY xxxx",
              "SEARCH TEXT nomatchzz", "SEARCH CHARSET UTF-8 SUBJECT one",
              "SEARCH 2:*", "SEARCH *", "SEARCH *:3", "SEARCH 10:*", "SEARCH 4,2,1",
              "SEARCH 99", "UID SEARCH 99", "UID SEARCH UID 99", "UID SEARCH UID *",
              "SEARCH RETURN (MIN MAX COUNT ALL) ALL", "SEARCH RETURN () UNSEEN", "SEARCH RETURN (COUNT) FLAGGED",
              "SEARCH RETURN (MIN) KEYWORD $Bar", "SEARCH RETURN (ALL) KEYWORD $Bar",
              "UID SEARCH RETURN (MIN MAX COUNT ALL) ALL", "SEARCH RETURN (SAVE) SEEN", "SEARCH $",
              "UID SEARCH $", "FETCH $ (UID)", "SEARCH RETURN (SAVE MIN) ALL", "SEARCH $",
              "SEARCH RETURN (MODSEQ) ALL", "SEARCH RETURN (MIN MAX) MODSEQ 1",
              "SEARCH FOO", "SEARCH BEFORE notadate", "SEARCH BEFORE 1-Feb-2024 extra)",
              "SEARCH CHARSET X-UNKNOWN TEXT a", "SEARCH UID abc", "SEARCH", "SEARCH LARGER abc",
              "SEARCH RETURN (BOGUS) ALL", "SEARCH 0", "SEARCH 1:0",
              "SEARCH (OR SEEN FLAGGED) NOT DELETED", "SEARCH DELETED", "SEARCH DRAFT", "SEARCH UNDELETED"]:
        A(("u1", c))
    A(("u1", "EXAMINE Empty"))
    for c in ["SEARCH ALL", "SEARCH 1:*", "SEARCH *", "UID SEARCH 1:*", "UID SEARCH *",
              "SEARCH RETURN (MIN MAX COUNT ALL) ALL", "SEARCH RETURN () ALL", "SEARCH UNSEEN", "FETCH 1:* FLAGS",
              "UID FETCH 1:* FLAGS", "STORE 1 +FLAGS (\\Seen)", "UID STORE 1:* +FLAGS (\\Seen)",
              "SEARCH RETURN (SAVE) ALL", "SEARCH $"]:
        A(("u1", c))
    A(("u1", "UNSELECT"))
    A(("u1", "SEARCH ALL"))
    return S


def substitute(cmd, ctx):
    for k, v in ctx.items():
        cmd = cmd.replace("{%s}" % k, str(v))
    return cmd


def capture(conn, ctx):
    u, t = conn.cmd("STATUS Test (UIDVALIDITY HIGHESTMODSEQ)")
    m = re.search(r"UIDVALIDITY (\d+)", " ".join(u))
    ctx["uv"] = m.group(1) if m else "0"
    m = re.search(r"HIGHESTMODSEQ (\d+)", " ".join(u))
    ctx["ms"] = m.group(1) if m else "0"
    return u, t


def dotfix(m):
    m = m.replace("\r\n.", "\r\n..")
    return m if m.endswith("\r\n") else m + "\r\n"


def lmtp_steps():
    m1 = mkmsg("pop1", "Mon, 01 Jan 2024 10:00:00 +0000", 800, "Message-ID: <p1@x>\r\n")
    m2 = mkmsg("pop2", "Mon, 02 Jan 2024 10:00:00 +0000", 1200, "Message-ID: <p2@x>\r\n")
    m3 = mkmsg("pop3", "Mon, 03 Jan 2024 10:00:00 +0000", 300, "Message-ID: <p3@x>\r\n")
    S = [("LHLO client.example", 1)]
    for m in (m1, m2, m3):
        S += [("MAIL FROM:<s@example.com>", 1), ("RCPT TO:<u2>", 1), ("DATA", 1),
              (dotfix(m) + ".", 1)]
    S += [("MAIL FROM:<s@example.com>", 1), ("RCPT TO:<nosuch>", 1), ("RCPT TO:<u2+nosuchfolder>", 1),
          ("RCPT TO:<u2@example.com>", 1), ("RSET", 1), ("MAIL FROM:<>", 1), ("RCPT TO:<u2>", 1),
          ("RCPT TO:<u1>", 1), ("DATA", 1), (dotfix(m3.replace("Message-ID: <p3@x>", "Message-ID: <p4@x>")) + ".", 2),
          ("VRFY u2", 1), ("HELO x", 1), ("NOOP", 1), ("FOO", 1), ("QUIT", 1)]
    return S


def pop_steps():
    """POP3 commands in order; "GREETING" opens a fresh connection (its greeting is
    the answer), "SECOND SESSION" logs in a second session of the same maildrop
    while the first is open (answered as Cyrus does now, docs/delivery.md)."""
    return ["GREETING", "CAPA", "USER u4", "PASS wrong", "USER u4", "STAT", "PASS " + USER_PASSWORD, "CAPA",
            "STAT", "LIST", "LIST 2", "LIST 99", "LIST 0", "UIDL", "UIDL 1", "UIDL 9", "TOP 1 0", "TOP 3 2",
            "TOP 1", "RETR 3", "RETR 9", "DELE 1", "DELE 1", "RETR 1", "LIST 1", "UIDL", "STAT", "RSET",
            "STAT", "NOOP", "LAST", "FOO", "DELE 3", "SECOND SESSION", "QUIT", "GREETING", "USER u4",
            "PASS " + USER_PASSWORD, "UIDL", "QUIT", "GREETING", "USER nosuch", "PASS x", "QUIT"]


def pop3_messages():
    """The four messages of u4's INBOX read over POP3, appended over IMAP."""
    return [mkmsg("pop%d" % i, "Mon, 0%d Jan 2024 10:00:00 +0000" % i, size, "Message-ID: <p%d@x>\r\n" % i)
            for i, size in ((1, 800), (2, 1200), (3, 300), (4, 300))]


SESSIONS = {ADMIN: ADMIN, "u1": "u1", "u1b": "u1", "u2": "u2", "u3": "u3"}   # session -> user


def run_imap(server):
    """[(who, command, (untagged, tagged))] for steps(); "anon" steps use a fresh
    connection each. A session that breaks is logged in again."""
    sessions = {who: imap_login(server.port, user) for who, user in SESSIONS.items()}
    captured = {}
    results = []
    for who, command in steps():
        try:
            if who == "anon":
                conn = Imap(server.port)
                answer = ([], conn.greeting) if command == "GREETING" else conn.cmd(command)
                conn.close()
            elif command == "CAPTURE":
                answer = capture(sessions[who], captured)
            else:
                answer = sessions[who].cmd(substitute(command, captured))
        except (OSError, EOFError) as e:
            answer = ([], "EXCEPTION %r" % e)
            try:
                sessions[who] = imap_login(server.port, SESSIONS[who])
            except (OSError, EOFError, RuntimeError):
                pass
        results.append((who, command, answer))
    for session in sessions.values():
        session.close()
    return results


def run_lmtp(server):
    conn = Lmtp(server.lmtp_port)
    results = [("GREETING", ([], conn.greeting))]
    for command, replies in lmtp_steps():
        try:
            answer = conn.cmd(command, replies)
        except (OSError, EOFError) as e:
            answer = ([], "EXCEPTION %r" % e)
        results.append((command.splitlines()[0] + (" <message>" if "\r\n" in command else ""), answer))
    conn.close()
    return results


def fill_pop3_maildrop(server):
    conn = imap_login(server.port, "u4")
    for message in pop3_messages():
        conn.cmd(append("INBOX", message, "", "01-Jan-2024 10:00:00 +0000"))
    conn.close()


def run_pop3(server):
    results = []
    conn = None
    for command in pop_steps():
        try:
            if command == "GREETING":
                conn = Pop3(server.pop3_port)
                answer = ([], conn.greeting)
            elif command == "SECOND SESSION":
                second = Pop3(server.pop3_port)
                second.cmd("USER u4")
                answer = second.cmd("PASS " + USER_PASSWORD)
                second.cmd("QUIT")
                second.close()
            else:
                answer = conn.cmd(command)
        except (OSError, EOFError) as e:
            answer = ([], "EXCEPTION %r" % e)
        results.append((command, answer))
    return results


POP3_DATA_ANSWERS = ("STAT", "LIST ", "UIDL ")   # their +OK line carries data, not text
UIDL = re.compile(r"\b\d+\.(\d+)\b")


def pop3_response(command, answer):
    lines, first = answer
    lines = [UIDL.sub(r"<uv>.\1", line) for line in lines]
    first = UIDL.sub(r"<uv>.\1", first)
    status = first if command.startswith(POP3_DATA_ANSWERS) and first.startswith("+OK") else pop3_status(first)
    return Response(lines, status, first)


def lmtp_response(command, answer):
    """Replies compared by code and enhanced code; LHLO's by its extension keywords
    (its first line names the host)."""
    lines, last = answer
    if command.startswith("LHLO"):
        return Response([line[4:] for line in lines[1:] + [last]], lmtp_status(last), last)
    return Response([lmtp_status(line) for line in lines], lmtp_status(last), last)


def run(workspace, progress=sys.stderr):
    pop3 = bool(workspace.cyrus_pop3d)
    if not pop3:
        progress.write("cmd: no Cyrus pop3d (package cyrus-pop3d): the POP3 part is skipped\n")
    cyrus, ours = workspace.start_pair(NAME, True, pop3=pop3, lmtp=True)
    results = {}
    try:
        for server in (cyrus, ours):
            admin = imap_login(server.port, ADMIN)
            for user in USERS:
                admin.cmd('CREATE "user/%s"' % user)
            admin.close()
            progress.write("cmd: %s\n" % server.label)
            results[server.label] = {"imap": run_imap(server), "lmtp": run_lmtp(server)}
            if pop3:
                fill_pop3_maildrop(server)
                results[server.label]["pop3"] = run_pop3(server)
    finally:
        workspace.stop_pair((cyrus, ours))
    steps = []
    for (who, command, c), (_, _, o) in zip(results["cyrus"]["imap"], results["ours"]["imap"]):
        shown = command.splitlines()[0] + (" <literal>" if "\r\n" in command else "")
        steps.append(Step("IMAP", who, shown, imap_response(*c), imap_response(*o)))
    for (command, c), (_, o) in zip(results["cyrus"]["lmtp"], results["ours"]["lmtp"]):
        steps.append(Step("LMTP", "", command, lmtp_response(command, c), lmtp_response(command, o)))
    if pop3:
        for (command, c), (_, o) in zip(results["cyrus"]["pop3"], results["ours"]["pop3"]):
            steps.append(Step("POP3", "u4", command, pop3_response(command, c), pop3_response(command, o)))
    return steps
