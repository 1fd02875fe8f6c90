// authevents-audit: verify, query, export, erase and prune an authevents audit trail.
//
//   authevents-audit --db FILE [options] COMMAND [command options]
//   authevents-audit --postgres CONNINFO [options] COMMAND [command options]
//
// `authevents-audit --help` lists the commands, their options and the exit status; docs/audit.md
// explains how a security team uses each command.
#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/reader.hpp>
#include <authevents/audit/sqlite_store.hpp>
#include <authevents/audit/store.hpp>
#include <authevents/audit/verify.hpp>
#include <authevents/bus/time.hpp>
#include <authevents/redaction.hpp>
#ifdef AUTHEVENTS_AUDIT_TOOL_POSTGRES
#include <authevents/audit/postgres_store.hpp>
#endif

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace audit = authevents::audit;

constexpr const char* usage =
    "usage: authevents-audit (--db FILE | --postgres CONNINFO) [--master-key-file F] [--quiet]\n"
    "                        COMMAND [options]\n"
    "commands:\n"
    "  verify [--head SEQ:HASH] [--public-key F]\n"
    "      check the whole hash chain (and each prune's checkpoint); with --head, also that\n"
    "      the chain still holds that exported head (nothing rewritten or cut off after it);\n"
    "      with --public-key, that every checkpoint is signed by its secret key; prints the\n"
    "      first break and the record stored there, and the gap records (events lost)\n"
    "  head\n"
    "      print the newest record's sequence and hash (SEQ:HASH), to anchor elsewhere\n"
    "  query [--user ID | --email ADDRESS] [--type EVENT] [--from TIME] [--until TIME]\n"
    "        [--ip ADDRESS] [--newest | --oldest] [--limit N] [--cursor SEQ] [--all]\n"
    "        [--format table|jsonl]\n"
    "      records matching every filter given, personal values opened (or [erased]),\n"
    "      newest first unless --oldest; N (100) a page; the next page's --cursor is\n"
    "      printed on stderr; --all prints every page\n"
    "  export [--output F]\n"
    "      the raw chain as JSON lines: each checkpoint, each record as stored (values\n"
    "      sealed), then the head; to stdout or F\n"
    "  erase-user ID [--email ADDRESS]...\n"
    "      crypto-shred user ID: delete their key (and the keys of failed logins for each\n"
    "      ADDRESS given), so their personal values read as erased; the chain still verifies\n"
    "  prune --before TIME [--signing-key F]\n"
    "      delete the records older than TIME and record a checkpoint at the cut, signed\n"
    "      with the Ed25519 secret key in F when given\n"
    "  keygen --secret-key F --public-key F\n"
    "      make an Ed25519 key pair for signing checkpoints (hex files; F of the secret key\n"
    "      is created with mode 0600); needs no --db\n"
    "TIME is RFC 3339 (2026-12-06T00:00:00Z) or an age: 90d, 12h, 30m or 45s ago.\n"
    "--master-key-file F: the hex master key the audit log wraps sealing keys with, if any.\n"
    "Progress of long runs goes to stderr (not with --quiet).\n"
    "exit status:\n"
    "  0  done; verify: the chain is intact\n"
    "  1  verify: the chain is broken (or fails --head or --public-key); erase-user: no key\n"
    "     found to erase\n"
    "  2  usage error (unknown command or option, bad value, unreadable key file)\n"
    "  3  store error (no such database, not an audit store, cannot read or write it)\n";

/// Bad command line: exit status 2.
struct Usage : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// ---- command line -------------------------------------------------------------------------

/// The parsed command line: global settings, the command, its options and its words.
struct CommandLine {
    std::string db;
    std::string postgres;
    std::string master_key_file;
    bool quiet = false;
    std::string command;
    std::multimap<std::string, std::string> options; // command options: name -> value ("" flag)
    std::vector<std::string> words;                  // command arguments

    [[nodiscard]] bool has(const std::string& name) const { return options.count(name) > 0; }

