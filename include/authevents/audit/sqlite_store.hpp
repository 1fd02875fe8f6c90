/// @file
/// SqliteAuditStore: the embedded default AuditStore, one SQLite database file (WAL mode,
/// synchronous=FULL, secure_delete) holding the hash-chained records, the prune checkpoints
/// and the sealing keys, with indexes for queries by user, event type, IP index and time.
///
/// Part of authevents::audit (CMake target authevents::audit: SQLite, libsodium).
#pragma once

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

namespace detail {

using authevents::detail::execute;
using authevents::detail::open_database;
using authevents::detail::query_text;
using authevents::detail::quote_identifier;
using authevents::detail::SqliteConnection;
using authevents::detail::Statement;
using authevents::detail::Transaction;
using authevents::detail::validate_identifier;

// The record columns every SELECT of SqliteAuditStore reads, in read_record()'s order.
inline constexpr const char* sqlite_audit_columns =
    "sequence, time_us, event_type, event_version, owasp, actor, subject, source_ip,"
    " source_ip IS NOT NULL, ip_index, ip_index IS NOT NULL, data, cloud_event_id,"
    " cloud_event_id IS NOT NULL, key_scope, hash";

inline AuditTime audit_now() {
    return std::chrono::time_point_cast<Microseconds>(std::chrono::system_clock::now());
}

// Throws std::invalid_argument when `entry` (index `index` of its batch) cannot be stored.
inline void validate_audit_entry(const AuditEntry& entry, std::size_t index) {
    const auto fail = [&](const char* problem) {
        throw std::invalid_argument("audit store: append: entry " + std::to_string(index) +
                                    " of the batch " + problem);
    };
    if (entry.event_type.empty()) {
        fail("has an empty event_type");
    }
    if (entry.data.empty()) {
        fail("has empty data (a JSON object is expected, \"{}\" when there are no fields)");
    }
    if (entry.cloud_event_id && entry.cloud_event_id->empty()) {
        fail("has an empty cloud_event_id (use std::nullopt when there is none)");
    }
    if (entry.ip_index && entry.ip_index->empty()) {
        fail("has an empty ip_index (use std::nullopt when there is none)");
    }
    if (entry.source_ip && entry.source_ip->empty()) {
        fail("has an empty source_ip (use std::nullopt when there is none)");
    }
}

} // namespace detail

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
    [[nodiscard]] const std::string& records_table() const noexcept { return records_; }

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
    void check_layout();
    void prepare();
    ChainHead load_head();
    std::optional<Checkpoint> newest_checkpoint();
    AuditRecord read_record(detail::Statement& statement) const;
    Checkpoint read_checkpoint(detail::Statement& statement) const;
    void clear_ip_index(const std::string& scope);

    std::string path_;
    SqliteAuditStoreOptions options_;
    std::string name_;        // "audit store '<path>'": the prefix of every error message
    std::string records_;     // quoted table names
    std::string checkpoints_; //
    std::string keys_;        //
    std::mutex mutex_;
    detail::SqliteConnection db_; // declared before the statements: destroyed after them
    detail::Statement insert_record_;
    detail::Statement last_record_;
    detail::Statement read_;
    detail::Statement count_;
    detail::Statement checkpoints_all_;
    detail::Statement newest_checkpoint_;
    detail::Statement insert_checkpoint_;
    detail::Statement first_kept_;
    detail::Statement last_before_;
    detail::Statement delete_through_;
    detail::Statement find_key_;
    detail::Statement insert_key_;
    detail::Statement erase_key_;
    detail::Statement clear_ip_index_;
};

