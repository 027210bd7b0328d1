// imapd.conf: the typed option table and the parsed configuration.
//
// The file is "key: value" lines, '#' comments and blank lines. A key may be
// prefixed by a service name to override it for that service only
// ("imap_timeout" beside "timeout"), as Cyrus does; the service name is the
// cyrus.conf SERVICES entry name (for sync_* options, also a channel of
// sync_log_channels). Every option we know is in one table
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
#include <climits>
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
  // Bounds, applied by clamping as Cyrus does ("the minimum value is 30
  // minutes"): a value outside them is a Warning and the getters return the
  // bound. Int: the number; Duration: seconds.
  int64_t min_value = INT64_MIN;
  int64_t max_value = INT64_MAX;
};

// Every option we know, sorted by name.
std::span<const OptionSpec> all_options();
const OptionSpec* find_option(std::string_view name);  // exact, lower-case name

// The deprecated options whose replacement is `name` (their values are
// honoured when `name` itself is not set).
std::vector<const OptionSpec*> deprecated_aliases_of(std::string_view name);

const char* option_type_name(OptionType t);
const char* option_status_name(OptionStatus s);

// What a key of imapd.conf is, by its spelling alone.
struct KeyClass {
  enum class Kind {
    Option,         // a table option: spec
    ServiceOption,  // "<prefix>_<option>": prefix is a service (or sync channel) name; spec
    Partition,      // partition-NAME: name
    MetaPartition,  // metapartition-NAME: name
    OtherPattern,   // archivepartition-, backuppartition-, *searchpartition-: Cyrus
                    // patterns we do not implement (listed by conf-lint); and
                    // xlist-FLAG (special-use of autocreated folders)
    Sasl,           // sasl_* (or <prefix>_sasl_*): passed to the SASL layer, not checked
    Unknown,
  };
  Kind kind = Kind::Unknown;
  const OptionSpec* spec = nullptr;
  std::string prefix;  // ServiceOption / prefixed Sasl: the service or channel name;
                       // OtherPattern: the pattern ("archivepartition", "xlist", ...)
  std::string name;    // Partition / MetaPartition / OtherPattern: the part after the dash
};
KeyClass classify_key(std::string_view lower_key);

// Checks one value against its option's type. Returns the problem ("not an
// integer: 'x'") or nothing if the value is well typed.
std::optional<std::string> check_value(const OptionSpec& spec, std::string_view value);

// A well-typed value in the form conf-all prints, so that two spellings of
// one value compare equal: switches "yes"/"no", integers in decimal,
// durations in seconds, enum and bitfield values lower-cased (bitfields in
// table order), strings as written. An ill-typed value is returned as is.
std::string canonical_value(const OptionSpec& spec, std::string_view value);

std::optional<int64_t> parse_int(std::string_view v);

struct Diagnostic {
  enum class Severity { Warning, Error };
  Severity severity;
  std::string file;
  int line = 0;
  std::string option;
  std::string message;
  std::string to_string() const;  // "imapd.conf:12: timeout: not an integer: 'x'"
};

namespace detail {
struct ImapdConfParser;
}

class ImapdConf {
 public:
  struct Entry {
    std::string key;    // as written, lower-cased
    std::string value;  // trimmed
    int line = 0;
  };

  // Bounds of the input: longer lines or more lines are an Error.
  static constexpr size_t kMaxLineLength = 64 * 1024;
  static constexpr size_t kMaxLines = 100'000;
  static constexpr uintmax_t kMaxFileSize = 64ull * 1024 * 1024;  // load() only

  // Parses text; diagnostics are appended to *diags (which may be null).
  // Fails only if there is at least one Error diagnostic; the Error's detail
  // then holds the first Error diagnostic.
  static Result<ImapdConf> parse(std::string_view text, std::string_view filename,
                                 std::vector<Diagnostic>* diags);
  static Result<ImapdConf> load(const std::filesystem::path& path, std::vector<Diagnostic>* diags);

  // As parse/load, but keeps going past Errors and returns what could be
  // read (a badly typed value reads as its default). For conf-lint, which
  // must show every problem; the daemon uses parse/load. load_lenient fails
  // only if the file cannot be read.
  static ImapdConf parse_lenient(std::string_view text, std::string_view filename,
                                 std::vector<Diagnostic>* diags);
  static Result<ImapdConf> load_lenient(const std::filesystem::path& path,
                                        std::vector<Diagnostic>* diags);

  // Typed lookups. With a service name, "<service>_<key>" wins over "<key>".
  // Unset options give the table default; a deprecated spelling of the key
  // (tls_cert_file for tls_server_cert) is read when the key itself is not
  // set. Int and Duration values are clamped to the option's bounds. Enum
  // values come back canonical (lower-case, "yes" -> "on" where the enum has
  // on/off, expunge_mode "default" -> "delayed"). get_list splits on white
  // space. Asking for an option that is not in the table is a programming
  // error (asserts in debug, returns the empty value).
  std::string get_string(std::string_view key, std::string_view service = {}) const;
  int64_t get_int(std::string_view key, std::string_view service = {}) const;
  bool get_switch(std::string_view key, std::string_view service = {}) const;
  std::chrono::seconds get_duration(std::string_view key, std::string_view service = {}) const;
  std::vector<std::string> get_list(std::string_view key, std::string_view service = {}) const;
  bool is_set(std::string_view key, std::string_view service = {}) const;

  // The value in force for an option, as written (configured or default),
  // with a leading "{configdirectory}" expanded; service overrides and
  // deprecated aliases applied. Empty if unset with no default.
  std::string effective_raw(const OptionSpec& spec, std::string_view service = {}) const;

  // The entry that supplies `key` (service override, the key itself or a
  // deprecated alias), or null if the default is in force.
  const Entry* find_entry(std::string_view key, std::string_view service = {}) const;

  // partition-NAME and metapartition-NAME entries: name -> path.
  const std::map<std::string, std::string>& partitions() const { return partitions_; }
  const std::map<std::string, std::string>& metapartitions() const { return metapartitions_; }

  // Every key: value line in file order, including values a later line overrides.
  const std::vector<Entry>& entries() const { return entries_; }
  const std::string& filename() const { return filename_; }

 private:
  friend struct detail::ImapdConfParser;
  const Entry* lookup(std::string_view key, std::string_view service) const;
  void add_entry(std::string key, std::string value, int line);
  void add_partition(bool meta, const std::string& name, std::string path);

  std::string filename_;
  std::vector<Entry> entries_;
  std::map<std::string, size_t, std::less<>> index_;  // key -> entries_ position (last wins)
  std::map<std::string, std::string> partitions_;
  std::map<std::string, std::string> metapartitions_;
};

// Parses a Duration value ("30", "30m", "1h30m", "-1"): numbers with units
// d, h, m, s (either case) that add up; default_unit (0 = 's') is used for a
// trailing bare number. Nothing else is accepted (no spaces, no fractions);
// values beyond 100 years are rejected.
std::optional<std::chrono::seconds> parse_duration(std::string_view v, char default_unit);
std::optional<bool> parse_switch(std::string_view v);
// Seconds as parse_duration reads them back: 5400 -> "1h30m", 0 -> "0s".
std::string format_duration(int64_t seconds);

}  // namespace cyr::config