    /// The value of an option given at most once.
    [[nodiscard]] std::optional<std::string> value(const std::string& name) const {
        const auto [first, last] = options.equal_range(name);
        if (first == last) {
            return std::nullopt;
        }
        if (std::next(first) != last) {
            throw Usage(name + " given more than once");
        }
        return first->second;
    }

    [[nodiscard]] std::vector<std::string> values(const std::string& name) const {
        std::vector<std::string> found;
        const auto [first, last] = options.equal_range(name);
        for (auto it = first; it != last; ++it) {
            found.push_back(it->second);
        }
        return found;
    }

    /// Refuses options the command does not take, and more than `max_words` arguments.
    void allow(std::initializer_list<const char*> names, std::size_t max_words = 0) const {
        const std::set<std::string> allowed(names.begin(), names.end());
        for (const auto& option : options) {
            if (allowed.count(option.first) == 0) {
                throw Usage(command + " does not take " + option.first);
            }
        }
        if (words.size() > max_words) {
            throw Usage(command + ": unexpected argument '" + words[max_words] + "'");
        }
    }
};

// Options that take a value; every other word starting with "--" is a flag.
const std::set<std::string>& valued_options() {
    static const std::set<std::string> names = {
        "--head",   "--public-key", "--user",   "--type",        "--from",
        "--until",  "--ip",         "--limit",  "--cursor",      "--format",
        "--output", "--email",      "--before", "--signing-key", "--secret-key"};
    return names;
}
const std::set<std::string>& flag_options() {
    static const std::set<std::string> names = {"--newest", "--oldest", "--all"};
    return names;
}

CommandLine parse_command_line(int argc, char** argv) {
    CommandLine line;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                throw Usage(arg + " needs a value");
            }
            return argv[++i];
        };
        if (arg == "--db") {
            line.db = value();
        } else if (arg == "--postgres") {
            line.postgres = value();
        } else if (arg == "--master-key-file") {
            line.master_key_file = value();
        } else if (arg == "--quiet" || arg == "-q") {
            line.quiet = true;
        } else if (arg == "--help" || arg == "-h") {
            line.command = "help";
            return line;
        } else if (valued_options().count(arg) > 0) {
            line.options.emplace(arg, value());
        } else if (flag_options().count(arg) > 0) {
            line.options.emplace(arg, "");
        } else if (arg.size() > 1 && arg[0] == '-') {
            throw Usage("unknown option " + arg);
        } else if (line.command.empty()) {
            line.command = arg;
        } else {
            line.words.push_back(arg);
        }
    }
    if (line.command.empty()) {
        throw Usage("no command");
    }
    return line;
}

/// A positive integer option, at most `max`.
std::int64_t parse_count(const std::string& name, const std::string& text, std::int64_t max) {
    if (text.empty() || text.size() > 19 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        throw Usage(name + " must be a positive number, not '" + text + "'");
    }
    const long long number = std::stoll(text);
    if (number < 1 || number > max) {
        throw Usage(name + " must be between 1 and " + std::to_string(max));
    }
    return number;
}

/// TIME: RFC 3339, or an age (N followed by d, h, m or s) counted back from `now`.
audit::AuditTime parse_time(const std::string& name, const std::string& text,
                            audit::AuditTime now) {
    if (const auto parsed = authevents::bus::parse_rfc3339(text)) {
        return std::chrono::time_point_cast<audit::Microseconds>(*parsed);
    }
    if (text.size() >= 2 && text.size() <= 10) {
        const std::string digits = text.substr(0, text.size() - 1);
        const char unit = text.back();
        std::int64_t seconds_per_unit = 0;
        switch (unit) {
        case 'd':
            seconds_per_unit = 86400;
            break;
        case 'h':
            seconds_per_unit = 3600;
            break;
        case 'm':
            seconds_per_unit = 60;
            break;
        case 's':
            seconds_per_unit = 1;
            break;
        default:
            break;
        }
        if (seconds_per_unit > 0 && std::all_of(digits.begin(), digits.end(),
                                                [](char c) { return c >= '0' && c <= '9'; })) {
            return now - std::chrono::seconds(std::stoll(digits) * seconds_per_unit);
        }
    }
    throw Usage(name +
                " must be RFC 3339 (2026-12-06T00:00:00Z) or an age such as 90d, 12h, "
                "30m or 45s, not '" +
                text + "'");
}

