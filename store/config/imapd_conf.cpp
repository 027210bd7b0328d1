// imapd.conf parsing and typed lookups. See imapd_conf.h.
#include "store/config/imapd_conf.h"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "store/config/lint.h"
#include "store/config/text_util.h"

namespace cyr::config {

using text::ascii_lower;
using text::iequals;
using text::quote_for_message;
using text::trim;

// ---------------------------------------------------------------------------
// Scalar parsers

std::optional<int64_t> parse_int(std::string_view v) {
  if (v.empty()) return std::nullopt;
  if (v.front() == '+') v.remove_prefix(1);
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out, 10);
  if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return out;
}

std::optional<bool> parse_switch(std::string_view v) {
  // Cyrus's spellings (imapd.conf(5)), case-insensitive.
  static constexpr std::string_view kOn[] = {"yes", "y", "on", "t", "true", "1"};
  static constexpr std::string_view kOff[] = {"no", "n", "off", "f", "false", "0"};
  for (auto s : kOn)
    if (iequals(v, s)) return true;
  for (auto s : kOff)
    if (iequals(v, s)) return false;
  return std::nullopt;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view v, char default_unit) {
  // Bounded so that the sum cannot overflow: 100 years is more than any timeout.
  constexpr int64_t kMaxSeconds = int64_t{100} * 366 * 86400;
  if (v.empty()) return std::nullopt;
  bool negative = false;
  if (v.front() == '-') {
    negative = true;
    v.remove_prefix(1);
  }
  if (v.empty()) return std::nullopt;
  int64_t total = 0;
  while (!v.empty()) {
    size_t digits = 0;
    while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9') ++digits;
    if (digits == 0 || digits > 12) return std::nullopt;
    int64_t n = 0;
    std::from_chars(v.data(), v.data() + digits, n, 10);
    v.remove_prefix(digits);
    char unit = default_unit ? default_unit : 's';
    if (!v.empty()) {
      unit = static_cast<char>(v.front() | 0x20);  // ASCII lower-case
      v.remove_prefix(1);
    }
    int64_t mult = 0;
    switch (unit) {
      case 's': mult = 1; break;
      case 'm': mult = 60; break;
      case 'h': mult = 3600; break;
      case 'd': mult = 86400; break;
      default: return std::nullopt;
    }
    total += n * mult;
    if (total > kMaxSeconds) return std::nullopt;
  }
  return std::chrono::seconds(negative ? -total : total);
}

