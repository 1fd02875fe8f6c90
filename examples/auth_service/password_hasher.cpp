#include "password_hasher.hpp"

#include <sodium.h>

#include <array>
#include <stdexcept>
#include <vector>

namespace authsvc {
namespace {

void ensure_sodium() {
    if (sodium_init() < 0) {
        throw std::runtime_error("libsodium could not be initialised");
    }
}

} // namespace

PasswordHasher::PasswordHasher(PasswordCost cost)
    : opslimit_(cost == PasswordCost::minimum ? crypto_pwhash_opslimit_min()
                                              : crypto_pwhash_opslimit_interactive()),
      memlimit_(cost == PasswordCost::minimum ? crypto_pwhash_memlimit_min()
                                              : crypto_pwhash_memlimit_interactive()) {
    ensure_sodium();
}

std::string PasswordHasher::hash(std::string_view password) const {
    std::array<char, crypto_pwhash_STRBYTES> out{};
    if (crypto_pwhash_str(out.data(), password.data(), password.size(), opslimit_, memlimit_) !=
        0) {
        throw std::runtime_error("crypto_pwhash_str failed (out of memory)");
    }
    return std::string(out.data());
}

bool PasswordHasher::verify(const std::string& hash, std::string_view password) const {
    return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

std::string random_hex(std::size_t bytes) {
    ensure_sodium();
    std::vector<unsigned char> raw(bytes);
    randombytes_buf(raw.data(), raw.size());
    std::string hex(bytes * 2 + 1, '\0');
    sodium_bin2hex(hex.data(), hex.size(), raw.data(), raw.size());
    hex.pop_back(); // sodium_bin2hex writes a terminating NUL
    return hex;
}

std::string random_digits(std::size_t count) {
    ensure_sodium();
    std::string digits;
    digits.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        digits.push_back(static_cast<char>('0' + randombytes_uniform(10)));
    }
    return digits;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace authsvc