audit::AuditTime now() {
    return std::chrono::time_point_cast<audit::Microseconds>(std::chrono::system_clock::now());
}

// ---- files and keys -----------------------------------------------------------------------

/// The whole of a small file (keys): at most 64 KiB.
std::string read_small_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw Usage("cannot read " + path + ": " + std::strerror(errno));
    }
    std::string text;
    char buffer[4096];
    while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
        text.append(buffer, static_cast<std::size_t>(in.gcount()));
        if (text.size() > 65536) {
            throw Usage(path + " is too large for a key file");
        }
    }
    return text;
}

/// The bytes of a hex key file of exactly `size` bytes (whitespace around it ignored).
std::string read_hex_key(const std::string& path, std::size_t size, const char* what) {
    std::string text = read_small_file(path);
    const auto first = text.find_first_not_of(" \t\r\n");
    const auto last = text.find_last_not_of(" \t\r\n");
    auto bytes = first == std::string::npos
                     ? std::optional<std::string>()
                     : audit::from_hex(std::string_view(text).substr(first, last - first + 1));
    sodium_memzero(text.data(), text.size());
    if (!bytes || bytes->size() != size) {
        if (bytes) {
            sodium_memzero(bytes->data(), bytes->size());
        }
        throw Usage(path + " does not hold " + what + " (" + std::to_string(2 * size) +
                    " hex digits)");
    }
    return std::move(*bytes);
}

/// --head SEQ:HASH, as `head` and `export` print it.
audit::ChainHead parse_head(const std::string& text) {
    const auto colon = text.find(':');
    const auto hash = colon == std::string::npos
                          ? std::nullopt
                          : audit::sha256_from_hex(std::string_view(text).substr(colon + 1));
    if (!hash) {
        throw Usage("--head must be SEQUENCE:HASH (64 hex digits), as `head` prints it");
    }
    audit::ChainHead head;
    head.hash = *hash;
    head.sequence = parse_count("--head's sequence", text.substr(0, colon),
                                std::numeric_limits<std::int64_t>::max());
    return head;
}

// ---- output -------------------------------------------------------------------------------

/// RFC 3339 UTC with microseconds, e.g. "2026-12-06T07:10:00.123456Z".
std::string format_time(audit::AuditTime time) {
    const auto millis = std::chrono::floor<std::chrono::milliseconds>(time);
    std::string text = authevents::bus::format_rfc3339(
        authevents::bus::SysMilliseconds(millis.time_since_epoch()));
    const auto micros = (time - millis).count(); // 0..999
    text.insert(text.size() - 1, std::to_string(1000 + micros).substr(1));
    return text;
}

/// Text from the store on one line, escaped and capped: anyone who can write the database
/// chose it.
std::string printable(std::string_view text, std::size_t max_bytes = 512) {
    return authevents::escape_untrusted(text, max_bytes);
}

/// `json` as one line of printable ASCII (every control and non-ASCII character escaped, invalid
/// UTF-8 replaced), cut to `max_bytes` with "..." when longer (0: no limit).
std::string json_text(const nlohmann::json& json, std::size_t max_bytes = 0) {
    std::string text = json.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
    if (max_bytes > 0 && text.size() > max_bytes) {
        text.resize(max_bytes);
        text += "...";
    }
    return text;
}

void write_line(std::FILE* out, const nlohmann::json& line) {
    const std::string text = json_text(line) + "\n";
    if (std::fwrite(text.data(), 1, text.size(), out) != text.size()) {
        throw std::runtime_error("cannot write the output: " + std::string(std::strerror(errno)));
    }
}

