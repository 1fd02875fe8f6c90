/// @file
/// SQLite plumbing shared by the outbox and the dedup store: the SqliteError exception, RAII
/// handles for connections and statements, identifier validation and opening a database file.
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace authevents::bus {

/// An SQLite call failed. what() names the operation, SQLite's own message and the result code,
/// e.g. "outbox: insert failed: database is locked (SQLITE_BUSY)". Thread-safe as any
/// immutable value; never thrown by its own members.
class SqliteError : public std::runtime_error {
public:
    /// Wraps `message` (already complete) and SQLite's extended result code.
    SqliteError(int extended_code, const std::string& message)
        : std::runtime_error(message), extended_code_(extended_code) {}

    /// The primary result code, e.g. SQLITE_BUSY or SQLITE_CONSTRAINT.
    [[nodiscard]] int code() const noexcept { return extended_code_ & 0xff; }
    /// The extended result code, e.g. SQLITE_CONSTRAINT_UNIQUE.
    [[nodiscard]] int extended_code() const noexcept { return extended_code_; }

private:
    int extended_code_;
};

} // namespace authevents::bus

namespace authevents::detail {

using bus::SqliteError;

// The macro name of a primary result code, for error messages.
inline const char* sqlite_code_name(int code) noexcept {
    switch (code & 0xff) {
    case SQLITE_OK:
        return "SQLITE_OK";
    case SQLITE_ERROR:
        return "SQLITE_ERROR";
    case SQLITE_INTERNAL:
        return "SQLITE_INTERNAL";
    case SQLITE_PERM:
        return "SQLITE_PERM";
    case SQLITE_ABORT:
        return "SQLITE_ABORT";
    case SQLITE_BUSY:
        return "SQLITE_BUSY";
    case SQLITE_LOCKED:
        return "SQLITE_LOCKED";
    case SQLITE_NOMEM:
        return "SQLITE_NOMEM";
    case SQLITE_READONLY:
        return "SQLITE_READONLY";
    case SQLITE_INTERRUPT:
        return "SQLITE_INTERRUPT";
    case SQLITE_IOERR:
        return "SQLITE_IOERR";
    case SQLITE_CORRUPT:
        return "SQLITE_CORRUPT";
    case SQLITE_NOTFOUND:
        return "SQLITE_NOTFOUND";
    case SQLITE_FULL:
        return "SQLITE_FULL";
    case SQLITE_CANTOPEN:
        return "SQLITE_CANTOPEN";
    case SQLITE_PROTOCOL:
        return "SQLITE_PROTOCOL";
    case SQLITE_EMPTY:
        return "SQLITE_EMPTY";
    case SQLITE_SCHEMA:
        return "SQLITE_SCHEMA";
    case SQLITE_TOOBIG:
        return "SQLITE_TOOBIG";
    case SQLITE_CONSTRAINT:
        return "SQLITE_CONSTRAINT";
    case SQLITE_MISMATCH:
        return "SQLITE_MISMATCH";
    case SQLITE_MISUSE:
        return "SQLITE_MISUSE";
    case SQLITE_NOLFS:
        return "SQLITE_NOLFS";
    case SQLITE_AUTH:
        return "SQLITE_AUTH";
    case SQLITE_FORMAT:
        return "SQLITE_FORMAT";
    case SQLITE_RANGE:
        return "SQLITE_RANGE";
    case SQLITE_NOTADB:
        return "SQLITE_NOTADB";
    case SQLITE_NOTICE:
        return "SQLITE_NOTICE";
    case SQLITE_WARNING:
        return "SQLITE_WARNING";
    case SQLITE_ROW:
        return "SQLITE_ROW";
    case SQLITE_DONE:
        return "SQLITE_DONE";
    default:
        return "SQLITE_UNKNOWN";
    }
}

// Throws SqliteError for result code `rc`: "<context> failed: <message> (<CODE>)". The message
// is the connection's (which names e.g. the violated constraint) when it belongs to `rc`.
[[noreturn]] inline void throw_sqlite(sqlite3* db, int rc, std::string_view context) {
    std::string message(context);
    message += " failed: ";
    int extended = rc;
    if (db != nullptr && (sqlite3_errcode(db) & 0xff) == (rc & 0xff)) {
        message += sqlite3_errmsg(db);
        extended = sqlite3_extended_errcode(db);
    } else {
        message += sqlite3_errstr(rc);
    }
    message += " (";
    message += sqlite_code_name(rc);
    message += ')';
    throw SqliteError(extended, message);
}

struct SqliteCloser {
    void operator()(sqlite3* db) const noexcept {
        sqlite3_close_v2(db); // statements are finalized first; v2 never leaves a leak behind
    }
};
// An owned SQLite database connection (not a signal Connection).
using SqliteConnection = std::unique_ptr<sqlite3, SqliteCloser>;

struct StatementFinalizer {
    void operator()(sqlite3_stmt* statement) const noexcept { sqlite3_finalize(statement); }
};

// Runs SQL without parameters or results (DDL, pragmas, BEGIN/COMMIT); throws SqliteError.
inline void execute(sqlite3* db, const char* sql, std::string_view context) {
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
        throw_sqlite(db, rc, context);
    }
}

