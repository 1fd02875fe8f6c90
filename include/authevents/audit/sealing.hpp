/// @file
/// Sealing of personal values for the audit trail: seal() and open_sealed() (libsodium
/// crypto_secretbox, XSalsa20-Poly1305), the blind indexes that let queries find an e-mail
/// address or an IP address without decrypting (keyed BLAKE2b-256), and KeyRing, the per-scope
/// keys kept in an AuditStore, optionally wrapped with a master key.
///
/// A sealed value is the text "sealed:v1:<base64(nonce || ciphertext)>". Each scope ("user:42",
/// "email:<blind index>") has its own random 32-byte key; erasing the key (crypto-shredding)
/// makes every value sealed with it unreadable while the records, and so their hashes, stay
/// as they were.
///
/// Part of authevents::audit (CMake target authevents::audit); uses libsodium.
#pragma once

#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/store.hpp>

#include <sodium.h>

#include <cctype>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <arpa/inet.h>

namespace authevents::audit {

/// The prefix of every sealed value.
inline constexpr std::string_view sealed_prefix = "sealed:v1:";

/// The key scope of the store-wide blind-index key. KeyRing never erases it.
inline constexpr std::string_view index_key_scope = "index:v1";

/// Bytes of a sealing key, a master key and the blind-index key.
inline constexpr std::size_t audit_key_bytes = crypto_secretbox_KEYBYTES;

namespace detail {

inline std::string to_base64(std::string_view bytes) {
    std::string text(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(text.data(), text.size(),
                      reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                      sodium_base64_VARIANT_ORIGINAL);
    text.resize(text.size() - 1); // the terminating NUL
    return text;
}

inline std::optional<std::string> from_base64(std::string_view text) {
    std::string bytes(text.size() / 4 * 3 + 3, '\0');
    std::size_t length = 0;
    const char* end = nullptr;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), text.data(),
                          text.size(), nullptr, &length, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != text.data() + text.size()) {
        return std::nullopt;
    }
    bytes.resize(length);
    return bytes;
}

/// secretbox of `plaintext` with `key` (32 bytes): nonce || ciphertext, raw bytes.
inline std::string secretbox(std::string_view plaintext, std::string_view key) {
    ensure_sodium();
    std::string out(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size(),
                    '\0');
    auto* bytes = reinterpret_cast<unsigned char*>(out.data());
    randombytes_buf(bytes, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(bytes + crypto_secretbox_NONCEBYTES,
                          reinterpret_cast<const unsigned char*>(plaintext.data()),
                          plaintext.size(), bytes,
                          reinterpret_cast<const unsigned char*>(key.data()));
    return out;
}

/// The plaintext of secretbox() output, or std::nullopt when `key` does not open it.
inline std::optional<std::string> secretbox_open(std::string_view box, std::string_view key) {
    if (box.size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES ||
        key.size() != audit_key_bytes) {
        return std::nullopt;
    }
    ensure_sodium();
    const auto* bytes = reinterpret_cast<const unsigned char*>(box.data());
    std::string plain(box.size() - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES, '\0');
    if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()),
                                   bytes + crypto_secretbox_NONCEBYTES,
                                   box.size() - crypto_secretbox_NONCEBYTES, bytes,
                                   reinterpret_cast<const unsigned char*>(key.data())) != 0) {
        return std::nullopt;
    }
    return plain;
}

inline std::string random_key() {
    ensure_sodium();
    std::string key(audit_key_bytes, '\0');
    randombytes_buf(key.data(), key.size());
    return key;
}

inline void wipe(std::string& secret) noexcept {
    if (!secret.empty()) {
        sodium_memzero(secret.data(), secret.size());
    }
}

/// Stored forms of a scope key: "raw:v1:<base64(key)>" or, with a master key,
/// "wrapped:v1:<base64(nonce || secretbox(master, key))>".
inline constexpr std::string_view raw_key_prefix = "raw:v1:";
inline constexpr std::string_view wrapped_key_prefix = "wrapped:v1:";

inline bool starts_with(std::string_view text, std::string_view prefix) noexcept {
    return text.substr(0, prefix.size()) == prefix;
}

} // namespace detail

/// True when `value` has the form of a sealed value. Thread-safe, noexcept.
inline bool is_sealed(std::string_view value) noexcept {
    return detail::starts_with(value, sealed_prefix);
}

