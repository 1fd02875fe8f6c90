/// @file
/// What PostgresAuditStore (audit/postgres_store.hpp) checks and derives from its arguments
/// before it talks to the server: its options, its connection string and the entries of an
/// append. The checks every store shares are in store_checks.hpp. Nothing here is public API.
///
/// Part of authevents::audit_postgres (libpq). Thread-safe: pure functions of their arguments.
#pragma once

#include <authevents/audit/detail/store_checks.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/bus/detail/postgres.hpp>

#include <libpq-fe.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace authevents::audit::detail {

// The largest `limit` of read() and of a query page (PostgresAuditStore::max_read_limit,
// max_query_limit).
inline constexpr std::size_t pg_audit_max_read = 100000;
inline constexpr std::size_t pg_audit_max_query = 10000;

// Checks PostgresAuditStoreOptions' table name and timeouts.
// @throws std::invalid_argument naming the option.
inline void validate_postgres_audit_options(const std::string& table,
                                            std::chrono::seconds connect_timeout,
                                            std::chrono::milliseconds lock_timeout) {
    authevents::detail::pg_validate_identifier(table, "postgres audit store: table");
    if (table.size() > 40) {
        throw std::invalid_argument("postgres audit store: table name '" + table +
                                    "' is longer than 40 bytes (no room for its derived names)");
    }
    if (connect_timeout.count() <= 0) {
        throw std::invalid_argument("postgres audit store: connect_timeout must be positive");
    }
    if (lock_timeout.count() <= 0) {
        throw std::invalid_argument("postgres audit store: lock_timeout must be positive");
    }
}

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

} // namespace authevents::audit::detail
