/// @file
/// PostgresOutbox: the transactional outbox in the service's own PostgreSQL database. The
/// service appends events in its own transaction (append_in), so they commit or roll back with
/// its data; an OutboxRelay publishes them to Redis. Needs libpq (target authevents::postgres).
/// Its options are in postgres_outbox_options.hpp (included).
#pragma once

#include <authevents/bus/backoff.hpp>
#include <authevents/bus/cloudevent.hpp>
#include <authevents/bus/detail/postgres.hpp>
#include <authevents/bus/detail/postgres_outbox_watch.hpp>
#include <authevents/bus/outbox_source.hpp>
#include <authevents/bus/postgres_outbox_options.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace authevents::bus {

/// The transactional outbox in PostgreSQL: a durable, ordered queue of events in a table of
/// the service's own database.
///
/// The service appends with append_in(conn, ...) on its own connection inside its own
/// transaction, so an event commits or rolls back with the service's data (a rolled-back
/// registration publishes nothing; a committed one is published). Each append notifies the
/// channel (LISTEN/NOTIFY, delivered at commit) so that relays wake at once.
///
/// An OutboxRelay publishes from it. Several relays (threads or processes, each with its own
/// PostgresOutbox) may run on one table: the relay lease is a session advisory lock, so one
/// relay publishes at a time and the others wait, taking over within a poll interval when it
/// stops or its session ends (a crashed relay's session ends with its connection). A batch is
/// claimed with SELECT ... FOR UPDATE SKIP LOCKED in a transaction that stays open while the
/// relay publishes it and commits with the records marked published, so a relay killed
/// mid-batch, or a server restart, leaves the batch pending to be published again (at least
/// once; consumers drop duplicates by id).
///
/// Order: records go out in sequence order. Sequences are taken at insert, so events of one
/// transaction, and of transactions that committed one after another, reach the stream in
/// that order; events of transactions running at the same time may go out in either order.
///
/// Thread-safe: every member may be called from any thread. The object keeps two connections
/// (made again after a failure): one for the relay's members, one for the others, each
/// serialised by its own mutex. Failures throw PostgresError naming the operation and the
/// SQLSTATE.
class PostgresOutbox final : public OutboxSource {
public:
    /// Connects to `conninfo` (a libpq connection string or URI) and creates the table, its
    /// index (and the archive table for OutboxRetention::archive) if missing.
    /// @throws std::invalid_argument for invalid options.
    /// @throws PostgresError if the server cannot be reached or the schema cannot be made.
    explicit PostgresOutbox(std::string conninfo, PostgresOutboxOptions options = {})
        : conninfo_(std::move(conninfo)), options_(std::move(options)) {
        detail::validate_outbox_options(options_);
        const std::string table = detail::pg_quote_identifier(options_.table);
        const std::string columns = "sequence, event_id, type, payload, created_at_ms, attempts";
        claim_sql_ = "SELECT " + columns + " FROM " + table +
                     " WHERE published_at_ms IS NULL ORDER BY sequence LIMIT $1 FOR UPDATE "
                     "SKIP LOCKED";
        const std::string chosen = "sequence = ANY($1::bigint[])";
        switch (options_.retention) {
        case OutboxRetention::delete_published:
            mark_sql_ = "DELETE FROM " + table + " WHERE " + chosen;
            break;
        case OutboxRetention::archive:
            mark_sql_ = "WITH moved AS (DELETE FROM " + table + " WHERE " + chosen + " RETURNING " +
                        columns + ") INSERT INTO " +
                        detail::pg_quote_identifier(options_.table + "_archive") + " (" + columns +
                        ", published_at_ms) SELECT " + columns + ", " + detail::pg_now_ms +
                        " FROM moved ON CONFLICT (sequence) DO NOTHING";
            break;
        case OutboxRetention::keep:
            mark_sql_ = "UPDATE " + table + " SET published_at_ms = coalesce(published_at_ms, " +
                        detail::pg_now_ms + ") WHERE " + chosen;
            break;
        }
        failure_sql_ =
            "UPDATE " + table + " SET attempts = attempts + 1, last_error = $2 WHERE " + chosen;
        const std::string lease_key =
            std::to_string(detail::pg_lease_lock_class) + ", hashtext('" + options_.table + "')";
        lock_sql_ = "SELECT pg_try_advisory_lock(" + lease_key + ")";
        unlock_sql_ = "SELECT pg_advisory_unlock(" + lease_key + ")";
        next_prune_.store(std::chrono::steady_clock::now() + options_.prune_interval);
        with_query([&](PGconn* conn) {
            create_schema(conn, options_);
            return 0;
        });
    }

