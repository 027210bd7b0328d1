// The ManageSieve session (greeting to LOGOUT) and the timsieved factory.
#include "server/managesieve/managesieve_service.h"

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "server/auth/base64.h"
#include "server/auth/deny_recheck.h"
#include "server/net/client_info.h"
#include "server/net/command_loop.h"
#include "server/net/connection.h"
#include "server/node_store.h"
#include "server/sieve/sieve.h"
#include "store/base/log.h"

// GCC 12 sees the ::operator new inside Asio's coroutine frame allocator
// (thread_info_base::allocate, inlined into a coroutine's ramp) and the
// frame's class operator delete, and calls them mismatched; they are Asio's
// own matched pair (a false positive that depends on inlining).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace cyr::managesieve {

namespace asio = boost::asio;
template <class T>
using awaitable = asio::awaitable<T>;
using server::net::Connection;
using server::net::EndReason;

namespace {

constexpr std::string_view kImplementation = "Cyrus timsieved (HA)";
constexpr int kMaxSaslRounds = 16;
constexpr size_t kDiscardChunk = 64 * 1024;

// Session states a command is allowed in.
enum StateMask : unsigned { kNotAuthenticated = 1, kAuthenticated = 2, kAnyState = 3 };

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The one place a store (or compiler) error becomes a ManageSieve answer.
Response response_for(const Error& e, const std::string& sid) {
  switch (e.code) {
    case Errc::NotFound:
      return Response::no("There is no script by that name", Code::Nonexistent);
    case Errc::Exists:
      return Response::no("A script with that name already exists", Code::AlreadyExists);
    case Errc::InUse:
      return Response::no("The active script cannot be deleted; deactivate it first", Code::Active);
    case Errc::Limit:
      return Response::no(e.user_message.empty() ? "Too many scripts" : e.user_message, Code::QuotaMaxScripts);
    case Errc::TooBig:
      return Response::no(e.user_message.empty() ? "Script too large" : e.user_message, Code::QuotaMaxSize);
    case Errc::NoQuota:
      return Response::no("Over quota", Code::Quota);
    case Errc::Unavailable:
      // A replica, or a primary holding writes: the client may retry later
      // (or against the other node).
      return Response::no("This server does not accept changes now; try again later", Code::TryLater);
    case Errc::Temp:
    case Errc::Fenced:
      CYR_LOG(Notice, sid, "managesieve: %s", e.describe().c_str());
      return Response::no("Temporary failure; try again later", Code::TryLater);
    case Errc::NoSpace:
      CYR_LOG(Warning, sid, "managesieve: %s", e.describe().c_str());
      return Response::no(kNoSpaceMessage, Code::TryLater);
    case Errc::Invalid:
      return Response::no(e.user_message.empty() ? "Invalid argument" : e.user_message);
    default:
      CYR_LOG(Error, sid, "managesieve: %s", e.describe().c_str());
      return Response::no("Internal error");
  }
}

class ManageSieveSession;
using Handler = awaitable<bool> (ManageSieveSession::*)(const Command&);

struct CommandSpec {
  std::string_view name;
  unsigned states;         // StateMask
  std::string_view shape;  // arguments_match()
  std::string_view usage;  // told to a client whose arguments do not match
  Handler handler;         // false: end the session
};

class ManageSieveSession {
 public:
  ManageSieveSession(std::shared_ptr<ManageSieveService> svc, std::shared_ptr<Connection> conn)
      : svc_(std::move(svc)), conn_(std::move(conn)), sid_(conn_->sid()), parser_(svc_->settings.parser) {
    compile_options_.limits.max_script_bytes = svc_->settings.max_script_bytes;
    compile_options_.allowed.emplace(svc_->settings.extensions.begin(), svc_->settings.extensions.end());
  }

