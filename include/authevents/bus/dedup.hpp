/// @file
/// Consumer-side duplicate filtering: the outbox publishes at least once, so a consumer
/// remembers which event ids it has handled and skips redelivered ones.
#pragma once

#include <authevents/bus/detail/sqlite.hpp>

#include <sqlite3.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace authevents::bus {

/// Remembers which event ids a consumer has already handled, to skip redelivered duplicates.
/// Use: if seen(id), skip; else handle the event, then remember(id) (a crash in between means
/// the event is handled again, never lost). Implementations are thread-safe.
class DedupStore {
public:
    /// Destroys the store.
    virtual ~DedupStore() = default;

    /// True if `event_id` was remembered (and not forgotten since). May throw on storage
    /// failure (SqliteError for SqliteDedupStore).
    [[nodiscard]] virtual bool seen(std::string_view event_id) = 0;

    /// Marks `event_id` handled; idempotent. May throw on storage failure.
    virtual void remember(std::string_view event_id) = 0;

protected:
    DedupStore() = default;
    DedupStore(const DedupStore&) = default;
    DedupStore& operator=(const DedupStore&) = default;
    DedupStore(DedupStore&&) = default;
    DedupStore& operator=(DedupStore&&) = default;
};

/// In memory and bounded: beyond `capacity` ids it forgets the oldest remembered (FIFO order
/// of first remember(); remembering an id again does not refresh it). Nothing survives the
/// process. Thread-safe (a mutex); throws only std::bad_alloc.
class MemoryDedupStore final : public DedupStore {
public:
    /// An empty store keeping at most `capacity` ids. Throws std::invalid_argument if
    /// `capacity` is zero.
    explicit MemoryDedupStore(std::size_t capacity = 100000) : capacity_(capacity) {
        if (capacity_ == 0) {
            throw std::invalid_argument("dedup: MemoryDedupStore capacity must be at least 1");
        }
    }

    MemoryDedupStore(const MemoryDedupStore&) = delete;
    MemoryDedupStore& operator=(const MemoryDedupStore&) = delete;

    /// True if `event_id` is among the remembered ids. Thread-safe.
    [[nodiscard]] bool seen(std::string_view event_id) override {
        const std::string key(event_id);
        const std::lock_guard<std::mutex> lock(mutex_);
        return ids_.find(key) != ids_.end();
    }

    /// Remembers `event_id`, forgetting the oldest id if the store is full. Thread-safe.
    void remember(std::string_view event_id) override {
        std::string key(event_id);
        const std::lock_guard<std::mutex> lock(mutex_);
        const auto inserted = ids_.insert(std::move(key));
        if (!inserted.second) {
            return;
        }
        try {
            order_.push_back(&*inserted.first); // element addresses survive rehashing
        } catch (...) {
            ids_.erase(inserted.first);
            throw;
        }
        if (order_.size() > capacity_) {
            ids_.erase(*order_.front());
            order_.pop_front();
        }
    }

    /// How many ids are remembered now (at most the capacity). Thread-safe, never throws.
    [[nodiscard]] std::size_t size() const noexcept {
        const std::lock_guard<std::mutex> lock(mutex_);
        return ids_.size();
    }

    /// The most ids kept. Thread-safe, never throws.
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

private:
    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::unordered_set<std::string> ids_;
    std::deque<const std::string*> order_; // oldest first, pointing into ids_
};