/// The fields every record line has, whether its values are opened or not.
nlohmann::json common_json(const audit::AuditRecord& record) {
    return {{"sequence", record.sequence},
            {"time", format_time(record.time)},
            {"event_type", record.event_type},
            {"event_version", record.event_version},
            {"owasp", record.owasp},
            {"actor", record.actor},
            {"subject", record.subject},
            {"cloud_event_id",
             record.cloud_event_id ? nlohmann::json(*record.cloud_event_id) : nullptr},
            {"hash", audit::to_hex(record.hash)}};
}

/// A record as stored, every field (values sealed), for export and verify: with these fields
/// anyone can recompute the chain.
nlohmann::json record_json(const audit::AuditRecord& record) {
    nlohmann::json json = common_json(record);
    json["time_us"] = record.time.time_since_epoch().count();
    json["source_ip"] = record.source_ip ? nlohmann::json(*record.source_ip) : nullptr;
    json["ip_index"] = record.ip_index ? nlohmann::json(*record.ip_index) : nullptr;
    json["data"] = record.data;
    json["key_scope"] = record.key_scope;
    return json;
}

nlohmann::json checkpoint_json(const audit::Checkpoint& checkpoint) {
    return {{"sequence", checkpoint.sequence},
            {"hash", audit::to_hex(checkpoint.hash)},
            {"cut_before", format_time(checkpoint.cut_before)},
            {"made_at", format_time(checkpoint.made_at)},
            {"deleted", checkpoint.deleted},
            {"signature", audit::to_hex(checkpoint.signature)}};
}

/// Progress of a long run on stderr: nothing for the first second, then at most twice a
/// second; on a terminal one line rewritten in place, otherwise one line each time.
class Progress {
public:
    Progress(std::string label, bool quiet)
        : label_(std::move(label)), quiet_(quiet), terminal_(::isatty(STDERR_FILENO) == 1),
          start_(Clock::now()), last_(start_) {}

    /// `done` records of `total` (0: unknown).
    void update(std::int64_t done, std::int64_t total) {
        if (quiet_) {
            return;
        }
        const auto at = Clock::now();
        if (at - start_ < std::chrono::seconds(1) || at - last_ < std::chrono::milliseconds(500)) {
            return;
        }
        last_ = at;
        shown_ = true;
        const char* start = terminal_ ? "\r" : "";
        const char* end = terminal_ ? "" : "\n";
        if (total > 0) {
            std::fprintf(stderr, "%s%s: %lld of %lld records (%lld%%)%s", start, label_.c_str(),
                         static_cast<long long>(done), static_cast<long long>(total),
                         static_cast<long long>(std::min(done, total) * 100 / total), end);
        } else {
            std::fprintf(stderr, "%s%s: %lld records%s", start, label_.c_str(),
                         static_cast<long long>(done), end);
        }
        std::fflush(stderr);
    }

    /// Ends the line rewritten in place, if one was shown.
    void done() {
        if (shown_ && terminal_) {
            std::fputc('\n', stderr);
        }
        shown_ = false;
    }

    ~Progress() { done(); }
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

private:
    using Clock = std::chrono::steady_clock;
    std::string label_;
    bool quiet_;
    bool terminal_;
    bool shown_ = false;
    Clock::time_point start_;
    Clock::time_point last_;
};

} // namespace

