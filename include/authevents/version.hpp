/// @file
/// The one source of the authevents version number (CMake reads it from here).
#pragma once

#include <string_view>

/// Major version: changes when the public API breaks.
#define AUTHEVENTS_VERSION_MAJOR 0
/// Minor version: changes when features are added compatibly.
#define AUTHEVENTS_VERSION_MINOR 1
/// Patch version: changes for compatible fixes.
#define AUTHEVENTS_VERSION_PATCH 0

/// The version as one comparable number: major * 10000 + minor * 100 + patch.
#define AUTHEVENTS_VERSION                                                                         \
    (AUTHEVENTS_VERSION_MAJOR * 10000 + AUTHEVENTS_VERSION_MINOR * 100 + AUTHEVENTS_VERSION_PATCH)

// Two levels so that the version macros expand before they are turned into text.
#define AUTHEVENTS_DETAIL_VERSION_TEXT(major, minor, patch) #major "." #minor "." #patch
#define AUTHEVENTS_DETAIL_VERSION_STRING(major, minor, patch)                                      \
    AUTHEVENTS_DETAIL_VERSION_TEXT(major, minor, patch)

namespace authevents {

/// The library version as "major.minor.patch", built from the macros above.
inline constexpr std::string_view version = AUTHEVENTS_DETAIL_VERSION_STRING(
    AUTHEVENTS_VERSION_MAJOR, AUTHEVENTS_VERSION_MINOR, AUTHEVENTS_VERSION_PATCH);

/// The major version as a number.
inline constexpr int version_major = AUTHEVENTS_VERSION_MAJOR;
/// The minor version as a number.
inline constexpr int version_minor = AUTHEVENTS_VERSION_MINOR;
/// The patch version as a number.
inline constexpr int version_patch = AUTHEVENTS_VERSION_PATCH;

} // namespace authevents

#undef AUTHEVENTS_DETAIL_VERSION_STRING
#undef AUTHEVENTS_DETAIL_VERSION_TEXT