  awaitable<void> run() {
    conn_->set_idle_timeout(svc_->settings.timeout);
    send_capabilities();
    if (!co_await flush()) co_return;
    server::net::LinePolicy policy;
    policy.max_line = svc_->settings.parser.max_line;
    // An over-long line ends the session: its skipped rest may have
    // announced a literal, which the client sends without waiting, and its
    // octets (a script's text) must not be read as commands.
    const std::string too_long = format_response(Response::bye("Line too long"));
    const std::string shutdown = format_response(Response::bye("Server shutting down", Code::TryLater));
    const std::string idle = format_response(Response::bye("Idle timeout"));
    policy.too_long = too_long;
    policy.close_on_too_long = true;
    policy.shutdown = shutdown;
    policy.idle = idle;
    co_await server::net::serve_command_lines(*conn_, policy,
                                              [this](const std::string& line) { return command(line); });
  }

 private:
  static const CommandSpec kCommands[];
  static const CommandSpec* find_command(std::string_view name);

  // ---- reading a command ----------------------------------------------------

  // One command, from its first line (already read) to its end; false:
  // end the session.
  awaitable<bool> command(const std::string& line) {
    auto step = co_await complete(parser_.start(line));
    if (!step) co_return false;
    if (auto* failed = std::get_if<CommandParser::Failed>(&*step)) {
      reply(failed->response);
      co_return !failed->close;
    }
    co_return co_await dispatch(std::get<CommandParser::Complete>(*step).command);
  }

  // Does what the parser asks (read a literal, skip one, read the line
  // after it) until the command is Complete or Failed. nullopt: the
  // connection ended. Bounded by the parser's max_lines.
  awaitable<std::optional<CommandParser::Step>> complete(CommandParser::Step step) {
    for (;;) {
      if (auto* lit = std::get_if<CommandParser::NeedLiteral>(&step)) {
        if (lit->discard) {
          if (!co_await discard(lit->size)) co_return std::nullopt;
          step = parser_.literal_skipped();
        } else {
          auto octets = co_await conn_->read_exact(static_cast<size_t>(lit->size));
          if (!octets) co_return std::nullopt;
          step = parser_.feed_literal(std::move(*octets));
        }
        continue;
      }
      if (std::holds_alternative<CommandParser::NeedLine>(step)) {
        auto next = co_await conn_->read_line(svc_->settings.parser.max_line, Connection::ReadMode::InCommand);
        if (!next) {
          // An over-long line inside a command: closed, as on its first line.
          if (conn_->end_reason() == EndReason::LineTooLong) {
            reply(Response::bye("Line too long"));
            (void)co_await flush();
          }
          co_return std::nullopt;
        } else {
          step = parser_.feed_line(*next);
        }
        continue;
      }
      co_return step;
    }
  }

