#!/usr/bin/env python3
"""Side-by-side comparison of our node with a real Cyrus IMAP 3.6 (Debian 12's
binaries), on 127.0.0.1, to find where we answer differently.

    python3 ops/scripts/cyrus_compare/run.py [--bin DIR] [--only list|fetch|cmd ...]
        [--cyrus-bin DIR] [--cyrus-pop3d FILE] [--show-same] [--keep]

(ops/scripts/cyrus-compare.sh first unpacks Debian's Cyrus packages, then runs this.)

Checks (each starts its own pair of servers in one temporary directory):
  list   LIST/LSUB/NAMESPACE/CREATE/RENAME/DELETE in two namespace configurations
  fetch  APPEND/FETCH/BODYSTRUCTURE/ENVELOPE/SEARCH over 52 awkward messages
  cmd    ACL, QUOTA, STATUS/SELECT/CONDSTORE/QRESYNC, SEARCH/ESEARCH, LMTP, POP3

Prints, per check, each differing step with both answers, the known deliberate
differences (report.KNOWN_DIFFERENCES) as one "expected" line each, and a
summary line. It is a comparison, not a test: the exit status is 0 whatever
differs; 1 when a server does not start or a check breaks, 2 on bad set-up
(not root, binaries missing). Needs root: Cyrus's master drops privileges to
the cyrus user."""

import argparse
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree

import cmd_check  # noqa: E402
import fetch_check  # noqa: E402
import list_check  # noqa: E402
from report import report  # noqa: E402
from servers import DEFAULT_CYRUS_PKG, ServerStartError, Workspace  # noqa: E402

CHECKS = {module.NAME: module for module in (list_check, fetch_check, cmd_check)}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "build", "bin"),
                    help="our build's bin directory (default: <repo>/build/bin)")
    ap.add_argument("--cyrus-bin", default=os.path.join(DEFAULT_CYRUS_PKG, "usr/lib/cyrus/bin"),
                    help="Cyrus's unpacked binaries (default: $CYRUS_INTEROP_PKG/usr/lib/cyrus/bin, "
                         "as ops/scripts/cyrus-interop.sh and cyrus-compare.sh unpack them)")
    ap.add_argument("--cyrus-pop3d", default=None,
                    help="Cyrus's pop3d (default: pop3d in --cyrus-bin; package cyrus-pop3d, which "
                         "cyrus-compare.sh downloads); without it the POP3 part is skipped")
    ap.add_argument("--only", action="append", choices=sorted(CHECKS), help="run only this check (repeatable)")
    ap.add_argument("--show-same", action="store_true", help="also list the steps answered the same")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (servers still stopped)")
    return ap.parse_args()


def setup_error(message):
    print(message, file=sys.stderr)
    sys.exit(2)


def check_setup(args):
    if os.getuid() != 0:
        setup_error("run as root (the Cyrus master drops privileges to the cyrus user)")
    for path in (os.path.join(args.bin, "cyr_master"), os.path.join(args.bin, "cyr_passwd")):
        if not os.access(path, os.X_OK):
            setup_error("no %s: build the `cyrus` target or give --bin" % path)
    for name in ("master", "imapd", "lmtpd", "ctl_cyrusdb"):
        if not os.access(os.path.join(args.cyrus_bin, name), os.X_OK):
            setup_error("no Cyrus %s in %s: run ops/scripts/cyrus-compare.sh (it unpacks Debian's packages) "
                     "or give --cyrus-bin" % (name, args.cyrus_bin))
    if args.cyrus_pop3d is None:
        args.cyrus_pop3d = os.path.join(args.cyrus_bin, "pop3d")
    if not os.access(args.cyrus_pop3d, os.X_OK):
        print("no Cyrus pop3d at %s (apt-get download cyrus-pop3d; cyrus-compare.sh does it): "
              "POP3 is not compared" % args.cyrus_pop3d)
        args.cyrus_pop3d = None


def main():
    args = parse_args()
    args.bin = os.path.abspath(args.bin)
    args.cyrus_bin = os.path.abspath(args.cyrus_bin)
    check_setup(args)
    # SIGTERM unwinds like ^C, so that Workspace stops the servers and removes the directory.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    print("ours: %s\ncyrus: %s (pop3d: %s)\n" % (args.bin, args.cyrus_bin, args.cyrus_pop3d or "none"))
    summaries = []
    status = 0
    started = time.monotonic()
    with Workspace(args.bin, args.cyrus_bin, args.cyrus_pop3d, keep=args.keep) as workspace:
        for name in args.only or list(CHECKS):
            began = time.monotonic()
            try:
                steps = CHECKS[name].run(workspace)
            except ServerStartError as e:
                summaries.append("%s: server did not start: %s" % (name, e))
                status = 1
                break
            except Exception:  # noqa: BLE001 -- report it, run the other checks
                traceback.print_exc()
                summaries.append("%s: the check broke (traceback above)" % name)
                status = 1
                continue
            summary = report(name, steps, sys.stdout, show_same=args.show_same)
            summaries.append("%s (%.0f s)" % (summary, time.monotonic() - began))
            sys.stdout.flush()
    print("SUMMARY (%.0f s)" % (time.monotonic() - started))
    for line in summaries:
        print("  " + line)
    return status


if __name__ == "__main__":
    sys.exit(main())
