"""What counts as the same answer, the known differences, and the printed report.

A check produces Steps: one command (or one FETCH item, one SEARCH) sent to
both servers, with each server's answer as a Response. Before comparing,
values that differ between any two servers (UIDVALIDITY, MODSEQ, MAILBOXID,
Cyrus's timings) are normalized and the tagged line is reduced to its status
and response code: the human text is free (RFC 3501 7.1) and differs in
wording everywhere.

A step whose answers still differ is looked up in KNOWN_DIFFERENCES, the one
place that lists what we do differently on purpose (docs/imap.md and
docs/delivery.md, "Unlike Cyrus ..."); it is then printed as "expected", not
as a difference."""

import re
from dataclasses import dataclass, field

# ------------------------------------------------------------------ normalization

VOLATILE = [
    (re.compile(r"UIDVALIDITY \d+"), "UIDVALIDITY <uv>"),
    (re.compile(r"(APPENDUID|COPYUID) \d+"), r"\1 <uv>"),
    (re.compile(r"NOMODSEQ"), "HIGHESTMODSEQ <ms>"),
    (re.compile(r"HIGHESTMODSEQ \d+"), "HIGHESTMODSEQ <ms>"),
    (re.compile(r"MODSEQ \(\d+\)"), "MODSEQ (<ms>)"),
    (re.compile(r"MODSEQ \d+"), "MODSEQ <ms>"),
    (re.compile(r"MAILBOXID \([^)]*\)"), "MAILBOXID (<id>)"),
    (re.compile(r"\s*\(\d+\.\d+ secs?( \d+ calls)?\)"), ""),  # Cyrus's "(0.000 secs 4 calls)"
]


FLAG_LIST = re.compile(r"((?:PERMANENT)?FLAGS) \(([^()]*)\)")
STATUS_ITEMS = re.compile(r"^(\* STATUS .* )\(([^()]*)\)$")


def _sorted_flags(m):
    return "%s (%s)" % (m.group(1), " ".join(sorted(m.group(2).split())))


def _sorted_status_items(m):
    words = m.group(2).split()
    pairs = sorted(zip(words[0::2], words[1::2]))
    return "%s(%s)" % (m.group(1), " ".join(k + " " + v for k, v in pairs))


def normalize(text):
    """Volatile values replaced; flag lists and STATUS items sorted (their order is
    free, RFC 3501 7.2.6 and 7.2.4)."""
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    text = FLAG_LIST.sub(_sorted_flags, text)
    return STATUS_ITEMS.sub(_sorted_status_items, text)


IMAP_STATUS = re.compile(r"(\w+)( \[[^\]]*\])?")


def imap_status(tagged):
    """'NO [NOPERM] Permission denied' -> 'NO [NOPERM]'."""
    m = IMAP_STATUS.match(tagged)
    if not m:
        return normalize(tagged)
    return normalize((m.group(1) + " " + (m.group(2) or "").strip()).strip())


def pop3_status(line):
    """'-ERR [IN-USE] Unable to lock maildrop' -> '-ERR [IN-USE]'."""
    m = re.match(r"([+-]\w+)( \[[^\]]*\])?", line)
    return (m.group(1) + (m.group(2) or "")) if m else line


def lmtp_status(line):
    """'250 2.1.5 Ok SESSIONID=<...>' -> '250 2.1.5'."""
    m = re.match(r"(\d{3})[ -](\d\.\d+\.\d+)?", line)
    return " ".join(g for g in m.groups() if g) if m else line


@dataclass
class Response:
    """lines: the data compared in full (untagged responses, POP3/LMTP extra lines,
    FETCH values); status: the final line reduced to what is compared; shown: the
    final line as printed."""
    lines: list
    status: str = ""
    shown: str = ""


UNTAGGED_STATUS = re.compile(r"\* (OK|NO|BAD|BYE|PREAUTH)\b")


def _untagged(line):
    """An untagged status response is compared like the tagged line (its text is free
    too: Cyrus says "Ok" where we say what happened); data responses in full."""
    return "* " + imap_status(line[2:]) if UNTAGGED_STATUS.match(line) else normalize(line)


def imap_response(untagged, tagged):
    return Response([_untagged(u) for u in untagged], imap_status(tagged), normalize(tagged))