// An owned prepared statement on a connection it does not own. Not thread-safe: the owner
// serialises use. Every use must end with reset() (see Use), so that no read transaction stays
// open and no value stays bound.
class Statement {
public:
    Statement() = default;
    Statement(sqlite3* db, const std::string& sql, std::string context)
        : db_(db), context_(std::move(context)) {
        sqlite3_stmt* raw = nullptr;
        const int rc =
            sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size() + 1), &raw, nullptr);
        statement_.reset(raw);
        if (rc != SQLITE_OK) {
            throw_sqlite(db, rc, context_ + " (prepare)");
        }
    }

    // Binds text (copied by SQLite only when needed: the view must outlive the next step()).
    void bind_text(int index, std::string_view text) {
        // An empty view may have no data; SQLite binds NULL for a null pointer, '' for "".
        const char* data = text.data() != nullptr ? text.data() : "";
        check_bind(sqlite3_bind_text64(statement_.get(), index, data,
                                       static_cast<sqlite3_uint64>(text.size()),
                                       nullptr /* SQLITE_STATIC */, SQLITE_UTF8));
    }
    void bind_int64(int index, std::int64_t value) {
        check_bind(sqlite3_bind_int64(statement_.get(), index, value));
    }

    // Steps once: true for a row, false when done; throws SqliteError otherwise.
    bool step() { return step(context_); }
    bool step(std::string_view context) {
        const int rc = sqlite3_step(statement_.get());
        if (rc == SQLITE_ROW) {
            return true;
        }
        if (rc == SQLITE_DONE) {
            return false;
        }
        throw_sqlite(db_, rc, context);
    }

    [[nodiscard]] std::int64_t column_int64(int column) const noexcept {
        return sqlite3_column_int64(statement_.get(), column);
    }
    [[nodiscard]] std::string column_text(int column) const {
        const unsigned char* text = sqlite3_column_text(statement_.get(), column);
        const int size = sqlite3_column_bytes(statement_.get(), column);
        if (text == nullptr || size <= 0) {
            return {};
        }
        return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
    }

    // Ends the current use: resets and clears the bindings.
    void reset() noexcept {
        sqlite3_reset(statement_.get());
        sqlite3_clear_bindings(statement_.get());
    }

    // Resets the statement when the scope ends, also by an exception.
    class Use {
    public:
        explicit Use(Statement& statement) noexcept : statement_(statement) {}
        Use(const Use&) = delete;
        Use& operator=(const Use&) = delete;
        ~Use() { statement_.reset(); }

    private:
        Statement& statement_;
    };

private:
    void check_bind(int rc) {
        if (rc != SQLITE_OK) {
            throw_sqlite(db_, rc, context_ + " (bind)");
        }
    }

    sqlite3* db_ = nullptr;
    std::unique_ptr<sqlite3_stmt, StatementFinalizer> statement_;
    std::string context_;
};

