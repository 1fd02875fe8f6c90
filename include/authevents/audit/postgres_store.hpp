/// @file
/// PostgresAuditStore: the audit trail's hash-chained, append-only store in PostgreSQL, for
/// services that run several processes or hosts against one audit trail. Needs libpq (CMake
/// target authevents::audit_postgres).
#pragma once

#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/audit/sqlite_store.hpp> // validate_audit_entry, max_read_limit, max_query_limit
#include <authevents/audit/store.hpp>
#include <authevents/bus/detail/postgres.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace authevents::audit {

/// How a PostgresAuditStore names its tables and bounds its waits. A plain value.
struct PostgresAuditStoreOptions {
    /// The records table's name and the prefix of the store's other tables and indexes
    /// (`<table>_head`, `<table>_checkpoints`, `<table>_keys`, `<table>_by_actor`, ...):
    /// [A-Za-z_][A-Za-z0-9_]* with at most 40 bytes, in the connection's search_path schema;
    /// otherwise std::invalid_argument.
    std::string table = "authevents_audit";
    /// How long to wait for a connection when the connection string sets no connect_timeout.
    /// Must be positive.
    std::chrono::seconds connect_timeout{10};
    /// How long an append, prune or erase waits for the chain's lock (held by another appender,
    /// in this or another process) before it fails with AuditStoreError (PostgreSQL's
    /// lock_timeout, SQLSTATE 55P03). Must be positive.
    std::chrono::milliseconds lock_timeout{30000};
    /// Whether erase_key() runs VACUUM on the keys table after the erasure commits, so that the
    /// erased key's row is removed from the table's pages at once rather than whenever
    /// autovacuum runs (the write-ahead log, replicas and backups still hold it; see
    /// docs/audit.md).
    bool vacuum_keys_on_erase = true;
    /// Whether the constructor creates missing tables and indexes (needs the CREATE privilege
    /// on the schema and, for existing tables, their ownership). False: it only checks that
    /// they exist with a compatible version, so the service can run as a role that may append
    /// but neither delete nor rewrite records (see docs/audit.md).
    bool create_schema = true;
};

} // namespace authevents::audit

namespace authevents::audit::detail {

// Advisory lock key space (two-int form, first key) for the audit store's schema creation.
inline constexpr int pg_audit_schema_lock_class = 0x61657661; // "aeva"
// The schema version this header writes and reads.
inline constexpr int pg_audit_schema_version = 1;

inline void validate_postgres_audit_options(const PostgresAuditStoreOptions& options) {
    authevents::detail::pg_validate_identifier(options.table, "postgres audit store: table");
    if (options.table.size() > 40) {
        throw std::invalid_argument("postgres audit store: table name '" + options.table +
                                    "' is longer than 40 bytes (no room for its derived names)");
    }
    if (options.connect_timeout.count() <= 0) {
        throw std::invalid_argument("postgres audit store: connect_timeout must be positive");
    }
    if (options.lock_timeout.count() <= 0) {
        throw std::invalid_argument("postgres audit store: lock_timeout must be positive");
    }
}

// `conninfo` (key=value or URI) as a key=value string with connect_timeout added unless it
// sets one.
// @throws std::invalid_argument naming libpq's complaint if it cannot be parsed.
inline std::string pg_audit_conninfo(const std::string& conninfo, std::chrono::seconds timeout) {
    char* error = nullptr;
    std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> parsed(
        PQconninfoParse(conninfo.c_str(), &error), &PQconninfoFree);
    if (!parsed) {
        const std::string reason =
            authevents::detail::pg_trimmed(error != nullptr ? error : "out of memory");
        PQfreemem(error);
        throw std::invalid_argument("postgres audit store: invalid connection string: " + reason);
    }
    std::string result;
    bool has_timeout = false;
    for (const PQconninfoOption* option = parsed.get(); option->keyword != nullptr; ++option) {
        if (option->val == nullptr) {
            continue;
        }
        has_timeout = has_timeout || std::string_view(option->keyword) == "connect_timeout";
        result += option->keyword;
        result += "='";
        for (const char* c = option->val; *c != '\0'; ++c) {
            if (*c == '\'' || *c == '\\') {
                result += '\\';
            }
            result += *c;
        }
        result += "' ";
    }
    if (!has_timeout) {
        result += "connect_timeout=" + std::to_string(timeout.count());
    }
    return result;
}

// `values` as a PostgreSQL array literal for `$n::text[]` (NULL for std::nullopt).
inline std::string pg_text_array(const std::vector<std::optional<std::string>>& values) {
    std::string text = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) {
            text += ',';
        }
        if (!values[i]) {
            text += "NULL";
            continue;
        }
        text += '"';
        for (const char c : *values[i]) {
            if (c == '"' || c == '\\') {
                text += '\\';
            }
            text += c;
        }
        text += '"';
    }
    text += '}';
    return text;
}