@dataclass
class Step:
    section: str   # e.g. "config a", "IMAP", "FETCH", "POP3"
    who: str       # the user whose session sent it ("" when not relevant)
    command: str   # as printed (first line only)
    cyrus: Response
    ours: Response
    outcome: str = ""          # "same", "expected", "differ"
    reason: str = ""           # for "expected": the known difference
    detail: list = field(default_factory=list)

    @property
    def verb(self):
        words = self.command.split()
        if words[:1] == ["UID"]:
            words = words[1:]
        return words[0].upper() if words else ""


# ------------------------------------------------------------------ known differences

def _list_name(line):
    """The mailbox name of a '* LIST (...) "/" name' line, unquoted."""
    m = re.match(r'\* (?:LIST|LSUB) \([^)]*\) (?:"[^"]*"|NIL) (.*?)(?: \(CHILDINFO.*)?$', line)
    return m.group(1).strip('"') if m else ""


def _is_other_or_shared_level(line):
    name = _list_name(line)
    return "\\Noselect" in line and (name.startswith(("Other Users", "Shared Folders"))
                                     or name == "user" or name.startswith(("user.", "user/")))


def noselect_levels(step):
    """Ours lists Cyrus's lines plus the \\Noselect levels above other users' and
    shared folders (in any order)."""
    if step.verb != "LIST" or "*" not in step.command or step.cyrus.status != step.ours.status:
        return False
    cyrus, ours = set(step.cyrus.lines), set(step.ours.lines)
    extra = ours - cyrus
    return cyrus <= ours and extra and all(_is_other_or_shared_level(line) for line in extra) \
        and len(step.ours.lines) == len(set(step.ours.lines))


def list_order(step):
    return step.verb in ("LIST", "LSUB") and step.cyrus.status == step.ours.status \
        and sorted(step.cyrus.lines) == sorted(step.ours.lines)


def response_code_added(step):
    """Same data and status; Cyrus sends no response code where we send one."""
    return step.cyrus.lines == step.ours.lines and " [" not in step.cyrus.status \
        and step.ours.status.startswith(step.cyrus.status + " [")


CYRUS_ONLY_SELECT_CODES = re.compile(r"\* OK \[(URLMECH|ANNOTATIONS)\b")


def select_order_and_extensions(step):
    """SELECT/EXAMINE answered with the same responses in another order (free, RFC
    3501 6.3.1), Cyrus adding the codes of extensions we do not offer."""
    if step.verb not in ("SELECT", "EXAMINE") or step.cyrus.status != step.ours.status:
        return False
    cyrus = [line for line in step.cyrus.lines if not CYRUS_ONLY_SELECT_CODES.match(line)]
    return sorted(cyrus) == sorted(step.ours.lines)


def identity_or_capabilities(step):
    """Greetings, ID, CAPABILITY, POP3 CAPA and LMTP LHLO name the server and its
    extensions; the detail shows the capabilities only one side has."""
    return step.verb in ("CAPABILITY", "ID", "GREETING", "CAPA", "LHLO")


def searchres(step):
    """SEARCHRES (RFC 5182): SEARCH RETURN (SAVE ...) and $ work here; Cyrus 3.6
    answers BAD (and then has no saved result)."""
    return ("RETURN (SAVE" in step.command or re.search(r"(^|\s)\$(\s|$)", step.command)) \
        and step.cyrus.status.startswith("BAD")


def eight_bit_headers_kept(step):
    """Cyrus turns each 8-bit header byte into "X"; we keep the bytes."""
    x_for_8bit = [re.sub(r"\\x[89a-f][0-9a-f]", "X", line) for line in step.ours.lines]
    return step.cyrus.status == step.ours.status and x_for_8bit == step.cyrus.lines


def multipart_without_boundary(step):
    """A multipart without a boundary parameter: we show its text, Cyrus an empty part."""
    return step.section == "FETCH" and "multipart without boundary" in step.command


def unknown_cte(step):
    return step.section == "FETCH" and "BINARY" in step.command and "[UNKNOWN-CTE]" in step.ours.status


@dataclass
class KnownDifference:
    checks: tuple      # the checks it applies to
    reason: str
    matches: object    # Step -> bool


