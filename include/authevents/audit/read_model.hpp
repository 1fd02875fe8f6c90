/// @file
/// Read models (CQRS) over the audit trail, the building blocks: the Projection interface,
/// RecordData (a record's data with checked accessors), ReadModelSession (the database as a
/// projection sees it) and ReadModelReader (queries beside the runner's writes).
///
/// A projection turns audit records into query-friendly tables of a SQLite read-model
/// database; a ProjectionRunner (projection_runner.hpp) feeds it. Record data is untrusted
/// input: text over RecordDataLimits, malformed JSON and members of the wrong type are
/// rejected per record and projection (counted, logged at error, kept in the table
/// authevents_projection_rejects), never a crash and never a stalled read model.
///
/// Part of authevents::audit (CMake target authevents::audit): SQLite, nlohmann-json.
#pragma once

#include <authevents/audit/record.hpp>
#include <authevents/bus/detail/json.hpp>
#include <authevents/bus/detail/sqlite.hpp>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authevents::detail {

// `text` cut to about `limit` bytes on a UTF-8 boundary, "..." appended when cut.
inline std::string projection_bounded_text(std::string_view text, std::size_t limit) {
    if (text.size() <= limit) {
        return std::string(text);
    }
    std::size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) {
        --cut;
    }
    return std::string(text.substr(0, cut)) + "...";
}

// Opens `path` for the read model (WAL, synchronous NORMAL) and creates the runner's tables.
inline SqliteConnection open_read_model(const std::string& path, std::string_view context,
                                        std::chrono::milliseconds busy_timeout) {
    SqliteConnection db = open_database(path, context, busy_timeout, false);
    const std::string mode = query_text(db.get(), "PRAGMA journal_mode=WAL", context);
    if (mode != "wal") {
        throw authevents::bus::SqliteError(SQLITE_ERROR, std::string(context) + ": '" + path +
                                                             "' cannot use WAL journaling (got '" +
                                                             mode + "')");
    }
    // A power loss may lose the last commits, never split a state from its checkpoint: the
    // lost records are applied again from the audit store.
    execute(db.get(), "PRAGMA synchronous=NORMAL", context);
    return db;
}

} // namespace authevents::detail

namespace authevents::audit {

/// The read-model database failed (cannot be opened, written or committed), or a projection
/// cannot be registered (invalid or duplicate name). The message names the database path or
/// the projection and the problem. Thread-safe as any immutable value.
class ProjectionError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A projection cannot use an audit record's data (malformed JSON, a missing member, a member
/// of the wrong type or out of range). Thrown by RecordData's accessors and by projections;
/// the runner catches it, undoes what the projection wrote for that record, counts and logs
/// the rejection, and moves on. Thread-safe as any immutable value.
class RecordDataError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Bounds on a record's data JSON, checked before the parser runs. 0 means no limit.
struct RecordDataLimits {
    std::size_t max_bytes = 256 * 1024;       ///< Size of the whole JSON text.
    std::size_t max_string_bytes = 16 * 1024; ///< One string or key as written.
    std::size_t max_depth = 16;               ///< Nesting of arrays and objects.
};

/// One audit record with its data parsed, as handed to Projection::apply(), with checked
/// accessors that throw RecordDataError naming the record and the member.
///
/// A view: it refers to the record and the JSON it was built from. Thread-safety: const
/// members may be called concurrently.
class RecordData {
public:
    /// A view of `record` whose data parsed to `data`.
    RecordData(const AuditRecord& record, const nlohmann::json& data) noexcept
        : record_(record), data_(data) {}

    /// The record.
    [[nodiscard]] const AuditRecord& record() const noexcept { return record_; }
    /// The parsed data (a JSON object).
    [[nodiscard]] const nlohmann::json& json() const noexcept { return data_; }

    /// The member at `path` (e.g. {"application", "id"}).
    /// @throws RecordDataError when a step is missing or not an object.
    [[nodiscard]] const nlohmann::json& at(std::initializer_list<std::string_view> path) const {
        return *find(path, true);
    }