// Checks `entry` as every store does (validate_audit_entry) and that its text can be stored
// as PostgreSQL text, which cannot hold NUL.
// @throws std::invalid_argument naming the entry and the field.
inline void pg_audit_check_entry(const AuditEntry& entry, std::size_t index) {
    validate_audit_entry(entry, index);
    const auto check = [&](std::string_view value, const char* field) {
        if (value.find('\0') != std::string_view::npos) {
            throw std::invalid_argument("postgres audit store: append: entry " +
                                        std::to_string(index) + "'s " + field +
                                        " holds a NUL byte, which PostgreSQL text cannot store");
        }
    };
    check(entry.event_type, "event_type");
    check(entry.owasp, "owasp");
    check(entry.actor, "actor");
    check(entry.subject, "subject");
    check(entry.source_ip.value_or(""), "source_ip");
    check(entry.ip_index.value_or(""), "ip_index");
    check(entry.data, "data");
    check(entry.cloud_event_id.value_or(""), "cloud_event_id");
    check(entry.key_scope, "key_scope");
}

// The query checks every store makes.
// @throws std::invalid_argument naming the problem.
inline void pg_audit_check_query(const AuditQuery& query) {
    const auto fail = [](const std::string& problem) {
        throw std::invalid_argument("postgres audit store: query: " + problem);
    };
    if (query.limit == 0 || query.limit > max_query_limit) {
        fail("limit " + std::to_string(query.limit) + " is outside 1 to " +
             std::to_string(max_query_limit));
    }
    for (const auto& [filter, name] :
         {std::pair{&query.user, "user"}, std::pair{&query.event_type, "event_type"},
          std::pair{&query.ip_index, "ip_index"}}) {
        if (*filter && (*filter)->empty()) {
            fail(std::string("the ") + name + " filter is empty (std::nullopt matches any)");
        }
    }
    if (query.from && query.until && *query.from >= *query.until) {
        fail("the time range is empty: from is not before until");
    }
}

inline void pg_audit_check_scope(const std::string& scope, const char* operation) {
    if (scope.empty()) {
        throw std::invalid_argument(std::string("postgres audit store: ") + operation +
                                    ": the scope is empty");
    }
}

} // namespace authevents::audit::detail

namespace authevents::audit {

/// The audit trail in PostgreSQL: records, the chain's head, prune checkpoints and sealing
/// keys in four tables of one database (see PostgresAuditStoreOptions::table for their names).
///
/// The chain never forks: append(), prune() and erase_key() lock the one row of the head table
/// (SELECT ... FOR UPDATE) before they read or change the chain, so appenders in any number of
/// threads, processes and hosts take turns, each continuing from the hash the previous one
/// committed. Sequence numbers and hashes are computed here (hash_chain.hpp) and committed with
/// the new head in one transaction. A CloudEvent id is recorded once (a unique column; the
/// lock makes the check and the insert atomic).
///
/// Thread-safe: every member may be called from any thread. The store keeps one connection,
/// serialised by a mutex, and connects again after it breaks. A read that fails on a connection
/// that turns out broken (e.g. the server restarted since its last use) is run once more on a
/// new connection; so is a write that failed before its COMMIT was sent. Every failure throws
/// AuditStoreError naming the store, the operation, PostgreSQL's message and the SQLSTATE; a
/// stopped server gives one at once (a refused connection) or after connect_timeout (an
/// unreachable host), never a hang.
class PostgresAuditStore final : public AuditStore {
public:
    /// Connects to `conninfo` (a libpq connection string or postgresql:// URI) and creates the
    /// store's tables and indexes if missing (unless PostgresAuditStoreOptions::create_schema
    /// is false): idempotent, and safe when several processes do it at once (an advisory lock
    /// serialises them).
    /// @throws std::invalid_argument for invalid options or an unparsable connection string.
    /// @throws AuditStoreError if the server cannot be reached, the schema cannot be made, or
    /// the tables were made by a newer, incompatible version.
    explicit PostgresAuditStore(const std::string& conninfo, PostgresAuditStoreOptions options = {})
        : options_(std::move(options)) {
        detail::validate_postgres_audit_options(options_);
        conninfo_ = detail::pg_audit_conninfo(conninfo, options_.connect_timeout);
        prepare_sql();
        with_connection(
            "create schema",
            [&](PGconn* conn) {
                const std::int64_t version =
                    authevents::detail::pg_exec(conn,
                                                options_.create_schema
                                                    ? schema_sql_
                                                    : "SELECT schema_version FROM " + head_,
                                                "postgres audit store: create schema")
                        .int64(0, 0);
                if (version != detail::pg_audit_schema_version) {
                    throw AuditStoreError("postgres audit store: table '" + options_.table +
                                          "' has schema version " + std::to_string(version) +
                                          ", this version reads version " +
                                          std::to_string(detail::pg_audit_schema_version));
                }
                return 0;
            },
            true);
    }