inline SqliteAuditStore::SqliteAuditStore(std::string path, SqliteAuditStoreOptions options)
    : path_(std::move(path)), options_(std::move(options)), name_("audit store '" + path_ + "'") {
    detail::validate_identifier(options_.table_prefix, "audit store");
    if (options_.max_page_count && *options_.max_page_count <= 0) {
        throw std::invalid_argument(name_ + ": max_page_count must be positive");
    }
    records_ = detail::quote_identifier(options_.table_prefix + "_records");
    checkpoints_ = detail::quote_identifier(options_.table_prefix + "_checkpoints");
    keys_ = detail::quote_identifier(options_.table_prefix + "_keys");
    detail::ensure_sodium();
    locked([&] {
        open();
        prepare();
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
        check_layout();
    } else {
        (void)detail::query_text(db, "PRAGMA journal_mode=WAL", context("set journal mode"));
        detail::execute(db, "PRAGMA synchronous=FULL", context("set synchronous"));
        const std::string prefix = options_.table_prefix;
        const std::string schema =
            "CREATE TABLE IF NOT EXISTS " + records_ +
            " (sequence INTEGER PRIMARY KEY,"
            " time_us INTEGER NOT NULL,"
            " event_type TEXT NOT NULL,"
            " event_version INTEGER NOT NULL"
            "  CHECK (event_version BETWEEN -2147483648 AND 2147483647),"
            " owasp TEXT NOT NULL,"
            " actor TEXT NOT NULL,"
            " subject TEXT NOT NULL,"
            " source_ip TEXT,"
            " ip_index TEXT,"
            " data TEXT NOT NULL,"
            " cloud_event_id TEXT UNIQUE,"
            " key_scope TEXT NOT NULL,"
            " hash TEXT NOT NULL CHECK (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*')"
            ") STRICT;"
            "CREATE TABLE IF NOT EXISTS " +
            checkpoints_ +
            " (sequence INTEGER PRIMARY KEY,"
            " hash TEXT NOT NULL,"
            " cut_before_us INTEGER NOT NULL,"
            " made_at_us INTEGER NOT NULL,"
            " deleted INTEGER NOT NULL,"
            " signature TEXT NOT NULL) STRICT;"
            "CREATE TABLE IF NOT EXISTS " +
            keys_ + " (scope TEXT PRIMARY KEY, key TEXT NOT NULL) STRICT, WITHOUT ROWID;";
        // One index per query filter (each ending in sequence, so a page is an ordered index
        // walk), and one for erase_key's update.
        std::string indexes;
        for (const auto& [name, columns] : {
                 std::pair<const char*, const char*>{"_by_actor", "(actor, sequence)"},
                 {"_by_subject", "(subject, sequence)"},
                 {"_by_type", "(event_type, sequence, time_us)"},
                 {"_by_time", "(sequence, time_us)"},
                 {"_by_ip", "(ip_index, sequence) WHERE ip_index IS NOT NULL"},
                 {"_by_scope", "(key_scope) WHERE ip_index IS NOT NULL"},
             }) {
            indexes += "CREATE INDEX IF NOT EXISTS " + detail::quote_identifier(prefix + name) +
                       " ON " + records_ + " " + columns + ";";
        }
        detail::Transaction transaction(db, context("create tables"));
        detail::execute(db, schema.c_str(), context("create tables"));
        check_layout();
        detail::execute(db, indexes.c_str(), context("create indexes"));
        transaction.commit();
    }
}

inline void SqliteAuditStore::check_layout() {
    sqlite3* db = db_.get();
    const auto has_columns = [&](const std::string& table, const char* columns, int expected) {
        return detail::query_text(db,
                                  "SELECT count(*) FROM pragma_table_info('" + table +
                                      "') WHERE name IN (" + columns + ")",
                                  context("check layout")) == std::to_string(expected);
    };
    const std::string& prefix = options_.table_prefix;
    const bool records_ok =
        has_columns(prefix + "_records",
                    "'sequence','time_us','event_type','event_version','owasp','actor','subject',"
                    "'source_ip','ip_index','data','cloud_event_id','key_scope','hash'",
                    13);
    const bool checkpoints_ok =
        has_columns(prefix + "_checkpoints",
                    "'sequence','hash','cut_before_us','made_at_us','deleted','signature'", 6);
    const bool keys_ok = has_columns(prefix + "_keys", "'scope','key'", 2);
    if (options_.read_only &&
        detail::query_text(
            db, "SELECT count(*) FROM sqlite_schema WHERE name = '" + prefix + "_records'",
            context("check layout")) == "0") {
        throw AuditStoreError(name_ + ": open read-only failed: the database has no table " +
                              prefix + "_records (no audit store was created in it)");
    }
    if (!records_ok || !checkpoints_ok || !keys_ok) {
        throw std::invalid_argument(name_ + ": tables named " + prefix +
                                    "_* exist with another layout; give the audit store a "
                                    "table_prefix of its own");
    }
}

inline void SqliteAuditStore::prepare() {
    sqlite3* db = db_.get();
    const std::string columns = detail::sqlite_audit_columns;
    insert_record_ = detail::Statement(
        db,
        "INSERT INTO " + records_ +
            " (sequence, time_us, event_type, event_version, owasp, actor, subject, source_ip,"
            " ip_index, data, cloud_event_id, key_scope, hash)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            " ON CONFLICT (cloud_event_id) DO NOTHING",
        context("append: insert record"));
    last_record_ = detail::Statement(
        db, "SELECT sequence, hash FROM " + records_ + " ORDER BY sequence DESC LIMIT 1",
        context("read head"));
    read_ = detail::Statement(db,
                              "SELECT " + columns + " FROM " + records_ +
                                  " WHERE sequence > ?1 ORDER BY sequence LIMIT ?2",
                              context("read"));
    count_ = detail::Statement(db, "SELECT count(*) FROM " + records_, context("count"));
    const std::string checkpoint_columns =
        "sequence, hash, cut_before_us, made_at_us, deleted, signature";
    checkpoints_all_ = detail::Statement(
        db, "SELECT " + checkpoint_columns + " FROM " + checkpoints_ + " ORDER BY sequence",
        context("read checkpoints"));
    newest_checkpoint_ = detail::Statement(db,
                                           "SELECT " + checkpoint_columns + " FROM " +
                                               checkpoints_ + " ORDER BY sequence DESC LIMIT 1",
                                           context("read newest checkpoint"));
    insert_checkpoint_ =
        detail::Statement(db,
                          "INSERT INTO " + checkpoints_ + " (" + checkpoint_columns +
                              ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                          context("prune: insert checkpoint"));
    first_kept_ = detail::Statement(
        db, "SELECT sequence FROM " + records_ + " WHERE time_us >= ?1 ORDER BY sequence LIMIT 1",
        context("prune: find the first record to keep"));
    last_before_ = detail::Statement(db,
                                     "SELECT sequence, hash FROM " + records_ +
                                         " WHERE sequence < ?1 ORDER BY sequence DESC LIMIT 1",
                                     context("prune: find the last record to delete"));
    delete_through_ = detail::Statement(db, "DELETE FROM " + records_ + " WHERE sequence <= ?1",
                                        context("prune: delete records"));
    find_key_ = detail::Statement(db, "SELECT key FROM " + keys_ + " WHERE scope = ?1",
                                  context("find key"));
    insert_key_ = detail::Statement(
        db, "INSERT INTO " + keys_ + " (scope, key) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        context("insert key"));
    erase_key_ =
        detail::Statement(db, "DELETE FROM " + keys_ + " WHERE scope = ?1", context("erase key"));
    clear_ip_index_ = detail::Statement(db,
                                        "UPDATE " + records_ +
                                            " SET ip_index = NULL"
                                            " WHERE key_scope = ?1 AND ip_index IS NOT NULL",
                                        context("erase key: clear ip_index"));
}

inline AuditRecord SqliteAuditStore::read_record(detail::Statement& statement) const {
    AuditRecord record;
    record.sequence = statement.column_int64(0);
    record.time = AuditTime(Microseconds(statement.column_int64(1)));
    record.event_type = statement.column_text(2);
    record.event_version = static_cast<int>(statement.column_int64(3)); // CHECKed on insert
    record.owasp = statement.column_text(4);
    record.actor = statement.column_text(5);
    record.subject = statement.column_text(6);
    if (statement.column_int64(8) != 0) {
        record.source_ip = statement.column_text(7);
    }
    if (statement.column_int64(10) != 0) {
        record.ip_index = statement.column_text(9);
    }
    record.data = statement.column_text(11);
    if (statement.column_int64(13) != 0) {
        record.cloud_event_id = statement.column_text(12);
    }
    record.key_scope = statement.column_text(14);
    const auto hash = sha256_from_hex(statement.column_text(15));
    if (!hash) {
        throw AuditStoreError(name_ + ": read failed: record " + std::to_string(record.sequence) +
                              " has a hash that is not 64 hex digits");
    }
    record.hash = *hash;
    return record;
}

inline Checkpoint SqliteAuditStore::read_checkpoint(detail::Statement& statement) const {
    Checkpoint checkpoint;
    checkpoint.sequence = statement.column_int64(0);
    const auto hash = sha256_from_hex(statement.column_text(1));
    const auto signature = from_hex(statement.column_text(5));
    if (!hash || !signature) {
        throw AuditStoreError(name_ + ": read checkpoints failed: the checkpoint at sequence " +
                              std::to_string(checkpoint.sequence) +
                              " has a hash or signature that is not hex");
    }
    checkpoint.hash = *hash;
    checkpoint.cut_before = AuditTime(Microseconds(statement.column_int64(2)));
    checkpoint.made_at = AuditTime(Microseconds(statement.column_int64(3)));
    checkpoint.deleted = static_cast<std::size_t>(statement.column_int64(4));
    checkpoint.signature = *signature;
    return checkpoint;
}

inline std::optional<Checkpoint> SqliteAuditStore::newest_checkpoint() {
    const detail::Statement::Use use(newest_checkpoint_);
    if (!newest_checkpoint_.step()) {
        return std::nullopt;
    }
    return read_checkpoint(newest_checkpoint_);
}

inline ChainHead SqliteAuditStore::load_head() {
    {
        const detail::Statement::Use use(last_record_);
        if (last_record_.step()) {
            const auto hash = sha256_from_hex(last_record_.column_text(1));
            if (!hash) {
                throw AuditStoreError(name_ + ": read head failed: record " +
                                      std::to_string(last_record_.column_int64(0)) +
                                      " has a hash that is not 64 hex digits");
            }
            return ChainHead{last_record_.column_int64(0), *hash};
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
        for (const AuditEntry& entry : entries) {
            const std::int64_t sequence = head.sequence + 1;
            const Sha256 hash = chain_hash(entry, sequence, head.hash);
            const std::string hash_hex = to_hex(hash);
            const detail::Statement::Use use(insert_record_);
            insert_record_.bind_int64(1, sequence);
            insert_record_.bind_int64(2, entry.time.time_since_epoch().count());
            insert_record_.bind_text(3, entry.event_type);
            insert_record_.bind_int64(4, entry.event_version);
            insert_record_.bind_text(5, entry.owasp);
            insert_record_.bind_text(6, entry.actor);
            insert_record_.bind_text(7, entry.subject);
            if (entry.source_ip) {
                insert_record_.bind_text(8, *entry.source_ip);
            }
            if (entry.ip_index) {
                insert_record_.bind_text(9, *entry.ip_index);
            }
            insert_record_.bind_text(10, entry.data);
            if (entry.cloud_event_id) {
                insert_record_.bind_text(11, *entry.cloud_event_id);
            }
            insert_record_.bind_text(12, entry.key_scope);
            insert_record_.bind_text(13, hash_hex);
            insert_record_.step();
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
    if (limit == 0 || limit > max_read_limit) {
        throw std::invalid_argument(name_ + ": read: limit " + std::to_string(limit) +
                                    " is outside 1 to " + std::to_string(max_read_limit));
    }
    return locked([&] {
        std::vector<AuditRecord> records;
        const detail::Statement::Use use(read_);
        read_.bind_int64(1, after);
        read_.bind_int64(2, static_cast<std::int64_t>(limit));
        while (read_.step()) {
            records.push_back(read_record(read_));
        }
        return records;
    });
}

inline AuditPage SqliteAuditStore::query(const AuditQuery& query) {
    const auto fail = [&](const std::string& problem) {
        throw std::invalid_argument(name_ + ": query: " + problem);
    };
    if (query.limit == 0 || query.limit > max_query_limit) {
        fail("limit " + std::to_string(query.limit) + " is outside 1 to " +
             std::to_string(max_query_limit));
    }
    if (query.user && query.user->empty()) {
        fail("the user filter is empty (use std::nullopt for any user)");
    }
    if (query.event_type && query.event_type->empty()) {
        fail("the event_type filter is empty (use std::nullopt for any type)");
    }
    if (query.ip_index && query.ip_index->empty()) {
        fail("the ip_index filter is empty (use std::nullopt for any address)");
    }
    if (query.from && query.until && *query.from >= *query.until) {
        fail("the time range is empty: from is not before until");
    }
    const std::string order = query.newest_first ? " DESC" : " ASC";
    std::string conditions;
    if (query.event_type) {
        conditions += " AND event_type = ?2";
    }
    if (query.ip_index) {
        conditions += " AND ip_index = ?3";
    }
    if (query.from) {
        conditions += " AND time_us >= ?4";
    }
    if (query.until) {
        conditions += " AND time_us < ?5";
    }
    if (query.cursor) {
        conditions += query.newest_first ? " AND sequence < ?6" : " AND sequence > ?6";
    }
    const std::string tail = " ORDER BY sequence" + order + " LIMIT ?7";
    // The sequences of one page come from one index, chosen by the most selective filter
    // present (a user, then an IP, then a type, then a time range); the other filters are
    // checked on its entries. Only then are the page's rows read.
    const auto walk = [&](const char* index, const std::string& filter) {
        return "SELECT sequence FROM (SELECT sequence FROM " + records_ + " INDEXED BY " +
               detail::quote_identifier(options_.table_prefix + index) + " WHERE " + filter +
               conditions + tail + ")";
    };
    std::string sequences;
    if (query.user) {
        // An ordered walk of the actor index and one of the subject index, each a page long.
        sequences =
            walk("_by_actor", "actor = ?1") + " UNION ALL " + walk("_by_subject", "subject = ?1");
    } else if (query.ip_index) {
        sequences = walk("_by_ip", "1");
    } else if (query.event_type) {
        sequences = walk("_by_type", "1");
    } else if (query.from || query.until) {
        sequences = walk("_by_time", "1"); // the range, then the page's top sequences
    }
    const std::string columns = detail::sqlite_audit_columns;
    const std::string sql =
        "SELECT " + columns + " FROM " + records_ + " WHERE " +
        (sequences.empty() ? "1" + conditions : "sequence IN (" + sequences + ")") + tail;
    return locked([&] {
        detail::Statement statement(db_.get(), sql, context("query"));
        const detail::Statement::Use use(statement);
        if (query.user) {
            statement.bind_text(1, *query.user);
        }
        if (query.event_type) {
            statement.bind_text(2, *query.event_type);
        }
        if (query.ip_index) {
            statement.bind_text(3, *query.ip_index);
        }
        if (query.from) {
            statement.bind_int64(4, query.from->time_since_epoch().count());
        }
        if (query.until) {
            statement.bind_int64(5, query.until->time_since_epoch().count());
        }
        if (query.cursor) {
            statement.bind_int64(6, *query.cursor);
        }
        statement.bind_int64(7, static_cast<std::int64_t>(query.limit) + 1);
        AuditPage page;
        while (statement.step()) {
            if (page.records.size() == query.limit) {
                page.next_cursor = page.records.back().sequence;
                break;
            }
            page.records.push_back(read_record(statement));
        }
        return page;
    });
}

inline ChainHead SqliteAuditStore::head() {
    return locked([&] { return load_head(); });
}

inline std::int64_t SqliteAuditStore::count() {
    return locked([&] {
        const detail::Statement::Use use(count_);
        count_.step();
        return count_.column_int64(0);
    });
}

inline std::vector<Checkpoint> SqliteAuditStore::checkpoints() {
    return locked([&] {
        std::vector<Checkpoint> result;
        const detail::Statement::Use use(checkpoints_all_);
        while (checkpoints_all_.step()) {
            result.push_back(read_checkpoint(checkpoints_all_));
        }
        return result;
    });
}

inline std::optional<Checkpoint>
SqliteAuditStore::prune(AuditTime cut_before,
                        const std::optional<std::string>& signing_secret_key) {
    if (signing_secret_key && signing_secret_key->size() != checkpoint_secret_key_bytes) {
        throw std::invalid_argument(name_ + ": prune: the signing key has " +
                                    std::to_string(signing_secret_key->size()) +
                                    " bytes, an Ed25519 secret key (crypto_sign_keypair) has " +
                                    std::to_string(checkpoint_secret_key_bytes));
    }
    return locked([&]() -> std::optional<Checkpoint> {
        detail::Transaction transaction(db_.get(), context("prune"));
        std::int64_t first_kept = std::numeric_limits<std::int64_t>::max();
        {
            const detail::Statement::Use use(first_kept_);
            first_kept_.bind_int64(1, cut_before.time_since_epoch().count());
            if (first_kept_.step()) {
                first_kept = first_kept_.column_int64(0);
            }
        }
        Checkpoint checkpoint;
        {
            const detail::Statement::Use use(last_before_);
            last_before_.bind_int64(1, first_kept);
            if (!last_before_.step()) {
                return std::nullopt; // nothing old enough; the transaction rolls back
            }
            checkpoint.sequence = last_before_.column_int64(0);
            const auto hash = sha256_from_hex(last_before_.column_text(1));
            if (!hash) {
                throw AuditStoreError(name_ + ": prune failed: record " +
                                      std::to_string(checkpoint.sequence) +
                                      " has a hash that is not 64 hex digits");
            }
            checkpoint.hash = *hash;
        }
        {
            const detail::Statement::Use use(delete_through_);
            delete_through_.bind_int64(1, checkpoint.sequence);
            delete_through_.step();
            checkpoint.deleted = static_cast<std::size_t>(sqlite3_changes(db_.get()));
        }
        checkpoint.cut_before = cut_before;
        checkpoint.made_at = detail::audit_now();
        if (signing_secret_key) {
            checkpoint.signature = sign_checkpoint(checkpoint, *signing_secret_key);
        }
        {
            const detail::Statement::Use use(insert_checkpoint_);
            insert_checkpoint_.bind_int64(1, checkpoint.sequence);
            const std::string hash_hex = to_hex(checkpoint.hash);
            insert_checkpoint_.bind_text(2, hash_hex);
            insert_checkpoint_.bind_int64(3, checkpoint.cut_before.time_since_epoch().count());
            insert_checkpoint_.bind_int64(4, checkpoint.made_at.time_since_epoch().count());
            insert_checkpoint_.bind_int64(5, static_cast<std::int64_t>(checkpoint.deleted));
            const std::string signature_hex = to_hex(checkpoint.signature);
            insert_checkpoint_.bind_text(6, signature_hex);
            insert_checkpoint_.step();
        }
        transaction.commit();
        return checkpoint;
    });
}

inline std::optional<std::string> SqliteAuditStore::find_key(const std::string& scope) {
    if (scope.empty()) {
        throw std::invalid_argument(name_ + ": find_key: the scope is empty");
    }
    return locked([&]() -> std::optional<std::string> {
        const detail::Statement::Use use(find_key_);
        find_key_.bind_text(1, scope);
        if (!find_key_.step()) {
            return std::nullopt;
        }
        auto key = from_hex(find_key_.column_text(0));
        if (!key) {
            throw AuditStoreError(name_ + ": find key failed: the key of scope '" + scope +
                                  "' is not stored as hex");
        }
        return key;
    });
}

inline std::string SqliteAuditStore::insert_key(const std::string& scope, const std::string& key) {
    if (scope.empty()) {
        throw std::invalid_argument(name_ + ": insert_key: the scope is empty");
    }
    if (key.empty()) {
        throw std::invalid_argument(name_ + ": insert_key: the key for scope '" + scope +
                                    "' is empty");
    }
    return locked([&] {
        detail::Transaction transaction(db_.get(), context("insert key"));
        {
            const detail::Statement::Use use(insert_key_);
            insert_key_.bind_text(1, scope);
            const std::string key_hex = to_hex(key);
            insert_key_.bind_text(2, key_hex);
            insert_key_.step();
        }
        std::optional<std::string> stored;
        {
            const detail::Statement::Use use(find_key_);
            find_key_.bind_text(1, scope);
            if (find_key_.step()) {
                stored = from_hex(find_key_.column_text(0));
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
    if (scope.empty()) {
        throw std::invalid_argument(name_ + ": erase_key: the scope is empty");
    }
    return locked([&] {
        detail::Transaction transaction(db_.get(), context("erase key"));
        bool erased = false;
        {
            const detail::Statement::Use use(erase_key_);
            erase_key_.bind_text(1, scope);
            erase_key_.step();
            erased = sqlite3_changes(db_.get()) > 0;
        }
        {
            const detail::Statement::Use use(clear_ip_index_);
            clear_ip_index_.bind_text(1, scope);
            clear_ip_index_.step();
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
