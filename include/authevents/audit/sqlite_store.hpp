/// @file
/// SqliteAuditStore: the embedded default AuditStore, one SQLite database file (WAL mode,
/// synchronous=FULL, secure_delete) holding the hash-chained records, the prune checkpoints
/// and the sealing keys, with indexes for queries by user, event type, IP index and time.
///
/// Part of authevents::audit (CMake target authevents::audit: SQLite, libsodium).
#pragma once

#include <authevents/audit/detail/sqlite_store_query.hpp>
#include <authevents/audit/detail/sqlite_store_rows.hpp>
#include <authevents/audit/detail/sqlite_store_schema.hpp>
#include <authevents/audit/detail/sqlite_store_statements.hpp>
#include <authevents/audit/detail/store_checks.hpp>
#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/audit/store.hpp>
#include <authevents/bus/detail/sqlite.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace authevents::audit {

/// Options of a SqliteAuditStore.
struct SqliteAuditStoreOptions {
    /// Prefix of the store's three tables (<prefix>_records, <prefix>_checkpoints,
    /// <prefix>_keys); must match [A-Za-z_][A-Za-z0-9_]* and not start with "sqlite_".
    std::string table_prefix = "authevents_audit";
    /// How long an operation waits for another connection's write lock (another process or
    /// another store object on the same file) before it fails with AuditStoreError.
    std::chrono::milliseconds busy_timeout{5000};
    /// Open for reading only (verify, query, export): every write fails with AuditStoreError,
    /// and the tables must already exist.
    bool read_only = false;
    /// When set, the database may not grow beyond this many pages (PRAGMA max_page_count):
    /// a write that needs more fails with AuditStoreError ("database or disk is full"), as on
    /// a full disk. Must be positive.
    std::optional<std::int64_t> max_page_count;
};

/// An AuditStore in one SQLite database file.
///
///     authevents::audit::SqliteAuditStore store("/var/lib/auth/audit.db");
///     store.append(entries);                       // sequence + chain hash, one transaction
///     auto page = store.query({/*user=*/"user:42"}); // newest first, 100 a page
///
/// Appends run in one BEGIN IMMEDIATE transaction that reads the chain's head, so appenders in
/// several threads, or several store objects and processes on the same file, never fork the
/// chain: they take turns (waiting up to busy_timeout). Records carry their chain hash as 64
/// lower-case hex digits; keys are stored as hex and deleted with secure_delete, and erase_key()
/// checkpoints the write-ahead log so the erased key's bytes leave it too (when no reader holds
/// it back; otherwise at the next checkpoint).
///
/// Thread-safety: every member may be called from any thread at once; the store serialises its
/// calls on its single connection. Exceptions: AuditStoreError names the store's file and the
/// operation, e.g. "audit store '/var/lib/auth/audit.db': append: insert record failed:
/// database or disk is full (SQLITE_FULL)"; invalid arguments throw std::invalid_argument
/// naming the problem; a throwing append() recorded nothing of its batch.
class SqliteAuditStore final : public AuditStore {
public:
    /// The largest `limit` read() accepts.
    static constexpr std::size_t max_read_limit = 100000;
    /// The largest AuditQuery::limit query() accepts.
    static constexpr std::size_t max_query_limit = 10000;

    /// Opens (creating) the database at `path` and the store's tables and indexes.
    /// @throws std::invalid_argument for an empty path, ":memory:", an invalid table prefix,
    ///         a negative busy_timeout, a non-positive max_page_count, or tables of another
    ///         layout under the prefix.
    /// @throws AuditStoreError when SQLite cannot open or set up the database (or, read_only,
    ///         when the tables do not exist).
    explicit SqliteAuditStore(std::string path, SqliteAuditStoreOptions options = {});

    SqliteAuditStore(const SqliteAuditStore&) = delete;
    SqliteAuditStore& operator=(const SqliteAuditStore&) = delete;

    /// Closes the connection. No other member call may run concurrently.
    ~SqliteAuditStore() override = default;

    /// See AuditStore::append(). Every entry is checked before anything is written.
    /// @throws std::invalid_argument for an entry with an empty event_type or data, or an
    ///         empty (present) cloud_event_id, ip_index or source_ip (the message names the
    ///         entry's index in the batch).
    /// @throws AuditStoreError when the database cannot be written.
    AppendResult append(const std::vector<AuditEntry>& entries) override;

    /// See AuditStore::read().
    /// @throws std::invalid_argument unless 1 <= limit <= max_read_limit.
    /// @throws AuditStoreError when the database cannot be read.
    std::vector<AuditRecord> read(std::int64_t after, std::size_t limit) override;