std::string format_duration(int64_t seconds) {
  if (seconds == 0) return "0s";
  std::string out = seconds < 0 ? "-" : "";
  uint64_t v = seconds < 0 ? 0 - static_cast<uint64_t>(seconds) : static_cast<uint64_t>(seconds);
  static constexpr std::pair<uint64_t, char> kUnits[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  for (auto [size, unit] : kUnits) {
    if (v >= size) {
      out += std::to_string(v / size);
      out += unit;
      v %= size;
    }
  }
  return out;
}

namespace {

// Enums whose values include "on" and "off" also take the switch spellings,
// as old configurations wrote "virtdomains: yes".
std::optional<std::string_view> match_enum(const OptionSpec& spec, std::string_view v) {
  for (auto a : spec.allowed)
    if (iequals(a, v)) return a;
  if (auto b = parse_switch(v)) {
    std::string_view want = *b ? "on" : "off";
    for (auto a : spec.allowed)
      if (a == want) return a;
  }
  return std::nullopt;
}

std::string join_allowed(const OptionSpec& spec) {
  std::string s;
  for (auto a : spec.allowed) {
    if (!s.empty()) s += '|';
    s += a;
  }
  return s;
}

}  // namespace

std::optional<std::string> check_value(const OptionSpec& spec, std::string_view v) {
  switch (spec.type) {
    case OptionType::String:
    case OptionType::StringList:
      return std::nullopt;
    case OptionType::Int:
      if (parse_int(v)) return std::nullopt;
      return "not an integer: " + quote_for_message(v);
    case OptionType::Switch:
      if (parse_switch(v)) return std::nullopt;
      return "not a switch (yes/no, on/off, true/false, 1/0): " + quote_for_message(v);
    case OptionType::Enum:
      if (match_enum(spec, v)) return std::nullopt;
      return "not one of " + join_allowed(spec) + ": " + quote_for_message(v);
    case OptionType::BitField:
      for (auto word : text::split_ws(v)) {
        bool found = false;
        for (auto a : spec.allowed)
          if (iequals(a, word)) found = true;
        if (!found)
          return "unknown value " + quote_for_message(word) + " (allowed: " + join_allowed(spec) + ")";
      }
      return std::nullopt;
    case OptionType::Duration:
      if (parse_duration(v, spec.default_unit)) return std::nullopt;
      return std::string("not a duration (a number with s, m, h or d; bare numbers in '") +
             (spec.default_unit ? spec.default_unit : 's') + "'): " + quote_for_message(v);
  }
  return std::nullopt;
}

std::string canonical_value(const OptionSpec& spec, std::string_view v) {
  if (check_value(spec, v)) return std::string(v);
  switch (spec.type) {
    case OptionType::String:
    case OptionType::StringList:
      return std::string(v);
    case OptionType::Int:
      return std::to_string(*parse_int(v));
    case OptionType::Switch:
      return *parse_switch(v) ? "yes" : "no";
    case OptionType::Enum: {
      std::string_view m = *match_enum(spec, v);
      // 3.0's "default" expunge mode is delayed.
      if (spec.name == "expunge_mode" && m == "default") m = "delayed";
      return std::string(m);
    }
    case OptionType::BitField: {
      std::string out;
      auto words = text::split_ws(v);
      for (auto a : spec.allowed) {
        bool on = false;
        for (auto w : words)
          if (iequals(a, w)) on = true;
        if (!on) continue;
        if (!out.empty()) out += ' ';
        out += a;
      }
      return out;
    }
    case OptionType::Duration:
      return std::to_string(parse_duration(v, spec.default_unit)->count());
  }
  return std::string(v);
}

// ---------------------------------------------------------------------------
// Key classification

namespace {

bool valid_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace

KeyClass classify_key(std::string_view k) {
  KeyClass kc;
  if (const OptionSpec* spec = find_option(k)) {
    kc.kind = KeyClass::Kind::Option;
    kc.spec = spec;
    return kc;
  }
  auto with_name = [&](KeyClass::Kind kind, std::string_view pattern, std::string_view name) {
    if (name.empty()) return false;
    kc.kind = kind;
    kc.prefix = std::string(pattern);
    kc.name = std::string(name);
    return true;
  };
  if (k.starts_with("partition-") &&
      with_name(KeyClass::Kind::Partition, "partition", k.substr(10)))
    return kc;
  if (k.starts_with("metapartition-") &&
      with_name(KeyClass::Kind::MetaPartition, "metapartition", k.substr(14)))
    return kc;
  if (k.starts_with("archivepartition-") &&
      with_name(KeyClass::Kind::OtherPattern, "archivepartition", k.substr(17)))
    return kc;
  if (k.starts_with("backuppartition-") &&
      with_name(KeyClass::Kind::OtherPattern, "backuppartition", k.substr(16)))
    return kc;
  if (auto at = k.find("searchpartition-"); at != std::string_view::npos &&
      with_name(KeyClass::Kind::OtherPattern, "searchpartition", k.substr(at + 16)))
    return kc;
  if (k.starts_with("xlist-") && with_name(KeyClass::Kind::OtherPattern, "xlist", k.substr(6)))
    return kc;
  if (k.starts_with("sasl_") && k.size() > 5) {
    kc.kind = KeyClass::Kind::Sasl;
    return kc;
  }
  // "<service>_<option>": the shortest prefix whose remainder is known.
  for (size_t us = k.find('_'); us != std::string_view::npos; us = k.find('_', us + 1)) {
    std::string_view prefix = k.substr(0, us), rest = k.substr(us + 1);
    if (prefix.empty() || rest.empty()) continue;
    if (const OptionSpec* spec = find_option(rest)) {
      kc.kind = KeyClass::Kind::ServiceOption;
      kc.spec = spec;
      kc.prefix = std::string(prefix);
      return kc;
    }
    if (rest.starts_with("sasl_") && rest.size() > 5) {
      kc.kind = KeyClass::Kind::Sasl;
      kc.prefix = std::string(prefix);
      return kc;
    }
  }
  return kc;
}

// ---------------------------------------------------------------------------
// Diagnostics

std::string Diagnostic::to_string() const {
  std::string s = file.empty() ? std::string("imapd.conf") : file;
  if (line > 0) s += ":" + std::to_string(line);
  s += ": ";
  if (severity == Severity::Warning) s += "warning: ";
  if (!option.empty()) s += option + ": ";
  s += message;
  return s;
}

// ---------------------------------------------------------------------------
// Parsing

namespace detail {

struct ImapdConfParser {
  ImapdConf* conf;
  std::string filename;
  std::vector<Diagnostic> diags;
  std::map<std::string, int, std::less<>> first_line;  // key -> line first seen

  void add(Diagnostic::Severity sev, int line, std::string option, std::string msg) {
    diags.push_back({sev, filename, line, std::move(option), std::move(msg)});
  }
  void error(int line, std::string option, std::string msg) {
    add(Diagnostic::Severity::Error, line, std::move(option), std::move(msg));
  }
  void warn(int line, std::string option, std::string msg) {
    add(Diagnostic::Severity::Warning, line, std::move(option), std::move(msg));
  }

  // Checks a value of a table option (plain or service-prefixed).
  void check_option(const OptionSpec& spec, const std::string& key, std::string_view prefix,
                    std::string_view value, int line) {
    if (auto problem = check_value(spec, value)) {
      error(line, key, *problem);
      return;
    }
    if (spec.type == OptionType::Int || spec.type == OptionType::Duration) {
      bool dur = spec.type == OptionType::Duration;
      int64_t n = dur ? parse_duration(value, spec.default_unit)->count() : *parse_int(value);
      auto show = [&](int64_t v) { return dur ? format_duration(v) : std::to_string(v); };
      if (n < spec.min_value)
        warn(line, key, "below the minimum " + show(spec.min_value) + "; " + show(spec.min_value) +
                            " is used");
      if (n > spec.max_value)
        warn(line, key, "above the maximum " + show(spec.max_value) + "; " + show(spec.max_value) +
                            " is used");
    }
    std::string pre = prefix.empty() ? std::string() : std::string(prefix) + "_";
    switch (spec.status) {
      case OptionStatus::Current:
        break;
      case OptionStatus::Deprecated:
        warn(line, key, "deprecated; use " + pre + std::string(spec.replaced_by));
        break;
      case OptionStatus::Obsolete:
        warn(line, key,
             spec.replaced_by.empty()
                 ? std::string("obsolete; ignored")
                 : "obsolete; ignored (now written " + pre + std::string(spec.replaced_by) + ")");
        break;
      case OptionStatus::Unsupported:
        // Set to its default it changes nothing, so there is nothing to say.
        if (canonical_value(spec, value) != canonical_value(spec, spec.default_value))
          warn(line, key, "not supported by this server; ignored");
        break;
    }
  }

  void logical_line(std::string_view raw, int line) {
    std::string_view s = trim(raw);
    if (s.empty() || s.front() == '#') return;
    size_t colon = s.find(':');
    if (colon == std::string_view::npos) {
      // "sync_password hunter2" or "sync_password=hunter2": the rest of the
      // line is the secret's value.
      size_t name_end = 0;
      while (name_end < s.size() && valid_name_char(s[name_end])) ++name_end;
      std::string_view name = s.substr(0, name_end);
      if (is_secret_option(name))
        error(line, "", "expected 'option: value', found no ':' in a line for " + quote_for_message(name) +
                            " (the rest is not shown: a secret)");
      else
        error(line, "", "expected 'option: value', found no ':' in " + quote_for_message(s));
      return;
    }
    std::string_view key = trim(s.substr(0, colon));
    std::string_view value = trim(s.substr(colon + 1));
    if (key.empty()) {
      error(line, "", "missing option name before ':'");
      return;
    }
    if (key.front() == '@') {
      error(line, "", "directive " + quote_for_message(key) + " is not supported");
      return;
    }
    if (!std::all_of(key.begin(), key.end(), valid_name_char)) {
      error(line, "", "invalid option name " + quote_for_message(key) +
                          " (letters, digits, '_' and '-' only)");
      return;
    }
    std::string lkey = ascii_lower(key);
    if (auto it = first_line.find(lkey); it != first_line.end()) {
      warn(line, lkey, "set again (first on line " + std::to_string(it->second) + "); this value wins");
    } else {
      first_line.emplace(lkey, line);
    }
    conf->add_entry(lkey, std::string(value), line);

    KeyClass kc = classify_key(lkey);
    switch (kc.kind) {
      case KeyClass::Kind::Option:
        check_option(*kc.spec, lkey, {}, value, line);
        break;
      case KeyClass::Kind::ServiceOption:
        check_option(*kc.spec, lkey, kc.prefix, value, line);
        break;
      case KeyClass::Kind::Partition:
      case KeyClass::Kind::MetaPartition:
        if (value.empty())
          error(line, lkey, "empty path");
        else if (value.front() != '/')
          error(line, lkey, "not an absolute path: " + quote_for_message(value));
        else
          conf->add_partition(kc.kind == KeyClass::Kind::MetaPartition, kc.name, std::string(value));
        break;
      case KeyClass::Kind::OtherPattern:
        if (kc.prefix != "xlist") warn(line, lkey, "not supported by this server; ignored");
        break;
      case KeyClass::Kind::Sasl:
        break;
      case KeyClass::Kind::Unknown:
        warn(line, lkey, "unknown option; ignored");
        break;
    }
  }

  void run(std::string_view text) {
    size_t pos = 0;
    size_t lineno = 0;
    std::string joined;  // a logical line built from '\'-continued physical lines
    int joined_first = 0;
    bool joined_too_long = false;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      size_t end = nl == std::string_view::npos ? text.size() : nl;
      std::string_view raw = text.substr(pos, end - pos);
      pos = nl == std::string_view::npos ? text.size() : nl + 1;
      if (++lineno > ImapdConf::kMaxLines) {
        error(static_cast<int>(lineno), "",
              "more than " + std::to_string(ImapdConf::kMaxLines) + " lines; the rest is not read");
        return;
      }
      if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
      bool continues = !raw.empty() && raw.back() == '\\';
      if (continues) raw.remove_suffix(1);
      if (joined_first == 0) joined_first = static_cast<int>(lineno);
      if (!joined_too_long) {
        if (joined.size() + raw.size() > ImapdConf::kMaxLineLength) {
          joined_too_long = true;
          joined.clear();
        } else {
          joined.append(raw);
        }
      }
      if (continues && pos < text.size()) continue;
      if (joined_too_long)
        error(joined_first, "",
              "line longer than " + std::to_string(ImapdConf::kMaxLineLength) + " bytes; ignored");
      else
        logical_line(joined, joined_first);
      joined.clear();
      joined_first = 0;
      joined_too_long = false;
    }
  }

  void finish() {
    for (const auto& [name, path] : conf->metapartitions())
      if (!conf->partitions().count(name))
        warn(0, "metapartition-" + name, "no partition-" + name + " to go with it");
  }
};

}  // namespace detail

namespace {

Result<std::string> read_bounded(const std::filesystem::path& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return Error(Errc::NotFound, "cannot read " + path.string(), ec.message());
  if (size > ImapdConf::kMaxFileSize)
    return Error(Errc::Limit, path.string() + " is too large", std::to_string(size) + " bytes");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Errc::Io, "cannot open " + path.string(), std::strerror(errno));
  std::string data(size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  data.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) return Error(Errc::Io, "cannot read " + path.string(), std::strerror(errno));
  return data;
}

}  // namespace

