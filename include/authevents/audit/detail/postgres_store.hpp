/// @file
/// Internals of PostgresAuditStore (audit/postgres_store.hpp): the schema, the batch insert, the
/// argument checks and reading rows back. Nothing here is public API. Needs libpq.
#pragma once

#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/audit/sqlite_store.hpp> // validate_audit_entry
#include <authevents/audit/store.hpp>
#include <authevents/bus/detail/postgres.hpp>

#include <libpq-fe.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authevents::audit::detail {

// Advisory lock key space (two-int form, first key) for the audit store's schema creation.
inline constexpr int pg_audit_schema_lock_class = 0x61657661; // "aeva"
// The schema version this header writes and reads.
inline constexpr int pg_audit_schema_version = 1;
// The largest `limit` of read() and of a query page (PostgresAuditStore::max_read_limit,
// max_query_limit).
inline constexpr std::size_t pg_audit_max_read = 100000;
inline constexpr std::size_t pg_audit_max_query = 10000;

// `conninfo` (key=value or URI) as a key=value string with connect_timeout added unless it
// sets one.
// @throws std::invalid_argument naming libpq's complaint if it cannot be parsed.
inline std::string pg_audit_conninfo(const std::string& conninfo, std::chrono::seconds timeout) {
    char* error = nullptr;
    std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> parsed(
        PQconninfoParse(conninfo.c_str(), &error), &PQconninfoFree);
    if (!parsed) {
        const std::string reason =
            authevents::detail::pg_trimmed(error != nullptr ? error : "out of memory");
        PQfreemem(error);
        throw std::invalid_argument("postgres audit store: invalid connection string: " + reason);
    }
    std::string result;
    bool has_timeout = false;
    for (const PQconninfoOption* option = parsed.get(); option->keyword != nullptr; ++option) {
        if (option->val == nullptr) {
            continue;
        }
        has_timeout = has_timeout || std::string_view(option->keyword) == "connect_timeout";
        result += option->keyword;
        result += "='";
        for (const char* c = option->val; *c != '\0'; ++c) {
            if (*c == '\'' || *c == '\\') {
                result += '\\';
            }
            result += *c;
        }
        result += "' ";
    }
    if (!has_timeout) {
        result += "connect_timeout=" + std::to_string(timeout.count());
    }
    return result;
}

// `values` as a PostgreSQL array literal for `$n::text[]` (NULL for std::nullopt).
inline std::string pg_text_array(const std::vector<std::optional<std::string>>& values) {
    std::string text = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) {
            text += ',';
        }
        if (!values[i]) {
            text += "NULL";
            continue;
        }
        text += '"';
        for (const char c : *values[i]) {
            if (c == '"' || c == '\\') {
                text += '\\';
            }
            text += c;
        }
        text += '"';
    }
    text += '}';
    return text;
}

// Checks `entry` as every store does (validate_audit_entry) and that its text can be stored
// as PostgreSQL text, which cannot hold NUL.
// @throws std::invalid_argument naming the entry and the field.
inline void pg_audit_check_entry(const AuditEntry& entry, std::size_t index) {
    validate_audit_entry(entry, index);
    const auto check = [&](std::string_view value, const char* field) {
        if (value.find('\0') != std::string_view::npos) {
            throw std::invalid_argument("postgres audit store: append: entry " +
                                        std::to_string(index) + "'s " + field +
                                        " holds a NUL byte, which PostgreSQL text cannot store");
        }
    };
    check(entry.event_type, "event_type");
    check(entry.owasp, "owasp");
    check(entry.actor, "actor");
    check(entry.subject, "subject");
    check(entry.source_ip.value_or(""), "source_ip");
    check(entry.ip_index.value_or(""), "ip_index");
    check(entry.data, "data");
    check(entry.cloud_event_id.value_or(""), "cloud_event_id");
    check(entry.key_scope, "key_scope");
}

// The query checks every store makes.
// @throws std::invalid_argument naming the problem.
inline void pg_audit_check_query(const AuditQuery& query) {
    const auto fail = [](const std::string& problem) {
        throw std::invalid_argument("postgres audit store: query: " + problem);
    };
    if (query.limit == 0 || query.limit > pg_audit_max_query) {
        fail("limit " + std::to_string(query.limit) + " is outside 1 to " +
             std::to_string(pg_audit_max_query));
    }
    for (const auto& [filter, name] :
         {std::pair{&query.user, "user"}, std::pair{&query.event_type, "event_type"},
          std::pair{&query.ip_index, "ip_index"}}) {
        if (*filter && (*filter)->empty()) {
            fail(std::string("the ") + name + " filter is empty (std::nullopt matches any)");
        }
    }
    if (query.from && query.until && *query.from >= *query.until) {
        fail("the time range is empty: from is not before until");
    }
}

inline void pg_audit_check_scope(const std::string& scope, const char* operation) {
    if (scope.empty()) {
        throw std::invalid_argument(std::string("postgres audit store: ") + operation +
                                    ": the scope is empty");
    }
}

