/// @file
/// PostgresAuditStore: the audit trail's hash-chained, append-only store in PostgreSQL, for
/// services that run several processes or hosts against one audit trail. Needs libpq (CMake
/// target authevents::audit_postgres).
#pragma once

#include <authevents/audit/detail/postgres_store_checks.hpp>
#include <authevents/audit/detail/postgres_store_query.hpp>
#include <authevents/audit/detail/postgres_store_rows.hpp>
#include <authevents/audit/detail/postgres_store_schema.hpp>
#include <authevents/audit/detail/store_checks.hpp>
#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/audit/store.hpp>
#include <authevents/bus/detail/postgres.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
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
    /// How long an append or prune waits for the chain's lock (held by another appender or
    /// pruner, in this or another process), or any statement for a row lock, before it fails with
    /// AuditStoreError (PostgreSQL's lock_timeout, SQLSTATE 55P03). Must be positive.
    std::chrono::milliseconds lock_timeout{30000};
    /// Whether erase_key() runs VACUUM on the keys table after the erasure commits, so that the
    /// erased key's row is removed at once rather than whenever autovacuum runs. Its bytes may
    /// linger in the page's free space until overwritten, and the write-ahead log, replicas and
    /// backups still hold them (see docs/audit.md). PostgreSQL lets only the table's owner (or
    /// a superuser) vacuum it; for another role it skips the VACUUM with a warning.
    bool vacuum_keys_on_erase = true;
    /// Whether the constructor creates missing tables and indexes (needs the CREATE privilege
    /// on the schema and, for existing tables, their ownership). False: it only checks that
    /// they exist with a compatible version, so the service can run as a role that may append
    /// but neither delete nor rewrite records (see docs/audit.md).
    bool create_schema = true;
    /// Whether the store's sessions are read-only (default_transaction_read_only): for
    /// verifying, querying and exporting a trail that must not be written. Every write then
    /// fails with AuditStoreError (SQLSTATE 25006), and the constructor creates nothing (as with
    /// create_schema = false).
    bool read_only = false;
};

/// The audit trail in PostgreSQL: records, the chain's head, prune checkpoints and sealing
/// keys in four tables of one database (see PostgresAuditStoreOptions::table for their names).
///
/// The chain never forks: append() and prune() lock the one row of the head table
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
/// unreachable host). A connection that goes silent mid-query (a network partition) is noticed
/// only as TCP notices it: set keepalives_idle and tcp_user_timeout in the connection string.
class PostgresAuditStore final : public AuditStore {
public:
    /// The largest `limit` read() accepts.
    static constexpr std::size_t max_read_limit = detail::pg_audit_max_read;
    /// The largest AuditQuery::limit query() accepts.
    static constexpr std::size_t max_query_limit = detail::pg_audit_max_query;