    PostgresAuditStore(const PostgresAuditStore&) = delete;
    PostgresAuditStore& operator=(const PostgresAuditStore&) = delete;

    /// Closes the connection. Must not run concurrently with another member call.
    ~PostgresAuditStore() override = default;

    /// Appends `entries` in order in one transaction under the chain's lock (see the class).
    /// Thread-safe.
    /// @throws std::invalid_argument for an entry with an empty event_type or data, a
    /// present but empty cloud_event_id, ip_index or source_ip, or a text field holding a NUL
    /// byte (PostgreSQL text cannot).
    /// @throws AuditStoreError if the server fails (text that is not valid UTF-8 is refused
    /// with SQLSTATE 22021), recording none of the batch. When the connection breaks during
    /// COMMIT the store reconnects to learn the outcome and returns normally if the batch
    /// committed; when it cannot learn it, the message says the outcome is unknown.
    AppendResult append(const std::vector<AuditEntry>& entries) override {
        for (std::size_t i = 0; i < entries.size(); ++i) {
            detail::pg_audit_check_entry(entries[i], i);
        }
        return with_connection(
            "append", [&](PGconn* conn) { return append_in(conn, entries); }, true);
    }

    /// Up to `limit` records with a sequence greater than `after`, oldest first. Thread-safe.
    /// @throws std::invalid_argument unless 1 <= limit <= max_read_limit.
    /// @throws AuditStoreError if the server fails or a stored row cannot be read.
    std::vector<AuditRecord> read(std::int64_t after, std::size_t limit) override {
        if (limit == 0 || limit > max_read_limit) {
            throw std::invalid_argument("postgres audit store: read: limit " +
                                        std::to_string(limit) + " is outside 1 to " +
                                        std::to_string(max_read_limit));
        }
        return with_connection(
            "read",
            [&](PGconn* conn) {
                return rows_to_records(authevents::detail::pg_exec(
                    conn, read_sql_,
                    authevents::detail::PgParams().int64(after).int64(clamp_limit(limit)),
                    "postgres audit store: read"));
            },
            true);
    }

    /// The records matching `query`, one page at a time (keyset pagination by sequence).
    /// A user filter matches actor or subject through two index scans. Thread-safe.
    /// @throws std::invalid_argument for a limit outside 1 to max_query_limit, an empty user,
    /// event_type or ip_index filter, or from not before until.
    /// @throws AuditStoreError if the server fails.
    AuditPage query(const AuditQuery& query) override {
        detail::pg_audit_check_query(query);
        authevents::detail::PgParams params;
        int next = 1;
        std::string where;
        const auto add = [&](const std::string& condition) {
            where += " AND " + condition + std::to_string(next++);
        };
        if (query.event_type) {
            add("event_type = $");
            params.text(*query.event_type);
        }
        if (query.ip_index) {
            add("ip_index = $");
            params.text(*query.ip_index);
        }
        if (query.from) {
            add("time_us >= $");
            params.int64(query.from->time_since_epoch().count());
        }
        if (query.until) {
            add("time_us < $");
            params.int64(query.until->time_since_epoch().count());
        }
        if (query.cursor) {
            add(query.newest_first ? "sequence < $" : "sequence > $");
            params.int64(*query.cursor);
        }
        const std::string order =
            query.newest_first ? " ORDER BY sequence DESC" : " ORDER BY sequence";
        const std::string limit = " LIMIT " + std::to_string(query.limit + 1);
        std::string sql;
        if (query.user) {
            const std::string user = "$" + std::to_string(next++);
            params.text(*query.user);
            sql = "SELECT " + columns("matched.") + " FROM ((SELECT * FROM " + table_ +
                  " WHERE actor = " + user + where + order + limit + ") UNION (SELECT * FROM " +
                  table_ + " WHERE subject = " + user + where + order + limit + ")) AS matched" +
                  order + limit;
        } else {
            sql =
                "SELECT " + columns("") + " FROM " + table_ + " WHERE true" + where + order + limit;
        }
        return with_connection(
            "query",
            [&](PGconn* conn) {
                AuditPage page;
                page.records = rows_to_records(
                    authevents::detail::pg_exec(conn, sql, params, "postgres audit store: query"));
                if (page.records.size() > query.limit) {
                    page.records.resize(query.limit);
                    page.next_cursor = page.records.back().sequence;
                }
                return page;
            },
            true);
    }