    PostgresOutbox(const PostgresOutbox&) = delete;
    PostgresOutbox& operator=(const PostgresOutbox&) = delete;

    /// Closes the connections (an open claim rolls back; the server releases the lease).
    /// Must not run concurrently with another member call.
    ~PostgresOutbox() override = default;

    /// Creates the outbox table and its index (and `<table>_archive` for
    /// OutboxRetention::archive) in `conn`'s database if missing: idempotent, safe when several
    /// processes run it at once (an advisory lock serialises them). Runs in the caller's
    /// transaction if one is open (its notices below warning are then silenced until it ends).
    /// Thread-safety is that of `conn`.
    /// @throws std::invalid_argument for invalid options.
    /// @throws PostgresError if the server fails.
    static void create_schema(PGconn* conn, const PostgresOutboxOptions& options = {}) {
        detail::validate_outbox_options(options);
        const std::string table = detail::pg_quote_identifier(options.table);
        // No "already exists, skipping" notices (until the end of the transaction).
        std::string script =
            "SET LOCAL client_min_messages = warning; SELECT pg_advisory_xact_lock(" +
            std::to_string(detail::pg_schema_lock_class) + ", hashtext('" + options.table + "'));";
        script += "CREATE TABLE IF NOT EXISTS " + table +
                  " (sequence bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                  "event_id text NOT NULL UNIQUE, type text NOT NULL, payload text NOT NULL, "
                  "created_at_ms bigint NOT NULL, published_at_ms bigint, "
                  "attempts integer NOT NULL DEFAULT 0, last_error text);";
        // What relays claim: the unpublished records by sequence.
        script += "CREATE INDEX IF NOT EXISTS " +
                  detail::pg_quote_identifier(options.table + "_pending") + " ON " + table +
                  " (sequence) WHERE published_at_ms IS NULL;";
        if (options.retention == OutboxRetention::keep) {
            script += "CREATE INDEX IF NOT EXISTS " +
                      detail::pg_quote_identifier(options.table + "_published") + " ON " + table +
                      " (published_at_ms) WHERE published_at_ms IS NOT NULL;";
        }
        if (options.retention == OutboxRetention::archive) {
            const std::string archive = options.table + "_archive";
            script += "CREATE TABLE IF NOT EXISTS " + detail::pg_quote_identifier(archive) +
                      " (sequence bigint PRIMARY KEY, event_id text NOT NULL, type text NOT "
                      "NULL, payload text NOT NULL, created_at_ms bigint NOT NULL, "
                      "published_at_ms bigint NOT NULL, attempts integer NOT NULL);";
            script += "CREATE INDEX IF NOT EXISTS " +
                      detail::pg_quote_identifier(archive + "_published") + " ON " +
                      detail::pg_quote_identifier(archive) + " (published_at_ms);";
        }
        detail::pg_exec(conn, script, "postgres outbox: create schema");
    }

