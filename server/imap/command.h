// Typed IMAP commands: what the parser (parser.h) produces and the session executes.
//
// Every command the server accepts has one argument struct here; a Command is
// the command id, the UID prefix and one of those structs. These are plain
// values (no pointers into parser buffers, no store types), so a Command can be
// moved to another coroutine or thread freely. Nothing here does I/O.
//
// Syntax follows RFC 3501 plus the extensions listed in docs/imap-parser.md.
// Mailbox names are kept as sent (modified UTF-7 is not decoded here), except
// that any case variant of "INBOX" is normalised to "INBOX" (RFC 3501 5.1).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cyr::imap {

// ---------------------------------------------------------------- sequence sets

// One element of a sequence set. A bound of kSeqStar stands for "*" (the largest
// number in use); 0 is never a valid number in IMAP, so it is free for that.
inline constexpr uint32_t kSeqStar = 0;

struct SeqRange {
  uint32_t first = 0;  // as written; first may be greater than last ("5:2")
  uint32_t last = 0;   // equal to first for a single number

  bool operator==(const SeqRange&) const = default;
};

// sequence-set (RFC 3501) or "$" (the saved search result, RFC 5182).
struct SequenceSet {
  std::vector<SeqRange> ranges;
  bool saved_result = false;  // "$": ranges is empty

  bool operator==(const SequenceSet&) const = default;

  // True if n is in the set once "*" is read as star_value (the highest
  // sequence number or UID in the mailbox). Not meaningful for "$".
  bool contains(uint32_t n, uint32_t star_value) const;
};

// ---------------------------------------------------------------- dates

struct Date {
  int year = 0;   // 4 digits
  int month = 0;  // 1..12
  int day = 0;    // 1..31
  bool operator==(const Date&) const = default;
};

struct DateTime {
  Date date;
  int hour = 0, minute = 0, second = 0;
  int zone_minutes = 0;  // offset east of UTC, e.g. -0700 => -420
  bool operator==(const DateTime&) const = default;
};

// ---------------------------------------------------------------- object ids

// objectid = 1*255(ALPHA / DIGIT / "_" / "-") (RFC 8474 section 7).
inline constexpr size_t kMaxObjectIdLength = 255;
bool is_object_id(std::string_view s);

// ---------------------------------------------------------------- command ids

enum class CommandId {
  // any state
  Capability, Noop, Logout, Id,
  // not authenticated
  StartTls, Authenticate, Login,
  // authenticated
  Enable, Compress, Select, Examine, Create, Delete, Rename, Subscribe, Unsubscribe,
  List, Lsub, Xlist, Namespace, Status, Append, Idle, Unauthenticate,
  GetAcl, SetAcl, DeleteAcl, ListRights, MyRights,
  GetQuota, GetQuotaRoot, SetQuota, GetMetadata, SetMetadata,
  // selected
  Check, Close, Unselect, Expunge, Search, Fetch, Store, Copy, Move, Sort, Thread,
  Replace,
  // Cyrus replication over IMAP (X-REPLICATION)
  SyncApply, SyncGet, SyncRestart,
};

// ---------------------------------------------------------------- arguments

struct NoArgs {
  bool operator==(const NoArgs&) const = default;
};

struct LoginArgs {
  std::string user, password;
  bool operator==(const LoginArgs&) const = default;
};

struct AuthenticateArgs {
  std::string mechanism;  // upper-cased
  // SASL-IR (RFC 4959): absent when not sent; present and empty for "=".
  // Still base64 as sent; the SASL layer decodes it.
  std::optional<std::string> initial_response;
  bool operator==(const AuthenticateArgs&) const = default;
};

struct MailboxArgs {  // DELETE SUBSCRIBE UNSUBSCRIBE GETACL MYRIGHTS GETQUOTAROOT
  std::string mailbox;
  bool operator==(const MailboxArgs&) const = default;
};

struct QresyncParams {  // RFC 7162 3.2.5
  uint32_t uidvalidity = 0;
  uint64_t modseq = 0;
  std::optional<SequenceSet> known_uids;
  // seq-match-data: (known sequence set, corresponding UIDs)
  std::optional<std::pair<SequenceSet, SequenceSet>> seq_match;
  bool operator==(const QresyncParams&) const = default;
};

struct SelectArgs {  // SELECT and EXAMINE
  std::string mailbox;
  bool condstore = false;
  std::optional<QresyncParams> qresync;
  bool operator==(const SelectArgs&) const = default;
};

