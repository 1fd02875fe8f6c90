/// @file
/// The tables of PostgresAuditStore (audit/postgres_store.hpp): the SQL that creates them and
/// their indexes (versioned, under an advisory lock), the batch INSERT and the column lists
/// the store reads. Nothing here is public API.
///
/// Part of authevents::audit_postgres (libpq). Thread-safe: pure functions of their arguments.
#pragma once

#include <authevents/bus/detail/postgres.hpp>

#include <string>

namespace authevents::audit::detail {

// Advisory lock key space (two-int form, first key) for the audit store's schema creation.
inline constexpr int pg_audit_schema_lock_class = 0x61657661; // "aeva"
// The schema version this header writes and reads.
inline constexpr int pg_audit_schema_version = 1;

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

// The checkpoint columns in the order pg_audit_checkpoints reads them.
inline constexpr const char* pg_checkpoint_columns =
    "sequence, encode(hash, 'hex'), cut_before_us, made_at_us, deleted, encode(signature, 'hex')";

} // namespace authevents::audit::detail
