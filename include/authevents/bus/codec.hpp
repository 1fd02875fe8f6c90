/// @file
/// The EventCodec customisation point: how an event type maps to a CloudEvent's type,
/// subject and data; cloud_event_type(), to_cloud_event() and from_cloud_event().
///
/// Part of authevents::bus (CMake target authevents::bus); uses nlohmann-json.
#pragma once

#include <authevents/bus/data_reader.hpp>
#include <authevents/bus/detail/json.hpp>
#include <authevents/bus/envelope.hpp>
#include <authevents/bus/ids.hpp>
#include <authevents/bus/time.hpp>
#include <authevents/event_traits.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace authevents::bus {

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

} // namespace authevents::bus

namespace authevents::detail {

template <class Event, class = void> struct has_event_codec : std::false_type {};
template <class Event>
struct has_event_codec<
    Event,
    std::void_t<decltype(bus::EventCodec<Event>::version),
                decltype(bus::EventCodec<Event>::to_data(std::declval<const Event&>())),
                decltype(bus::EventCodec<Event>::from_data(std::declval<const bus::DataReader&>())),
                decltype(bus::EventCodec<Event>::subject(std::declval<const Event&>()))>>
    : std::bool_constant<std::is_convertible_v<decltype(bus::EventCodec<Event>::version), int> &&
                         std::is_convertible_v<decltype(bus::EventCodec<Event>::to_data(
                                                   std::declval<const Event&>())),
                                               nlohmann::json> &&
                         std::is_same_v<decltype(bus::EventCodec<Event>::from_data(
                                            std::declval<const bus::DataReader&>())),
                                        Event> &&
                         std::is_convertible_v<decltype(bus::EventCodec<Event>::subject(
                                                   std::declval<const Event&>())),
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
    return bus::EventCodec<Event>::from_data(bus::DataReader(data, "data"));
}

/// Decodes the data of `event` with Event's codec (strict), and checks that a subject, when
/// both the envelope and the codec have one, agrees with the data.
/// @throws CloudEventError naming the data field, or "subject" for a contradiction.
template <class Event> Event decode_event(const bus::CloudEvent& event) {
    Event decoded = decode_data<Event>(event.data);
    if (event.subject) {
        const std::optional<std::string> derived = bus::EventCodec<Event>::subject(decoded);
        if (derived && *derived != *event.subject) {
            throw bus::CloudEventError(
                "subject", "contradicts the data: the data gives " + quote_for_message(*derived) +
                               ", the envelope " + quote_for_message(*event.subject));
        }
    }
    return decoded;
}

/// @throws CloudEventError("source") unless `source` is a URI-reference.
inline void check_source(const std::string& source) {
    if (!bus::is_uri_reference(source)) {
        throw bus::CloudEventError("source", "expected a URI-reference (RFC 3986) such as "
                                             "\"/auth-service\", got " +
                                                 quote_for_message(source));
    }
}

} // namespace authevents::detail

namespace authevents::bus {

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

} // namespace authevents::bus