    /// The chain's head as the head table records it (kept after prunes that delete every
    /// record). Thread-safe.
    /// @throws AuditStoreError if the server fails.
    ChainHead head() override {
        return with_connection(
            "head", [&](PGconn* conn) { return read_head(conn, false); }, true);
    }

    /// How many records the table holds. Thread-safe.
    /// @throws AuditStoreError if the server fails.
    std::int64_t count() override {
        return with_connection(
            "count",
            [&](PGconn* conn) {
                return authevents::detail::pg_exec(conn, "SELECT count(*) FROM " + table_,
                                                   "postgres audit store: count")
                    .int64(0, 0);
            },
            true);
    }

    /// Every prune's checkpoint, oldest first. Thread-safe.
    /// @throws AuditStoreError if the server fails or a stored row cannot be read.
    std::vector<Checkpoint> checkpoints() override {
        return with_connection(
            "checkpoints",
            [&](PGconn* conn) {
                const authevents::detail::PgResult rows = authevents::detail::pg_exec(
                    conn,
                    "SELECT sequence, encode(hash, 'hex'), cut_before_us, made_at_us, deleted, "
                    "encode(signature, 'hex') FROM " +
                        checkpoints_ + " ORDER BY sequence",
                    "postgres audit store: checkpoints");
                std::vector<Checkpoint> result;
                result.reserve(static_cast<std::size_t>(rows.rows()));
                for (int row = 0; row < rows.rows(); ++row) {
                    Checkpoint checkpoint;
                    checkpoint.sequence = rows.int64(row, 0);
                    checkpoint.hash =
                        stored_hash(rows.text(row, 1), "checkpoint", checkpoint.sequence);
                    checkpoint.cut_before = AuditTime(Microseconds(rows.int64(row, 2)));
                    checkpoint.made_at = AuditTime(Microseconds(rows.int64(row, 3)));
                    checkpoint.deleted = static_cast<std::size_t>(rows.int64(row, 4));
                    checkpoint.signature =
                        stored_bytes(rows.text(row, 5), "signature", checkpoint.sequence);
                    result.push_back(std::move(checkpoint));
                }
                return result;
            },
            true);
    }

    /// Deletes the oldest records older than `cut_before` (stopping at the first that is not)
    /// and records the checkpoint, in one transaction under the chain's lock. Thread-safe.
    /// @throws std::invalid_argument for a signing key that is not 64 bytes.
    /// @throws AuditStoreError if the server fails (nothing is deleted).
    std::optional<Checkpoint> prune(AuditTime cut_before,
                                    const std::optional<std::string>& signing_secret_key) override {
        if (signing_secret_key && signing_secret_key->size() != checkpoint_secret_key_bytes) {
            throw std::invalid_argument("postgres audit store: prune: the signing key has " +
                                        std::to_string(signing_secret_key->size()) +
                                        " bytes, an Ed25519 secret key has " +
                                        std::to_string(checkpoint_secret_key_bytes));
        }
        return with_connection(
            "prune",
            [&](PGconn* conn) -> std::optional<Checkpoint> {
                authevents::detail::PgTransaction transaction(conn, "postgres audit store: prune");
                read_head(conn, true);
                const std::int64_t cut = cut_before.time_since_epoch().count();
                const authevents::detail::PgResult last = authevents::detail::pg_exec(
                    conn,
                    "SELECT sequence, encode(hash, 'hex') FROM " + table_ +
                        " WHERE sequence < coalesce((SELECT sequence FROM " + table_ +
                        " WHERE time_us >= $1 ORDER BY sequence LIMIT 1), " +
                        std::to_string(std::numeric_limits<std::int64_t>::max()) +
                        ") ORDER BY sequence DESC LIMIT 1",
                    authevents::detail::PgParams().int64(cut), "postgres audit store: prune");
                if (last.rows() == 0) {
                    return std::nullopt;
                }
                Checkpoint checkpoint;
                checkpoint.sequence = last.int64(0, 0);
                checkpoint.hash = stored_hash(last.text(0, 1), "record", checkpoint.sequence);
                checkpoint.cut_before = cut_before;
                checkpoint.made_at =
                    std::chrono::time_point_cast<Microseconds>(std::chrono::system_clock::now());
                checkpoint.deleted = static_cast<std::size_t>(
                    authevents::detail::pg_exec(
                        conn, "DELETE FROM " + table_ + " WHERE sequence <= $1",
                        authevents::detail::PgParams().int64(checkpoint.sequence),
                        "postgres audit store: prune: delete")
                        .affected_rows());
                if (signing_secret_key) {
                    checkpoint.signature = sign_checkpoint(checkpoint, *signing_secret_key);
                }
                authevents::detail::pg_exec(
                    conn,
                    "INSERT INTO " + checkpoints_ +
                        " (sequence, hash, cut_before_us, made_at_us, deleted, signature) VALUES "
                        "($1, decode($2, 'hex'), $3, $4, $5, decode($6, 'hex'))",
                    authevents::detail::PgParams()
                        .int64(checkpoint.sequence)
                        .text(to_hex(checkpoint.hash))
                        .int64(checkpoint.cut_before.time_since_epoch().count())
                        .int64(checkpoint.made_at.time_since_epoch().count())
                        .int64(static_cast<std::int64_t>(checkpoint.deleted))
                        .text(to_hex(checkpoint.signature)),
                    "postgres audit store: prune: record checkpoint");
                commit(transaction);
                return checkpoint;
            },
            true);
    }

