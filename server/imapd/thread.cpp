#include "server/imapd/thread.h"

#include <algorithm>
#include <unordered_map>

#include "server/imap/parser_args.h"
#include "store/base/ascii.h"
#include "store/mail/message.h"

namespace cyr::imapd {

namespace {

// ---------------------------------------------------------------- base subject

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// BLOBCHAR = %x01-5a / %x5c / %x5e-7f: any ASCII octet but NUL, '[' and ']'.
bool is_blobchar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return u >= 0x01 && u <= 0x7f && c != '[' && c != ']';
}

bool starts_with_nocase(std::string_view s, size_t pos, std::string_view word) {
  return s.size() - pos >= word.size() && iequals(s.substr(pos, word.size()), word);
}

// subj-blob = "[" *BLOBCHAR "]" *WSP, at pos: the position after it, or npos.
size_t match_blob(std::string_view s, size_t pos) {
  if (pos >= s.size() || s[pos] != '[') return std::string_view::npos;
  size_t i = pos + 1;
  while (i < s.size() && is_blobchar(s[i])) ++i;
  if (i >= s.size() || s[i] != ']') return std::string_view::npos;
  ++i;
  while (i < s.size() && is_wsp(s[i])) ++i;
  return i;
}

// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":", at pos.
size_t match_refwd(std::string_view s, size_t pos) {
  size_t i;
  if (starts_with_nocase(s, pos, "re")) i = pos + 2;
  else if (starts_with_nocase(s, pos, "fwd")) i = pos + 3;
  else if (starts_with_nocase(s, pos, "fw")) i = pos + 2;
  else return std::string_view::npos;
  while (i < s.size() && is_wsp(s[i])) ++i;
  size_t after_blob = match_blob(s, i);
  if (after_blob != std::string_view::npos) i = after_blob;
  if (i >= s.size() || s[i] != ':') return std::string_view::npos;
  return i + 1;
}

// Step 1: tabs and line breaks to spaces, runs of spaces to one.
std::string normalise_whitespace(std::string_view decoded) {
  std::string out;
  out.reserve(decoded.size());
  for (char c : decoded) {
    if (c == '\t' || c == '\r' || c == '\n') c = ' ';
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out += c;
  }
  return out;
}

}  // namespace

// The subject shrinks as a view (each removal O(1), no copying), and a run
// of blobs is scanned once, not once per blob: a hostile subject of many
// "Re:" or "[x]" stays linear.
BaseSubject base_subject(std::string_view raw_subject) {
  BaseSubject out;
  const std::string normalised = normalise_whitespace(mail::decode_rfc2047(raw_subject));
  std::string_view s = normalised;
  constexpr size_t npos = std::string_view::npos;
  for (;;) {
    // Step 2: trailers, "(fwd)" or WSP, as long as any remain.
    for (;;) {
      if (!s.empty() && is_wsp(s.back())) {
        s.remove_suffix(1);
      } else if (s.size() >= 5 && iequals(s.substr(s.size() - 5), "(fwd)")) {
        s.remove_suffix(5);
        out.reply_or_forward = true;
      } else {
        break;
      }
    }
    // Steps 3 to 5, until neither applies.
    for (;;) {
      // Step 3: subj-leader = (*subj-blob subj-refwd) / WSP.
      if (!s.empty() && is_wsp(s.front())) {
        s.remove_prefix(1);
        continue;
      }
      size_t run_end = 0, last_blob = npos;
      for (size_t b; (b = match_blob(s, run_end)) != npos; run_end = b) last_blob = run_end;
      size_t refwd = match_refwd(s, run_end);
      if (refwd != npos) {
        s.remove_prefix(refwd);
        out.reply_or_forward = true;
        continue;
      }
      // Step 4: a leading blob goes if a non-empty base is left after it.
      // Removing one, step 3 fails again at the same run_end, so the
      // blobs of the run go at once: all of them when text follows the
      // run, else all but the last.
      if (last_blob == npos) break;
      if (run_end < s.size()) {
        s.remove_prefix(run_end);
        continue;
      }
      s.remove_prefix(last_blob);
      break;
    }
    // Step 6: "[fwd:" ... "]" wraps the whole subject: unwrap and repeat.
    if (s.size() >= 6 && starts_with_nocase(s, 0, "[fwd:") && s.back() == ']') {
      s = s.substr(5, s.size() - 6);
      continue;
    }
    break;
  }
  out.text = std::string(s);
  return out;
}

