"""Start-up and clean stop of the two servers compared: a private Cyrus IMAP 3.6
(Debian's binaries, unpacked by ops/scripts/cyrus-compare.sh) and our node
(cyr_master from our build), both on 127.0.0.1 in one temporary directory.

Both get the same users and passwords and the same namespace settings, so a
check can send the same commands to each and compare the answers."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

ADMIN = "admin"
ADMIN_PASSWORD = "adminpw"
USER_PASSWORD = "pw"
USERS = ["u1", "u2", "u3", "u4"]

# Where cyrus-interop.sh (and cyrus-compare.sh) unpack Debian's Cyrus packages.
DEFAULT_CYRUS_PKG = os.environ.get("CYRUS_INTEROP_PKG", "/var/tmp/cyrus-interop-pkg")


class ServerStartError(RuntimeError):
    """A server did not come up: the comparison cannot run (exit status 1)."""


def password_of(user):
    return ADMIN_PASSWORD if user == ADMIN else USER_PASSWORD


def free_port():
    """A port free on 127.0.0.1 now (Cyrus's master needs a fixed port in its
    cyrus.conf; ours binds port 0 and reports the port it got)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_up(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_for(predicate, what, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise ServerStartError("timed out waiting for " + what)


class SyslogSink:
    """Binds /dev/log when nothing does (containers), so that Cyrus's syslog lines
    are kept in the work directory instead of being lost; leaves a real syslog alone."""

    def __init__(self, path):
        self.path, self.sock, self.out = path, None, None

    def start(self):
        if os.path.exists("/dev/log"):
            return
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("/dev/log")
        os.chmod("/dev/log", 0o666)
        self.out = open(self.path, "ab", buffering=0)
        threading.Thread(target=self._copy, daemon=True).start()

    def _copy(self):
        while True:
            try:
                datagram = self.sock.recv(65536)
            except OSError:
                return
            self.out.write(datagram.rstrip(b"\0\n") + b"\n")

    def stop(self):
        if self.sock is None:
            return
        try:
            os.unlink("/dev/log")
        except FileNotFoundError:
            pass
        self.sock.close()
        self.sock = None
        self.out.close()


class CyrusServer:
    """A private Cyrus master with imapd, and optionally pop3d and lmtpd (with -a:
    pre-authenticated, like our `lmtpd -a`), on ports picked free at start."""

    label = "cyrus"

    def __init__(self, cyrus_bin, root, name, altnamespace, pop3d=None, lmtp=False):
        self.bin, self.name, self.altnamespace = cyrus_bin, name, altnamespace
        self.dir = os.path.join(root, name)
        self.conf = os.path.join(self.dir, "imapd.conf")
        self.master_conf = os.path.join(self.dir, "cyrus.conf")
        self.pid_file = os.path.join(self.dir, "master.pid")
        self.port = free_port()
        self.pop3_port = free_port() if pop3d else None
        self.lmtp_port = free_port() if lmtp else None
        for sub in ("spool", "run/proc", "run/lock", "run/socket"):
            os.makedirs(os.path.join(self.dir, sub))
        for sub in ("db", "socket", "log", "msg", "user", "quota", "sieve", "ptclient", "sync", "lock",
                    "proc"):
            os.makedirs(os.path.join(self.dir, "conf", sub))
        d = self.dir
        yes_no = "yes" if altnamespace else "no"
        settings = [
            "configdirectory: %s/conf" % d, "defaultpartition: default", "partition-default: %s/spool" % d,
            "proc_path: %s/run/proc" % d, "mboxname_lockpath: %s/run/lock" % d,
            "lmtpsocket: %s/run/socket/lmtp" % d, "idlesocket: %s/run/socket/idle" % d,
            "notifysocket: %s/run/socket/notify" % d, "servername: %s" % name, "syslog_prefix: %s" % name,
            "admins: %s" % ADMIN, "altnamespace: %s" % yes_no, "unixhierarchysep: %s" % yes_no,
            "virtdomains: off", "hashimapspool: true", "allowplaintext: yes",
            "sasl_pwcheck_method: auxprop", "sasl_auxprop_plugin: sasldb",
            "sasl_sasldb_path: %s/sasldb2" % d, "sasl_mech_list: PLAIN LOGIN",
            "delete_mode: immediate", "expunge_mode: immediate", "sievedir: %s/conf/sieve" % d,
        ]
        with open(self.conf, "w") as f:
            f.write("\n".join(settings) + "\n")
        service = '  %s cmd="%s -C %s" listen="127.0.0.1:%d" prefork=0 maxchild=50\n'
        with open(self.master_conf, "w") as f:
            f.write('START {\n  recover cmd="%s/ctl_cyrusdb -C %s -r"\n}\n' % (cyrus_bin, self.conf))
            f.write("SERVICES {\n")
            f.write(service % ("imap", os.path.join(cyrus_bin, "imapd"), self.conf, self.port))
            if pop3d:
                f.write(service % ("pop3", pop3d, self.conf, self.pop3_port))
            if lmtp:
                f.write(service % ("lmtp", os.path.join(cyrus_bin, "lmtpd") + " -a", self.conf, self.lmtp_port))
            f.write("}\n")
        for user in [ADMIN] + USERS:
            subprocess.run(["saslpasswd2", "-p", "-c", "-f", os.path.join(d, "sasldb2"), "-u", name, user],
                           input=(password_of(user) + "\n").encode(), check=True)
        # The master drops privileges to cyrus:mail.
        subprocess.run(["chown", "-R", "cyrus:mail", d], check=True)
        os.chmod(os.path.join(d, "sasldb2"), 0o640)

    stopped = False

    def start(self):
        run = subprocess.run([os.path.join(self.bin, "master"), "-C", self.conf, "-M", self.master_conf,
                              "-p", self.pid_file, "-d"], capture_output=True, text=True)
        if run.returncode != 0:
            raise ServerStartError("Cyrus master %s: %s" % (self.name, run.stderr.strip()))
        for port in (self.port, self.pop3_port, self.lmtp_port):
            if port is not None:
                wait_for(lambda: port_up(port), "Cyrus %s on port %d" % (self.name, port))

    def stop(self):
        """SIGTERM to the master (it stops its children), SIGKILL after 20 s. Only once:
        a second call must not signal a pid that may since belong to another process."""
        if self.stopped:
            return
        self.stopped = True
        try:
            with open(self.pid_file) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


class OurServer:
    """Our cyr_master with imapd, and optionally pop3d and lmtpd -a, on ports
    chosen by the kernel (listen 127.0.0.1:0), read back from {configdirectory}/ports."""

    label = "ours"

    def __init__(self, our_bin, root, name, altnamespace, pop3=False, lmtp=False):
        self.bin, self.name, self.altnamespace = our_bin, name, altnamespace
        self.dir = os.path.join(root, name)
        self.confdir = os.path.join(self.dir, "conf")
        os.makedirs(self.confdir)
        os.makedirs(os.path.join(self.dir, "spool"))
        self.conf = os.path.join(self.dir, "imapd.conf")
        self.master_conf = os.path.join(self.dir, "cyrus.conf")
        self.pid_file = os.path.join(self.dir, "master.pid")
        self.log_path = os.path.join(self.dir, "master.log")
        self.services = ["imap"] + (["pop3"] if pop3 else []) + (["lmtp"] if lmtp else [])
        self.port = self.pop3_port = self.lmtp_port = None
        yes_no = "yes" if altnamespace else "no"
        with open(self.conf, "w") as f:
            f.write("configdirectory: %s\npartition-default: %s/spool\n" % (self.confdir, self.dir))
            f.write("admins: %s\nallowplaintext: yes\naltnamespace: %s\nunixhierarchysep: %s\n"
                    "servername: %s\ndelete_mode: immediate\nexpunge_mode: immediate\n"
                    % (ADMIN, yes_no, yes_no, name))
        commands = {"imap": "imapd", "pop3": "pop3d", "lmtp": "lmtpd -a"}
        with open(self.master_conf, "w") as f:
            f.write("SERVICES {\n")
            for service in self.services:
                f.write('  %s cmd="%s" listen="127.0.0.1:0"\n' % (service, commands[service]))
            f.write("}\n")
        for user in [ADMIN] + USERS:
            subprocess.run([os.path.join(our_bin, "cyr_passwd"), "-C", self.conf, user],
                           input=(password_of(user) + "\n").encode(), check=True, capture_output=True)
        self.proc = None

    def _ports_file(self):
        """{service: port} once every service is listed in the ports file, else None."""
        if self.proc.poll() is not None:
            with open(self.log_path, errors="replace") as f:
                raise ServerStartError("our master %s exited: %s" % (self.name, f.read()[-2000:]))
        try:
            with open(os.path.join(self.confdir, "ports")) as f:
                lines = [line.split() for line in f]
        except FileNotFoundError:
            return None
        ports = {p[0]: int(p[1].rsplit(":", 1)[1]) for p in lines if len(p) == 2}
        return ports if all(s in ports for s in self.services) else None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([os.path.join(self.bin, "cyr_master"), "-C", self.conf,
                                          "-M", self.master_conf, "-p", self.pid_file],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        ports = wait_for(self._ports_file, "our master %s" % self.name)
        self.port, self.pop3_port, self.lmtp_port = ports["imap"], ports.get("pop3"), ports.get("lmtp")
        wait_for(lambda: port_up(self.port), "our imap port")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Workspace:
    """The temporary directory of one run and every server started in it.

    Used as a context manager: on leaving (also after an exception, ^C or
    SIGTERM, which run.py turns into SystemExit) every server is stopped and
    the directory removed, unless keep is set."""

    def __init__(self, our_bin, cyrus_bin, cyrus_pop3d=None, keep=False):
        self.our_bin, self.cyrus_bin, self.cyrus_pop3d, self.keep = our_bin, cyrus_bin, cyrus_pop3d, keep
        self.servers = []
        self.root = None
        self.sink = None

    def __enter__(self):
        self.root = tempfile.mkdtemp(prefix="cyrus-compare.")
        os.chmod(self.root, 0o755)  # the cyrus user must reach its directory
        self.sink = SyslogSink(os.path.join(self.root, "syslog.log"))
        self.sink.start()
        return self

    def start_pair(self, name, altnamespace, pop3=False, lmtp=False):
        """Starts a Cyrus and our node with the same settings; returns (cyrus, ours).
        pop3 is honoured for Cyrus only when its pop3d binary is known."""
        cyrus = CyrusServer(self.cyrus_bin, self.root, "cyrus-" + name, altnamespace,
                            pop3d=self.cyrus_pop3d if pop3 else None, lmtp=lmtp)
        ours = OurServer(self.our_bin, self.root, "ours-" + name, altnamespace, pop3=pop3, lmtp=lmtp)
        for server in (cyrus, ours):
            self.servers.append(server)
            server.start()
        return cyrus, ours

    def stop_pair(self, pair):
        for server in pair:
            server.stop()

    def __exit__(self, *exc):
        for server in self.servers:
            try:
                server.stop()
            except Exception as e:  # noqa: BLE001 -- keep stopping the others
                print("could not stop %s: %r" % (server.name, e))
        self.sink.stop()
        if self.keep:
            print("kept", self.root)
        else:
            shutil.rmtree(self.root, ignore_errors=True)
        return False
