#include "server/sieve/grammar.h"

#include <algorithm>

namespace cyr::sieve {

namespace {

using A = ArgType;

const std::vector<CommandSpec>& table() {
  // Designated initializers: each row names what it sets; the rest keep
  // CommandSpec's defaults (no tags, no comparison, contains nothing).
  // GCC 12 warns about every omitted member even though each has a
  // default, so the warning is off for this table only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
  static const std::vector<CommandSpec> specs = {
      // ---- commands (RFC 5228 3-4 and extensions)
      {.name = "require", .kind = NodeKind::Require, .args = {A::StringList}},
      {.name = "if", .kind = NodeKind::If, .contains = Contains::Block},
      {.name = "elsif", .kind = NodeKind::If, .contains = Contains::Block},
      {.name = "else", .kind = NodeKind::If, .contains = Contains::ElseBlock},
      {.name = "stop", .kind = NodeKind::Stop},
      {.name = "keep", .kind = NodeKind::Keep, .tags = {{":flags", A::StringList, "imap4flags"}}},
      {.name = "discard", .kind = NodeKind::Discard},
      {.name = "redirect",
       .kind = NodeKind::Redirect,
       .args = {A::String},
       .tags = {{":copy", std::nullopt, "copy"}}},
      {.name = "fileinto",
       .kind = NodeKind::FileInto,
       .extension = "fileinto",
       .args = {A::String},
       .tags = {{":copy", std::nullopt, "copy"},
                {":flags", A::StringList, "imap4flags"},
                {":create", std::nullopt, "mailbox"}}},
      {.name = "reject", .kind = NodeKind::Reject, .extension = "reject", .args = {A::String}},
      {.name = "ereject", .kind = NodeKind::EReject, .extension = "ereject", .args = {A::String}},
      {.name = "setflag",
       .kind = NodeKind::SetFlag,
       .extension = "imap4flags",
       .args = {A::String, A::StringList},
       .optional_first_extension = "variables"},
      {.name = "addflag",
       .kind = NodeKind::AddFlag,
       .extension = "imap4flags",
       .args = {A::String, A::StringList},
       .optional_first_extension = "variables"},
      {.name = "removeflag",
       .kind = NodeKind::RemoveFlag,
       .extension = "imap4flags",
       .args = {A::String, A::StringList},
       .optional_first_extension = "variables"},
      {.name = "vacation",
       .kind = NodeKind::Vacation,
       .extension = "vacation",
       .args = {A::String},
       .tags = {{":days", A::Number, ""},
                {":seconds", A::Number, "vacation-seconds"},
                {":subject", A::String, ""},
                {":from", A::String, ""},
                {":addresses", A::StringList, ""},
                {":mime", std::nullopt, ""},
                {":handle", A::String, ""}}},
      {.name = "set",
       .kind = NodeKind::Set,
       .extension = "variables",
       .args = {A::String, A::String},
       .tags = {{":lower", std::nullopt, ""},
                {":upper", std::nullopt, ""},
                {":lowerfirst", std::nullopt, ""},
                {":upperfirst", std::nullopt, ""},
                {":quotewildcard", std::nullopt, ""},
                {":length", std::nullopt, ""}}},
      {.name = "include",
       .kind = NodeKind::Include,
       .extension = "include",
       .args = {A::String},
       .tags = {{":personal", std::nullopt, ""},
                {":global", std::nullopt, ""},
                {":once", std::nullopt, ""},
                {":optional", std::nullopt, ""}}},
      {.name = "return", .kind = NodeKind::Return, .extension = "include"},
      {.name = "addheader",
       .kind = NodeKind::AddHeader,
       .extension = "editheader",
       .args = {A::String, A::String},
       .tags = {{":last", std::nullopt, ""}}},
      {.name = "deleteheader",
       .kind = NodeKind::DeleteHeader,
       .extension = "editheader",
       .args = {A::String, A::StringList},
       .optional_last = true,
       .tags = {{":index", A::Number, ""}, {":last", std::nullopt, ""}},
       .comparison = kMatchType | kComparator},
      {.name = "error", .kind = NodeKind::Error, .extension = "ihave", .args = {A::String}},
      {.name = "global", .kind = NodeKind::Global, .extension = "include", .args = {A::StringList}},

      // ---- tests (RFC 5228 5 and extensions)
      {.name = "address",
       .kind = NodeKind::Address,
       .is_test = true,
       .args = {A::StringList, A::StringList},
       .tags = {{":index", A::Number, "index"}, {":last", std::nullopt, "index"}},
       .comparison = kMatchType | kComparator | kAddressPart},
      {.name = "allof", .kind = NodeKind::AllOf, .is_test = true, .contains = Contains::TestList},
      {.name = "anyof", .kind = NodeKind::AnyOf, .is_test = true, .contains = Contains::TestList},
      {.name = "envelope",
       .kind = NodeKind::Envelope,
       .is_test = true,
       .extension = "envelope",
       .args = {A::StringList, A::StringList},
       .comparison = kMatchType | kComparator | kAddressPart},
      {.name = "exists", .kind = NodeKind::Exists, .is_test = true, .args = {A::StringList}},
      {.name = "false", .kind = NodeKind::False, .is_test = true},
      {.name = "header",
       .kind = NodeKind::Header,
       .is_test = true,
       .args = {A::StringList, A::StringList},
       .tags = {{":index", A::Number, "index"}, {":last", std::nullopt, "index"}},
       .comparison = kMatchType | kComparator},
      {.name = "not", .kind = NodeKind::Not, .is_test = true, .contains = Contains::OneTest},
      {.name = "size",
       .kind = NodeKind::Size,
       .is_test = true,
       .tags = {{":over", A::Number, ""}, {":under", A::Number, ""}}},
      {.name = "true", .kind = NodeKind::True, .is_test = true},
      {.name = "hasflag",
       .kind = NodeKind::HasFlag,
       .is_test = true,
       .extension = "imap4flags",
       .args = {A::StringList, A::StringList},
       .optional_first_extension = "variables",
       .comparison = kMatchType | kComparator},
      {.name = "string",
       .kind = NodeKind::String,
       .is_test = true,
       .extension = "variables",
       .args = {A::StringList, A::StringList},
       .comparison = kMatchType | kComparator},
      {.name = "body",
       .kind = NodeKind::Body,
       .is_test = true,
       .extension = "body",
       .args = {A::StringList},
       .tags = {{":raw", std::nullopt, ""}, {":content", A::StringList, ""}, {":text", std::nullopt, ""}},
       .comparison = kMatchType | kComparator},
      {.name = "mailboxexists",
       .kind = NodeKind::MailboxExists,
       .is_test = true,
       .extension = "mailbox",
       .args = {A::StringList}},
      {.name = "date",
       .kind = NodeKind::Date,
       .is_test = true,
       .extension = "date",
       .args = {A::String, A::String, A::StringList},
       .tags = {{":zone", A::String, ""},
                {":originalzone", std::nullopt, ""},
                {":index", A::Number, "index"},
                {":last", std::nullopt, "index"}},
       .comparison = kMatchType | kComparator},
      {.name = "duplicate",
       .kind = NodeKind::Duplicate,
       .is_test = true,
       .extension = "duplicate",
       .tags = {{":handle", A::String, ""},
                {":header", A::String, ""},
                {":uniqueid", A::String, ""},
                {":seconds", A::Number, ""},
                {":last", std::nullopt, ""}}},
      {.name = "environment",
       .kind = NodeKind::Environment,
       .is_test = true,
       .extension = "environment",
       .args = {A::String, A::StringList},
       .comparison = kMatchType | kComparator},
      {.name = "ihave", .kind = NodeKind::IHave, .is_test = true, .extension = "ihave", .args = {A::StringList}},
      {.name = "currentdate",
       .kind = NodeKind::CurrentDate,
       .is_test = true,
       .extension = "date",
       .args = {A::String, A::StringList},
       .tags = {{":zone", A::String, ""}},
       .comparison = kMatchType | kComparator},
  };
#pragma GCC diagnostic pop
  return specs;
}

}  // namespace

const CommandSpec* find_command(std::string_view name, bool is_test) {
  for (const auto& spec : table())
    if (spec.is_test == is_test && spec.name == name) return &spec;
  return nullptr;
}

const std::vector<std::string>& extension_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v = {
        "body", "comparator-i;ascii-numeric", "copy", "date", "duplicate", "editheader", "encoded-character",
        "envelope", "environment", "ereject", "fileinto", "ihave", "imap4flags", "include", "index", "mailbox",
        "regex", "reject", "relational", "subaddress", "vacation", "vacation-seconds", "variables",
    };
    std::sort(v.begin(), v.end());
    return v;
  }();
  return names;
}

const std::vector<std::string>& supported_extensions() { return extension_names(); }

}  // namespace cyr::sieve