    /// See AuditStore::query().
    /// @throws std::invalid_argument unless 1 <= limit <= max_query_limit, for an empty
    ///         user, event_type or ip_index, or when `from` is not before `until`.
    /// @throws AuditStoreError when the database cannot be read.
    AuditPage query(const AuditQuery& query) override;

    /// See AuditStore::head(): the newest record, or the newest checkpoint when a prune
    /// removed every record. @throws AuditStoreError.
    ChainHead head() override;

    /// See AuditStore::count(). @throws AuditStoreError.
    std::int64_t count() override;

    /// See AuditStore::checkpoints(). @throws AuditStoreError.
    std::vector<Checkpoint> checkpoints() override;

    /// See AuditStore::prune().
    /// @throws std::invalid_argument for a signing key that is not 64 bytes.
    /// @throws AuditStoreError when the database cannot be written.
    std::optional<Checkpoint> prune(AuditTime cut_before,
                                    const std::optional<std::string>& signing_secret_key) override;

    /// See AuditStore::find_key().
    /// @throws std::invalid_argument for an empty scope. @throws AuditStoreError.
    std::optional<std::string> find_key(const std::string& scope) override;

    /// See AuditStore::insert_key().
    /// @throws std::invalid_argument for an empty scope or key. @throws AuditStoreError.
    std::string insert_key(const std::string& scope, const std::string& key) override;

    /// See AuditStore::erase_key().
    /// @throws std::invalid_argument for an empty scope. @throws AuditStoreError.
    bool erase_key(const std::string& scope) override;

    /// The database path, as given. Thread-safe, never throws.
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

    /// The options in use. Thread-safe, never throws.
    [[nodiscard]] const SqliteAuditStoreOptions& options() const noexcept { return options_; }

    /// The table holding the records (`<prefix>_records`), e.g. for a read-only SQL report.
    /// Thread-safe, never throws.
    [[nodiscard]] const std::string& records_table() const noexcept { return tables_.records; }

private:
    // Runs `body` under the mutex, turning SQLite errors into AuditStoreError.
    template <class Body> auto locked(Body&& body) -> decltype(body()) {
        const std::lock_guard<std::mutex> lock(mutex_);
        try {
            return body();
        } catch (const bus::SqliteError& error) {
            throw AuditStoreError(error.what());
        }
    }

    [[nodiscard]] std::string context(const char* operation) const {
        return name_ + ": " + operation;
    }

    void open();
    ChainHead load_head();
    std::optional<Checkpoint> newest_checkpoint();

    std::string path_;
    SqliteAuditStoreOptions options_;
    std::string name_; // "audit store '<path>'": the prefix of every error message
    detail::SqliteAuditTables tables_;
    std::mutex mutex_;
    detail::SqliteConnection db_; // declared before the statements: destroyed after them
    detail::SqliteAuditStatements statements_;
};

inline SqliteAuditStore::SqliteAuditStore(std::string path, SqliteAuditStoreOptions options)
    : path_(std::move(path)), options_(std::move(options)), name_("audit store '" + path_ + "'") {
    detail::validate_identifier(options_.table_prefix, "audit store");
    if (options_.max_page_count && *options_.max_page_count <= 0) {
        throw std::invalid_argument(name_ + ": max_page_count must be positive");
    }
    tables_ = detail::SqliteAuditTables(options_.table_prefix);
    detail::ensure_sodium();
    locked([&] {
        open();
        statements_ = detail::SqliteAuditStatements(db_.get(), tables_, name_);
    });
}

inline void SqliteAuditStore::open() {
    db_ = detail::open_database(path_, name_, options_.busy_timeout, false);
    sqlite3* db = db_.get();
    if (options_.max_page_count) {
        detail::execute(
            db, ("PRAGMA max_page_count=" + std::to_string(*options_.max_page_count)).c_str(),
            context("set max_page_count"));
    }
    detail::execute(db, "PRAGMA secure_delete=ON", context("set secure_delete"));
    if (options_.read_only) {
        detail::execute(db, "PRAGMA query_only=ON", context("set query_only"));
        detail::sqlite_audit_check_layout(db, tables_, true, name_);
    } else {
        (void)detail::query_text(db, "PRAGMA journal_mode=WAL", context("set journal mode"));
        detail::execute(db, "PRAGMA synchronous=FULL", context("set synchronous"));
        detail::Transaction transaction(db, context("create tables"));
        detail::execute(db, detail::sqlite_audit_schema_sql(tables_).c_str(),
                        context("create tables"));
        detail::sqlite_audit_check_layout(db, tables_, false, name_);
        detail::execute(db, detail::sqlite_audit_index_sql(tables_).c_str(),
                        context("create indexes"));
        transaction.commit();
    }
}