/// `plaintext` sealed with `key` (32 bytes): "sealed:v1:<base64(nonce || ciphertext)>", a fresh
/// random nonce each call. Thread-safe.
/// @throws std::invalid_argument for a key of another size; std::runtime_error when libsodium
/// cannot be initialised; std::bad_alloc.
inline std::string seal(std::string_view plaintext, std::string_view key) {
    if (key.size() != audit_key_bytes) {
        throw std::invalid_argument("authevents::audit::seal: the key has " +
                                    std::to_string(key.size()) + " bytes, expected " +
                                    std::to_string(audit_key_bytes));
    }
    return std::string(sealed_prefix) + detail::to_base64(detail::secretbox(plaintext, key));
}

/// The plaintext of `sealed`, or std::nullopt when it is not a sealed value or `key` does not
/// open it (another key, an erased-and-recreated key, or an altered value). Thread-safe.
/// @throws std::runtime_error when libsodium cannot be initialised; std::bad_alloc.
inline std::optional<std::string> open_sealed(std::string_view sealed, std::string_view key) {
    if (!is_sealed(sealed)) {
        return std::nullopt;
    }
    const auto box = detail::from_base64(sealed.substr(sealed_prefix.size()));
    return box ? detail::secretbox_open(*box, key) : std::nullopt;
}

/// An e-mail address as its blind index sees it: surrounding ASCII whitespace removed, ASCII
/// letters lower-cased (so "Ana@Example.com " and "ana@example.com" find the same records).
/// Thread-safe. @throws std::bad_alloc only.
inline std::string normalise_email(std::string_view email) {
    while (!email.empty() && std::isspace(static_cast<unsigned char>(email.front())) != 0) {
        email.remove_prefix(1);
    }
    while (!email.empty() && std::isspace(static_cast<unsigned char>(email.back())) != 0) {
        email.remove_suffix(1);
    }
    std::string result(email);
    for (char& c : result) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return result;
}

/// An IP address as its blind index sees it: IPv4 and IPv6 in their canonical text
/// (inet_pton, then inet_ntop: "2001:DB8::0:1" becomes "2001:db8::1"); anything else
/// normalised like an e-mail address. Thread-safe. @throws std::bad_alloc only.
inline std::string normalise_ip(std::string_view ip) {
    std::string text = normalise_email(ip);
    unsigned char bytes[sizeof(in6_addr)];
    char canonical[INET6_ADDRSTRLEN] = {};
    if (inet_pton(AF_INET, text.c_str(), bytes) == 1 &&
        inet_ntop(AF_INET, bytes, canonical, sizeof canonical) != nullptr) {
        return canonical;
    }
    if (inet_pton(AF_INET6, text.c_str(), bytes) == 1 &&
        inet_ntop(AF_INET6, bytes, canonical, sizeof canonical) != nullptr) {
        return canonical;
    }
    return text;
}

/// The keys of the audit trail, kept in an AuditStore: one random key per scope, created on
/// first use and never replaced; the store-wide blind-index key (scope "index:v1"). With a
/// master key (32 bytes), keys are stored wrapped (secretbox under the master key), so a copy
/// of the database alone opens nothing.
///
/// Thread-safety: every member may be called from any number of threads at once (the store is
/// thread-safe; the blind-index key is cached under a mutex). Scope keys are not cached: an
/// erasure by another process takes effect at the next lookup. Non-copyable.
/// Exceptions: AuditStoreError from the store; std::runtime_error naming the scope for a
/// stored key that cannot be read (a wrapped key without the right master key).
class KeyRing {
public:
    /// A key ring over `store` (which must outlive it), keys wrapped with `master_key` when one
    /// is given. @throws std::invalid_argument for a master key that is not 32 bytes;
    /// std::runtime_error when libsodium cannot be initialised.
    explicit KeyRing(AuditStore& store, std::optional<std::string> master_key = std::nullopt)
        : store_(store), master_(std::move(master_key)) {
        detail::ensure_sodium();
        if (master_ && master_->size() != audit_key_bytes) {
            const std::size_t size = master_->size();
            detail::wipe(*master_);
            throw std::invalid_argument("authevents::audit::KeyRing: the master key has " +
                                        std::to_string(size) + " bytes, expected " +
                                        std::to_string(audit_key_bytes));
        }
    }
    KeyRing(const KeyRing&) = delete;
    KeyRing& operator=(const KeyRing&) = delete;
    ~KeyRing() {
        if (master_) {
            detail::wipe(*master_);
        }
        detail::wipe(index_key_);
    }

