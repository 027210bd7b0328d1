"""Shared helper for the integration tests: run a real cyr_master.

A Node writes imapd.conf and cyrus.conf into a fresh temporary directory
(configdirectory, spool and pid file all inside it), starts
<bin>/cyr_master -C imapd.conf -M cyrus.conf -p master.pid in the foreground
with its log captured, waits until it is ready (the "{configdirectory}/ports"
file exists and the log has its "ready:" line), and stops it with SIGTERM.
Services listen on 127.0.0.1:0; ports() reads the real addresses back.

Each test_*.py is run by ctest as `python3 test_x.py --bin <build>/bin`.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True, help="build directory's bin/ (holds cyr_master)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return p.parse_args()


def set_password(node, user, password="secret"):
    """Gives `user` its password in `node`'s password database (cyr_passwd),
    creating the node's directories first: a node need not be started."""
    os.makedirs(node.confdir, exist_ok=True)
    os.makedirs(node.path("spool"), exist_ok=True)
    res = subprocess.run([os.path.join(node.bin_dir, "cyr_passwd"), "-C", node.imapd_conf, user],
                         input=(password + "\n").encode(), capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr


def wait_for(predicate, timeout=20.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); look at its state.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class Node:
    """One cyr_master in its own temporary directory."""

    def __init__(self, bin_dir, cyrus_conf, imapd_extra="", keep=False, extra_args=()):
        self.bin_dir = os.path.abspath(bin_dir)
        self.dir = tempfile.mkdtemp(prefix="cyr_itest.")
        self.keep = keep
        self.confdir = os.path.join(self.dir, "conf")
        self.imapd_conf = os.path.join(self.dir, "imapd.conf")
        self.cyrus_conf = os.path.join(self.dir, "cyrus.conf")
        self.pid_file = os.path.join(self.dir, "master.pid")
        self.log_file = os.path.join(self.dir, "master.log")
        self.extra_args = list(extra_args)
        self.proc = None
        self.write_imapd_conf(imapd_extra)
        self.write_cyrus_conf(cyrus_conf)

    # -- files -------------------------------------------------------------

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write_imapd_conf(self, extra=""):
        with open(self.imapd_conf, "w") as f:
            f.write("configdirectory: %s\n" % self.confdir)
            f.write("partition-default: %s\n" % self.path("spool"))
            f.write(extra)

    def write_cyrus_conf(self, text):
        # "{dir}" in the text stands for the node's directory.
        with open(self.cyrus_conf, "w") as f:
            f.write(text.replace("{dir}", self.dir))

    def script(self, name, body):
        """Writes an executable /bin/sh script into the node's directory."""
        p = self.path(name)
        with open(p, "w") as f:
            f.write("#!/bin/sh\n" + body.replace("{dir}", self.dir) + "\n")
        os.chmod(p, 0o755)
        return p

    def log(self):
        try:
            with open(self.log_file, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def ports(self):
        """{service: [address, ...]} from {configdirectory}/ports."""
        out = {}
        try:
            with open(os.path.join(self.confdir, "ports")) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2:
                        out.setdefault(parts[0], []).append(parts[1])
        except FileNotFoundError:
            return None
        return out

    def master_pid(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return None

    # -- process -------------------------------------------------------------

    def command(self):
        return [os.path.join(self.bin_dir, "cyr_master"), "-C", self.imapd_conf,
                "-M", self.cyrus_conf, "-p", self.pid_file] + self.extra_args

    def start(self, wait_ready=True, timeout=20.0):
        self._log = open(self.log_file, "ab")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=20.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("cyr_master exited with %s before it was ready:\n%s"
                                     % (self.proc.returncode, self.log()))
            return self.ports() is not None and "ready:" in self.log()
        wait_for(ready, timeout, what="cyr_master to be ready")

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Signals the master and returns its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("cyr_master did not stop within %.0fs:\n%s" % (timeout, self.log()))

    def wait_log(self, text, timeout=20.0, count=1):
        return wait_for(lambda: self.log().count(text) >= count, timeout,
                        what="log line %r (x%d)" % (text, count))

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False


def run_tests(tests):
    """Runs each test(args); prints a summary; exits non-zero on any failure."""
    args = parse_args()
    master = os.path.join(args.bin, "cyr_master")
    if not os.access(master, os.X_OK):
        print("no executable %s" % master)
        sys.exit(2)
    failed = 0
    for t in tests:
        name = t.__name__
        start = time.monotonic()
        try:
            t(args)
            print("PASS %s (%.1fs)" % (name, time.monotonic() - start))
        except Exception:
            failed += 1
            print("FAIL %s" % name)
            traceback.print_exc()
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    sys.exit(1 if failed else 0)