struct CreateArgs {
  std::string mailbox;
  std::vector<std::string> special_use;  // CREATE ... (USE (\Sent)) RFC 6154
  std::string partition;  // Cyrus's "CREATE name partition" (admins; cyradm's cm name partition)
  bool operator==(const CreateArgs&) const = default;
};

struct RenameArgs {
  std::string from, to;
  bool operator==(const RenameArgs&) const = default;
};

enum ListSelect : uint32_t {
  kListSelectSubscribed = 1u << 0,
  kListSelectRemote = 1u << 1,
  kListSelectRecursiveMatch = 1u << 2,
  kListSelectSpecialUse = 1u << 3,
};

enum ListReturn : uint32_t {
  kListReturnSubscribed = 1u << 0,
  kListReturnChildren = 1u << 1,
  kListReturnSpecialUse = 1u << 2,
  kListReturnStatus = 1u << 3,
  kListReturnMyRights = 1u << 4,  // RFC 8440
  kListReturnMetadata = 1u << 5,  // RFC 9590
};

// Entries one GETMETADATA or one LIST ... RETURN (METADATA (...)) may ask
// for: twice the entries one owner may store (256 shared and 256 private,
// server/imapd/metadata.h), so every stored entry can be named; more is BAD.
inline constexpr size_t kMaxMetadataRequestEntries = 512;

enum StatusItem : uint32_t {
  kStatusMessages = 1u << 0,
  kStatusRecent = 1u << 1,
  kStatusUidNext = 1u << 2,
  kStatusUidValidity = 1u << 3,
  kStatusUnseen = 1u << 4,
  kStatusHighestModSeq = 1u << 5,  // RFC 7162
  kStatusSize = 1u << 6,           // RFC 8438
  kStatusAppendLimit = 1u << 7,    // RFC 7889
  kStatusDeleted = 1u << 8,        // RFC 9051
  kStatusMailboxId = 1u << 9,      // RFC 8474
};

struct ListArgs {  // LIST (with RFC 5258 / 5819 / 6154 / 8440 / 9590), LSUB and XLIST
  uint32_t select_options = 0;  // ListSelect bits
  std::string reference;
  std::vector<std::string> patterns;  // one or more
  uint32_t return_options = 0;        // ListReturn bits
  uint32_t status_items = 0;          // StatusItem bits, with kListReturnStatus
  // With kListReturnMetadata: the entries asked for (one or more, as sent;
  // checked when the command runs, as GETMETADATA's) and MAXSIZE.
  std::vector<std::string> metadata_entries;
  std::optional<uint64_t> metadata_maxsize;
  bool extended = false;  // selection/return options or a pattern list was used
  bool operator==(const ListArgs&) const = default;
};

struct StatusArgs {
  std::string mailbox;
  uint32_t items = 0;  // StatusItem bits, at least one
  bool operator==(const StatusArgs&) const = default;
};

// CATENATE (RFC 4469): a message built from these parts, in order.
// More parts than this is BAD (and a TEXT literal past it is refused before
// it is read): each TEXT part is a staged literal, each URL a message read.
inline constexpr size_t kMaxCatenateParts = 100;
// A URL longer than this is BAD: no URL naming a mailbox of this server
// (names are bounded far below) needs more.
inline constexpr size_t kMaxCatenateUrl = 2048;

struct CatenatePart {
  enum class Kind { Text, Url };
  Kind kind = Kind::Text;
  // Text: the literal, like AppendMessage's (a MessageLiteral event).
  uint64_t size = 0;
  uint32_t literal = 0;
  bool binary = false;
  // Url: the IMAP URL as sent (imap_url.h parses it when the command runs).
  std::string url;
  bool operator==(const CatenatePart&) const = default;
};

struct AppendMessage {
  std::vector<std::string> flags;
  std::optional<DateTime> internal_date;
  uint64_t size = 0;     // literal size announced by the client
  uint32_t literal = 0;  // index of this message's MessageLiteral event in the command
  bool binary = false;   // sent as literal8 "~{N}" (RFC 3516): NULs allowed
  // CATENATE: the parts (1..kMaxCatenateParts); size, literal and binary
  // above are then unused. Empty for a message sent as one literal.
  std::vector<CatenatePart> catenate;
  bool operator==(const AppendMessage&) const = default;
};

struct AppendArgs {  // MULTIAPPEND (RFC 3502): one or more messages
  std::string mailbox;
  std::vector<AppendMessage> messages;
  bool operator==(const AppendArgs&) const = default;
};