    /// Appends one event on `conn`, a connection the service owns, so inside its open
    /// transaction, if any (committed or rolled back with it; relays are notified at
    /// commit), and returns its sequence. Neither begins nor commits. Thread-safety is that of
    /// `conn`. A failed statement aborts the caller's transaction (PostgreSQL's rule): roll it
    /// back.
    /// @throws std::invalid_argument for an empty `event_id` or invalid options.
    /// @throws PostgresError if the server fails, e.g. SQLSTATE 23505 naming the event id if it
    /// is already in the outbox, or 42P01 before create_schema.
    static std::int64_t append_in(PGconn* conn, std::string_view event_id, std::string_view type,
                                  std::string_view payload,
                                  const PostgresOutboxOptions& options = {}) {
        if (event_id.empty()) {
            throw std::invalid_argument("postgres outbox: append: the event id is empty");
        }
        detail::validate_outbox_options(options);
        const std::string sql =
            "WITH appended AS (INSERT INTO " + detail::pg_quote_identifier(options.table) +
            " (event_id, type, payload, created_at_ms) VALUES ($1, $2, $3, " + detail::pg_now_ms +
            ") RETURNING sequence) SELECT sequence, pg_notify($4, '') FROM "
            "appended";
        const detail::PgResult result =
            detail::pg_exec(conn, sql,
                            detail::PgParams().text(event_id).text(type).text(payload).text(
                                detail::outbox_channel(options)),
                            "postgres outbox: insert of event '" + std::string(event_id) + "'");
        return result.int64(0, 0);
    }

    /// append_in for a CloudEvent: its id, type and JSON text (to_json_text).
    static std::int64_t append_in(PGconn* conn, const CloudEvent& event,
                                  const PostgresOutboxOptions& options = {}) {
        return append_in(conn, event.id, event.type, to_json_text(event), options);
    }

    /// Appends one event in a transaction of its own on the outbox's connection: committed
    /// when it returns. For events that go with no data of the service's; use append_in for
    /// those that do. Thread-safe.
    /// @throws std::invalid_argument as append_in.
    /// @throws PostgresError as append_in; after one with connection_lost() it is unknown
    /// whether the event committed (appending it again then fails with SQLSTATE 23505 if it
    /// did).
    std::int64_t append(std::string_view event_id, std::string_view type,
                        std::string_view payload) {
        return with_query(
            [&](PGconn* conn) { return append_in(conn, event_id, type, payload, options_); },
            false); // a lost connection leaves it unknown whether the insert committed
    }

    /// Takes the relay lease for `owner` (a session advisory lock on the relay connection,
    /// held until release_lease or until the session ends), or confirms it is still held;
    /// returns whether `owner` holds it: false while another relay (another session) or
    /// another owner on this object does. `duration` is not used: the lock lasts as long as
    /// its session. Thread-safe.
    /// @throws std::invalid_argument for an empty owner or a non-positive duration (as
    /// SqliteOutbox).
    /// @throws PostgresError if the server cannot be reached.
    bool acquire_lease(std::string_view owner, std::chrono::milliseconds duration) override {
        if (owner.empty()) {
            throw std::invalid_argument("postgres outbox: acquire_lease: the owner is empty");
        }
        if (duration.count() <= 0) {
            throw std::invalid_argument(
                "postgres outbox: acquire_lease: the duration must be positive");
        }
        const std::lock_guard<std::mutex> lock(relay_mutex_);
        if (!lease_owner_.empty()) {
            if (lease_owner_ != owner) {
                return false;
            }
            try {
                relay_exec("SELECT 1", {}, "postgres outbox: check lease");
                return true;
            } catch (const PostgresError&) {
                // The session is gone, and the lock with it: take it again below.
            }
        }
        lease_lost_ = false;
        end_claim();
        const bool taken =
            relay_exec(lock_sql_, {}, "postgres outbox: acquire_lease").text(0, 0) == "t";
        if (taken) {
            lease_owner_ = std::string(owner);
        }
        return taken;
    }

