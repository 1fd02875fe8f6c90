/// @file
/// DataReader: the strict reader of a CloudEvent's data object that EventCodec::from_data
/// uses (presence, JSON type and range checked; errors name the member's path).
///
/// Part of authevents::bus (CMake target authevents::bus); uses nlohmann-json.
#pragma once

#include <authevents/bus/detail/json.hpp>
#include <authevents/bus/envelope.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authevents::bus {

/// Strict reader of one JSON object of event data, for EventCodec::from_data. Each accessor
/// checks presence and type and throws CloudEventError naming the member's full path, e.g.
/// "data.user.id", with messages such as `expected an integer, got a string`.
///
/// Refers to the JSON object it was made from, which must outlive it. Cheap to copy; the
/// const members are thread-safe.
class DataReader {
public:
    /// A reader of `json_object` whose members are named `<object_path>.<key>`.
    /// @throws CloudEventError(object_path, "expected an object, got ...") for a non-object.
    DataReader(const nlohmann::json& json_object, std::string object_path)
        : object_(&json_object), path_(std::move(object_path)) {
        if (!json_object.is_object()) {
            throw CloudEventError(path_, "expected an object, got " +
                                             detail::describe_json_type(json_object));
        }
    }

    /// The path of this object, e.g. "data" or "data.user". Thread-safe, noexcept.
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

    /// True when the member `key` is present (whatever its value, null included).
    /// Thread-safe. @throws std::bad_alloc only.
    [[nodiscard]] bool contains(std::string_view key) const {
        return detail::find_member(*object_, key) != nullptr;
    }

    /// The required member `key` of any JSON type. @throws CloudEventError when it is absent.
    [[nodiscard]] const nlohmann::json& raw(std::string_view key) const {
        const nlohmann::json* value = detail::find_member(*object_, key);
        if (value == nullptr) {
            throw CloudEventError(field(key), "required field is missing");
        }
        return *value;
    }

    /// The required string member `key`. @throws CloudEventError when absent or not a string.
    [[nodiscard]] std::string string(std::string_view key) const {
        const nlohmann::json& value = raw(key);
        if (!value.is_string()) {
            throw type_error(key, "a string", value);
        }
        return value.get<std::string>();
    }

    /// The string member `key`, or std::nullopt when it is absent or null.
    /// @throws CloudEventError when it is present with another type.
    [[nodiscard]] std::optional<std::string> optional_string(std::string_view key) const {
        const nlohmann::json* value = detail::find_member(*object_, key);
        if (value == nullptr || value->is_null()) {
            return std::nullopt;
        }
        if (!value->is_string()) {
            throw type_error(key, "a string or null", *value);
        }
        return value->get<std::string>();
    }

    /// The required boolean member `key` (true or false; not 0, 1 or "yes").
    /// @throws CloudEventError when absent or not a boolean.
    [[nodiscard]] bool boolean(std::string_view key) const {
        const nlohmann::json& value = raw(key);
        if (!value.is_boolean()) {
            throw type_error(key, "a boolean", value);
        }
        return value.get<bool>();
    }

    /// The required integer member `key` in the std::int64_t range. JSON integers only: a
    /// number with a fraction or an exponent (1.5, 2.0, 1e3) and booleans are rejected.
    /// @throws CloudEventError when absent, not an integer or out of range.
    [[nodiscard]] std::int64_t int64(std::string_view key) const {
        const nlohmann::json& value = raw(key);
        if (value.is_number_unsigned()) {
            const auto number = value.get<std::uint64_t>();
            if (number > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                throw out_of_range(key, value, "64-bit integer",
                                   std::numeric_limits<std::int64_t>::min(),
                                   std::numeric_limits<std::int64_t>::max());
            }
            return static_cast<std::int64_t>(number);
        }
        if (value.is_number_integer()) {
            return value.get<std::int64_t>();
        }
        if (value.is_number_float()) {
            // JSON text of an integer beyond 64 bits arrives as a float: say so.
            const double number = value.get<double>();
            if (std::isfinite(number) && number == std::trunc(number) &&
                std::fabs(number) >= 9.2e18) {
                throw out_of_range(key, value, "64-bit integer",
                                   std::numeric_limits<std::int64_t>::min(),
                                   std::numeric_limits<std::int64_t>::max());
            }
            throw CloudEventError(field(key),
                                  "expected an integer, got " + detail::dump_json(value));
        }
        throw type_error(key, "an integer", value);
    }

