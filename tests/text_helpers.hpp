// Small text helpers shared by the tests.
#pragma once

#include <string>

namespace test_text {

/// True if `part` occurs in `text`.
inline bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

} // namespace test_text
