/// @file
/// The codecs of the twelve built-in events, and the JSON of User and SellerApplication.
///
/// The built-in events' codecs are the ones derived from their descriptions (events.hpp) by
/// the partial specialisation of EventCodec in codec.hpp: version 1; data members named
/// exactly like the event's fields, User and SellerApplication as objects, the
/// LoginFailureReason as its word; an absent ip_address left out (read back from absent or
/// null); from_data rejects unknown members (a v1 schema is fixed: additions bump the
/// version); subject `user/<id>` or `seller_application/<id>` (none for user_login_failed).
/// This header checks that at compile time and offers the nested types' JSON on its own.
///
/// Part of authevents::bus (CMake target authevents::bus); uses nlohmann-json.
#pragma once

#include <authevents/bus/codec.hpp>
#include <authevents/bus/data_reader.hpp>
#include <authevents/events.hpp>

#include <nlohmann/json.hpp>

#include <tuple>

namespace authevents::bus {

/// JSON of a User: `{"id", "email", "first_name", "last_name", "language"}`.
/// Thread-safe, pure. @throws std::bad_alloc only.
inline nlohmann::json user_to_json(const User& user) { return detail::encode_object(user, ""); }

/// The User in `data` (as written by user_to_json()); every field required, no others
/// allowed. Thread-safe. @throws CloudEventError naming the field.
inline User user_from_data(const DataReader& data) { return detail::decode_object<User>(data); }

/// JSON of a SellerApplication: `{"id", "applicant": <user>, "seller_type"}`.
/// Thread-safe, pure. @throws std::bad_alloc only.
inline nlohmann::json application_to_json(const SellerApplication& application) {
    return detail::encode_object(application, "");
}

/// The SellerApplication in `data` (as written by application_to_json()); strict like
/// user_from_data(). Thread-safe. @throws CloudEventError naming the field.
inline SellerApplication application_from_data(const DataReader& data) {
    return detail::decode_object<SellerApplication>(data);
}

} // namespace authevents::bus

namespace authevents::detail {

template <class... Events> constexpr bool all_have_codecs(std::tuple<Events...>* /*tag*/) {
    return (... && has_event_codec<Events>::value);
}
static_assert(all_have_codecs(static_cast<BuiltinEvents*>(nullptr)),
              "every built-in event has a codec (derived from its description)");

} // namespace authevents::detail
