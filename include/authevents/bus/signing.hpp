/// @file
/// Authenticated events: a producer signs each CloudEvent with HMAC-SHA256 (libsodium), and a
/// consumer configured with keys accepts only events signed with one of them.
///
/// Optional and off by default: it is defence in depth beside Redis ACL users, for the case
/// where someone who should not (a compromised consumer, a leaked password, an operator's
/// mistake) can write to the stream. See docs/security.md for the threat model and the key
/// rotation procedure.
///
/// Wire form: the signed event is the ordinary structured-mode JSON object with two extension
/// attributes added (CloudEvents extension names are lowercase letters and digits):
///
///     "authkeyid":     the id of the key that signed it, e.g. "2026-12"
///     "authsignature": 64 lowercase hex digits, HMAC-SHA256(key, signing input)
///
/// Signing input (`signing_input()`): the compact JSON text of the array
///
///     ["authevents-hmac-sha256-v1", authkeyid, specversion, id, source, type,
///      subject or null, time ("" when absent), datacontenttype, data]
///
/// written as nlohmann::json writes it: no whitespace, object members sorted by key (bytewise
/// on their UTF-8), non-ASCII characters as UTF-8 (invalid bytes replaced by U+FFFD), only `"`,
/// `\` and control characters escaped (`\b \f \n \r \t`, else `\u00xx`), integers in decimal,
/// other numbers in the shortest form that reads back the same. The consumer computes it from
/// the event it parsed, so whitespace or member order on the wire do not matter, while any
/// change to an attribute listed or to the data does. Other extension attributes are not
/// signed (and not passed to handlers). The key id is signed, so a signature cannot be moved to
/// another key id.
///
/// Keys: at least 32 bytes of secret (`openssl rand -hex 32`), an id of 1 to 64 characters
/// `A-Z a-z 0-9 . _ -`. The secret is wiped from memory when a SigningKey is destroyed, is
/// compared in constant time, and appears in no message, log line or exception.
#pragma once

#include <authevents/bus/cloudevent.hpp>
#include <authevents/redaction.hpp>

#include <nlohmann/json.hpp>
#include <sodium.h>

#include <array>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authevents::bus {

/// Name of the extension attribute that holds the signing key's id.
inline constexpr std::string_view signature_key_id_attribute = "authkeyid";
/// Name of the extension attribute that holds the signature (64 lowercase hex digits).
inline constexpr std::string_view signature_attribute = "authsignature";
/// The shortest secret a SigningKey accepts, in bytes (HMAC-SHA256's own key size).
inline constexpr std::size_t min_signing_key_bytes = crypto_auth_hmacsha256_KEYBYTES;
/// The longest key id a SigningKey accepts.
inline constexpr std::size_t max_signing_key_id_bytes = 64;

/// An HMAC-SHA256 key with its id: what a producer signs with and a consumer accepts.
///
/// A value type: copyable (the copy holds its own copy of the secret) and movable; every
/// buffer that held the secret is wiped (sodium_memzero) when released. The secret cannot be
/// read back, formatted or logged. Const members are thread-safe.
class SigningKey {
public:
    /// A key named `id` with `secret` (raw bytes).
    /// @throws std::invalid_argument when `id` is empty, longer than 64 bytes or holds a
    ///         character other than `A-Z a-z 0-9 . _ -`, or when `secret` is shorter than 32
    ///         bytes (the message names the id and the length, never the secret).
    /// @throws std::runtime_error when libsodium cannot be initialised.
    SigningKey(std::string id, std::string_view secret) : id_(std::move(id)) {
        check_id(id_);
        if (secret.size() < min_signing_key_bytes) {
            throw std::invalid_argument(
                "signing key '" + id_ + "': the secret has " + std::to_string(secret.size()) +
                " bytes, at least " + std::to_string(min_signing_key_bytes) +
                " are needed (e.g. `openssl rand -hex 32`, read with SigningKey::from_hex)");
        }
        if (sodium_init() < 0) {
            throw std::runtime_error("signing key: libsodium could not be initialised");
        }
        secret_.assign(secret.begin(), secret.end());
    }

