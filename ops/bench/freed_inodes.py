"""Keeps a benchmark from measuring the previous run's cleanup.

Benchmarks delete their nodes' directories when they are done. On ext4
without a journal (the disks of the machines we measure on) the inode
allocator will not reuse an inode freed in the last 60 s (360 s while its
inode-table block is not yet written back), and it looks up every such
inode it passes over, for every file it creates. A run that starts right
after another run's cleanup therefore spends much of its CPU on that scan:
APPEND with 16 connections measured 26 % slower right after a cleanup than
a minute later, and 10 % of a sync-mode primary's CPU went to
`recently_deleted` (docs/performance.md, run 15). The peers' directories
(Cyrus, Dovecot) are kept between runs, so only our node paid for it.

So the benchmarks remove their directories only at the end, note when,
and the next one first writes dirty blocks back (sync) and waits until the
last cleanup is more than a minute old."""

import os
import shutil
import tempfile
import time

# Shared by every benchmark of this machine: /tmp, not the run's directory.
STAMP = os.path.join(os.environ.get("TMPDIR", "/tmp"), "cyr-bench-last-cleanup")
QUIET_AFTER = 62  # seconds: RECENTCY_MIN (60 s) of fs/ext4/ialloc.c, plus a margin


def settle(log=print):
    """Before measuring: sync, then wait out the last cleanup's minute."""
    os.sync()
    try:
        with open(STAMP) as f:
            last = float(f.read().strip() or 0)
    except (OSError, ValueError):
        return
    wait = last + QUIET_AFTER - time.time()
    if wait > 0:
        log("waiting %.0f s: a benchmark removed its files %.0f s ago (freed inodes, see ops/bench/freed_inodes.py)"
            % (wait, QUIET_AFTER - wait))
        time.sleep(wait)


def note_cleanup():
    """After removing a run's files."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(STAMP), prefix=".cyr-bench-stamp")
    with os.fdopen(fd, "w") as f:
        f.write("%.3f\n" % time.time())
    os.replace(tmp, STAMP)


class DeferredRemoval:
    """Directories to remove at the end of a benchmark, not between its
    rounds (a round's cleanup would slow the next round down)."""

    def __init__(self):
        self.dirs = []

    def add(self, path):
        self.dirs.append(path)

    def remove_all(self):
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        if self.dirs:
            note_cleanup()
        self.dirs = []