    /// The key stored for `scope`, or std::nullopt. Thread-safe.
    /// @throws std::invalid_argument for an empty scope.
    /// @throws AuditStoreError if the server fails.
    std::optional<std::string> find_key(const std::string& scope) override {
        detail::pg_audit_check_scope(scope, "find_key");
        return with_connection(
            "find_key", [&](PGconn* conn) { return select_key(conn, scope); }, true);
    }

    /// Stores `key` for `scope` unless it has one (INSERT ... ON CONFLICT DO NOTHING, so two
    /// processes racing for a scope agree on one key) and returns the scope's key. Thread-safe.
    /// @throws std::invalid_argument for an empty scope or key.
    /// @throws AuditStoreError if the server fails.
    std::string insert_key(const std::string& scope, const std::string& key) override {
        if (scope.empty() || key.empty()) {
            throw std::invalid_argument("postgres audit store: insert_key: the scope and the key "
                                        "must not be empty");
        }
        return with_connection(
            "insert_key",
            [&](PGconn* conn) {
                // Erased between the insert and the select by another process: insert again.
                for (int attempt = 0; attempt < 3; ++attempt) {
                    authevents::detail::pg_exec(
                        conn,
                        "INSERT INTO " + keys_ +
                            " (scope, key) VALUES ($1, decode($2, "
                            "'hex')) ON CONFLICT (scope) DO NOTHING",
                        authevents::detail::PgParams().text(scope).text(to_hex(key)),
                        "postgres audit store: insert_key");
                    if (std::optional<std::string> stored = select_key(conn, scope)) {
                        return *stored;
                    }
                }
                throw AuditStoreError("postgres audit store: insert_key: the key of scope '" +
                                      scope + "' was erased as soon as it was stored, 3 times");
            },
            true);
    }

    /// Deletes the key of `scope` and clears the ip_index of the scope's records in one
    /// transaction, then (PostgresAuditStoreOptions::vacuum_keys_on_erase) vacuums the keys
    /// table. Returns whether a key was erased. Thread-safe.
    /// @throws std::invalid_argument for an empty scope.
    /// @throws AuditStoreError if the server fails; when only the VACUUM failed, the message
    /// says the key was erased.
    bool erase_key(const std::string& scope) override {
        detail::pg_audit_check_scope(scope, "erase_key");
        const bool erased = with_connection(
            "erase_key",
            [&](PGconn* conn) {
                authevents::detail::PgTransaction transaction(conn,
                                                              "postgres audit store: erase_key");
                const bool deleted =
                    authevents::detail::pg_exec(conn, "DELETE FROM " + keys_ + " WHERE scope = $1",
                                                authevents::detail::PgParams().text(scope),
                                                "postgres audit store: erase_key")
                        .affected_rows() > 0;
                authevents::detail::pg_exec(
                    conn,
                    "UPDATE " + table_ +
                        " SET ip_index = NULL WHERE key_scope = $1 AND ip_index IS NOT NULL",
                    authevents::detail::PgParams().text(scope),
                    "postgres audit store: erase_key: clear ip_index");
                commit(transaction);
                return deleted;
            },
            true);
        if (erased && options_.vacuum_keys_on_erase) {
            try {
                with_connection(
                    "erase_key: vacuum",
                    [&](PGconn* conn) {
                        authevents::detail::pg_exec(conn, "VACUUM " + keys_,
                                                    "postgres audit store: erase_key: vacuum");
                        return 0;
                    },
                    true);
            } catch (const AuditStoreError& e) {
                throw AuditStoreError("postgres audit store: the key of scope '" + scope +
                                      "' was erased, but " + e.what());
            }
        }
        return erased;
    }