  // Reads and drops n octets (a literal too large to keep), in chunks.
  awaitable<bool> discard(uint64_t n) {
    while (n > 0) {
      size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, kDiscardChunk));
      auto got = co_await conn_->read_exact(chunk);
      if (!got) co_return false;
      n -= chunk;
    }
    co_return true;
  }

  awaitable<bool> dispatch(const Command& cmd) {
    const CommandSpec* spec = find_command(cmd.name);
    if (!spec) {
      std::string name = cmd.name.substr(0, 64);
      co_return reply(Response::no("Unknown command " + name)), true;
    }
    const unsigned state = identity_ ? kAuthenticated : kNotAuthenticated;
    if (!(spec->states & state))
      co_return reply(Response::no(identity_ ? "Already authenticated" : "Authenticate first")), true;
    if (!arguments_match(cmd, spec->shape))
      co_return reply(Response::no("Syntax: " + std::string(spec->usage))), true;
    if (!co_await still_allowed()) co_return false;
    co_return co_await (this->*spec->handler)(cmd);
  }


  // ---- small helpers --------------------------------------------------------

  void send(std::string_view s) { conn_->write(s); }
  void reply(const Response& r) { conn_->write(format_response(r)); }
  awaitable<bool> flush() { co_return (co_await conn_->flush()).ok(); }

  template <class F>
  auto blocking(F fn) {
    return svc_->ctx->blocking->run(std::move(fn));
  }
  // cyr_deny for a session already logged in (auth::DenyRecheck): a denied
  // user's session ends with BYE and the deny message.
  awaitable<bool> still_allowed() {
    if (!identity_ || !deny_recheck_.due()) co_return true;
    auto message = co_await deny_recheck_.denied(*svc_->ctx->blocking, svc_->auth, client_info(), *identity_);
    if (!message) co_return true;
    CYR_LOG(Notice, sid_, "managesieve: %s: access denied by cyr_deny since login; session ended",
            identity_->userid.c_str());
    reply(Response::bye(*message));
    (void)co_await flush();
    co_return false;
  }


  auth::ClientInfo client_info() const { return server::net::client_info_of(*conn_); }

  std::shared_ptr<asio::ssl::context> tls_context() const {
    if (conn_->is_tls() || !svc_->ctx->tls_context) return nullptr;
    return svc_->ctx->tls_context();
  }

  awaitable<void> sleep_for(std::chrono::milliseconds d) {
    if (d.count() <= 0) co_return;
    asio::steady_timer t(conn_->get_executor());
    t.expires_after(d);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  Capabilities capabilities() const {
    Capabilities c;
    c.implementation = std::string(kImplementation);
    // RFC 5804 1.7: OWNER only while authenticated; no SASL list then, as
    // there is nothing left to authenticate.
    if (identity_) c.owner = identity_->userid;
    else c.sasl = svc_->auth->mechanisms(conn_->is_tls());
    c.sieve = svc_->settings.extensions;
    c.starttls = !identity_ && tls_context() != nullptr;
    c.max_redirects = compile_options_.limits.max_redirects;
    c.unauthenticate = true;
    return c;
  }

  // A command's success: a bare OK. RFC 5804 makes the text optional, and
  // Cyrus's own client library (sieveshell, the Perl and C clients) wants
  // the end of the line right after OK or after OK (SASL "..."), as
  // Cyrus's server sends it. Only NOOP says "Done" (RFC 5804 2.11).
  static Response completed() { return Response::ok(""); }

  // The capability list, then OK.
  void send_capabilities() {
    send(format_capabilities(capabilities()));
    reply(completed());
  }

  const std::string& userid() const { return identity_->userid; }

  std::string size_limit_text() const {
    return "Script is larger than the limit of " + std::to_string(svc_->settings.max_script_bytes / 1024) +
           " KiB";
  }

  Response too_many_scripts() const {
    return Response::no("You may keep at most " + std::to_string(svc_->settings.max_scripts) + " scripts",
                        Code::QuotaMaxScripts);
  }

  // Whether a user with `scripts` may store one named `name`
  // (sieve_maxscripts counts new names only).
  bool room_for(const std::vector<store::SieveScript>& scripts, const std::string& name) const {
    if (svc_->settings.max_scripts < 0) return true;
    for (const auto& s : scripts)
      if (s.name == name) return true;
    return static_cast<int64_t>(scripts.size()) < svc_->settings.max_scripts;
  }

  awaitable<Result<std::vector<store::SieveScript>>> load_scripts() {
    auto store = svc_->store;
    std::string user = userid();
    auto work = [store, user] { return store->sieve_scripts(user); };
    co_return co_await blocking(std::move(work));
  }

  // The compiler's verdict on a script: nullopt if it compiles, else the
  // answer to give (its "line N: ..." text).
  awaitable<std::optional<Response>> compile_error(const std::string& script) {
    if (script.size() > svc_->settings.max_script_bytes)
      co_return Response::no(size_limit_text(), Code::QuotaMaxSize);
    auto text = std::make_shared<const std::string>(script);
    sieve::CompileOptions options = compile_options_;
    auto work = [text, options]() -> Status {
      auto compiled = sieve::compile(*text, options);
      if (!compiled) return compiled.take_error();
      return ok_status();
    };
    Status verdict = co_await blocking(std::move(work));
    if (verdict.ok()) co_return std::nullopt;
    const Error& e = verdict.error();
    if (e.code == Errc::Invalid || e.code == Errc::TooBig || e.code == Errc::Limit)
      co_return Response::no(e.user_message.empty() ? "Script is not valid" : e.user_message);
    co_return response_for(e, sid_);
  }

  // ---- commands (the table is kCommands) ------------------------------------

  awaitable<bool> cmd_capability(const Command&) {
    send_capabilities();
    co_return true;
  }

  awaitable<bool> cmd_logout(const Command&) {
    reply(completed());
    co_return false;
  }

  awaitable<bool> cmd_noop(const Command& cmd) {
    if (cmd.args.empty()) co_return reply(Response::ok("Done")), true;
    co_return reply(Response::ok("Done", Code::Tag, cmd.args[0].text)), true;
  }

  awaitable<bool> cmd_starttls(const Command&) {
    auto ctx = tls_context();
    if (!ctx) co_return reply(Response::no("TLS is not available")), true;
    reply(completed());
    if (!co_await flush()) co_return false;
    Status st = co_await conn_->start_tls(ctx);
    if (!st) {
      CYR_LOG(Notice, sid_, "STARTTLS failed: %s", st.error().describe().c_str());
      co_return false;
    }
    // RFC 5804 2.2: the capabilities again, as they may differ under TLS.
    send_capabilities();
    co_return true;
  }

  awaitable<bool> cmd_authenticate(const Command& cmd) {
    const std::string mech = upper(cmd.args[0].text);
    std::optional<std::string> response;
    if (cmd.args.size() > 1) {
      auto decoded = auth::base64_decode(cmd.args[1].text, auth::kMaxSaslMessage);
      if (!decoded) co_return reply(Response::no("Initial response is not valid base64")), true;
      response = std::move(*decoded);
    }
    auto client = client_info();
    auto authn = svc_->auth;
    // RFC 5804 2.1: the success reply carries SCRAM's final message as
    // OK (SASL "..."), so no extra round is needed.
    auto start = [authn, client, mech] { return authn->start_sasl(client, mech, true); };
    auto started = co_await blocking(std::move(start));
    if (!started) co_return reply(mechanism_refused(mech)), true;
    std::shared_ptr<auth::SaslExchange> exchange = std::move(*started);
    for (int round = 0; round < kMaxSaslRounds; ++round) {
      auto next = [exchange, response] {
        std::optional<std::string_view> v;
        if (response) v = *response;
        return exchange->step(v);
      };
      auto step = co_await blocking(std::move(next));
      if (!step) {
        co_await sleep_for(authn->failure_delay(client.address));
        if (step.error().code == Errc::Temp || step.error().code == Errc::Unavailable)
          co_return reply(Response::no("Authentication service unavailable", Code::TryLater)), true;
        // RFC 5804 has no authorization-failure code: the deny message alone.
        if (auto denied = auth::login_denied_message(step.error()))
          co_return reply(Response::no(*denied)), true;
        co_return reply(Response::no("Authentication failed")), true;
      }
      if (step->done) co_return authenticated(exchange->identity(), step->data), true;
      // A challenge is a string; sent as a literal, as Cyrus does, since
      // Cyrus's sivtest recognises a challenge only in that form.
      send(format_literal(auth::base64_encode(step->data)) + "\r\n");
      if (!co_await flush()) co_return false;
      auto answer = co_await read_sasl_response();
      if (!answer) {
        if (answer.error().code == Errc::Io) co_return false;
        co_return reply(Response::no(answer.error().user_message)), true;
      }
      response = std::move(*answer);
    }
    co_return reply(Response::no("Too many authentication rounds")), true;
  }

  Response mechanism_refused(const std::string& mech) const {
    if (!conn_->is_tls() && contains(svc_->auth->mechanisms(true), mech))
      return Response::no("This mechanism needs an encrypted connection; use STARTTLS first", Code::EncryptNeeded);
    return Response::no("Authentication mechanism not supported");
  }

  // The exchange succeeded: `data` is the mechanism's final message (SCRAM).
  void authenticated(const auth::AuthIdentity& id, const std::string& data) {
    identity_ = id;
    deny_recheck_.checked_now();  // the login just checked it
    if (data.empty()) reply(completed());
    else reply(Response::ok("", Code::Sasl, auth::base64_encode(data)));
    if (svc_->settings.capability_after_auth) send_capabilities();
  }

  // The client's answer to a challenge: a string (quoted or literal) on a
  // line, base64, decoded. Errc::Io: the connection ended; any other Error:
  // the exchange is over (aborted with "*", or malformed), with the text
  // to send.
  awaitable<Result<std::string>> read_sasl_response() {
    auto line = co_await conn_->read_line(svc_->settings.parser.max_line, Connection::ReadMode::InCommand);
    if (!line) {
      if (conn_->end_reason() == EndReason::LineTooLong)
        co_return Error(Errc::Limit, "Authentication response too long");
      co_return Error(Errc::Io, "connection ended");
    }
    auto step = co_await complete(parser_.start(*line, CommandParser::Mode::SaslResponse));
    if (!step) co_return Error(Errc::Io, "connection ended");
    if (auto* failed = std::get_if<CommandParser::Failed>(&*step)) co_return Error(Errc::Invalid, failed->response.text);
    const Command& c = std::get<CommandParser::Complete>(*step).command;
    if (c.args.size() != 1) co_return Error(Errc::Invalid, "Expected one string");
    if (c.args[0].text == "*") co_return Error(Errc::Invalid, "Authentication aborted");
    auto decoded = auth::base64_decode(c.args[0].text, auth::kMaxSaslMessage);
    if (!decoded) co_return Error(Errc::Invalid, "Response is not valid base64");
    co_return std::move(*decoded);
  }

  awaitable<bool> cmd_unauthenticate(const Command&) {
    identity_.reset();
    reply(completed());
    co_return true;
  }

  awaitable<bool> cmd_havespace(const Command& cmd) {
    const std::string& name = cmd.args[0].text;
    if (Status v = store::validate_sieve_script_name(name); !v.ok()) co_return reply(Response::no(v.error().user_message)), true;
    if (cmd.args[1].number > svc_->settings.max_script_bytes)
      co_return reply(Response::no(size_limit_text(), Code::QuotaMaxSize)), true;
    auto scripts = co_await load_scripts();
    if (!scripts) co_return reply(response_for(scripts.error(), sid_)), true;
    if (!room_for(*scripts, name)) co_return reply(too_many_scripts()), true;
    co_return reply(completed()), true;
  }

  awaitable<bool> cmd_putscript(const Command& cmd) {
    const std::string& name = cmd.args[0].text;
    const std::string& script = cmd.args[1].text;
    if (Status v = store::validate_sieve_script_name(name); !v.ok()) co_return reply(Response::no(v.error().user_message)), true;
    if (auto bad = co_await compile_error(script)) co_return reply(*bad), true;
    auto store = svc_->store;
    std::string user = userid();
    std::string script_name = name;
    auto content = std::make_shared<const std::string>(script);
    // The store counts in the write's own transaction: two sessions of one
    // user cannot both add the last script allowed.
    int64_t max_scripts = svc_->settings.max_scripts;
    auto work = [store, user, script_name, content, max_scripts]() -> Status {
      return store->put_sieve_script(user, script_name, *content, store::WriteMode::Normal, 0, max_scripts);
    };
    Status stored = co_await blocking(std::move(work));
    if (!stored) co_return reply(response_for(stored.error(), sid_)), true;
    CYR_LOG(Info, sid_, "sieve: %s stored script '%s' (%zu bytes)", user.c_str(), name.c_str(), script.size());
    co_return reply(completed()), true;
  }

  awaitable<bool> cmd_checkscript(const Command& cmd) {
    if (auto bad = co_await compile_error(cmd.args[0].text)) co_return reply(*bad), true;
    co_return reply(completed()), true;
  }

  awaitable<bool> cmd_listscripts(const Command&) {
    auto scripts = co_await load_scripts();
    if (!scripts) co_return reply(response_for(scripts.error(), sid_)), true;
    for (const auto& s : *scripts) send(format_string(s.name) + (s.active ? " ACTIVE\r\n" : "\r\n"));
    co_return reply(completed()), true;
  }

  awaitable<bool> cmd_getscript(const Command& cmd) {
    const std::string& name = cmd.args[0].text;
    auto scripts = co_await load_scripts();
    if (!scripts) co_return reply(response_for(scripts.error(), sid_)), true;
    for (const auto& s : *scripts) {
      if (s.name != name) continue;
      // Always a literal, so the client gets the script byte for byte.
      send(format_literal(s.content) + "\r\n");
      co_return reply(completed()), true;
    }
    co_return reply(Response::no("There is no script by that name", Code::Nonexistent)), true;
  }

  awaitable<bool> cmd_setactive(const Command& cmd) {
    const std::string& name = cmd.args[0].text;  // "" deactivates
    if (!name.empty())
      if (Status v = store::validate_sieve_script_name(name); !v.ok()) co_return reply(Response::no(v.error().user_message)), true;
    auto store = svc_->store;
    std::string user = userid();
    std::string script_name = name;
    auto work = [store, user, script_name] { return store->activate_sieve_script(user, script_name); };
    Status done = co_await blocking(std::move(work));
    if (!done) co_return reply(response_for(done.error(), sid_)), true;
    CYR_LOG(Info, sid_, "sieve: %s active script '%s'", user.c_str(), name.c_str());
    co_return reply(completed()), true;
  }

  awaitable<bool> cmd_deletescript(const Command& cmd) {
    const std::string& name = cmd.args[0].text;
    if (Status v = store::validate_sieve_script_name(name); !v.ok()) co_return reply(Response::no(v.error().user_message)), true;
    auto store = svc_->store;
    std::string user = userid();
    std::string script_name = name;
    auto work = [store, user, script_name] { return store->delete_sieve_script(user, script_name); };
    Status done = co_await blocking(std::move(work));
    if (!done) co_return reply(response_for(done.error(), sid_)), true;
    CYR_LOG(Info, sid_, "sieve: %s deleted script '%s'", user.c_str(), name.c_str());
    co_return reply(completed()), true;
  }

  awaitable<bool> cmd_renamescript(const Command& cmd) {
    const std::string& from = cmd.args[0].text;
    const std::string& to = cmd.args[1].text;
    for (const std::string* n : {&from, &to})
      if (Status v = store::validate_sieve_script_name(*n); !v.ok()) co_return reply(Response::no(v.error().user_message)), true;
    auto store = svc_->store;
    std::string user = userid();
    std::string old_name = from, new_name = to;
    auto work = [store, user, old_name, new_name] { return store->rename_sieve_script(user, old_name, new_name); };
    Status done = co_await blocking(std::move(work));
    if (!done) co_return reply(response_for(done.error(), sid_)), true;
    CYR_LOG(Info, sid_, "sieve: %s renamed script '%s' to '%s'", user.c_str(), from.c_str(), to.c_str());
    co_return reply(completed()), true;
  }

  std::shared_ptr<ManageSieveService> svc_;
  std::shared_ptr<Connection> conn_;
  std::string sid_;
  CommandParser parser_;
  sieve::CompileOptions compile_options_;
  std::optional<auth::AuthIdentity> identity_;  // set once authenticated
  auth::DenyRecheck deny_recheck_;
};

