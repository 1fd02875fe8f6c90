/// @file
/// The transactional outbox: a durable, ordered queue of events in an SQLite table, from which
/// a relay publishes them (to Redis Streams) and marks them published. OutboxOptions and
/// OutboxLease are in outbox_options.hpp (included).
#pragma once

#include <authevents/bus/detail/sqlite.hpp>
#include <authevents/bus/detail/sqlite_outbox_schema.hpp>
#include <authevents/bus/outbox_options.hpp>
#include <authevents/bus/outbox_source.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace authevents::bus {

/// A durable, ordered queue of events in an SQLite table (the transactional outbox pattern).
/// Events are appended, in the service's own transaction (append_in, transaction) or their own
/// (append); a relay takes them in sequence order (next_batch), publishes them and then marks
/// them published, so an event is published at least once (consumers drop duplicates by id).
/// Sequences follow commit order: SQLite admits one writer at a time.
///
/// Group commit: appends from concurrent threads share one transaction, so one commit (and one
/// fsync) makes a whole group durable; each append() still returns only once its own event is
/// committed, and a failed event (e.g. a duplicate id) fails only its own append().
///
/// Thread-safe: every member may be called from any thread; a mutex serialises the object's
/// one connection. Other processes (or other SqliteOutbox objects) on the same file are handled
/// by SQLite's locking and the busy timeout. SQLite failures throw SqliteError; a failed
/// multi-record operation changes nothing.
class SqliteOutbox final : public OutboxSource {
public:
    /// Opens, creating if needed, the database file at `path`: WAL journal mode, the busy
    /// timeout and synchronous level of `options`, and the table and its index if missing.
    /// @throws std::invalid_argument for an invalid table name or an empty or in-memory path
    /// (":memory:": nothing would survive).
    /// @throws SqliteError if the file cannot be opened or set up (including a file system where
    /// WAL mode is unavailable).
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
        const std::string lease = detail::quote_identifier(options_.table + "_lease");
        backlog_ = detail::Statement(
            db,
            "SELECT count(*), (SELECT created_at_ms FROM " + table +
                " WHERE published_at_ms IS NULL ORDER BY sequence LIMIT 1) FROM " + table +
                " WHERE published_at_ms IS NULL",
            "outbox: backlog");
        acquire_lease_ = detail::Statement(
            db,
            "INSERT INTO " + lease +
                " (name, owner, expires_at_ms) VALUES ('relay', ?1, ?2) ON CONFLICT(name) DO "
                "UPDATE SET owner = excluded.owner, expires_at_ms = excluded.expires_at_ms "
                "WHERE owner = excluded.owner OR expires_at_ms <= ?3",
            "outbox: acquire_lease");
        release_lease_ =
            detail::Statement(db, "DELETE FROM " + lease + " WHERE name = 'relay' AND owner = ?1",
                              "outbox: release_lease");
        read_lease_ = detail::Statement(
            db, "SELECT owner, expires_at_ms FROM " + lease + " WHERE name = 'relay'",
            "outbox: lease");
        check_lease_ = detail::Statement(db,
                                         "SELECT count(*) FROM " + lease +
                                             " WHERE name = 'relay' AND owner = ?1 AND "
                                             "expires_at_ms > ?2",
                                         "outbox: check lease");
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
    ~SqliteOutbox() override = default;

    /// Creates the outbox table and its index in `db`, a connection the service owns, if they
    /// are missing (idempotent), so that append_in can be used in its transactions. Sets no
    /// pragma on `db` (WAL mode and a busy timeout are the caller's choice, and recommended).
    /// Thread-safety is that of `db`.
    /// @throws std::invalid_argument for an invalid table name.
    /// @throws SqliteError if SQLite fails.
    static void create_schema(sqlite3* db, const OutboxOptions& options = {}) {
        detail::create_sqlite_outbox_schema(db, options);
    }

    /// Appends one event in `db`, a connection the service owns, so inside its open
    /// transaction, if any: committed or rolled back with it. Neither begins nor commits.
    /// Thread-safety is that of `db`.
    /// @throws std::invalid_argument for an empty `event_id` or an invalid table name.
    /// @throws SqliteError if SQLite fails, e.g. SQLITE_CONSTRAINT naming the event id if it is
    /// already in the outbox, or "no such table" before create_schema.
    static void append_in(sqlite3* db, std::string_view event_id, std::string_view type,
                          std::string_view payload, const OutboxOptions& options = {}) {
        detail::validate_identifier(options.table, "outbox");
        detail::Statement insert(db, insert_sql(options.table), "outbox: insert");
        insert_with(insert, event_id, type, payload);
    }

