"""LIST, LSUB, NAMESPACE, CREATE, RENAME and DELETE, in two namespace configurations:
  a: altnamespace: yes, unixhierarchysep: yes   (Cyrus 3's defaults)
  b: altnamespace: no,  unixhierarchysep: no    (Debian's / Cyrus 2's)

The same folder tree (own folders, special-use marks, missing parents, a folder
shared by u2, a shared folder "Public", subscriptions to deleted folders) is
built on both servers, then each listing is sent by u1, u2 and the admin, and
u3 creates, renames and deletes folders (INBOX included), the admin peeking at
the real names after each change."""

import sys

from clients import imap_login
from report import Step, imap_response
from servers import ADMIN, USERS

NAME = "list"
CONFIGS = {"a": True, "b": False}   # config -> altnamespace (and unixhierarchysep)


def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Names:
    def __init__(self, alt):
        self.alt = alt
        self.S = "/" if alt else "."
        self.P = "" if alt else "INBOX."          # personal prefix for new folders
        self.other = "Other Users/" if alt else "user."
        self.shared = "Shared Folders/" if alt else ""

    def p(self, *parts):
        return self.P + self.S.join(parts)

    def o(self, user, *parts):
        return self.other + self.S.join((user,) + parts)


def setup(srv, n, log):
    """Creates the users and the folder tree; the transcript goes to log."""
    adm = imap_login(srv.port, ADMIN)
    for u in USERS:
        log.append(("admin", "CREATE user " + u, adm.cmd("CREATE %s" % q("user" + n.S + u))))
    # A shared (non-user) folder everybody can see.
    log.append(("admin", 'CREATE "Public"', adm.cmd('CREATE "Public"')))
    log.append(("admin", "SETACL Public anyone lr", adm.cmd('SETACL "Public" "anyone" "lr"')))
    adm.close()

    u2 = imap_login(srv.port, "u2")
    for c in ['CREATE %s' % q(n.p("Shared")), 'CREATE %s' % q(n.p("Private")),
              'SETACL %s "u1" "lr"' % q(n.p("Shared")),
              # u2's own special-use mark on the folder shared with u1
              'SETMETADATA %s (/private/specialuse "\\\\Junk")' % q(n.p("Shared"))]:
        log.append(("u2", c, u2.cmd(c)))
    u2.close()

    u1 = imap_login(srv.port, "u1")
    cmds = [
        "CREATE %s" % q(n.p("Sent")),
        "CREATE %s" % q(n.p("Sent", "2024")),
        "CREATE %s" % q(n.p("Drafts")),
        "CREATE %s" % q(n.p("Sent Items")),
        "CREATE %s" % q(n.p("Archive", "2023", "Q1")),     # parents do not exist
        "CREATE %s" % q(n.p("Gone")),
        'SETMETADATA %s (/private/specialuse "\\\\Sent")' % q(n.p("Sent")),
        'SETMETADATA %s (/private/specialuse "\\\\Drafts")' % q(n.p("Drafts")),
        "CREATE %s (USE (\\Archive))" % q(n.p("Archive2")),
    ]
    subs = ["INBOX", n.p("Sent"), n.p("Sent", "2024"), n.p("Drafts"), n.p("Sent Items"),
            n.p("Archive", "2023", "Q1"), n.p("Gone"), n.o("u2", "Shared"), n.shared + "Public"]
    cmds += ["SUBSCRIBE %s" % q(s) for s in subs]
    cmds += ["DELETE %s" % q(n.p("Gone"))]           # subscribed but deleted
    for c in cmds:
        log.append(("u1", c, u1.cmd(c)))
    u1.close()