// The commands of RFC 5804, with the states they are allowed in and the
// shape of their arguments (see arguments_match).
const CommandSpec ManageSieveSession::kCommands[] = {
    {"AUTHENTICATE", kNotAuthenticated, "ws?", "AUTHENTICATE \"mechanism\" [\"initial response\"]",
     &ManageSieveSession::cmd_authenticate},
    {"CAPABILITY", kAnyState, "", "CAPABILITY", &ManageSieveSession::cmd_capability},
    {"CHECKSCRIPT", kAuthenticated, "s", "CHECKSCRIPT script", &ManageSieveSession::cmd_checkscript},
    {"DELETESCRIPT", kAuthenticated, "s", "DELETESCRIPT \"name\"", &ManageSieveSession::cmd_deletescript},
    {"GETSCRIPT", kAuthenticated, "s", "GETSCRIPT \"name\"", &ManageSieveSession::cmd_getscript},
    {"HAVESPACE", kAuthenticated, "sn", "HAVESPACE \"name\" size", &ManageSieveSession::cmd_havespace},
    {"LISTSCRIPTS", kAuthenticated, "", "LISTSCRIPTS", &ManageSieveSession::cmd_listscripts},
    {"LOGOUT", kAnyState, "", "LOGOUT", &ManageSieveSession::cmd_logout},
    {"NOOP", kAnyState, "s?", "NOOP [\"tag\"]", &ManageSieveSession::cmd_noop},
    {"PUTSCRIPT", kAuthenticated, "ss", "PUTSCRIPT \"name\" script", &ManageSieveSession::cmd_putscript},
    {"RENAMESCRIPT", kAuthenticated, "ss", "RENAMESCRIPT \"old name\" \"new name\"",
     &ManageSieveSession::cmd_renamescript},
    {"SETACTIVE", kAuthenticated, "s", "SETACTIVE \"name\"", &ManageSieveSession::cmd_setactive},
    {"STARTTLS", kNotAuthenticated, "", "STARTTLS", &ManageSieveSession::cmd_starttls},
    {"UNAUTHENTICATE", kAuthenticated, "", "UNAUTHENTICATE", &ManageSieveSession::cmd_unauthenticate},
};