    /// Appends one event in a transaction of its own or shared with the appends other threads
    /// make at the same time (group commit: one commit and one fsync for the group): durable
    /// when it returns (on power loss too with synchronous_full). Thread-safe.
    /// @throws std::invalid_argument for an empty `event_id`.
    /// @throws SqliteError if SQLite fails (e.g. SQLITE_CONSTRAINT naming a duplicate id, for
    /// that append only; SQLITE_BUSY when another connection holds the write lock past the busy
    /// timeout, or a failed commit, for every append of the group, none of which is then in the
    /// outbox).
    /// @throws std::logic_error from inside a transaction() body (use append_in there).
    void append(std::string_view event_id, std::string_view type, std::string_view payload) {
        if (event_id.empty()) {
            throw std::invalid_argument("outbox: append: the event id is empty");
        }
        check_not_in_transaction("append");
        PendingAppend mine{event_id, type, payload, nullptr, nullptr, false};
        std::unique_lock<std::mutex> lock(group_mutex_);
        // `mine` leaves the queue (taken by a leader) before this function returns; g++ 12+
        // cannot see that and warns about the stored address of a local.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
        (group_tail_ != nullptr ? group_tail_->next : group_head_) = &mine;
        group_tail_ = &mine;
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic pop
#endif
        while (!mine.done) {
            if (group_committing_) {
                group_done_.wait(lock);
                continue;
            }
            // Lead: commit what is queued (our own append among it, or in a later group). The
            // queue is a list through the waiters' own records: nothing here can fail.
            group_committing_ = true;
            PendingAppend* const first = group_head_;
            PendingAppend* last = first;
            for (std::size_t size = 1; size < max_group_size && last->next != nullptr; ++size) {
                last = last->next;
            }
            group_head_ = last->next;
            if (group_head_ == nullptr) {
                group_tail_ = nullptr;
            }
            last->next = nullptr;
            lock.unlock();
            commit_group(first);
            lock.lock();
            for (PendingAppend* pending = first; pending != nullptr;) {
                PendingAppend* const next = pending->next; // `pending` may go once done
                pending->done = true;
                pending = next;
            }
            group_committing_ = false;
            group_done_.notify_all();
        }
        if (mine.error) {
            std::rethrow_exception(mine.error);
        }
    }

    /// Runs `body(sqlite3*)` inside BEGIN IMMEDIATE ... COMMIT on the outbox's own connection,
    /// holding the outbox's mutex, and returns its result: the service's writes and its
    /// append_in(db, ..., options()) calls commit together. If `body` throws, the transaction
    /// is rolled back and the exception rethrown. The body must not call members of this outbox
    /// nor end the transaction itself. Thread-safe.
    /// @throws what `body` throws, after rolling the transaction back.
    /// @throws SqliteError if BEGIN or COMMIT fails.
    /// @throws std::logic_error when the body calls members of this outbox (rather than a
    /// deadlock) or ends the transaction itself (after it returns).
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

