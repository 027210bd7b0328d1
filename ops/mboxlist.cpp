// cyr_mboxlist [-C imapd.conf] -d [pattern] | -u [file]: dump the mailbox
// list as text, or load a dump back (ctl_mboxlist -d / -u).
//
// Dump format, one mailbox per line, fields separated by one TAB:
//   name  uniqueid  partition  uidvalidity  acl
// where acl is the Cyrus ACL "id<TAB>rights<TAB>..." and runs to the end of
// the line. -u parses the whole input first and changes nothing if any line
// is bad; it then creates, in one transaction, every mailbox the list lacks
// (same uniqueid, so message files already on the partition belong to it
// again; rebuild their index with cyr_reconstruct). A mailbox that exists
// with the same uniqueid is left alone; one with another uniqueid is a
// conflict and the load is refused.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "ops/adm/common.h"
#include "ops/commands.h"

namespace cyr::ops {
namespace {

constexpr size_t kMaxDumpLine = 64 * 1024;
constexpr size_t kMaxDumpEntries = 10'000'000;

struct DumpEntry {
  std::string name, uniqueid, partition, acl;
  uint32_t uidvalidity = 0;
};

Result<DumpEntry> parse_dump_line(const std::string& line) {
  if (line.size() > kMaxDumpLine) return Error(Errc::Limit, "line too long");
  DumpEntry e;
  std::string* fields[] = {&e.name, &e.uniqueid, &e.partition};
  size_t pos = 0;
  for (auto* f : fields) {
    size_t tab = line.find('\t', pos);
    if (tab == std::string::npos) return Error(Errc::Invalid, "too few fields");
    *f = line.substr(pos, tab - pos);
    if (f->empty()) return Error(Errc::Invalid, "empty field");
    pos = tab + 1;
  }
  size_t tab = line.find('\t', pos);
  if (tab == std::string::npos) return Error(Errc::Invalid, "too few fields");
  std::string uv = line.substr(pos, tab - pos);
  if (uv.empty() || uv.size() > 10) return Error(Errc::Invalid, "bad uidvalidity");
  uint64_t v = 0;
  for (char c : uv) {
    if (c < '0' || c > '9') return Error(Errc::Invalid, "bad uidvalidity");
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v == 0 || v > UINT32_MAX) return Error(Errc::Invalid, "bad uidvalidity");
  e.uidvalidity = static_cast<uint32_t>(v);
  e.acl = line.substr(tab + 1);
  if (Status st = store::validate_mailbox_name(e.name); !st.ok()) return st.take_error();
  for (char c : e.uniqueid)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
      return Error(Errc::Invalid, "bad uniqueid");
  return e;
}

int dump(store::Store& s, const std::string& pattern) {
  auto names = s.list(pattern);
  if (!names.ok()) {
    fprintf(stderr, "cyr_mboxlist: cannot list mailboxes: %s\n", names.error().describe().c_str());
    return adm::kExSoftware;
  }
  for (const auto& n : *names) {
    auto m = s.lookup(n);
    if (!m.ok()) continue;  // deleted while we listed
    printf("%s\t%s\t%s\t%u\t%s\n", m->name.c_str(), m->uniqueid.c_str(), m->partition.c_str(),
           m->uidvalidity, m->acl.c_str());
  }
  return fflush(stdout) == 0 ? 0 : adm::kExSoftware;
}

int undump(store::Store& s, std::istream& in, const char* source) {
  std::vector<DumpEntry> entries;
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    auto e = parse_dump_line(line);
    if (!e.ok()) {
      fprintf(stderr, "cyr_mboxlist: %s line %zu: %s %s; nothing loaded\n", source, lineno,
              e.error().user_message.c_str(), e.error().detail.c_str());
      return adm::kExDataErr;
    }
    if (entries.size() >= kMaxDumpEntries) {
      fprintf(stderr, "cyr_mboxlist: more than %zu entries; nothing loaded\n", kMaxDumpEntries);
      return adm::kExDataErr;
    }
    entries.push_back(std::move(*e));
  }
  std::vector<store::CreateMailboxRequest> reqs;
  size_t present = 0;
  for (const auto& e : entries) {
    auto m = s.lookup(e.name);
    if (m.ok()) {
      if (m->uniqueid != e.uniqueid) {
        fprintf(stderr,
                "cyr_mboxlist: %s exists with uniqueid %s, the dump says %s; nothing loaded\n",
                e.name.c_str(), m->uniqueid.c_str(), e.uniqueid.c_str());
        return adm::kExDataErr;
      }
      ++present;
      continue;
    }
    store::CreateMailboxRequest r;
    r.name = e.name;
    r.partition = e.partition;
    r.uniqueid = e.uniqueid;
    r.uidvalidity = e.uidvalidity;
    r.acl = e.acl;
    reqs.push_back(std::move(r));
  }
  // Parents before children, so inheritance and shard creation see them.
  std::sort(reqs.begin(), reqs.end(), [](auto& a, auto& b) { return a.name < b.name; });
  if (!reqs.empty()) {
    Status st = s.create_mailboxes(reqs, store::WriteMode::Replication);
    if (!st.ok()) {
      fprintf(stderr, "cyr_mboxlist: loading failed, nothing loaded: %s\n", st.error().describe().c_str());
      return adm::kExSoftware;
    }
  }
  fprintf(stderr, "cyr_mboxlist: %zu mailboxes created, %zu already present\n", reqs.size(), present);
  return 0;
}

}  // namespace

int mboxlist_main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf";
  char mode = 0;
  std::vector<std::string> rest;
  bool bad = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s == "-C" && i + 1 < argc) conf_path = argv[++i];
    else if (s == "-d" || s == "-u") bad |= mode != 0, mode = s[1];
    else if (!s.empty() && s[0] == '-' && s != "-") bad = true;
    else rest.emplace_back(s);
  }
  if (bad || mode == 0 || rest.size() > 1) {
    fprintf(stderr,
            "usage: cyr_mboxlist [-C imapd.conf] -d [pattern]   dump the mailbox list to stdout\n"
            "       cyr_mboxlist [-C imapd.conf] -u [file|-]    load a dump (default stdin)\n");
    return adm::kExUsage;
  }
  adm::OpenedStore node;
  if (int rc = adm::open_node("cyr_mboxlist", conf_path, true, node)) return rc;
  if (mode == 'd') return dump(*node.store, rest.empty() ? "*" : rest[0]);
  if (rest.empty() || rest[0] == "-") return undump(*node.store, std::cin, "stdin");
  std::ifstream f(rest[0]);
  if (!f) {
    fprintf(stderr, "cyr_mboxlist: cannot read %s\n", rest[0].c_str());
    return adm::kExNoInput;
  }
  return undump(*node.store, f, rest[0].c_str());
}

}  // namespace cyr::ops
