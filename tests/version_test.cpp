// The version: AUTHEVENTS_EXPECTED_VERSION is the CMake project version (PROJECT_VERSION, see
// tests/CMakeLists.txt), which CMake reads from the three number macros of version.hpp with its
// own regular expression. The test checks every other form of the version against it, so a
// wrong string, number or packed value fails here; it never rebuilds its expectation from the
// macros under test.
#include "catch_compat.hpp"

#include <authevents/version.hpp>

#include <string>
#include <vector>

namespace {

// "1.2.3" -> {1, 2, 3}; any other form -> empty.
std::vector<int> parse_version(const std::string& text) {
    std::vector<int> parts;
    std::string number;
    for (const char c : text + ".") {
        if (c == '.') {
            if (number.empty() || number.size() > 4) {
                return {};
            }
            parts.push_back(std::stoi(number));
            number.clear();
        } else if (c >= '0' && c <= '9') {
            number += c;
        } else {
            return {};
        }
    }
    return parts.size() == 3 ? parts : std::vector<int>{};
}

} // namespace

TEST_CASE("the version string and numbers agree with the CMake project version", "[version]") {
    const std::vector<int> expected = parse_version(AUTHEVENTS_EXPECTED_VERSION);
    REQUIRE(expected.size() == 3);
    CHECK(authevents::version == AUTHEVENTS_EXPECTED_VERSION);
    CHECK(authevents::version_major == expected[0]);
    CHECK(authevents::version_minor == expected[1]);
    CHECK(authevents::version_patch == expected[2]);
    CHECK(AUTHEVENTS_VERSION_MAJOR == expected[0]);
    CHECK(AUTHEVENTS_VERSION_MINOR == expected[1]);
    CHECK(AUTHEVENTS_VERSION_PATCH == expected[2]);
}

TEST_CASE("AUTHEVENTS_VERSION packs the CMake project version as major*10000+minor*100+patch",
          "[version]") {
    const std::vector<int> expected = parse_version(AUTHEVENTS_EXPECTED_VERSION);
    REQUIRE(expected.size() == 3);
    // Minor and patch below 100 keep the packed number unambiguous and ordered.
    CHECK(expected[1] < 100);
    CHECK(expected[2] < 100);
    CHECK(AUTHEVENTS_VERSION == expected[0] * 10000 + expected[1] * 100 + expected[2]);
}
