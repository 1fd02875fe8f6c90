/// @file
/// Event ids: new_event_id(), a random UUID version 4. Standard headers only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace authevents::detail {

inline std::mt19937_64 make_seeded_generator() {
    std::random_device device;
    std::array<std::uint32_t, 8> seed{};
    for (std::uint32_t& word : seed) {
        word = static_cast<std::uint32_t>(device());
    }
    std::seed_seq sequence(seed.begin(), seed.end());
    return std::mt19937_64(sequence);
}

} // namespace authevents::detail

namespace authevents::bus {

/// A new random UUID version 4 in lower-case text, e.g.
/// "3f2b8c1e-9a4d-4e7b-8c21-5d6e7f809a1b" (122 random bits).
///
/// Thread-safe: each thread has its own generator, seeded from std::random_device on the
/// thread's first call. A process that forks after calling it must not call it in the child
/// thread that inherited the generator (the child would repeat the parent's ids).
/// @throws what std::random_device throws (on the first call per thread) or std::bad_alloc.
inline std::string new_event_id() {
    thread_local std::mt19937_64 generator = detail::make_seeded_generator();
    std::uint64_t high = generator();
    std::uint64_t low = generator();
    high = (high & ~(std::uint64_t{0xF} << 12U)) | (std::uint64_t{0x4} << 12U); // version 4
    low = (low & ~(std::uint64_t{0x3} << 62U)) | (std::uint64_t{0x2} << 62U);   // variant 10
    constexpr std::string_view hex = "0123456789abcdef";
    std::string text;
    text.reserve(36);
    for (int nibble = 0; nibble < 32; ++nibble) {
        if (nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20) {
            text += '-';
        }
        const std::uint64_t word = nibble < 16 ? high : low;
        const auto shift = static_cast<unsigned>(60 - 4 * (nibble % 16));
        text += hex[static_cast<std::size_t>((word >> shift) & 0xFU)];
    }
    return text;
}

} // namespace authevents::bus