ImapdConf ImapdConf::parse_lenient(std::string_view text, std::string_view filename,
                                   std::vector<Diagnostic>* diags) {
  ImapdConf conf;
  conf.filename_ = std::string(filename);
  detail::ImapdConfParser p{&conf, std::string(filename), {}, {}};
  p.run(text);
  p.finish();
  if (diags) diags->insert(diags->end(), p.diags.begin(), p.diags.end());
  return conf;
}

Result<ImapdConf> ImapdConf::parse(std::string_view text, std::string_view filename,
                                   std::vector<Diagnostic>* diags) {
  std::vector<Diagnostic> local;
  ImapdConf conf = parse_lenient(text, filename, &local);
  if (diags) diags->insert(diags->end(), local.begin(), local.end());
  for (const auto& d : local)
    if (d.severity == Diagnostic::Severity::Error)
      return Error(Errc::Invalid, "invalid configuration in " + std::string(filename), d.to_string());
  return conf;
}

Result<ImapdConf> ImapdConf::load(const std::filesystem::path& path, std::vector<Diagnostic>* diags) {
  auto data = read_bounded(path);
  if (!data.ok()) return data.take_error();
  return parse(*data, path.string(), diags);
}

Result<ImapdConf> ImapdConf::load_lenient(const std::filesystem::path& path,
                                          std::vector<Diagnostic>* diags) {
  auto data = read_bounded(path);
  if (!data.ok()) return data.take_error();
  return parse_lenient(*data, path.string(), diags);
}