std::string ascii_casemap_key(std::string_view s) { return imap::to_upper(s); }

std::vector<std::string> parse_msg_ids(std::string_view value, size_t max_ids) {
  std::vector<std::string> out;
  if (max_ids == 0) return out;
  size_t i = 0;
  while (i < value.size()) {
    size_t open = value.find('<', i);
    if (open == std::string_view::npos) break;
    size_t close = value.find_first_of("<>", open + 1);
    if (close == std::string_view::npos) break;
    if (value[close] == '<') {  // "<a <b@c>": the first '<' opened nothing
      i = close;
      continue;
    }
    std::string id;
    for (char c : value.substr(open + 1, close - open - 1))
      if (!is_wsp(c) && c != '\r' && c != '\n') id += c;
    if (!id.empty()) {
      if (out.size() == max_ids) out.erase(out.begin());
      out.push_back(std::move(id));
    }
    i = close + 1;
  }
  return out;
}

// ---------------------------------------------------------------- SORT

namespace {

int compare_numbers(uint64_t a, uint64_t b) { return a < b ? -1 : a > b ? 1 : 0; }
int compare_times(int64_t a, int64_t b) { return a < b ? -1 : a > b ? 1 : 0; }
int compare_strings(const std::string& a, const std::string& b) {
  int c = a.compare(b);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

int compare_by(const SortFields& a, const SortFields& b, imap::SortKey key) {
  using imap::SortKey;
  switch (key) {
    case SortKey::Arrival: return compare_times(a.arrival, b.arrival);
    case SortKey::Date: return compare_times(a.sent, b.sent);
    case SortKey::Size: return compare_numbers(a.size, b.size);
    case SortKey::Cc: return compare_strings(a.cc, b.cc);
    case SortKey::From: return compare_strings(a.from, b.from);
    case SortKey::To: return compare_strings(a.to, b.to);
    case SortKey::Subject: return compare_strings(a.subject, b.subject);
    case SortKey::DisplayFrom: return compare_strings(a.display_from, b.display_from);
    case SortKey::DisplayTo: return compare_strings(a.display_to, b.display_to);
  }
  return 0;
}

}  // namespace

std::vector<uint32_t> sort_messages(const std::vector<SortFields>& msgs,
                                    std::span<const imap::SortCriterion> criteria) {
  std::vector<uint32_t> order(msgs.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t x, uint32_t y) {
    for (const imap::SortCriterion& c : criteria) {
      int r = compare_by(msgs[x], msgs[y], c.key);
      if (r != 0) return c.reverse ? r > 0 : r < 0;
    }
    return false;  // equal: stable_sort keeps sequence order
  });
  return order;
}

// ---------------------------------------------------------------- THREAD