    /// Up to `limit` unpublished records, oldest (lowest sequence) first. Thread-safe.
    /// @throws SqliteError if SQLite fails.
    [[nodiscard]] std::vector<OutboxRecord> next_batch(std::size_t limit) override {
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
    /// first publish time (idempotent). With a `lease_owner`, the same transaction first checks
    /// that this owner holds the relay lease (acquire_lease) and it has not expired, so a
    /// relay whose lease lapsed mid-batch never marks rows its successor is publishing.
    /// Thread-safe.
    /// @throws OutboxLeaseLost (marking none) when that check fails.
    /// @throws std::invalid_argument naming the first sequence not in the table (never
    /// appended, or pruned), marking none.
    /// @throws SqliteError if SQLite fails, marking none.
    void mark_published(const std::vector<std::int64_t>& sequences,
                        std::string_view lease_owner = {}) override {
        update_each(
            mark_published_, sequences, "mark_published",
            [&](detail::Statement& s) { s.bind_int64(1, detail::now_ms()); },
            [&] {
                if (lease_owner.empty()) {
                    return;
                }
                const detail::Statement::Use use(check_lease_);
                check_lease_.bind_text(1, lease_owner);
                check_lease_.bind_int64(2, detail::now_ms());
                check_lease_.step();
                if (check_lease_.column_int64(0) == 0) {
                    throw OutboxLeaseLost("outbox: mark_published: relay '" +
                                          std::string(lease_owner) +
                                          "' no longer holds the relay lease (it expired or was "
                                          "taken over); nothing marked");
                }
            });
    }

    /// Records one failed publish attempt for each of these records (attempts + 1, `error`
    /// kept as last_error), in one transaction. Thread-safe.
    /// @throws std::invalid_argument naming the first sequence not in the table, recording none.
    /// @throws SqliteError if SQLite fails, recording none.
    void record_failure(const std::vector<std::int64_t>& sequences,
                        std::string_view error) override {
        update_each(record_failure_, sequences, "record_failure",
                    [&](detail::Statement& s) { s.bind_text(1, error); });
    }

    /// How many records are not published yet. Thread-safe.
    /// @throws SqliteError if SQLite fails.
    [[nodiscard]] std::size_t pending_count() const override {
        return count(pending_count_, "pending_count");
    }

    /// The unpublished records: how many, and the age of the oldest (a relay that is down or
    /// refused shows as a growing age). Thread-safe.
    /// @throws SqliteError if SQLite fails.
    [[nodiscard]] OutboxBacklog backlog() const {
        const auto lock = lock_connection("backlog");
        const detail::Statement::Use use(backlog_);
        backlog_.step();
        OutboxBacklog result;
        result.count = static_cast<std::size_t>(backlog_.column_int64(0));
        if (result.count > 0) {
            result.oldest_created_at_ms = backlog_.column_int64(1);
            result.oldest_age = std::chrono::milliseconds(
                std::max<std::int64_t>(0, detail::now_ms() - result.oldest_created_at_ms));
        }
        return result;
    }

    /// Takes or renews the outbox's relay lease for `owner` until `duration` from now, and
    /// returns whether `owner` holds it: true when the lease was free, expired or already
    /// `owner`'s; false (changing nothing) while another owner's lease runs. One atomic SQLite
    /// statement, so of several relays (threads or processes) on the file exactly one holds
    /// it at a time, given clocks that agree (one host). Thread-safe.
    /// @throws std::invalid_argument for an empty owner or a non-positive duration.
    /// @throws SqliteError if SQLite fails (e.g. SQLITE_BUSY past the busy timeout).
    bool acquire_lease(std::string_view owner, std::chrono::milliseconds duration) override {
        if (owner.empty()) {
            throw std::invalid_argument("outbox: acquire_lease: the owner is empty");
        }
        if (duration.count() <= 0) {
            throw std::invalid_argument("outbox: acquire_lease: the duration must be positive");
        }
        const auto lock = lock_connection("acquire_lease");
        const detail::Statement::Use use(acquire_lease_);
        const std::int64_t now = detail::now_ms();
        acquire_lease_.bind_text(1, owner);
        acquire_lease_.bind_int64(2, now + static_cast<std::int64_t>(duration.count()));
        acquire_lease_.bind_int64(3, now);
        acquire_lease_.step();
        return sqlite3_changes(db_.get()) > 0;
    }

    /// Gives up `owner`'s relay lease at once (nothing if another owner holds it), so a
    /// waiting relay takes over without waiting for it to expire. Thread-safe.
    /// @throws SqliteError if SQLite fails.
    void release_lease(std::string_view owner) override {
        const auto lock = lock_connection("release_lease");
        const detail::Statement::Use use(release_lease_);
        release_lease_.bind_text(1, owner);
        release_lease_.step();
    }

    /// The relay lease as stored (possibly expired), or nothing if no relay ever held it or
    /// the last holder released it. Thread-safe.
    /// @throws SqliteError if SQLite fails.
    [[nodiscard]] std::optional<OutboxLease> lease() const {
        const auto lock = lock_connection("lease");
        const detail::Statement::Use use(read_lease_);
        if (!read_lease_.step()) {
            return std::nullopt;
        }
        return OutboxLease{read_lease_.column_text(0), read_lease_.column_int64(1)};
    }

    /// How many published records are kept (not pruned yet). Thread-safe.
    /// @throws SqliteError if SQLite fails.
    [[nodiscard]] std::size_t published_count() const {
        return count(published_count_, "published_count");
    }

    /// Deletes the records published at least `age` ago and returns how many. Pending records
    /// are never deleted; sequences are never reused. Thread-safe.
    /// @throws std::invalid_argument for a negative age.
    /// @throws SqliteError if SQLite fails.
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

    // One append() waiting for its group's commit; lives on its caller's stack, linked into
    // the queue of waiting appends.
    struct PendingAppend {
        std::string_view event_id;
        std::string_view type;
        std::string_view payload;
        PendingAppend* next = nullptr; // guarded by group_mutex_ while queued
        std::exception_ptr error;      // set by the leader; read after done
        bool done = false;             // guarded by group_mutex_
    };

    // At most this many appends share one transaction (bounds the time a commit holds the lock).
    static constexpr std::size_t max_group_size = 1024;

    // Inserts the group listed from `first` (one transaction for more than one) and commits;
    // sets each append's error, never throws. A failure of one insert fails that append alone,
    // unless it ended the transaction (SQLite rolls back on e.g. disk full), which fails them
    // all.
    void commit_group(PendingAppend* first) noexcept {
        const auto fail_rest = [&](const std::exception_ptr& error) {
            for (PendingAppend* pending = first; pending != nullptr; pending = pending->next) {
                if (!pending->error) {
                    pending->error = error;
                }
            }
        };
        try {
            const std::lock_guard<std::mutex> lock(mutex_);
            if (first->next == nullptr) {
                try {
                    insert_with(insert_, first->event_id, first->type, first->payload);
                } catch (...) {
                    first->error = std::current_exception();
                }
                return;
            }
            detail::Transaction transaction(db_.get(), "outbox: append");
            for (PendingAppend* pending = first; pending != nullptr; pending = pending->next) {
                try {
                    insert_with(insert_, pending->event_id, pending->type, pending->payload);
                } catch (...) {
                    pending->error = std::current_exception();
                    if (sqlite3_get_autocommit(db_.get()) != 0) {
                        fail_rest(pending->error); // the whole transaction was rolled back
                        return;
                    }
                }
            }
            transaction.commit();
        } catch (...) {
            fail_rest(std::current_exception());
        }
    }

    // Throws std::logic_error when called inside one of our transaction() bodies on this
    // thread (which holds the mutex already).
    void check_not_in_transaction(const char* operation) const {
        if (transaction_owner_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
            throw std::logic_error(std::string("outbox: ") + operation +
                                   " called inside a transaction() body of the same outbox; use "
                                   "the body's sqlite3* (append_in) instead");
        }
    }

    // Locks the mutex, after check_not_in_transaction.
    std::unique_lock<std::mutex> lock_connection(const char* operation) const {
        check_not_in_transaction(operation);
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
    // in one transaction, after `check()` (which may throw) inside it; an unknown sequence
    // rolls all back.
    template <class BindRest, class Check = void (*)()>
    void update_each(
        detail::Statement& statement, const std::vector<std::int64_t>& sequences,
        const char* operation, BindRest bind_rest, Check check = [] {}) {
        if (sequences.empty()) {
            return;
        }
        const auto lock = lock_connection(operation);
        detail::Transaction transaction(db_.get(), std::string("outbox: ") + operation);
        check();
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
    std::mutex group_mutex_; // guards the four below (group commit of append())
    std::condition_variable group_done_;
    PendingAppend* group_head_ = nullptr; // appends waiting for a leader, oldest first
    PendingAppend* group_tail_ = nullptr;
    bool group_committing_ = false;
    detail::SqliteConnection db_; // declared before the statements: destroyed after them
    detail::Statement insert_;
    detail::Statement next_batch_;
    detail::Statement mark_published_;
    detail::Statement record_failure_;
    mutable detail::Statement pending_count_; // prepared queries of the const counts
    mutable detail::Statement published_count_;
    mutable detail::Statement backlog_;
    detail::Statement acquire_lease_;
    detail::Statement release_lease_;
    mutable detail::Statement read_lease_;
    detail::Statement check_lease_;
    detail::Statement prune_;
};

} // namespace authevents::bus
