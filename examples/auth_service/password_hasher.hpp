// Password hashing and random tokens, with libsodium: Argon2id through crypto_pwhash_str,
// so the store only ever holds self-describing hash strings, never a password.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace authsvc {

/// Hashes and verifies passwords with crypto_pwhash_str / crypto_pwhash_str_verify.
/// Thread-safe (stateless after construction).
class PasswordHasher {
public:
    /// Interactive limits (libsodium's crypto_pwhash_*_INTERACTIVE: about 64 MiB and a few
    /// tens of milliseconds), suited to logins. Throws std::runtime_error if libsodium cannot
    /// be initialised.
    PasswordHasher();

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
