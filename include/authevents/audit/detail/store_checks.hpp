/// @file
/// The argument checks every AuditStore makes (SqliteAuditStore, PostgresAuditStore): entries
/// before an append, read limits, queries, key scopes and checkpoint signing keys, each
/// throwing std::invalid_argument with a message that names the store and the problem. Also
/// the store's clock. Nothing here is public API; no database library is needed.
///
/// Part of authevents::audit. Thread-safe: pure functions of their arguments.
#pragma once

#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/audit/store.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace authevents::audit::detail {

/// Checks that `entry` (index `index` of its batch) can be stored by any store.
/// @throws std::invalid_argument for an empty event_type or data, or an empty (present)
///         cloud_event_id, ip_index or source_ip; the message names the entry's index.
inline void validate_audit_entry(const AuditEntry& entry, std::size_t index) {
    const auto fail = [&](const char* problem) {
        throw std::invalid_argument("audit store: append: entry " + std::to_string(index) +
                                    " of the batch " + problem);
    };
    if (entry.event_type.empty()) {
        fail("has an empty event_type");
    }
    if (entry.data.empty()) {
        fail("has empty data (a JSON object is expected, \"{}\" when there are no fields)");
    }
    if (entry.cloud_event_id && entry.cloud_event_id->empty()) {
        fail("has an empty cloud_event_id (use std::nullopt when there is none)");
    }
    if (entry.ip_index && entry.ip_index->empty()) {
        fail("has an empty ip_index (use std::nullopt when there is none)");
    }
    if (entry.source_ip && entry.source_ip->empty()) {
        fail("has an empty source_ip (use std::nullopt when there is none)");
    }
}

/// Checks a read()'s `limit`. `store` begins the message (e.g. "audit store '<path>'").
/// @throws std::invalid_argument unless 1 <= limit <= max_limit.
inline void check_read_limit(const std::string& store, std::size_t limit, std::size_t max_limit) {
    if (limit == 0 || limit > max_limit) {
        throw std::invalid_argument(store + ": read: limit " + std::to_string(limit) +
                                    " is outside 1 to " + std::to_string(max_limit));
    }
}

/// Checks a query(): its limit, its filters and its time range. `store` begins the message.
/// @throws std::invalid_argument unless 1 <= limit <= max_limit, for an empty user,
///         event_type or ip_index filter, or when `from` is not before `until`.
inline void check_audit_query(const std::string& store, const AuditQuery& query,
                              std::size_t max_limit) {
    const auto fail = [&](const std::string& problem) {
        throw std::invalid_argument(store + ": query: " + problem);
    };
    if (query.limit == 0 || query.limit > max_limit) {
        fail("limit " + std::to_string(query.limit) + " is outside 1 to " +
             std::to_string(max_limit));
    }
    for (const auto& [filter, name] :
         {std::pair{&query.user, "user"}, std::pair{&query.event_type, "event_type"},
          std::pair{&query.ip_index, "ip_index"}}) {
        if (*filter && (*filter)->empty()) {
            fail(std::string("the ") + name + " filter is empty (use std::nullopt for any)");
        }
    }
    if (query.from && query.until && *query.from >= *query.until) {
        fail("the time range is empty: from is not before until");
    }
}

/// Checks the key scope given to `operation` (find_key, insert_key, erase_key).
/// @throws std::invalid_argument for an empty scope.
inline void check_key_scope(const std::string& store, const std::string& scope,
                            const char* operation) {
    if (scope.empty()) {
        throw std::invalid_argument(store + ": " + operation + ": the scope is empty");
    }
}

/// Checks the key given to insert_key() for `scope`.
/// @throws std::invalid_argument for an empty key.
inline void check_key(const std::string& store, const std::string& scope, const std::string& key) {
    if (key.empty()) {
        throw std::invalid_argument(store + ": insert_key: the key for scope '" + scope +
                                    "' is empty");
    }
}

/// Checks prune()'s signing key, when there is one.
/// @throws std::invalid_argument for a key that is not an Ed25519 secret key's 64 bytes.
inline void check_signing_key(const std::string& store,
                              const std::optional<std::string>& signing_secret_key) {
    if (signing_secret_key && signing_secret_key->size() != checkpoint_secret_key_bytes) {
        throw std::invalid_argument(store + ": prune: the signing key has " +
                                    std::to_string(signing_secret_key->size()) +
                                    " bytes, an Ed25519 secret key (crypto_sign_keypair) has " +
                                    std::to_string(checkpoint_secret_key_bytes));
    }
}

} // namespace authevents::audit::detail
