/// @file
/// The audit trail's record types: AuditEntry (what the audit log builds from one event) and
/// AuditRecord (an entry as stored: sequenced and hash-chained), plus the Sha256 digest type.
///
/// Part of authevents::audit (CMake target authevents::audit). Standard headers only. Plain
/// value types: thread-safety is that of std::string (concurrent reads are safe).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace authevents::audit {

/// A SHA-256 digest (32 bytes), as the hash chain stores it.
using Sha256 = std::array<unsigned char, 32>;

/// Microseconds since the Unix epoch, UTC: the audit trail's clock resolution.
using Microseconds = std::chrono::duration<std::int64_t, std::micro>;
/// A point in time in the audit trail (UTC, microsecond resolution).
using AuditTime = std::chrono::time_point<std::chrono::system_clock, Microseconds>;

/// The current time at the audit trail's resolution. Thread-safe, noexcept.
inline AuditTime audit_now() noexcept {
    return std::chrono::time_point_cast<Microseconds>(std::chrono::system_clock::now());
}

/// One event as the audit log records it, before the store gives it a sequence number and a
/// hash. Personal values (e-mail addresses, names, IP addresses, free text) are already sealed
/// with the key of `key_scope` when an entry reaches a store: stores never see plaintext
/// personal data and never decrypt.
struct AuditEntry {
    AuditTime time{};       ///< When the event happened (UTC).
    std::string event_type; ///< The event's name, e.g. "user_login_failed".
    int event_version = 1;  ///< The version of the event's schema.
    /// The OWASP logging vocabulary name where one fits (e.g. "authn_login_fail"); empty when
    /// none does.
    std::string owasp;
    /// Who acted, as a pseudonymous reference: "user:42", "anonymous", "system". Never an
    /// e-mail address or a name.
    std::string actor;
    /// Whom or what the event is about, as a pseudonymous reference: "user:42",
    /// "email:<blind index>" (a failed login for an address with no user), ...
    std::string subject;
    /// The source IP address, sealed; std::nullopt when the event carries none.
    std::optional<std::string> source_ip;
    /// A keyed blind index of the plaintext source IP (lower-case hex), so that queries by IP
    /// work without decrypting; not part of the hash (erasure clears it).
    std::optional<std::string> ip_index;
    /// The event's fields as a JSON object, personal values sealed.
    std::string data;
    /// The CloudEvent `id` when the event came from the bus (or was published to it): a
    /// replayed or duplicated CloudEvent is recorded once.
    std::optional<std::string> cloud_event_id;
    /// Whose key seals the personal values ("user:42", "email:<blind index>"); empty when
    /// nothing in the entry is sealed.
    std::string key_scope;
};

/// An entry as stored: the store's sequence number (1, 2, 3, ... with no gaps, also across
/// prunes) and the chain hash, SHA-256 over the record's content and the previous record's
/// hash (see hash_chain.hpp).
struct AuditRecord : AuditEntry {
    std::int64_t sequence = 0; ///< Position in the chain, from 1.
    Sha256 hash{};             ///< The chain hash of this record.
};

} // namespace authevents::audit