    /// Gives `owner`'s lease up at once (an open claim is rolled back first); nothing if
    /// `owner` does not hold it. Thread-safe.
    /// @throws PostgresError if the server fails (the lease then ends with the session).
    void release_lease(std::string_view owner) override {
        const std::lock_guard<std::mutex> lock(relay_mutex_);
        if (lease_owner_.empty() || lease_owner_ != owner) {
            return;
        }
        lease_owner_.clear();
        end_claim();
        relay_exec(unlock_sql_, {}, "postgres outbox: release_lease");
    }

    /// Claims up to `limit` unpublished records, lowest sequence first, skipping rows another
    /// relay has claimed: a transaction on the relay connection stays open, holding their row
    /// locks, until mark_published or record_failure ends it (or the next next_batch, or
    /// release_lease, rolls it back). Thread-safe.
    /// @throws OutboxLeaseLost when the session that held the lease broke since (acquire_lease
    /// takes it again).
    /// @throws PostgresError if the server fails (the claim is then gone).
    [[nodiscard]] std::vector<OutboxRecord> next_batch(std::size_t limit) override {
        std::vector<OutboxRecord> records;
        const std::lock_guard<std::mutex> lock(relay_mutex_);
        if (lease_lost_) {
            lease_lost_ = false;
            throw OutboxLeaseLost("postgres outbox: the connection that held the relay lease "
                                  "broke, and the lease with it");
        }
        end_claim();
        if (limit == 0) {
            return records;
        }
        relay_exec("BEGIN", {}, "postgres outbox: next_batch: begin");
        claim_open_ = true;
        const detail::PgResult rows =
            relay_exec(claim_sql_,
                       detail::PgParams().int64(static_cast<std::int64_t>(
                           std::min<std::size_t>(limit, std::numeric_limits<std::int32_t>::max()))),
                       "postgres outbox: next_batch");
        records.reserve(static_cast<std::size_t>(rows.rows()));
        for (int row = 0; row < rows.rows(); ++row) {
            OutboxRecord record;
            record.sequence = rows.int64(row, 0);
            record.event_id = rows.text(row, 1);
            record.type = rows.text(row, 2);
            record.payload = rows.text(row, 3);
            record.created_at_ms = rows.int64(row, 4);
            record.attempts = static_cast<int>(
                std::min<std::int64_t>(rows.int64(row, 5), std::numeric_limits<int>::max()));
            records.push_back(std::move(record));
        }
        if (records.empty()) {
            end_claim();
        }
        return records;
    }

    /// Marks these records published per the retention option (deleted, archived or kept
    /// with the time), in the claim's transaction, which it commits; without an open claim,
    /// in a transaction of its own. Idempotent: records already marked (or deleted) are
    /// skipped. With a `lease_owner`, marks only while that owner holds the lease on a live
    /// session. Every prune_interval it also prunes (archive, keep). Thread-safe.
    /// @throws OutboxLeaseLost (marking none) when `lease_owner` does not hold the lease.
    /// @throws PostgresError if the server fails (marking none: the records go out again).
    void mark_published(const std::vector<std::int64_t>& sequences,
                        std::string_view lease_owner = {}) override {
        {
            const std::lock_guard<std::mutex> lock(relay_mutex_);
            if (!lease_owner.empty() && lease_owner_ != lease_owner) {
                end_claim();
                throw OutboxLeaseLost("postgres outbox: mark_published: relay '" +
                                      std::string(lease_owner) +
                                      "' does not hold the relay lease; nothing marked");
            }
            if (sequences.empty()) {
                return;
            }
            relay_exec(mark_sql_, detail::PgParams().text(detail::pg_bigint_array(sequences)),
                       "postgres outbox: mark_published");
            commit_claim("postgres outbox: mark_published: commit");
        }
        if (options_.retention != OutboxRetention::delete_published &&
            std::chrono::steady_clock::now() >= next_prune_.load()) {
            prune_published();
        }
    }

