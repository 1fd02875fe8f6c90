/// @file
/// EventCodec specialisations for the twelve built-in events, and the JSON of User and
/// SellerApplication.
///
/// Part of authevents::bus (CMake target authevents::bus); uses nlohmann-json.
#pragma once

#include <authevents/bus/codec.hpp>
#include <authevents/bus/data_reader.hpp>
#include <authevents/bus/detail/json.hpp>
#include <authevents/bus/envelope.hpp>
#include <authevents/events.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace authevents::bus {

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

} // namespace authevents::bus

namespace authevents::detail {

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
        throw bus::CloudEventError("data.reason", "not a LoginFailureReason enumerator (value " +
                                                      std::to_string(static_cast<int>(reason)) +
                                                      ")");
    }
    return to_string(reason);
}

inline LoginFailureReason reason_from_data(const bus::DataReader& data, std::string_view key) {
    const std::string word = data.string(key);
    try {
        return login_failure_reason_from_string(word);
    } catch (const std::invalid_argument& error) {
        throw bus::CloudEventError(join_path(data.path(), key), error.what());
    }
}

/// Just the user, for the events whose data is `{"user": ...}`.
template <class Event> struct UserOnlyCodec {
    static constexpr int version = 1;
    static nlohmann::json to_data(const Event& event) {
        nlohmann::json data = nlohmann::json::object();
        data["user"] = bus::user_to_json(event.user);
        return data;
    }
    static Event from_data(const bus::DataReader& data) {
        Event event{bus::user_from_data(data.object("user"))};
        data.reject_unknown({"user"});
        return event;
    }
    static std::optional<std::string> subject(const Event& event) {
        return user_subject(event.user);
    }
};

} // namespace authevents::detail

namespace authevents::bus {

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

} // namespace authevents::bus
