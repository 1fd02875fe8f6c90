/// @file
/// The transactional outbox: a durable, ordered queue of events in an SQLite table, from which
/// a relay publishes them (to Redis Streams) and marks them published.
#pragma once

#include <authevents/bus/detail/sqlite.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace authevents::bus {

/// One event waiting in (or published from) the outbox. A plain value: the outbox stores the
/// CloudEvent as opaque text and does not depend on the CloudEvents header.
struct OutboxRecord {
    std::int64_t sequence = 0;      ///< publish order (INTEGER PRIMARY KEY AUTOINCREMENT)
    std::string event_id;           ///< the CloudEvent id, unique in the outbox
    std::string type;               ///< the CloudEvent type
    std::string payload;            ///< the CloudEvent JSON text
    std::int64_t created_at_ms = 0; ///< when it was appended, ms since the Unix epoch
    int attempts = 0;               ///< failed publish attempts so far
};

/// How an outbox is stored. A plain value.
struct OutboxOptions {
    /// The table's name, validated as [A-Za-z_][A-Za-z0-9_]* (not starting with sqlite_);
    /// otherwise std::invalid_argument.
    std::string table = "authevents_outbox";
    /// How long a statement waits for another connection's lock before failing with
    /// SQLITE_BUSY. Negative: std::invalid_argument.
    std::chrono::milliseconds busy_timeout{5000};
    /// PRAGMA synchronous=FULL (else NORMAL): an appended event survives power loss, not only a
    /// crash of the process.
    bool synchronous_full = true;
};

/// A durable, ordered queue of events in an SQLite table (the transactional outbox pattern).
/// Events are appended, in the service's own transaction (append_in, transaction) or their own
/// (append); a relay takes them in sequence order (next_batch), publishes them and then marks
/// them published, so an event is published at least once (consumers drop duplicates by id).
/// Sequences follow commit order: SQLite admits one writer at a time.
///
/// Thread-safe: every member may be called from any thread; a mutex serialises the object's
/// one connection. Other processes (or other SqliteOutbox objects) on the same file are handled
/// by SQLite's locking and the busy timeout. SQLite failures throw SqliteError; a failed
/// multi-record operation changes nothing.
class SqliteOutbox {
public:
    /// Opens, creating if needed, the database file at `path`: WAL journal mode, the busy
    /// timeout and synchronous level of `options`, and the table and its index if missing.
    /// Throws std::invalid_argument for an invalid table name or an empty or in-memory path
    /// (":memory:": nothing would survive), SqliteError if the file cannot be opened or set up
    /// (including a file system where WAL mode is unavailable).
    explicit SqliteOutbox(std::string path, OutboxOptions options = {})
        : path_(std::move(path)), options_(std::move(options)) {
        detail::validate_identifier(options_.table, "outbox");
        db_ = detail::open_database(path_, "outbox", options_.busy_timeout, false);
        const std::string mode =
            detail::query_text(db_.get(), "PRAGMA journal_mode=WAL", "outbox: set journal mode");
        if (mode != "wal") {
            throw SqliteError(SQLITE_ERROR, "outbox: set journal mode failed: '" + path_ +
                                                "' stays in journal mode '" + mode +
                                                "', not wal (SQLITE_ERROR)");
        }
        detail::execute(db_.get(),
                        options_.synchronous_full ? "PRAGMA synchronous=FULL"
                                                  : "PRAGMA synchronous=NORMAL",
                        "outbox: set synchronous");
        create_schema(db_.get(), options_);

        sqlite3* db = db_.get();
        const std::string table = detail::quote_identifier(options_.table);
        insert_ = detail::Statement(db, insert_sql(options_.table), "outbox: insert");
        next_batch_ = detail::Statement(
            db,
            "SELECT sequence, event_id, type, payload, created_at_ms, attempts FROM " + table +
                " WHERE published_at_ms IS NULL ORDER BY sequence LIMIT ?1",
            "outbox: next_batch");
        mark_published_ = detail::Statement(
            db,
            "UPDATE " + table +
                " SET published_at_ms = coalesce(published_at_ms, ?1) WHERE sequence = ?2",
            "outbox: mark_published");
        record_failure_ = detail::Statement(
            db,
            "UPDATE " + table + " SET attempts = attempts + 1, last_error = ?1 WHERE sequence = ?2",
            "outbox: record_failure");
        pending_count_ = detail::Statement(
            db, "SELECT count(*) FROM " + table + " WHERE published_at_ms IS NULL",
            "outbox: pending_count");
        published_count_ = detail::Statement(
            db, "SELECT count(*) FROM " + table + " WHERE published_at_ms IS NOT NULL",
            "outbox: published_count");
        prune_ = detail::Statement(db,
                                   "DELETE FROM " + table +
                                       " WHERE published_at_ms IS NOT NULL AND "
                                       "published_at_ms <= ?1",
                                   "outbox: prune_published");
    }