void ImapdConf::add_entry(std::string key, std::string value, int line) {
  entries_.push_back({key, std::move(value), line});
  index_[std::move(key)] = entries_.size() - 1;
}

void ImapdConf::add_partition(bool meta, const std::string& name, std::string path) {
  (meta ? metapartitions_ : partitions_)[name] = std::move(path);
}

// ---------------------------------------------------------------------------
// Lookups

const ImapdConf::Entry* ImapdConf::find_entry(std::string_view key, std::string_view service) const {
  auto get = [&](const std::string& k) -> const Entry* {
    auto it = index_.find(k);
    return it == index_.end() ? nullptr : &entries_[it->second];
  };
  auto aliases = deprecated_aliases_of(key);
  // Service-specific beats global, as in Cyrus; within each, the current
  // name beats its deprecated spellings.
  if (!service.empty()) {
    std::string pre = std::string(service) + "_";
    if (const Entry* e = get(pre + std::string(key))) return e;
    for (const OptionSpec* a : aliases)
      if (const Entry* e = get(pre + std::string(a->name))) return e;
  }
  if (const Entry* e = get(std::string(key))) return e;
  for (const OptionSpec* a : aliases)
    if (const Entry* e = get(std::string(a->name))) return e;
  return nullptr;
}

const ImapdConf::Entry* ImapdConf::lookup(std::string_view key, std::string_view service) const {
  return find_entry(key, service);
}