    /// The options in use. Thread-safe; never throws.
    [[nodiscard]] const PostgresAuditStoreOptions& options() const noexcept { return options_; }

private:
    // The record columns in the order rows_to_records reads them, qualified by `prefix`.
    static std::string columns(const std::string& prefix) {
        std::string text;
        for (const char* column :
             {"sequence", "time_us", "event_type", "event_version", "owasp", "actor", "subject",
              "source_ip", "ip_index", "data", "cloud_event_id", "key_scope"}) {
            text += prefix + column + ", ";
        }
        return text + "encode(" + prefix + "hash, 'hex')";
    }

    void prepare_sql() {
        using authevents::detail::pg_quote_identifier;
        const std::string& name = options_.table;
        table_ = pg_quote_identifier(name);
        head_ = pg_quote_identifier(name + "_head");
        checkpoints_ = pg_quote_identifier(name + "_checkpoints");
        keys_ = pg_quote_identifier(name + "_keys");
        const auto index = [&](const std::string& suffix, const std::string& definition) {
            return "CREATE INDEX IF NOT EXISTS " + pg_quote_identifier(name + suffix) + " ON " +
                   table_ + ' ' + definition + ';';
        };
        schema_sql_ =
            "SET LOCAL client_min_messages = warning; SELECT pg_advisory_xact_lock(" +
            std::to_string(detail::pg_audit_schema_lock_class) + ", hashtext('" + name + "'));" +
            "CREATE TABLE IF NOT EXISTS " + table_ +
            " (sequence bigint PRIMARY KEY, time_us bigint NOT NULL, event_type text NOT NULL, "
            "event_version integer NOT NULL, owasp text NOT NULL, actor text NOT NULL, subject "
            "text NOT NULL, source_ip text, ip_index text, data text NOT NULL, cloud_event_id "
            "text UNIQUE, key_scope text NOT NULL, hash bytea NOT NULL CHECK (length(hash) = "
            "32));" +
            index("_by_actor", "(actor, sequence)") + index("_by_subject", "(subject, sequence)") +
            index("_by_type", "(event_type, sequence)") +
            index("_by_ip", "(ip_index, sequence) WHERE ip_index IS NOT NULL") +
            index("_by_time", "(time_us, sequence)") +
            index("_by_scope", "(key_scope) WHERE ip_index IS NOT NULL") +
            "CREATE TABLE IF NOT EXISTS " + head_ +
            " (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), sequence bigint NOT "
            "NULL, hash bytea NOT NULL, schema_version integer NOT NULL);" +
            "INSERT INTO " + head_ + " VALUES (true, 0, decode('" + std::string(64, '0') +
            "', 'hex'), " + std::to_string(detail::pg_audit_schema_version) +
            ") ON CONFLICT DO NOTHING;" + "CREATE TABLE IF NOT EXISTS " + checkpoints_ +
            " (sequence bigint PRIMARY KEY, hash bytea NOT NULL, cut_before_us bigint NOT NULL, "
            "made_at_us bigint NOT NULL, deleted bigint NOT NULL, signature bytea NOT NULL);" +
            "CREATE TABLE IF NOT EXISTS " + keys_ +
            " (scope text PRIMARY KEY, key bytea NOT NULL);" + "SELECT schema_version FROM " +
            head_;
        read_sql_ = "SELECT " + columns("") + " FROM " + table_ +
                    " WHERE sequence > $1 ORDER BY sequence LIMIT $2";
        insert_sql_ =
            "INSERT INTO " + table_ +
            " (sequence, time_us, event_type, event_version, owasp, actor, subject, source_ip, "
            "ip_index, data, cloud_event_id, key_scope, hash) SELECT s, t, et, ev, o, a, su, ip, "
            "ii, d, ce, ks, decode(h, 'hex') FROM unnest($1::bigint[], $2::bigint[], $3::text[], "
            "$4::integer[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], "
            "$10::text[], $11::text[], $12::text[], $13::text[]) AS u(s, t, et, ev, o, a, su, ip, "
            "ii, d, ce, ks, h)";
    }

    static std::int64_t clamp_limit(std::size_t limit) {
        return static_cast<std::int64_t>(
            std::min<std::size_t>(limit, std::numeric_limits<std::int32_t>::max()));
    }

    // Runs `body(conn)` on the connection (made first if there is none or it broke),
    // serialised. Translates PostgresError into AuditStoreError. When `retry` and the body
    // failed on a connection that turns out broken before it sent a COMMIT, runs it once more
    // on a new connection.
    template <class Body>
    std::invoke_result_t<Body&, PGconn*> with_connection(std::string_view operation, Body&& body,
                                                         bool retry) {
        const std::lock_guard<std::mutex> lock(mutex_);
        for (int attempt = 0;; ++attempt) {
            commit_sent_ = false;
            try {
                if (!conn_.ok()) {
                    connect();
                }
                return body(conn_.get());
            } catch (const bus::PostgresError& e) {
                const bool again =
                    retry && attempt == 0 && !commit_sent_ && e.connection_lost() && !conn_.ok();
                if (!again) {
                    throw AuditStoreError(std::string(e.what()).find("postgres audit store") == 0
                                              ? std::string(e.what())
                                              : "postgres audit store: " + std::string(operation) +
                                                    ": " + e.what());
                }
            }
        }
    }

