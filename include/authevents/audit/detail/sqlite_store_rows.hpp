/// @file
/// Rows of SqliteAuditStore (audit/sqlite_store.hpp): records and checkpoints bound to an
/// INSERT and read back from a SELECT, hashes and keys stored as lower-case hex. Nothing here
/// is public API.
///
/// Part of authevents::audit (SQLite). Not thread-safe: the store uses them under its mutex.
#pragma once

#include <authevents/audit/detail/sqlite_store_schema.hpp>
#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/audit/store.hpp>
#include <authevents/bus/detail/sqlite.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace authevents::audit::detail {

/// Binds `entry` as record `sequence` with the chain hash `hash_hex` to `insert` (the store's
/// insert_record statement). SQLite reads bound text at step(): `entry` and `hash_hex` must
/// outlive it.
inline void bind_sqlite_record(Statement& insert, const AuditEntry& entry, std::int64_t sequence,
                               const std::string& hash_hex) {
    insert.bind_int64(1, sequence);
    insert.bind_int64(2, entry.time.time_since_epoch().count());
    insert.bind_text(3, entry.event_type);
    insert.bind_int64(4, entry.event_version);
    insert.bind_text(5, entry.owasp);
    insert.bind_text(6, entry.actor);
    insert.bind_text(7, entry.subject);
    if (entry.source_ip) {
        insert.bind_text(8, *entry.source_ip);
    }
    if (entry.ip_index) {
        insert.bind_text(9, *entry.ip_index);
    }
    insert.bind_text(10, entry.data);
    if (entry.cloud_event_id) {
        insert.bind_text(11, *entry.cloud_event_id);
    }
    insert.bind_text(12, entry.key_scope);
    insert.bind_text(13, hash_hex);
}

/// The record at `statement`'s current row, whose columns are sqlite_audit_columns. `name`
/// begins the error message.
/// @throws AuditStoreError when the stored hash is not 64 hex digits.
inline AuditRecord read_sqlite_record(Statement& statement, const std::string& name) {
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
        throw AuditStoreError(name + ": read failed: record " + std::to_string(record.sequence) +
                              " has a hash that is not 64 hex digits");
    }
    record.hash = *hash;
    return record;
}

/// Binds `checkpoint` to `insert` (the store's insert_checkpoint statement).
/// `hash_hex` and `signature_hex` are its hash and signature as hex, and must outlive step().
inline void bind_sqlite_checkpoint(Statement& insert, const Checkpoint& checkpoint,
                                   const std::string& hash_hex, const std::string& signature_hex) {
    insert.bind_int64(1, checkpoint.sequence);
    insert.bind_text(2, hash_hex);
    insert.bind_int64(3, checkpoint.cut_before.time_since_epoch().count());
    insert.bind_int64(4, checkpoint.made_at.time_since_epoch().count());
    insert.bind_int64(5, static_cast<std::int64_t>(checkpoint.deleted));
    insert.bind_text(6, signature_hex);
}

/// The checkpoint at `statement`'s current row, whose columns are sqlite_checkpoint_columns.
/// @throws AuditStoreError when its hash or signature is not hex.
inline Checkpoint read_sqlite_checkpoint(Statement& statement, const std::string& name) {
    Checkpoint checkpoint;
    checkpoint.sequence = statement.column_int64(0);
    const auto hash = sha256_from_hex(statement.column_text(1));
    const auto signature = from_hex(statement.column_text(5));
    if (!hash || !signature) {
        throw AuditStoreError(name + ": read checkpoints failed: the checkpoint at sequence " +
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

} // namespace authevents::audit::detail
