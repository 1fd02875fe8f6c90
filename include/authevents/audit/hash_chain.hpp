/// @file
/// The audit trail's hash chain: the canonical byte form of a record, the chain hash
/// (SHA-256, libsodium), the canonical form and Ed25519 signature of a prune's checkpoint, and
/// hex helpers for digests and keys.
///
/// Canonical content of a record: its fields in this order, each integer as 8 bytes big-endian
/// (signed values as two's complement), each string as an 8-byte big-endian length then its
/// bytes, each optional as one byte 0 or 1 followed by the value when present:
///
///     sequence, time (microseconds since the epoch), event_type, event_version, owasp, actor,
///     subject, source_ip (optional), data, cloud_event_id (optional), key_scope
///
/// `ip_index` is not hashed: it is a query index that erasure clears. The chain hash of a
/// record is SHA-256("authevents.audit.v1" || canonical content || previous hash); the first
/// record ever chains from 32 zero bytes, the first record after a prune from the checkpoint's
/// hash. Personal values are hashed in their sealed form, so erasing a key leaves every hash
/// valid.
///
/// Part of authevents::audit. Every function is pure and thread-safe.
#pragma once

#include <authevents/audit/record.hpp>
#include <authevents/audit/store.hpp>

#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace authevents::audit {

/// The domain separation prefix hashed before every record's canonical content.
inline constexpr std::string_view chain_hash_domain = "authevents.audit.v1";
/// The domain separation prefix of a checkpoint's canonical form (what a prune signs).
inline constexpr std::string_view checkpoint_domain = "authevents.audit.checkpoint.v1";
/// The size of an Ed25519 secret key (libsodium's crypto_sign_SECRETKEYBYTES, 64 bytes).
inline constexpr std::size_t checkpoint_secret_key_bytes = crypto_sign_SECRETKEYBYTES;
/// The size of an Ed25519 public key (crypto_sign_PUBLICKEYBYTES, 32 bytes).
inline constexpr std::size_t checkpoint_public_key_bytes = crypto_sign_PUBLICKEYBYTES;
/// The size of an Ed25519 signature (crypto_sign_BYTES, 64 bytes).
inline constexpr std::size_t checkpoint_signature_bytes = crypto_sign_BYTES;

} // namespace authevents::audit

namespace authevents::audit::detail {

// Initialises libsodium once (thread-safe, idempotent).
// @throws std::runtime_error when libsodium cannot be initialised.
inline void ensure_sodium() {
    if (sodium_init() < 0) {
        throw std::runtime_error("authevents::audit: libsodium could not be initialised");
    }
}

inline void append_int64(std::string& out, std::int64_t value) {
    const auto bits = static_cast<std::uint64_t>(value); // two's complement
    for (int shift = 56; shift >= 0; shift -= 8) {
        out += static_cast<char>(static_cast<unsigned char>((bits >> shift) & 0xffU));
    }
}

inline void append_string(std::string& out, std::string_view value) {
    append_int64(out, static_cast<std::int64_t>(value.size()));
    out.append(value.data(), value.size());
}

inline void append_optional(std::string& out, const std::optional<std::string>& value) {
    if (value) {
        out += '\x01';
        append_string(out, *value);
    } else {
        out += '\x00';
    }
}

inline Sha256 sha256_of(std::string_view prefix, std::string_view content, const Sha256& suffix) {
    ensure_sodium();
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(prefix.data()),
                              prefix.size());
    crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(content.data()),
                              content.size());
    crypto_hash_sha256_update(&state, suffix.data(), suffix.size());
    Sha256 digest{};
    crypto_hash_sha256_final(&state, digest.data());
    return digest;
}

} // namespace authevents::audit::detail

