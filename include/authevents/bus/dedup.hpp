/// @file
/// Consumer-side inbox: the outbox publishes at least once, so a consumer group records which
/// event ids it has handled (and which one of its members is handling right now) and skips
/// redelivered ones. Keys are per consumer group (stream + group + event id).
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
#include <unordered_map>
#include <utility>

namespace authevents::bus {

/// The inbox key of one event for one consumer group: two groups on one stream never share
/// state, so each receives every event. A plain value.
struct DedupKey {
    std::string stream;   ///< The stream the event was read from.
    std::string group;    ///< The consumer group reading it.
    std::string event_id; ///< The CloudEvent id.

    /// `<stream>:<group>:<event id>`, with `%` and `:` in stream and group written as `%25`
    /// and `%3A`, so distinct keys never give the same text.
    /// @throws std::bad_alloc only.
    [[nodiscard]] std::string text() const {
        std::string out;
        out.reserve(stream.size() + group.size() + event_id.size() + 2);
        for (const std::string* part : {&stream, &group}) {
            for (const char c : *part) {
                if (c == '%') {
                    out += "%25";
                } else if (c == ':') {
                    out += "%3A";
                } else {
                    out += c;
                }
            }
            out += ':';
        }
        out += event_id;
        return out;
    }
};

/// What DedupStore::claim() found.
enum class ClaimState {
    claimed,     ///< The caller now holds the event (for the lease) and must run it, then
                 ///< complete() or release() it.
    done,        ///< Handled before: skip it.
    in_progress, ///< Another holder's lease has not expired: try again later.
};

/// The inbox of a consumer group: per DedupKey, absent, in progress (held by an owner until a
/// lease expires) or done. claim() is atomic, so two members handed one event (a duplicate
/// entry, or an entry claimed from a slow member) never both run it while the lease holds.
/// Use: claim(); on ClaimState::claimed run the handlers, then complete() on success or
/// release() on failure (a crash in between: the lease expires and the event runs again,
/// at least once, never lost). Implementations are thread-safe; failures of the storage
/// throw (SqliteError, RedisConnectionError, ...), and the consumer retries later.
///
/// A store may be transactional (SqliteInbox, PostgresInbox): claim() then opens a database
/// transaction holding the key, the handlers write in it, complete() commits it (a failure
/// throws, and the consumer treats the delivery as failed) and release() rolls it back. So
/// callers end every claimed key with complete() or release() on the thread that claimed it.
class DedupStore {
public:
    /// Destroys the store.
    virtual ~DedupStore() = default;

    /// Atomically: if `key` is absent, or in progress with an expired lease or for `owner`
    /// itself (a claim left by this member before a restart), marks it in progress for
    /// `owner` until now + `lease` and returns claimed; else returns done or in_progress.
    /// @throws the store's own error on a storage failure.
    [[nodiscard]] virtual ClaimState claim(const DedupKey& key, std::string_view owner,
                                           std::chrono::milliseconds lease) = 0;

    /// Extends `owner`'s claim on `key` to now + `lease` (no effect if `owner` does not hold
    /// it).
    /// @throws the store's own error on a storage failure.
    virtual void extend(const DedupKey& key, std::string_view owner,
                        std::chrono::milliseconds lease) = 0;

    /// Marks `key` done (whoever held it); idempotent.
    /// @throws the store's own error on a storage failure.
    virtual void complete(const DedupKey& key) = 0;

    /// Drops `owner`'s claim on `key`, so a retry can claim it (no effect on a done key or
    /// another owner's claim).
    /// @throws the store's own error on a storage failure.
    virtual void release(const DedupKey& key, std::string_view owner) = 0;