    /// A key named `id` whose secret is given as hex digits (any case; 64 digits for 32
    /// bytes), as `openssl rand -hex 32` prints it. Surrounding whitespace is ignored.
    /// @throws std::invalid_argument as the constructor does, or when `hex` holds anything but
    ///         hex digits (the message does not quote it).
    static SigningKey from_hex(std::string id, std::string_view hex) {
        while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ' ||
                                hex.back() == '\t')) {
            hex.remove_suffix(1);
        }
        while (!hex.empty() && (hex.front() == ' ' || hex.front() == '\t')) {
            hex.remove_prefix(1);
        }
        std::string bytes(hex.size() / 2, '\0');
        std::size_t length = 0;
        const char* end = nullptr;
        const bool ok = hex.size() % 2 == 0 &&
                        sodium_hex2bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(),
                                       hex.data(), hex.size(), nullptr, &length, &end) == 0 &&
                        end == hex.data() + hex.size() && length == bytes.size();
        if (!ok) {
            sodium_memzero(bytes.data(), bytes.size());
            check_id(id);
            throw std::invalid_argument("signing key '" + id +
                                        "': the secret is not an even number of hex digits");
        }
        try {
            SigningKey key(std::move(id), bytes);
            sodium_memzero(bytes.data(), bytes.size());
            return key;
        } catch (...) {
            sodium_memzero(bytes.data(), bytes.size());
            throw;
        }
    }

    /// Copies the id and the secret.
    SigningKey(const SigningKey& other) : id_(other.id_), secret_(other.secret_) {}
    /// Takes the id and the secret; `other` is left without a secret.
    SigningKey(SigningKey&& other) noexcept
        : id_(std::move(other.id_)), secret_(std::move(other.secret_)) {}
    /// Copy or move assignment; the secret held before is wiped.
    SigningKey& operator=(SigningKey other) noexcept {
        std::swap(id_, other.id_);
        std::swap(secret_, other.secret_);
        return *this; // `other` wipes what this held
    }
    /// Wipes the secret.
    ~SigningKey() { sodium_memzero(secret_.data(), secret_.size()); }

    /// The key id, sent with each event it signs. noexcept.
    [[nodiscard]] const std::string& id() const noexcept { return id_; }

    /// HMAC-SHA256 of `message` under this key. Thread-safe.
    /// @throws std::logic_error on a moved-from key.
    [[nodiscard]] std::array<unsigned char, crypto_auth_hmacsha256_BYTES>
    mac(std::string_view message) const {
        if (secret_.empty()) {
            throw std::logic_error("signing key: used after it was moved from");
        }
        std::array<unsigned char, crypto_auth_hmacsha256_BYTES> tag{};
        crypto_auth_hmacsha256_state state;
        crypto_auth_hmacsha256_init(&state, secret_.data(), secret_.size());
        crypto_auth_hmacsha256_update(
            &state, reinterpret_cast<const unsigned char*>(message.data()), message.size());
        crypto_auth_hmacsha256_final(&state, tag.data());
        sodium_memzero(&state, sizeof(state));
        return tag;
    }

    /// True when `tag` is the HMAC-SHA256 of `message` under this key, compared in constant
    /// time. Thread-safe.
    /// @throws std::logic_error on a moved-from key.
    [[nodiscard]] bool
    verify(std::string_view message,
           const std::array<unsigned char, crypto_auth_hmacsha256_BYTES>& tag) const {
        const auto expected = mac(message);
        return crypto_verify_32(expected.data(), tag.data()) == 0;
    }

private:
    static void check_id(const std::string& id) {
        bool valid = !id.empty() && id.size() <= max_signing_key_id_bytes;
        for (const char c : id) {
            valid = valid && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
        }
        if (!valid) {
            throw std::invalid_argument("signing key id " +
                                        escape_untrusted(id, max_signing_key_id_bytes + 8) +
                                        " is invalid: use 1 to 64 characters A-Z a-z 0-9 . _ -");
        }
    }

    std::string id_;
    std::vector<unsigned char> secret_;
};