namespace authevents::audit {

/// The hash the first record ever chains from: 32 zero bytes.
inline constexpr Sha256 zero_hash{};

/// The canonical content of `entry` placed at `sequence` (see the file comment). Thread-safe.
/// @throws std::bad_alloc only.
inline std::string canonical_content(const AuditEntry& entry, std::int64_t sequence) {
    std::string out;
    out.reserve(128 + entry.event_type.size() + entry.owasp.size() + entry.actor.size() +
                entry.subject.size() + entry.data.size() + entry.key_scope.size() +
                (entry.source_ip ? entry.source_ip->size() : 0) +
                (entry.cloud_event_id ? entry.cloud_event_id->size() : 0));
    detail::append_int64(out, sequence);
    detail::append_int64(out, entry.time.time_since_epoch().count());
    detail::append_string(out, entry.event_type);
    detail::append_int64(out, entry.event_version);
    detail::append_string(out, entry.owasp);
    detail::append_string(out, entry.actor);
    detail::append_string(out, entry.subject);
    detail::append_optional(out, entry.source_ip);
    detail::append_string(out, entry.data);
    detail::append_optional(out, entry.cloud_event_id);
    detail::append_string(out, entry.key_scope);
    return out;
}

/// The chain hash of `entry` placed at `sequence` after a record whose hash is `previous`:
/// SHA-256("authevents.audit.v1" || canonical_content(entry, sequence) || previous).
/// Thread-safe. @throws std::runtime_error when libsodium cannot be initialised.
inline Sha256 chain_hash(const AuditEntry& entry, std::int64_t sequence, const Sha256& previous) {
    return detail::sha256_of(chain_hash_domain, canonical_content(entry, sequence), previous);
}

/// The chain hash `record` should carry when it follows a record whose hash is `previous`
/// (its stored hash is not read). Thread-safe.
/// @throws std::runtime_error when libsodium cannot be initialised.
inline Sha256 chain_hash(const AuditRecord& record, const Sha256& previous) {
    return chain_hash(record, record.sequence, previous);
}

/// Lower-case hex of `bytes` (two digits a byte). Thread-safe. @throws std::bad_alloc only.
inline std::string to_hex(std::string_view bytes) {
    std::string out(bytes.size() * 2 + 1, '\0');
    sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                   bytes.size());
    out.pop_back(); // the terminating NUL
    return out;
}

/// Lower-case hex of a digest (64 digits). Thread-safe. @throws std::bad_alloc only.
inline std::string to_hex(const Sha256& digest) {
    return to_hex(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

/// The bytes `hex` spells (an even number of hex digits, either case, nothing else), or
/// std::nullopt when it is not such a string. Thread-safe. @throws std::bad_alloc only.
inline std::optional<std::string> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) {
        return std::nullopt;
    }
    std::string out(hex.size() / 2, '\0');
    std::size_t length = 0;
    const char* end = nullptr;
    if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), hex.data(),
                       hex.size(), nullptr, &length, &end) != 0 ||
        length != out.size() || end != hex.data() + hex.size()) {
        return std::nullopt;
    }
    return out;
}

/// The digest `hex` spells (exactly 64 hex digits, either case), or std::nullopt. Thread-safe,
/// never throws.
inline std::optional<Sha256> sha256_from_hex(std::string_view hex) noexcept {
    if (hex.size() != 64) {
        return std::nullopt;
    }
    try {
        const auto bytes = from_hex(hex);
        if (!bytes) {
            return std::nullopt;
        }
        Sha256 digest{};
        for (std::size_t i = 0; i < digest.size(); ++i) {
            digest[i] = static_cast<unsigned char>((*bytes)[i]);
        }
        return digest;
    } catch (...) { // std::bad_alloc of 32 bytes: report as unreadable rather than terminate
        return std::nullopt;
    }
}

