"""cyr_master start-up and shutdown: START before listening, pid file,
SIGTERM/SIGINT exit 0 and clean up, -d daemonizes, one master per pid file."""

import os
import signal
import subprocess
import time

from harness import Node, pid_alive, run_tests, wait_for


def test_start_runs_to_completion_before_ready(args):
    conf = ('START {\n'
            '  first cmd="{dir}/first.sh"\n'
            '  second cmd="{dir}/second.sh"\n'
            '}\n')
    with Node(args.bin, conf, keep=args.keep) as n:
        # Slow on purpose: readiness must wait for both, in order.
        n.script("first.sh", "sleep 0.5; echo first >> {dir}/start-order")
        n.script("second.sh", "echo second >> {dir}/start-order")
        n.start()
        with open(n.path("start-order")) as f:
            assert f.read().split() == ["first", "second"]
        log = n.log()
        assert log.index("START second: done") < log.index("ready:"), log
        assert n.stop() == 0


def test_pid_file_and_sigterm(args):
    with Node(args.bin, "", keep=args.keep) as n:
        n.start()
        assert n.master_pid() == n.proc.pid
        assert n.ports() == {}
        assert n.stop(signal.SIGTERM) == 0, n.log()
        assert not os.path.exists(n.pid_file), "pid file left behind"
        assert n.ports() is None, "ports file left behind"
        assert "stopped" in n.log()


def test_sigint_also_stops_cleanly(args):
    with Node(args.bin, "", keep=args.keep) as n:
        n.start()
        assert n.stop(signal.SIGINT) == 0, n.log()
        assert not os.path.exists(n.pid_file)


def test_second_master_with_same_pid_file_is_refused(args):
    with Node(args.bin, "", keep=args.keep) as n:
        n.start()
        second = subprocess.run(n.command(), stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=30)
        assert second.returncode == 75, (second.returncode, second.stderr)
        assert "another cyr_master" in second.stderr, second.stderr
        # The first one is unharmed and still owns the file.
        assert n.master_pid() == n.proc.pid
        assert n.stop() == 0


def test_ops_commands_see_a_master_with_another_pid_file(args):
    # The harness starts every master with -p {dir}/master.pid, outside the
    # configdirectory: the commands that must not run beside a master still
    # see it, through the lock it holds in the configdirectory of their -C.
    with Node(args.bin, "", keep=args.keep) as n:
        n.start()
        node_lock = os.path.join(n.confdir, "cyrus-master.pid")
        with open(node_lock) as f:
            assert int(f.read().strip()) == n.proc.pid
        for argv in (["cyr_reconstruct", "-m"], ["cyr_cyrusdb", "--restore", n.path("no-such-backup")]):
            res = subprocess.run([os.path.join(n.bin_dir, argv[0]), "-C", n.imapd_conf] + argv[1:],
                                 capture_output=True, text=True, timeout=60)
            assert res.returncode == 75 and "(pid %d) is running" % n.proc.pid in res.stderr, (argv, res)
        # A second master on the same store with its own pid file is refused too.
        other = n.command()
        other[other.index("-p") + 1] = n.path("other.pid")
        second = subprocess.run(other, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        assert second.returncode == 75, (second.returncode, second.stderr)
        assert not os.path.exists(n.path("other.pid"))
        assert n.master_pid() == n.proc.pid
        assert n.stop() == 0
        assert not os.path.exists(node_lock) and not os.path.exists(n.pid_file)


def test_daemon_mode_detaches(args):
    with Node(args.bin, "", keep=args.keep) as n:
        cmd = n.command() + ["-d"]
        # Relative paths must survive the chdir("/") of -d.
        rel = [os.path.relpath(a, n.dir) if a.startswith(n.dir) else a for a in cmd]
        started = subprocess.run(rel, cwd=n.dir, stdin=subprocess.DEVNULL, capture_output=True,
                                 timeout=30)
        assert started.returncode == 0, started.stderr
        pid = wait_for(n.master_pid, what="the daemon's pid file")
        wait_for(lambda: n.ports() is not None, what="the daemon's ports file")
        assert pid_alive(pid)
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(pid), what="the daemon to exit")
        assert not os.path.exists(n.pid_file)


def test_bad_configuration_exits_with_ex_config(args):
    with Node(args.bin, 'SERVICES {\n  imap cmd="imapd\n', keep=args.keep) as n:
        n.start(wait_ready=False)
        rc = n.proc.wait(30)
        assert rc == 78, (rc, n.log())
        assert "cyrus.conf" in n.log(), n.log()
        assert not os.path.exists(n.pid_file)


def test_missing_imapd_conf(args):
    with Node(args.bin, "", keep=args.keep) as n:
        os.unlink(n.imapd_conf)
        res = subprocess.run(n.command(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=30)
        assert res.returncode == 78, (res.returncode, res.stderr)
        assert "imapd.conf" in res.stderr, res.stderr


def test_usage_errors(args):
    with Node(args.bin, "", keep=args.keep) as n:
        res = subprocess.run(n.command() + ["--bogus"], capture_output=True, text=True, timeout=30)
        assert res.returncode == 64, res
        assert "usage" in res.stderr


if __name__ == "__main__":
    run_tests([
        test_start_runs_to_completion_before_ready,
        test_pid_file_and_sigterm,
        test_sigint_also_stops_cleanly,
        test_second_master_with_same_pid_file_is_refused,
        test_ops_commands_see_a_master_with_another_pid_file,
        test_daemon_mode_detaches,
        test_bad_configuration_exits_with_ex_config,
        test_missing_imapd_conf,
        test_usage_errors,
    ])