const CommandSpec* ManageSieveSession::find_command(std::string_view name) {
  for (const auto& c : kCommands)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace

ManageSieveSettings managesieve_settings(const config::ImapdConf& conf, std::string_view service) {
  ManageSieveSettings s;
  s.timeout = conf.get_duration("timeout", service);
  int64_t kib = std::clamp<int64_t>(conf.get_int("sieve_maxscriptsize", service), 1, 1024 * 1024);
  s.max_script_bytes = static_cast<size_t>(kib) * 1024;
  s.max_scripts = conf.get_int("sieve_maxscripts", service);
  s.extensions = sieve::configured_extensions(conf, service);
  s.capability_after_auth = conf.get_switch("sieve_sasl_send_unsolicited_capability", service);
  // A script literal is kept up to the script limit plus some slack (so an
  // oversized script is answered QUOTA/MAXSIZE after it is read, not
  // discarded unseen); a SASL literal may be a little larger than 8 KiB.
  s.parser.max_literal = std::max<size_t>(s.max_script_bytes + 1024, 16 * 1024);
  s.parser.max_discard = std::max<uint64_t>(uint64_t{16} << 20, uint64_t{4} * s.parser.max_literal);
  return s;
}

Result<server::ServiceHandler> make_managesieve_handler(std::shared_ptr<const server::ServiceContext> ctx,
                                                        std::shared_ptr<store::Store> store) {
  if (!ctx || !ctx->conf || !ctx->blocking || !store)
    return Error(Errc::Invalid, "timsieved: incomplete service context");
  auto auth_opts = auth::auth_options_from_config(*ctx->conf, ctx->service_name, "sieve");
  if (!auth_opts) return auth_opts.take_error();
  auto svc = std::make_shared<ManageSieveService>();
  svc->ctx = ctx;
  svc->store = std::move(store);
  svc->auth = std::make_shared<auth::Authenticator>(std::move(*auth_opts));
  svc->settings = managesieve_settings(*ctx->conf, ctx->service_name);
  server::ServiceHandler h;
  h.refusal_line = format_response(Response::bye("Too many connections, try again later", Code::TryLater));
  h.run_session = [svc](std::shared_ptr<Connection> conn) -> awaitable<void> {
    ManageSieveSession session(svc, std::move(conn));
    co_await session.run();
  };
  return h;
}

Result<server::ServiceHandler> make_managesieve_handler(std::shared_ptr<const server::ServiceContext> ctx) {
  if (!ctx || !ctx->conf) return Error(Errc::Invalid, "timsieved: incomplete service context");
  auto store = server::node_store(*ctx->conf);
  if (!store) return store.take_error();
  return make_managesieve_handler(std::move(ctx), std::move(*store));
}

void register_managesieve_service(server::ServiceRegistry& registry) {
  registry.add("timsieved", [](std::shared_ptr<const server::ServiceContext> ctx) {
    return make_managesieve_handler(std::move(ctx));
  });
}

}  // namespace cyr::managesieve
