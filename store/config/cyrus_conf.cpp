// cyrus.conf parsing. See cyrus_conf.h.
#include "store/config/cyrus_conf.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include "store/config/text_util.h"

namespace cyr::config {

using text::is_space;
using text::quote_for_message;
using text::trim;

Result<std::vector<std::string>> split_command(std::string_view cmd) {
  std::vector<std::string> argv;
  size_t i = 0;
  while (i < cmd.size()) {
    while (i < cmd.size() && is_space(cmd[i])) ++i;
    if (i >= cmd.size()) break;
    std::string word;
    while (i < cmd.size() && !is_space(cmd[i])) {
      char c = cmd[i];
      if (c == '"' || c == '\'') {
        size_t close = cmd.find(c, i + 1);
        if (close == std::string_view::npos)
          return Error(Errc::Invalid, std::string("unterminated ") + c + " quote in cmd");
        word.append(cmd.substr(i + 1, close - i - 1));
        i = close + 1;
      } else {
        word += c;
        ++i;
      }
    }
    if (argv.size() >= CyrusConf::kMaxArgs)
      return Error(Errc::Limit, "more than " + std::to_string(CyrusConf::kMaxArgs) + " words in cmd");
    argv.push_back(std::move(word));
  }
  return argv;
}

const CyrusConfEntry* CyrusConf::find_service(std::string_view name) const {
  for (const auto& e : services)
    if (e.name == name) return &e;
  return nullptr;
}

namespace {

enum class Section { None, Start, Services, Events, Daemon };

const char* section_name(Section s) {
  switch (s) {
    case Section::Start: return "START";
    case Section::Services: return "SERVICES";
    case Section::Events: return "EVENTS";
    case Section::Daemon: return "DAEMON";
    case Section::None: break;
  }
  return "";
}

bool valid_name(std::string_view n) {
  if (n.empty()) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  return true;
}

struct Token {
  std::string key;    // empty for the entry name
  std::string value;
};

class CyrusConfParser {
 public:
  CyrusConfParser(std::string filename, CyrusConf* out) : filename_(std::move(filename)), out_(out) {
    out_->filename = filename_;
  }

  void run(std::string_view text) {
    size_t pos = 0;
    int lineno = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      size_t end = nl == std::string_view::npos ? text.size() : nl;
      std::string_view raw = text.substr(pos, end - pos);
      pos = nl == std::string_view::npos ? text.size() : nl + 1;
      if (static_cast<size_t>(++lineno) > CyrusConf::kMaxLines) {
        error(lineno, "more than " + std::to_string(CyrusConf::kMaxLines) + " lines; the rest is not read");
        return;
      }
      if (raw.size() > CyrusConf::kMaxLineLength) {
        error(lineno, "line longer than " + std::to_string(CyrusConf::kMaxLineLength) + " bytes; ignored");
        continue;
      }
      line(raw, lineno);
    }
    if (section_ != Section::None)
      error(section_line_, std::string("section ") + section_name(section_) + " is not closed with '}'");
  }

  std::vector<Diagnostic> diags;

 private:
  void error(int line, std::string msg) {
    diags.push_back({Diagnostic::Severity::Error, filename_, line, {}, std::move(msg)});
  }
  void warn(int line, std::string option, std::string msg) {
    diags.push_back({Diagnostic::Severity::Warning, filename_, line, std::move(option), std::move(msg)});
  }