    /// The store the keys live in.
    [[nodiscard]] AuditStore& store() const noexcept { return store_; }

    /// The key of `scope`, or std::nullopt when it has none (never created, or erased).
    /// @throws AuditStoreError; std::runtime_error for an unreadable stored key.
    std::optional<std::string> find(const std::string& scope) {
        const auto stored = store_.find_key(scope);
        if (!stored) {
            return std::nullopt;
        }
        return unwrap(scope, *stored);
    }

    /// The key of `scope`, created (random) when it has none. Two processes creating the same
    /// scope's key at once agree on one (AuditStore::insert_key keeps the first).
    /// @throws AuditStoreError; std::runtime_error for an unreadable stored key.
    std::string find_or_create(const std::string& scope) {
        if (auto existing = find(scope)) {
            return std::move(*existing);
        }
        std::string key = detail::random_key();
        const std::string stored = store_.insert_key(scope, wrap(key));
        detail::wipe(key);
        return unwrap(scope, stored);
    }

    /// Erases the key of `scope` (crypto-shredding). Returns whether there was one.
    /// @throws std::invalid_argument for the blind-index scope; AuditStoreError.
    bool erase(const std::string& scope) {
        if (scope == index_key_scope) {
            throw std::invalid_argument(
                "authevents::audit::KeyRing::erase: the blind-index key is never erased");
        }
        return store_.erase_key(scope);
    }

    /// The blind index of the normalised e-mail address `email` (lower-case hex, 64 digits).
    /// @throws AuditStoreError; std::runtime_error for an unreadable stored key.
    std::string email_index(std::string_view email) {
        return blind_index("email", normalise_email(email));
    }

    /// The blind index of the normalised IP address `ip` (lower-case hex, 64 digits).
    /// @throws AuditStoreError; std::runtime_error for an unreadable stored key.
    std::string ip_index(std::string_view ip) { return blind_index("ip", normalise_ip(ip)); }

    /// The scope of the e-mail address `email`: "email:<email_index(email)>".
    /// @throws as email_index().
    std::string email_scope(std::string_view email) { return "email:" + email_index(email); }

private:
    std::string blind_index(std::string_view domain, const std::string& value) {
        const std::string& key = index_key();
        crypto_generichash_state state;
        crypto_generichash_init(&state, reinterpret_cast<const unsigned char*>(key.data()),
                                key.size(), 32);
        // Domain separation: an e-mail and an IP address never share an index.
        crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(domain.data()),
                                  domain.size());
        const unsigned char separator = 0;
        crypto_generichash_update(&state, &separator, 1);
        crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(value.data()),
                                  value.size());
        std::string digest(32, '\0');
        crypto_generichash_final(&state, reinterpret_cast<unsigned char*>(digest.data()),
                                 digest.size());
        return to_hex(digest);
    }

    const std::string& index_key() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (index_key_.empty()) {
            index_key_ = find_or_create(std::string(index_key_scope));
        }
        return index_key_;
    }

    std::string wrap(const std::string& key) const {
        if (master_) {
            return std::string(detail::wrapped_key_prefix) +
                   detail::to_base64(detail::secretbox(key, *master_));
        }
        return std::string(detail::raw_key_prefix) + detail::to_base64(key);
    }

    std::string unwrap(const std::string& scope, std::string_view stored) const {
        std::optional<std::string> key;
        if (detail::starts_with(stored, detail::raw_key_prefix)) {
            key = detail::from_base64(stored.substr(detail::raw_key_prefix.size()));
        } else if (detail::starts_with(stored, detail::wrapped_key_prefix)) {
            if (!master_) {
                throw std::runtime_error("authevents::audit::KeyRing: the key of scope '" + scope +
                                         "' is wrapped and no master key was given");
            }
            const auto box = detail::from_base64(stored.substr(detail::wrapped_key_prefix.size()));
            key = box ? detail::secretbox_open(*box, *master_) : std::nullopt;
            if (!key) {
                throw std::runtime_error("authevents::audit::KeyRing: the key of scope '" + scope +
                                         "' does not open with the master key given");
            }
        }
        if (!key || key->size() != audit_key_bytes) {
            throw std::runtime_error("authevents::audit::KeyRing: the stored key of scope '" +
                                     scope + "' is malformed");
        }
        return std::move(*key);
    }

    AuditStore& store_;
    std::optional<std::string> master_;
    std::mutex mutex_;
    std::string index_key_;
};

} // namespace authevents::audit