struct ReplaceArgs {  // REPLACE / UID REPLACE (RFC 8508)
  SequenceSet source;  // one number (or "*"): the message replaced
  AppendArgs append;   // the target mailbox and exactly one message
  bool operator==(const ReplaceArgs&) const = default;
};

struct EnableArgs {
  std::vector<std::string> capabilities;  // upper-cased
  bool operator==(const EnableArgs&) const = default;
};

struct CompressArgs {  // RFC 4978; the parser accepts only DEFLATE
  std::string mechanism;  // upper-cased
  bool operator==(const CompressArgs&) const = default;
};

struct IdArgs {  // RFC 2971; params absent for NIL
  std::optional<std::vector<std::pair<std::string, std::optional<std::string>>>> params;
  bool operator==(const IdArgs&) const = default;
};

struct SetAclArgs {  // SETACL (mailbox identifier rights), DELETEACL, LISTRIGHTS
  std::string mailbox;
  std::string identifier;
  std::string rights;  // SETACL only; may start with '+' or '-'
  bool operator==(const SetAclArgs&) const = default;
};

struct QuotaRootArgs {  // GETQUOTA
  std::string root;
  bool operator==(const QuotaRootArgs&) const = default;
};

struct SetQuotaArgs {  // RFC 9208
  std::string root;
  std::vector<std::pair<std::string, uint64_t>> limits;  // resource (upper-cased), limit
  bool operator==(const SetQuotaArgs&) const = default;
};

struct GetMetadataArgs {  // RFC 5464
  std::optional<uint64_t> maxsize;
  std::optional<std::string> depth;  // "0", "1" or "infinity"
  std::string mailbox;               // "" for server metadata
  std::vector<std::string> entries;
  bool operator==(const GetMetadataArgs&) const = default;
};

struct SetMetadataArgs {
  std::string mailbox;
  std::vector<std::pair<std::string, std::optional<std::string>>> entries;  // NIL removes
  bool operator==(const SetMetadataArgs&) const = default;
};

struct SequenceArgs {  // UID EXPUNGE
  SequenceSet set;
  bool operator==(const SequenceArgs&) const = default;
};

struct CopyArgs {  // COPY and MOVE
  SequenceSet set;
  std::string mailbox;
  bool operator==(const CopyArgs&) const = default;
};

// ---- FETCH

struct Section {  // section-spec of BODY[...] / BINARY[...]
  enum class Text { Full, Header, HeaderFields, HeaderFieldsNot, Text, Mime };
  std::vector<uint32_t> part;  // "1.2.3"; empty for the whole message
  Text text = Text::Full;
  std::vector<std::string> fields;  // HEADER.FIELDS (...), upper-cased
  bool operator==(const Section&) const = default;
};

struct Partial {  // <offset.length>
  uint32_t offset = 0;
  uint32_t length = 0;
  bool operator==(const Partial&) const = default;
};

struct FetchItem {
  enum class Kind {
    Envelope, Flags, InternalDate, Rfc822, Rfc822Header, Rfc822Size, Rfc822Text,
    Body,           // BODY: structure without extension data
    BodyStructure,
    Uid,
    BodySection,    // BODY[...] / BODY.PEEK[...]
    BinarySection,  // BINARY[...] / BINARY.PEEK[...] (RFC 3516)
    BinarySize,     // BINARY.SIZE[...]
    ModSeq,         // RFC 7162
    EmailId, ThreadId,  // RFC 8474
    SaveDate,           // RFC 8514
    Preview,            // RFC 8970
  };
  Kind kind = Kind::Flags;
  bool peek = false;
  bool lazy = false;  // PREVIEW (LAZY): the server may answer NIL if a preview is costly
  Section section;
  std::optional<Partial> partial;
  bool operator==(const FetchItem&) const = default;
};

struct FetchArgs {
  SequenceSet set;
  std::vector<FetchItem> items;  // macros expanded
  std::optional<uint64_t> changed_since;  // CHANGEDSINCE (RFC 7162)
  bool vanished = false;                  // VANISHED (UID FETCH, QRESYNC)
  bool operator==(const FetchArgs&) const = default;
};

// ---- STORE

struct StoreArgs {
  enum class Op { Replace, Add, Remove };
  SequenceSet set;
  std::optional<uint64_t> unchanged_since;  // UNCHANGEDSINCE (RFC 7162)
  Op op = Op::Replace;
  bool silent = false;
  std::vector<std::string> flags;
  bool operator==(const StoreArgs&) const = default;
};

// ---- SEARCH

