"""cyr_master and cyrus.conf: entries it does not serve are warned about once
each, by name; Cyrus commands map to our multi-call commands; SIGHUP reloads."""

import os
import signal
import time

from harness import Node, run_tests, wait_for


def test_unserved_entries_warned_once_each(args):
    conf = ('START {\n'
            '  arb cmd="arbitron -d 7"\n'
            '}\n'
            'SERVICES {\n'
            '  news cmd="nntpd" listen="127.0.0.1:0"\n'
            '  http cmd="/usr/lib/cyrus/bin/httpd -s" listen="127.0.0.1:0"\n'
            '  mine cmd="nosuchd" listen="127.0.0.1:0"\n'
            '}\n'
            'EVENTS {\n'
            '  frob cmd="frobnicate --all" period=5\n'
            '}\n'
            'DAEMON {\n'
            '  idled cmd="idled"\n'
            '}\n')
    with Node(args.bin, conf, keep=args.keep) as n:
        n.start()
        log = n.log()
        # Programs this server does not implement (Usenet, HTTP, a made-up name).
        for name, cmd in [("arb", "arbitron -d 7"), ("news", "nntpd"),
                          ("http", "/usr/lib/cyrus/bin/httpd -s"), ("mine", "nosuchd"),
                          ("frob", "frobnicate --all"), ("idled", "idled")]:
            needle = 'entry "%s" (cmd="%s") is not served' % (name, cmd)
            assert log.count(needle) == 1, (needle, log)
        assert n.ports() == {}
        assert n.stop() == 0


def test_cyrus_utility_runs_as_our_command(args):
    # "info" exists in our multi-call binary; Cyrus spells it cyr_info.
    conf = 'START {\n  showinfo cmd="/usr/sbin/cyr_info conf-lint"\n}\n'
    with Node(args.bin, conf, keep=args.keep) as n:
        n.start()
        log = n.log()
        assert 'running "cyr_info -C %s conf-lint"' % n.imapd_conf in log, log
        assert "START showinfo:" in log
        assert "not served" not in log, log
        assert n.stop() == 0


def test_sighup_reloads_events_and_logs_changes(args):
    with Node(args.bin, "", keep=args.keep) as n:
        n.start()
        n.script("tick.sh", "echo tick >> {dir}/ticks")
        n.write_cyrus_conf('EVENTS {\n  tick cmd="{dir}/tick.sh" period=10\n}\n')
        n.write_imapd_conf("timeout: 45\n")
        n.send_signal(signal.SIGHUP)
        n.wait_log("received SIGHUP")
        wait_for(lambda: os.path.exists(n.path("ticks")), what="the event added by reload")
        n.wait_log("reload: imapd.conf: timeout added")
        n.wait_log("ready:", count=2)
        assert n.stop() == 0


def test_broken_reload_keeps_running(args):
    conf = 'EVENTS {\n  tick cmd="{dir}/tick.sh" period=1\n}\n'
    with Node(args.bin, conf, keep=args.keep) as n:
        n.script("tick.sh", "true")
        n.start()
        n.write_cyrus_conf('SERVICES {\n  imap cmd="imapd\n')
        n.send_signal(signal.SIGHUP)
        n.wait_log("reload failed, keeping the running configuration")
        assert n.proc.poll() is None
        assert n.stop() == 0


if __name__ == "__main__":
    run_tests([
        test_unserved_entries_warned_once_each,
        test_cyrus_utility_runs_as_our_command,
        test_sighup_reloads_events_and_logs_changes,
        test_broken_reload_keeps_running,
    ])