    /// Connects to `conninfo` (a libpq connection string or postgresql:// URI) and creates the
    /// store's tables and indexes if missing (unless PostgresAuditStoreOptions::create_schema
    /// is false or read_only is true): idempotent, and safe when several processes do it at once
    /// (an advisory lock serialises them).
    /// @throws std::invalid_argument for invalid options or an unparsable connection string.
    /// @throws AuditStoreError if the server cannot be reached, the schema cannot be made, or
    /// the tables were made by a newer, incompatible version.
    explicit PostgresAuditStore(const std::string& conninfo, PostgresAuditStoreOptions options = {})
        : options_(std::move(options)) {
        detail::validate_postgres_audit_options(options_.table, options_.connect_timeout,
                                                options_.lock_timeout);
        conninfo_ = detail::pg_audit_conninfo(conninfo, options_.connect_timeout);
        prepare_sql();
        with_connection("create schema", [&](PGconn* conn) {
            const std::int64_t version =
                authevents::detail::pg_exec(conn,
                                            options_.create_schema && !options_.read_only
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
        });
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
        return with_connection("append", [&](PGconn* conn) { return append_in(conn, entries); });
    }

    /// Up to `limit` records with a sequence greater than `after`, oldest first. Thread-safe.
    /// @throws std::invalid_argument unless 1 <= limit <= max_read_limit.
    /// @throws AuditStoreError if the server fails or a stored row cannot be read.
    std::vector<AuditRecord> read(std::int64_t after, std::size_t limit) override {
        detail::check_read_limit(store_name, limit, max_read_limit);
        return with_connection("read", [&](PGconn* conn) {
            return detail::pg_audit_records(
                options_.table,
                authevents::detail::pg_exec(
                    conn, read_sql_,
                    authevents::detail::PgParams().int64(after).int64(clamp_limit(limit)),
                    "postgres audit store: read"));
        });
    }

    /// The records matching `query`, one page at a time (keyset pagination by sequence).
    /// A user filter matches actor or subject through two index scans. A time range with no
    /// other filter is read from the time index or by walking the sequence, whichever the
    /// planner's row estimates say passes fewer records (EXPLAIN of both, planning only).
    /// Thread-safe.
    /// @throws std::invalid_argument for a limit outside 1 to max_query_limit, an empty user,
    /// event_type or ip_index filter, or from not before until.
    /// @throws AuditStoreError if the server fails.
    AuditPage query(const AuditQuery& query) override {
        detail::check_audit_query(store_name, query, max_query_limit);
        const detail::PgAuditQuerySql sql = detail::pg_audit_query_sql(table_, query);
        return with_connection("query", [&](PGconn* conn) {
            const bool indexed = !sql.indexed_sql.empty() &&
                                 detail::pg_time_index_is_cheaper(conn, table_, query, sql);
            AuditPage page;
            page.records = detail::pg_audit_records(
                options_.table,
                authevents::detail::pg_exec(conn, indexed ? sql.indexed_sql : sql.sql, sql.params,
                                            "postgres audit store: query"));
            if (page.records.size() > query.limit) {
                page.records.resize(query.limit);
                page.next_cursor = page.records.back().sequence;
            }
            return page;
        });
    }

    /// The chain's head as the head table records it (kept after prunes that delete every
    /// record). Thread-safe.
    /// @throws AuditStoreError if the server fails.
    ChainHead head() override {
        return with_connection("head", [&](PGconn* conn) { return read_head(conn, false); });
    }

    /// How many records the table holds. Thread-safe.
    /// @throws AuditStoreError if the server fails.
    std::int64_t count() override {
        return with_connection("count", [&](PGconn* conn) {
            return authevents::detail::pg_exec(conn, "SELECT count(*) FROM " + table_,
                                               "postgres audit store: count")
                .int64(0, 0);
        });
    }

    /// Every prune's checkpoint, oldest first. Thread-safe.
    /// @throws AuditStoreError if the server fails or a stored row cannot be read.
    std::vector<Checkpoint> checkpoints() override {
        return with_connection("checkpoints", [&](PGconn* conn) {
            return detail::pg_audit_checkpoints(
                options_.table,
                authevents::detail::pg_exec(conn,
                                            std::string("SELECT ") + detail::pg_checkpoint_columns +
                                                " FROM " + checkpoints_ + " ORDER BY sequence",
                                            "postgres audit store: checkpoints"));
        });
    }

    /// Deletes the oldest records older than `cut_before` (stopping at the first that is not)
    /// and records the checkpoint, in one transaction under the chain's lock. Thread-safe.
    /// @throws std::invalid_argument for a signing key that is not 64 bytes.
    /// @throws AuditStoreError if the server fails (nothing is deleted).
    std::optional<Checkpoint> prune(AuditTime cut_before,
                                    const std::optional<std::string>& signing_secret_key) override {
        detail::check_signing_key(store_name, signing_secret_key);
        return with_connection("prune", [&](PGconn* conn) -> std::optional<Checkpoint> {
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
            checkpoint.hash = detail::pg_audit_hash(options_.table, last.text(0, 1), "record",
                                                    checkpoint.sequence);
            checkpoint.cut_before = cut_before;
            checkpoint.made_at = audit_now();
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
        });
    }

    /// The key stored for `scope`, or std::nullopt. Thread-safe.
    /// @throws std::invalid_argument for an empty scope.
    /// @throws AuditStoreError if the server fails.
    std::optional<std::string> find_key(const std::string& scope) override {
        detail::check_key_scope(store_name, scope, "find_key");
        return with_connection("find_key", [&](PGconn* conn) { return select_key(conn, scope); });
    }

    /// Stores `key` for `scope` unless it has one (INSERT ... ON CONFLICT DO NOTHING, so two
    /// processes racing for a scope agree on one key) and returns the scope's key. Thread-safe.
    /// @throws std::invalid_argument for an empty scope or key.
    /// @throws AuditStoreError if the server fails.
    std::string insert_key(const std::string& scope, const std::string& key) override {
        detail::check_key_scope(store_name, scope, "insert_key");
        detail::check_key(store_name, scope, key);
        return with_connection("insert_key", [&](PGconn* conn) {
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
            throw AuditStoreError("postgres audit store: insert_key: the key of scope '" + scope +
                                  "' was erased as soon as it was stored, 3 times");
        });
    }

    /// Deletes the key of `scope` and clears the ip_index of the scope's records in one
    /// transaction, then (PostgresAuditStoreOptions::vacuum_keys_on_erase) vacuums the keys
    /// table. Returns whether a key was erased. Thread-safe.
    /// @throws std::invalid_argument for an empty scope.
    /// @throws AuditStoreError if the server fails; when only the VACUUM failed, the message
    /// says the key was erased.
    bool erase_key(const std::string& scope) override {
        detail::check_key_scope(store_name, scope, "erase_key");
        const bool erased = with_connection("erase_key", [&](PGconn* conn) {
            authevents::detail::PgTransaction transaction(conn, "postgres audit store: erase_key");
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
        });
        if (erased && options_.vacuum_keys_on_erase) {
            try {
                with_connection("erase_key: vacuum", [&](PGconn* conn) {
                    authevents::detail::pg_exec(conn, "VACUUM " + keys_,
                                                "postgres audit store: erase_key: vacuum");
                    return 0;
                });
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
    // Begins the messages of invalid arguments.
    static constexpr const char* store_name = "postgres audit store";

    void prepare_sql() {
        const std::string& name = options_.table;
        table_ = authevents::detail::pg_quote_identifier(name);
        head_ = authevents::detail::pg_quote_identifier(name + "_head");
        checkpoints_ = authevents::detail::pg_quote_identifier(name + "_checkpoints");
        keys_ = authevents::detail::pg_quote_identifier(name + "_keys");
        schema_sql_ = detail::pg_audit_schema_sql(name);
        read_sql_ = "SELECT " + detail::pg_audit_columns("") + " FROM " + table_ +
                    " WHERE sequence > $1 ORDER BY sequence LIMIT $2";
        insert_sql_ = detail::pg_audit_insert_sql(table_);
    }

    static std::int64_t clamp_limit(std::size_t limit) {
        return static_cast<std::int64_t>(
            std::min<std::size_t>(limit, std::numeric_limits<std::int32_t>::max()));
    }

    // Runs `body(conn)` on the connection (made first if there is none or it broke),
    // serialised. Translates PostgresError into AuditStoreError. When the body failed on a
    // connection that turns out broken before it sent a COMMIT (so nothing it did committed),
    // runs it once more on a new connection.
    template <class Body>
    std::invoke_result_t<Body&, PGconn*> with_connection(std::string_view operation, Body&& body) {
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
                    attempt == 0 && !commit_sent_ && e.connection_lost() && !conn_.ok();
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
                      std::to_string(options_.lock_timeout.count()) +
                      (options_.read_only ? "; SET default_transaction_read_only = on" : ""),
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
        head.hash = detail::pg_audit_hash(options_.table, row.text(0, 1), "head", head.sequence);
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
        detail::PgAuditBatch batch;
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
            batch.add(record);
        }
        result.last_sequence = head.sequence;
        if (result.appended > 0) {
            authevents::detail::pg_exec(conn, insert_sql_, batch.params(),
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
        return detail::pg_audit_bytes(options_.table, row.text(0, 0), "key", 0);
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
