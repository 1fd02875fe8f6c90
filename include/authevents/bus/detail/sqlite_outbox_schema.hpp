/// @file
/// The SQLite outbox's schema: its table, the index next_batch reads, and the lease table
/// (SqliteOutbox::create_schema).
#pragma once

#include <authevents/bus/detail/sqlite.hpp>
#include <authevents/bus/outbox_options.hpp>

#include <sqlite3.h>

#include <string>

namespace authevents::detail {

/// Creates the outbox table, its index and its lease table in `db` if they are missing.
/// @throws std::invalid_argument for an invalid table name.
/// @throws bus::SqliteError if SQLite fails.
inline void create_sqlite_outbox_schema(sqlite3* db, const bus::OutboxOptions& options) {
    detail::validate_identifier(options.table, "outbox");
    const std::string table = detail::quote_identifier(options.table);
    const std::string create_table = "CREATE TABLE IF NOT EXISTS " + table +
                                     " ("
                                     "sequence INTEGER PRIMARY KEY AUTOINCREMENT, "
                                     "event_id TEXT NOT NULL UNIQUE, "
                                     "type TEXT NOT NULL, "
                                     "payload TEXT NOT NULL, "
                                     "created_at_ms INTEGER NOT NULL, "
                                     "published_at_ms INTEGER, "
                                     "attempts INTEGER NOT NULL DEFAULT 0, "
                                     "last_error TEXT)";
    // Serves next_batch (published_at_ms IS NULL, by sequence), the counts and pruning.
    const std::string create_index = "CREATE INDEX IF NOT EXISTS " +
                                     detail::quote_identifier(options.table + "_by_state") +
                                     " ON " + table + " (published_at_ms, sequence)";
    // One row, name 'relay': which relay may publish this outbox (acquire_lease).
    const std::string create_lease =
        "CREATE TABLE IF NOT EXISTS " + detail::quote_identifier(options.table + "_lease") +
        " (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at_ms INTEGER NOT NULL)";
    detail::execute(db, create_table.c_str(), "outbox: create table");
    detail::execute(db, create_index.c_str(), "outbox: create index");
    detail::execute(db, create_lease.c_str(), "outbox: create lease table");
}

} // namespace authevents::detail
