// Password hashing and random tokens, with libsodium: Argon2id through crypto_pwhash_str,
// so the store only ever holds self-describing hash strings, never a password.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace authsvc {

/// How much memory and time one password hash costs.
enum class PasswordCost {
    /// libsodium's crypto_pwhash_*_INTERACTIVE: about 64 MiB and a few tens of milliseconds,
    /// suited to logins. The one to use in production.
    interactive,
    /// libsodium's crypto_pwhash_*_MIN: a few KiB and microseconds. Offers no protection; only
    /// for tests and load demos that create hundreds of accounts.
    minimum,
};

/// Hashes and verifies passwords with crypto_pwhash_str / crypto_pwhash_str_verify.
/// Thread-safe (stateless after construction).
class PasswordHasher {
public:
    /// A hasher with the given cost. Throws std::runtime_error if libsodium cannot be
    /// initialised.
    explicit PasswordHasher(PasswordCost cost = PasswordCost::interactive);

    /// A new salted hash string of `password`. Throws std::runtime_error when out of memory.
    [[nodiscard]] std::string hash(std::string_view password) const;

    /// True when `password` matches `hash` (a string made by hash()).
    [[nodiscard]] bool verify(const std::string& hash, std::string_view password) const;

private:
    unsigned long long opslimit_;
    std::size_t memlimit_;
};

/// `bytes` random bytes from libsodium's CSPRNG, as lower-case hex (2 * bytes characters).
std::string random_hex(std::size_t bytes);

/// A random string of `count` decimal digits, uniformly distributed (e.g. a 2FA code).
std::string random_digits(std::size_t count);

/// True when `a` and `b` are equal, in time that does not depend on where they differ.
bool constant_time_equal(std::string_view a, std::string_view b);

} // namespace authsvc