    /// Records one failed publish attempt for each of these records (attempts + 1, `error`
    /// kept as last_error), in the claim's transaction, which it commits (or a transaction of
    /// its own). Thread-safe.
    /// @throws PostgresError if the server fails.
    void record_failure(const std::vector<std::int64_t>& sequences,
                        std::string_view error) override {
        const std::lock_guard<std::mutex> lock(relay_mutex_);
        if (sequences.empty()) {
            return;
        }
        relay_exec(failure_sql_,
                   detail::PgParams().text(detail::pg_bigint_array(sequences)).text(error),
                   "postgres outbox: record_failure");
        commit_claim("postgres outbox: record_failure: commit");
    }

    /// How many records are not published yet (claimed ones included). Thread-safe.
    /// @throws PostgresError if the server fails.
    [[nodiscard]] std::size_t pending_count() const override {
        return with_query([&](PGconn* conn) {
            return static_cast<std::size_t>(detail::pg_exec(conn,
                                                            "SELECT count(*) FROM " +
                                                                quoted_table() +
                                                                " WHERE published_at_ms IS NULL",
                                                            "postgres outbox: pending_count")
                                                .int64(0, 0));
        });
    }

    /// The unpublished records: how many, and the age of the oldest (by the server's clock).
    /// Thread-safe.
    /// @throws PostgresError if the server fails.
    [[nodiscard]] OutboxBacklog backlog() const {
        return with_query([&](PGconn* conn) {
            const detail::PgResult row = detail::pg_exec(
                conn,
                "SELECT count(*), min(created_at_ms), " + std::string(detail::pg_now_ms) +
                    " FROM " + quoted_table() + " WHERE published_at_ms IS NULL",
                "postgres outbox: backlog");
            OutboxBacklog result;
            result.count = static_cast<std::size_t>(row.int64(0, 0));
            if (result.count > 0) {
                result.oldest_created_at_ms = row.int64(0, 1);
                result.oldest_age = std::chrono::milliseconds(
                    std::max<std::int64_t>(0, row.int64(0, 2) - result.oldest_created_at_ms));
            }
            return result;
        });
    }

    /// How many published records are kept: in the table (keep), in the archive (archive), 0
    /// (delete_published). Thread-safe.
    /// @throws PostgresError if the server fails.
    [[nodiscard]] std::size_t published_count() const {
        if (options_.retention == OutboxRetention::delete_published) {
            return 0;
        }
        return with_query([&](PGconn* conn) {
            return static_cast<std::size_t>(
                detail::pg_exec(conn, "SELECT count(*) FROM " + kept_table() + kept_filter(),
                                "postgres outbox: published_count")
                    .int64(0, 0));
        });
    }

    /// Deletes the published records kept longer than keep_for (archive, keep; nothing for
    /// delete_published), at most 10,000 a call, and returns how many. Pending records are
    /// never deleted. Thread-safe.
    /// @throws PostgresError if the server fails.
    std::size_t prune_published() {
        next_prune_.store(std::chrono::steady_clock::now() + options_.prune_interval);
        if (options_.retention == OutboxRetention::delete_published) {
            return 0;
        }
        const std::string kept = kept_table();
        const std::string sql = "DELETE FROM " + kept +
                                " WHERE sequence IN (SELECT sequence FROM " + kept + kept_filter() +
                                " AND published_at_ms <= " + detail::pg_now_ms +
                                " - $1 ORDER BY published_at_ms LIMIT 10000)";
        return with_query([&](PGconn* conn) {
            return static_cast<std::size_t>(
                detail::pg_exec(
                    conn, sql,
                    detail::PgParams().int64(static_cast<std::int64_t>(options_.keep_for.count())),
                    "postgres outbox: prune_published")
                    .affected_rows());
        });
    }

    /// Listens on the channel (LISTEN, on a connection of its own) and calls `wake` for each
    /// append that commits, and after each (re)connection; reconnects with backoff while the
    /// server is down. The relay uses it to publish at once. Thread-safe.
    [[nodiscard]] std::unique_ptr<OutboxWatch> watch(std::function<void()> wake) override {
        return std::make_unique<detail::PostgresOutboxWatch>(
            conninfo_, detail::outbox_channel(options_), std::move(wake));
    }

