/// @file
/// PostgreSQL plumbing (libpq) shared by the PostgreSQL outbox and inbox: the PostgresError
/// exception, RAII handles for connections and results, statements with text parameters,
/// transactions, and waiting for notifications.
#pragma once

#include <libpq-fe.h>

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authevents::bus {

/// A libpq call failed. what() names the operation, PostgreSQL's (or libpq's) message and the
/// SQLSTATE, e.g. "outbox: insert of event 'e1' failed: duplicate key value violates unique
/// constraint "authevents_outbox_event_id_key" (SQLSTATE 23505)". A failure libpq detects
/// itself has no server SQLSTATE; it gets the standard client one: 08001 when a connection
/// cannot be made, 08006 when an open connection is lost. Thread-safe as any immutable
/// value; never thrown by its own members.
class PostgresError : public std::runtime_error {
public:
    /// Wraps `message` (already complete) and the five-character `sqlstate`.
    PostgresError(std::string sqlstate, const std::string& message)
        : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}

    /// The SQLSTATE, e.g. "23505" (unique_violation) or "40001" (serialization_failure).
    [[nodiscard]] const std::string& sqlstate() const noexcept { return sqlstate_; }

    /// True for the connection exception class (SQLSTATE 08xxx) and for the server shutting
    /// down or crashing (57P01, 57P02, 57P03): reconnecting may help.
    [[nodiscard]] bool connection_lost() const noexcept {
        return sqlstate_.compare(0, 2, "08") == 0 || sqlstate_ == "57P01" || sqlstate_ == "57P02" ||
               sqlstate_ == "57P03";
    }

private:
    std::string sqlstate_;
};

} // namespace authevents::bus

namespace authevents::detail {

/// SQLSTATE libpq's own failures are reported with (no server sent one).
inline constexpr const char* pg_unable_to_connect = "08001";
inline constexpr const char* pg_connection_failure = "08006";

// libpq's message without its trailing newline(s).
inline std::string pg_trimmed(const char* message) {
    std::string text = message != nullptr ? message : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
        text.pop_back();
    }
    return text.empty() ? std::string("unknown error") : text;
}

// Throws PostgresError "<context> failed: <message> (SQLSTATE <code>)".
[[noreturn]] inline void throw_postgres(std::string sqlstate, std::string_view context,
                                        const std::string& message) {
    std::string text(context);
    text += " failed: ";
    text += message;
    text += " (SQLSTATE ";
    text += sqlstate;
    text += ')';
    throw bus::PostgresError(std::move(sqlstate), text);
}

// Throws PostgresError for the connection's last failure (no result, or a failed result).
[[noreturn]] inline void throw_postgres(PGconn* conn, const PGresult* result,
                                        std::string_view context) {
    const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    std::string sqlstate;
    if (state != nullptr && *state != '\0') {
        sqlstate = state;
    } else {
        sqlstate =
            (conn == nullptr || PQstatus(conn) == CONNECTION_BAD) ? pg_connection_failure : "XX000";
    }
    const char* message = result != nullptr ? PQresultErrorMessage(result) : nullptr;
    if (message == nullptr || *message == '\0') {
        message = conn != nullptr ? PQerrorMessage(conn) : nullptr;
    }
    throw_postgres(std::move(sqlstate), context, pg_trimmed(message));
}

struct PgConnCloser {
    void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
};

struct PgResultClearer {
    void operator()(PGresult* result) const noexcept { PQclear(result); }
};

/// An owned query result. Not thread-safe; a value to read after the query.
class PgResult {
public:
    PgResult() = default;
    explicit PgResult(PGresult* result) noexcept : result_(result) {}

