/// @file
/// What SqliteInbox and PostgresInbox share: a DedupStore whose claim() opens a database
/// transaction holding the event's inbox row, which the handlers connected through the inbox
/// write into and complete() commits (or release() rolls back), plus the handler form
/// receiving that transaction.
#pragma once

#include <authevents/bus/dedup.hpp>
#include <authevents/dispatcher.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

namespace authevents::detail {

/// What inserting an inbox row found.
enum class InboxInsert {
    inserted, ///< The row is new (uncommitted): the caller's transaction now holds the event.
    present,  ///< The row exists, committed: the event was handled.
    busy,     ///< Another transaction holds the database or the row: try again later.
};

/// The open transaction of a transactional inbox, as a transactional handler receives it
/// (SqliteInbox::Transaction, PostgresInbox::Transaction): the connection `Handle` (sqlite3,
/// PGconn) the transaction is open on and the event it holds. Valid during the handler call
/// only, on its thread. Built by the inbox.
template <class Handle> class InboxTransaction {
public:
    /// Views the transaction open on `connection`, holding the inbox row of `key` (or none).
    InboxTransaction(Handle* connection, const bus::DedupKey* key) noexcept
        : connection_(connection), key_(key) {}

    /// The connection the transaction is open on: run your statements here.
    [[nodiscard]] Handle* connection() const noexcept { return connection_; }
    /// The inbox key of the event being handled; nullptr when the handler was dispatched
    /// locally (its transaction then has no inbox row).
    [[nodiscard]] const bus::DedupKey* inbox_key() const noexcept { return key_; }

private:
    Handle* connection_;
    const bus::DedupKey* key_;
};

/// The transactional inbox, independent of the database. `Transaction` is the view handlers
/// receive (built by make_transaction()). The backend hooks below run on one thread at a time:
/// under the mutex while no thread holds a transaction, else on the holder thread only.
///
/// Thread-safety: every public member may be called from any thread. One transaction is open
/// at a time: a thread that wants the connection while another holds a transaction waits for
/// it to end (so members sharing one inbox object handle one event at a time; give each
/// consumer thread its own inbox object for parallel handling).
template <class Transaction> class TransactionalInbox : public bus::DedupStore {
public:
    /// Atomically, in a new transaction: inserts the inbox row of `key` and returns claimed,
    /// keeping the transaction open for the handlers until complete() or release() on this
    /// thread; or, if the row exists, rolls back and returns done; or, if the database makes
    /// it wait too long (another member runs the same event, or holds the write lock),
    /// returns in_progress. `owner` and `lease` are not used: the open transaction is the
    /// claim, and it ends with the transaction (a crash rolls it back). A transaction this
    /// thread left open by a claim never completed nor released is rolled back first.
    /// @throws SqliteError when the database of a SqliteInbox fails.
    /// @throws PostgresError when the database of a PostgresInbox fails.
    [[nodiscard]] bus::ClaimState claim(const bus::DedupKey& key, std::string_view /*owner*/,
                                        std::chrono::milliseconds /*lease*/) override {
        std::unique_lock<std::mutex> lock(mutex_);
        if (holder_ == std::this_thread::get_id()) {
            abandon_locked();
        }
        idle_.wait(lock, [this] { return holder_ == std::thread::id(); });
        if (!begin()) {
            return bus::ClaimState::in_progress;
        }
        InboxInsert found = InboxInsert::busy;
        try {
            found = insert_key(key);
        } catch (...) {
            rollback();
            throw;
        }
        if (found != InboxInsert::inserted) {
            rollback();
            return found == InboxInsert::present ? bus::ClaimState::done
                                                 : bus::ClaimState::in_progress;
        }
        key_ = key;
        holder_ = std::this_thread::get_id();
        return bus::ClaimState::claimed;
    }

    /// Does nothing: the open transaction holds the event for as long as it runs.
    void extend(const bus::DedupKey& /*key*/, std::string_view /*owner*/,
                std::chrono::milliseconds /*lease*/) override {}

    /// Commits the transaction claim() opened for `key` on this thread: the inbox row and
    /// everything the handlers wrote, together. Without such a transaction, records `key` as
    /// handled on its own (in this thread's open transaction, if any, else in a transaction of
    /// its own).
    /// @throws the backend's error if the commit fails; the transaction is then rolled back
    ///         (nothing of it stays), so the event runs again.
    void complete(const bus::DedupKey& key) override {
        std::unique_lock<std::mutex> lock(mutex_);
        if (holds(key)) {
            try {
                commit();
            } catch (...) {
                abandon_locked();
                throw;
            }
            end_locked();
            return;
        }
        if (holder_ != std::this_thread::get_id()) {
            idle_.wait(lock, [this] { return holder_ == std::thread::id(); });
        }
        mark_done(key); // in this thread's open transaction, if any: it commits with it
    }

    /// Rolls back the transaction claim() opened for `key` on this thread: the inbox row and
    /// everything the handlers wrote are undone, so a retry runs the event again. No effect
    /// otherwise. Does not throw the backend's errors (a failed ROLLBACK ends the transaction
    /// too).
    void release(const bus::DedupKey& key, std::string_view /*owner*/) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (holds(key)) {
            abandon_locked();
        }
    }