    /// The connection string, as given. Thread-safe; never throws.
    [[nodiscard]] const std::string& conninfo() const noexcept { return conninfo_; }
    /// The options in use (pass them to append_in and create_schema). Thread-safe.
    [[nodiscard]] const PostgresOutboxOptions& options() const noexcept { return options_; }

private:
    [[nodiscard]] std::string quoted_table() const {
        return detail::pg_quote_identifier(options_.table);
    }
    [[nodiscard]] std::string kept_table() const {
        return options_.retention == OutboxRetention::archive
                   ? detail::pg_quote_identifier(options_.table + "_archive")
                   : quoted_table();
    }
    [[nodiscard]] std::string kept_filter() const {
        return options_.retention == OutboxRetention::archive
                   ? " WHERE true"
                   : " WHERE published_at_ms IS NOT NULL";
    }

    // Runs `body(conn)` on the query connection (made again if it broke), serialised. An
    // idempotent body is run once more on a new connection when the old one turns out broken
    // (e.g. the server restarted since it was last used).
    template <class Body>
    std::invoke_result_t<Body&, PGconn*> with_query(Body&& body, bool idempotent = true) const {
        const std::lock_guard<std::mutex> lock(query_mutex_);
        for (int attempt = 0;; ++attempt) {
            if (!query_.ok()) {
                query_ = detail::PgConnection(conninfo_, "postgres outbox");
            }
            try {
                return body(query_.get());
            } catch (const PostgresError& e) {
                if (!idempotent || attempt > 0 || query_.ok() || !e.connection_lost()) {
                    throw;
                }
            }
        }
    }

    // Runs one statement on the relay connection, connecting first if needed; when the
    // session breaks, forgets the claim and the lease (noting its loss for next_batch).
    // Call with relay_mutex_ held.
    detail::PgResult relay_exec(const std::string& sql, const detail::PgParams& params,
                                std::string_view context) {
        if (!relay_.ok()) {
            session_broken();
            relay_ = detail::PgConnection(conninfo_, "postgres outbox: relay");
        }
        try {
            return relay_.exec(sql, params, context);
        } catch (const PostgresError&) {
            if (!relay_.ok()) {
                session_broken();
            }
            throw;
        }
    }

    void session_broken() noexcept {
        if (!lease_owner_.empty()) {
            lease_lost_ = true;
            lease_owner_.clear();
        }
        claim_open_ = false;
        relay_.reset();
    }

    // Commits the open claim, if any. Call with relay_mutex_ held.
    void commit_claim(std::string_view context) {
        if (claim_open_) {
            claim_open_ = false; // a failed COMMIT ends the transaction too
            relay_exec("COMMIT", {}, context);
        }
    }

    // Rolls the open claim back, if any; a broken session has rolled it back already.
    void end_claim() noexcept {
        if (claim_open_ && relay_.ok()) {
            PQclear(PQexec(relay_.get(), "ROLLBACK"));
        }
        claim_open_ = false;
    }

    std::string conninfo_;
    PostgresOutboxOptions options_;
    std::string claim_sql_;
    std::string mark_sql_;
    std::string failure_sql_;
    std::string lock_sql_;
    std::string unlock_sql_;

    mutable std::mutex query_mutex_;
    mutable detail::PgConnection query_; // guarded by query_mutex_

    std::mutex relay_mutex_; // guards the four below
    detail::PgConnection relay_;
    std::string lease_owner_; // empty: the lease is not held by this object
    bool lease_lost_ = false; // the session holding the lease broke; next_batch reports it
    bool claim_open_ = false; // a next_batch transaction is open on relay_
    std::atomic<std::chrono::steady_clock::time_point> next_prune_{};
};

} // namespace authevents::bus