    SqliteOutbox(const SqliteOutbox&) = delete;
    SqliteOutbox& operator=(const SqliteOutbox&) = delete;
    SqliteOutbox(SqliteOutbox&&) = delete;
    SqliteOutbox& operator=(SqliteOutbox&&) = delete;

    /// Closes the connection. Must not run concurrently with another member call.
    ~SqliteOutbox() = default;

    /// Creates the outbox table and its index in `db`, a connection the service owns, if they
    /// are missing (idempotent), so that append_in can be used in its transactions. Sets no
    /// pragma on `db` (WAL mode and a busy timeout are the caller's choice, and recommended).
    /// Thread-safety is that of `db`. Throws std::invalid_argument for an invalid table name,
    /// SqliteError if SQLite fails.
    static void create_schema(sqlite3* db, const OutboxOptions& options = {}) {
        detail::validate_identifier(options.table, "outbox");
        const std::string table = detail::quote_identifier(options.table);
        const std::string create_table = "CREATE TABLE IF NOT EXISTS " + table +
                                         " ("
                                         "sequence INTEGER PRIMARY KEY AUTOINCREMENT, "
                                         "event_id TEXT NOT NULL UNIQUE, "
                                         "type TEXT NOT NULL, "
                                         "payload TEXT NOT NULL, "
                                         "created_at_ms INTEGER NOT NULL, "
                                         "published_at_ms INTEGER, "
                                         "attempts INTEGER NOT NULL DEFAULT 0, "
                                         "last_error TEXT)";
        // Serves next_batch (published_at_ms IS NULL, by sequence), the counts and pruning.
        const std::string create_index = "CREATE INDEX IF NOT EXISTS " +
                                         detail::quote_identifier(options.table + "_by_state") +
                                         " ON " + table + " (published_at_ms, sequence)";
        detail::execute(db, create_table.c_str(), "outbox: create table");
        detail::execute(db, create_index.c_str(), "outbox: create index");
    }

    /// Appends one event in `db`, a connection the service owns, so inside its open
    /// transaction, if any: committed or rolled back with it. Neither begins nor commits.
    /// Thread-safety is that of `db`. Throws std::invalid_argument for an empty `event_id` or
    /// an invalid table name; SqliteError if SQLite fails, e.g. SQLITE_CONSTRAINT naming the
    /// event id if it is already in the outbox, or "no such table" before create_schema.
    static void append_in(sqlite3* db, std::string_view event_id, std::string_view type,
                          std::string_view payload, const OutboxOptions& options = {}) {
        detail::validate_identifier(options.table, "outbox");
        detail::Statement insert(db, insert_sql(options.table), "outbox: insert");
        insert_with(insert, event_id, type, payload);
    }

    /// Appends one event in its own transaction: durable when it returns (on power loss too
    /// with synchronous_full). Thread-safe. Throws std::invalid_argument for an empty
    /// `event_id`, SqliteError if SQLite fails (e.g. SQLITE_CONSTRAINT naming a duplicate id,
    /// SQLITE_BUSY when another connection holds the write lock past the busy timeout), and
    /// std::logic_error from inside a transaction() body (use append_in there).
    void append(std::string_view event_id, std::string_view type, std::string_view payload) {
        const auto lock = lock_connection("append");
        insert_with(insert_, event_id, type, payload);
    }