/// The bytes HMAC-SHA256 is computed over for `event` signed by the key `key_id` (see the
/// file comment). Thread-safe, pure.
/// @throws std::bad_alloc only.
inline std::string signing_input(const CloudEvent& event, std::string_view key_id) {
    const nlohmann::json input = nlohmann::json::array({
        "authevents-hmac-sha256-v1",
        std::string(key_id),
        event.specversion,
        event.id,
        event.source,
        event.type,
        event.subject ? nlohmann::json(*event.subject) : nlohmann::json(nullptr),
        event.time,
        event.datacontenttype,
        event.data,
    });
    return input.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// The signature of `event` under `key`: 64 lowercase hex digits. Thread-safe.
/// @throws std::logic_error on a moved-from key.
/// @throws std::bad_alloc if memory runs out.
inline std::string signature_of(const CloudEvent& event, const SigningKey& key) {
    const auto tag = key.mac(signing_input(event, key.id()));
    std::string hex(tag.size() * 2 + 1, '\0');
    sodium_bin2hex(hex.data(), hex.size(), tag.data(), tag.size());
    hex.pop_back(); // sodium_bin2hex writes a terminating NUL
    return hex;
}

/// to_json(event) with the extension attributes authkeyid and authsignature added last.
/// Thread-safe. @throws std::logic_error on a moved-from key.
/// @throws std::bad_alloc if memory runs out.
inline nlohmann::ordered_json to_signed_json(const CloudEvent& event, const SigningKey& key) {
    nlohmann::ordered_json object = to_json(event);
    object[std::string(signature_key_id_attribute)] = key.id();
    object[std::string(signature_attribute)] = signature_of(event, key);
    return object;
}

/// Compact JSON text of to_signed_json(event, key): what BusPublisher appends to the outbox
/// when PublisherOptions::signing_key is set, and what to pass to SqliteOutbox::append_in
/// when you append events yourself. Thread-safe.
/// @throws std::logic_error on a moved-from key.
/// @throws std::bad_alloc if memory runs out.
inline std::string to_signed_json_text(const CloudEvent& event, const SigningKey& key) {
    return to_signed_json(event, key)
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// The outcome of check_signature().
enum class SignatureStatus : unsigned char {
    valid,          ///< Signed with an accepted key and unchanged since.
    unsigned_event, ///< Neither authkeyid nor authsignature is present.
    unknown_key,    ///< Signed with a key id the consumer does not accept.
    bad_signature,  ///< The signature does not match: changed after signing, or forged.
    malformed,      ///< One attribute without the other, not a string, repeated, or not hex.
};

/// What check_signature() found, with a reason fit for a log line or a dead letter (escaped,
/// capped, never holding a secret).
struct SignatureCheck {
    SignatureStatus status = SignatureStatus::malformed; ///< See SignatureStatus.
    std::string key_id; ///< The key id the event names (escaped, capped), if any.
    std::string reason; ///< Empty when valid.

    /// True when the signature is valid. noexcept.
    [[nodiscard]] bool ok() const noexcept { return status == SignatureStatus::valid; }
};

} // namespace authevents::bus

namespace authevents::detail {

using bus::max_signing_key_id_bytes;
using bus::signature_attribute;
using bus::signature_key_id_attribute;

/// A SAX handler that reads the top-level authkeyid and authsignature members of a JSON
/// object without building it, noting repeats and non-string values.
class SignatureAttributes {
public:
    using json = nlohmann::json;

    struct Attribute {
        std::string value;
        int count = 0;         ///< How many times the member appears.
        bool is_string = true; ///< False when any occurrence is not a string.
    };
    Attribute key_id;
    Attribute signature;

    bool null() { return value(false); }
    bool boolean(bool /*unused*/) { return value(false); }
    bool number_integer(json::number_integer_t /*unused*/) { return value(false); }
    bool number_unsigned(json::number_unsigned_t /*unused*/) { return value(false); }
    bool number_float(json::number_float_t /*unused*/, const json::string_t& /*unused*/) {
        return value(false);
    }
    bool string(json::string_t& text) {
        if (depth_ == 1 && current_ != nullptr) {
            current_->value = text;
        }
        return value(true);
    }
    bool binary(json::binary_t& /*unused*/) { return value(false); }
    bool start_object(std::size_t /*unused*/) { return open(); }
    bool end_object() { return close(); }
    bool start_array(std::size_t /*unused*/) { return open(); }
    bool end_array() { return close(); }
    bool key(json::string_t& name) {
        current_ = nullptr;
        if (depth_ == 1) {
            if (name == signature_key_id_attribute) {
                current_ = &key_id;
            } else if (name == signature_attribute) {
                current_ = &signature;
            }
            if (current_ != nullptr) {
                ++current_->count;
            }
        }
        return true;
    }
    bool parse_error(std::size_t /*unused*/, const std::string& /*unused*/,
                     const nlohmann::detail::exception& /*unused*/) {
        return false;
    }

private:
    bool value(bool is_string) {
        if (depth_ == 1 && current_ != nullptr) {
            current_->is_string = current_->is_string && is_string;
            current_ = nullptr;
        }
        return true;
    }
    bool open() {
        value(false); // an object or array as the value of a tracked member
        ++depth_;
        return true;
    }
    bool close() {
        --depth_;
        return true;
    }

    int depth_ = 0;
    Attribute* current_ = nullptr;
};

/// `id` escaped and capped for a message.
inline std::string quote_key_id(std::string_view id) {
    return "'" + escape_untrusted(id, max_signing_key_id_bytes + 16) + "'";
}

} // namespace authevents::detail

namespace authevents::bus {

/// Checks that `json_text`, the text `event` was parsed from (parse_cloud_event), carries a
/// valid signature by one of `accepted` (see the file comment). Reads only the two extension
/// attributes from the text; everything signed is taken from `event`. Thread-safe, pure.
/// @param json_text the CloudEvent JSON text as received (parse_cloud_event accepted it).
/// @param event the CloudEvent parsed from it.
/// @param accepted the keys this consumer accepts (any order; normally one or two).
/// @returns the status, the key id named and a reason (escaped, capped).
/// @throws std::bad_alloc only.
inline SignatureCheck check_signature(std::string_view json_text, const CloudEvent& event,
                                      const std::vector<SigningKey>& accepted) {
    SignatureCheck check;
    detail::SignatureAttributes found;
    const bool parsed = nlohmann::json::sax_parse(json_text.begin(), json_text.end(), &found);
    const auto& id = found.key_id;
    const auto& signature = found.signature;
    if (id.count > 0 && id.is_string) {
        check.key_id = escape_untrusted(id.value, max_signing_key_id_bytes + 16);
    }
    const auto fail = [&](SignatureStatus status, std::string reason) {
        check.status = status;
        check.reason = std::move(reason);
        return check;
    };
    if (!parsed) {
        return fail(SignatureStatus::malformed, "unauthenticated event: its JSON text does not "
                                                "parse, so its signature cannot be read");
    }
    if (id.count == 0 && signature.count == 0) {
        return fail(SignatureStatus::unsigned_event,
                    "unsigned event: it has no authsignature attribute, and this consumer "
                    "accepts only events signed with one of its keys");
    }
    if (id.count != 1 || signature.count != 1 || !id.is_string || !signature.is_string) {
        return fail(SignatureStatus::malformed,
                    "malformed signature: authkeyid and authsignature must each appear once, "
                    "as strings");
    }
    const SigningKey* key = nullptr;
    for (const SigningKey& candidate : accepted) {
        if (candidate.id() == id.value) {
            key = &candidate;
        }
    }
    if (key == nullptr) {
        std::string ids;
        for (const SigningKey& candidate : accepted) {
            ids += (ids.empty() ? "" : ", ") + candidate.id();
        }
        return fail(SignatureStatus::unknown_key, "signed with unknown key id " +
                                                      detail::quote_key_id(id.value) +
                                                      " (accepted: " + ids + ")");
    }
    std::array<unsigned char, crypto_auth_hmacsha256_BYTES> tag{};
    std::size_t length = 0;
    const char* end = nullptr;
    const std::string& hex = signature.value;
    if (hex.size() != tag.size() * 2 ||
        sodium_hex2bin(tag.data(), tag.size(), hex.data(), hex.size(), nullptr, &length, &end) !=
            0 ||
        length != tag.size() || end != hex.data() + hex.size()) {
        return fail(SignatureStatus::malformed,
                    "malformed signature: authsignature must be 64 hex digits (key id " +
                        detail::quote_key_id(id.value) + ")");
    }
    if (!key->verify(signing_input(event, key->id()), tag)) {
        return fail(SignatureStatus::bad_signature,
                    "bad signature for key id " + detail::quote_key_id(id.value) +
                        ": the event was changed after it was signed, or forged");
    }
    check.status = SignatureStatus::valid;
    return check;
}

/// Checks that the keys of `keys` have distinct ids.
/// @throws std::invalid_argument, prefixed with `who`, when two keys of `keys` share an id.
inline void check_signing_keys(const std::vector<SigningKey>& keys, std::string_view who) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
        for (std::size_t j = i + 1; j < keys.size(); ++j) {
            if (keys[i].id() == keys[j].id()) {
                throw std::invalid_argument(std::string(who) + ": two signing keys have the id '" +
                                            keys[i].id() + "'");
            }
        }
    }
}

} // namespace authevents::bus
