/// @file
/// SqliteInbox: a transactional inbox in the consumer's own SQLite database. The consumer
/// records each event's id in the same transaction as the database effects of the handlers
/// connected through the inbox, so those effects happen exactly once per consumer group.
#pragma once

#include <authevents/bus/dedup.hpp>
#include <authevents/bus/detail/sqlite.hpp>
#include <authevents/bus/detail/transactional_inbox.hpp>
#include <authevents/bus/inbox_options.hpp>

#include <sqlite3.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace authevents::bus {

/// Options of a SqliteInbox: `table` (InboxOptions; not the SqliteDedupStore table, the
/// layouts differ, and not starting with sqlite_) and busy_timeout.
struct SqliteInboxOptions : InboxOptions {
    /// How long beginning a transaction waits for another connection's write lock before the
    /// event is left pending for later (the consumer counts it as busy).
    std::chrono::milliseconds busy_timeout{5000};
};

/// A transactional inbox in an SQLite database that your handlers write to: use it as the
/// StreamConsumer's DedupStore and connect the handlers that write to this database through
/// it (connect()). For each event the consumer then, in one transaction on the inbox's
/// connection: inserts the event's inbox row (stream, group, event id: keyed per consumer
/// group like every DedupStore), runs the handlers, and commits when all of them returned
/// normally. A handler that throws, even after writing, rolls back the row and every write of
/// every transactional handler; the entry stays pending and the event runs again. A redelivered
/// event whose row is committed is skipped. So the database effects of these handlers happen
/// exactly once; other handlers (e-mail, HTTP) still run at least once.
///
///     using authevents::bus::SqliteInbox;
///     SqliteInbox inbox("/var/lib/notifications/app.db");
///     inbox.connect<authevents::UserRegistered>(
///         events, [](const authevents::UserRegistered& e, SqliteInbox::Transaction& tx) {
///             add_welcome_credit(tx.connection(), e.user.id); // in the inbox row's transaction
///         });
///     authevents::bus::StreamConsumer consumer(redis, events, inbox, options);
///
/// Opened in WAL mode with synchronous=FULL, so a committed row and its effects survive a
/// power loss before the consumer acknowledges the entry. Handlers must let SQLite errors
/// propagate (a statement that fails with SQLITE_FULL, IOERR, BUSY or NOMEM may end the
/// transaction, which commit then reports). Handlers must not begin, commit or roll back
/// themselves (use SAVEPOINT for a part that may fail alone).
///
/// Thread-safety: all members may be called from any thread; one transaction is open at a
/// time on the inbox's single connection, so the consumers sharing one inbox object handle one
/// event at a time (and other processes writing the file wait for it; see busy_timeout). Only
/// the thread running a transaction may use its Transaction. Errors throw SqliteError.
class SqliteInbox final : public detail::TransactionalInbox<detail::InboxTransaction<sqlite3>> {
public:
    /// The view of the open transaction a transactional handler receives: `connection()` is
    /// the inbox's sqlite3 connection, `inbox_key()` the event (null for a local dispatch).
    /// Valid during the handler call only, on its thread.
    using Transaction = detail::InboxTransaction<sqlite3>;

    /// Opens (creating) the database at `path` and the inbox table.
    /// @throws std::invalid_argument for an empty path, ":memory:" (nothing would survive),
    ///         an invalid table name or a negative busy_timeout.
    /// @throws SqliteError if SQLite fails.
    explicit SqliteInbox(std::string path, SqliteInboxOptions options = {});

    /// Rolls back a transaction left open, and closes the connection. No other member call
    /// may run concurrently, and no consumer may use the inbox any more.
    ~SqliteInbox() override { rollback(); }

    /// Forgets the inbox rows of events handled at least `age` ago and returns how many.
    /// Choose `age` well beyond the longest redelivery delay: a redelivered event whose row is
    /// gone runs again.
    /// @throws std::invalid_argument for a negative age.
    /// @throws SqliteError if SQLite fails.
    std::size_t prune(std::chrono::milliseconds age);

    /// How many inbox rows are stored. @throws SqliteError.
    [[nodiscard]] std::size_t size();

    /// The database path, as given. Thread-safe, never throws.
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

    /// The options in use. Thread-safe, never throws.
    [[nodiscard]] const SqliteInboxOptions& options() const noexcept { return options_; }

private:
    bool begin() override;
    detail::InboxInsert insert_key(const DedupKey& key) override;
    void commit() override;
    void rollback() noexcept override;
    bool is_done(const DedupKey& key) override;
    void mark_done(const DedupKey& key) override;
    Transaction make_transaction(const DedupKey* key) override;
    [[noreturn]] void throw_busy() override;

    void bind_key(detail::Statement& statement, const DedupKey& key) {
        statement.bind_text(1, key.stream);
        statement.bind_text(2, key.group);
        statement.bind_text(3, key.event_id);
    }

