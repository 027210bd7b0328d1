// A small blocking IMAP client for cyr_adm: one connection (plain, implicit
// TLS or STARTTLS), tagged commands with literals, SASL (SCRAM-SHA-256, PLAIN,
// LOGIN) and responses parsed into a bounded tree of values.
//
// Blocking on purpose: an admin shell runs one command at a time and waits for
// its answer, so an event loop would add nothing but code. Every read has a
// timeout and every response is bounded (line length, literal size, nesting,
// number of untagged responses), so a broken server cannot hang or exhaust us.
//
// Not thread-safe: one ImapClient per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"

namespace cyr::ops::adm {

// One item of a response line: an atom (NIL included, as the atom "NIL" with
// is_nil set), a string (quoted or literal), or a parenthesised list.
struct ImapValue {
  enum class Kind { Atom, String, List };
  Kind kind = Kind::Atom;
  bool is_nil = false;
  std::string text;               // Atom, String
  std::vector<ImapValue> items;   // List

  bool is_atom(std::string_view a) const;  // case-insensitive
};

// One untagged response ("* ..."), split into values (values[0] is "*").
struct Untagged {
  std::vector<ImapValue> values;
};

struct Reply {
  std::string status;                // "OK", "NO" or "BAD" (upper case)
  std::string text;                  // the rest of the tagged line, with any [CODE]
  std::vector<Untagged> untagged;    // in the order received
  bool ok() const { return status == "OK"; }
  std::string describe() const { return status + " " + text; }
};

// A command being built: pieces of text and literals. Arguments are written as
// an atom when that is safe, a quoted string when printable, a literal else.
class Command {
 public:
  explicit Command(std::string_view verb) { text_.append(verb); }
  Command& atom(std::string_view a);      // written as is (caller checks it)
  Command& astring(std::string_view s);   // atom, "quoted" or {literal}
  Command& string(std::string_view s);    // "quoted" or {literal}, never an atom
  Command& raw(std::string_view text);    // verbatim, e.g. "(STORAGE 100)"

  struct Piece {
    std::string text;      // sent before the literal
    std::string literal;   // the literal's bytes (after "{n}\r\n")
    bool has_literal = false;
  };
  // The pieces in order; the last one has no literal.
  std::vector<Piece> pieces() const;

 private:
  std::vector<Piece> done_;
  std::string text_;
};

enum class TlsMode { None, Implicit, StartTls };

struct ClientOptions {
  std::string host = "localhost";
  uint16_t port = 143;
  TlsMode tls = TlsMode::None;
  bool verify_peer = true;       // check the server certificate and its name
  std::string ca_file;           // else the system's default CA store
  std::chrono::seconds timeout{120};
};

struct Credentials {
  std::string user;
  std::string password;
  std::string authz;             // authorize as (empty: the user itself)
  std::string mechanism;         // empty: the best the server offers
};

// Bounds on what the server may send us.
inline constexpr size_t kMaxLineBytes = 1 << 20;           // one line, without literals
inline constexpr size_t kMaxLiteralBytes = 64u << 20;      // one literal
inline constexpr size_t kMaxUntaggedPerCommand = 5'000'000;
inline constexpr int kMaxNesting = 32;

// Parses one response line (literal contents already spliced in through
// `literals`, in order, where the line has "{n}") into values. Pure; exposed
// for the unit tests.
Result<std::vector<ImapValue>> parse_values(std::string_view line,
                                            const std::vector<std::string>& literals);

class ImapClient {
 public:
  ~ImapClient();
  ImapClient(const ImapClient&) = delete;
  ImapClient& operator=(const ImapClient&) = delete;

  // Connects, reads the greeting, does STARTTLS when asked, and learns the
  // capabilities. A PREAUTH greeting counts as authenticated.
  static Result<std::unique_ptr<ImapClient>> connect(const ClientOptions& opts);

  // SASL with the chosen (or best offered) mechanism; falls back to the LOGIN
  // command when the server offers no usable mechanism and allows LOGIN.
  // Refreshes the capabilities afterwards.
  Status authenticate(const Credentials& cred);

  // Sends one tagged command and collects its untagged responses and the
  // tagged reply. A NO/BAD is a Reply, not an error: errors are transport
  // failures and protocol violations, after which the connection is closed.
  Result<Reply> run(const Command& cmd);

  bool has_capability(std::string_view cap) const;   // case-insensitive
  const std::set<std::string>& capabilities() const { return caps_; }
  bool authenticated() const { return authenticated_; }
  bool connected() const { return fd_ >= 0; }
  const std::string& greeting() const { return greeting_; }
  std::string mechanism_used() const { return mechanism_used_; }

  // Sends LOGOUT (best effort) and closes.
  void logout();

 private:
  ImapClient() = default;
  struct Tls;

  Status open_socket(const ClientOptions& opts);
  Status start_tls(const ClientOptions& opts);
  Status refresh_capabilities();
  void learn_capabilities(const std::vector<ImapValue>& values, size_t from);
  void close();

  Status write_all(std::string_view data);
  Result<size_t> read_some(char* buf, size_t len);
  Result<std::string> read_line();                  // without CRLF
  Result<std::string> read_exact(size_t n);
  // Reads one whole response (line plus any literals it announces).
  Status read_response(std::string& line, std::vector<std::string>& literals);

  Result<Reply> run_sasl(std::string_view mech, const Credentials& cred);
  std::string next_tag();

  int fd_ = -1;
  std::unique_ptr<Tls> tls_;
  std::string inbuf_;
  size_t inpos_ = 0;
  std::chrono::seconds timeout_{120};
  unsigned tag_counter_ = 0;
  std::set<std::string> caps_;  // upper case
  bool authenticated_ = false;
  std::string greeting_;
  std::string mechanism_used_;
};

// SCRAM-SHA-256 client steps (RFC 5802/7677), pure, for the client above and
// the unit tests.
struct ScramClient {
  std::string user, password, authz, nonce;
  std::string client_first_bare, auth_message, server_signature;

  std::string client_first();                                      // "n,,n=...,r=..."
  Result<std::string> client_final(std::string_view server_first);  // "c=biws,r=...,p=..."
  Status verify_server_final(std::string_view server_final);        // "v=..."
};

}  // namespace cyr::ops::adm