    /// Whether the member at `path` exists and is not null.
    /// @throws RecordDataError when a step before the last is neither an object nor null.
    [[nodiscard]] bool has(std::initializer_list<std::string_view> path) const {
        const nlohmann::json* value = find(path, false);
        return value != nullptr && !value->is_null();
    }

    /// The integer at `path`, which must fit std::int64_t.
    /// @throws RecordDataError when missing or not such an integer.
    [[nodiscard]] std::int64_t integer(std::initializer_list<std::string_view> path) const {
        const nlohmann::json& value = at(path);
        if (value.is_number_integer() && !value.is_number_unsigned()) {
            return value.get<std::int64_t>();
        }
        if (value.is_number_unsigned() &&
            value.get<std::uint64_t>() <=
                static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return static_cast<std::int64_t>(value.get<std::uint64_t>());
        }
        fail(path_text(path), "is " + authevents::detail::describe_json_type(value) +
                                  (value.is_number() ? " out of range" : "") +
                                  ", expected an integer");
    }

    /// The boolean at `path`.
    /// @throws RecordDataError when missing or not a boolean.
    [[nodiscard]] bool boolean(std::initializer_list<std::string_view> path) const {
        const nlohmann::json& value = at(path);
        if (!value.is_boolean()) {
            fail(path_text(path),
                 "is " + authevents::detail::describe_json_type(value) + ", expected a boolean");
        }
        return value.get<bool>();
    }

    /// The string at `path`, at most `max_bytes` long.
    /// @throws RecordDataError when missing, not a string or longer.
    [[nodiscard]] std::string text(std::initializer_list<std::string_view> path,
                                   std::size_t max_bytes = 256) const {
        const nlohmann::json& value = at(path);
        if (!value.is_string()) {
            fail(path_text(path),
                 "is " + authevents::detail::describe_json_type(value) + ", expected a string");
        }
        const auto& result = value.get_ref<const std::string&>();
        if (result.size() > max_bytes) {
            fail(path_text(path), "is a string of " + std::to_string(result.size()) +
                                      " bytes, longer than " + std::to_string(max_bytes));
        }
        return result;
    }

    /// The string at `path`, or std::nullopt when it is absent or null.
    /// @throws RecordDataError when present but not a string of at most `max_bytes`.
    [[nodiscard]] std::optional<std::string>
    optional_text(std::initializer_list<std::string_view> path, std::size_t max_bytes = 256) const {
        if (!has(path)) {
            return std::nullopt;
        }
        return text(path, max_bytes);
    }

    /// Throws RecordDataError "record <sequence> (<type>): <what> <problem>".
    [[noreturn]] void fail(std::string_view what, std::string_view problem) const {
        std::string message = "record " + std::to_string(record_.sequence) + " (" +
                              authevents::detail::quote_for_message(record_.event_type) + "): ";
        message.append(what);
        message += ' ';
        message.append(problem);
        throw RecordDataError(message);
    }

private:
    // The member at `path`. When a step is missing (or null, before the last step): throws if
    // `required`, else returns nullptr.
    const nlohmann::json* find(std::initializer_list<std::string_view> path, bool required) const {
        const nlohmann::json* value = &data_;
        std::string walked = "data";
        for (const std::string_view name : path) {
            if (!required && value->is_null()) {
                return nullptr;
            }
            if (!value->is_object()) {
                fail(walked, "is " + authevents::detail::describe_json_type(*value) +
                                 ", expected an object");
            }
            walked += '.';
            walked += name;
            const auto found = value->find(name);
            if (found == value->end()) {
                if (!required) {
                    return nullptr;
                }
                fail(walked, "is missing");
            }
            value = &*found;
        }
        return value;
    }

    static std::string path_text(std::initializer_list<std::string_view> path) {
        std::string text = "data";
        for (const std::string_view name : path) {
            text += '.';
            text.append(name);
        }
        return text;
    }