/// The canonical form of `checkpoint` that a prune signs: "authevents.audit.checkpoint.v1",
/// then sequence, the 32 hash bytes, cut_before and made_at (microseconds) and deleted, each
/// integer as 8 bytes big-endian. The signature itself is not part of it. Thread-safe.
/// @throws std::bad_alloc only.
inline std::string checkpoint_content(const Checkpoint& checkpoint) {
    std::string out(checkpoint_domain);
    detail::append_int64(out, checkpoint.sequence);
    out.append(reinterpret_cast<const char*>(checkpoint.hash.data()), checkpoint.hash.size());
    detail::append_int64(out, checkpoint.cut_before.time_since_epoch().count());
    detail::append_int64(out, checkpoint.made_at.time_since_epoch().count());
    detail::append_int64(out, static_cast<std::int64_t>(checkpoint.deleted));
    return out;
}

/// The Ed25519 signature (64 bytes) of checkpoint_content(checkpoint) with `secret_key` (a
/// libsodium Ed25519 secret key, 64 bytes). Thread-safe.
/// @throws std::invalid_argument for a key of another size; std::runtime_error when libsodium
///         cannot be initialised.
inline std::string sign_checkpoint(const Checkpoint& checkpoint, std::string_view secret_key) {
    if (secret_key.size() != checkpoint_secret_key_bytes) {
        throw std::invalid_argument("audit checkpoint: the signing key has " +
                                    std::to_string(secret_key.size()) +
                                    " bytes, an Ed25519 "
                                    "secret key has " +
                                    std::to_string(checkpoint_secret_key_bytes));
    }
    detail::ensure_sodium();
    const std::string content = checkpoint_content(checkpoint);
    std::string signature(checkpoint_signature_bytes, '\0');
    crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()), nullptr,
                         reinterpret_cast<const unsigned char*>(content.data()), content.size(),
                         reinterpret_cast<const unsigned char*>(secret_key.data()));
    return signature;
}

/// Whether `checkpoint.signature` is a valid Ed25519 signature of its content by the holder
/// of `public_key` (32 bytes). An unsigned checkpoint does not verify. Thread-safe.
/// @throws std::invalid_argument for a key of another size; std::runtime_error when libsodium
///         cannot be initialised.
inline bool checkpoint_signature_valid(const Checkpoint& checkpoint, std::string_view public_key) {
    if (public_key.size() != checkpoint_public_key_bytes) {
        throw std::invalid_argument("audit checkpoint: the public key has " +
                                    std::to_string(public_key.size()) +
                                    " bytes, an Ed25519 "
                                    "public key has " +
                                    std::to_string(checkpoint_public_key_bytes));
    }
    if (checkpoint.signature.size() != checkpoint_signature_bytes) {
        return false;
    }
    detail::ensure_sodium();
    const std::string content = checkpoint_content(checkpoint);
    return crypto_sign_verify_detached(
               reinterpret_cast<const unsigned char*>(checkpoint.signature.data()),
               reinterpret_cast<const unsigned char*>(content.data()), content.size(),
               reinterpret_cast<const unsigned char*>(public_key.data())) == 0;
}

/// An Ed25519 key pair for signing checkpoints (raw bytes). The secret key is a plain string:
/// store it as a secret (file mode 0600, a secret manager) and wipe copies you make.
struct CheckpointKeyPair {
    std::string public_key; ///< 32 bytes: give it to verify().
    std::string secret_key; ///< 64 bytes: give it to AuditStore::prune().
};

/// A new random Ed25519 key pair (libsodium crypto_sign_keypair). Thread-safe.
/// @throws std::runtime_error when libsodium cannot be initialised.
inline CheckpointKeyPair make_checkpoint_key_pair() {
    detail::ensure_sodium();
    CheckpointKeyPair pair{std::string(checkpoint_public_key_bytes, '\0'),
                           std::string(checkpoint_secret_key_bytes, '\0')};
    crypto_sign_keypair(reinterpret_cast<unsigned char*>(pair.public_key.data()),
                        reinterpret_cast<unsigned char*>(pair.secret_key.data()));
    return pair;
}

} // namespace authevents::audit