// BEGIN IMMEDIATE now (taking the write lock up front, so no deadlock-prone lock upgrade);
// ROLLBACK at scope end unless commit() succeeded.
class Transaction {
public:
    Transaction(sqlite3* db, std::string context) : db_(db), context_(std::move(context)) {
        execute(db_, "BEGIN IMMEDIATE", context_ + ": begin");
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction() {
        if (!committed_ && sqlite3_get_autocommit(db_) == 0) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        }
    }

    void commit() {
        execute(db_, "COMMIT", context_ + ": commit");
        committed_ = true;
    }

private:
    sqlite3* db_;
    std::string context_;
    bool committed_ = false;
};

// Milliseconds since the Unix epoch (system clock), as stored in the tables.
inline std::int64_t now_ms() {
    return static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
}

// Throws std::invalid_argument unless `name` matches [A-Za-z_][A-Za-z0-9_]* and does not start
// with "sqlite_" (reserved by SQLite). Validated names are safe to format into SQL, quoted.
inline void validate_identifier(std::string_view name, std::string_view context) {
    const auto letter = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    };
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    bool valid =
        !name.empty() && letter(name.front()) &&
        std::all_of(name.begin(), name.end(), [&](char c) { return letter(c) || digit(c); });
    if (valid && name.size() >= 7) {
        std::string prefix(name.substr(0, 7));
        std::transform(prefix.begin(), prefix.end(), prefix.begin(), [](char c) {
            return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
        });
        valid = prefix != "sqlite_";
    }
    if (!valid) {
        throw std::invalid_argument(std::string(context) + ": invalid table name '" +
                                    std::string(name) +
                                    "': must match [A-Za-z_][A-Za-z0-9_]* and not start with "
                                    "sqlite_");
    }
}

// `name` (validated) as a quoted SQL identifier.
inline std::string quote_identifier(std::string_view name) { return '"' + std::string(name) + '"'; }

// The single text value of a one-row query such as "PRAGMA journal_mode=WAL".
inline std::string query_text(sqlite3* db, const std::string& sql, std::string_view context) {
    Statement statement(db, sql, std::string(context));
    Statement::Use use(statement);
    if (!statement.step()) {
        return {};
    }
    return statement.column_text(0);
}

// Opens (creating) the database file at `path` with extended result codes and a busy timeout.
// Throws std::invalid_argument for an empty path, or for an in-memory or temporary database
// unless `allow_memory`; SqliteError if SQLite cannot open it.
inline SqliteConnection open_database(const std::string& path, std::string_view context,
                                      std::chrono::milliseconds busy_timeout, bool allow_memory) {
    if (path.empty()) {
        throw std::invalid_argument(std::string(context) +
                                    ": the database path is empty (SQLite would use a temporary "
                                    "database that does not survive)");
    }
    if (busy_timeout.count() < 0) {
        throw std::invalid_argument(std::string(context) + ": busy_timeout is negative");
    }
    const auto memory_error = [&] {
        return std::invalid_argument(std::string(context) + ": '" + path +
                                     "' is an in-memory database; nothing in it would survive the "
                                     "process, so use a file");
    };
    if (!allow_memory && path == ":memory:") {
        throw memory_error();
    }
    sqlite3* raw = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &raw,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    SqliteConnection db(raw);
    if (rc != SQLITE_OK) {
        throw_sqlite(db.get(), rc, std::string(context) + ": open '" + path + "'");
    }
    sqlite3_extended_result_codes(db.get(), 1);
    if (!allow_memory) {
        // Also catches URI forms ("file::memory:", "mode=memory") when URIs are enabled.
        const char* file = sqlite3_db_filename(db.get(), "main");
        if (file == nullptr || *file == '\0') {
            throw memory_error();
        }
    }
    const auto timeout_ms = std::min<std::chrono::milliseconds::rep>(
        busy_timeout.count(), std::numeric_limits<int>::max());
    const int timeout_rc = sqlite3_busy_timeout(db.get(), static_cast<int>(timeout_ms));
    if (timeout_rc != SQLITE_OK) {
        throw_sqlite(db.get(), timeout_rc, std::string(context) + ": set busy timeout");
    }
    return db;
}

} // namespace authevents::detail