KNOWN_DIFFERENCES = [
    KnownDifference(("list", "cmd"), 'LIST "*" also lists the \\Noselect levels of other users\' and shared '
                    "folders (docs/imap.md)", noselect_levels),
    KnownDifference(("list", "cmd"), "LIST/LSUB in name order with INBOX first (docs/imap.md)", list_order),
    KnownDifference(("list", "cmd", "fetch"), "we add a response code (RFC 5530) where Cyrus sends none",
                    response_code_added),
    KnownDifference(("list", "cmd", "fetch"), "server name, version and extension list",
                    identity_or_capabilities),
    KnownDifference(("list", "cmd"), "SELECT/EXAMINE responses in another order; Cyrus adds "
                    "URLMECH, ANNOTATIONS (extensions not offered here)", select_order_and_extensions),
    KnownDifference(("cmd",), "SEARCHRES (RFC 5182) is offered here, not by Cyrus 3.6", searchres),
    # FETCH choices listed in docs/imap.md ("FETCH answers as Cyrus 3.6 does ... with these choices").
    KnownDifference(("fetch",), "8-bit header bytes are kept, not turned into X (docs/imap.md)",
                    eight_bit_headers_kept),
    KnownDifference(("fetch",), "a multipart without a boundary shows its text (docs/imap.md)",
                    multipart_without_boundary),
    KnownDifference(("fetch",), "BINARY of an unknown transfer encoding is NO [UNKNOWN-CTE] (docs/imap.md)",
                    unknown_cte),
]
# No longer listed, now answered as Cyrus does: a second POP3 session of the same
# maildrop is let in (docs/delivery.md, "Two sessions"); the cmd check's POP3 part
# compares it (step "SECOND SESSION"). Nor the [MAILBOXID] Cyrus sends on CREATE and
# SELECT: OBJECTID (RFC 8474) is offered here too.


def capability_detail(step):
    """Tokens of the answer only one server has, for the identity entry."""
    def tokens(response):
        words = set()
        for line in response.lines:
            if not line.upper().startswith("IMPLEMENTATION"):   # POP3's is the version
                words |= set(line.upper().split()) - {"*", "CAPABILITY"}
        return words
    cyrus, ours = tokens(step.cyrus), tokens(step.ours)
    detail = []
    if cyrus - ours:
        detail.append("only cyrus: " + " ".join(sorted(cyrus - ours)))
    if ours - cyrus:
        detail.append("only ours:  " + " ".join(sorted(ours - cyrus)))
    return detail


def classify(check, step):
    if step.cyrus.lines == step.ours.lines and step.cyrus.status == step.ours.status:
        step.outcome = "same"
        return
    for known in KNOWN_DIFFERENCES:
        if check in known.checks and known.matches(step):
            step.outcome, step.reason = "expected", known.reason
            if known.matches is identity_or_capabilities and step.verb in ("CAPABILITY", "CAPA", "LHLO"):
                step.detail = capability_detail(step)
            return
    step.outcome = "differ"


# ------------------------------------------------------------------ printing

def _print_response(out, label, response, width=400):
    out.write("  %s:\n" % label)
    for line in response.lines:
        out.write("    %s\n" % line[:width])
    if response.shown or response.status:
        out.write("    => %s\n" % (response.shown or response.status)[:width])


def report(check, steps, out, show_same=False):
    """Prints the differing steps in full, the expected ones in one line each, and
    the summary line; returns (same, expected, differ) counts."""
    counts = {"same": 0, "expected": 0, "differ": 0}
    out.write("=" * 78 + "\n%s\n" % check + "=" * 78 + "\n")
    for step in steps:
        classify(check, step)
        counts[step.outcome] += 1
        where = "[%s] %s%s" % (step.section, step.who + ": " if step.who else "", step.command)
        if step.outcome == "differ":
            out.write("\nDIFF %s\n" % where)
            _print_response(out, "cyrus", step.cyrus)
            _print_response(out, "ours ", step.ours)
        elif step.outcome == "expected":
            out.write("expected %s -- %s\n" % (where, step.reason))
            for line in step.detail:
                out.write("    %s\n" % line)
        elif show_same:
            out.write("same %s\n" % where)
    summary = "%s: %d steps, %d same, %d expected, %d differ" % (
        check, len(steps), counts["same"], counts["expected"], counts["differ"])
    out.write("\n%s\n\n" % summary)
    return summary