    /// True if `key` is done.
    /// @throws the store's own error on a storage failure.
    [[nodiscard]] virtual bool done(const DedupKey& key) = 0;

protected:
    DedupStore() = default;
    DedupStore(const DedupStore&) = default;
    DedupStore& operator=(const DedupStore&) = default;
    DedupStore(DedupStore&&) = default;
    DedupStore& operator=(DedupStore&&) = default;
};

/// In memory and bounded: beyond `capacity` done keys it forgets the oldest (in the order they
/// became done). Nothing survives the process, and only members of this process share it.
/// Thread-safe (a mutex); throws only std::bad_alloc.
class MemoryDedupStore final : public DedupStore {
public:
    /// An empty store keeping at most `capacity` done keys.
    /// @throws std::invalid_argument if `capacity` is zero.
    explicit MemoryDedupStore(std::size_t capacity = 100000) : capacity_(capacity) {
        if (capacity_ == 0) {
            throw std::invalid_argument("dedup: MemoryDedupStore capacity must be at least 1");
        }
    }

    MemoryDedupStore(const MemoryDedupStore&) = delete;
    MemoryDedupStore& operator=(const MemoryDedupStore&) = delete;

    /// See DedupStore::claim(). Thread-safe.
    [[nodiscard]] ClaimState claim(const DedupKey& key, std::string_view owner,
                                   std::chrono::milliseconds lease) override {
        const auto now = Clock::now();
        const std::lock_guard<std::mutex> lock(mutex_);
        auto [slot, inserted] = slots_.try_emplace(key.text());
        if (!inserted) {
            if (slot->second.done) {
                return ClaimState::done;
            }
            if (slot->second.expires > now && slot->second.owner != owner) {
                return ClaimState::in_progress;
            }
        }
        slot->second.owner.assign(owner);
        slot->second.expires = now + lease;
        return ClaimState::claimed;
    }

    /// See DedupStore::extend(). Thread-safe.
    void extend(const DedupKey& key, std::string_view owner,
                std::chrono::milliseconds lease) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        const auto slot = slots_.find(key.text());
        if (slot != slots_.end() && !slot->second.done && slot->second.owner == owner) {
            slot->second.expires = Clock::now() + lease;
        }
    }

    /// See DedupStore::complete(); may forget the oldest done key. Thread-safe.
    void complete(const DedupKey& key) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        auto [slot, inserted] = slots_.try_emplace(key.text());
        if (!inserted && slot->second.done) {
            return;
        }
        slot->second.done = true;
        try {
            order_.push_back(&slot->first); // node addresses survive rehashing
        } catch (...) {
            slots_.erase(slot);
            throw;
        }
        if (order_.size() > capacity_) {
            slots_.erase(*order_.front());
            order_.pop_front();
        }
    }

    /// See DedupStore::release(). Thread-safe.
    void release(const DedupKey& key, std::string_view owner) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        const auto slot = slots_.find(key.text());
        if (slot != slots_.end() && !slot->second.done && slot->second.owner == owner) {
            slots_.erase(slot);
        }
    }

    /// See DedupStore::done(). Thread-safe.
    [[nodiscard]] bool done(const DedupKey& key) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        const auto slot = slots_.find(key.text());
        return slot != slots_.end() && slot->second.done;
    }

    /// How many done keys are kept now (at most the capacity). Thread-safe, never throws.
    [[nodiscard]] std::size_t size() const noexcept {
        const std::lock_guard<std::mutex> lock(mutex_);
        return order_.size();
    }

    /// The most done keys kept. Thread-safe, never throws.
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

private:
    using Clock = std::chrono::steady_clock;
    struct Slot {
        bool done = false;
        std::string owner;
        Clock::time_point expires{};
    };

    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Slot> slots_;
    std::deque<const std::string*> order_; // done keys, oldest first, pointing into slots_
};