std::string ImapdConf::effective_raw(const OptionSpec& spec, std::string_view service) const {
  const Entry* e = find_entry(spec.name, service);
  std::string raw(e ? std::string_view(e->value) : spec.default_value);
  // A value that does not type-check (kept by parse_lenient) reads as the default.
  if (e && check_value(spec, raw)) raw = std::string(spec.default_value);
  constexpr std::string_view kConfDir = "{configdirectory}";
  if (raw.size() >= kConfDir.size() && iequals(std::string_view(raw).substr(0, kConfDir.size()), kConfDir)) {
    const Entry* cd = find_entry("configdirectory", {});
    raw = (cd ? cd->value : std::string()) + raw.substr(kConfDir.size());
  }
  return raw;
}

namespace {

const OptionSpec* spec_for_getter(std::string_view key) {
  const OptionSpec* spec = find_option(key);
  assert(spec && "option missing from the table in store/config/options.cpp");
  return spec;
}

int64_t clamp_to(const OptionSpec& spec, int64_t v) {
  return std::clamp(v, spec.min_value, spec.max_value);
}

}  // namespace

std::string ImapdConf::get_string(std::string_view key, std::string_view service) const {
  const OptionSpec* spec = spec_for_getter(key);
  if (!spec) return {};
  std::string raw = effective_raw(*spec, service);
  if (spec->type == OptionType::Enum && !raw.empty()) return canonical_value(*spec, raw);
  return raw;
}

int64_t ImapdConf::get_int(std::string_view key, std::string_view service) const {
  const OptionSpec* spec = spec_for_getter(key);
  if (!spec) return 0;
  auto v = parse_int(effective_raw(*spec, service));
  if (!v) v = parse_int(spec->default_value);
  return clamp_to(*spec, v.value_or(0));
}

bool ImapdConf::get_switch(std::string_view key, std::string_view service) const {
  const OptionSpec* spec = spec_for_getter(key);
  if (!spec) return false;
  auto v = parse_switch(effective_raw(*spec, service));
  if (!v) v = parse_switch(spec->default_value);
  return v.value_or(false);
}

std::chrono::seconds ImapdConf::get_duration(std::string_view key, std::string_view service) const {
  const OptionSpec* spec = spec_for_getter(key);
  if (!spec) return std::chrono::seconds(0);
  auto v = parse_duration(effective_raw(*spec, service), spec->default_unit);
  if (!v) v = parse_duration(spec->default_value, spec->default_unit);
  return std::chrono::seconds(clamp_to(*spec, v.value_or(std::chrono::seconds(0)).count()));
}

std::vector<std::string> ImapdConf::get_list(std::string_view key, std::string_view service) const {
  const OptionSpec* spec = spec_for_getter(key);
  if (!spec) return {};
  std::vector<std::string> out;
  std::string raw = effective_raw(*spec, service);
  for (auto w : text::split_ws(raw)) out.emplace_back(w);
  return out;
}

bool ImapdConf::is_set(std::string_view key, std::string_view service) const {
  return find_entry(key, service) != nullptr;
}

}  // namespace cyr::config