    // Inserts `key`'s row unless present; returns whether it inserted.
    bool insert(const DedupKey& key) {
        const detail::Statement::Use use(insert_);
        bind_key(insert_, key);
        insert_.bind_int64(4, detail::now_ms());
        insert_.step();
        return sqlite3_changes(db_.get()) == 1;
    }

    std::string path_;
    SqliteInboxOptions options_;
    detail::SqliteConnection db_; // declared before the statements: destroyed after them
    detail::Statement insert_;
    detail::Statement select_;
    detail::Statement prune_;
    detail::Statement size_;
};

inline SqliteInbox::SqliteInbox(std::string path, SqliteInboxOptions options)
    : path_(std::move(path)), options_(std::move(options)) {
    detail::validate_inbox_options(options_, options_.busy_timeout, "busy_timeout",
                                   detail::validate_identifier);
    db_ = detail::open_database(path_, "inbox", options_.busy_timeout, false);
    sqlite3* db = db_.get();
    (void)detail::query_text(db, "PRAGMA journal_mode=WAL", "inbox: set journal mode");
    detail::execute(db, "PRAGMA synchronous=FULL", "inbox: set synchronous");
    const std::string table = detail::quote_identifier(options_.table);
    const std::string create =
        "CREATE TABLE IF NOT EXISTS " + table +
        " (stream TEXT NOT NULL, consumer_group TEXT NOT NULL, event_id TEXT NOT NULL,"
        " handled_at_ms INTEGER NOT NULL, PRIMARY KEY (stream, consumer_group, event_id))"
        " WITHOUT ROWID";
    detail::execute(db, create.c_str(), "inbox: create table");
    if (detail::query_text(db,
                           "SELECT count(*) FROM pragma_table_info('" + options_.table +
                               "') WHERE name = 'handled_at_ms'",
                           "inbox: check layout") != "1") {
        throw std::invalid_argument("inbox: table '" + options_.table +
                                    "' exists with another layout (a SqliteDedupStore table?); "
                                    "give the inbox a table of its own");
    }
    insert_ = detail::Statement(
        db, "INSERT INTO " + table + " VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        "inbox: insert");
    select_ = detail::Statement(db,
                                "SELECT count(*) FROM " + table +
                                    " WHERE stream = ?1 AND consumer_group = ?2 AND event_id = ?3",
                                "inbox: select");
    prune_ = detail::Statement(db, "DELETE FROM " + table + " WHERE handled_at_ms <= ?1",
                               "inbox: prune");
    size_ = detail::Statement(db, "SELECT count(*) FROM " + table, "inbox: size");
}

inline std::size_t SqliteInbox::prune(std::chrono::milliseconds age) {
    if (age.count() < 0) {
        throw std::invalid_argument("inbox: prune: the age is negative");
    }
    return transaction([&](Transaction&) {
        const detail::Statement::Use use(prune_);
        prune_.bind_int64(1, detail::now_ms() - static_cast<std::int64_t>(age.count()));
        prune_.step();
        return static_cast<std::size_t>(sqlite3_changes(db_.get()));
    });
}

inline std::size_t SqliteInbox::size() {
    return transaction([&](Transaction&) {
        const detail::Statement::Use use(size_);
        size_.step();
        return static_cast<std::size_t>(size_.column_int64(0));
    });
}

inline bool SqliteInbox::begin() {
    const int rc = sqlite3_exec(db_.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) {
        return true;
    }
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
        return false;
    }
    detail::throw_sqlite(db_.get(), rc, "inbox: begin");
}

inline detail::InboxInsert SqliteInbox::insert_key(const DedupKey& key) {
    return insert(key) ? detail::InboxInsert::inserted : detail::InboxInsert::present;
}

inline void SqliteInbox::commit() {
    if (sqlite3_get_autocommit(db_.get()) != 0) {
        throw SqliteError(SQLITE_ERROR,
                          "inbox: commit failed: SQLite already ended the transaction (a "
                          "statement in a handler failed with an error that rolls back, and the "
                          "handler went on); nothing of it was kept");
    }
    detail::execute(db_.get(), "COMMIT", "inbox: commit");
}

inline void SqliteInbox::rollback() noexcept {
    if (db_ && sqlite3_get_autocommit(db_.get()) == 0) {
        sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
}

inline bool SqliteInbox::is_done(const DedupKey& key) {
    const detail::Statement::Use use(select_);
    bind_key(select_, key);
    return select_.step() && select_.column_int64(0) > 0;
}

inline void SqliteInbox::mark_done(const DedupKey& key) { (void)insert(key); }

inline SqliteInbox::Transaction SqliteInbox::make_transaction(const DedupKey* key) {
    return Transaction(db_.get(), key);
}

inline void SqliteInbox::throw_busy() {
    throw SqliteError(SQLITE_BUSY, "inbox: begin failed: the database stayed locked by another "
                                   "connection for busy_timeout (SQLITE_BUSY)");
}

} // namespace authevents::bus
