/// @file
/// JSON helpers of the CloudEvent headers: type names and text for error messages, member
/// lookup and paths. Internal: nothing here is part of the API.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace authevents::detail {

/// "a string", "an object", "null", ...: a JSON value's type for messages.
inline std::string describe_json_type(const nlohmann::json& value) {
    switch (value.type()) {
    case nlohmann::json::value_t::null:
        return "null";
    case nlohmann::json::value_t::object:
        return "an object";
    case nlohmann::json::value_t::array:
        return "an array";
    case nlohmann::json::value_t::string:
        return "a string";
    case nlohmann::json::value_t::boolean:
        return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
        return "a number";
    case nlohmann::json::value_t::binary:
        return "binary data";
    case nlohmann::json::value_t::discarded:
        break;
    }
    return "a discarded value";
}

/// Compact JSON text of `value` (nlohmann::json or nlohmann::ordered_json) that never throws on
/// invalid UTF-8 (bad bytes become U+FFFD).
template <class Json> std::string dump_json(const Json& value) {
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// `text` as a JSON string literal for messages, cut to about 80 bytes.
inline std::string quote_for_message(std::string_view text) {
    constexpr std::size_t limit = 80;
    if (text.size() <= limit) {
        return dump_json(nlohmann::json(std::string(text)));
    }
    std::size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) {
        --cut; // do not split a UTF-8 sequence
    }
    return dump_json(nlohmann::json(std::string(text.substr(0, cut)))) + "...";
}

/// ASCII lower case of `text`.
inline std::string ascii_lower(std::string_view text) {
    std::string result(text);
    for (char& c : result) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return result;
}

/// `text` without leading and trailing spaces and tabs (HTTP's optional white space).
inline std::string_view trim_space(std::string_view text) noexcept {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

/// The member `key` of `object`, or nullptr.
inline const nlohmann::json* find_member(const nlohmann::json& object, std::string_view key) {
    const auto found = object.find(std::string(key)); // std::string: older nlohmann-json too
    return found == object.end() ? nullptr : &*found;
}

/// `path.key`, or `key` for an empty path.
inline std::string join_path(const std::string& path, std::string_view key) {
    std::string result = path;
    if (!result.empty()) {
        result += '.';
    }
    result.append(key);
    return result;
}

} // namespace authevents::detail