    const AuditRecord& record_;
    const nlohmann::json& data_;
};

/// The read-model database as a projection sees it inside the runner's transaction: the raw
/// SQLite handle and a cache of prepared statements. Only valid during the call it is passed
/// to; used by one thread at a time (the runner's).
class ReadModelSession {
public:
    /// A session over `db` (not owned).
    explicit ReadModelSession(sqlite3* db) noexcept : db_(db) {}
    ReadModelSession(const ReadModelSession&) = delete;
    ReadModelSession& operator=(const ReadModelSession&) = delete;

    /// The SQLite connection (inside a transaction: do not BEGIN, COMMIT or ROLLBACK).
    [[nodiscard]] sqlite3* handle() const noexcept { return db_; }

    /// Runs SQL without parameters or results (DDL, DELETE FROM ...).
    /// @throws authevents::bus::SqliteError when SQLite fails.
    void execute(const char* sql) { authevents::detail::execute(db_, sql, "read model"); }

    /// The prepared statement for `sql`, prepared on first use and kept for the runner's
    /// lifetime. Wrap each use in a authevents::detail::Statement::Use so it is reset afterwards.
    /// @throws authevents::bus::SqliteError when `sql` does not prepare.
    authevents::detail::Statement& statement(const std::string& sql) {
        const auto found = statements_.find(sql);
        if (found != statements_.end()) {
            return *found->second;
        }
        auto prepared =
            std::make_unique<authevents::detail::Statement>(db_, sql, "read model: " + sql);
        return *statements_.emplace(sql, std::move(prepared)).first->second;
    }

    /// Forgets every prepared statement (the runner calls this before a schema change).
    void clear_statements() noexcept { statements_.clear(); }

private:
    sqlite3* db_;
    std::map<std::string, std::unique_ptr<authevents::detail::Statement>, std::less<>> statements_;
};

/// A read model: turns audit records into tables of the read-model database.
///
/// Implementations write only through the ReadModelSession they are given, only to their own
/// tables, and only deterministically from the records (no clock, no randomness), so that a
/// rebuild gives exactly the state the live feed built. The runner calls them from one thread
/// at a time. apply() may throw RecordDataError for data it cannot use (the record is then
/// rejected for this projection and skipped); any other exception undoes the projection's
/// whole batch, state and checkpoint alike.
class Projection {
public:
    virtual ~Projection() = default;

    /// The projection's name, [A-Za-z_][A-Za-z0-9_]* (it keys its checkpoint row).
    [[nodiscard]] virtual std::string name() const = 0;

    /// The version of the projection's schema and logic. When it differs from the version the
    /// database holds, the runner drops the state (reset()) and replays it from the store.
    [[nodiscard]] virtual int version() const = 0;

    /// Whether records of `event_type` concern the projection. Other records only advance its
    /// checkpoint (their data is not parsed for it).
    [[nodiscard]] virtual bool handles(std::string_view event_type) const = 0;

    /// Creates the projection's tables and indexes when missing (CREATE ... IF NOT EXISTS).
    virtual void create_schema(ReadModelSession& session) = 0;

    /// Deletes the projection's state (for a rebuild or a version change); the schema may be
    /// dropped and created again.
    virtual void reset(ReadModelSession& session) = 0;

