/// @file
/// CloudEvents 1.0 codec (structured JSON mode) for authevents: the CloudEvent envelope, strict
/// parsing, the EventCodec customisation point with codecs for the twelve built-in events, and
/// EventTypeRegistry, which maps CloudEvent types to event types for dispatchers.
///
/// Part of authevents::bus (CMake target authevents::bus); uses nlohmann-json.
#pragma once

#include <authevents/dispatcher.hpp>
#include <authevents/events.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace authevents::bus {

/// Error for any CloudEvent encoding or parsing problem. field() names the offending field
/// ("type", "data.user.id", "data.updated_fields[2]", ...) and what() reads
/// `CloudEvent field 'data.user.email': expected a string, got a number`; for a problem that
/// is not about one field (invalid JSON text, a non-object) field() is empty and what() reads
/// `CloudEvent: <problem>`.
///
/// Copying does not throw (the field is shared, like the message); the queries are
/// thread-safe and do not throw.
class CloudEventError : public std::runtime_error {
public:
    /// An error about `field` (empty: about no single field) described by `problem`.
    CloudEventError(std::string field, const std::string& problem)
        : std::runtime_error(make_message(field, problem)),
          field_(std::make_shared<const std::string>(std::move(field))) {}

    /// The offending field's path, e.g. "data.user.id"; empty if not about one field.
    [[nodiscard]] const std::string& field() const noexcept { return *field_; }

private:
    static std::string make_message(const std::string& field_path, const std::string& problem) {
        if (field_path.empty()) {
            return "CloudEvent: " + problem;
        }
        return "CloudEvent field '" + field_path + "': " + problem;
    }

    std::shared_ptr<const std::string> field_;
};

/// A CloudEvents 1.0 event in structured JSON mode. A plain value: copyable, comparable,
/// as thread-safe as its members (concurrent reads are fine).
struct CloudEvent {
    std::string specversion = "1.0";      ///< Always "1.0".
    std::string id;                       ///< Unique per event (UUID v4 text).
    std::string source;                   ///< URI-reference, e.g. "/auth-service".
    std::string type;                     ///< e.g. "authevents.user_registered.v1".
    std::optional<std::string> subject{}; ///< e.g. "user/42"; absent if none.
    /// RFC 3339, e.g. "2026-11-24T10:54:10.123Z"; empty when absent (the attribute is optional:
    /// to_json() then omits it). to_cloud_event() always sets it.
    std::string time;
    /// A JSON media type: "application/json" (what we send), also with parameters
    /// ("application/json; charset=utf-8"), in any case, or a "+json" type; kept as received.
    std::string datacontenttype = "application/json";
    nlohmann::json data{}; ///< The event's fields.

    /// True when every attribute and the data are equal.
    friend bool operator==(const CloudEvent& a, const CloudEvent& b) {
        return a.specversion == b.specversion && a.id == b.id && a.source == b.source &&
               a.type == b.type && a.subject == b.subject && a.time == b.time &&
               a.datacontenttype == b.datacontenttype && a.data == b.data;
    }
    /// Negation of `==`.
    friend bool operator!=(const CloudEvent& a, const CloudEvent& b) { return !(a == b); }
};

/// A time point with millisecond resolution, as read and written by the RFC 3339 helpers.
using SysMilliseconds =
    std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

namespace detail {

/// Days from 0000-01-01 to the first day of `year` (proleptic Gregorian, year >= 0).
constexpr std::int64_t days_before_year(std::int64_t year) noexcept {
    // Leap years in [0, year): multiples of 4, minus multiples of 100, plus multiples of 400.
    return 365 * year + (year + 3) / 4 - (year + 99) / 100 + (year + 399) / 400;
}

constexpr bool is_leap_year(std::int64_t year) noexcept {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

constexpr int days_in_month(std::int64_t year, int month) noexcept {
    constexpr std::array<int, 12> lengths = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && is_leap_year(year)) {
        return 29;
    }
    return lengths[static_cast<std::size_t>(month - 1)];
}

/// Days from 1970-01-01 to year-month-day (month 1-12, day valid; year >= 0).
constexpr std::int64_t days_since_epoch(std::int64_t year, int month, int day) noexcept {
    std::int64_t days = days_before_year(year) - days_before_year(1970);
    for (int m = 1; m < month; ++m) {
        days += days_in_month(year, m);
    }
    return days + day - 1;
}

/// Appends `value` (non-negative) in decimal, zero-padded to `width` digits.
inline void append_padded(std::string& out, std::int64_t value, int width) {
    std::array<char, 20> digits{};
    std::size_t count = 0;
    for (; count == 0 || (value > 0 && count < digits.size()); ++count) {
        digits[count] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    for (auto i = static_cast<int>(count); i < width; ++i) {
        out += '0';
    }
    for (; count > 0; --count) {
        out += digits[count - 1];
    }
}

/// Reads `count` ASCII digits of `text` at `pos` into `value`; false if any is not a digit.
constexpr bool read_digits(std::string_view text, std::size_t pos, std::size_t count,
                           int& value) noexcept {
    if (pos + count > text.size()) {
        return false;
    }
    value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        value = value * 10 + (text[i] - '0');
    }
    return true;
}

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

/// Parser callback for nlohmann::json::parse that rejects an object with two members of one
/// name: JSON (RFC 8259, section 4) leaves their meaning to the reader, and a CloudEvent
/// attribute or an event field has one value. Pass it with std::ref; it keeps the names of
/// each open object. @throws CloudEventError naming the duplicated member's path.
class DuplicateKeyGuard {
public:
    bool operator()(int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        switch (event) {
        case nlohmann::json::parse_event_t::object_start:
            open_.emplace_back();
            break;
        case nlohmann::json::parse_event_t::object_end:
            if (!open_.empty()) {
                open_.pop_back();
            }
            break;
        case nlohmann::json::parse_event_t::key:
            if (!open_.empty() && parsed.is_string()) {
                Object& object = open_.back();
                object.current = parsed.get<std::string>();
                if (!object.names.insert(object.current).second) {
                    throw CloudEventError(path(), "duplicate member name (each may appear once)");
                }
            }
            break;
        default:
            break;
        }
        return true;
    }

private:
    struct Object {
        std::set<std::string> names;
        std::string current;
    };

    std::string path() const {
        std::string result;
        for (const Object& object : open_) {
            result = join_path(result, object.current);
        }
        return result;
    }

    std::vector<Object> open_;
};

} // namespace detail

