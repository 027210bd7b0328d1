"""A full disk, on the mail spool and on the configuration directory: LMTP
answers 452 4.3.1 (the MTA keeps the message and retries), IMAP APPEND
answers NO [OVERQUOTA] as Dovecot does, the store is not fenced (a full
disk is not a failing one), every message that got 250 is there, and
delivery resumes by itself once space is freed, without a restart. Then
cyr_reconstruct -n finds nothing to repair.

Each test mounts a small tmpfs, so it needs root; otherwise it prints
"SKIPPED: reason" and passes."""

import contextlib
import os
import smtplib
import subprocess
import time

import test_lmtp
from harness import run_tests

BODY = ("Subject: fill\r\n\r\n" + ("y" * 70 + "\r\n") * 200).encode()  # about 14 KiB


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        return "not root"
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", path], capture_output=True, text=True)
    return None if r.returncode == 0 else "mount failed: " + r.stderr.strip()


def fill(node, limit=600):
    """Delivers until the disk refuses; returns (accepted, refusals)."""
    accepted, refusals = 0, {}
    for _ in range(limit):
        c = node.lmtp()
        try:
            c.sendmail("a@example.com", ["fred"], BODY)
            accepted += 1
        except smtplib.SMTPDataError as e:
            key = (e.smtp_code, e.smtp_error)
            refusals[key] = refusals.get(key, 0) + 1
            if refusals[key] >= 5:
                c.quit()
                break
        c.quit()
    return accepted, refusals


def check_full_then_recover(node, m, free_space):
    accepted, refusals = fill(node)
    assert accepted > 0, refusals
    assert list(refusals) == [(452, b"4.3.1 Insufficient system storage")], refusals
    typ, data = m.append("user.fred", None, None, BODY)
    assert typ == "NO" and data[0].startswith(b"[OVERQUOTA] Not enough disk space"), (typ, data)
    # Every 250 is stored; nothing refused is.
    assert m.status("user.fred", "(MESSAGES)")[1][0] == b"user.fred (MESSAGES %d)" % accepted
    free_space()
    c = node.lmtp()
    c.sendmail("a@example.com", ["fred"], BODY)  # raises if refused
    c.quit()
    typ, _ = m.append("user.fred", None, None, BODY)
    assert typ == "OK", typ
    log = node.log()
    assert "store fenced" not in log, [l for l in log.splitlines() if "fenced" in l][:3]
    assert "NoSpace" in log
    return accepted


def reconstruct_clean(node):
    r = subprocess.run([os.path.join(node.bin_dir, "cyr_reconstruct"), "-C", node.imapd_conf, "-n", "-G",
                        "user.fred"], capture_output=True, text=True)
    assert r.returncode == 0 and "1 mailboxes checked, 0 would change, 0 failed" in r.stdout, r.stdout + r.stderr


def provision(node):
    m = node.imap()
    assert m.create("user.fred")[0] == "OK"
    assert m.setacl("user.fred", "admin", "lrswipkxtecda")[0] == "OK"
    return m


@contextlib.contextmanager
def node_on_small_disk(args, where, size):
    """A started node whose `where(node)` directory is a tmpfs of `size`, and
    the admin's IMAP session; None (after "SKIPPED") without root. Stopped,
    unmounted and removed afterwards."""
    node = test_lmtp.LmtpNode(args)
    path = where(node)
    why = mount_tmpfs(path, size)
    if why:
        print("SKIPPED: %s" % why)
        yield None, None, path
        return
    try:
        node.start()
        yield node, provision(node), path
    finally:
        node.stop()
        subprocess.run(["umount", path], capture_output=True)
        node.cleanup()


def test_full_spool(args):
    with node_on_small_disk(args, lambda n: n.path("spool"), "4m") as (node, m, spool):
        if node is None:
            return

        def free_space():
            # A message too big to go to the store from memory is spooled
            # to a file first (lmtp.spool, on the same partition): the same
            # answer.
            c = node.lmtp()
            try:
                c.sendmail("a@example.com", ["fred"], BODY * 40)
                raise AssertionError("a 560 KiB message was accepted on a full disk")
            except smtplib.SMTPDataError as e:
                assert (e.smtp_code, e.smtp_error) == (452, b"4.3.1 Insufficient system storage"), e
            c.quit()
            assert not os.listdir(os.path.join(spool, "lmtp.spool"))  # its spool file is gone
            typ, data = m.append("user.fred", None, None, BODY * 150)  # a literal staged to a file
            assert typ == "NO" and data[0].startswith(b"[OVERQUOTA] Not enough disk space"), (typ, data)
            # An admin expunges and purges: the files go, delivery resumes.
            assert m.select("user.fred")[0] == "OK"
            assert m.store("1:100", "+FLAGS", "(\\Deleted)")[0] == "OK"
            assert m.expunge()[0] == "OK"
            m.close()
            time.sleep(1.1)  # -X 0 purges what was expunged before this second
            r = subprocess.run([os.path.join(node.bin_dir, "cyr_expire"), "-C", node.imapd_conf, "-X", "0"],
                               capture_output=True, text=True)
            assert r.returncode == 0 and "purged 100 expunged" in r.stdout, r.stdout + r.stderr

        accepted = check_full_then_recover(node, m, free_space)
        assert m.status("user.fred", "(MESSAGES)")[1][0] == b"user.fred (MESSAGES %d)" % (accepted - 100 + 2)
        m.logout()
        node.stop()
        reconstruct_clean(node)


def test_full_configdirectory(args):
    with node_on_small_disk(args, lambda n: n.confdir, "1m") as (node, m, _):
        if node is None:
            return

        def free_space():
            # SQLite could not grow its write-ahead logs: a flag change is
            # refused too, then everything works once there is room.
            assert m.select("user.fred")[0] == "OK"
            typ, data = m.store("1", "+FLAGS", "(\\Flagged)")
            assert typ == "NO" and b"[OVERQUOTA]" in data[0], (typ, data)
            m.close()
            subprocess.run(["mount", "-o", "remount,size=8m", node.confdir], check=True)
            assert m.select("user.fred")[0] == "OK"
            assert m.store("1", "+FLAGS", "(\\Flagged)")[0] == "OK"
            m.close()

        accepted = check_full_then_recover(node, m, free_space)
        assert m.status("user.fred", "(MESSAGES)")[1][0] == b"user.fred (MESSAGES %d)" % (accepted + 2)
        m.logout()
        node.stop()
        reconstruct_clean(node)


if __name__ == "__main__":
    run_tests([test_full_spool, test_full_configdirectory])