inline std::optional<Checkpoint> SqliteAuditStore::newest_checkpoint() {
    detail::Statement& newest = statements_.newest_checkpoint;
    const detail::Statement::Use use(newest);
    if (!newest.step()) {
        return std::nullopt;
    }
    return detail::read_sqlite_checkpoint(newest, name_);
}

inline ChainHead SqliteAuditStore::load_head() {
    {
        detail::Statement& last = statements_.last_record;
        const detail::Statement::Use use(last);
        if (last.step()) {
            const auto hash = sha256_from_hex(last.column_text(1));
            if (!hash) {
                throw AuditStoreError(name_ + ": read head failed: record " +
                                      std::to_string(last.column_int64(0)) +
                                      " has a hash that is not 64 hex digits");
            }
            return ChainHead{last.column_int64(0), *hash};
        }
    }
    if (auto checkpoint = newest_checkpoint()) {
        return ChainHead{checkpoint->sequence, checkpoint->hash};
    }
    return ChainHead{};
}

inline AppendResult SqliteAuditStore::append(const std::vector<AuditEntry>& entries) {
    for (std::size_t i = 0; i < entries.size(); ++i) {
        detail::validate_audit_entry(entries[i], i);
    }
    return locked([&] {
        AppendResult result;
        if (entries.empty()) {
            result.last_sequence = load_head().sequence;
            return result;
        }
        detail::Transaction transaction(db_.get(), context("append"));
        ChainHead head = load_head();
        detail::Statement& insert = statements_.insert_record;
        for (const AuditEntry& entry : entries) {
            const std::int64_t sequence = head.sequence + 1;
            const Sha256 hash = chain_hash(entry, sequence, head.hash);
            const std::string hash_hex = to_hex(hash);
            const detail::Statement::Use use(insert);
            detail::bind_sqlite_record(insert, entry, sequence, hash_hex);
            insert.step();
            if (sqlite3_changes(db_.get()) == 1) {
                head = ChainHead{sequence, hash};
                ++result.appended;
            } else {
                ++result.duplicates;
            }
        }
        transaction.commit();
        result.last_sequence = head.sequence;
        return result;
    });
}

inline std::vector<AuditRecord> SqliteAuditStore::read(std::int64_t after, std::size_t limit) {
    detail::check_read_limit(name_, limit, max_read_limit);
    return locked([&] {
        std::vector<AuditRecord> records;
        detail::Statement& read = statements_.read;
        const detail::Statement::Use use(read);
        read.bind_int64(1, after);
        read.bind_int64(2, static_cast<std::int64_t>(limit));
        while (read.step()) {
            records.push_back(detail::read_sqlite_record(read, name_));
        }
        return records;
    });
}

inline AuditPage SqliteAuditStore::query(const AuditQuery& query) {
    detail::check_audit_query(name_, query, max_query_limit);
    const std::string sql = detail::sqlite_audit_query_sql(tables_, query);
    return locked([&] {
        detail::Statement statement(db_.get(), sql, context("query"));
        const detail::Statement::Use use(statement);
        detail::bind_sqlite_query(statement, query);
        AuditPage page;
        while (statement.step()) {
            if (page.records.size() == query.limit) {
                page.next_cursor = page.records.back().sequence;
                break;
            }
            page.records.push_back(detail::read_sqlite_record(statement, name_));
        }
        return page;
    });
}

inline ChainHead SqliteAuditStore::head() {
    return locked([&] { return load_head(); });
}

inline std::int64_t SqliteAuditStore::count() {
    return locked([&] {
        detail::Statement& count = statements_.count;
        const detail::Statement::Use use(count);
        count.step();
        return count.column_int64(0);
    });
}

inline std::vector<Checkpoint> SqliteAuditStore::checkpoints() {
    return locked([&] {
        std::vector<Checkpoint> result;
        detail::Statement& all = statements_.checkpoints_all;
        const detail::Statement::Use use(all);
        while (all.step()) {
            result.push_back(detail::read_sqlite_checkpoint(all, name_));
        }
        return result;
    });
}