/// Formats `time` as RFC 3339 UTC with milliseconds, e.g. "2026-11-24T10:54:10.123Z"
/// (rounded down to the millisecond). Years must be 0000-9999 (else std::out_of_range).
/// Thread-safe, pure.
inline std::string format_rfc3339(SysMilliseconds time) {
    const std::int64_t ms_per_day = 86'400'000;
    const std::int64_t total_ms = time.time_since_epoch().count();
    std::int64_t days = total_ms / ms_per_day;
    std::int64_t ms_of_day = total_ms % ms_per_day;
    if (ms_of_day < 0) {
        ms_of_day += ms_per_day;
        --days;
    }
    const std::int64_t epoch_days = detail::days_before_year(1970);
    std::int64_t year = 1970 + days / 365; // within a year or two of the right one
    while (detail::days_before_year(year) - epoch_days > days) {
        --year;
    }
    while (detail::days_before_year(year + 1) - epoch_days <= days) {
        ++year;
    }
    if (year < 0 || year > 9999) {
        throw std::out_of_range("authevents::bus::format_rfc3339: year outside 0000-9999");
    }
    std::int64_t day_of_year = days - (detail::days_before_year(year) - epoch_days);
    int month = 1;
    while (day_of_year >= detail::days_in_month(year, month)) {
        day_of_year -= detail::days_in_month(year, month);
        ++month;
    }
    std::string out;
    out.reserve(24);
    detail::append_padded(out, year, 4);
    out += '-';
    detail::append_padded(out, month, 2);
    out += '-';
    detail::append_padded(out, day_of_year + 1, 2);
    out += 'T';
    detail::append_padded(out, ms_of_day / 3'600'000, 2);
    out += ':';
    detail::append_padded(out, ms_of_day / 60'000 % 60, 2);
    out += ':';
    detail::append_padded(out, ms_of_day / 1000 % 60, 2);
    out += '.';
    detail::append_padded(out, ms_of_day % 1000, 3);
    out += 'Z';
    return out;
}

/// Formats a system_clock time point as format_rfc3339(SysMilliseconds) does (rounded down
/// to the millisecond). Thread-safe, pure; std::out_of_range outside years 0000-9999.
inline std::string format_rfc3339(std::chrono::system_clock::time_point time) {
    return format_rfc3339(std::chrono::floor<std::chrono::milliseconds>(time));
}

/// The current UTC time as RFC 3339 with milliseconds, e.g. "2026-11-24T10:54:10.123Z".
/// Thread-safe; throws only std::bad_alloc.
inline std::string rfc3339_now() { return format_rfc3339(std::chrono::system_clock::now()); }

/// Parses a strict RFC 3339 timestamp `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` (the
/// `T` and `Z` may be lower case, as RFC 3339 allows) into a UTC time point, the fraction
/// rounded down to the millisecond; std::nullopt for anything else. Ranges are checked: month
/// 1-12, day valid for the month (leap years included), hour < 24, minute < 60, second <= 60
/// (a leap second counts as the next minute's first), offset hour < 24 and minute < 60.
/// Thread-safe, pure, does not throw.
inline std::optional<SysMilliseconds> parse_rfc3339(std::string_view text) noexcept {
    int year = 0;
    int month = 0;
    int day = 0;
    int hour = 0;
    int minute = 0;
    int second = 0;
    if (!detail::read_digits(text, 0, 4, year) || text.size() < 19 || text[4] != '-' ||
        !detail::read_digits(text, 5, 2, month) || text[7] != '-' ||
        !detail::read_digits(text, 8, 2, day) || (text[10] != 'T' && text[10] != 't') ||
        !detail::read_digits(text, 11, 2, hour) || text[13] != ':' ||
        !detail::read_digits(text, 14, 2, minute) || text[16] != ':' ||
        !detail::read_digits(text, 17, 2, second)) {
        return std::nullopt;
    }
    if (month < 1 || month > 12 || day < 1 || day > detail::days_in_month(year, month) ||
        hour > 23 || minute > 59 || second > 60) {
        return std::nullopt;
    }
    std::size_t pos = 19;
    int millis = 0;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        const std::size_t first = pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            if (pos - first < 3) {
                millis = millis * 10 + (text[pos] - '0');
            }
            ++pos;
        }
        if (pos == first) {
            return std::nullopt; // a '.' needs at least one digit
        }
        for (std::size_t digits = pos - first; digits < 3; ++digits) {
            millis *= 10;
        }
    }
    if (pos >= text.size()) {
        return std::nullopt; // the zone is required
    }
    int offset_minutes = 0;
    if (text[pos] == 'Z' || text[pos] == 'z') {
        ++pos;
    } else if (text[pos] == '+' || text[pos] == '-') {
        int offset_hour = 0;
        int offset_minute = 0;
        if (!detail::read_digits(text, pos + 1, 2, offset_hour) || pos + 3 >= text.size() ||
            text[pos + 3] != ':' || !detail::read_digits(text, pos + 4, 2, offset_minute) ||
            offset_hour > 23 || offset_minute > 59) {
            return std::nullopt;
        }
        offset_minutes = (text[pos] == '-' ? -1 : 1) * (offset_hour * 60 + offset_minute);
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != text.size()) {
        return std::nullopt;
    }
    const std::int64_t local_seconds = detail::days_since_epoch(year, month, day) * 86'400 +
                                       std::int64_t{hour} * 3600 + std::int64_t{minute} * 60 +
                                       second;
    const std::int64_t utc_seconds = local_seconds - std::int64_t{offset_minutes} * 60;
    return SysMilliseconds(std::chrono::milliseconds(utc_seconds * 1000 + millis));
}

/// True when `text` is a valid RFC 3339 timestamp as parse_rfc3339() accepts it, e.g.
/// "2026-11-24T10:54:10.123Z" or "2026-11-24T11:54:10+01:00". Thread-safe, pure, noexcept.
inline bool is_rfc3339(std::string_view text) noexcept { return parse_rfc3339(text).has_value(); }