    /// Runs `body(sqlite3*)` inside BEGIN IMMEDIATE ... COMMIT on the outbox's own connection,
    /// holding the outbox's mutex, and returns its result: the service's writes and its
    /// append_in(db, ..., options()) calls commit together. If `body` throws, the transaction
    /// is rolled back and the exception rethrown; SqliteError if BEGIN or COMMIT fails. The
    /// body must not call members of this outbox (std::logic_error rather than a deadlock) nor
    /// end the transaction itself (std::logic_error after it returns). Thread-safe.
    template <class Body> std::invoke_result_t<Body&&, sqlite3*> transaction(Body&& body) {
        using Result = std::invoke_result_t<Body&&, sqlite3*>;
        const auto lock = lock_connection("transaction");
        const OwnerMark owner(transaction_owner_);
        detail::Transaction transaction(db_.get(), "outbox: transaction");
        if constexpr (std::is_void_v<Result>) {
            std::invoke(std::forward<Body>(body), db_.get());
            finish(transaction);
        } else {
            Result result = std::invoke(std::forward<Body>(body), db_.get());
            finish(transaction);
            return result;
        }
    }

    /// Up to `limit` unpublished records, oldest (lowest sequence) first. Thread-safe. Throws
    /// SqliteError if SQLite fails.
    [[nodiscard]] std::vector<OutboxRecord> next_batch(std::size_t limit) {
        std::vector<OutboxRecord> records;
        if (limit == 0) {
            return records;
        }
        const auto lock = lock_connection("next_batch");
        const detail::Statement::Use use(next_batch_);
        next_batch_.bind_int64(1, to_int64(limit));
        records.reserve(std::min<std::size_t>(limit, 1024));
        while (next_batch_.step()) {
            OutboxRecord record;
            record.sequence = next_batch_.column_int64(0);
            record.event_id = next_batch_.column_text(1);
            record.type = next_batch_.column_text(2);
            record.payload = next_batch_.column_text(3);
            record.created_at_ms = next_batch_.column_int64(4);
            record.attempts = static_cast<int>(std::min<std::int64_t>(
                next_batch_.column_int64(5), std::numeric_limits<int>::max()));
            records.push_back(std::move(record));
        }
        return records;
    }

    /// Marks these records published, in one transaction; already published ones keep their
    /// first publish time (idempotent). Thread-safe. Throws std::invalid_argument naming the
    /// first sequence not in the table (never appended, or pruned), marking none; SqliteError
    /// if SQLite fails, marking none.
    void mark_published(const std::vector<std::int64_t>& sequences) {
        update_each(mark_published_, sequences, "mark_published",
                    [&](detail::Statement& s) { s.bind_int64(1, detail::now_ms()); });
    }

    /// Records one failed publish attempt for each of these records (attempts + 1, `error`
    /// kept as last_error), in one transaction. Thread-safe. Throws std::invalid_argument
    /// naming the first sequence not in the table, recording none; SqliteError if SQLite fails,
    /// recording none.
    void record_failure(const std::vector<std::int64_t>& sequences, std::string_view error) {
        update_each(record_failure_, sequences, "record_failure",
                    [&](detail::Statement& s) { s.bind_text(1, error); });
    }

    /// How many records are not published yet. Thread-safe. Throws SqliteError.
    [[nodiscard]] std::size_t pending_count() const {
        return count(pending_count_, "pending_count");
    }

    /// How many published records are kept (not pruned yet). Thread-safe. Throws SqliteError.
    [[nodiscard]] std::size_t published_count() const {
        return count(published_count_, "published_count");
    }

    /// Deletes the records published at least `age` ago and returns how many. Pending records
    /// are never deleted; sequences are never reused. Thread-safe. Throws std::invalid_argument
    /// for a negative age, SqliteError if SQLite fails.
    std::size_t prune_published(std::chrono::milliseconds age) {
        if (age.count() < 0) {
            throw std::invalid_argument("outbox: prune_published: the age is negative");
        }
        const auto lock = lock_connection("prune_published");
        const detail::Statement::Use use(prune_);
        prune_.bind_int64(1, detail::now_ms() - static_cast<std::int64_t>(age.count()));
        prune_.step();
        return static_cast<std::size_t>(sqlite3_changes(db_.get()));
    }