/// In an SQLite table (event_id TEXT PRIMARY KEY, consumed_at_ms INTEGER): survives consumer
/// restarts. ":memory:" is allowed but then nothing survives the process. Opened in WAL mode
/// (for files) with synchronous=NORMAL: a power loss may forget the last few ids, which then
/// count as unhandled and are handled again (at least once, never lost). Grows until prune().
/// Thread-safe: a mutex serialises the connection; other processes are handled by SQLite's
/// locking and a 5 s busy timeout. SQLite failures throw SqliteError.
class SqliteDedupStore final : public DedupStore {
public:
    /// Opens, creating if needed, the database at `path` and the table (with an index on
    /// consumed_at_ms). Throws std::invalid_argument for an empty path or an invalid table
    /// name (must match [A-Za-z_][A-Za-z0-9_]*), SqliteError if SQLite fails.
    explicit SqliteDedupStore(std::string path, std::string table = "authevents_consumed")
        : path_(std::move(path)), table_(std::move(table)) {
        detail::validate_identifier(table_, "dedup");
        db_ = detail::open_database(path_, "dedup", std::chrono::milliseconds(5000), true);
        sqlite3* db = db_.get();
        // WAL where possible; an in-memory database keeps its "memory" journal.
        (void)detail::query_text(db, "PRAGMA journal_mode=WAL", "dedup: set journal mode");
        detail::execute(db, "PRAGMA synchronous=NORMAL", "dedup: set synchronous");
        const std::string quoted = detail::quote_identifier(table_);
        const std::string create_table =
            "CREATE TABLE IF NOT EXISTS " + quoted +
            " (event_id TEXT PRIMARY KEY, consumed_at_ms INTEGER NOT NULL) WITHOUT ROWID";
        const std::string create_index = "CREATE INDEX IF NOT EXISTS " +
                                         detail::quote_identifier(table_ + "_by_time") + " ON " +
                                         quoted + " (consumed_at_ms)";
        detail::execute(db, create_table.c_str(), "dedup: create table");
        detail::execute(db, create_index.c_str(), "dedup: create index");
        seen_ = detail::Statement(db, "SELECT 1 FROM " + quoted + " WHERE event_id = ?1",
                                  "dedup: seen");
        remember_ = detail::Statement(
            db, "INSERT OR IGNORE INTO " + quoted + " (event_id, consumed_at_ms) VALUES (?1, ?2)",
            "dedup: remember");
        prune_ = detail::Statement(db, "DELETE FROM " + quoted + " WHERE consumed_at_ms <= ?1",
                                   "dedup: prune");
        size_ = detail::Statement(db, "SELECT count(*) FROM " + quoted, "dedup: size");
    }

    SqliteDedupStore(const SqliteDedupStore&) = delete;
    SqliteDedupStore& operator=(const SqliteDedupStore&) = delete;

    /// Closes the connection. Must not run concurrently with another member call.
    ~SqliteDedupStore() override = default;

    /// True if `event_id` is in the table. Thread-safe. Throws SqliteError.
    [[nodiscard]] bool seen(std::string_view event_id) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        const detail::Statement::Use use(seen_);
        seen_.bind_text(1, event_id);
        return seen_.step();
    }

    /// Stores `event_id` with the current time, durably when it returns (see the class note
    /// on power loss); an id already stored keeps its first time. Thread-safe. Throws
    /// SqliteError.
    void remember(std::string_view event_id) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        const detail::Statement::Use use(remember_);
        remember_.bind_text(1, event_id);
        remember_.bind_int64(2, detail::now_ms());
        remember_.step();
    }

    /// Forgets the ids remembered at least `age` ago and returns how many. Choose `age` well
    /// beyond the longest redelivery delay. Thread-safe. Throws std::invalid_argument for a
    /// negative age, SqliteError if SQLite fails.
    std::size_t prune(std::chrono::milliseconds age) {
        if (age.count() < 0) {
            throw std::invalid_argument("dedup: prune: the age is negative");
        }
        const std::lock_guard<std::mutex> lock(mutex_);
        const detail::Statement::Use use(prune_);
        prune_.bind_int64(1, detail::now_ms() - static_cast<std::int64_t>(age.count()));
        prune_.step();
        return static_cast<std::size_t>(sqlite3_changes(db_.get()));
    }

    /// How many ids are stored. Thread-safe. Throws SqliteError.
    [[nodiscard]] std::size_t size() {
        const std::lock_guard<std::mutex> lock(mutex_);
        const detail::Statement::Use use(size_);
        size_.step();
        return static_cast<std::size_t>(size_.column_int64(0));
    }

    /// The database path, as given. Thread-safe, never throws.
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
    std::string table_;
    std::mutex mutex_;
    detail::Connection db_; // declared before the statements: destroyed after them
    detail::Statement seen_;
    detail::Statement remember_;
    detail::Statement prune_;
    detail::Statement size_;
};

} // namespace authevents::bus