    /// The required integer member `key` in the `int` range; see int64().
    /// @throws CloudEventError when absent, not an integer or out of range.
    [[nodiscard]] int integer(std::string_view key) const {
        const std::int64_t number = int64(key);
        if (number < std::numeric_limits<int>::min() || number > std::numeric_limits<int>::max()) {
            throw out_of_range(key, raw(key), "int", std::numeric_limits<int>::min(),
                               std::numeric_limits<int>::max());
        }
        return static_cast<int>(number);
    }

    /// The required member `key`: an array of strings. An element of another type is named
    /// by its index, e.g. "data.updated_fields[2]".
    /// @throws CloudEventError when absent, not an array, or an element is not a string.
    [[nodiscard]] std::vector<std::string> string_list(std::string_view key) const {
        const nlohmann::json& value = raw(key);
        if (!value.is_array()) {
            throw type_error(key, "an array of strings", value);
        }
        std::vector<std::string> result;
        result.reserve(value.size());
        for (std::size_t i = 0; i < value.size(); ++i) {
            const nlohmann::json& element = value[i];
            if (!element.is_string()) {
                throw CloudEventError(field(key) + "[" + std::to_string(i) + "]",
                                      "expected a string, got " +
                                          detail::describe_json_type(element));
            }
            result.push_back(element.get<std::string>());
        }
        return result;
    }

    /// A reader of the required object member `key`, with path `<path>.<key>`.
    /// @throws CloudEventError when absent or not an object.
    [[nodiscard]] DataReader object(std::string_view key) const {
        return DataReader(raw(key), field(key));
    }

    /// Rejects members whose names are not in `known` (a fixed schema: new fields need a new
    /// version). @throws CloudEventError("<path>.<name>", "unknown field ...") for the first
    /// unknown member in name order.
    void reject_unknown(std::initializer_list<std::string_view> known) const {
        reject_unknown(known.begin(), known.size());
    }

    /// reject_unknown() with the known names in a container of std::string_view (e.g. the
    /// std::array of authevents::field_names()). @throws CloudEventError as above.
    template <class Names> void reject_unknown(const Names& known) const {
        reject_unknown(known.data(), known.size());
    }

    /// reject_unknown() with `count` known names at `known`. @throws CloudEventError as above.
    void reject_unknown(const std::string_view* known, std::size_t count) const {
        for (const auto& member : object_->items()) {
            bool found = false;
            for (std::size_t i = 0; i < count; ++i) {
                found = found || known[i] == member.key();
            }
            if (!found) {
                std::string expected;
                for (std::size_t i = 0; i < count; ++i) {
                    expected += expected.empty() ? "" : ", ";
                    expected.append(known[i]);
                }
                throw CloudEventError(field(member.key()),
                                      "unknown field (expected only: " + expected + ")");
            }
        }
    }

private:
    std::string field(std::string_view key) const { return detail::join_path(path_, key); }

    CloudEventError type_error(std::string_view key, std::string_view expected,
                               const nlohmann::json& value) const {
        return CloudEventError(field(key), "expected " + std::string(expected) + ", got " +
                                               detail::describe_json_type(value));
    }

    CloudEventError out_of_range(std::string_view key, const nlohmann::json& value,
                                 std::string_view kind, std::int64_t min, std::int64_t max) const {
        return CloudEventError(field(key), detail::dump_json(value) + " is out of range for " +
                                               std::string(kind) + " (" + std::to_string(min) +
                                               ".." + std::to_string(max) + ")");
    }

    const nlohmann::json* object_ = nullptr;
    std::string path_;
};

} // namespace authevents::bus