    /// The database file's path, as given. Thread-safe, never throws.
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

    /// The options in use (pass them to append_in inside transaction()). Thread-safe.
    [[nodiscard]] const OutboxOptions& options() const noexcept { return options_; }

private:
    // Marks the calling thread as running a transaction() body, for the re-entrancy check.
    class OwnerMark {
    public:
        explicit OwnerMark(std::atomic<std::thread::id>& owner) noexcept : owner_(owner) {
            owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
        }
        OwnerMark(const OwnerMark&) = delete;
        OwnerMark& operator=(const OwnerMark&) = delete;
        ~OwnerMark() { owner_.store(std::thread::id(), std::memory_order_relaxed); }

    private:
        std::atomic<std::thread::id>& owner_;
    };

    static std::string insert_sql(const std::string& table) {
        return "INSERT INTO " + detail::quote_identifier(table) +
               " (event_id, type, payload, created_at_ms) VALUES (?1, ?2, ?3, ?4)";
    }

    static void insert_with(detail::Statement& insert, std::string_view event_id,
                            std::string_view type, std::string_view payload) {
        if (event_id.empty()) {
            throw std::invalid_argument("outbox: append: the event id is empty");
        }
        const detail::Statement::Use use(insert);
        insert.bind_text(1, event_id);
        insert.bind_text(2, type);
        insert.bind_text(3, payload);
        insert.bind_int64(4, detail::now_ms());
        insert.step("outbox: insert of event '" + std::string(event_id) + "'");
    }

    static std::int64_t to_int64(std::size_t value) noexcept {
        return static_cast<std::int64_t>(
            std::min<std::size_t>(value, std::numeric_limits<std::int64_t>::max()));
    }

    // Locks the mutex, after checking that the caller is not inside one of our transaction()
    // bodies on this thread (which holds it already).
    std::unique_lock<std::mutex> lock_connection(const char* operation) const {
        if (transaction_owner_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
            throw std::logic_error(std::string("outbox: ") + operation +
                                   " called inside a transaction() body of the same outbox; use "
                                   "the body's sqlite3* (append_in) instead");
        }
        return std::unique_lock<std::mutex>(mutex_);
    }

    void finish(detail::Transaction& transaction) {
        if (sqlite3_get_autocommit(db_.get()) != 0) {
            throw std::logic_error("outbox: the transaction() body ended the transaction "
                                   "itself (COMMIT or ROLLBACK); its writes may be lost");
        }
        transaction.commit();
    }

    // Runs `statement` (parameters: ?1 set by `bind_rest`, ?2 the sequence) for each sequence
    // in one transaction; an unknown sequence rolls all back.
    template <class BindRest>
    void update_each(detail::Statement& statement, const std::vector<std::int64_t>& sequences,
                     const char* operation, BindRest bind_rest) {
        if (sequences.empty()) {
            return;
        }
        const auto lock = lock_connection(operation);
        detail::Transaction transaction(db_.get(), std::string("outbox: ") + operation);
        for (const std::int64_t sequence : sequences) {
            const detail::Statement::Use use(statement);
            bind_rest(statement);
            statement.bind_int64(2, sequence);
            statement.step();
            if (sqlite3_changes(db_.get()) == 0) {
                throw std::invalid_argument(std::string("outbox: ") + operation +
                                            ": no record with sequence " +
                                            std::to_string(sequence));
            }
        }
        transaction.commit();
    }

    std::size_t count(detail::Statement& statement, const char* operation) const {
        const auto lock = lock_connection(operation);
        const detail::Statement::Use use(statement);
        statement.step();
        return static_cast<std::size_t>(statement.column_int64(0));
    }

    std::string path_;
    OutboxOptions options_;
    mutable std::mutex mutex_; // serialises the connection; the counts lock it too
    std::atomic<std::thread::id> transaction_owner_{};
    detail::Connection db_; // declared before the statements: destroyed after them
    detail::Statement insert_;
    detail::Statement next_batch_;
    detail::Statement mark_published_;
    detail::Statement record_failure_;
    mutable detail::Statement pending_count_; // prepared queries of the const counts
    mutable detail::Statement published_count_;
    detail::Statement prune_;
};

} // namespace authevents::bus
