// imapd.conf: the typed option table and the parsed configuration.
//
// The file is "key: value" lines, '#' comments and blank lines. A key may be
// prefixed by a service name to override it for that service only
// ("imap_timeout" beside "timeout"), as Cyrus does; the service name is the
// cyrus.conf SERVICES entry name. Every option we know is in one table
// (all_options()) with its type, default, allowed values and status, so that
// the daemon, conf-lint and conf-all read the same facts.
//
// Parsing never throws: a badly typed value of a known option is an Error
// diagnostic naming file, line and option; an unknown option is a Warning
// (a Cyrus imapd.conf full of options we do not use must still start).
//
// An ImapdConf is immutable after parsing and safe to share between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"

namespace cyr::config {

enum class OptionType {
  String,
  Int,       // decimal integer
  Switch,    // yes/no, on/off, true/false, 1/0
  Enum,      // one of allowed
  BitField,  // space-separated subset of allowed
  Duration,  // number with optional unit suffix (s, m, h, d); see default_unit
  StringList,
};

enum class OptionStatus {
  Current,
  Deprecated,   // still honoured, with a warning naming the replacement
  Obsolete,     // Cyrus no longer uses it; ignored with a warning
  Unsupported,  // a Cyrus option this server does not implement; ignored, listed by conf-lint
};

struct OptionSpec {
  std::string_view name;
  OptionType type;
  std::string_view default_value;          // as it would be written in imapd.conf; "" = unset
  std::span<const std::string_view> allowed;  // Enum / BitField values
  OptionStatus status;
  std::string_view replaced_by;            // for Deprecated
  char default_unit;                       // for Duration: 's', 'm', 'h' or 'd'
  std::string_view help;                   // one line
};

// Every option we know, sorted by name.
std::span<const OptionSpec> all_options();
const OptionSpec* find_option(std::string_view name);

struct Diagnostic {
  enum class Severity { Warning, Error };
  Severity severity;
  std::string file;
  int line = 0;
  std::string option;
  std::string message;
  std::string to_string() const;  // "imapd.conf:12: timeout: not an integer: 'x'"
};

class ImapdConf {
 public:
  struct Entry {
    std::string key;    // as written, lower-cased
    std::string value;  // trimmed
    int line = 0;
  };

  // Parses text; diagnostics are appended to *diags (which may be null).
  // Fails only if there is at least one Error diagnostic.
  static Result<ImapdConf> parse(std::string_view text, std::string_view filename,
                                 std::vector<Diagnostic>* diags);
  static Result<ImapdConf> load(const std::filesystem::path& path, std::vector<Diagnostic>* diags);

  // Typed lookups. With a service name, "<service>_<key>" wins over "<key>".
  // Unset options give the table default. Asking for an option that is not in
  // the table is a programming error (asserts in debug, returns the empty value).
  std::string get_string(std::string_view key, std::string_view service = {}) const;
  int64_t get_int(std::string_view key, std::string_view service = {}) const;
  bool get_switch(std::string_view key, std::string_view service = {}) const;
  std::chrono::seconds get_duration(std::string_view key, std::string_view service = {}) const;
  std::vector<std::string> get_list(std::string_view key, std::string_view service = {}) const;
  bool is_set(std::string_view key, std::string_view service = {}) const;

  // partition-NAME and metapartition-NAME entries: name -> path.
  const std::map<std::string, std::string>& partitions() const { return partitions_; }
  const std::map<std::string, std::string>& metapartitions() const { return metapartitions_; }

  const std::vector<Entry>& entries() const { return entries_; }
  const std::string& filename() const { return filename_; }

 private:
  const Entry* lookup(std::string_view key, std::string_view service) const;

  std::string filename_;
  std::vector<Entry> entries_;
  std::map<std::string, size_t, std::less<>> index_;  // key -> entries_ position (last wins)
  std::map<std::string, std::string> partitions_;
  std::map<std::string, std::string> metapartitions_;
};

// Parses a Duration value ("30", "30m", "1h30m"); unit is used for a bare number.
std::optional<std::chrono::seconds> parse_duration(std::string_view v, char default_unit);
std::optional<bool> parse_switch(std::string_view v);

}  // namespace cyr::config