    /// Applies one record (of a type handles() accepts) to the state.
    /// @throws RecordDataError for data the projection cannot use.
    virtual void apply(ReadModelSession& session, const RecordData& record) = 0;
};

/// One rejected record, as ReadModelReader::rejections() returns it.
struct RejectedRecord {
    std::string projection;    ///< The projection that rejected it.
    std::int64_t sequence = 0; ///< The audit record's sequence.
    std::string event_type;    ///< Its event type.
    std::string reason;        ///< Why (bounded, escaped).
};

/// A read-only view of a read-model database for queries, on its own SQLite connection, so
/// queries run beside the runner's writes (WAL) and never wait for a rebuild.
///
/// Thread-safety: every member may be called from any thread; calls are serialised. Queries
/// see the state of the last committed batch. Exceptions: ProjectionError when the database
/// fails; std::bad_alloc.
class ReadModelReader {
public:
    /// Opens the read-model database at `path`, which a ProjectionRunner made (the reader
    /// never creates one: a mistyped path is an error, not an empty read model).
    /// @throws std::invalid_argument for an empty or in-memory path.
    /// @throws ProjectionError when the file is missing, is not a read-model database or
    /// cannot be opened.
    explicit ReadModelReader(const std::string& path,
                             std::chrono::milliseconds busy_timeout = std::chrono::seconds(5))
        : path_(path) {
        if (!path.empty() && path != ":memory:" && !std::filesystem::exists(path)) {
            throw ProjectionError("read model reader: there is no read-model database at '" + path +
                                  "' (a ProjectionRunner creates it)");
        }
        try {
            db_ = authevents::detail::open_database(path, "read model reader", busy_timeout, false);
            const std::string found = authevents::detail::query_text(
                db_.get(),
                "SELECT count(*) FROM sqlite_master WHERE name = 'authevents_projections'",
                "read model reader: check");
            if (found != "1") {
                throw ProjectionError("read model reader: '" + path +
                                      "' is not a read-model database (it has no "
                                      "authevents_projections table; a ProjectionRunner makes it)");
            }
        } catch (const authevents::bus::SqliteError& error) {
            throw ProjectionError("read model reader '" + path + "': " + error.what());
        }
        session_ = std::make_unique<ReadModelSession>(db_.get());
    }

    /// Runs `query(session)` in one read transaction (a consistent snapshot) and returns its
    /// result. `query` uses session.statement() and must not write.
    /// @throws ProjectionError when SQLite fails; what `query` throws otherwise.
    template <class F> auto read(F&& query) -> decltype(query(std::declval<ReadModelSession&>())) {
        std::lock_guard<std::mutex> lock(mutex_);
        try {
            authevents::detail::execute(db_.get(), "BEGIN", "read model reader: begin");
            struct End {
                sqlite3* db;
                ~End() { sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr); }
            } end{db_.get()};
            return query(*session_);
        } catch (const authevents::bus::SqliteError& error) {
            throw ProjectionError("read model reader '" + path_ + "': " + error.what());
        }
    }

    /// The records `projection` rejected, newest first, at most `limit`.
    /// @throws ProjectionError when the database fails.
    std::vector<RejectedRecord> rejections(const std::string& projection, std::size_t limit = 100) {
        return read([&](ReadModelSession& session) {
            auto& select = session.statement(
                "SELECT sequence, event_type, reason FROM authevents_projection_rejects"
                " WHERE projection = ? ORDER BY sequence DESC LIMIT ?");
            authevents::detail::Statement::Use use(select);
            select.bind_text(1, projection);
            select.bind_int64(2, static_cast<std::int64_t>(std::min<std::size_t>(limit, 1000000)));
            std::vector<RejectedRecord> result;
            while (select.step()) {
                result.push_back(RejectedRecord{projection, select.column_int64(0),
                                                select.column_text(1), select.column_text(2)});
            }
            return result;
        });
    }

    /// The committed checkpoint of `projection` (0 when it has none or is unknown).
    /// @throws ProjectionError when the database fails.
    std::int64_t checkpoint(const std::string& projection) {
        return read([&](ReadModelSession& session) {
            auto& select =
                session.statement("SELECT checkpoint FROM authevents_projections WHERE name = ?");
            authevents::detail::Statement::Use use(select);
            select.bind_text(1, projection);
            return select.step() ? select.column_int64(0) : std::int64_t{0};
        });
    }

private:
    std::string path_;
    authevents::detail::SqliteConnection db_;
    std::unique_ptr<ReadModelSession> session_;
    std::mutex mutex_;
};

} // namespace authevents::audit