namespace {

using Forest = ThreadForest;
constexpr uint32_t kNone = UINT32_MAX;

// (sent date, sequence) of a node: a dummy sorts as its first child
// (RFC 5256 3 steps 5 and 7), whose children are sorted by then.
struct DateKey {
  int64_t sent;
  uint32_t index;
  bool operator<(const DateKey& o) const { return sent != o.sent ? sent < o.sent : index < o.index; }
};

DateKey date_key(const Forest& f, const std::vector<ThreadMessage>& msgs, uint32_t node) {
  const Forest::Node* n = &f.nodes[node];
  // Dummies are only at the top and have message children; the loop
  // guards against anything else without recursion.
  while (n->message == Forest::kDummy && !n->children.empty()) n = &f.nodes[n->children.front()];
  if (n->message == Forest::kDummy) return DateKey{INT64_MAX, UINT32_MAX};
  return DateKey{msgs[n->message].sent, n->message};
}

void sort_siblings(Forest& f, const std::vector<ThreadMessage>& msgs, std::vector<uint32_t>& ids) {
  std::vector<std::pair<DateKey, uint32_t>> keyed;
  keyed.reserve(ids.size());
  for (uint32_t id : ids) keyed.emplace_back(date_key(f, msgs, id), id);
  std::sort(keyed.begin(), keyed.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = keyed[i].second;
}

// Sorts every set of children, then the roots: the children of a message
// node sort by their own dates, so only a dummy's key depends on the order
// of its children, which are sorted before the roots.
void sort_all(Forest& f, const std::vector<ThreadMessage>& msgs) {
  for (auto& n : f.nodes)
    if (n.children.size() > 1) {
      std::vector<uint32_t> ids = std::move(n.children);
      sort_siblings(f, msgs, ids);
      n.children = std::move(ids);
    }
  sort_siblings(f, msgs, f.roots);
}

// The containers of RFC 5256's REFERENCES, with sibling lists linked both
// ways so that unlinking (step 1 B) is O(1).
struct Container {
  uint32_t message = kNone;
  uint32_t parent = kNone, first_child = kNone, last_child = kNone, prev = kNone, next = kNone;
};

class Linker {
 public:
  explicit Linker(std::vector<Container>& c) : c_(c) {}

  void unlink(uint32_t x) {
    Container& n = c_[x];
    if (n.parent == kNone) return;
    Container& p = c_[n.parent];
    if (n.prev != kNone) c_[n.prev].next = n.next;
    else p.first_child = n.next;
    if (n.next != kNone) c_[n.next].prev = n.prev;
    else p.last_child = n.prev;
    n.parent = n.prev = n.next = kNone;
  }

  void append_child(uint32_t parent, uint32_t x) {
    Container& p = c_[parent];
    Container& n = c_[x];
    n.parent = parent;
    n.prev = p.last_child;
    n.next = kNone;
    if (p.last_child != kNone) c_[p.last_child].next = x;
    else p.first_child = x;
    p.last_child = x;
  }

  // Puts x's children, in order, where x is among its parent's children,
  // and detaches x. Returns the first of them (x's next sibling if none).
  uint32_t splice_children(uint32_t x) {
    Container& n = c_[x];
    uint32_t p = n.parent, first = n.first_child, last = n.last_child, next = n.next;
    if (first == kNone) {
      unlink(x);
      return next;
    }
    for (uint32_t y = first; y != kNone; y = c_[y].next) c_[y].parent = p;
    c_[first].prev = n.prev;
    if (n.prev != kNone) c_[n.prev].next = first;
    else c_[p].first_child = first;
    c_[last].next = next;
    if (next != kNone) c_[next].prev = last;
    else c_[p].last_child = last;
    n.parent = n.prev = n.next = n.first_child = n.last_child = kNone;
    return first;
  }

  // True unless making `parent` the parent of `child` is known not to make
  // a loop: parent is child or lies below it. A child without children has
  // nothing below it (the common case: no walk); otherwise the walk up from
  // parent draws on the shared budget, and an exhausted budget says "loop".
  bool would_loop(uint32_t parent, uint32_t child) {
    if (parent == child) return true;
    if (c_[child].first_child == kNone) return false;
    for (uint32_t x = parent; x != kNone; x = c_[x].parent) {
      if (x == child) return true;
      if (budget_ == 0) return true;
      --budget_;
    }
    return false;
  }

 private:
  std::vector<Container>& c_;
  // Steps of all loop-check walks of one THREAD: linear in practice, and a
  // bound for mailboxes built to make every check walk a long chain.
  uint64_t budget_ = 32u << 20;
};

// Step 4: below the top, every dummy is replaced by its children (none, for
// a dummy left childless when step 1 B moved its message away); then a top
// dummy with no child is dropped and one with a single child gives way to
// it. Bottom levels first, so a top dummy's count is final. Iterative.
void prune(std::vector<Container>& c, Linker& link, std::vector<uint32_t>& roots) {
  std::vector<uint32_t> to_scan(roots);  // containers whose children are still to prune
  while (!to_scan.empty()) {
    uint32_t p = to_scan.back();
    to_scan.pop_back();
    for (uint32_t x = c[p].first_child; x != kNone;) {
      if (c[x].message == kNone) {
        // The spliced children are looked at next, at this level: they
        // may be dummies too.
        x = link.splice_children(x);
      } else {
        to_scan.push_back(x);
        x = c[x].next;
      }
    }
  }
  std::vector<uint32_t> kept;
  for (uint32_t r : roots) {
    const Container& n = c[r];
    if (n.message == kNone) {
      if (n.first_child == kNone) continue;
      if (c[n.first_child].next == kNone) {  // one child: it takes the dummy's place
        uint32_t only = n.first_child;
        link.unlink(only);
        kept.push_back(only);
        continue;
      }
    }
    kept.push_back(r);
  }
  roots = std::move(kept);
}

// The containers below roots as a Forest.
Forest to_forest(const std::vector<Container>& c, const std::vector<uint32_t>& roots) {
  Forest f;
  std::vector<uint32_t> node_of(c.size(), kNone);
  std::vector<uint32_t> stack(roots.rbegin(), roots.rend());
  // Nodes are made parent first, so a child's node is added to its
  // parent's list in sibling order.
  for (uint32_t r : roots) {
    node_of[r] = static_cast<uint32_t>(f.nodes.size());
    f.nodes.push_back(Forest::Node{c[r].message == kNone ? Forest::kDummy : c[r].message, {}});
    f.roots.push_back(node_of[r]);
  }
  while (!stack.empty()) {
    uint32_t x = stack.back();
    stack.pop_back();
    for (uint32_t y = c[x].first_child; y != kNone; y = c[y].next) {
      node_of[y] = static_cast<uint32_t>(f.nodes.size());
      f.nodes.push_back(Forest::Node{c[y].message == kNone ? Forest::kDummy : c[y].message, {}});
      f.nodes[node_of[x]].children.push_back(node_of[y]);
      stack.push_back(y);
    }
  }
  return f;
}

// The thread subject of a root: its own, or its first child's for a dummy.
const std::string& thread_subject(const Forest& f, const std::vector<ThreadMessage>& msgs,
                                  uint32_t node) {
  static const std::string kEmpty;
  const Forest::Node& n = f.nodes[node];
  if (n.message != Forest::kDummy) return msgs[n.message].subject;
  if (n.children.empty()) return kEmpty;
  const Forest::Node& first = f.nodes[n.children.front()];
  return first.message == Forest::kDummy ? kEmpty : msgs[first.message].subject;
}

// Step 6: threads whose roots share a base subject are merged.
void group_by_subject(Forest& f, const std::vector<ThreadMessage>& msgs) {
  auto is_dummy = [&](uint32_t node) { return f.nodes[node].message == Forest::kDummy; };
  auto is_refwd = [&](uint32_t node) {
    return !is_dummy(node) && msgs[f.nodes[node].message].reply_or_forward;
  };
  // B: subject (a view into msgs, which outlives the table) -> the root
  // that represents it (prefer a dummy, then a
  // message that is not a reply or forward), as a position in f.roots.
  std::unordered_map<std::string_view, size_t> table;
  for (size_t i = 0; i < f.roots.size(); ++i) {
    uint32_t cur = f.roots[i];
    const std::string& subject = thread_subject(f, msgs, cur);
    if (subject.empty()) continue;
    auto [it, added] = table.emplace(subject, i);
    if (added) continue;
    uint32_t old = f.roots[it->second];
    if (!is_dummy(old) && (is_dummy(cur) || (is_refwd(old) && !is_refwd(cur)))) it->second = i;
  }
  // C: merge every other root into the table's.
  std::vector<bool> gone(f.roots.size(), false);
  for (size_t i = 0; i < f.roots.size(); ++i) {
    uint32_t cur = f.roots[i];
    const std::string& subject = thread_subject(f, msgs, cur);  // in msgs: stays valid
    if (subject.empty()) continue;
    auto it = table.find(subject);
    if (it == table.end() || it->second == i) continue;
    size_t slot = it->second;
    uint32_t kept = f.roots[slot];
    if (is_dummy(kept) && is_dummy(cur)) {
      auto moved = std::move(f.nodes[cur].children);
      f.nodes[cur].children.clear();
      auto& into = f.nodes[kept].children;
      into.insert(into.end(), moved.begin(), moved.end());
    } else if (is_dummy(kept) || (is_refwd(cur) && !is_refwd(kept))) {
      f.nodes[kept].children.push_back(cur);
    } else {
      uint32_t dummy = static_cast<uint32_t>(f.nodes.size());
      f.nodes.push_back(Forest::Node{Forest::kDummy, {kept, cur}});
      f.roots[slot] = dummy;
    }
    gone[i] = true;
  }
  std::vector<uint32_t> left;
  for (size_t i = 0; i < f.roots.size(); ++i)
    if (!gone[i]) left.push_back(f.roots[i]);
  f.roots = std::move(left);
}

}  // namespace

ThreadForest thread_references(const std::vector<ThreadMessage>& msgs) {
  std::vector<Container> c;
  c.reserve(msgs.size() * 2);
  Linker link(c);
  std::unordered_map<std::string_view, uint32_t> by_id;  // views into msgs
  auto container_for = [&](std::string_view id) {
    auto [it, added] = by_id.emplace(id, static_cast<uint32_t>(c.size()));
    if (added) c.emplace_back();
    return it->second;
  };
  for (uint32_t i = 0; i < msgs.size(); ++i) {
    const ThreadMessage& m = msgs[i];
    // The message's container: the one its ID names unless that already
    // holds an earlier message (a duplicate ID), then one of its own.
    uint32_t mine = kNone;
    if (!m.message_id.empty()) {
      uint32_t x = container_for(m.message_id);
      if (c[x].message == kNone) mine = x;
    }
    if (mine == kNone) {
      mine = static_cast<uint32_t>(c.size());
      c.emplace_back();
    }
    c[mine].message = i;
    // Step 1 A: chain the references, keeping links already made.
    uint32_t prev = kNone;
    for (const std::string& ref : m.references) {
      uint32_t x = container_for(ref);
      if (prev != kNone && c[x].parent == kNone && !link.would_loop(prev, x))
        link.append_child(prev, x);
      prev = x;
    }
    // Step 1 B: the last reference is the parent, replacing any link an
    // earlier, truncated References made; no references: no parent.
    link.unlink(mine);
    if (prev != kNone && !link.would_loop(prev, mine)) link.append_child(prev, mine);
  }
  // Steps 2 to 4.
  std::vector<uint32_t> roots;
  for (uint32_t x = 0; x < c.size(); ++x)
    if (c[x].parent == kNone) roots.push_back(x);
  prune(c, link, roots);
  Forest f = to_forest(c, roots);
  // Step 5: order the threads by date (a dummy by its first child), so
  // that the subject grouping meets them in that order.
  sort_all(f, msgs);
  group_by_subject(f, msgs);
  // Step 7.
  sort_all(f, msgs);
  return f;
}

ThreadForest thread_ordered_subject(const std::vector<ThreadMessage>& msgs) {
  std::vector<uint32_t> order(msgs.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    int s = msgs[a].subject.compare(msgs[b].subject);
    if (s != 0) return s < 0;
    if (msgs[a].sent != msgs[b].sent) return msgs[a].sent < msgs[b].sent;
    return a < b;
  });
  Forest f;
  f.nodes.reserve(msgs.size());
  uint32_t root = kNone;
  for (size_t k = 0; k < order.size(); ++k) {
    uint32_t i = order[k];
    uint32_t node = static_cast<uint32_t>(f.nodes.size());
    f.nodes.push_back(Forest::Node{i, {}});
    if (k > 0 && msgs[order[k - 1]].subject == msgs[i].subject) {
      f.nodes[root].children.push_back(node);
    } else {
      root = node;
      f.roots.push_back(node);
    }
  }
  // Children are already in date order; the threads go by their first
  // message's date.
  sort_siblings(f, msgs, f.roots);
  return f;
}

