/// @file
/// PostgresInbox: a transactional inbox in the consumer's own PostgreSQL database. The
/// consumer records each event's id in the same transaction as the database effects of the
/// handlers connected through the inbox, so those effects happen exactly once per consumer
/// group. Part of authevents::postgres (needs libpq).
#pragma once

#include <authevents/bus/dedup.hpp>
#include <authevents/bus/detail/postgres.hpp>
#include <authevents/bus/detail/transactional_inbox.hpp>
#include <authevents/bus/inbox_options.hpp>

#include <libpq-fe.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace authevents::bus {

/// Options of a PostgresInbox: `table` (InboxOptions; at most 63 bytes, in the schema of the
/// connection's search_path) and lock_timeout.
struct PostgresInboxOptions : InboxOptions {
    /// How long a claim waits for another member's transaction that holds the same event's
    /// row (it runs that event right now) before leaving the entry pending for later (the
    /// consumer counts it as busy). Zero: wait until that transaction ends.
    std::chrono::milliseconds lock_timeout{1000};
};

/// A transactional inbox in a PostgreSQL database that your handlers write to. It works as
/// SqliteInbox does (see there): the StreamConsumer's DedupStore, with handlers connected
/// through connect() writing in the transaction that inserts the event's inbox row, so their
/// effects commit exactly once per consumer group, and roll back with the row when a handler
/// throws (the event then runs again).
///
/// Members of one group on several hosts may share the database: two members handed the same
/// event (a relay duplicate, an entry claimed from a slow member) contend for the same primary
/// key; the second waits for the first transaction (at most lock_timeout, then it leaves the
/// entry pending), and skips the event once the first committed. Different events run in
/// parallel. A handler that catches a failed statement and goes on leaves the transaction
/// aborted: PostgreSQL then rolls it back at commit, which the inbox reports as a failure
/// (SQLSTATE 25P02), never as handled. Handlers must not begin, commit or roll back themselves
/// (use SAVEPOINT for a part that may fail alone).
///
/// The connection is reopened when it was lost (a lost connection in the middle of a
/// transaction rolls it back on the server; the consumer retries the event).
///
/// Thread-safety: all members may be called from any thread; one transaction is open at a
/// time on the inbox's single connection, so the consumers sharing one inbox object handle one
/// event at a time (give each consumer its own inbox for parallel handling). Only the thread
/// running a transaction may use its Transaction. Errors throw PostgresError.
class PostgresInbox final : public detail::TransactionalInbox<detail::InboxTransaction<PGconn>> {
public:
    /// The view of the open transaction a transactional handler receives: `connection()` is
    /// the inbox's PGconn, `inbox_key()` the event (null for a local dispatch). Valid during
    /// the handler call only, on its thread.
    using Transaction = detail::InboxTransaction<PGconn>;

    /// Connects with the libpq connection string `conninfo` and creates the inbox table if
    /// it does not exist.
    /// @throws std::invalid_argument for an invalid table name, a negative lock_timeout, or a
    ///         table of another layout.
    /// @throws PostgresError if the connection or the DDL fails.
    explicit PostgresInbox(std::string conninfo, PostgresInboxOptions options = {});

    /// Rolls back a transaction left open, and closes the connection. No other member call
    /// may run concurrently, and no consumer may use the inbox any more.
    ~PostgresInbox() override { rollback(); }

    /// Forgets the inbox rows of events handled at least `age` ago and returns how many.
    /// Choose `age` well beyond the longest redelivery delay: a redelivered event whose row is
    /// gone runs again.
    /// @throws std::invalid_argument for a negative age.
    /// @throws PostgresError if the database fails.
    std::size_t prune(std::chrono::milliseconds age);

    /// How many inbox rows are stored. @throws PostgresError.
    [[nodiscard]] std::size_t size();

    /// The options in use. Thread-safe, never throws.
    [[nodiscard]] const PostgresInboxOptions& options() const noexcept { return options_; }

private:
    bool begin() override;
    detail::InboxInsert insert_key(const DedupKey& key) override;
    void commit() override;
    void rollback() noexcept override;
    bool is_done(const DedupKey& key) override;
    void mark_done(const DedupKey& key) override;
    Transaction make_transaction(const DedupKey* key) override;
    [[noreturn]] void throw_busy() override;

    // The connection, reopened if it was lost (only while no transaction is open).
    PGconn* connection() {
        if (!conn_.ok()) {
            conn_.reset();
            conn_ = detail::PgConnection(conninfo_, "inbox");
        }
        return conn_.get();
    }

    static detail::PgParams key_params(const DedupKey& key) {
        detail::PgParams params;
        params.text(key.stream).text(key.group).text(key.event_id);
        return params;
    }

    std::string conninfo_;
    PostgresInboxOptions options_;
    detail::PgConnection conn_;
    std::string insert_sql_;
    std::string select_sql_;
    std::string begin_sql_;
};

