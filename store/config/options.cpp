// The option table: every imapd.conf option we know, with the facts the
// daemon, conf-lint and conf-all share (type, default, allowed values,
// status). Defaults and default units follow Cyrus 3.x imapd.conf(5); where
// Cyrus leaves an option unset ("<no default>") the default here is "".
//
// Status policy: options of the protocols and stores this server implements
// (IMAP, POP3, LMTP, Sieve, TLS, SASL, replication, paths, limits) are
// Current. Options of Cyrus subsystems we do not have (Murder, DAV/HTTP/JMAP,
// NNTP, LDAP/PTS/Kerberos, SQL, Xapian, conversations, archive, backups,
// object storage, event notifications, cyrusdb backend selection: our
// databases are SQLite) are Unsupported: accepted, ignored, and reported by
// conf-lint when set to anything but their default.
#include <algorithm>
#include <array>
#include <mutex>
#include <vector>

#include "store/config/imapd_conf.h"

namespace cyr::config {
namespace {

using SV = std::string_view;
using OT = OptionType;
using OS = OptionStatus;

// Allowed values of Enum / BitField options.
constexpr SV kDbBackends3[] = {"skiplist", "twoskip", "zeroskip"};
constexpr SV kDbBackends4[] = {"skiplist", "sql", "twoskip", "zeroskip"};
constexpr SV kDbBackendsFlat[] = {"flat", "skiplist", "twoskip", "zeroskip"};
constexpr SV kDbBackendsAll[] = {"flat", "skiplist", "sql", "twoskip", "zeroskip"};
constexpr SV kQuotaDbBackends[] = {"flat", "skiplist", "sql", "quotalegacy", "twoskip", "zeroskip"};
constexpr SV kAuthMechs[] = {"unix", "pts", "krb", "krb5"};
constexpr SV kDeleteModes[] = {"immediate", "delayed"};
// "default" is the 3.0 spelling of the default mode (delayed); still accepted.
constexpr SV kExpungeModes[] = {"default", "immediate", "semidelayed", "delayed"};
constexpr SV kOffUseridOn[] = {"off", "userid", "on"};
constexpr SV kOffMinOn[] = {"off", "min", "on"};
constexpr SV kOffOnApple[] = {"off", "on", "apple"};
constexpr SV kTlsClientCerts[] = {"off", "optional", "require"};
constexpr SV kTlsVersions[] = {"ssl3", "tls1_0", "tls1_1", "tls1_2", "tls1_3"};
constexpr SV kUidlFormats[] = {"uidonly", "cyrus", "dovecot", "courier"};
constexpr SV kSelectModes[] = {"random", "freespace-most", "freespace-percent-most",
                               "freespace-percent-weighted", "freespace-percent-weighted-delta"};
constexpr SV kMetapartitionFiles[] = {"header", "index",     "cache", "expunge",     "squat",
                                      "annotations", "lock", "dav",   "archivecache"};
constexpr SV kSearchEngines[] = {"none", "squat", "xapian"};
constexpr SV kSearchWhitespace[] = {"skip", "merge", "keep"};
constexpr SV kSmtpBackends[] = {"host", "sendmail"};
constexpr SV kMupdateConfigs[] = {"standard", "unified", "replicated"};
constexpr SV kPtsModules[] = {"afskrb", "ldap"};
constexpr SV kLdapScopes[] = {"sub", "one", "base"};
constexpr SV kLdapDeref[] = {"search", "find", "always", "never"};
constexpr SV kLdapMemberMethods[] = {"attribute", "filter"};
constexpr SV kSqlEngines[] = {"mysql", "pgsql", "sqlite"};
constexpr SV kPrometheusAuth[] = {"none", "user", "admin"};
constexpr SV kEventGroups[] = {"message", "quota",        "flags",    "access",
                               "mailbox", "subscription", "calendar", "applepushservice"};
constexpr SV kEventInclusion[] = {"standard", "message", "header", "body", "headerbody"};
constexpr SV kHttpModules[] = {"admin", "caldav", "carddav", "cgi",        "domainkey", "freebusy",
                               "ischedule", "jmap", "prometheus", "rss", "tzdist", "webdav"};
constexpr SV kQosMarkings[] = {"cs0",  "cs1",  "cs2",  "cs3",  "cs4",  "cs5",  "cs6",
                               "cs7",  "af11", "af12", "af13", "af21", "af22", "af23",
                               "af31", "af32", "af33", "af41", "af42", "af43", "ef"};
// Aliases Cyrus accepts are listed beside the names it prints.
constexpr SV kSieveExtensions[] = {
    "fileinto", "reject", "vacation", "vacation-seconds", "notify", "include", "envelope",
    "environment", "body", "relational", "regex", "subaddress", "copy", "date", "index",
    "imap4flags", "imapflags", "mailbox", "mboxmetadata", "servermetadata", "variables",
    "editheader", "extlists", "duplicate", "ihave", "fcc", "special-use", "redirect-dsn",
    "redirect-deliverby", "mailboxid", "vnd.cyrus.log", "x-cyrus-log", "vnd.cyrus.jmapquery",
    "x-cyrus-jmapquery", "snooze", "vnd.cyrus.snooze", "x-cyrus-snooze"};
constexpr SV kFailoverRoles[] = {"primary", "replica"};
constexpr SV kSyncModes[] = {"async", "sync"};

constexpr OptionSpec S(SV name, SV def, SV help) {
  return {name, OT::String, def, {}, OS::Current, {}, 0, help};
}
constexpr OptionSpec I(SV name, SV def, SV help) {
  return {name, OT::Int, def, {}, OS::Current, {}, 0, help};
}
constexpr OptionSpec B(SV name, bool def, SV help) {
  return {name, OT::Switch, def ? "yes" : "no", {}, OS::Current, {}, 0, help};
}
template <size_t N>
constexpr OptionSpec E(SV name, SV def, const SV (&allowed)[N], SV help) {
  return {name, OT::Enum, def, std::span<const SV>(allowed, N), OS::Current, {}, 0, help};
}
template <size_t N>
constexpr OptionSpec F(SV name, SV def, const SV (&allowed)[N], SV help) {
  return {name, OT::BitField, def, std::span<const SV>(allowed, N), OS::Current, {}, 0, help};
}
constexpr OptionSpec D(SV name, SV def, char unit, SV help) {
  return {name, OT::Duration, def, {}, OS::Current, {}, unit, help};
}
constexpr OptionSpec L(SV name, SV def, SV help) {
  return {name, OT::StringList, def, {}, OS::Current, {}, 0, help};
}
constexpr OptionSpec U(OptionSpec s) {
  s.status = OS::Unsupported;
  return s;
}
constexpr OptionSpec Dep(OptionSpec s, SV replaced_by) {
  s.status = OS::Deprecated;
  s.replaced_by = replaced_by;
  return s;
}
constexpr OptionSpec Obs(OptionSpec s, SV replaced_by = {}) {
  s.status = OS::Obsolete;
  s.replaced_by = replaced_by;
  return s;
}
constexpr OptionSpec Min(OptionSpec s, int64_t v) {
  s.min_value = v;
  return s;
}
constexpr OptionSpec Max(OptionSpec s, int64_t v) {
  s.max_value = v;
  return s;
}

constexpr int64_t kMinute = 60, kHour = 3600, kDay = 86400;

const OptionSpec kOptions[] = {
    // --- Identity, namespace, administration -------------------------------
    S("admins", "", "space-separated userids with administrative rights"),
    U(B("allowallsubscribe", false, "allow subscribing to mailboxes that do not exist")),
    U(B("allowanonymouslogin", false, "permit the user 'anonymous' with any password")),
    U(B("allowapop", true, "allow the POP3 APOP command")),
    U(B("allowdeleted", false, "allow access to deleted and expunged data (vendor.cmu-*)")),
    B("allowplaintext", false, "allow cleartext passwords without a TLS layer"),
    U(B("allowsetacl", true, "allow the IMAP SETACL command")),
    U(B("allowusermoves", false, "allow moving user accounts with RENAME or XFER")),
    B("altnamespace", true, "personal folders sit beside INBOX (default on since 3.0)"),
    U(S("altprefix", "Alt Folders", "where INBOX spellings unreachable in altnamespace appear")),
    B("anyoneuseracl", true, "non-admin users may grant rights to 'anyone'"),
    B("anysievefolder", false, "Sieve fileinto may autocreate any INBOX subfolder"),
    U(B("auditlog", false, "log every action on message files and the mailbox list")),
    U(B("autoexpunge", false, "expunge \\Deleted messages whenever a mailbox is closed")),
    U(B("chatty", false, "log every command")),
    U(S("commandmintimer", "", "log commands slower than this many seconds")),
    S("configdirectory", "", "the configuration directory; required"),
    U(S("cyrus_group", "", "the group services run as (default: cyrus_user's primary group)")),
    U(S("cyrus_user", "", "the user services run as")),
    B("debug", false, "pass debug-level messages to syslog"),
    S("defaultacl", "anyone lrs", "ACL of a new top-level non-user mailbox"),
    S("defaultdomain", "internal", "domain of unqualified userids with virtdomains"),
    S("defaultpartition", "", "partition for new top-level mailboxes"),
    U(S("deletedprefix", "DELETED", "hierarchy that delete_mode=delayed moves mailboxes to")),
    U(E("delete_mode", "delayed", kDeleteModes, "remove deleted mailboxes at once or later")),
    U(B("delete_unsubscribe", false, "unsubscribe from mailboxes when they are deleted")),
    U(S("deleteright", "c", "legacy RFC 2086 right that grants the 'x' right")),
    U(B("disable_shared_namespace", false, "LIST never shows non-user mailboxes to users")),
    U(B("disable_user_namespace", false, "LIST never shows other users' mailboxes to users")),
    U(B("disconnect_on_vanished_mailbox", false, "drop clients whose selected mailbox vanishes")),
    E("expunge_mode", "delayed", kExpungeModes,
      "when expunged message files and index records are removed"),
    U(B("foolstupidclients", false, "LIST \"*\" lists only the personal namespace")),
    U(B("fulldirhash", false, "hash directories on the whole user name (cannot change live)")),
    U(B("hashimapspool", false, "hash partition directories too")),
    U(B("ignorereference", false, "ignore the reference argument of LIST and LSUB")),
    B("imapidresponse", true, "answer ID with server details"),
    U(B("imapmagicplus", false, "userid+namespace logins restrict the listed mailboxes")),
    S("implicit_owner_rights", "lkxan", "rights the owner of a mailbox always has"),
    U(B("literalminus", false, "advertise LITERAL- instead of LITERAL+")),
    U(S("lock_debugtime", "", "log lock waits longer than this many seconds")),
    U(S("loginrealms", "", "space-separated realms allowed for cross-realm logins")),
    U(B("loginuseacl", false, "an identity with 'a' on a user's INBOX may log in as that user")),
    U(B("logtimestamps", false, "add timing notes to protocol telemetry logs")),
    U(I("mailbox_default_options", "0", "the options field of a new mailbox")),
    U(S("mailbox_initial_flags", "", "permanent flags pre-set in every new mailbox")),
    B("master_bind_errors_fatal", false, "a port that cannot be bound at start stops master"),
    Max(Min(I("master_blocking_threads", "16", "threads for blocking store work (ours)"), 1), 256),
    Max(Min(I("master_io_threads", "0", "threads serving connections; 0: one per core (ours)"), 0), 256),
    U(I("maxheaderlines", "1000", "header lines parsed into the cache (0: unlimited)")),
    I("maxlogins_per_host", "0", "logged-in sessions per client host (0: unlimited)"),
    I("maxlogins_per_user", "0", "logged-in sessions per user (0: unlimited)"),
    I("maxmessagesize", "0", "largest LMTP message in bytes (0: unlimited)"),
    U(I("maxquoted", "131072", "longest quoted string the parser accepts, in bytes")),
    I("maxword", "131072", "longest atom the parser accepts, in bytes"),
    U(S("postmaster", "postmaster", "From address of Sieve rejection MDNs")),
    U(S("postspec", "", "postmaster address specification")),
    S("postuser", "", "userid that addresses shared folders (postuser+shared.folder)"),
    U(B("readonly", false, "all IMAP and POP3 connections are read-only")),
    U(B("reverseacls", false, "keep reverse ACL pointers in the mailbox list")),
    S("servername", "", "host name in greetings (default: gethostname())"),
    E("serverinfo", "on", kOffMinOn, "server details shown in greeting and CAPABILITY"),
    S("sharedprefix", "Shared Folders", "prefix of the shared namespace in altnamespace"),
    B("singleinstancestore", true, "store one copy of a message per partition (hard links)"),
    U(S("specialuse_extra", "", "extra special-use attributes that may be set")),
    U(S("specialuse_nochildren", "", "special-use attributes whose mailboxes may not have children")),
    S("specialuse_protect", "\\Archive \\Drafts \\Important \\Junk \\Sent \\Trash",
      "special-use mailboxes a user may not delete or move to another parent"),
    B("specialusealways", true, "LIST and LSUB always include special-use flags"),
    U(B("statuscache", false, "cache STATUS results")),
    Max(Min(I("store_journal_max", "65536",
              "bytes: messages up to this size are made durable in the index commit's own flush, their files flushed later (ours; 0: off)"), 0), 1048576),
    Max(Min(I("store_open_shards", "4096",
              "per-owner index databases each process keeps open, about 110 KB each (ours)"), 16), 1000000),
    U(S("suppress_capabilities", "", "capabilities never advertised")),
    U(S("syslog_facility", "", "syslog facility (DAEMON, MAIL, NEWS, USER, LOCAL0-7)")),
    S("syslog_prefix", "", "prefix of the process name in syslog"),
    U(B("telemetry_bysessionid", false, "name telemetry logs by session id, not pid")),
    U(S("temp_path", "/tmp", "where temporary files go")),
    U(S("umask", "077", "umask of all processes")),
    U(B("unix_group_enable", true, "look up unix groups for ACLs")),
    B("unixhierarchysep", true, "'/' separates hierarchy levels (default on since 3.0)"),
    B("username_tolower", true, "lower-case userids before authentication"),
    S("userprefix", "Other Users", "prefix of other users' namespace in altnamespace"),
    E("virtdomains", "off", kOffUseridOn, "virtual domain support"),

    // --- Partitions and paths -----------------------------------------------
    S("duplicate_db_path", "", "duplicate delivery database (default {configdirectory}/deliver.db)"),
    S("idlesocket", "{configdirectory}/socket/idle", "unix socket of the IDLE notifier"),
    S("lmtpsocket", "{configdirectory}/socket/lmtp", "unix socket of lmtpd (must match cyrus.conf)"),
    S("mboxlist_db_path", "", "mailbox list (default {configdirectory}/mailboxes.db)"),
    S("mboxname_lockpath", "", "mailbox lock files (default {configdirectory}/lock)"),
    F("metapartition_files", "", kMetapartitionFiles,
      "metadata files kept on the metapartition instead of the spool"),
    S("notifysocket", "{configdirectory}/socket/notify", "unix socket of the notification daemon"),
    U(S("partition_select_exclude", "", "partitions never chosen automatically")),
    U(E("partition_select_mode", "freespace-most", kSelectModes,
        "how a partition is chosen without defaultpartition")),
    U(I("partition_select_soft_usage_limit", "0", "exclude partitions fuller than this percent")),
    U(I("partition_select_usage_reinit", "0", "operations between partition usage refreshes")),
    S("proc_path", "", "per-process state files (default {configdirectory}/proc)"),
    S("ptscache_db_path", "", "PTS cache (default {configdirectory}/ptscache.db)"),
    S("quota_db_path", "", "quota database (default {configdirectory}/quotas.db)"),
    S("statuscache_db_path", "", "status cache (default {configdirectory}/statuscache.db)"),
    S("tls_sessions_db_path", "", "TLS session cache (default {configdirectory}/tls_sessions.db)"),
    S("userdeny_db_path", "", "user access list (default {configdirectory}/user_deny.db)"),
    S("annotation_db_path", "", "annotations (default {configdirectory}/annotations.db)"),

    // --- Timeouts and polling -----------------------------------------------
    U(D("client_timeout", "10s", 's', "connect timeout for outgoing connections")),
    D("failedloginpause", "3s", 's', "pause after a failed login"),
    U(D("imapidlepoll", "60s", 's', "IDLE polling interval without idled (0 disables IDLE)")),
    U(D("imapidletimeout", "", 'm', "autologout of an idling client (default: timeout)")),
    U(D("plaintextloginpause", "", 's', "pause after a successful plaintext login")),
    U(S("plaintextloginalert", "", "alert sent after a successful plaintext login")),
    D("popexpiretime", "-1", 'd', "minimum retention advertised by POP3 CAPA (negative: NEVER)"),
    D("popminpoll", "", 'm', "minimum time between POP3 logins of one user"),
    I("poppollpadding", "1", "POP3 logins allowed before popminpoll applies"),
    Min(D("poptimeout", "10m", 'm', "POP3 inactivity autologout (minimum 10 minutes)"), 10 * kMinute),
    U(B("popsubfolders", false, "userid+subfolder POP3 logins open INBOX subfolders")),
    B("pop3_exclusive_lock", false,
      "refuse a second POP3 session of a maildrop (RFC 1939's lock; ours, Cyrus and Dovecot allow it)"),
    U(B("popuseacl", false, "enforce ACLs in POP3")),
    B("popuseimapflags", false, "POP3 sets and obeys IMAP flags"),
    U(B("tcp_keepalive", false, "enable TCP keepalive")),
    U(I("tcp_keepalive_cnt", "0", "keepalive probes before a connection is dead (0: system)")),
    U(D("tcp_keepalive_idle", "0", 's', "idle time before keepalive probes (0: system)")),
    U(D("tcp_keepalive_intvl", "0", 's', "time between keepalive probes (0: system)")),
    Min(D("timeout", "32m", 'm', "IMAP inactivity autologout (minimum 30 minutes)"), 30 * kMinute),

    // --- Delivery (LMTP) and quota ------------------------------------------
    B("duplicatesuppression", true, "suppress a second delivery of one Message-ID to a mailbox"),
    S("lmtp_catchall_mailbox", "", "user that receives mail for nonexistent mailboxes"),
    B("lmtp_downcase_rcpt", true, "lower-case recipient addresses (up to '+')"),
    U(S("lmtp_exclude_specialuse", "\\Snoozed", "special-use mailboxes LMTP never delivers to")),
    B("lmtp_fuzzy_mailbox_match", false, "find the closest mailbox for a +detail that does not exist"),
    B("lmtp_over_quota_perm_failure", false, "over quota is a permanent (5xx) failure"),
    U(B("lmtp_preparse", false, "parse messages before taking locks")),
    B("lmtp_strict_quota", false, "refuse a message that would exceed the quota"),
    U(B("lmtp_strict_rfc2821", true, "refuse 8-bit local parts in envelope addresses")),
    B("munge8bit", true, "replace 8-bit header characters with 'X'"),
    I("quotawarn", "90", "percent of quota above which warnings are given"),
    U(I("quotawarnkb", "0", "warn when less than this many KB are left (0: always)")),
    U(I("quotawarnmsg", "0", "warn when fewer than this many messages are left (0: always)")),
    B("reject8bit", false, "refuse messages with 8-bit header characters"),
    U(B("rfc2046_strict", false, "strict MIME boundary matching")),
    U(B("rfc2047_utf8", false, "read unencoded 8-bit header text as UTF-8")),
    S("sendmail", "/usr/lib/sendmail", "sendmail binary for Sieve redirects and vacation"),
    U(S("sendmail_auth_id", "CYRUS_SENDMAIL_AUTH_ID", "environment variable naming the user for sendmail")),
    U(E("smtp_backend", "sendmail", kSmtpBackends, "how outgoing mail is sent")),
    U(S("smtp_host", "localhost:587", "SMTP host for smtp_backend=host")),
    U(S("smtp_auth_authname", "", "SMTP authentication name")),
    U(S("smtp_auth_password", "", "SMTP password")),
    U(S("smtp_auth_realm", "", "SMTP SASL realm")),
    B("soft_noauth", true, "unauthenticated LMTP clients get temporary failures"),

    // --- Autocreate ---------------------------------------------------------
    S("autocreate_inbox_folders", "", "'|'-separated INBOX subfolders created with INBOX"),
    B("autocreate_post", false, "LMTP creates a missing INBOX"),
    I("autocreate_quota", "-1", "storage quota (KB) of an autocreated INBOX; >= 0 enables autocreate"),
    I("autocreate_quota_messages", "-1", "message quota of an autocreated INBOX (-1: none)"),
    S("autocreate_sieve_folders", "", "'|'-separated folders Sieve fileinto may create"),
    U(S("autocreate_sieve_script", "", "Sieve script installed for new users")),
    U(B("autocreate_sieve_script_compile", false, "save the compiled autocreate Sieve script")),
    U(S("autocreate_sieve_script_compiled", "", "compiled form of autocreate_sieve_script")),
    U(S("autocreate_subscribe_folders", "", "'|'-separated autocreated folders to subscribe")),
    U(S("autocreate_subscribe_sharedfolders", "", "'|'-separated shared folders to subscribe")),
    U(B("autocreate_subscribe_sharedfolders_all", false, "subscribe new users to all shared folders")),
    U(S("autocreate_users", "anyone", "users and groups whose INBOX may be autocreated")),
    Dep(S("autocreateinboxfolders", "", ""), "autocreate_inbox_folders"),
    Dep(I("autocreatequota", "0", ""), "autocreate_quota"),
    Dep(I("autocreatequotamsg", "-1", ""), "autocreate_quota_messages"),
    Dep(S("autosievefolders", "", ""), "autocreate_sieve_folders"),
    Dep(B("generate_compiled_sieve_script", false, ""), "autocreate_sieve_script_compile"),
    Dep(S("autocreate_sieve_compiled_script", "", ""), "autocreate_sieve_script_compiled"),
    Dep(S("autosubscribeinboxfolders", "", ""), "autocreate_subscribe_folders"),
    Dep(S("autosubscribesharedfolders", "", ""), "autocreate_subscribe_sharedfolders"),
    Dep(B("autosubscribe_all_sharedfolders", false, ""), "autocreate_subscribe_sharedfolders_all"),
    Dep(B("createonpost", false, ""), "autocreate_post"),

    // --- Sieve --------------------------------------------------------------
    D("sieve_duplicate_max_expiration", "90d", 's', "longest life of Sieve duplicate records"),
    F("sieve_extensions",
      "fileinto reject vacation vacation-seconds notify include envelope environment body "
      "relational regex subaddress copy date index imap4flags mailbox mboxmetadata "
      "servermetadata variables editheader extlists duplicate ihave fcc special-use "
      "redirect-dsn redirect-deliverby mailboxid vnd.cyrus.log vnd.cyrus.jmapquery snooze",
      kSieveExtensions, "Sieve extensions scripts may use"),
    I("sieve_maxscripts", "5", "Sieve scripts per user"),
    I("sieve_maxscriptsize", "32", "largest Sieve script in KB"),
    B("sieve_sasl_send_unsolicited_capability", false, "ManageSieve sends CAPABILITY after AUTHENTICATE"),
    U(B("sieve_use_lmtp_reject", true, "Sieve reject answers 550 in LMTP when it can")),
    B("sieve_utf8fileinto", false, "fileinto mailbox names are UTF-8, not modified UTF-7"),
    Min(D("sieve_vacation_max_response", "90d", 's', "longest interval between vacation replies"),
        7 * kDay),
    D("sieve_vacation_min_response", "3d", 's', "shortest interval between vacation replies"),
    S("sievedir", "/usr/sieve", "where Sieve scripts live"),
    U(B("sieveusehomedir", false, "read Sieve scripts from ~user/.sieve")),
    U(B("rfc3028_strict", true, "Sieve address/envelope tests only on address headers")),

    // --- SASL (also passed to the SASL layer) -------------------------------
    U(S("sasl_auxprop_plugin", "", "SASL auxprop plugin")),
    S("sasl_mech_list", "", "SASL mechanisms offered (default: all available)"),
    U(I("sasl_maximum_layer", "256", "largest SSF a client may negotiate")),
    U(I("sasl_minimum_layer", "0", "smallest SSF a client must negotiate")),
    S("sasl_pwcheck_method", "", "how plaintext passwords are checked (auxprop, saslauthd)"),
    S("sasl_saslauthd_path", "", "saslauthd socket"),
    Max(Min(I("sasl_scram_iteration_counter", "65536", "PBKDF2 iterations for new SCRAM keys (Cyrus SASL clients accept at most 65536)"), 1), 10000000),
    U(S("force_sasl_client_mech", "", "SASL mechanism for outgoing connections")),

    // --- TLS ----------------------------------------------------------------
    S("tls_ciphers", "DEFAULT", "OpenSSL cipher list"),
    S("tls_client_ca_dir", "", "CA directory for verifying client certificates"),
    S("tls_client_ca_file", "", "CA file for verifying client certificates"),
    U(S("tls_client_cert", "", "certificate this server presents as a client")),
    E("tls_client_certs", "optional", kTlsClientCerts, "client certificates: off, optional, require"),
    U(S("tls_client_key", "", "key of tls_client_cert")),
    U(S("tls_crl_file", "", "certificate revocation list")),
    U(S("tls_eccurve", "prime256v1", "elliptic curve for ECDHE")),
    B("tls_prefer_server_ciphers", false, "prefer the server's cipher order"),
    B("tls_required", false, "require TLS before any authentication"),
    U(S("tls_server_ca_dir", "", "CA directory for verifying servers we connect to")),
    U(S("tls_server_ca_file", "", "CA file for verifying servers we connect to")),
    S("tls_server_cert", "", "server certificate chain (two, comma-separated, allowed)"),
    U(S("tls_server_dhparam", "", "DH parameters")),
    S("tls_server_key", "", "key of tls_server_cert"),
    Max(D("tls_session_timeout", "24h", 'm', "TLS session cache lifetime (maximum 24h, 0 disables)"),
        24 * kHour),
    F("tls_versions", "tls1_2 tls1_3", kTlsVersions, "TLS versions left enabled (ours: 1.2+ by default; Cyrus enables 1.0+)"),
    Dep(S("tls_ca_file", "", ""), "tls_client_ca_file"),
    Dep(S("tls_ca_path", "", ""), "tls_client_ca_dir"),
    Dep(S("tls_cert_file", "", ""), "tls_server_cert"),
    Dep(S("tls_cipher_list", "DEFAULT", ""), "tls_ciphers"),
    Dep(S("tls_key_file", "", ""), "tls_server_key"),
    Dep(U(E("tlscache_db", "twoskip", kDbBackends4, "")), "tls_sessions_db"),
    Dep(S("tlscache_db_path", "", ""), "tls_sessions_db_path"),
    // Cyrus 2.1 per-service TLS names; since 2.2 written <service>_tls_cert_file.
    Obs(S("tls_imap_cert_file", "", "2.1 spelling"), "imap_tls_server_cert"),
    Obs(S("tls_imap_key_file", "", "2.1 spelling"), "imap_tls_server_key"),
    Obs(S("tls_pop3_cert_file", "", "2.1 spelling"), "pop3_tls_server_cert"),
    Obs(S("tls_pop3_key_file", "", "2.1 spelling"), "pop3_tls_server_key"),
    Obs(S("tls_lmtp_cert_file", "", "2.1 spelling"), "lmtp_tls_server_cert"),
    Obs(S("tls_lmtp_key_file", "", "2.1 spelling"), "lmtp_tls_server_key"),
    Obs(S("tls_sieve_cert_file", "", "2.1 spelling"), "sieve_tls_server_cert"),
    Obs(S("tls_sieve_key_file", "", "2.1 spelling"), "sieve_tls_server_key"),

    // --- Replication --------------------------------------------------------
    S("sync_authname", "", "authentication name towards the replica"),
    I("sync_batchsize", "8192", "messages uploaded per mailbox in one batch"),
    S("sync_host", "", "replica host for sync_client"),
    B("sync_log", false, "log changes for rolling replication ({configdirectory}/sync/log)"),
    U(B("sync_log_chain", false, "sync_server logs changes too (A => B => C)")),
    S("sync_log_channels", "", "space-separated channels, each with its own log"),
    U(S("sync_log_unsuppressable_channels", "squatter", "channels logged even without sync_log_chain")),
    S("sync_password", "", "password towards the replica"),
    I("sync_parallel_streams", "4", "rolling replication: users replicated at once, one connection each (not in Cyrus)"),
    S("sync_port", "", "replica port or service (default: imap, then csync)"),
    U(S("sync_realm", "", "authentication realm towards the replica")),
    D("sync_reconnect_maxwait", "20m", 's', "longest back-off between reconnect attempts"),
    U(D("sync_repeat_interval", "1s", 's', "shortest interval between rolling replication runs")),
    U(S("sync_rightnow_channel", "", "channel replicated immediately")),
    S("sync_shutdown_file", "", "file whose existence stops sync_client"),
    Min(D("sync_timeout", "30m", 's', "wait for a replication peer's answer (minimum 3s)"), 3),
    B("sync_try_imap", true, "try replication over IMAP before csync"),
    // Cyrus 2.4's name, retired in 3.x (which always compresses when offered);
    // here it turns on zstd (X-CYR-COMPRESS) whenever the replica offers it.
    B("sync_compress", false, "zstd-compress the csync stream when the replica offers it"),

    // --- This server: HA pair -----------------------------------------------
    // Unset: a node with no failover_peer is a standalone primary; a node with a
    // peer but no role starts as replica, so a forgotten setting can never
    // make two primaries. The persisted role wins after the first start.
    E("failover_role", "", kFailoverRoles,
      "role at first start; unset: primary without failover_peer, else replica"),
    S("failover_peer", "", "host:port of the other node of the pair"),
    S("failover_witness", "", "host:port of the witness that breaks ties"),
    D("failover_timeout", "5s", 's', "peer silence after which the replica may promote itself; also the lease"),
    S("failover_hook", "", "program run on every role change (role and epoch as arguments)"),
    S("failover_secret", "", "shared secret authenticating the failover port and the witness (HMAC-SHA256); unset: open"),
    E("sync_mode", "async", kSyncModes, "async: acknowledge before the replica has the change; "
                                        "sync: only after"),

    // --- Retired ------------------------------------------------------------
    Obs(B("flushseenstate", true, "no longer used")),
    Obs(B("search_index_parts", false, "no longer used")),
    Obs(B("search_query_language", false, "no longer used")),
    Obs(I("berkeley_cachesize", "512", "Berkeley DB is not supported since 3.0")),
    Obs(I("berkeley_locks_max", "50000", "Berkeley DB is not supported since 3.0")),
    Obs(I("berkeley_txns_max", "100", "Berkeley DB is not supported since 3.0")),

    // --- Cyrus subsystems this server does not implement --------------------
    U(S("addressbookprefix", "#addressbooks", "CardDAV addressbook hierarchy")),
    U(B("annotation_allow_undefined", false, "allow annotations nobody defined")),
    U(S("annotation_callout", "", "program or socket that annotates appended messages")),
    U(B("annotation_callout_disable_append", false, "no callout on append")),
    U(E("annotation_db", "twoskip", kDbBackends3, "cyrusdb backend of annotations")),
    U(S("annotation_definitions", "", "file of third-party annotation definitions")),
    U(B("annotation_enable_legacy_commands", false, "GETANNOTATION/SETANNOTATION")),
    U(D("archive_after", "7d", 'd', "age after which messages move to the archive partition")),
    Dep(U(D("archive_days", "", 'd', "")), "archive_after"),
    U(B("archive_enabled", false, "archive partitions")),
    U(B("archive_keepflagged", false, "do not archive \\Flagged messages")),
    U(I("archive_maxsize", "1024", "largest message (KB) not archived at once")),
    U(E("auth_mech", "unix", kAuthMechs, "authorization mechanism")),
    U(D("backup_retention", "7d", 'd', "how long backups keep deleted content")),
    Dep(U(D("backup_retention_days", "", 'd', "")), "backup_retention"),
    U(E("backup_db", "twoskip", kDbBackends4, "cyrusdb backend of backup locations")),
    U(S("backup_db_path", "", "backup locations database")),
    U(S("backup_staging_path", "", "backup staging area")),
    U(I("boundary_limit", "1000", "deepest MIME nesting parsed")),
    U(E("caldav_allowscheduling", "on", kOffOnApple, "CalDAV scheduling")),
    U(S("caldav_realm", "", "HTTP realm of CalDAV")),
    U(S("calendarprefix", "#calendars", "CalDAV calendar hierarchy")),
    U(S("carddav_realm", "", "HTTP realm of CardDAV")),
    U(B("conversations", false, "XCONVERSATIONS tracking")),
    U(S("conversations_counted_flags", "", "flags counted per conversation")),
    U(E("conversations_db", "skiplist", kDbBackends4, "cyrusdb backend of conversations")),
    U(D("conversations_expire_after", "90d", 'd', "conversation tracking lifetime")),
    Dep(U(D("conversations_expire_days", "", 'd', "")), "conversations_expire_after"),
    U(I("conversations_max_thread", "100", "messages per thread")),
    U(B("crossdomains", false, "sharing across virtual domains")),
    U(B("crossdomains_onlyother", false, "show the domain only for other domains")),
    U(S("dav_realm", "", "HTTP realm of DAV principals")),
    U(S("debug_command", "", "debugger command for processes started with -D")),
    U(S("defaultsearchtier", "", "search tier for new index data (Xapian)")),
    U(S("defaultserver", "", "Murder backend for new mailboxes")),
    U(E("duplicate_db", "twoskip", kDbBackends4, "cyrusdb backend of the duplicate database")),
    U(E("event_content_inclusion_mode", "standard", kEventInclusion, "message content in events")),
    U(I("event_content_size", "0", "truncation of message content in events")),
    U(S("event_exclude_flags", "", "flags that do not raise events")),
    U(S("event_exclude_specialuse", "\\Junk", "special-use mailboxes that raise no events")),
    U(F("event_groups", "message mailbox", kEventGroups, "groups of RFC 5423 events sent")),
    U(S("event_notifier", "", "notifyd method for RFC 5423 events")),
    U(B("httpallowcompress", true, "compress HTTP responses")),
    U(S("httpallowcors", "", "origins allowed CORS requests")),
    U(S("httpdocroot", "", "static HTTP content root")),
    U(D("httpkeepalive", "20s", 's', "HTTP keepalive heartbeat")),
    U(F("httpmodules", "", kHttpModules, "HTTP modules enabled in httpd")),
    U(D("httptimeout", "5m", 'm', "HTTP inactivity autologout")),
    U(S("imipnotifier", "", "notifyd method for iMIP")),
    U(B("improved_mboxlist_sort", false, "special sort order of the mailbox list")),
    U(I("jmap_max_size_upload", "1048576", "largest JMAP upload (KB)")),
    U(S("ldap_authz", "", "LDAP SASL authorization id")),
    U(S("ldap_base", "", "LDAP base DN")),
    U(S("ldap_bind_dn", "", "LDAP simple bind DN")),
    U(S("ldap_ca_dir", "", "LDAP CA directory")),
    U(S("ldap_ca_file", "", "LDAP CA file")),
    U(S("ldap_ciphers", "", "LDAP TLS ciphers")),
    U(S("ldap_client_cert", "", "LDAP client certificate")),
    U(S("ldap_client_key", "", "LDAP client key")),
    U(E("ldap_deref", "never", kLdapDeref, "LDAP alias dereferencing")),
    U(S("ldap_filter", "(uid=%u)", "LDAP user filter")),
    U(S("ldap_id", "", "LDAP SASL authentication id")),
    U(S("ldap_mech", "", "LDAP SASL mechanism")),
    U(E("ldap_member_method", "attribute", kLdapMemberMethods, "LDAP group method")),
    U(S("ldap_password", "", "LDAP password")),
    U(S("ldap_realm", "", "LDAP SASL realm")),
    U(B("ldap_sasl", true, "SASL binds to LDAP")),
    U(E("ldap_scope", "sub", kLdapScopes, "LDAP search scope")),
    U(B("ldap_start_tls", false, "STARTTLS to LDAP")),
    U(S("ldap_uri", "", "LDAP server URLs")),
    U(B("ldap_verify_peer", false, "verify the LDAP server certificate")),
    U(I("ldap_version", "3", "LDAP protocol version")),
    Dep(U(S("ldap_sasl_authc", "", "")), "ldap_id"),
    Dep(U(S("ldap_sasl_authz", "", "")), "ldap_authz"),
    Dep(U(S("ldap_sasl_mech", "", "")), "ldap_mech"),
    Dep(U(S("ldap_sasl_password", "", "")), "ldap_password"),
    Dep(U(S("ldap_sasl_realm", "", "")), "ldap_realm"),
    Dep(U(S("ldap_servers", "ldap://localhost/", "")), "ldap_uri"),
    Dep(U(S("ldap_tls_cacert_dir", "", "")), "ldap_ca_dir"),
    Dep(U(S("ldap_tls_cacert_file", "", "")), "ldap_ca_file"),
    Dep(U(S("ldap_tls_cert", "", "")), "ldap_client_cert"),
    Dep(U(B("ldap_tls_check_peer", false, "")), "ldap_verify_peer"),
    Dep(U(S("ldap_tls_ciphers", "", "")), "ldap_ciphers"),
    Dep(U(S("ldap_tls_key", "", "")), "ldap_client_key"),
    U(D("lmtptxn_timeout", "5m", 's', "LMTP transaction timeout towards a Murder backend")),
    U(S("mailnotifier", "", "notifyd method for MAIL notifications")),
    U(E("mboxkey_db", "twoskip", kDbBackends3, "cyrusdb backend of mailbox keys")),
    U(E("mboxlist_db", "twoskip", kDbBackendsAll, "cyrusdb backend of the mailbox list")),
    U(S("mupdate_authname", "", "Murder mupdate authentication name")),
    U(E("mupdate_config", "standard", kMupdateConfigs, "Murder layout")),
    U(I("mupdate_connections_max", "128", "mupdate connections")),
    U(S("mupdate_password", "", "Murder mupdate password")),
    U(I("mupdate_port", "3905", "Murder mupdate port")),
    U(S("mupdate_realm", "", "Murder mupdate realm")),
    U(I("mupdate_retry_delay", "20", "seconds between mupdate reconnects")),
    U(S("mupdate_server", "", "Murder mupdate server")),
    U(S("mupdate_username", "", "Murder mupdate authorization name")),
    U(I("mupdate_workers_max", "50", "mupdate worker threads")),
    U(S("newsmaster", "news", "userid for Usenet control messages")),
    U(S("newspeer", "", "news servers articles are fed to")),
    U(S("newsprefix", "", "prefix of newsgroup mailboxes")),
    U(D("nntptimeout", "3m", 'm', "NNTP inactivity autologout")),
    U(S("notify_external", "", "external program of notifyd")),
    U(B("prometheus_enabled", false, "Prometheus metrics")),
    U(E("prometheus_need_auth", "admin", kPrometheusAuth, "who may read Prometheus metrics")),
    U(S("proxy_authname", "proxy", "Murder proxy authentication name")),
    U(B("proxy_compress", false, "compression towards Murder backends")),
    U(S("proxy_password", "", "Murder proxy password")),
    U(S("proxy_realm", "", "Murder proxy realm")),
    U(S("proxyservers", "", "users allowed to proxy for others")),
    U(S("ptloader_sock", "", "ptloader socket")),
    U(E("ptscache_db", "twoskip", kDbBackends3, "cyrusdb backend of the PTS cache")),
    U(D("ptscache_timeout", "3h", 's', "PTS cache lifetime")),
    U(E("pts_module", "afskrb", kPtsModules, "PTS module")),
    U(E("qosmarking", "cs0", kQosMarkings, "DSCP marking of packets")),
    U(E("quota_db", "quotalegacy", kQuotaDbBackends, "cyrusdb backend of quotas")),
    U(E("search_engine", "none", kSearchEngines, "search index engine")),
    U(E("search_whitespace", "merge", kSearchWhitespace, "whitespace in searches")),
    U(E("seenstate_db", "twoskip", kDbBackendsFlat, "cyrusdb backend of seen state")),
    U(E("serverlist_select_mode", "freespace-most", kSelectModes, "Murder backend selection")),
    U(S("serverlist", "", "Murder backends")),
    U(B("sieve_allowreferrals", true, "ManageSieve referrals in a Murder")),
    U(S("sievenotifier", "", "notifyd method for Sieve notify")),
    U(B("skiplist_always_checkpoint", true, "skiplist checkpoint on recovery")),
    U(B("skiplist_unsafe", false, "skiplist without fsync")),
    U(E("sortcache_db", "twoskip", kDbBackends3, "cyrusdb backend of the sort cache")),
    U(S("sql_database", "", "SQL database of cyrusdb")),
    U(E("sql_engine", "", kSqlEngines, "SQL engine of cyrusdb")),
    U(S("sql_hostnames", "", "SQL servers")),
    U(S("sql_passwd", "", "SQL password")),
    U(S("sql_user", "", "SQL user")),
    U(B("sql_usessl", false, "TLS to the SQL server")),
    U(S("srs_domain", "", "SRS rewriting domain")),
    U(E("statuscache_db", "twoskip", kDbBackends4, "cyrusdb backend of the status cache")),
    U(E("subscription_db", "flat", kDbBackendsFlat, "cyrusdb backend of subscriptions")),
    U(E("sync_cache_db", "twoskip", kDbBackends4, "cyrusdb backend of the replication cache")),
    U(S("sync_cache_db_path", "", "replication cache")),
    U(E("tls_sessions_db", "twoskip", kDbBackends4, "cyrusdb backend of the TLS session cache")),
    U(E("uidl_format", "cyrus", kUidlFormats, "POP3 UIDL format")),
    U(E("userdeny_db", "flat", kDbBackendsAll, "cyrusdb backend of the user access list")),
    U(B("xbackup_enabled", false, "the XBACKUP command")),
    U(B("object_storage_enabled", false, "object storage for archived messages")),
};

struct SortedTable {
  std::vector<OptionSpec> options;
  // replacement name -> deprecated options pointing at it
  std::vector<std::pair<std::string_view, const OptionSpec*>> aliases;
};

const SortedTable& table() {
  static const SortedTable t = [] {
    SortedTable st;
    st.options.assign(std::begin(kOptions), std::end(kOptions));
    std::sort(st.options.begin(), st.options.end(),
              [](const OptionSpec& a, const OptionSpec& b) { return a.name < b.name; });
    for (const auto& o : st.options)
      if (o.status == OptionStatus::Deprecated && !o.replaced_by.empty())
        st.aliases.emplace_back(o.replaced_by, &o);
    return st;
  }();
  return t;
}

}  // namespace

std::span<const OptionSpec> all_options() { return table().options; }

const OptionSpec* find_option(std::string_view name) {
  const auto& opts = table().options;
  auto it = std::lower_bound(opts.begin(), opts.end(), name,
                             [](const OptionSpec& o, std::string_view n) { return o.name < n; });
  if (it != opts.end() && it->name == name) return &*it;
  return nullptr;
}

std::vector<const OptionSpec*> deprecated_aliases_of(std::string_view name) {
  std::vector<const OptionSpec*> out;
  for (const auto& [repl, spec] : table().aliases)
    if (repl == name) out.push_back(spec);
  return out;
}

const char* option_type_name(OptionType t) {
  switch (t) {
    case OptionType::String: return "string";
    case OptionType::Int: return "int";
    case OptionType::Switch: return "switch";
    case OptionType::Enum: return "enum";
    case OptionType::BitField: return "bitfield";
    case OptionType::Duration: return "duration";
    case OptionType::StringList: return "stringlist";
  }
  return "?";
}

const char* option_status_name(OptionStatus s) {
  switch (s) {
    case OptionStatus::Current: return "current";
    case OptionStatus::Deprecated: return "deprecated";
    case OptionStatus::Obsolete: return "obsolete";
    case OptionStatus::Unsupported: return "unsupported";
  }
  return "?";
}

}  // namespace cyr::config
