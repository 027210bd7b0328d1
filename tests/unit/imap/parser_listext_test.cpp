// LIST-MYRIGHTS (RFC 8440), LIST-METADATA (RFC 9590), XLIST and
// UNAUTHENTICATE (RFC 8437): the forms clients send, and the bad ones.
#include "imap_test_util.h"
#include "server/imap/command_table.h"

namespace cyr::imap {
namespace {

using test::parse_error;
using test::parse_ok;

ListArgs list_args(std::string_view line) { return parse_ok(line).command.as<ListArgs>(); }

// "/shared/e0 /shared/e1 ..." with n entries.
std::string entry_list(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += (i ? " /shared/e" : "/shared/e") + std::to_string(i);
  return out;
}

TEST(ListMyRights, ReturnOption) {
  auto a = list_args("A1 LIST \"\" \"*\" RETURN (MYRIGHTS)\r\n");
  EXPECT_TRUE(a.extended);
  EXPECT_EQ(a.return_options, uint32_t(kListReturnMyRights));
  EXPECT_TRUE(a.metadata_entries.empty());

  auto b = list_args("A2 list \"\" % return (myrights subscribed STATUS (MESSAGES))\r\n");
  EXPECT_EQ(b.return_options,
            uint32_t(kListReturnMyRights | kListReturnSubscribed | kListReturnStatus));
  EXPECT_EQ(b.status_items, uint32_t(kStatusMessages));

  // Twice is harmless (as SUBSCRIBED twice is, and as Cyrus takes it).
  auto c = list_args("A3 LIST \"\" * RETURN (MYRIGHTS MYRIGHTS)\r\n");
  EXPECT_EQ(c.return_options, uint32_t(kListReturnMyRights));

  // With selection options.
  auto d = list_args("A4 LIST (SUBSCRIBED) \"\" * RETURN (MYRIGHTS)\r\n");
  EXPECT_EQ(d.select_options, uint32_t(kListSelectSubscribed));
  EXPECT_EQ(d.return_options, uint32_t(kListReturnMyRights));

  EXPECT_NE(parse_error("A5 LIST \"\" * RETURN (MYRIGHTS (x))\r\n"), "");
  EXPECT_NE(parse_error("A6 LIST \"\" * RETURN MYRIGHTS\r\n"), "");
  EXPECT_NE(parse_error("A7 LIST \"\" * RETURN (MYRIGHT)\r\n"), "");
  // LSUB takes no return options.
  EXPECT_NE(parse_error("A8 LSUB \"\" * RETURN (MYRIGHTS)\r\n"), "");
}

TEST(ListMetadata, EntryList) {
  auto a = list_args("A1 LIST \"\" \"*\" RETURN (METADATA (/private/comment /shared/comment))\r\n");
  EXPECT_EQ(a.return_options, uint32_t(kListReturnMetadata));
  EXPECT_EQ(a.metadata_entries,
            (std::vector<std::string>{"/private/comment", "/shared/comment"}));
  EXPECT_FALSE(a.metadata_maxsize);

  // One entry without parentheses, quoted, as Cyrus accepts it.
  auto b = list_args("A2 LIST \"\" % RETURN (METADATA \"/shared/comment\")\r\n");
  EXPECT_EQ(b.metadata_entries, std::vector<std::string>{"/shared/comment"});

  // Entries are kept as sent (checked when the command runs).
  auto c = list_args("A3 LIST \"\" % RETURN (METADATA (/Shared/Comment))\r\n");
  EXPECT_EQ(c.metadata_entries, std::vector<std::string>{"/Shared/Comment"});

  // Combined with the other return options, in any order.
  auto d = list_args(
      "A4 LIST \"\" * RETURN (STATUS (UNSEEN) METADATA (/shared/x) MYRIGHTS SUBSCRIBED)\r\n");
  EXPECT_EQ(d.return_options, uint32_t(kListReturnStatus | kListReturnMetadata |
                                       kListReturnMyRights | kListReturnSubscribed));
  EXPECT_EQ(d.status_items, uint32_t(kStatusUnseen));
  EXPECT_EQ(d.metadata_entries, std::vector<std::string>{"/shared/x"});
}

TEST(ListMetadata, MaxSize) {
  auto a = list_args("A1 LIST \"\" * RETURN (METADATA (/private/comment /shared/comment) MAXSIZE 100)\r\n");
  EXPECT_EQ(a.metadata_entries.size(), 2u);
  EXPECT_EQ(a.metadata_maxsize, 100u);

  auto b = list_args("A2 LIST \"\" * RETURN (METADATA (/shared/comment MAXSIZE 0) MYRIGHTS)\r\n");
  EXPECT_EQ(b.metadata_maxsize, 0u);
  EXPECT_EQ(b.return_options, uint32_t(kListReturnMetadata | kListReturnMyRights));

  // The largest 63-bit value is fine; one more (and 20 digits) is BAD.
  auto c = list_args("A3 LIST \"\" * RETURN (METADATA (/shared/c) MAXSIZE 9223372036854775807)\r\n");
  EXPECT_EQ(c.metadata_maxsize, 9223372036854775807ull);
  EXPECT_NE(parse_error("A4 LIST \"\" * RETURN (METADATA (/shared/c) MAXSIZE 9223372036854775808)\r\n"), "");
  EXPECT_NE(parse_error("A5 LIST \"\" * RETURN (METADATA (/shared/c) MAXSIZE 99999999999999999999999)\r\n"), "");
  EXPECT_NE(parse_error("A6 LIST \"\" * RETURN (METADATA (/shared/c) MAXSIZE -1)\r\n"), "");
  EXPECT_NE(parse_error("A7 LIST \"\" * RETURN (METADATA (/shared/c) MAXSIZE)\r\n"), "");
  EXPECT_NE(parse_error("A8 LIST \"\" * RETURN (METADATA (/shared/c MAXSIZE 1) MAXSIZE 2)\r\n"), "");
}

TEST(ListMetadata, BadForms) {
  // No entries.
  EXPECT_NE(parse_error("A1 LIST \"\" * RETURN (METADATA)\r\n"), "");
  EXPECT_NE(parse_error("A2 LIST \"\" * RETURN (METADATA ())\r\n"), "");
  EXPECT_NE(parse_error("A3 LIST \"\" * RETURN (METADATA (MAXSIZE 10))\r\n"), "");
  EXPECT_NE(parse_error("A4 LIST \"\" * RETURN (METADATA () MAXSIZE 10)\r\n"), "");
  // Given twice: which entries would apply?
  EXPECT_NE(parse_error("A5 LIST \"\" * RETURN (METADATA (/shared/a) METADATA (/shared/b))\r\n"), "");
  // Unclosed list.
  EXPECT_NE(parse_error("A6 LIST \"\" * RETURN (METADATA (/shared/a)\r\n"), "");
  // Bounded: kMaxMetadataRequestEntries entries are fine, one more is BAD.
  const std::string most = entry_list(kMaxMetadataRequestEntries);
  auto a = list_args("A7 LIST \"\" * RETURN (METADATA (" + most + "))\r\n");
  EXPECT_EQ(a.metadata_entries.size(), kMaxMetadataRequestEntries);
  EXPECT_EQ(a.metadata_entries.back(), "/shared/e" + std::to_string(kMaxMetadataRequestEntries - 1));
  EXPECT_EQ(parse_error("A8 LIST \"\" * RETURN (METADATA (" + most + " /shared/one-more))\r\n"),
            "error A8 BAD [] LIST: Too many metadata entries (at most 512)");
}

TEST(GetMetadata, EntriesBoundedAsListMetadata) {
  const std::string most = entry_list(kMaxMetadataRequestEntries);
  EXPECT_EQ(parse_ok("a GETMETADATA INBOX (" + most + ")\r\n").command.as<GetMetadataArgs>().entries.size(),
            kMaxMetadataRequestEntries);
  EXPECT_EQ(parse_error("a GETMETADATA INBOX (" + most + " /shared/x)\r\n"),
            "error a BAD [] GETMETADATA: Too many metadata entries (at most 512)");
  EXPECT_EQ(parse_error("a GETMETADATA (DEPTH 1) INBOX (" + most + " /shared/x)\r\n"),
            "error a BAD [] GETMETADATA: Too many metadata entries (at most 512)");
}

TEST(Xlist, ReferenceAndPattern) {
  auto x = parse_ok("A1 XLIST \"\" \"*\"\r\n");
  ASSERT_EQ(x.command.id, CommandId::Xlist);
  const auto& a = x.command.as<ListArgs>();
  EXPECT_EQ(a.reference, "");
  EXPECT_EQ(a.patterns, std::vector<std::string>{"*"});
  EXPECT_FALSE(a.extended);
  EXPECT_EQ(a.return_options, 0u);

  auto y = parse_ok("A2 xlist INBOX/ %\r\n").command.as<ListArgs>();
  EXPECT_EQ(y.reference, "INBOX/");
  EXPECT_EQ(y.patterns, std::vector<std::string>{"%"});

  EXPECT_NE(parse_error("A3 XLIST \"\"\r\n"), "");
  EXPECT_NE(parse_error("A4 XLIST\r\n"), "");
  EXPECT_NE(parse_error("A5 XLIST \"\" * RETURN (CHILDREN)\r\n"), "");
  EXPECT_NE(parse_error("A6 XLIST (SUBSCRIBED) \"\" *\r\n"), "");
  EXPECT_NE(parse_error("A7 XLIST \"\" (\"*\" \"%\")\r\n"), "");
  EXPECT_FALSE(command_allowed_in(CommandId::Xlist, kNotAuthenticated));
  EXPECT_TRUE(command_allowed_in(CommandId::Xlist, kAuthenticated));
  EXPECT_TRUE(command_allowed_in(CommandId::Xlist, kSelected));
  EXPECT_FALSE(command_writes(parse_ok("A8 XLIST \"\" *\r\n").command));
}

TEST(Unauthenticate, NoArguments) {  // RFC 8437
  EXPECT_EQ(parse_ok("A1 UNAUTHENTICATE\r\n").command.id, CommandId::Unauthenticate);
  EXPECT_EQ(parse_ok("A2 unauthenticate\r\n").command.id, CommandId::Unauthenticate);
  EXPECT_NE(parse_error("A3 UNAUTHENTICATE now\r\n"), "");
  EXPECT_NE(parse_error("A4 UID UNAUTHENTICATE\r\n"), "");
  EXPECT_FALSE(command_allowed_in(CommandId::Unauthenticate, kNotAuthenticated));
  EXPECT_TRUE(command_allowed_in(CommandId::Unauthenticate, kAuthenticated));
  EXPECT_TRUE(command_allowed_in(CommandId::Unauthenticate, kSelected));
  EXPECT_FALSE(command_writes(parse_ok("A5 UNAUTHENTICATE\r\n").command));
}

}  // namespace
}  // namespace cyr::imap