    [[nodiscard]] PGresult* get() const noexcept { return result_.get(); }
    /// Rows returned (0 for commands).
    [[nodiscard]] int rows() const noexcept { return result_ ? PQntuples(result_.get()) : 0; }
    /// Rows a command changed (INSERT/UPDATE/DELETE), 0 when it reports none.
    [[nodiscard]] std::int64_t affected_rows() const noexcept {
        const char* text = result_ ? PQcmdTuples(result_.get()) : nullptr;
        return text != nullptr && *text != '\0' ? std::strtoll(text, nullptr, 10) : 0;
    }
    [[nodiscard]] bool is_null(int row, int column) const noexcept {
        return PQgetisnull(result_.get(), row, column) != 0;
    }
    /// The value as text (empty for NULL).
    [[nodiscard]] std::string text(int row, int column) const {
        const char* value = PQgetvalue(result_.get(), row, column);
        const int size = PQgetlength(result_.get(), row, column);
        return value != nullptr && size > 0 ? std::string(value, static_cast<std::size_t>(size))
                                            : std::string();
    }
    /// The value as an integer (0 for NULL).
    /// @throws PostgresError (22P02) if it is not one.
    [[nodiscard]] std::int64_t int64(int row, int column) const {
        if (is_null(row, column)) {
            return 0;
        }
        const std::string value = text(row, column);
        char* end = nullptr;
        errno = 0;
        const long long number = std::strtoll(value.c_str(), &end, 10);
        if (value.empty() || end == nullptr || *end != '\0' || errno != 0) {
            throw_postgres("22P02", "postgres: read integer column",
                           "'" + value + "' is not a 64-bit integer");
        }
        return static_cast<std::int64_t>(number);
    }

private:
    std::unique_ptr<PGresult, PgResultClearer> result_;
};

/// Text parameters of one statement ($1, $2, ...), owned (libpq needs NUL-terminated text).
class PgParams {
public:
    PgParams() = default;
    PgParams& text(std::string_view value) {
        values_.emplace_back(std::string(value));
        return *this;
    }
    PgParams& int64(std::int64_t value) {
        values_.emplace_back(std::to_string(value));
        return *this;
    }
    PgParams& null() {
        values_.emplace_back(std::nullopt);
        return *this;
    }
    [[nodiscard]] int size() const noexcept { return static_cast<int>(values_.size()); }
    // Pointers into the values, valid while this object lives unchanged.
    [[nodiscard]] std::vector<const char*> pointers() const {
        std::vector<const char*> result;
        result.reserve(values_.size());
        for (const auto& value : values_) {
            result.push_back(value ? value->c_str() : nullptr);
        }
        return result;
    }

private:
    std::vector<std::optional<std::string>> values_;
};

/// Runs `sql` (one statement; `$n` placeholders take `params` as text) on `conn` and returns
/// its result. Thread-safety is that of `conn` (one thread at a time).
/// @throws PostgresError "<context> failed: ... (SQLSTATE ...)" unless it succeeded (a command
/// or rows).
inline PgResult pg_exec(PGconn* conn, const std::string& sql, const PgParams& params,
                        std::string_view context) {
    const std::vector<const char*> values = params.pointers();
    PgResult result(PQexecParams(conn, sql.c_str(), params.size(), nullptr,
                                 values.empty() ? nullptr : values.data(), nullptr, nullptr, 0));
    const ExecStatusType status =
        result.get() != nullptr ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        throw_postgres(conn, result.get(), context);
    }
    return result;
}

/// pg_exec without parameters (may hold several statements, e.g. a schema script).
inline PgResult pg_exec(PGconn* conn, const std::string& sql, std::string_view context) {
    PgResult result(PQexec(conn, sql.c_str()));
    const ExecStatusType status =
        result.get() != nullptr ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        throw_postgres(conn, result.get(), context);
    }
    return result;
}

/// An owned libpq connection. Not thread-safe: one thread at a time (libpq's rule). Movable.
class PgConnection {
public:
    PgConnection() = default;

    /// Connects with the libpq connection string `conninfo` ("host=... port=... dbname=..."
    /// or a postgresql:// URI).
    /// @throws PostgresError (SQLSTATE 08001) naming `context` and libpq's reason if the
    /// connection cannot be made.
    PgConnection(const std::string& conninfo, std::string_view context)
        : conn_(PQconnectdb(conninfo.c_str())) {
        if (!conn_) {
            throw_postgres(pg_unable_to_connect, context, "out of memory");
        }
        if (PQstatus(conn_.get()) != CONNECTION_OK) {
            throw_postgres(pg_unable_to_connect, std::string(context) + ": connect",
                           pg_trimmed(PQerrorMessage(conn_.get())));
        }
    }

