/// @file
/// The CloudEvents 1.0 envelope in structured JSON mode: CloudEventError, CloudEvent, strict
/// reading (cloud_event_from_json(), parse_cloud_event() with CloudEventLimits) and writing
/// (to_json(), to_json_text()), and the attribute checks is_uri_reference() and
/// is_json_media_type().
///
/// Part of authevents::bus (CMake target authevents::bus); uses nlohmann-json.
#pragma once

#include <authevents/bus/detail/json.hpp>
#include <authevents/bus/time.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
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
} // namespace authevents::bus

namespace authevents::detail {
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
                    throw bus::CloudEventError(path(),
                                               "duplicate member name (each may appear once)");
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
} // namespace authevents::detail

namespace authevents::bus {

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
/// ("application/json; charset=utf-8"). Thread-safe, pure. @throws std::bad_alloc only.
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

/// A structured-mode JSON object of `event` whose members keep this order: specversion, id,
/// source, type, subject (only when set), time (only when not empty), datacontenttype, then
/// data (an ordered_json; converting it to nlohmann::json sorts the members by name).
/// Does not validate. Thread-safe, pure. @throws std::bad_alloc only.
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
/// event does not round-trip exactly, but it is never lost. Thread-safe, pure. @throws
/// std::bad_alloc only.
inline std::string to_json_text(const CloudEvent& event) {
    return detail::dump_json(to_json(event));
}

} // namespace authevents::bus

namespace authevents::detail {

/// The required, non-empty string attribute `name` of the envelope `object`.
inline std::string required_attribute(const nlohmann::json& object, std::string_view name) {
    const nlohmann::json* value = find_member(object, name);
    if (value == nullptr) {
        throw bus::CloudEventError(std::string(name), "required attribute is missing");
    }
    if (!value->is_string()) {
        throw bus::CloudEventError(std::string(name),
                                   "expected a string, got " + describe_json_type(*value));
    }
    const auto& text = value->get_ref<const std::string&>();
    if (text.empty()) {
        throw bus::CloudEventError(std::string(name), "must not be empty");
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
        throw bus::CloudEventError(std::string(name),
                                   "expected a string, got " + describe_json_type(*value));
    }
    return value->get<std::string>();
}

} // namespace authevents::detail

namespace authevents::bus {

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

} // namespace authevents::bus

namespace authevents::detail {

/// Checks `text` against `limits` in one iterative pass (no recursion, no allocation),
/// before the parser sees it. Malformed JSON is left to the parser.
/// @throws CloudEventError naming the limit that `text` exceeds.
inline void check_cloud_event_limits(std::string_view text, const bus::CloudEventLimits& limits) {
    auto exceeded = [](const char* what, std::size_t limit, const char* option) {
        return bus::CloudEventError("", std::string(what) + " exceeds the limit of " +
                                            std::to_string(limit) +
                                            " (CloudEventLimits::" + option + ")");
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

} // namespace authevents::detail

namespace authevents::bus {

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

} // namespace authevents::bus