  // Splits a line into NAME and key=value tokens; '#' outside quotes starts
  // a comment. Returns false (after an Error) on bad syntax.
  bool tokenize(std::string_view s, int line, std::vector<Token>* out) {
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && is_space(s[i])) ++i;
      if (i >= s.size() || s[i] == '#') break;
      if (out->size() > CyrusConf::kMaxKeysPerEntry) {
        error(line, "more than " + std::to_string(CyrusConf::kMaxKeysPerEntry) + " keys in one entry");
        return false;
      }
      size_t start = i;
      while (i < s.size() && !is_space(s[i]) && s[i] != '=' && s[i] != '"') ++i;
      std::string word(s.substr(start, i - start));
      if (i < s.size() && s[i] == '=') {
        ++i;
        std::string value;
        if (i < s.size() && s[i] == '"') {
          size_t close = s.find('"', i + 1);
          if (close == std::string_view::npos) {
            error(line, "unterminated '\"' in value of " + quote_for_message(word));
            return false;
          }
          value = std::string(s.substr(i + 1, close - i - 1));
          i = close + 1;
          if (i < s.size() && !is_space(s[i])) {
            error(line, "text after the closing quote of " + quote_for_message(word));
            return false;
          }
        } else {
          size_t vstart = i;
          while (i < s.size() && !is_space(s[i])) ++i;
          value = std::string(s.substr(vstart, i - vstart));
          if (value.find('"') != std::string::npos) {
            error(line, "stray '\"' in value of " + quote_for_message(word));
            return false;
          }
        }
        if (word.empty()) {
          error(line, "'=' without a key");
          return false;
        }
        out->push_back({std::move(word), std::move(value)});
      } else {
        if (!out->empty()) {
          error(line, "expected key=value, found " + quote_for_message(word));
          return false;
        }
        if (i < s.size() && s[i] == '"') {
          error(line, "unexpected '\"' in entry name");
          return false;
        }
        out->push_back({{}, std::move(word)});
      }
    }
    return true;
  }

  void line(std::string_view raw, int lineno) {
    std::string_view s = trim(raw);
    if (s.empty() || s.front() == '#') return;
    if (skipping_) {
      if (s == "}") skipping_ = false;
      return;
    }
    if (section_ == Section::None) {
      open_section(s, lineno);
      return;
    }
    if (s == "}") {
      section_ = Section::None;
      return;
    }
    if (s.back() == '{') {
      error(lineno, std::string("section ") + section_name(section_) + " (line " +
                        std::to_string(section_line_) + ") is not closed before a new one");
      section_ = Section::None;
      open_section(s, lineno);
      return;
    }
    entry(s, lineno);
  }

  void open_section(std::string_view s, int lineno) {
    if (s.back() != '{') {
      error(lineno, "expected 'SECTION {' (START, SERVICES, EVENTS or DAEMON), found " +
                        quote_for_message(s));
      return;
    }
    std::string_view name = trim(s.substr(0, s.size() - 1));
    Section sec = name == "START"      ? Section::Start
                  : name == "SERVICES" ? Section::Services
                  : name == "EVENTS"   ? Section::Events
                  : name == "DAEMON"   ? Section::Daemon
                                       : Section::None;
    if (sec == Section::None) {
      error(lineno, "unknown section " + quote_for_message(name) +
                        " (START, SERVICES, EVENTS or DAEMON)");
      // Skip its body so that its entries do not produce a flood of errors.
      section_ = Section::None;
      skipping_ = true;
      return;
    }
    section_ = sec;
    section_line_ = lineno;
  }

  std::vector<CyrusConfEntry>& list() {
    switch (section_) {
      case Section::Start: return out_->start;
      case Section::Services: return out_->services;
      case Section::Events: return out_->events;
      case Section::Daemon: return out_->daemon;
      case Section::None: break;
    }
    return out_->start;  // unreachable: entries are only read inside a section
  }

  static std::optional<int> to_int(std::string_view v) {
    auto n = parse_int(v);
    if (!n || *n < INT32_MIN || *n > INT32_MAX) return std::nullopt;
    return static_cast<int>(*n);
  }

  void entry(std::string_view s, int lineno) {
    std::vector<Token> tokens;
    if (!tokenize(s, lineno, &tokens) || tokens.empty()) return;
    if (!tokens[0].key.empty()) {
      error(lineno, "entry has no name before " + quote_for_message(tokens[0].key + "="));
      return;
    }
    CyrusConfEntry e;
    e.name = tokens[0].value;
    e.line = lineno;
    if (!valid_name(e.name)) {
      error(lineno, "invalid entry name " + quote_for_message(e.name) +
                        " (letters, digits, '_' and '-' only)");
      return;
    }
    auto& entries = list();
    if (entries.size() >= CyrusConf::kMaxEntriesPerSection) {
      error(lineno, std::string("more than ") + std::to_string(CyrusConf::kMaxEntriesPerSection) +
                        " entries in " + section_name(section_));
      return;
    }
    for (const auto& other : entries)
      if (other.name == e.name) {
        error(lineno, std::string(section_name(section_)) + " entry " + quote_for_message(e.name) +
                          " already defined on line " + std::to_string(other.line));
        return;
      }

    bool ok = true, have_cmd = false;
    std::set<std::string> seen;
    for (size_t i = 1; i < tokens.size(); ++i) {
      const std::string& k = tokens[i].key;
      const std::string& v = tokens[i].value;
      if (!valid_name(k)) {
        error(lineno, e.name + ": invalid key " + quote_for_message(k));
        ok = false;
        continue;
      }
      std::string where = e.name + " " + k;
      if (!seen.insert(k).second) warn(lineno, where, "given twice; the last value wins");
      auto bad = [&](const std::string& what) {
        error(lineno, e.name + ": " + k + ": " + what + ": " + quote_for_message(v));
        ok = false;
      };
      auto int_at_least = [&](int min, int* dst) {
        auto n = to_int(v);
        if (!n || *n < min)
          bad(min == 0 ? "not a non-negative integer" : "not an integer >= " + std::to_string(min));
        else
          *dst = *n;
      };
      if (k == "cmd") {
        auto argv = split_command(v);
        if (!argv.ok()) {
          bad(argv.error().user_message);
        } else if (argv->empty()) {
          bad("empty command");
        } else {
          e.cmd = v;
          e.argv = std::move(*argv);
          have_cmd = true;
        }
      } else if (section_ == Section::Services && k == "listen") {
        if (v.empty()) bad("empty listen address");
        e.listen = v;
      } else if (section_ == Section::Services && k == "proto") {
        static constexpr std::string_view kProtos[] = {"tcp", "tcp4", "tcp6", "udp", "udp4", "udp6"};
        bool known = false;
        for (auto p : kProtos) known = known || v == p;
        if (!known) bad("not one of tcp|tcp4|tcp6|udp|udp4|udp6");
        else e.proto = v;
      } else if (section_ == Section::Services && k == "prefork") {
        int_at_least(0, &e.prefork);
      } else if (section_ == Section::Services && k == "maxchild") {
        int_at_least(-1, &e.maxchild);
      } else if (section_ == Section::Services && k == "maxfds") {
        int_at_least(1, &e.maxfds);
      } else if (section_ == Section::Services && k == "maxforkrate") {
        int_at_least(0, &e.maxforkrate);
      } else if (section_ == Section::Services && k == "babysit") {
        auto b = parse_switch(v);
        if (!b) bad("not a switch (yes/no, on/off, true/false, 1/0)");
        else e.babysit = *b;
      } else if (section_ == Section::Events && k == "period") {
        int p = 0;
        int_at_least(0, &p);
        e.period = p;
      } else if (section_ == Section::Events && k == "at") {
        // HHMM, leading zeros optional ("at=400" is 04:00), as Cyrus reads it.
        auto n = to_int(v);
        bool digits_only = !v.empty() && v.size() <= 4 &&
                           v.find_first_not_of("0123456789") == std::string::npos;
        if (!digits_only || !n || *n / 100 > 23 || *n % 100 > 59)
          bad("not a time of day HHMM (0000-2359)");
        else
          e.at = *n;
      } else if (section_ == Section::Daemon && k == "wait") {
        auto b = parse_switch(v);
        if (!b) bad("not a switch (yes/no, on/off, true/false, 1/0)");
        else e.wait = *b;
      } else {
        e.other[k] = v;
        warn(lineno, where, std::string("unknown key in ") + section_name(section_) + "; kept, not used");
      }
    }
    if (!have_cmd && ok) {
      error(lineno, e.name + ": missing cmd=");
      ok = false;
    }
    if (section_ == Section::Services && e.listen.empty() && ok) {
      error(lineno, e.name + ": missing listen=");
      ok = false;
    }
    if (ok) entries.push_back(std::move(e));
  }

  std::string filename_;
  CyrusConf* out_;
  Section section_ = Section::None;
  int section_line_ = 0;
  bool skipping_ = false;  // inside the body of an unknown section
};

}  // namespace

Result<CyrusConf> CyrusConf::parse(std::string_view text, std::string_view filename,
                                   std::vector<Diagnostic>* diags) {
  CyrusConf conf;
  CyrusConfParser p(std::string(filename), &conf);
  p.run(text);
  if (diags) diags->insert(diags->end(), p.diags.begin(), p.diags.end());
  for (const auto& d : p.diags)
    if (d.severity == Diagnostic::Severity::Error)
      return Error(Errc::Invalid, "invalid configuration in " + std::string(filename), d.to_string());
  return conf;
}

Result<CyrusConf> CyrusConf::load(const std::filesystem::path& path, std::vector<Diagnostic>* diags) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return Error(Errc::NotFound, "cannot read " + path.string(), ec.message());
  if (size > kMaxFileSize)
    return Error(Errc::Limit, path.string() + " is too large", std::to_string(size) + " bytes");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Errc::Io, "cannot open " + path.string(), std::strerror(errno));
  std::string data(size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  data.resize(static_cast<size_t>(in.gcount()));
  return parse(data, path.string(), diags);
}

}  // namespace cyr::config
