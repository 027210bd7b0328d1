"""cyr_master's children: EVENTS fire on schedule, DAEMON entries start with
the master, are restarted when they die, and are stopped (SIGTERM, then
SIGKILL after the grace period) when it stops."""

import os
import signal
import time

from harness import Node, pid_alive, run_tests, wait_for


def read_lines(path):
    try:
        with open(path) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def test_event_with_period_runs_at_start(args):
    conf = 'EVENTS {\n  tick cmd="{dir}/tick.sh" period=1\n}\n'
    with Node(args.bin, conf, keep=args.keep) as n:
        n.script("tick.sh", "date +%s >> {dir}/ticks")
        n.start()
        wait_for(lambda: read_lines(n.path("ticks")), what="the event to run")
        n.wait_log("EVENT tick: done (exit 0)")
        assert n.stop() == 0


def test_event_once_without_period_and_failure_is_logged(args):
    conf = ('EVENTS {\n'
            '  once cmd="{dir}/once.sh"\n'
            '  broken cmd="{dir}/broken.sh" period=60\n'
            '}\n')
    with Node(args.bin, conf, keep=args.keep) as n:
        n.script("once.sh", "echo x >> {dir}/once")
        n.script("broken.sh", "exit 3")
        n.start()
        n.wait_log("EVENT broken: failed (exit 3)")
        wait_for(lambda: read_lines(n.path("once")), what="the once event")
        time.sleep(1.0)
        assert read_lines(n.path("once")) == ["x"]
        assert n.stop() == 0


def test_event_at_time_is_not_run_at_start(args):
    # at= runs daily at that time, not at start-up. Pick a minute that is
    # not the current one (now + 2 hours, local time).
    hhmm = time.strftime("%H%M", time.localtime(time.time() + 7200))
    conf = 'EVENTS {\n  nightly cmd="{dir}/nightly.sh" at=%s\n}\n' % hhmm
    with Node(args.bin, conf, keep=args.keep) as n:
        n.script("nightly.sh", "echo ran >> {dir}/nightly")
        n.start()
        time.sleep(1.0)
        assert not os.path.exists(n.path("nightly"))
        assert n.stop() == 0


def test_daemon_started_restarted_and_stopped(args):
    conf = 'DAEMON {\n  keeper cmd="{dir}/keeper.sh"\n}\n'
    with Node(args.bin, conf, keep=args.keep, extra_args=["-g", "5"]) as n:
        n.script("keeper.sh",
                 "echo $$ >> {dir}/keeper.pids\n"
                 "trap 'echo $$ >> {dir}/keeper.terms; exit 0' TERM\n"
                 "while :; do sleep 0.1; done")
        n.start()
        first = int(wait_for(lambda: read_lines(n.path("keeper.pids")), what="daemon start")[0])
        assert pid_alive(first)
        # It dies: the master starts it again (after a short back-off).
        os.kill(first, signal.SIGKILL)
        second = int(wait_for(lambda: read_lines(n.path("keeper.pids"))[1:],
                              timeout=10, what="daemon restart")[0])
        assert second != first and pid_alive(second)
        n.wait_log("DAEMON keeper: exited (killed by signal 9")
        # The master stops: the daemon gets SIGTERM and is gone before the master exits.
        assert n.stop() == 0, n.log()
        assert read_lines(n.path("keeper.terms")) == [str(second)]
        assert not pid_alive(second)


def test_daemon_ignoring_sigterm_is_killed_after_grace(args):
    conf = 'DAEMON {\n  stubborn cmd="{dir}/stubborn.sh"\n}\n'
    with Node(args.bin, conf, keep=args.keep, extra_args=["-g", "1"]) as n:
        n.script("stubborn.sh",
                 "echo $$ > {dir}/stubborn.pid\n"
                 "trap '' TERM\n"
                 "while :; do sleep 0.1; done")
        n.start()
        pid = int(wait_for(lambda: read_lines(n.path("stubborn.pid")), what="daemon start")[0])
        t0 = time.monotonic()
        assert n.stop() == 0, n.log()
        assert time.monotonic() - t0 >= 0.9
        assert "sending SIGKILL" in n.log()
        wait_for(lambda: not pid_alive(pid), timeout=5, what="the stubborn daemon to die")


def test_daemon_that_cannot_start_is_retried(args):
    conf = 'DAEMON {\n  ghost cmd="{dir}/does-not-exist"\n}\n'
    with Node(args.bin, conf, keep=args.keep) as n:
        n.start()
        n.wait_log("DAEMON ghost:", count=2, timeout=10)
        assert "retrying in" in n.log()
        assert n.stop() == 0


if __name__ == "__main__":
    run_tests([
        test_event_with_period_runs_at_start,
        test_event_once_without_period_and_failure_is_logged,
        test_event_at_time_is_not_run_at_start,
        test_daemon_started_restarted_and_stopped,
        test_daemon_ignoring_sigterm_is_killed_after_grace,
        test_daemon_that_cannot_start_is_retried,
    ])