/// In an SQLite table (stream, consumer_group, event_id, state, owner, expires_at_ms,
/// updated_at_ms; primary key stream + consumer_group + event_id): survives consumer
/// restarts, and members on one host share it through the file. ":memory:" is allowed but
/// then nothing survives the process. Opened in WAL mode (for files) with synchronous=NORMAL:
/// a power loss may forget the last few done keys, whose events then run again (at least
/// once, never lost). Grows until prune(). claim() is one atomic upsert.
///
/// Thread-safe: a mutex serialises the connection; other processes are handled by SQLite's
/// locking and a 5 s busy timeout. SQLite failures throw SqliteError.
class SqliteDedupStore final : public DedupStore {
public:
    /// Opens, creating if needed, the database at `path` and the table (with an index on
    /// updated_at_ms).
    /// @throws std::invalid_argument for an empty path, an invalid table name (must match
    /// [A-Za-z_][A-Za-z0-9_]*) or a table of the layout before per-group keys (event_id,
    /// consumed_at_ms: see "Migrating the inbox" in docs/bus.md).
    /// @throws SqliteError if SQLite fails.
    explicit SqliteDedupStore(std::string path, std::string table = "authevents_inbox")
        : path_(std::move(path)), table_(std::move(table)) {
        detail::validate_identifier(table_, "dedup");
        db_ = detail::open_database(path_, "dedup", std::chrono::milliseconds(5000), true);
        sqlite3* db = db_.get();
        // WAL where possible; an in-memory database keeps its "memory" journal.
        (void)detail::query_text(db, "PRAGMA journal_mode=WAL", "dedup: set journal mode");
        detail::execute(db, "PRAGMA synchronous=NORMAL", "dedup: set synchronous");
        const std::string quoted = detail::quote_identifier(table_);
        if (detail::query_text(db,
                               "SELECT count(*) FROM pragma_table_info('" + table_ +
                                   "') WHERE name = 'consumed_at_ms'",
                               "dedup: check layout") != "0") {
            throw std::invalid_argument(
                "dedup: table '" + table_ +
                "' has the old layout (event_id, consumed_at_ms) without the consumer group; "
                "migrate it as docs/bus.md describes (\"Migrating the inbox\")");
        }
        const std::string create_table =
            "CREATE TABLE IF NOT EXISTS " + quoted +
            " (stream TEXT NOT NULL, consumer_group TEXT NOT NULL, event_id TEXT NOT NULL,"
            " state INTEGER NOT NULL, owner TEXT NOT NULL, expires_at_ms INTEGER NOT NULL,"
            " updated_at_ms INTEGER NOT NULL, PRIMARY KEY (stream, consumer_group, event_id))"
            " WITHOUT ROWID";
        const std::string create_index = "CREATE INDEX IF NOT EXISTS " +
                                         detail::quote_identifier(table_ + "_by_time") + " ON " +
                                         quoted + " (updated_at_ms)";
        detail::execute(db, create_table.c_str(), "dedup: create table");
        detail::execute(db, create_index.c_str(), "dedup: create index");
        const std::string key = " stream = ?1 AND consumer_group = ?2 AND event_id = ?3";
        claim_ = statement("INSERT INTO " + quoted +
                               " VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6) ON CONFLICT DO UPDATE SET"
                               " owner = excluded.owner, expires_at_ms = excluded.expires_at_ms,"
                               " updated_at_ms = excluded.updated_at_ms"
                               " WHERE state = 0 AND (expires_at_ms <= ?6 OR owner = ?4)",
                           "dedup: claim");
        state_ = statement("SELECT state FROM " + quoted + " WHERE" + key, "dedup: state");
        extend_ = statement("UPDATE " + quoted + " SET expires_at_ms = ?5, updated_at_ms = ?6" +
                                " WHERE" + key + " AND state = 0 AND owner = ?4",
                            "dedup: extend");
        complete_ = statement("INSERT INTO " + quoted +
                                  " VALUES (?1, ?2, ?3, 1, '', 0, ?6) ON CONFLICT DO UPDATE SET"
                                  " state = 1, updated_at_ms = excluded.updated_at_ms",
                              "dedup: complete");
        release_ = statement("DELETE FROM " + quoted + " WHERE" + key +
                                 " AND state = 0 AND (owner = ?4 OR expires_at_ms <= ?6)",
                             "dedup: release");
        prune_ = statement("DELETE FROM " + quoted +
                               " WHERE updated_at_ms <= ?1 AND (state = 1 OR expires_at_ms <= ?2)",
                           "dedup: prune");
        size_ = statement("SELECT count(*) FROM " + quoted + " WHERE state = 1", "dedup: size");
    }

    SqliteDedupStore(const SqliteDedupStore&) = delete;
    SqliteDedupStore& operator=(const SqliteDedupStore&) = delete;

    /// Closes the connection. Must not run concurrently with another member call.
    ~SqliteDedupStore() override = default;