    [[nodiscard]] PGconn* get() const noexcept { return conn_.get(); }
    explicit operator bool() const noexcept { return static_cast<bool>(conn_); }
    /// False once libpq has seen the connection break.
    [[nodiscard]] bool ok() const noexcept {
        return conn_ && PQstatus(conn_.get()) == CONNECTION_OK;
    }
    /// Closes the connection now (idempotent).
    void reset() noexcept { conn_.reset(); }

    PgResult exec(const std::string& sql, const PgParams& params, std::string_view context) {
        return pg_exec(conn_.get(), sql, params, context);
    }
    PgResult exec(const std::string& sql, std::string_view context) {
        return pg_exec(conn_.get(), sql, context);
    }

private:
    std::unique_ptr<PGconn, PgConnCloser> conn_;
};

/// BEGIN now; ROLLBACK at scope end unless commit() succeeded (a failed ROLLBACK on a lost
/// connection is ignored: the server rolls back itself).
class PgTransaction {
public:
    PgTransaction(PGconn* conn, std::string context) : conn_(conn), context_(std::move(context)) {
        pg_exec(conn_, "BEGIN", context_ + ": begin");
    }
    PgTransaction(const PgTransaction&) = delete;
    PgTransaction& operator=(const PgTransaction&) = delete;
    ~PgTransaction() {
        if (!done_) {
            PQclear(PQexec(conn_, "ROLLBACK"));
        }
    }

    void commit() {
        done_ = true; // a failed COMMIT has ended the transaction too
        pg_exec(conn_, "COMMIT", context_ + ": commit");
    }

private:
    PGconn* conn_;
    std::string context_;
    bool done_ = false;
};

/// Waits until `conn`'s socket is readable or `timeout` passes, then consumes input and
/// returns the channel names of the notifications received (possibly none).
/// @throws PostgresError (08006) if the connection is broken (also when the server said it is
/// shutting down and closed it).
inline std::vector<std::string>
pg_wait_notifications(PGconn* conn, std::chrono::milliseconds timeout, std::string_view context) {
    std::vector<std::string> channels;
    const auto take = [&] {
        while (PGnotify* notify = PQnotifies(conn)) {
            channels.emplace_back(notify->relname != nullptr ? notify->relname : "");
            PQfreemem(notify);
        }
    };
    take();
    if (!channels.empty()) {
        return channels;
    }
    const int socket = PQsocket(conn);
    if (socket < 0) {
        throw_postgres(pg_connection_failure, context, "the connection has no socket");
    }
    pollfd descriptor{};
    descriptor.fd = socket;
    descriptor.events = POLLIN;
    const auto wait_ms = std::clamp<std::chrono::milliseconds::rep>(
        timeout.count(), 0, std::numeric_limits<int>::max());
    const int ready = ::poll(&descriptor, 1, static_cast<int>(wait_ms));
    if (ready < 0 && errno != EINTR) {
        throw_postgres(pg_connection_failure, context, "poll() failed");
    }
    if ((ready > 0 && PQconsumeInput(conn) == 0) || PQstatus(conn) == CONNECTION_BAD) {
        throw_postgres(pg_connection_failure, context, pg_trimmed(PQerrorMessage(conn)));
    }
    take();
    return channels;
}

/// Checks `name` as an SQL identifier. Validated names are safe to format into SQL, quoted
/// (pg_quote_identifier).
/// @throws std::invalid_argument unless `name` matches [A-Za-z_][A-Za-z0-9_]* and has at most
/// 63 bytes (PostgreSQL's identifier limit, beyond which it would silently truncate).
inline void pg_validate_identifier(std::string_view name, std::string_view context) {
    const auto letter = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    };
    const bool valid = !name.empty() && name.size() <= 63 && letter(name.front()) &&
                       std::all_of(name.begin(), name.end(),
                                   [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
    if (!valid) {
        throw std::invalid_argument(std::string(context) + ": invalid name '" + std::string(name) +
                                    "': must match [A-Za-z_][A-Za-z0-9_]* with at most 63 bytes");
    }
}

/// `name` as a quoted SQL identifier; validate it first (pg_validate_identifier).
inline std::string pg_quote_identifier(std::string_view name) {
    return '"' + std::string(name) + '"';
}

} // namespace authevents::detail
