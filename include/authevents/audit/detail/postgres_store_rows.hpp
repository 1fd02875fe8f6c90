/// @file
/// Rows of PostgresAuditStore (audit/postgres_store.hpp): a batch of records as the array
/// parameters of the one INSERT that appends it, and records and checkpoints read back from
/// results (bytea columns as hex). Nothing here is public API.
///
/// Part of authevents::audit_postgres (libpq). Not thread-safe: values owned by one call.
#pragma once

#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/audit/store.hpp>
#include <authevents/bus/detail/postgres.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace authevents::audit::detail {

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

// A batch of records as the thirteen columns of pg_audit_insert_sql(), one element per record.
class PgAuditBatch {
public:
    // Adds `record` (sequenced and hashed) as the batch's next row.
    void add(const AuditRecord& record) {
        columns_[0].emplace_back(std::to_string(record.sequence));
        columns_[1].emplace_back(std::to_string(record.time.time_since_epoch().count()));
        columns_[2].emplace_back(record.event_type);
        columns_[3].emplace_back(std::to_string(record.event_version));
        columns_[4].emplace_back(record.owasp);
        columns_[5].emplace_back(record.actor);
        columns_[6].emplace_back(record.subject);
        columns_[7].emplace_back(record.source_ip);
        columns_[8].emplace_back(record.ip_index);
        columns_[9].emplace_back(record.data);
        columns_[10].emplace_back(record.cloud_event_id);
        columns_[11].emplace_back(record.key_scope);
        columns_[12].emplace_back(to_hex(record.hash));
    }

    // The INSERT's parameters: one array literal (pg_text_array) per column.
    [[nodiscard]] authevents::detail::PgParams params() const {
        authevents::detail::PgParams params;
        for (const auto& column : columns_) {
            params.text(pg_text_array(column));
        }
        return params;
    }

private:
    std::array<std::vector<std::optional<std::string>>, 13> columns_;
};

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

// The checkpoints of a result whose columns are pg_checkpoint_columns.
// @throws AuditStoreError if a row cannot be read.
inline std::vector<Checkpoint> pg_audit_checkpoints(const std::string& table,
                                                    const authevents::detail::PgResult& rows) {
    std::vector<Checkpoint> result;
    result.reserve(static_cast<std::size_t>(rows.rows()));
    for (int row = 0; row < rows.rows(); ++row) {
        Checkpoint checkpoint;
        checkpoint.sequence = rows.int64(row, 0);
        checkpoint.hash =
            pg_audit_hash(table, rows.text(row, 1), "checkpoint", checkpoint.sequence);
        checkpoint.cut_before = AuditTime(Microseconds(rows.int64(row, 2)));
        checkpoint.made_at = AuditTime(Microseconds(rows.int64(row, 3)));
        checkpoint.deleted = static_cast<std::size_t>(rows.int64(row, 4));
        checkpoint.signature =
            pg_audit_bytes(table, rows.text(row, 5), "signature", checkpoint.sequence);
        result.push_back(std::move(checkpoint));
    }
    return result;
}

} // namespace authevents::audit::detail