    // Call with mutex_ held.
    void connect() {
        conn_.reset();
        authevents::detail::PgConnection conn(conninfo_, "postgres audit store");
        conn.exec("SET client_encoding = 'UTF8'; SET client_min_messages = warning; SET "
                  "lock_timeout = " +
                      std::to_string(options_.lock_timeout.count()),
                  "postgres audit store: set up the session");
        conn_ = std::move(conn);
    }

    // COMMIT, noting that it was sent (a broken connection then leaves the outcome unknown).
    void commit(authevents::detail::PgTransaction& transaction) {
        commit_sent_ = true;
        transaction.commit();
    }

    ChainHead read_head(PGconn* conn, bool lock) {
        const authevents::detail::PgResult row = authevents::detail::pg_exec(
            conn,
            "SELECT sequence, encode(hash, 'hex') FROM " + head_ + (lock ? " FOR UPDATE" : ""),
            "postgres audit store: read the chain's head");
        if (row.rows() != 1) {
            throw AuditStoreError("postgres audit store: the head table " + head_ + " holds " +
                                  std::to_string(row.rows()) + " rows instead of one");
        }
        ChainHead head;
        head.sequence = row.int64(0, 0);
        head.hash = stored_hash(row.text(0, 1), "head", head.sequence);
        return head;
    }

    AppendResult append_in(PGconn* conn, const std::vector<AuditEntry>& entries) {
        authevents::detail::PgTransaction transaction(conn, "postgres audit store: append");
        ChainHead head = read_head(conn, true);
        AppendResult result;
        // CloudEvent ids recorded already (a replay), and repeated within the batch.
        std::vector<std::optional<std::string>> ids;
        for (const AuditEntry& entry : entries) {
            if (entry.cloud_event_id) {
                ids.emplace_back(entry.cloud_event_id);
            }
        }
        std::vector<std::string> seen;
        if (!ids.empty()) {
            const authevents::detail::PgResult known = authevents::detail::pg_exec(
                conn,
                "SELECT cloud_event_id FROM " + table_ + " WHERE cloud_event_id = ANY($1::text[])",
                authevents::detail::PgParams().text(detail::pg_text_array(ids)),
                "postgres audit store: append: look up CloudEvent ids");
            for (int row = 0; row < known.rows(); ++row) {
                seen.push_back(known.text(row, 0));
            }
            std::sort(seen.begin(), seen.end());
        }
        std::vector<std::optional<std::string>> columns[13];
        AuditRecord record;
        for (const AuditEntry& entry : entries) {
            if (entry.cloud_event_id) {
                const auto at = std::lower_bound(seen.begin(), seen.end(), *entry.cloud_event_id);
                if (at != seen.end() && *at == *entry.cloud_event_id) {
                    ++result.duplicates;
                    continue;
                }
                seen.insert(at, *entry.cloud_event_id);
            }
            static_cast<AuditEntry&>(record) = entry;
            record.sequence = head.sequence + 1;
            record.hash = chain_hash(record, head.hash);
            head.sequence = record.sequence;
            head.hash = record.hash;
            ++result.appended;
            columns[0].emplace_back(std::to_string(record.sequence));
            columns[1].emplace_back(std::to_string(record.time.time_since_epoch().count()));
            columns[2].emplace_back(record.event_type);
            columns[3].emplace_back(std::to_string(record.event_version));
            columns[4].emplace_back(record.owasp);
            columns[5].emplace_back(record.actor);
            columns[6].emplace_back(record.subject);
            columns[7].emplace_back(record.source_ip);
            columns[8].emplace_back(record.ip_index);
            columns[9].emplace_back(record.data);
            columns[10].emplace_back(record.cloud_event_id);
            columns[11].emplace_back(record.key_scope);
            columns[12].emplace_back(to_hex(record.hash));
        }
        result.last_sequence = head.sequence;
        if (result.appended > 0) {
            authevents::detail::PgParams params;
            for (const auto& column : columns) {
                params.text(detail::pg_text_array(column));
            }
            authevents::detail::pg_exec(conn, insert_sql_, params,
                                        "postgres audit store: append: insert");
            authevents::detail::pg_exec(
                conn, "UPDATE " + head_ + " SET sequence = $1, hash = decode($2, 'hex')",
                authevents::detail::PgParams().int64(head.sequence).text(to_hex(head.hash)),
                "postgres audit store: append: move the head");
            commit_append(transaction, head);
        }
        return result;
    }