    /// True if the inbox row of `key` is committed (or, on the thread holding the transaction,
    /// in it). Waits while another thread holds a transaction. @throws the backend's error.
    [[nodiscard]] bool done(const bus::DedupKey& key) override {
        std::unique_lock<std::mutex> lock(mutex_);
        if (holder_ != std::this_thread::get_id()) {
            idle_.wait(lock, [this] { return holder_ == std::thread::id(); });
        }
        return is_done(key);
    }

    /// Runs `work(transaction)` in the database transaction of this thread: the consumer's
    /// (when called from a handler it runs, then `transaction.inbox_key()` names the event),
    /// or else a new one, committed when `work` returns and rolled back when it throws (the
    /// exception is rethrown). Waits while another thread holds a transaction. Returns what
    /// `work` returns.
    /// @throws what `work` throws.
    /// @throws the backend's error if the database fails.
    template <class F> decltype(auto) transaction(F&& work) {
        static_assert(std::is_invocable_v<F&, Transaction&>,
                      "authevents::bus inbox transaction(work): `work` must be callable with the "
                      "inbox's Transaction& (e.g. `[](authevents::bus::SqliteInbox::Transaction& "
                      "tx) { ... }`)");
        std::unique_lock<std::mutex> lock(mutex_);
        if (holder_ == std::this_thread::get_id()) {
            Transaction current = make_transaction(key_ ? &*key_ : nullptr);
            lock.unlock();
            return std::forward<F>(work)(current);
        }
        idle_.wait(lock, [this] { return holder_ == std::thread::id(); });
        if (!begin()) {
            throw_busy();
        }
        holder_ = std::this_thread::get_id();
        key_.reset();
        lock.unlock();
        struct Ending {
            TransactionalInbox& inbox;
            bool committed = false;
            ~Ending() {
                const std::lock_guard<std::mutex> relock(inbox.mutex_);
                if (!committed) {
                    inbox.abandon_locked();
                }
            }
        } ending{*this};
        Transaction current = make_transaction(nullptr);
        if constexpr (std::is_void_v<std::invoke_result_t<F&, Transaction&>>) {
            std::forward<F>(work)(current);
            finish(ending.committed);
        } else {
            decltype(auto) result = std::forward<F>(work)(current);
            finish(ending.committed);
            return result;
        }
    }