struct SearchKey {
  enum class Kind {
    And,  // parenthesised list, and the top level: all children must match
    Or, Not,
    All, Answered, Deleted, Draft, Flagged, New, Old, Recent, Seen,
    Unanswered, Undeleted, Undraft, Unflagged, Unseen,
    Bcc, Body, Cc, From, Subject, Text, To,  // text: substring
    Header,                                  // header_name + text
    Keyword, Unkeyword,                      // text = flag
    Before, On, Since, SentBefore, SentOn, SentSince,  // date
    Larger, Smaller,                                   // number
    Uid, SequenceSet,                                  // set
    ModSeq,   // number; modseq_entry/modseq_entry_type when given (RFC 7162)
    Older, Younger,  // number of seconds (RFC 5032)
    EmailId, ThreadId,                           // text = the objectid (RFC 8474)
    SavedBefore, SavedOn, SavedSince,            // date (RFC 8514)
    SaveDateSupported,                           // RFC 8514
  };
  Kind kind = Kind::All;
  std::string text;
  std::string header_name;
  Date date;
  uint64_t number = 0;
  ::cyr::imap::SequenceSet set;
  std::string modseq_entry, modseq_entry_type;
  std::vector<SearchKey> children;  // And: any count; Or: 2; Not: 1
  bool operator==(const SearchKey&) const = default;
};

enum SearchReturn : uint32_t {  // ESEARCH (RFC 4731), SAVE (RFC 5182)
  kSearchReturnMin = 1u << 0,
  kSearchReturnMax = 1u << 1,
  kSearchReturnAll = 1u << 2,
  kSearchReturnCount = 1u << 3,
  kSearchReturnSave = 1u << 4,
};

struct SearchArgs {
  // Set when RETURN (...) was given: the answer is ESEARCH. RETURN () means ALL.
  std::optional<uint32_t> return_options;
  std::optional<std::string> charset;  // upper-cased
  SearchKey key;                       // Kind::And of the keys given
  bool operator==(const SearchArgs&) const = default;
};

// ---- SORT and THREAD (RFC 5256, 5957, 5267)

enum class SortKey : uint8_t {
  Arrival, Cc, Date, From, Size, Subject, To,
  DisplayFrom, DisplayTo,  // RFC 5957
};

struct SortCriterion {
  SortKey key = SortKey::Arrival;
  bool reverse = false;
  bool operator==(const SortCriterion&) const = default;
};

// More criteria than this is BAD: there are only nine keys, so a longer
// list repeats one (legal but useless) or is an attack on the comparator.
inline constexpr size_t kMaxSortCriteria = 16;

struct SortArgs {
  std::vector<SortCriterion> criteria;  // one or more
  // ESORT (RFC 5267): set when RETURN (...) was given (MIN MAX ALL COUNT
  // SAVE bits); the answer is ESEARCH. RETURN () means ALL.
  std::optional<uint32_t> return_options;
  std::string charset;  // upper-cased; required by SORT
  SearchKey key;        // Kind::And of the keys given
  bool operator==(const SortArgs&) const = default;
};

enum class ThreadAlgorithm : uint8_t { OrderedSubject, References };

struct ThreadArgs {
  ThreadAlgorithm algorithm = ThreadAlgorithm::OrderedSubject;
  std::string charset;  // upper-cased
  SearchKey key;        // Kind::And of the keys given
  bool operator==(const ThreadArgs&) const = default;
};

// ---- replication

struct SyncArgs {
  // Everything after "SYNCAPPLY " up to the final CRLF, exactly as received,
  // literal announcements and literal bytes included (a dlist for sync/ to parse).
  std::string raw;
  bool operator==(const SyncArgs&) const = default;
};

using CommandArgs =
    std::variant<NoArgs, LoginArgs, AuthenticateArgs, MailboxArgs, SelectArgs, CreateArgs,
                 RenameArgs, ListArgs, StatusArgs, AppendArgs, EnableArgs, IdArgs, SetAclArgs,
                 QuotaRootArgs, SetQuotaArgs, GetMetadataArgs, SetMetadataArgs, SequenceArgs,
                 CopyArgs, FetchArgs, StoreArgs, SearchArgs, SortArgs, ThreadArgs, SyncArgs,
                 CompressArgs, ReplaceArgs>;

struct Command {
  CommandId id = CommandId::Noop;
  bool uid = false;  // "UID FETCH" etc.
  CommandArgs args;

  template <class T> const T& as() const { return std::get<T>(args); }
  bool operator==(const Command&) const = default;
};

}  // namespace cyr::imap
