/// @file
/// The EventCodec customisation point: how an event type maps to a CloudEvent's type,
/// subject and data; cloud_event_type(), to_cloud_event() and from_cloud_event().
///
/// Part of authevents::bus (CMake target authevents::bus); uses nlohmann-json.
#pragma once

#include <authevents/bus/data_reader.hpp>
#include <authevents/bus/data_writer.hpp>
#include <authevents/bus/detail/json.hpp>
#include <authevents/bus/envelope.hpp>
#include <authevents/bus/ids.hpp>
#include <authevents/bus/time.hpp>
#include <authevents/describe.hpp>
#include <authevents/event_traits.hpp>
#include <authevents/events.hpp>
#include <authevents/field_sink.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace authevents::bus {

/// Customisation point: how `Event` maps to CloudEvents. An event with a description (see
/// describe.hpp), the twelve built-in ones included, gets a codec derived from it (the
/// partial specialisation below); an explicit specialisation overrides it, and is the way to
/// publish an event without a description, or to keep an old data layout:
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
/// Using an event with neither a description nor a specialisation stops compilation with
/// "authevents::bus::EventCodec<Event> is not specialised".
template <class Event, class = void> struct EventCodec;

} // namespace authevents::bus

namespace authevents::detail {

/// @throws bus::CloudEventError(path) when `field` is bounded and `value` is outside it.
template <class FieldT, class M>
void check_field_range(const FieldT& field, const M& value, const std::string& path) {
    if constexpr (is_optional<M>::value) {
        if (value) {
            check_field_range(field, *value, path);
        }
    } else if constexpr (std::is_integral_v<M> && !std::is_same_v<M, bool>) {
        if (field.bounded && (static_cast<std::int64_t>(value) < field.min ||
                              static_cast<std::int64_t>(value) > field.max)) {
            throw_out_of_range(path, std::to_string(value), field.min, field.max, field.range_name);
        }
    }
}

/// The JSON object of the described `object` (written by bus::DataWriter): one member per
/// field, in description order, absent optionals left out. `path` names it in errors.
/// @throws bus::CloudEventError for an enum value that is not an enumerator or an integer
/// outside its field's range.
template <class T> nlohmann::json encode_object(const T& object, const std::string& path) {
    static_assert(is_visitable_v<T>,
                  "authevents::bus: a described field's type must be bool, a number, "
                  "std::string, an enum with an authevents::EnumDescription, a described "
                  "type, or std::optional / std::vector of those");
    bus::DataWriter writer(path);
    write_fields(object, writer);
    return writer.take();
}

/// The `T` in the JSON `value` at `path`, strictly (type checked, integers range checked,
/// unknown members of objects rejected). @throws bus::CloudEventError naming the path.
template <class T> T decode_value(const nlohmann::json& value, const std::string& path);

/// The described `T` in the object `data`: every field read (absent or null only for an
/// optional), range checked, then unknown members rejected. @throws bus::CloudEventError.
template <class T> T decode_object(const bus::DataReader& data) {
    T object{};
    for_each_field<T>([&](const auto& field) {
        auto& member = field.get(object);
        using M = std::remove_cv_t<std::remove_reference_t<decltype(member)>>;
        const std::string member_path = join_path(data.path(), field.name);
        if constexpr (is_optional<M>::value) {
            if constexpr (std::is_same_v<M, std::optional<std::string>>) {
                member = data.optional_string(field.name); // its messages, as before
            } else {
                const nlohmann::json* value =
                    data.contains(field.name) ? &data.raw(field.name) : nullptr;
                if (value != nullptr && !value->is_null()) {
                    member = decode_value<typename M::value_type>(*value, member_path);
                }
            }
        } else if constexpr (std::is_same_v<M, bool>) {
            member = data.boolean(field.name);
        } else if constexpr (std::is_same_v<M, int>) {
            member = data.integer(field.name);
        } else if constexpr (std::is_same_v<M, std::int64_t>) {
            member = data.int64(field.name);
        } else if constexpr (std::is_same_v<M, std::string>) {
            member = data.string(field.name);
        } else if constexpr (std::is_same_v<M, std::vector<std::string>>) {
            member = data.string_list(field.name);
        } else if constexpr (is_described_v<M>) {
            member = decode_object<M>(data.object(field.name));
        } else {
            member = decode_value<M>(data.raw(field.name), member_path);
        }
        check_field_range(field, member, member_path);
    });
    data.reject_unknown(field_names<T>());
    return object;
}

template <class T> T decode_value(const nlohmann::json& value, const std::string& path) {
    const auto expected = [&](const char* what) {
        return bus::CloudEventError(path, std::string("expected ") + what + ", got " +
                                              describe_json_type(value));
    };
    if constexpr (std::is_same_v<T, bool>) {
        if (!value.is_boolean()) {
            throw expected("a boolean");
        }
        return value.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
        if (!value.is_number_integer()) {
            throw expected("an integer");
        }
        if (value.is_number_unsigned()) {
            const auto number = value.get<std::uint64_t>();
            if (number > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
                throw bus::CloudEventError(path, dump_json(value) + " is out of range");
            }
            return static_cast<T>(number);
        }
        const auto number = value.get<std::int64_t>();
        if (number < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
            (number > 0 && static_cast<std::uint64_t>(number) >
                               static_cast<std::uint64_t>(std::numeric_limits<T>::max()))) {
            throw bus::CloudEventError(path, dump_json(value) + " is out of range");
        }
        return static_cast<T>(number);
    } else if constexpr (std::is_floating_point_v<T>) {
        if (!value.is_number()) {
            throw expected("a number");
        }
        return value.get<T>();
    } else if constexpr (std::is_same_v<T, std::string>) {
        if (!value.is_string()) {
            throw expected("a string");
        }
        return value.get<std::string>();
    } else if constexpr (is_described_enum_v<T>) {
        if (!value.is_string()) {
            throw expected("a string");
        }
        const auto& word = value.get_ref<const std::string&>();
        std::string known;
        for (const T candidate : EnumDescription<T>::values) {
            const std::string_view candidate_word = to_string(candidate);
            if (candidate_word == word) {
                return candidate;
            }
            known += known.empty() ? "" : ", ";
            known.append(candidate_word);
        }
        throw bus::CloudEventError(path, "unknown " + std::string(EnumDescription<T>::what) +
                                             " \"" + word + "\" (expected one of: " + known + ")");
    } else if constexpr (is_optional<T>::value) {
        if (value.is_null()) {
            return T{};
        }
        return decode_value<typename T::value_type>(value, path);
    } else if constexpr (is_vector<T>::value) {
        if (!value.is_array()) {
            throw expected("an array");
        }
        T result;
        result.reserve(value.size());
        for (std::size_t i = 0; i < value.size(); ++i) {
            result.push_back(decode_value<typename T::value_type>(
                value[i], path + "[" + std::to_string(i) + "]"));
        }
        return result;
    } else {
        static_assert(is_described_v<T>,
                      "authevents::bus: a described field's type must be bool, a number, "
                      "std::string, an enum with an authevents::EnumDescription, a described "
                      "type, or std::optional / std::vector of those");
        return decode_object<T>(bus::DataReader(value, path));
    }
}

/// `user/<id>` or `seller_application/<id>` for the first top-level, non-optional field of
/// the described `event` that holds a User or a SellerApplication (bus::SubjectFinder, the
/// rule DataWriter applies too); std::nullopt when none does.
template <class Event> std::optional<std::string> derived_subject(const Event& event) {
    bus::SubjectFinder finder;
    write_fields(event, finder);
    return finder.subject();
}

} // namespace authevents::detail