/// True when `text` is a non-empty URI-reference (RFC 3986, section 4.1), the type of the
/// CloudEvents `source` attribute: an absolute URI ("https://example.com/auth",
/// "urn:example:auth") or a relative reference ("/auth-service"). Checks the characters
/// (percent-escapes included), the scheme, one '#' at most, and brackets only in the
/// authority; does not resolve or normalise. Thread-safe, pure, noexcept.
inline bool is_uri_reference(std::string_view text) noexcept {
    const auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    const auto is_hex = [&](char c) {
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    };
    if (text.empty()) {
        return false;
    }
    // A ':' before any '/', '?' or '#' ends a scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
    // Without a valid scheme such a ':' is not allowed (a relative reference's first segment
    // has none).
    const std::size_t first_delimiter = text.find_first_of(":/?#");
    std::size_t position = 0;
    if (first_delimiter != std::string_view::npos && text[first_delimiter] == ':') {
        if (first_delimiter == 0 || !is_alpha(text[0])) {
            return false;
        }
        for (std::size_t i = 1; i < first_delimiter; ++i) {
            const char c = text[i];
            if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') {
                return false;
            }
        }
        position = first_delimiter + 1;
    }
    // The authority ("//host:port") runs to the next '/', '?' or '#'; brackets (IP literals)
    // are allowed only there.
    std::size_t authority_end = position;
    if (text.substr(position, 2) == "//") {
        authority_end = text.find_first_of("/?#", position + 2);
        if (authority_end == std::string_view::npos) {
            authority_end = text.size();
        }
    }
    constexpr std::string_view allowed = "-._~:/?#[]@!$&'()*+,;=";
    bool in_fragment = false;
    for (std::size_t i = position; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '%') {
            if (i + 2 >= text.size() || !is_hex(text[i + 1]) || !is_hex(text[i + 2])) {
                return false;
            }
            i += 2;
            continue;
        }
        if (is_alpha(c) || is_digit(c)) {
            continue;
        }
        if (allowed.find(c) == std::string_view::npos) {
            return false; // space, control, non-ASCII, '"', '<', '>', '\\', '^', '`', '{', '|', '}'
        }
        if ((c == '[' || c == ']') && i >= authority_end) {
            return false;
        }
        if (c == '#') {
            if (in_fragment) {
                return false;
            }
            in_fragment = true;
        }
    }
    return true;
}

/// True when `media_type` names JSON: "application/json" or a structured "+json" type such as
/// "application/ld+json" (RFC 6839), compared case-insensitively, with or without parameters
/// ("application/json; charset=utf-8"). Thread-safe, pure; throws only std::bad_alloc.
inline bool is_json_media_type(std::string_view media_type) {
    const std::string essence =
        detail::ascii_lower(detail::trim_space(media_type.substr(0, media_type.find(';'))));
    constexpr std::string_view prefix = "application/";
    constexpr std::string_view suffix = "+json";
    if (essence.compare(0, prefix.size(), prefix) != 0) {
        return false;
    }
    const std::string_view subtype = std::string_view(essence).substr(prefix.size());
    if (subtype == "json") {
        return true;
    }
    return subtype.size() > suffix.size() &&
           subtype.compare(subtype.size() - suffix.size(), suffix.size(), suffix) == 0 &&
           subtype.find_first_of(" /\t") == std::string_view::npos;
}

namespace detail {

inline std::mt19937_64 make_seeded_generator() {
    std::random_device device;
    std::array<std::uint32_t, 8> seed{};
    for (std::uint32_t& word : seed) {
        word = static_cast<std::uint32_t>(device());
    }
    std::seed_seq sequence(seed.begin(), seed.end());
    return std::mt19937_64(sequence);
}

} // namespace detail

/// A new random UUID version 4 in lower-case text, e.g.
/// "3f2b8c1e-9a4d-4e7b-8c21-5d6e7f809a1b" (122 random bits).
///
/// Thread-safe: each thread has its own generator, seeded from std::random_device on the
/// thread's first call. A process that forks after calling it must not call it in the child
/// thread that inherited the generator (the child would repeat the parent's ids).
/// Throws what std::random_device throws (on the first call per thread) or std::bad_alloc.
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

/// A structured-mode JSON object of `event` whose members keep this order: specversion, id,
/// source, type, subject (only when set), time (only when not empty), datacontenttype, then
/// data (an ordered_json; converting it to nlohmann::json sorts the members by name).
/// Does not validate. Thread-safe, pure; throws only std::bad_alloc.
inline nlohmann::ordered_json to_json(const CloudEvent& event) {
    nlohmann::ordered_json object = nlohmann::ordered_json::object();
    object["specversion"] = event.specversion;
    object["id"] = event.id;
    object["source"] = event.source;
    object["type"] = event.type;
    if (event.subject) {
        object["subject"] = *event.subject;
    }
    if (!event.time.empty()) {
        object["time"] = event.time;
    }
    object["datacontenttype"] = event.datacontenttype;
    object["data"] = nlohmann::ordered_json(event.data);
    return object;
}

/// Compact JSON text of to_json(event) (UTF-8, non-ASCII text kept as is). Bytes that are not
/// valid UTF-8 in any string are replaced with U+FFFD, since JSON text must be UTF-8: such an
/// event does not round-trip exactly, but it is never lost. Thread-safe, pure; throws only
/// std::bad_alloc.
inline std::string to_json_text(const CloudEvent& event) {
    return detail::dump_json(to_json(event));
}

namespace detail {

/// The required, non-empty string attribute `name` of the envelope `object`.
inline std::string required_attribute(const nlohmann::json& object, std::string_view name) {
    const nlohmann::json* value = find_member(object, name);
    if (value == nullptr) {
        throw CloudEventError(std::string(name), "required attribute is missing");
    }
    if (!value->is_string()) {
        throw CloudEventError(std::string(name),
                              "expected a string, got " + describe_json_type(*value));
    }
    const auto& text = value->get_ref<const std::string&>();
    if (text.empty()) {
        throw CloudEventError(std::string(name), "must not be empty");
    }
    return text;
}

/// The optional string attribute `name`: absent or null (CloudEvents: null means unset) gives
/// std::nullopt.
inline std::optional<std::string> optional_attribute(const nlohmann::json& object,
                                                     std::string_view name) {
    const nlohmann::json* value = find_member(object, name);
    if (value == nullptr || value->is_null()) {
        return std::nullopt;
    }
    if (!value->is_string()) {
        throw CloudEventError(std::string(name),
                              "expected a string, got " + describe_json_type(*value));
    }
    return value->get<std::string>();
}

} // namespace detail