std::string format_threads(const ThreadForest& f, const std::vector<uint32_t>& numbers) {
  // An explicit stack of what is left to write: a node's members, or a
  // parenthesis. thread-members = nz-number *(SP nz-number) [SP thread-nested]
  // and thread-nested = 2*thread-list (RFC 5256 section 4).
  constexpr uint32_t kOpen = UINT32_MAX - 1, kClose = UINT32_MAX - 2;
  std::string out;
  std::vector<uint32_t> todo;
  for (auto r = f.roots.rbegin(); r != f.roots.rend(); ++r) {
    todo.push_back(kClose);
    todo.push_back(*r);
    todo.push_back(kOpen);
  }
  while (!todo.empty()) {
    uint32_t item = todo.back();
    todo.pop_back();
    if (item == kOpen) {
      out += '(';
      continue;
    }
    if (item == kClose) {
      out += ')';
      continue;
    }
    const ThreadForest::Node& n = f.nodes[item];
    bool message = n.message != ThreadForest::kDummy;
    if (message) out += std::to_string(numbers[n.message]);
    if (n.children.size() == 1) {
      if (message) out += ' ';
      todo.push_back(n.children.front());
    } else if (n.children.size() > 1) {
      if (message) out += ' ';
      for (auto ch = n.children.rbegin(); ch != n.children.rend(); ++ch) {
        todo.push_back(kClose);
        todo.push_back(*ch);
        todo.push_back(kOpen);
      }
    }
  }
  return out;
}

}  // namespace cyr::imapd