namespace authevents::bus {

/// The EventCodec every described event gets (see describe.hpp): version `Event::version` (a
/// `static constexpr int`) or 1; data: one member per field named as the field, nested
/// described types as objects, enums as their to_string() words, vectors as arrays, absent
/// optionals left out (read back from absent or null); from_data rejects unknown members,
/// checks every JSON type and integer range (and the range a field declares with
/// Field::in_range); subject `user/<id>` or `seller_application/<id>` from the first field
/// holding a User or a SellerApplication, else none. All members are thread-safe and pure.
template <class Event>
struct EventCodec<Event, std::enable_if_t<is_described_v<Event> && detail::is_event_v<Event>>> {
    static constexpr int version = detail::event_version<Event>(); ///< Part of the type.
    /// The event's data object. @throws CloudEventError naming the field (an enum value that
    /// is not an enumerator, an integer outside its declared range).
    static nlohmann::json to_data(const Event& event) {
        return detail::encode_object(event, "data");
    }
    /// The event in `data`, strictly. @throws CloudEventError naming the field.
    static Event from_data(const DataReader& data) { return detail::decode_object<Event>(data); }
    /// The subject derived from the data (see the class), or std::nullopt.
    static std::optional<std::string> subject(const Event& event) {
        return detail::derived_subject(event);
    }
};

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
                  "authevents::bus::EventCodec<Event> is not specialised and Event has no "
                  "description: describe the event's fields (`static constexpr auto fields = "
                  "std::make_tuple(authevents::field(\"name\", &YourEvent::member), ...);`, see "
                  "describe.hpp) or specialise "
                  "`template <> struct authevents::bus::EventCodec<YourEvent>` with `static "
                  "constexpr int version`, `static nlohmann::json to_data(const YourEvent&)`, "
                  "`static YourEvent from_data(const authevents::bus::DataReader&)` and `static "
                  "std::optional<std::string> subject(const YourEvent&)` (see codec.hpp)");
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

