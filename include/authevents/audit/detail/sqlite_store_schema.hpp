/// @file
/// The tables of SqliteAuditStore (audit/sqlite_store.hpp): their names, the SQL that creates
/// them and their indexes, and the check that existing tables have the store's layout. Nothing
/// here is public API.
///
/// Part of authevents::audit (SQLite). Thread-safety: the functions touch only the connection
/// they are given, which the caller serialises.
#pragma once

#include <authevents/audit/store.hpp>
#include <authevents/bus/detail/sqlite.hpp>

#include <sqlite3.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace authevents::audit::detail {

using authevents::detail::execute;
using authevents::detail::open_database;
using authevents::detail::query_text;
using authevents::detail::quote_identifier;
using authevents::detail::SqliteConnection;
using authevents::detail::Statement;
using authevents::detail::Transaction;
using authevents::detail::validate_identifier;

/// The record columns every SELECT of SqliteAuditStore reads, in read_sqlite_record()'s order.
inline constexpr const char* sqlite_audit_columns =
    "sequence, time_us, event_type, event_version, owasp, actor, subject, source_ip,"
    " source_ip IS NOT NULL, ip_index, ip_index IS NOT NULL, data, cloud_event_id,"
    " cloud_event_id IS NOT NULL, key_scope, hash";

/// The checkpoint columns, in read_sqlite_checkpoint()'s order.
inline constexpr const char* sqlite_checkpoint_columns =
    "sequence, hash, cut_before_us, made_at_us, deleted, signature";

/// The store's three tables under one prefix (validated by the caller), names quoted for SQL.
struct SqliteAuditTables {
    std::string prefix;      ///< As given: [A-Za-z_][A-Za-z0-9_]*.
    std::string records;     ///< "<prefix>_records", quoted.
    std::string checkpoints; ///< "<prefix>_checkpoints", quoted.
    std::string keys;        ///< "<prefix>_keys", quoted.

    SqliteAuditTables() = default;
    explicit SqliteAuditTables(std::string table_prefix)
        : prefix(std::move(table_prefix)), records(quote_identifier(prefix + "_records")),
          checkpoints(quote_identifier(prefix + "_checkpoints")),
          keys(quote_identifier(prefix + "_keys")) {}

    /// The quoted name of the index `<prefix><suffix>`.
    [[nodiscard]] std::string index(const char* suffix) const {
        return quote_identifier(prefix + suffix);
    }
};

/// The SQL that creates the three tables if missing (STRICT tables; a record's hash is 64
/// lower-case hex digits and its event_version fits an int).
inline std::string sqlite_audit_schema_sql(const SqliteAuditTables& tables) {
    return "CREATE TABLE IF NOT EXISTS " + tables.records +
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
           tables.checkpoints +
           " (sequence INTEGER PRIMARY KEY,"
           " hash TEXT NOT NULL,"
           " cut_before_us INTEGER NOT NULL,"
           " made_at_us INTEGER NOT NULL,"
           " deleted INTEGER NOT NULL,"
           " signature TEXT NOT NULL) STRICT;"
           "CREATE TABLE IF NOT EXISTS " +
           tables.keys + " (scope TEXT PRIMARY KEY, key TEXT NOT NULL) STRICT, WITHOUT ROWID;";
}

/// The SQL that creates the indexes if missing: one per query filter, each ending in sequence
/// so that a page is an ordered index walk (sqlite_audit_query_sql() names them), and one for
/// erase_key's update.
inline std::string sqlite_audit_index_sql(const SqliteAuditTables& tables) {
    std::string indexes;
    for (const auto& [name, columns] : {
             std::pair<const char*, const char*>{"_by_actor", "(actor, sequence)"},
             {"_by_subject", "(subject, sequence)"},
             {"_by_type", "(event_type, sequence, time_us)"},
             {"_by_time", "(sequence, time_us)"},
             {"_by_ip", "(ip_index, sequence) WHERE ip_index IS NOT NULL"},
             {"_by_scope", "(key_scope) WHERE ip_index IS NOT NULL"},
         }) {
        indexes += "CREATE INDEX IF NOT EXISTS " + tables.index(name) + " ON " + tables.records +
                   " " + columns + ";";
    }
    return indexes;
}

/// Checks that the tables under the prefix, where they exist, have the store's columns.
/// `name` begins the messages ("audit store '<path>'").
/// @throws std::invalid_argument when tables of another layout use the prefix.
/// @throws AuditStoreError when `read_only` and the records table does not exist.
/// @throws bus::SqliteError when SQLite fails.
inline void sqlite_audit_check_layout(sqlite3* db, const SqliteAuditTables& tables, bool read_only,
                                      const std::string& name) {
    const std::string context = name + ": check layout";
    const auto has_columns = [&](const std::string& table, const char* columns, int expected) {
        return query_text(db,
                          "SELECT count(*) FROM pragma_table_info('" + table +
                              "') WHERE name IN (" + columns + ")",
                          context) == std::to_string(expected);
    };
    const std::string& prefix = tables.prefix;
    const bool records_ok =
        has_columns(prefix + "_records",
                    "'sequence','time_us','event_type','event_version','owasp','actor','subject',"
                    "'source_ip','ip_index','data','cloud_event_id','key_scope','hash'",
                    13);
    const bool checkpoints_ok =
        has_columns(prefix + "_checkpoints",
                    "'sequence','hash','cut_before_us','made_at_us','deleted','signature'", 6);
    const bool keys_ok = has_columns(prefix + "_keys", "'scope','key'", 2);
    if (read_only &&
        query_text(db, "SELECT count(*) FROM sqlite_schema WHERE name = '" + prefix + "_records'",
                   context) == "0") {
        throw AuditStoreError(name + ": open read-only failed: the database has no table " +
                              prefix + "_records (no audit store was created in it)");
    }
    if (!records_ok || !checkpoints_ok || !keys_ok) {
        throw std::invalid_argument(name + ": tables named " + prefix +
                                    "_* exist with another layout; give the audit store a "
                                    "table_prefix of its own");
    }
}

} // namespace authevents::audit::detail