namespace {

/// A store error the tool itself finds (e.g. no such database file): exit status 3.
struct StoreUnavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The store the command line names; `read_only` for commands that only read. A SQLite file
/// must exist and hold an audit store (it is never created, nor tables added to another
/// database).
std::unique_ptr<audit::AuditStore> open_store(const CommandLine& line, bool read_only) {
    if (!line.db.empty() && !line.postgres.empty()) {
        throw Usage("give --db or --postgres, not both");
    }
    if (!line.db.empty()) {
        if (::access(line.db.c_str(), F_OK) != 0) {
            throw StoreUnavailable("no audit database at " + line.db);
        }
        audit::SqliteAuditStoreOptions options;
        options.read_only = true; // checks that the tables exist
        auto store = std::make_unique<audit::SqliteAuditStore>(line.db, options);
        if (read_only) {
            return store;
        }
        store.reset();
        options.read_only = false;
        return std::make_unique<audit::SqliteAuditStore>(line.db, options);
    }
    if (!line.postgres.empty()) {
#ifdef AUTHEVENTS_AUDIT_TOOL_POSTGRES
        return std::make_unique<audit::PostgresAuditStore>(line.postgres);
#else
        throw Usage("--postgres: this authevents-audit was built without PostgreSQL "
                    "(authevents::audit_postgres)");
#endif
    }
    throw Usage(line.command + " needs --db FILE or --postgres CONNINFO");
}

/// The master key of --master-key-file, if given.
std::optional<std::string> master_key(const CommandLine& line) {
    if (line.master_key_file.empty()) {
        return std::nullopt;
    }
    return read_hex_key(line.master_key_file, audit::audit_key_bytes, "a master key");
}

/// A user id: "42" or "user:42".
std::int64_t parse_user_id(const std::string& name, const std::string& text) {
    const std::string digits = text.rfind("user:", 0) == 0 ? text.substr(5) : text;
    return parse_count(name, digits, std::numeric_limits<std::int64_t>::max());
}

// ---- commands -----------------------------------------------------------------------------

int command_verify(audit::AuditStore& store, const CommandLine& line) {
    line.allow({"--head", "--public-key"});
    audit::VerifyOptions options;
    if (const auto head = line.value("--head")) {
        options.expected_head = parse_head(*head);
    }
    if (const auto path = line.value("--public-key")) {
        options.checkpoint_public_key =
            read_hex_key(*path, audit::checkpoint_public_key_bytes, "an Ed25519 public key");
    }
    Progress progress("verify", line.quiet);
    options.progress = [&](const audit::VerifyProgress& at) {
        progress.update(at.records_read, at.total);
    };
    const audit::VerifyReport report = audit::verify(store, options);
    progress.done();
    for (const audit::AuditRecord& gap : report.gaps) {
        std::printf("gap record %lld at %s: events were lost: %s\n",
                    static_cast<long long>(gap.sequence), format_time(gap.time).c_str(),
                    printable(gap.data).c_str());
    }
    if (!report.ok) {
        if (report.first_break) {
            const audit::ChainBreak& at = *report.first_break;
            std::printf(
                "chain BROKEN at sequence %lld: %s: %s\n", static_cast<long long>(at.sequence),
                std::string(audit::to_string(at.kind)).c_str(), printable(at.message).c_str());
            const auto stored = store.read(at.sequence - 1, 1);
            if (!stored.empty() && stored.front().sequence == at.sequence) {
                std::printf("record %lld as stored now: %s\n", static_cast<long long>(at.sequence),
                            json_text(record_json(stored.front()), 8192).c_str());
            } else {
                std::printf("no record is stored at sequence %lld\n",
                            static_cast<long long>(at.sequence));
            }
        } else {
            std::printf("chain NOT verified\n");
        }
        std::printf("intact up to %lld:%s (%lld records checked)\n",
                    static_cast<long long>(report.verified_head.sequence),
                    audit::to_hex(report.verified_head.hash).c_str(),
                    static_cast<long long>(report.records_checked));
        return 1;
    }
    std::printf("chain ok: %lld records verified, %zu checkpoint%s%s, %zu gap record%s\n",
                static_cast<long long>(report.records_checked), report.checkpoints,
                report.checkpoints == 1 ? "" : "s",
                report.signatures_checked ? " (signatures valid)" : "", report.gaps.size(),
                report.gaps.size() == 1 ? "" : "s");
    std::printf("head %lld:%s%s\n", static_cast<long long>(report.verified_head.sequence),
                audit::to_hex(report.verified_head.hash).c_str(),
                report.head_checked ? " (holds the expected head)" : "");
    return 0;
}

/// A record with its values opened, for `query --format jsonl`.
nlohmann::json opened_json(const audit::OpenedRecord& opened) {
    nlohmann::json json = common_json(opened.record);
    json["source_ip"] = opened.source_ip ? nlohmann::json(*opened.source_ip) : nullptr;
    json["data"] = opened.data;
    json["erased"] = opened.erased;
    return json;
}

/// A reference for the table: an "email:<blind index>" shortened to its first 12 digits.
std::string short_ref(const std::string& ref) {
    if (ref.rfind("email:", 0) == 0 && ref.size() > 18) {
        return ref.substr(0, 18) + "...";
    }
    return ref;
}

void print_table_row(const audit::OpenedRecord& opened) {
    const audit::AuditRecord& record = opened.record;
    const std::string data = json_text(opened.data, 1024);
    std::printf("%-8lld %-27s %-29s %-20s %-12s %-21s %-15s %s\n",
                static_cast<long long>(record.sequence), format_time(record.time).c_str(),
                printable(record.event_type, 64).c_str(), printable(record.owasp, 64).c_str(),
                printable(short_ref(record.actor), 64).c_str(),
                printable(short_ref(record.subject), 64).c_str(),
                printable(opened.source_ip.value_or("-"), 64).c_str(), data.c_str());
}

int command_query(audit::AuditStore& store, const CommandLine& line) {
    line.allow({"--user", "--email", "--type", "--from", "--until", "--ip", "--newest", "--oldest",
                "--limit", "--cursor", "--all", "--format"});
    audit::ReaderQuery query;
    const audit::AuditTime at = now();
    if (const auto user = line.value("--user")) {
        query.user_id = parse_user_id("--user", *user);
    }
    query.email = line.value("--email");
    if (query.user_id && query.email) {
        throw Usage("give --user or --email, not both");
    }
    query.event_type = line.value("--type");
    query.ip = line.value("--ip");
    if (const auto from = line.value("--from")) {
        query.from = parse_time("--from", *from, at);
    }
    if (const auto until = line.value("--until")) {
        query.until = parse_time("--until", *until, at);
    }
    if (query.from && query.until && !(*query.from < *query.until)) {
        throw Usage("--from must be before --until");
    }
    if (line.has("--newest") && line.has("--oldest")) {
        throw Usage("give --newest or --oldest, not both");
    }
    query.newest_first = !line.has("--oldest");
    if (const auto limit = line.value("--limit")) {
        query.limit = static_cast<std::size_t>(parse_count("--limit", *limit, 10000));
    }
    if (const auto cursor = line.value("--cursor")) {
        query.cursor = parse_count("--cursor", *cursor, std::numeric_limits<std::int64_t>::max());
    }
    const std::string format = line.value("--format").value_or("table");
    if (format != "table" && format != "jsonl") {
        throw Usage("--format must be table or jsonl");
    }
    const bool all = line.has("--all");

    audit::AuditReader reader(store, master_key(line));
    if (format == "table") {
        std::printf("%-8s %-27s %-29s %-20s %-12s %-21s %-15s %s\n", "SEQ", "TIME", "TYPE", "OWASP",
                    "ACTOR", "SUBJECT", "IP", "DATA");
    }
    Progress progress("query", line.quiet);
    std::int64_t shown = 0;
    std::optional<std::int64_t> next;
    for (;;) {
        const audit::OpenedPage page = reader.query(query);
        for (const audit::OpenedRecord& opened : page.records) {
            if (format == "jsonl") {
                write_line(stdout, opened_json(opened));
            } else {
                print_table_row(opened);
            }
        }
        shown += static_cast<std::int64_t>(page.records.size());
        next = page.next_cursor;
        if (!all || !next) {
            break;
        }
        query.cursor = next;
        progress.update(shown, 0);
    }
    progress.done();
    if (std::fflush(stdout) != 0) {
        throw std::runtime_error("cannot write the output: " + std::string(std::strerror(errno)));
    }
    if (next) {
        std::fprintf(stderr, "authevents-audit: %lld records shown; next page: --cursor %lld\n",
                     static_cast<long long>(shown), static_cast<long long>(*next));
    } else if (!line.quiet) {
        std::fprintf(stderr, "authevents-audit: %lld records\n", static_cast<long long>(shown));
    }
    return 0;
}

int command_erase_user(audit::AuditStore& store, const CommandLine& line) {
    line.allow({"--email"}, 1);
    if (line.words.size() != 1) {
        throw Usage("erase-user needs the user's id");
    }
    const std::int64_t user_id = parse_user_id("the user id", line.words.front());
    const std::vector<std::string> emails = line.values("--email");
    audit::AuditReader reader(store, master_key(line));
    const audit::ErasureReport report = reader.erase_user(user_id, emails);
    if (!report.user_key && report.email_keys == 0) {
        std::printf("nothing to erase: no key for user:%lld%s (never recorded, or already "
                    "erased)\n",
                    static_cast<long long>(user_id),
                    emails.empty() ? "" : " nor for the addresses given");
        return 1;
    }
    std::printf("erased user:%lld: %s, %zu of %zu address key%s; their records stay in the "
                "chain and read as %s\n",
                static_cast<long long>(user_id),
                report.user_key ? "the user's key" : "no user key (already erased)",
                report.email_keys, emails.size(), emails.size() == 1 ? "" : "s",
                std::string(audit::erased_value).c_str());
    return 0;
}

int command_head(audit::AuditStore& store, const CommandLine& line) {
    line.allow({});
    const audit::ChainHead head = store.head();
    std::printf("%lld:%s\n", static_cast<long long>(head.sequence),
                audit::to_hex(head.hash).c_str());
    return 0;
}

int command_export(audit::AuditStore& store, const CommandLine& line) {
    line.allow({"--output"});
    std::FILE* out = stdout;
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(nullptr, &std::fclose);
    if (const auto path = line.value("--output")) {
        file.reset(std::fopen(path->c_str(), "wb"));
        if (!file) {
            throw Usage("cannot create " + *path + ": " + std::strerror(errno));
        }
        out = file.get();
    }
    // The head first: records appended while the export runs are left for the next one, so
    // the head line is exactly the last record exported.
    const audit::ChainHead head = store.head();
    for (const audit::Checkpoint& checkpoint : store.checkpoints()) {
        write_line(out, {{"checkpoint", checkpoint_json(checkpoint)}});
    }
    Progress progress("export", line.quiet);
    const std::int64_t total = store.count();
    std::int64_t after = 0;
    std::int64_t exported = 0;
    while (after < head.sequence) {
        const auto batch = store.read(after, 1000);
        if (batch.empty()) {
            break;
        }
        for (const audit::AuditRecord& record : batch) {
            if (record.sequence > head.sequence) {
                break;
            }
            write_line(out, {{"record", record_json(record)}});
            ++exported;
        }
        after = batch.back().sequence;
        progress.update(exported, total);
    }
    progress.done();
    write_line(out, {{"head",
                      {{"sequence", head.sequence},
                       {"hash", audit::to_hex(head.hash)},
                       {"records", exported},
                       {"exported_at", format_time(now())}}}});
    if (std::fflush(out) != 0) {
        throw std::runtime_error("cannot write the export: " + std::string(std::strerror(errno)));
    }
    return 0;
}

int command_prune(audit::AuditStore& store, const CommandLine& line) {
    line.allow({"--before", "--signing-key"});
    const auto before = line.value("--before");
    if (!before) {
        throw Usage("prune needs --before TIME");
    }
    const audit::AuditTime cut = parse_time("--before", *before, now());
    std::optional<std::string> key;
    if (const auto path = line.value("--signing-key")) {
        key = read_hex_key(*path, audit::checkpoint_secret_key_bytes, "an Ed25519 secret key");
    }
    std::optional<audit::Checkpoint> checkpoint;
    try {
        checkpoint = store.prune(cut, key);
    } catch (...) {
        if (key) {
            sodium_memzero(key->data(), key->size());
        }
        throw;
    }
    if (key) {
        sodium_memzero(key->data(), key->size());
    }
    if (!checkpoint) {
        std::printf("nothing to prune: no record is older than %s\n", format_time(cut).c_str());
        return 0;
    }
    std::printf("pruned %zu records older than %s\ncheckpoint %lld:%s (%s)\n", checkpoint->deleted,
                format_time(cut).c_str(), static_cast<long long>(checkpoint->sequence),
                audit::to_hex(checkpoint->hash).c_str(),
                checkpoint->signature.empty() ? "unsigned" : "signed");
    return 0;
}

/// Creates `path` with `mode`, refusing to overwrite, and writes `text` to it.
void write_new_file(const std::string& path, const std::string& text, mode_t mode) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        throw Usage("cannot create " + path + ": " + std::strerror(errno));
    }
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    if (::close(fd) != 0 || !written) {
        throw std::runtime_error("cannot write " + path);
    }
}