/// The parts of a CloudEvent type of the form cloud_event_type() makes.
struct CloudEventTypeParts {
    std::string_view prefix; ///< Everything before the name's dot; empty when there is none.
    std::string_view name;   ///< The event's name (never empty).
    int version = 0;         ///< The schema version (1 to 6 digits).
};

/// Splits `type` "<prefix>.<name>.v<version>" (or "<name>.v<version>") into its parts, or
/// std::nullopt when it has not that form: a non-empty name, then ".v" and 1 to 6 digits.
/// The parts view `type`. Thread-safe, pure, noexcept.
inline std::optional<CloudEventTypeParts> parse_cloud_event_type(std::string_view type) noexcept {
    const std::size_t dot_v = type.rfind(".v");
    if (dot_v == std::string_view::npos || dot_v == 0) {
        return std::nullopt;
    }
    const std::string_view digits = type.substr(dot_v + 2);
    if (digits.empty() || digits.size() > 6 ||
        digits.find_first_not_of("0123456789") != std::string_view::npos) {
        return std::nullopt;
    }
    CloudEventTypeParts parts;
    const std::size_t name_dot = type.rfind('.', dot_v - 1);
    const std::size_t name_start = name_dot == std::string_view::npos ? 0 : name_dot + 1;
    if (name_start == dot_v) {
        return std::nullopt; // "<prefix>..v1": no name
    }
    parts.prefix =
        name_dot == std::string_view::npos ? std::string_view() : type.substr(0, name_dot);
    parts.name = type.substr(name_start, dot_v - name_start);
    for (const char digit : digits) {
        parts.version = parts.version * 10 + (digit - '0');
    }
    return parts;
}

/// The CloudEvent type of `Event`: "<type_prefix>.<Event::name>.v<version>", e.g.
/// "authevents.user_registered.v1" ("<name>.v<version>" for an empty prefix).
/// Thread-safe, pure. @throws std::bad_alloc only.
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
/// Thread-safe if the codec is (the built-in ones are).
/// @throws CloudEventError("source") for a source that is empty or not a URI-reference, and
///         what the codec throws (CloudEventError("data.reason") for a LoginFailureReason that
///         is not an enumerator, CloudEventError("data.profile_completion") outside 0..100).
/// @throws std::bad_alloc if memory runs out.
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