inline PostgresInbox::PostgresInbox(std::string conninfo, PostgresInboxOptions options)
    : conninfo_(std::move(conninfo)), options_(std::move(options)) {
    detail::validate_inbox_options(options_, options_.lock_timeout, "lock_timeout",
                                   detail::pg_validate_identifier);
    const std::string table = detail::pg_quote_identifier(options_.table);
    conn_ = detail::PgConnection(conninfo_, "inbox");
    // Created only when missing (CREATE TABLE IF NOT EXISTS alone logs a notice each start).
    const bool exists =
        !conn_.exec("SELECT to_regclass($1)", detail::PgParams().text(table), "inbox: find table")
             .is_null(0, 0);
    if (!exists) {
        try {
            conn_.exec("CREATE TABLE " + table +
                           " (stream text NOT NULL, consumer_group text NOT NULL, event_id text "
                           "NOT NULL, handled_at timestamptz NOT NULL DEFAULT now(),"
                           " PRIMARY KEY (stream, consumer_group, event_id))",
                       "inbox: create table");
        } catch (const PostgresError& e) {
            // Two processes creating it at once: one wins, the other sees the name taken.
            if (e.sqlstate() != "23505" && e.sqlstate() != "42P07") {
                throw;
            }
        }
    }
    const detail::PgResult layout = conn_.exec(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = $1 AND column_name IN ('stream', 'consumer_group', 'event_id',"
        " 'handled_at')",
        detail::PgParams().text(options_.table), "inbox: check layout");
    if (layout.int64(0, 0) != 4) {
        throw std::invalid_argument("inbox: table '" + options_.table +
                                    "' exists with another layout; give the inbox a table of "
                                    "its own");
    }
    insert_sql_ = "INSERT INTO " + table +
                  " (stream, consumer_group, event_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
    select_sql_ = "SELECT count(*) FROM " + table +
                  " WHERE stream = $1 AND consumer_group = $2 AND event_id = $3";
    begin_sql_ = "BEGIN";
    if (options_.lock_timeout.count() > 0) {
        begin_sql_ += "; SET LOCAL lock_timeout = " + std::to_string(options_.lock_timeout.count());
    }
}

inline std::size_t PostgresInbox::prune(std::chrono::milliseconds age) {
    if (age.count() < 0) {
        throw std::invalid_argument("inbox: prune: the age is negative");
    }
    return transaction([&](Transaction& tx) {
        const detail::PgResult result = detail::pg_exec(
            tx.connection(),
            "DELETE FROM " + detail::pg_quote_identifier(options_.table) +
                " WHERE handled_at <= now() - make_interval(secs => $1::double precision / 1000)",
            detail::PgParams().int64(static_cast<std::int64_t>(age.count())), "inbox: prune");
        return static_cast<std::size_t>(result.affected_rows());
    });
}

inline std::size_t PostgresInbox::size() {
    return transaction([&](Transaction& tx) {
        return static_cast<std::size_t>(
            detail::pg_exec(tx.connection(),
                            "SELECT count(*) FROM " + detail::pg_quote_identifier(options_.table),
                            "inbox: size")
                .int64(0, 0));
    });
}

inline bool PostgresInbox::begin() {
    try {
        detail::pg_exec(connection(), begin_sql_, "inbox: begin");
    } catch (const PostgresError& e) {
        if (!e.connection_lost()) {
            throw;
        }
        conn_.reset(); // lost while idle (e.g. the server restarted): reconnect once
        detail::pg_exec(connection(), begin_sql_, "inbox: begin");
    }
    return true; // PostgreSQL locks rows, not the database: contention shows in insert_key()
}

inline detail::InboxInsert PostgresInbox::insert_key(const DedupKey& key) {
    try {
        const detail::PgResult inserted =
            conn_.exec(insert_sql_, key_params(key), "inbox: insert the event's row");
        if (options_.lock_timeout.count() > 0) {
            conn_.exec("SET LOCAL lock_timeout TO DEFAULT", "inbox: reset lock_timeout");
        }
        return inserted.affected_rows() == 1 ? detail::InboxInsert::inserted
                                             : detail::InboxInsert::present;
    } catch (const PostgresError& e) {
        if (e.sqlstate() == "55P03") { // lock_not_available: another member runs it now
            return detail::InboxInsert::busy;
        }
        throw;
    }
}

inline void PostgresInbox::commit() {
    const detail::PgResult result = conn_.exec("COMMIT", "inbox: commit");
    const char* status = PQcmdStatus(result.get());
    if (status == nullptr || std::strcmp(status, "COMMIT") != 0) {
        detail::throw_postgres("25P02", "inbox: commit",
                               "the transaction had failed (a statement in a handler failed and "
                               "the handler went on), so PostgreSQL rolled it back; nothing of "
                               "it was kept");
    }
}

inline void PostgresInbox::rollback() noexcept {
    PGconn* conn = conn_.get();
    if (conn != nullptr && PQstatus(conn) == CONNECTION_OK &&
        PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PQclear(PQexec(conn, "ROLLBACK"));
    }
}

inline bool PostgresInbox::is_done(const DedupKey& key) {
    const bool in_transaction = conn_.ok() && PQtransactionStatus(conn_.get()) != PQTRANS_IDLE;
    PGconn* conn = in_transaction ? conn_.get() : connection();
    return detail::pg_exec(conn, select_sql_, key_params(key), "inbox: select").int64(0, 0) > 0;
}

inline void PostgresInbox::mark_done(const DedupKey& key) {
    (void)detail::pg_exec(connection(), insert_sql_, key_params(key), "inbox: record");
}

inline PostgresInbox::Transaction PostgresInbox::make_transaction(const DedupKey* key) {
    return Transaction(conn_.get(), key);
}

inline void PostgresInbox::throw_busy() {
    detail::throw_postgres("55P03", "inbox: begin", "the database stayed busy");
}

} // namespace authevents::bus