def list_commands(n, who):
    S = n.S
    if who == "u1":
        cmds = [
            'CAPABILITY',
            'LIST "" ""',
            'LIST "" "*"',
            'LIST "" "%"',
            'LIST "" "%%%s%%"' % S,
            'LIST "" "INBOX*"',
            'LIST "" "INBOX%"',
            'LIST "" "INBOX%s%%"' % S,
            'LIST "" "INBOX%s*"' % S,
            'LIST "" "inbox"',
            'LIST "" %s' % q(n.p("Sent") + S + "%"),
            'LIST "" %s' % q(n.p("Sent") + "*"),
            'LIST "" %s' % q(n.p("Archive")),
            'LIST "" %s' % q(n.p("Archive") + S + "%"),
            'LIST %s "*"' % q(n.other),
            'LIST "" %s' % q(n.other + "*"),
            'LIST "" %s' % q(n.other + "%"),
            'LIST "" %s' % q(n.other.rstrip(S)),
            'LIST "" %s' % q(n.shared + "*") if n.shared else 'LIST "" "Public*"',
            'LIST "" %s' % q(n.shared.rstrip(S)) if n.shared else 'LIST "" "Public"',
            'LSUB "" "*"',
            'LSUB "" "%"',
            'LIST (SUBSCRIBED) "" "*"',
            'LIST (SUBSCRIBED) "" "%"',
            'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"',
            'LIST "" "*" RETURN (CHILDREN SPECIAL-USE)',
            'LIST "" "*" RETURN (SUBSCRIBED)',
            'LIST (SPECIAL-USE) "" "*"',
            'LIST "" ("INBOX" "Drafts" %s)' % q(n.p("Sent")),
            'NAMESPACE',
        ]
    elif who == "u2":
        cmds = ['LIST "" "*"', 'LIST "" "%"', 'LSUB "" "*"', 'NAMESPACE']
    else:  # admin
        cmds = ['LIST "" "*"', 'LIST "" "%"', 'LIST "" "user%s%%"' % S, 'LIST "" "INBOX*"',
                'LSUB "" "*"', 'NAMESPACE']
    return cmds


def mutation_steps(n):
    """(who, command) pairs run in order by u3 (and admin to peek at the real names)."""
    S = n.S
    peek = ("admin", 'LIST "" "user%su3*"' % S)
    look = ("u3", 'LIST "" "*"')
    steps = [
        look, peek,
        ("u3", 'CREATE "INBOX%schild"' % S), look, peek,
        ("u3", 'LIST "" "INBOX*"'),
        ("u3", 'LIST "" "INBOX%s%%"' % S),
        ("u3", 'LIST "" "INBOX%schild"' % S),
        ("u3", 'STATUS "INBOX%schild" (MESSAGES)' % S),
        ("u3", 'CREATE %s' % q(n.p("child"))),
        ("u3", 'STATUS %s (MESSAGES)' % q(n.p("child"))),
        # A mailbox named user.u3.INBOX.X internally (what Cyrus's alternate namespace
        # makes of "INBOX/X"), created by the admin: how does u3 see it?
        ("admin", 'CREATE "user%su3%sINBOX%sviaadmin"' % (S, S, S)),
        ("u3", 'LIST "" "*viaadmin"'),
        ("u3", 'STATUS "INBOX%sviaadmin" (MESSAGES)' % S),
        ("u3", 'STATUS "INBOX%sINBOX%sviaadmin" (MESSAGES)' % (S, S)),
        ("u3", 'CREATE "INBOX"'),
        ("u3", 'CREATE "inbox%slower"' % S), look,
        ("u3", 'CREATE %s' % q(n.p("NoParent", "deep", "er"))), look, peek,
        ("u3", 'LIST "" %s' % q(n.p("NoParent"))),
        ("u3", 'STATUS %s (MESSAGES)' % q(n.p("NoParent"))),
        ("u3", 'SELECT %s' % q(n.p("NoParent"))),
        ("u3", 'UNSELECT'),
        ("u3", 'APPEND %s ' % q(n.p("NoParent")) + MSG),
        ("u3", 'SUBSCRIBE %s' % q(n.p("NoParent"))),
        ("u3", 'UNSUBSCRIBE %s' % q(n.p("NoParent"))),
        ("u3", 'CREATE %s' % q(n.p("Inter", "leaf"))),
        ("u3", 'CREATE %s' % q(n.p("Inter"))),
        ("u3", 'LIST "" %s' % q(n.p("Inter") + "*")),
        ("u3", 'CREATE "TopLevel"'),
        ("u3", 'CREATE %s' % q(n.p("Trailing") + S)), look,
        ("u3", 'CREATE %s' % q(n.p("Parent"))),
        ("u3", 'CREATE %s' % q(n.p("Parent", "Kid"))),
        ("u3", 'DELETE %s' % q(n.p("Parent"))), look, peek,
        ("u3", 'DELETE %s' % q(n.p("NoParent"))), look,
        ("u3", 'DELETE %s' % q(n.p("NoParent", "deep"))), look,
        ("u3", 'DELETE "INBOX"'),
        ("u3", 'RENAME "INBOX" %s' % q(n.p("EmptyInboxRename"))),
        ("u3", 'LIST "" %s' % q(n.p("EmptyInboxRename"))),
        ("u3", 'APPEND "INBOX" ' + MSG),
        ("u3", 'SELECT "INBOX"'),
        ("u3", 'RENAME "INBOX" %s' % q(n.p("OldInbox"))), look, peek,
        ("u3", 'STATUS "INBOX" (MESSAGES)'),
        ("u3", 'STATUS %s (MESSAGES)' % q(n.p("OldInbox"))),
        ("u3", 'UNSELECT'),
        ("u3", 'RENAME %s %s' % (q(n.p("Parent")), q(n.p("Moved")))), look, peek,
        ("u3", 'RENAME %s "INBOX%sbelow"' % (q(n.p("Moved")), S)), look, peek,
        # specialuse_protect (Cyrus 3.6): no DELETE, no move to another parent.
        ("u3", 'CREATE %s (USE (\\Sent))' % q(n.p("MySent"))),
        ("u3", 'CREATE %s' % q(n.p("Holder"))),
        ("u3", 'DELETE %s' % q(n.p("MySent"))),
        ("u3", 'RENAME %s %s' % (q(n.p("MySent")), q(n.p("Holder", "MySent")))),
        ("u3", 'RENAME %s %s' % (q(n.p("MySent")), q(n.p("SentItems")))), look,
        ("u3", 'SETMETADATA %s (/private/specialuse NIL)' % q(n.p("SentItems"))),
        ("u3", 'DELETE %s' % q(n.p("SentItems"))), look,
    ]
    return steps