// The SQL that creates the store's tables and indexes named after `name` (validated) if
// missing, under an advisory lock, and returns the schema version.
inline std::string pg_audit_schema_sql(const std::string& name) {
    using authevents::detail::pg_quote_identifier;
    const std::string table = pg_quote_identifier(name);
    const std::string head = pg_quote_identifier(name + "_head");
    const auto index = [&](const std::string& suffix, const std::string& definition) {
        return "CREATE INDEX IF NOT EXISTS " + pg_quote_identifier(name + suffix) + " ON " + table +
               ' ' + definition + ';';
    };
    return "SET LOCAL client_min_messages = warning; SELECT pg_advisory_xact_lock(" +
           std::to_string(pg_audit_schema_lock_class) + ", hashtext('" + name + "'));" +
           "CREATE TABLE IF NOT EXISTS " + table +
           " (sequence bigint PRIMARY KEY, time_us bigint NOT NULL, event_type text NOT NULL, "
           "event_version integer NOT NULL, owasp text NOT NULL, actor text NOT NULL, subject "
           "text NOT NULL, source_ip text, ip_index text, data text NOT NULL, cloud_event_id "
           "text UNIQUE, key_scope text NOT NULL, hash bytea NOT NULL CHECK (length(hash) = "
           "32));" +
           index("_by_actor", "(actor, sequence)") + index("_by_subject", "(subject, sequence)") +
           index("_by_type", "(event_type, sequence)") +
           index("_by_ip", "(ip_index, sequence) WHERE ip_index IS NOT NULL") +
           index("_by_time", "(time_us, sequence)") +
           index("_by_scope", "(key_scope) WHERE ip_index IS NOT NULL") +
           "CREATE TABLE IF NOT EXISTS " + head +
           " (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), sequence bigint NOT "
           "NULL, hash bytea NOT NULL, schema_version integer NOT NULL);" +
           "INSERT INTO " + head + " VALUES (true, 0, decode('" + std::string(64, '0') +
           "', 'hex'), " + std::to_string(pg_audit_schema_version) + ") ON CONFLICT DO NOTHING;" +
           "CREATE TABLE IF NOT EXISTS " + pg_quote_identifier(name + "_checkpoints") +
           " (sequence bigint PRIMARY KEY, hash bytea NOT NULL, cut_before_us bigint NOT NULL, "
           "made_at_us bigint NOT NULL, deleted bigint NOT NULL, signature bytea NOT NULL);" +
           "CREATE TABLE IF NOT EXISTS " + pg_quote_identifier(name + "_keys") +
           " (scope text PRIMARY KEY, key bytea NOT NULL);" + "SELECT schema_version FROM " + head;
}

// One INSERT for a whole batch: thirteen array parameters (pg_text_array), one element per
// record, in the order of the columns; the hash as hex.
inline std::string pg_audit_insert_sql(const std::string& quoted_table) {
    return "INSERT INTO " + quoted_table +
           " (sequence, time_us, event_type, event_version, owasp, actor, subject, source_ip, "
           "ip_index, data, cloud_event_id, key_scope, hash) SELECT s, t, et, ev, o, a, su, ip, "
           "ii, d, ce, ks, decode(h, 'hex') FROM unnest($1::bigint[], $2::bigint[], $3::text[], "
           "$4::integer[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], "
           "$10::text[], $11::text[], $12::text[], $13::text[]) AS u(s, t, et, ev, o, a, su, ip, "
           "ii, d, ce, ks, h)";
}

// The record columns in the order pg_audit_records reads them, qualified by `prefix`.
inline std::string pg_audit_columns(const std::string& prefix) {
    std::string text;
    for (const char* column :
         {"sequence", "time_us", "event_type", "event_version", "owasp", "actor", "subject",
          "source_ip", "ip_index", "data", "cloud_event_id", "key_scope"}) {
        text += prefix + column + ", ";
    }
    return text + "encode(" + prefix + "hash, 'hex')";
}

// A bytea column of `table` read as hex; `what` and `sequence` name it in the error.
// @throws AuditStoreError if it is not hex.
inline std::string pg_audit_bytes(const std::string& table, const std::string& hex,
                                  const char* what, std::int64_t sequence) {
    std::optional<std::string> bytes = from_hex(hex);
    if (!bytes) {
        throw AuditStoreError("postgres audit store: the " + std::string(what) + " of " +
                              std::to_string(sequence) + " in " + table + " is not readable hex");
    }
    return std::move(*bytes);
}

// A hash column of `table` read as hex.
// @throws AuditStoreError if it is not 32 bytes of hex.
inline Sha256 pg_audit_hash(const std::string& table, const std::string& hex, const char* what,
                            std::int64_t sequence) {
    const std::optional<Sha256> hash = sha256_from_hex(hex);
    if (!hash) {
        throw AuditStoreError("postgres audit store: " + std::string(what) + " " +
                              std::to_string(sequence) + " in " + table + " has a hash of " +
                              std::to_string(hex.size() / 2) + " bytes instead of 32");
    }
    return *hash;
}

// The records of a result whose columns are pg_audit_columns().
// @throws AuditStoreError if a row cannot be read.
inline std::vector<AuditRecord> pg_audit_records(const std::string& table,
                                                 const authevents::detail::PgResult& rows) {
    std::vector<AuditRecord> records;
    records.reserve(static_cast<std::size_t>(rows.rows()));
    const auto optional = [&](int row, int column) -> std::optional<std::string> {
        if (rows.is_null(row, column)) {
            return std::nullopt;
        }
        return rows.text(row, column);
    };
    for (int row = 0; row < rows.rows(); ++row) {
        AuditRecord record;
        record.sequence = rows.int64(row, 0);
        record.time = AuditTime(Microseconds(rows.int64(row, 1)));
        record.event_type = rows.text(row, 2);
        record.event_version = static_cast<int>(rows.int64(row, 3)); // an integer column
        record.owasp = rows.text(row, 4);
        record.actor = rows.text(row, 5);
        record.subject = rows.text(row, 6);
        record.source_ip = optional(row, 7);
        record.ip_index = optional(row, 8);
        record.data = rows.text(row, 9);
        record.cloud_event_id = optional(row, 10);
        record.key_scope = rows.text(row, 11);
        record.hash = pg_audit_hash(table, rows.text(row, 12), "record", record.sequence);
        records.push_back(std::move(record));
    }
    return records;
}

} // namespace authevents::audit::detail