    // Commits an append that would make `head` the chain's head. When the connection breaks
    // during COMMIT, asks a new connection whether it committed. Call with mutex_ held.
    // @throws AuditStoreError unless the append committed.
    void commit_append(authevents::detail::PgTransaction& transaction, const ChainHead& head) {
        try {
            commit(transaction);
            return;
        } catch (const bus::PostgresError& e) {
            if (!e.connection_lost() || conn_.ok()) {
                throw;
            }
        }
        try {
            connect();
            const authevents::detail::PgResult row = authevents::detail::pg_exec(
                conn_.get(), "SELECT encode(hash, 'hex') FROM " + table_ + " WHERE sequence = $1",
                authevents::detail::PgParams().int64(head.sequence),
                "postgres audit store: append: check the outcome of a broken COMMIT");
            if (row.rows() == 1 && row.text(0, 0) == to_hex(head.hash)) {
                return; // it committed
            }
        } catch (const bus::PostgresError& e) {
            conn_.reset();
            throw AuditStoreError(
                "postgres audit store: append: the connection broke during COMMIT and the "
                "server cannot be asked whether the batch up to sequence " +
                std::to_string(head.sequence) + " committed (" + e.what() +
                "): its outcome is unknown");
        }
        throw AuditStoreError("postgres audit store: append: the connection broke during "
                              "COMMIT; the batch did not commit");
    }

    std::optional<std::string> select_key(PGconn* conn, const std::string& scope) {
        const authevents::detail::PgResult row = authevents::detail::pg_exec(
            conn, "SELECT encode(key, 'hex') FROM " + keys_ + " WHERE scope = $1",
            authevents::detail::PgParams().text(scope), "postgres audit store: find_key");
        if (row.rows() == 0) {
            return std::nullopt;
        }
        return stored_bytes(row.text(0, 0), "key", 0);
    }

    std::vector<AuditRecord> rows_to_records(const authevents::detail::PgResult& rows) {
        std::vector<AuditRecord> records;
        records.reserve(static_cast<std::size_t>(rows.rows()));
        const auto optional = [&](int row, int column) -> std::optional<std::string> {
            if (rows.is_null(row, column)) {
                return std::nullopt;
            }
            return rows.text(row, column);
        };
        for (int row = 0; row < rows.rows(); ++row) {
            AuditRecord record;
            record.sequence = rows.int64(row, 0);
            record.time = AuditTime(Microseconds(rows.int64(row, 1)));
            record.event_type = rows.text(row, 2);
            record.event_version = static_cast<int>(rows.int64(row, 3)); // an integer column
            record.owasp = rows.text(row, 4);
            record.actor = rows.text(row, 5);
            record.subject = rows.text(row, 6);
            record.source_ip = optional(row, 7);
            record.ip_index = optional(row, 8);
            record.data = rows.text(row, 9);
            record.cloud_event_id = optional(row, 10);
            record.key_scope = rows.text(row, 11);
            record.hash = stored_hash(rows.text(row, 12), "record", record.sequence);
            records.push_back(std::move(record));
        }
        return records;
    }

    // A bytea column read as hex; `what` and `sequence` name it in the error.
    std::string stored_bytes(const std::string& hex, const char* what,
                             std::int64_t sequence) const {
        std::optional<std::string> bytes = from_hex(hex);
        if (!bytes) {
            throw AuditStoreError("postgres audit store: the " + std::string(what) + " of " +
                                  std::to_string(sequence) + " in " + options_.table +
                                  " is not readable hex");
        }
        return std::move(*bytes);
    }

    Sha256 stored_hash(const std::string& hex, const char* what, std::int64_t sequence) const {
        const std::optional<Sha256> hash = sha256_from_hex(hex);
        if (!hash) {
            throw AuditStoreError("postgres audit store: " + std::string(what) + " " +
                                  std::to_string(sequence) + " in " + options_.table +
                                  " has a hash of " + std::to_string(hex.size() / 2) +
                                  " bytes instead of 32");
        }
        return *hash;
    }

    std::string conninfo_;
    PostgresAuditStoreOptions options_;
    std::string table_;
    std::string head_;
    std::string checkpoints_;
    std::string keys_;
    std::string schema_sql_;
    std::string read_sql_;
    std::string insert_sql_;

    std::mutex mutex_; // guards the members below
    authevents::detail::PgConnection conn_;
    bool commit_sent_ = false; // the current with_connection body sent COMMIT
};

} // namespace authevents::audit