/// Reads a CloudEvent from a parsed structured-mode JSON value, strictly, as the CloudEvents
/// 1.0 specification and its JSON format define it: the value must be an object; specversion
/// must be "1.0"; id and type non-empty strings; source a URI-reference (is_uri_reference());
/// time, if present and not null, a valid RFC 3339 timestamp (is_rfc3339()), absent leaving
/// CloudEvent::time empty; datacontenttype, if set, a JSON media type (is_json_media_type():
/// parameters and any case allowed; unset or null means application/json); subject, if set and
/// not null, a string; the member data must be present (any JSON value), and data_base64
/// (binary data) is rejected, with or without data. Unknown (extension) attributes are
/// ignored, as CloudEvents requires of consumers.
///
/// Thread-safe, pure. @throws CloudEventError naming the attribute ("id", "time", ...), or
/// with an empty field() when the value is not an object.
inline CloudEvent cloud_event_from_json(const nlohmann::json& value) {
    if (!value.is_object()) {
        throw CloudEventError("",
                              "expected a JSON object, got " + detail::describe_json_type(value));
    }
    CloudEvent event;
    event.specversion = detail::required_attribute(value, "specversion");
    if (event.specversion != "1.0") {
        throw CloudEventError("specversion", "expected \"1.0\", got " +
                                                 detail::quote_for_message(event.specversion));
    }
    event.id = detail::required_attribute(value, "id");
    event.source = detail::required_attribute(value, "source");
    if (!is_uri_reference(event.source)) {
        throw CloudEventError("source", "expected a URI-reference (RFC 3986) such as "
                                        "\"/auth-service\" or \"https://example.com/auth\", got " +
                                            detail::quote_for_message(event.source));
    }
    event.type = detail::required_attribute(value, "type");
    event.subject = detail::optional_attribute(value, "subject");
    const std::optional<std::string> time = detail::optional_attribute(value, "time");
    if (time && !is_rfc3339(*time)) {
        throw CloudEventError("time", "expected an RFC 3339 timestamp such as "
                                      "\"2026-11-24T10:54:10.123Z\", got " +
                                          detail::quote_for_message(*time));
    }
    event.time = time.value_or(std::string()); // absent or null: empty
    if (auto content_type = detail::optional_attribute(value, "datacontenttype")) {
        if (!is_json_media_type(*content_type)) {
            throw CloudEventError("datacontenttype",
                                  "authevents events carry JSON data: expected "
                                  "\"application/json\" (parameters allowed) or a \"+json\" "
                                  "type, got " +
                                      detail::quote_for_message(*content_type));
        }
        event.datacontenttype = *content_type;
    }
    const nlohmann::json* data = detail::find_member(value, "data");
    if (detail::find_member(value, "data_base64") != nullptr) {
        throw CloudEventError("data_base64",
                              data != nullptr
                                  ? "data and data_base64 are mutually exclusive"
                                  : "binary data is not supported: authevents events carry JSON "
                                    "data in the member data");
    }
    if (data == nullptr) {
        throw CloudEventError("data", "required member is missing");
    }
    event.data = *data;
    return event;
}

/// Bounds on CloudEvent JSON text read from outside (a stream entry), checked by
/// parse_cloud_event() before the JSON parser runs, so an entry can neither exhaust memory
/// through one huge value nor nest deeper than code that walks the value recursively can go.
/// A plain value; 0 in a field means "no limit" for that field.
struct CloudEventLimits {
    std::size_t max_entry_bytes = 1024 * 1024; ///< Size of the whole JSON text (1 MiB).
    std::size_t max_string_bytes = 64 * 1024;  ///< One string or key as written, escapes
                                               ///< included (64 KiB).
    std::size_t max_depth = 64;                ///< Nesting of arrays and objects; the event
                                               ///< object itself is depth 1.
};

namespace detail {

/// Checks `text` against `limits` in one iterative pass (no recursion, no allocation),
/// before the parser sees it. Malformed JSON is left to the parser.
/// @throws CloudEventError naming the limit that `text` exceeds.
inline void check_cloud_event_limits(std::string_view text, const CloudEventLimits& limits) {
    auto exceeded = [](const char* what, std::size_t limit, const char* option) {
        return CloudEventError("", std::string(what) + " exceeds the limit of " +
                                       std::to_string(limit) + " (CloudEventLimits::" + option +
                                       ")");
    };
    if (limits.max_entry_bytes != 0 && text.size() > limits.max_entry_bytes) {
        throw exceeded(("the text of " + std::to_string(text.size()) + " bytes").c_str(),
                       limits.max_entry_bytes, "max_entry_bytes");
    }
    std::size_t depth = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '[' || c == '{') {
            if (++depth > limits.max_depth && limits.max_depth != 0) {
                throw exceeded("the nesting", limits.max_depth, "max_depth");
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        } else if (c == '"') {
            const std::size_t start = ++i;
            while (i < text.size() && text[i] != '"') {
                i += text[i] == '\\' ? std::size_t{2} : std::size_t{1};
            }
            if (limits.max_string_bytes != 0 && i - start > limits.max_string_bytes) {
                throw exceeded("a string", limits.max_string_bytes, "max_string_bytes");
            }
        }
    }
}

} // namespace detail