inline std::optional<Checkpoint>
SqliteAuditStore::prune(AuditTime cut_before,
                        const std::optional<std::string>& signing_secret_key) {
    detail::check_signing_key(name_, signing_secret_key);
    return locked([&]() -> std::optional<Checkpoint> {
        detail::Transaction transaction(db_.get(), context("prune"));
        std::int64_t first_kept = std::numeric_limits<std::int64_t>::max();
        {
            detail::Statement& first = statements_.first_kept;
            const detail::Statement::Use use(first);
            first.bind_int64(1, cut_before.time_since_epoch().count());
            if (first.step()) {
                first_kept = first.column_int64(0);
            }
        }
        Checkpoint checkpoint;
        {
            detail::Statement& last = statements_.last_before;
            const detail::Statement::Use use(last);
            last.bind_int64(1, first_kept);
            if (!last.step()) {
                return std::nullopt; // nothing old enough; the transaction rolls back
            }
            checkpoint.sequence = last.column_int64(0);
            const auto hash = sha256_from_hex(last.column_text(1));
            if (!hash) {
                throw AuditStoreError(name_ + ": prune failed: record " +
                                      std::to_string(checkpoint.sequence) +
                                      " has a hash that is not 64 hex digits");
            }
            checkpoint.hash = *hash;
        }
        {
            detail::Statement& erase = statements_.delete_through;
            const detail::Statement::Use use(erase);
            erase.bind_int64(1, checkpoint.sequence);
            erase.step();
            checkpoint.deleted = static_cast<std::size_t>(sqlite3_changes(db_.get()));
        }
        checkpoint.cut_before = cut_before;
        checkpoint.made_at = audit_now();
        if (signing_secret_key) {
            checkpoint.signature = sign_checkpoint(checkpoint, *signing_secret_key);
        }
        {
            detail::Statement& insert = statements_.insert_checkpoint;
            const detail::Statement::Use use(insert);
            const std::string hash_hex = to_hex(checkpoint.hash);
            const std::string signature_hex = to_hex(checkpoint.signature);
            detail::bind_sqlite_checkpoint(insert, checkpoint, hash_hex, signature_hex);
            insert.step();
        }
        transaction.commit();
        return checkpoint;
    });
}

inline std::optional<std::string> SqliteAuditStore::find_key(const std::string& scope) {
    detail::check_key_scope(name_, scope, "find_key");
    return locked([&]() -> std::optional<std::string> {
        detail::Statement& find = statements_.find_key;
        const detail::Statement::Use use(find);
        find.bind_text(1, scope);
        if (!find.step()) {
            return std::nullopt;
        }
        auto key = from_hex(find.column_text(0));
        if (!key) {
            throw AuditStoreError(name_ + ": find key failed: the key of scope '" + scope +
                                  "' is not stored as hex");
        }
        return key;
    });
}

inline std::string SqliteAuditStore::insert_key(const std::string& scope, const std::string& key) {
    detail::check_key_scope(name_, scope, "insert_key");
    detail::check_key(name_, scope, key);
    return locked([&] {
        detail::Transaction transaction(db_.get(), context("insert key"));
        {
            detail::Statement& insert = statements_.insert_key;
            const detail::Statement::Use use(insert);
            insert.bind_text(1, scope);
            const std::string key_hex = to_hex(key);
            insert.bind_text(2, key_hex);
            insert.step();
        }
        std::optional<std::string> stored;
        {
            detail::Statement& find = statements_.find_key;
            const detail::Statement::Use use(find);
            find.bind_text(1, scope);
            if (find.step()) {
                stored = from_hex(find.column_text(0));
            }
        }
        if (!stored) {
            throw AuditStoreError(name_ + ": insert key failed: the key of scope '" + scope +
                                  "' is not stored as hex");
        }
        transaction.commit();
        return *stored;
    });
}

inline bool SqliteAuditStore::erase_key(const std::string& scope) {
    detail::check_key_scope(name_, scope, "erase_key");
    return locked([&] {
        detail::Transaction transaction(db_.get(), context("erase key"));
        bool erased = false;
        {
            detail::Statement& erase = statements_.erase_key;
            const detail::Statement::Use use(erase);
            erase.bind_text(1, scope);
            erase.step();
            erased = sqlite3_changes(db_.get()) > 0;
        }
        {
            detail::Statement& clear = statements_.clear_ip_index;
            const detail::Statement::Use use(clear);
            clear.bind_text(1, scope);
            clear.step();
        }
        transaction.commit();
        // Copy the zeroed pages into the database and empty the write-ahead log, so the erased
        // key's bytes do not linger in it; without waiting, so that a long reader elsewhere
        // does not hold up this store. Busy (a reader holds old frames): a later checkpoint
        // does it; the erasure itself is committed either way.
        sqlite3_busy_timeout(db_.get(), 0);
        sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
        sqlite3_busy_timeout(db_.get(),
                             static_cast<int>(std::min<std::chrono::milliseconds::rep>(
                                 options_.busy_timeout.count(), std::numeric_limits<int>::max())));
        return erased;
    });
}

} // namespace authevents::audit
