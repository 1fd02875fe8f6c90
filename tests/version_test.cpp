#include "catch_compat.hpp"

#include <authevents/version.hpp>

#include <string>

TEST_CASE("version string is built from the version macros", "[version]") {
    const std::string expected = std::to_string(AUTHEVENTS_VERSION_MAJOR) + "." +
                                 std::to_string(AUTHEVENTS_VERSION_MINOR) + "." +
                                 std::to_string(AUTHEVENTS_VERSION_PATCH);
    CHECK(authevents::version == expected);
    CHECK(authevents::version_major == AUTHEVENTS_VERSION_MAJOR);
    CHECK(authevents::version_minor == AUTHEVENTS_VERSION_MINOR);
    CHECK(authevents::version_patch == AUTHEVENTS_VERSION_PATCH);
    CHECK(AUTHEVENTS_VERSION == AUTHEVENTS_VERSION_MAJOR * 10000 + AUTHEVENTS_VERSION_MINOR * 100 +
                                    AUTHEVENTS_VERSION_PATCH);
}

TEST_CASE("version header agrees with the CMake package version", "[version]") {
    CHECK(authevents::version == AUTHEVENTS_EXPECTED_VERSION);
}