    /// Connects `handler`, called as `handler(event, transaction)`, to `Event` on `dispatcher`:
    /// its database effects share the transaction of the event's inbox row, so for an event
    /// a StreamConsumer delivers through this inbox they commit exactly once, with the row.
    /// A handler that throws makes the dispatch fail: the consumer rolls the whole transaction
    /// back (row and effects of every handler) and the event runs again later. Dispatched
    /// locally (not by a consumer using this inbox), the handler runs in a transaction of its
    /// own (see transaction()), with no inbox row. `options` are the dispatcher's (uid,
    /// sender, priority); the slot is dropped once this inbox is destroyed (unless
    /// `options.track` is set, then it tracks that). The inbox must outlive dispatches that
    /// call the handler.
    /// @throws std::invalid_argument if `options.executor` is set (a queued handler would run
    ///         outside the transaction, on another thread).
    /// @throws what EventDispatcher::connect throws.
    template <class Event, class F>
    ::authevents::Connection connect(EventDispatcher& dispatcher, F&& handler,
                                     ConnectOptions options = {}) {
        static_assert(std::is_invocable_v<std::decay_t<F>&, const Event&, Transaction&>,
                      "authevents::bus inbox connect<Event>(dispatcher, handler): a transactional "
                      "handler must be callable as handler(const Event&, Transaction&), e.g. "
                      "`[](const authevents::UserRegistered& event, "
                      "authevents::bus::SqliteInbox::Transaction& tx) { ... }`");
        if (options.executor) {
            throw std::invalid_argument(
                "inbox: connect: a transactional handler cannot have an executor: it must run "
                "in the consumer's transaction, on the consumer's thread");
        }
        const std::weak_ptr<const void> unset;
        if (!options.track.owner_before(unset) && !unset.owner_before(options.track)) {
            options.track = alive_; // no track given: drop the slot with this inbox
        }
        return dispatcher.connect<Event>(
            [this, call = std::decay_t<F>(std::forward<F>(handler))](const Event& event) mutable {
                transaction([&](Transaction& tx) { call(event, tx); });
            },
            std::move(options));
    }

    TransactionalInbox(const TransactionalInbox&) = delete;
    TransactionalInbox& operator=(const TransactionalInbox&) = delete;

protected:
    TransactionalInbox() = default;
    ~TransactionalInbox() override = default;

    /// Begins a transaction; false when the database stayed busy (locked by another writer).
    virtual bool begin() = 0;
    /// Inserts `key`'s inbox row in the open transaction.
    virtual InboxInsert insert_key(const bus::DedupKey& key) = 0;
    /// Commits the open transaction.
    /// @throws the backend's error if it did not commit.
    virtual void commit() = 0;
    /// Rolls the open transaction back, if any; never throws.
    virtual void rollback() noexcept = 0;
    /// True if `key`'s row exists (outside a transaction, or in the caller's).
    virtual bool is_done(const bus::DedupKey& key) = 0;
    /// Inserts `key`'s row in a transaction of its own (no effect if it exists).
    virtual void mark_done(const bus::DedupKey& key) = 0;
    /// The view handed to handlers; `key` is null outside a consumer's transaction.
    virtual Transaction make_transaction(const bus::DedupKey* key) = 0;
    /// Reports a database that stayed busy at begin(); never returns.
    /// @throws the backend's error for it.
    [[noreturn]] virtual void throw_busy() = 0;

private:
    bool holds(const bus::DedupKey& key) const {
        return holder_ == std::this_thread::get_id() && key_ && key_->text() == key.text();
    }

    // Rolls back and frees the connection; mutex_ held.
    void abandon_locked() noexcept {
        rollback();
        end_locked();
    }

    // Frees the connection for other threads; mutex_ held.
    void end_locked() noexcept {
        holder_ = std::thread::id();
        key_.reset();
        idle_.notify_all();
    }

    // Commits a transaction() of its own; on success marks it committed and frees the
    // connection (on failure the Ending guard rolls back).
    void finish(bool& committed) {
        commit();
        const std::lock_guard<std::mutex> lock(mutex_);
        committed = true;
        end_locked();
    }

    std::mutex mutex_;
    std::condition_variable idle_;
    std::thread::id holder_;           // the thread with the open transaction (none: default id)
    std::optional<bus::DedupKey> key_; // the event whose inbox row the transaction holds
    std::shared_ptr<const int> alive_ = std::make_shared<const int>(0); // tracked by handlers
};

} // namespace authevents::detail