/// Parses CloudEvent JSON text (structured mode) with the checks of cloud_event_from_json(),
/// after checking `limits` (see CloudEventLimits) in an iterative pass over the text.
///
/// An object with two members of one name, at any depth, is rejected.
///
/// Thread-safe, pure. @throws CloudEventError: with an empty field() for text over a limit,
/// not valid JSON (the message has the parser's position, or names a number out of range
/// such as 1e400) or not an object; else naming the attribute (or the duplicated member's
/// path).
inline CloudEvent parse_cloud_event(std::string_view text, const CloudEventLimits& limits = {}) {
    detail::check_cloud_event_limits(text, limits);
    nlohmann::json value;
    try {
        detail::DuplicateKeyGuard duplicates;
        value = nlohmann::json::parse(text.begin(), text.end(), std::ref(duplicates));
    } catch (const nlohmann::json::exception& error) { // parse_error, out_of_range, ...
        throw CloudEventError("", std::string("invalid JSON text: ") + error.what());
    }
    // Move the data out first, so cloud_event_from_json() copies a null, not the data tree.
    nlohmann::json data;
    const auto found = value.is_object() ? value.find("data") : value.end();
    if (found != value.end()) {
        data = std::move(*found);
        *found = nullptr;
    }
    CloudEvent event = cloud_event_from_json(value);
    event.data = std::move(data);
    return event;
}

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
    /// Thread-safe; throws only std::bad_alloc.
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
        for (const auto& member : object_->items()) {
            bool found = false;
            for (const std::string_view name : known) {
                found = found || name == member.key();
            }
            if (!found) {
                std::string expected;
                for (const std::string_view name : known) {
                    expected += expected.empty() ? "" : ", ";
                    expected.append(name);
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

/// JSON of a User: `{"id", "email", "first_name", "last_name", "language"}`.
/// Thread-safe, pure; throws only std::bad_alloc.
inline nlohmann::json user_to_json(const User& user) {
    nlohmann::json object = nlohmann::json::object();
    object["id"] = user.id;
    object["email"] = user.email;
    object["first_name"] = user.first_name;
    object["last_name"] = user.last_name;
    object["language"] = user.language;
    return object;
}

/// The User in `data` (as written by user_to_json()); every field required, no others
/// allowed. Thread-safe. @throws CloudEventError naming the field.
inline User user_from_data(const DataReader& data) {
    User user{data.int64("id"), data.string("email"), data.string("first_name"),
              data.string("last_name"), data.string("language")};
    data.reject_unknown({"id", "email", "first_name", "last_name", "language"});
    return user;
}

/// JSON of a SellerApplication: `{"id", "applicant": <user>, "seller_type"}`.
/// Thread-safe, pure; throws only std::bad_alloc.
inline nlohmann::json application_to_json(const SellerApplication& application) {
    nlohmann::json object = nlohmann::json::object();
    object["id"] = application.id;
    object["applicant"] = user_to_json(application.applicant);
    object["seller_type"] = application.seller_type;
    return object;
}

/// The SellerApplication in `data` (as written by application_to_json()); strict like
/// user_from_data(). Thread-safe. @throws CloudEventError naming the field.
inline SellerApplication application_from_data(const DataReader& data) {
    SellerApplication application{data.int64("id"), user_from_data(data.object("applicant")),
                                  data.string("seller_type")};
    data.reject_unknown({"id", "applicant", "seller_type"});
    return application;
}

/// Customisation point: how `Event` maps to CloudEvents. Specialised below for the twelve
/// built-in events; specialise it for your own event (with a static `name`, as for
/// EventDispatcher) to publish and consume it:
///
///     struct PasswordChanged {
///         static constexpr std::string_view name = "password_changed";
///         std::int64_t user_id = 0;
///         bool forced = false;
///     };
///     template <> struct authevents::bus::EventCodec<PasswordChanged> {
///         static constexpr int version = 1; // type "authevents.password_changed.v1"
///         static nlohmann::json to_data(const PasswordChanged& e) {
///             return {{"user_id", e.user_id}, {"forced", e.forced}};
///         }
///         static PasswordChanged from_data(const DataReader& data) {
///             data.reject_unknown({"user_id", "forced"});
///             return {data.int64("user_id"), data.boolean("forced")};
///         }
///         static std::optional<std::string> subject(const PasswordChanged& e) {
///             return "user/" + std::to_string(e.user_id);
///         }
///     };
///
/// Members: `version` (bump it when the data layout changes incompatibly; it is part of the
/// type), `to_data` (a JSON object of the fields), `from_data` (strict: throw CloudEventError
/// through DataReader for missing, mistyped or unknown fields; it must invert to_data),
/// `subject` (the CloudEvents subject, or std::nullopt). All four must be thread-safe.
/// The primary template is deliberately undefined: using an event without a specialisation
/// stops compilation with "authevents::bus::EventCodec<Event> is not specialised".
template <class Event> struct EventCodec;

namespace detail {

inline std::string user_subject(const User& user) { return "user/" + std::to_string(user.id); }

inline std::string application_subject(const SellerApplication& application) {
    return "seller_application/" + std::to_string(application.id);
}

inline void put_optional(nlohmann::json& object, const char* key,
                         const std::optional<std::string>& value) {
    if (value) {
        object[key] = *value;
    }
}

inline nlohmann::json reason_to_json(LoginFailureReason reason) {
    const auto index = static_cast<std::size_t>(reason);
    if (index >= login_failure_reasons.size()) {
        throw CloudEventError("data.reason", "not a LoginFailureReason enumerator (value " +
                                                 std::to_string(static_cast<int>(reason)) + ")");
    }
    return to_string(reason);
}

inline LoginFailureReason reason_from_data(const DataReader& data, std::string_view key) {
    const std::string word = data.string(key);
    try {
        return login_failure_reason_from_string(word);
    } catch (const std::invalid_argument& error) {
        throw CloudEventError(join_path(data.path(), key), error.what());
    }
}

/// Just the user, for the events whose data is `{"user": ...}`.
template <class Event> struct UserOnlyCodec {
    static constexpr int version = 1;
    static nlohmann::json to_data(const Event& event) {
        nlohmann::json data = nlohmann::json::object();
        data["user"] = user_to_json(event.user);
        return data;
    }
    static Event from_data(const DataReader& data) {
        Event event{user_from_data(data.object("user"))};
        data.reject_unknown({"user"});
        return event;
    }
    static std::optional<std::string> subject(const Event& event) {
        return user_subject(event.user);
    }
};

} // namespace detail

// Built-in codecs. Every one: version 1; data members named exactly like the event's fields;
// an unknown ip_address is omitted (read back from absent or null); from_data rejects unknown
// members (a v1 schema is fixed: additions bump the version). All members are thread-safe and
// pure; from_data throws CloudEventError naming the field.

/// UserRegistered: data `{"user", "email_sent", "ip_address"?}`, subject `user/<id>`.
template <> struct EventCodec<UserRegistered> {
    static constexpr int version = 1; ///< Type "<prefix>.user_registered.v1".
    /// The event's data object.
    static nlohmann::json to_data(const UserRegistered& event) {
        nlohmann::json data = nlohmann::json::object();
        data["user"] = user_to_json(event.user);
        data["email_sent"] = event.email_sent;
        detail::put_optional(data, "ip_address", event.ip_address);
        return data;
    }
    /// The event in `data`, strictly.
    static UserRegistered from_data(const DataReader& data) {
        UserRegistered event{user_from_data(data.object("user")), data.boolean("email_sent"),
                             data.optional_string("ip_address")};
        data.reject_unknown({"user", "email_sent", "ip_address"});
        return event;
    }
    /// `user/<id>`.
    static std::optional<std::string> subject(const UserRegistered& event) {
        return detail::user_subject(event.user);
    }
};

/// UserEmailVerified: data `{"user", "ip_address"?}`, subject `user/<id>`.
template <> struct EventCodec<UserEmailVerified> {
    static constexpr int version = 1; ///< Type "<prefix>.user_email_verified.v1".
    /// The event's data object.
    static nlohmann::json to_data(const UserEmailVerified& event) {
        nlohmann::json data = nlohmann::json::object();
        data["user"] = user_to_json(event.user);
        detail::put_optional(data, "ip_address", event.ip_address);
        return data;
    }
    /// The event in `data`, strictly.
    static UserEmailVerified from_data(const DataReader& data) {
        UserEmailVerified event{user_from_data(data.object("user")),
                                data.optional_string("ip_address")};
        data.reject_unknown({"user", "ip_address"});
        return event;
    }
    /// `user/<id>`.
    static std::optional<std::string> subject(const UserEmailVerified& event) {
        return detail::user_subject(event.user);
    }
};

/// UserLoginSuccessful: data `{"user", "ip_address"?, "required_2fa"}`, subject `user/<id>`.
template <> struct EventCodec<UserLoginSuccessful> {
    static constexpr int version = 1; ///< Type "<prefix>.user_login_successful.v1".
    /// The event's data object.
    static nlohmann::json to_data(const UserLoginSuccessful& event) {
        nlohmann::json data = nlohmann::json::object();
        data["user"] = user_to_json(event.user);
        detail::put_optional(data, "ip_address", event.ip_address);
        data["required_2fa"] = event.required_2fa;
        return data;
    }
    /// The event in `data`, strictly.
    static UserLoginSuccessful from_data(const DataReader& data) {
        UserLoginSuccessful event{user_from_data(data.object("user")),
                                  data.optional_string("ip_address"), data.boolean("required_2fa")};
        data.reject_unknown({"user", "ip_address", "required_2fa"});
        return event;
    }
    /// `user/<id>`.
    static std::optional<std::string> subject(const UserLoginSuccessful& event) {
        return detail::user_subject(event.user);
    }
};

/// UserLoginFailed: data `{"email", "reason", "ip_address"?}` with the reason's snake_case
/// word (to_string()); no subject (there may be no user). to_data throws CloudEventError
/// ("data.reason") for a reason that is not an enumerator; from_data for an unknown word,
/// listing the valid ones.
template <> struct EventCodec<UserLoginFailed> {
    static constexpr int version = 1; ///< Type "<prefix>.user_login_failed.v1".
    /// The event's data object.
    static nlohmann::json to_data(const UserLoginFailed& event) {
        nlohmann::json data = nlohmann::json::object();
        data["email"] = event.email;
        data["reason"] = detail::reason_to_json(event.reason);
        detail::put_optional(data, "ip_address", event.ip_address);
        return data;
    }
    /// The event in `data`, strictly.
    static UserLoginFailed from_data(const DataReader& data) {
        UserLoginFailed event{data.string("email"), detail::reason_from_data(data, "reason"),
                              data.optional_string("ip_address")};
        data.reject_unknown({"email", "reason", "ip_address"});
        return event;
    }
    /// std::nullopt: a failed login has no user.
    static std::optional<std::string> subject(const UserLoginFailed& /*event*/) {
        return std::nullopt;
    }
};

/// User2faEnabled: data `{"user"}`, subject `user/<id>`.
template <> struct EventCodec<User2faEnabled> : detail::UserOnlyCodec<User2faEnabled> {};

/// User2faDisabled: data `{"user"}`, subject `user/<id>`.
template <> struct EventCodec<User2faDisabled> : detail::UserOnlyCodec<User2faDisabled> {};

/// SellerApplicationSubmitted: data `{"application", "is_resubmission"}`, subject
/// `seller_application/<id>`.
template <> struct EventCodec<SellerApplicationSubmitted> {
    static constexpr int version = 1; ///< Type "<prefix>.seller_application_submitted.v1".
    /// The event's data object.
    static nlohmann::json to_data(const SellerApplicationSubmitted& event) {
        nlohmann::json data = nlohmann::json::object();
        data["application"] = application_to_json(event.application);
        data["is_resubmission"] = event.is_resubmission;
        return data;
    }
    /// The event in `data`, strictly.
    static SellerApplicationSubmitted from_data(const DataReader& data) {
        SellerApplicationSubmitted event{application_from_data(data.object("application")),
                                         data.boolean("is_resubmission")};
        data.reject_unknown({"application", "is_resubmission"});
        return event;
    }
    /// `seller_application/<id>`.
    static std::optional<std::string> subject(const SellerApplicationSubmitted& event) {
        return detail::application_subject(event.application);
    }
};

/// SellerApplicationApproved: data `{"application", "admin_user", "new_seller"}`, subject
/// `seller_application/<id>`.
template <> struct EventCodec<SellerApplicationApproved> {
    static constexpr int version = 1; ///< Type "<prefix>.seller_application_approved.v1".
    /// The event's data object.
    static nlohmann::json to_data(const SellerApplicationApproved& event) {
        nlohmann::json data = nlohmann::json::object();
        data["application"] = application_to_json(event.application);
        data["admin_user"] = user_to_json(event.admin_user);
        data["new_seller"] = user_to_json(event.new_seller);
        return data;
    }
    /// The event in `data`, strictly.
    static SellerApplicationApproved from_data(const DataReader& data) {
        SellerApplicationApproved event{application_from_data(data.object("application")),
                                        user_from_data(data.object("admin_user")),
                                        user_from_data(data.object("new_seller"))};
        data.reject_unknown({"application", "admin_user", "new_seller"});
        return event;
    }
    /// `seller_application/<id>`.
    static std::optional<std::string> subject(const SellerApplicationApproved& event) {
        return detail::application_subject(event.application);
    }
};

/// SellerApplicationRejected: data `{"application", "admin_user", "reason"}` (free text),
/// subject `seller_application/<id>`.
template <> struct EventCodec<SellerApplicationRejected> {
    static constexpr int version = 1; ///< Type "<prefix>.seller_application_rejected.v1".
    /// The event's data object.
    static nlohmann::json to_data(const SellerApplicationRejected& event) {
        nlohmann::json data = nlohmann::json::object();
        data["application"] = application_to_json(event.application);
        data["admin_user"] = user_to_json(event.admin_user);
        data["reason"] = event.reason;
        return data;
    }
    /// The event in `data`, strictly.
    static SellerApplicationRejected from_data(const DataReader& data) {
        SellerApplicationRejected event{application_from_data(data.object("application")),
                                        user_from_data(data.object("admin_user")),
                                        data.string("reason")};
        data.reject_unknown({"application", "admin_user", "reason"});
        return event;
    }
    /// `seller_application/<id>`.
    static std::optional<std::string> subject(const SellerApplicationRejected& event) {
        return detail::application_subject(event.application);
    }
};

/// ProfileUpdated: data `{"user", "updated_fields", "profile_completion"}`, subject
/// `user/<id>`.
template <> struct EventCodec<ProfileUpdated> {
    static constexpr int version = 1; ///< Type "<prefix>.profile_updated.v1".
    /// The event's data object. @throws CloudEventError("data.profile_completion") outside
    /// 0..100 (a percentage).
    static nlohmann::json to_data(const ProfileUpdated& event) {
        check_completion(event.profile_completion);
        nlohmann::json data = nlohmann::json::object();
        data["user"] = user_to_json(event.user);
        data["updated_fields"] = event.updated_fields;
        data["profile_completion"] = event.profile_completion;
        return data;
    }
    /// The event in `data`, strictly; profile_completion must be in 0..100.
    static ProfileUpdated from_data(const DataReader& data) {
        ProfileUpdated event{user_from_data(data.object("user")),
                             data.string_list("updated_fields"),
                             data.integer("profile_completion")};
        data.reject_unknown({"user", "updated_fields", "profile_completion"});
        check_completion(event.profile_completion);
        return event;
    }
    /// @throws CloudEventError("data.profile_completion") unless 0 <= completion <= 100.
    static void check_completion(int completion) {
        if (completion < 0 || completion > 100) {
            throw CloudEventError("data.profile_completion",
                                  std::to_string(completion) +
                                      " is out of range for a percentage (0..100)");
        }
    }
    /// `user/<id>`.
    static std::optional<std::string> subject(const ProfileUpdated& event) {
        return detail::user_subject(event.user);
    }
};

/// ProfilePictureUploaded: data `{"user", "file_key"}`, subject `user/<id>`.
template <> struct EventCodec<ProfilePictureUploaded> {
    static constexpr int version = 1; ///< Type "<prefix>.profile_picture_uploaded.v1".
    /// The event's data object.
    static nlohmann::json to_data(const ProfilePictureUploaded& event) {
        nlohmann::json data = nlohmann::json::object();
        data["user"] = user_to_json(event.user);
        data["file_key"] = event.file_key;
        return data;
    }
    /// The event in `data`, strictly.
    static ProfilePictureUploaded from_data(const DataReader& data) {
        ProfilePictureUploaded event{user_from_data(data.object("user")), data.string("file_key")};
        data.reject_unknown({"user", "file_key"});
        return event;
    }
    /// `user/<id>`.
    static std::optional<std::string> subject(const ProfilePictureUploaded& event) {
        return detail::user_subject(event.user);
    }
};

/// ProfilePictureDeleted: data `{"user"}`, subject `user/<id>`.
template <>
struct EventCodec<ProfilePictureDeleted> : detail::UserOnlyCodec<ProfilePictureDeleted> {};

namespace detail {

template <class Event, class = void> struct has_event_codec : std::false_type {};
template <class Event>
struct has_event_codec<
    Event, std::void_t<decltype(EventCodec<Event>::version),
                       decltype(EventCodec<Event>::to_data(std::declval<const Event&>())),
                       decltype(EventCodec<Event>::from_data(std::declval<const DataReader&>())),
                       decltype(EventCodec<Event>::subject(std::declval<const Event&>()))>>
    : std::bool_constant<
          std::is_convertible_v<decltype(EventCodec<Event>::version), int> &&
          std::is_convertible_v<decltype(EventCodec<Event>::to_data(std::declval<const Event&>())),
                                nlohmann::json> &&
          std::is_same_v<decltype(EventCodec<Event>::from_data(std::declval<const DataReader&>())),
                         Event> &&
          std::is_convertible_v<decltype(EventCodec<Event>::subject(std::declval<const Event&>())),
                                std::optional<std::string>>> {};

/// Instantiated by every function taking an event type: stops compilation with a readable
/// message when `Event` is not an event or has no EventCodec. `value` guards the body.
template <class Event> struct CodecCheck {
    static_assert(authevents::detail::is_event_v<Event>,
                  "authevents::bus: an event must be a class type with a static member `name` "
                  "convertible to std::string_view");
    static_assert(has_event_codec<Event>::value,
                  "authevents::bus::EventCodec<Event> is not specialised: specialise "
                  "`template <> struct authevents::bus::EventCodec<YourEvent>` with `static "
                  "constexpr int version`, `static nlohmann::json to_data(const YourEvent&)`, "
                  "`static YourEvent from_data(const authevents::bus::DataReader&)` and `static "
                  "std::optional<std::string> subject(const YourEvent&)` (see cloudevent.hpp)");
    static constexpr bool value =
        authevents::detail::is_event_v<Event> && has_event_codec<Event>::value;
};

/// Decodes `data` with Event's codec (strict).
template <class Event> Event decode_data(const nlohmann::json& data) {
    return EventCodec<Event>::from_data(DataReader(data, "data"));
}

/// Decodes the data of `event` with Event's codec (strict), and checks that a subject, when
/// both the envelope and the codec have one, agrees with the data.
/// @throws CloudEventError naming the data field, or "subject" for a contradiction.
template <class Event> Event decode_event(const CloudEvent& event) {
    Event decoded = decode_data<Event>(event.data);
    if (event.subject) {
        const std::optional<std::string> derived = EventCodec<Event>::subject(decoded);
        if (derived && *derived != *event.subject) {
            throw CloudEventError("subject", "contradicts the data: the data gives " +
                                                 quote_for_message(*derived) + ", the envelope " +
                                                 quote_for_message(*event.subject));
        }
    }
    return decoded;
}

/// @throws CloudEventError("source") unless `source` is a URI-reference.
inline void check_source(const std::string& source) {
    if (!is_uri_reference(source)) {
        throw CloudEventError("source", "expected a URI-reference (RFC 3986) such as "
                                        "\"/auth-service\", got " +
                                            quote_for_message(source));
    }
}

} // namespace detail

/// How to build CloudEvents: the producing service and the type prefix. A plain value.
struct CloudEventOptions {
    std::string source = "/auth-service";   ///< URI-reference of the producing service.
    std::string type_prefix = "authevents"; ///< type = "<type_prefix>.<name>.v<version>".
};

/// The CloudEvent type of `Event`: "<type_prefix>.<Event::name>.v<version>", e.g.
/// "authevents.user_registered.v1" ("<name>.v<version>" for an empty prefix).
/// Thread-safe, pure; throws only std::bad_alloc.
template <class Event> std::string cloud_event_type(std::string_view type_prefix) {
    std::string type;
    if constexpr (detail::CodecCheck<Event>::value) {
        type.append(type_prefix);
        if (!type.empty()) {
            type += '.';
        }
        type.append(Event::name);
        type += ".v";
        type += std::to_string(EventCodec<Event>::version);
    }
    return type;
}

/// `event` as a CloudEvent: a fresh id (new_event_id()), the time now (rfc3339_now()),
/// `options.source`, the type cloud_event_type<Event>(options.type_prefix), and the subject
/// and data from EventCodec<Event>.
///
/// Thread-safe if the codec is (the built-in ones are). @throws CloudEventError("source") for
/// a source that is empty or not a URI-reference, what the codec throws
/// (CloudEventError("data.reason") for a LoginFailureReason that is not an enumerator,
/// CloudEventError("data.profile_completion") outside 0..100), std::bad_alloc.
template <class Event>
CloudEvent to_cloud_event(const Event& event, const CloudEventOptions& options = {}) {
    CloudEvent result;
    if constexpr (detail::CodecCheck<Event>::value) {
        if (options.source.empty()) {
            throw CloudEventError("source", "must not be empty (e.g. \"/auth-service\")");
        }
        detail::check_source(options.source);
        result.id = new_event_id();
        result.source = options.source;
        result.type = cloud_event_type<Event>(options.type_prefix);
        result.subject = EventCodec<Event>::subject(event);
        result.time = rfc3339_now();
        result.data = EventCodec<Event>::to_data(event);
    }
    return result;
}

/// The `Event` in `event`: checks that the type is exactly cloud_event_type<Event>(type_prefix),
/// decodes the data strictly with EventCodec<Event>::from_data, and checks that the subject,
/// if set, is the one the codec derives from the data (when it derives one). Other attributes
/// are not checked (parse_cloud_event() did).
///
/// Thread-safe if the codec is. @throws CloudEventError("type", "expected authevents.x.v1, got
/// ...") for another type; CloudEventError naming the data field for bad data;
/// CloudEventError("subject") for a subject that contradicts the data.
template <class Event>
Event from_cloud_event(const CloudEvent& event, std::string_view type_prefix = "authevents") {
    if constexpr (detail::CodecCheck<Event>::value) {
        const std::string expected = cloud_event_type<Event>(type_prefix);
        if (event.type != expected) {
            throw CloudEventError("type", "expected " + expected + ", got " +
                                              detail::quote_for_message(event.type));
        }
        return detail::decode_event<Event>(event);
    } else {
        throw std::logic_error("unreachable: rejected at compile time");
    }
}

/// Maps CloudEvent types to event types, both ways: encodes the EventViews dispatcher
/// observers see, and decodes CloudEvents and re-dispatches them into an EventDispatcher.
/// Knows the twelve built-in events from construction; add() registers custom ones.
///
/// Thread-safety: build it at start-up, then share it: the const members may be called from
/// any number of threads at once; add() must not run concurrently with any other use.
/// Copyable and movable.
class EventTypeRegistry {
public:
    /// A registry of the twelve built-in events with the default CloudEventOptions. Not
    /// explicit, so `{}` works where a registry is expected. @throws std::bad_alloc.
    EventTypeRegistry() : EventTypeRegistry(CloudEventOptions{}) {}

    /// A registry of the twelve built-in events, encoding with `options`.
    /// @throws std::invalid_argument for an `options.source` that is empty or not a
    /// URI-reference; std::bad_alloc.
    explicit EventTypeRegistry(CloudEventOptions options) : options_(std::move(options)) {
        if (options_.source.empty()) {
            throw std::invalid_argument(
                "authevents::bus::EventTypeRegistry: CloudEventOptions::source must not be empty");
        }
        if (!is_uri_reference(options_.source)) {
            throw std::invalid_argument("authevents::bus::EventTypeRegistry: "
                                        "CloudEventOptions::source must be a URI-reference, got " +
                                        detail::quote_for_message(options_.source));
        }
        add_all(static_cast<BuiltinEvents*>(nullptr));
    }

    /// Registers `Event` (which needs an EventCodec specialisation). Adding a registered event
    /// type again does nothing. Not thread-safe (see the class). Strong guarantee.
    /// @throws std::invalid_argument naming the type when another event type already has the
    /// same CloudEvent type string; std::bad_alloc.
    template <class Event> EventTypeRegistry& add() {
        if constexpr (detail::CodecCheck<Event>::value) {
            const void* key = EventView::key_of<Event>();
            if (by_key_.count(key) != 0) {
                return *this;
            }
            std::string type = cloud_event_type<Event>(options_.type_prefix);
            const auto clash = by_type_.find(type);
            if (clash != by_type_.end()) {
                throw std::invalid_argument(
                    "authevents::bus::EventTypeRegistry: CloudEvent type '" + type +
                    "' is already registered for another event type (named '" +
                    std::string(entries_[clash->second].name) + "')");
            }
            entries_.push_back(Entry{std::move(type), Event::name, key, &encode_view<Event>,
                                     &decode_and_dispatch<Event>});
            try {
                by_type_.emplace(entries_.back().type, entries_.size() - 1);
                by_key_.emplace(key, entries_.size() - 1);
            } catch (...) {
                by_type_.erase(entries_.back().type);
                entries_.pop_back();
                throw;
            }
        }
        return *this;
    }

    /// The options events are encoded with. Thread-safe, noexcept.
    [[nodiscard]] const CloudEventOptions& options() const noexcept { return options_; }

    /// True when `type` (a CloudEvent type string) is registered. Thread-safe, noexcept.
    [[nodiscard]] bool knows(std::string_view type) const noexcept {
        return by_type_.find(type) != by_type_.end();
    }

    /// All registered CloudEvent types, in registration order (the built-in ones first, in
    /// BuiltinEvents order). Thread-safe; throws only std::bad_alloc.
    [[nodiscard]] std::vector<std::string> types() const {
        std::vector<std::string> result;
        result.reserve(entries_.size());
        for (const Entry& entry : entries_) {
            result.push_back(entry.type);
        }
        return result;
    }

    /// The viewed event as a CloudEvent (see to_cloud_event()), or std::nullopt when its event
    /// type is not registered. Thread-safe. @throws what to_cloud_event() throws.
    [[nodiscard]] std::optional<CloudEvent> encode(const EventView& view) const {
        const auto found = by_key_.find(view.type_key());
        if (found == by_key_.end()) {
            return std::nullopt;
        }
        return entries_[found->second].encode(view, options_);
    }

    /// `event` as a CloudEvent with this registry's options (see to_cloud_event()); works
    /// whether or not `Event` is registered. Thread-safe. @throws what to_cloud_event() throws.
    template <class Event> [[nodiscard]] CloudEvent encode(const Event& event) const {
        return to_cloud_event(event, options_);
    }

    /// Decodes `event` by its type and dispatches the result with `dispatcher.dispatch(e)`,
    /// i.e. from the event's default sender (EventSender), returning the dispatch's report.
    /// Handler exceptions are reported, not thrown (see EventDispatcher::dispatch).
    ///
    /// Thread-safe. @throws CloudEventError("type", "unknown event type ...") for a type not
    /// registered (the message lists the known ones); CloudEventError naming the data field
    /// for bad data, or "subject" for a subject that contradicts the data (nothing is
    /// dispatched then); std::bad_alloc.
    DispatchReport dispatch(const CloudEvent& event, EventDispatcher& dispatcher) const {
        const auto found = by_type_.find(event.type);
        if (found == by_type_.end()) {
            std::string known;
            for (const Entry& entry : entries_) {
                known += known.empty() ? "" : ", ";
                known += entry.type;
            }
            throw CloudEventError("type", "unknown event type " +
                                              detail::quote_for_message(event.type) +
                                              " (known: " + known + ")");
        }
        return entries_[found->second].dispatch(event, dispatcher);
    }

private:
    struct Entry {
        std::string type;
        std::string_view name;
        const void* key = nullptr;
        CloudEvent (*encode)(const EventView&, const CloudEventOptions&) = nullptr;
        DispatchReport (*dispatch)(const CloudEvent&, EventDispatcher&) = nullptr;
    };

    template <class... Events> void add_all(std::tuple<Events...>* /*tag*/) {
        (add<Events>(), ...);
    }

    template <class Event>
    static CloudEvent encode_view(const EventView& view, const CloudEventOptions& options) {
        const Event* event = view.get_if<Event>();
        if (event == nullptr) {
            throw std::logic_error("authevents::bus::EventTypeRegistry: event type mismatch");
        }
        return to_cloud_event(*event, options);
    }

    template <class Event>
    static DispatchReport decode_and_dispatch(const CloudEvent& event,
                                              EventDispatcher& dispatcher) {
        return dispatcher.dispatch(detail::decode_event<Event>(event));
    }

    CloudEventOptions options_;
    std::vector<Entry> entries_{};
    std::map<std::string, std::size_t, std::less<>> by_type_{};
    std::unordered_map<const void*, std::size_t> by_key_{};
};

} // namespace authevents::bus