MSG_BODY = "Subject: t\r\n\r\nbody\r\n"
MSG = "{%d}\r\n%s" % (len(MSG_BODY), MSG_BODY)


def run_config(workspace, config):
    n = Names(CONFIGS[config])
    section = "config " + config
    cyrus, ours = workspace.start_pair(NAME + "-" + config, CONFIGS[config])
    steps = []
    try:
        setup_logs = {}
        for server in (cyrus, ours):
            setup_logs[server.label] = []
            setup(server, n, setup_logs[server.label])
        # The set-up commands are compared too: a folder missing on one side explains
        # the listings that follow.
        for (who, command, c), (_, _, o) in zip(setup_logs["cyrus"], setup_logs["ours"]):
            steps.append(Step(section + " setup", who, command.splitlines()[0], imap_response(*c),
                              imap_response(*o)))
        sessions = {server.label: {who: imap_login(server.port, who) for who in ("u1", "u2", ADMIN, "u3")}
                    for server in (cyrus, ours)}
        commands = [(who, c) for who in ("u1", "u2", ADMIN) for c in list_commands(n, who)]
        commands += mutation_steps(n)
        for who, command in commands:
            answers = {}
            for label in ("cyrus", "ours"):
                try:
                    answers[label] = imap_response(*sessions[label][who].cmd(command))
                except (OSError, EOFError) as e:
                    answers[label] = imap_response([], "EXCEPTION %r" % e)
            steps.append(Step(section, who, command.splitlines()[0], answers["cyrus"], answers["ours"]))
        for by_user in sessions.values():
            for session in by_user.values():
                session.close()
    finally:
        workspace.stop_pair((cyrus, ours))
    return steps


def run(workspace, progress=sys.stderr):
    steps = []
    for config in CONFIGS:
        progress.write("list: config %s\n" % config)
        steps += run_config(workspace, config)
    return steps