    /// See DedupStore::claim(): one upsert. Thread-safe.
    /// @throws SqliteError if SQLite fails.
    [[nodiscard]] ClaimState claim(const DedupKey& key, std::string_view owner,
                                   std::chrono::milliseconds lease) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (run(claim_, key, owner, lease) == 1) {
            return ClaimState::claimed;
        }
        const detail::Statement::Use use(state_);
        bind_key(state_, key);
        return state_.step() && state_.column_int64(0) == 1 ? ClaimState::done
                                                            : ClaimState::in_progress;
    }

    /// See DedupStore::extend(). Thread-safe.
    /// @throws SqliteError if SQLite fails.
    void extend(const DedupKey& key, std::string_view owner,
                std::chrono::milliseconds lease) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        (void)run(extend_, key, owner, lease);
    }

    /// See DedupStore::complete(): durable when it returns (see the class note on power
    /// loss). Thread-safe.
    /// @throws SqliteError if SQLite fails.
    void complete(const DedupKey& key) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        (void)run(complete_, key, {}, std::chrono::milliseconds(0));
    }

    /// See DedupStore::release(). Thread-safe.
    /// @throws SqliteError if SQLite fails.
    void release(const DedupKey& key, std::string_view owner) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        (void)run(release_, key, owner, std::chrono::milliseconds(0));
    }

    /// See DedupStore::done(). Thread-safe.
    /// @throws SqliteError if SQLite fails.
    [[nodiscard]] bool done(const DedupKey& key) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        const detail::Statement::Use use(state_);
        bind_key(state_, key);
        return state_.step() && state_.column_int64(0) == 1;
    }

    /// Forgets the done keys (and expired claims) last updated at least `age` ago and returns
    /// how many. Choose `age` well beyond the longest redelivery delay. Thread-safe.
    /// @throws std::invalid_argument for a negative age.
    /// @throws SqliteError if SQLite fails.
    std::size_t prune(std::chrono::milliseconds age) {
        if (age.count() < 0) {
            throw std::invalid_argument("dedup: prune: the age is negative");
        }
        const std::lock_guard<std::mutex> lock(mutex_);
        const detail::Statement::Use use(prune_);
        const std::int64_t now = detail::now_ms();
        prune_.bind_int64(1, now - static_cast<std::int64_t>(age.count()));
        prune_.bind_int64(2, now);
        prune_.step();
        return static_cast<std::size_t>(sqlite3_changes(db_.get()));
    }

    /// How many done keys are stored. Thread-safe.
    /// @throws SqliteError if SQLite fails.
    [[nodiscard]] std::size_t size() {
        const std::lock_guard<std::mutex> lock(mutex_);
        const detail::Statement::Use use(size_);
        size_.step();
        return static_cast<std::size_t>(size_.column_int64(0));
    }

    /// The database path, as given. Thread-safe, never throws.
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    detail::Statement statement(const std::string& sql, const char* context) {
        return detail::Statement(db_.get(), sql, context);
    }

    static void bind_key(detail::Statement& statement, const DedupKey& key) {
        statement.bind_text(1, key.stream);
        statement.bind_text(2, key.group);
        statement.bind_text(3, key.event_id);
    }

    // Runs a statement with parameters ?1-?3 the key, ?4 the owner, ?5 now + lease, ?6 now;
    // returns the rows changed.
    int run(detail::Statement& statement, const DedupKey& key, std::string_view owner,
            std::chrono::milliseconds lease) {
        const detail::Statement::Use use(statement);
        const std::int64_t now = detail::now_ms();
        bind_key(statement, key);
        statement.bind_text(4, owner);
        statement.bind_int64(5, now + static_cast<std::int64_t>(lease.count()));
        statement.bind_int64(6, now);
        statement.step();
        return sqlite3_changes(db_.get());
    }

    std::string path_;
    std::string table_;
    std::mutex mutex_;
    detail::SqliteConnection db_; // declared before the statements: destroyed after them
    detail::Statement claim_;
    detail::Statement state_;
    detail::Statement extend_;
    detail::Statement complete_;
    detail::Statement release_;
    detail::Statement prune_;
    detail::Statement size_;
};

} // namespace authevents::bus
