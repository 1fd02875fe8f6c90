/// @file
/// The prepared statements of SqliteAuditStore (audit/sqlite_store.hpp): one per fixed
/// operation on its tables, prepared once when the store opens. Nothing here is public API.
///
/// Part of authevents::audit (SQLite). Not thread-safe: the store uses them under its mutex.
#pragma once

#include <authevents/audit/detail/sqlite_store_schema.hpp>
#include <authevents/bus/detail/sqlite.hpp>

#include <sqlite3.h>

#include <string>

namespace authevents::audit::detail {

/// Every fixed statement of the store. Must be destroyed before the connection it was
/// prepared on.
struct SqliteAuditStatements {
    Statement insert_record;     ///< ?1..?13: the record's columns; ignores a known CloudEvent id.
    Statement last_record;       ///< The newest record's sequence and hash.
    Statement read;              ///< ?1 after, ?2 limit: records (sqlite_audit_columns).
    Statement count;             ///< count(*) of the records.
    Statement checkpoints_all;   ///< Every checkpoint, oldest first.
    Statement newest_checkpoint; ///< The newest checkpoint.
    Statement insert_checkpoint; ///< ?1..?6: sqlite_checkpoint_columns.
    Statement first_kept;        ///< ?1 cut (us): the first record at or after it.
    Statement last_before;       ///< ?1 sequence: the newest record before it, with its hash.
    Statement delete_through;    ///< ?1 sequence: deletes the records up to it.
    Statement find_key;          ///< ?1 scope: its key, as hex.
    Statement insert_key;        ///< ?1 scope, ?2 key as hex; keeps an existing key.
    Statement erase_key;         ///< ?1 scope: deletes its key.
    Statement clear_ip_index;    ///< ?1 scope: clears the ip_index of its records.

    SqliteAuditStatements() = default;

    /// Prepares every statement on `db`; `name` begins each statement's error messages.
    /// @throws bus::SqliteError when SQLite cannot prepare one (e.g. a missing table).
    SqliteAuditStatements(sqlite3* db, const SqliteAuditTables& tables, const std::string& name) {
        const std::string& records = tables.records;
        const std::string columns = sqlite_audit_columns;
        const std::string checkpoint_columns = sqlite_checkpoint_columns;
        const auto prepare = [&](const std::string& sql, const char* operation) {
            return Statement(db, sql, name + ": " + operation);
        };
        insert_record = prepare(
            "INSERT INTO " + records +
                " (sequence, time_us, event_type, event_version, owasp, actor, subject, source_ip,"
                " ip_index, data, cloud_event_id, key_scope, hash)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                " ON CONFLICT (cloud_event_id) DO NOTHING",
            "append: insert record");
        last_record =
            prepare("SELECT sequence, hash FROM " + records + " ORDER BY sequence DESC LIMIT 1",
                    "read head");
        read = prepare("SELECT " + columns + " FROM " + records +
                           " WHERE sequence > ?1 ORDER BY sequence LIMIT ?2",
                       "read");
        count = prepare("SELECT count(*) FROM " + records, "count");
        checkpoints_all = prepare("SELECT " + checkpoint_columns + " FROM " + tables.checkpoints +
                                      " ORDER BY sequence",
                                  "read checkpoints");
        newest_checkpoint = prepare("SELECT " + checkpoint_columns + " FROM " + tables.checkpoints +
                                        " ORDER BY sequence DESC LIMIT 1",
                                    "read newest checkpoint");
        insert_checkpoint = prepare("INSERT INTO " + tables.checkpoints + " (" +
                                        checkpoint_columns + ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                    "prune: insert checkpoint");
        first_kept = prepare("SELECT sequence FROM " + records +
                                 " WHERE time_us >= ?1 ORDER BY sequence LIMIT 1",
                             "prune: find the first record to keep");
        last_before = prepare("SELECT sequence, hash FROM " + records +
                                  " WHERE sequence < ?1 ORDER BY sequence DESC LIMIT 1",
                              "prune: find the last record to delete");
        delete_through =
            prepare("DELETE FROM " + records + " WHERE sequence <= ?1", "prune: delete records");
        find_key = prepare("SELECT key FROM " + tables.keys + " WHERE scope = ?1", "find key");
        insert_key = prepare("INSERT INTO " + tables.keys +
                                 " (scope, key) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                             "insert key");
        erase_key = prepare("DELETE FROM " + tables.keys + " WHERE scope = ?1", "erase key");
        clear_ip_index = prepare("UPDATE " + records +
                                     " SET ip_index = NULL"
                                     " WHERE key_scope = ?1 AND ip_index IS NOT NULL",
                                 "erase key: clear ip_index");
    }
};

} // namespace authevents::audit::detail