int command_keygen(const CommandLine& line) {
    line.allow({"--secret-key", "--public-key"});
    const auto secret_path = line.value("--secret-key");
    const auto public_path = line.value("--public-key");
    if (!secret_path || !public_path) {
        throw Usage("keygen needs --secret-key F and --public-key F");
    }
    audit::CheckpointKeyPair pair = audit::make_checkpoint_key_pair();
    std::string secret_hex = audit::to_hex(pair.secret_key) + "\n";
    sodium_memzero(pair.secret_key.data(), pair.secret_key.size());
    try {
        write_new_file(*secret_path, secret_hex, 0600);
    } catch (...) {
        sodium_memzero(secret_hex.data(), secret_hex.size());
        throw;
    }
    sodium_memzero(secret_hex.data(), secret_hex.size());
    write_new_file(*public_path, audit::to_hex(pair.public_key) + "\n", 0644);
    std::printf("wrote the secret key to %s (keep it offline; prune --signing-key) and the public "
                "key to %s (verify --public-key)\n",
                secret_path->c_str(), public_path->c_str());
    return 0;
}

} // namespace

namespace {

int run(int argc, char** argv) {
    const CommandLine line = parse_command_line(argc, argv);
    if (line.command == "help") {
        std::fputs(usage, stdout);
        return 0;
    }
    if (line.command == "keygen") {
        return command_keygen(line);
    }
    const std::set<std::string> readers = {"verify", "head", "export", "query"};
    const std::set<std::string> writers = {"erase-user", "prune"};
    if (readers.count(line.command) == 0 && writers.count(line.command) == 0) {
        throw Usage("unknown command '" + printable(line.command, 64) + "'");
    }
    // query may create the blind-index key (a database that never saw an IP has none).
    const auto store = open_store(line, line.command != "query" && readers.count(line.command));
    if (line.command == "verify") {
        return command_verify(*store, line);
    }
    if (line.command == "head") {
        return command_head(*store, line);
    }
    if (line.command == "export") {
        return command_export(*store, line);
    }
    if (line.command == "query") {
        return command_query(*store, line);
    }
    if (line.command == "erase-user") {
        return command_erase_user(*store, line);
    }
    return command_prune(*store, line);
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const Usage& e) {
        std::fprintf(stderr, "authevents-audit: %s (see authevents-audit --help)\n",
                     printable(e.what(), 1024).c_str());
        return 2;
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "authevents-audit: %s\n", printable(e.what(), 1024).c_str());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "authevents-audit: %s\n", printable(e.what(), 1024).c_str());
        return 3;
    }
}
