/// @file
/// The authentication domain events: plain value structs, one per Django signal.
///
/// Standard headers only. fmt formatters for these types live in `authevents/format.hpp`
/// (included by `authevents/dispatcher.hpp`).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace authevents {

/// A value snapshot of the service's user (Django's `CustomUser` instance).
///
/// Copyable, equality-comparable value; every operation is as thread-safe as the
/// standard strings it holds (concurrent reads are fine). Nothing here throws except
/// allocation when copying.
struct User {
    std::int64_t id = 0;    ///< Primary key of the user.
    std::string email;      ///< Email address the user signs in with.
    std::string first_name; ///< Given name; may be empty.
    std::string last_name;  ///< Family name; may be empty.
    std::string language;   ///< Preferred language code, e.g. "en" or "es".

    /// True when every field is equal.
    friend bool operator==(const User& a, const User& b) {
        return std::tie(a.id, a.email, a.first_name, a.last_name, a.language) ==
               std::tie(b.id, b.email, b.first_name, b.last_name, b.language);
    }
    /// Negation of `==`.
    friend bool operator!=(const User& a, const User& b) { return !(a == b); }
};

/// A value snapshot of a seller application (Django's `SellerApplication` instance).
///
/// Copyable, equality-comparable value; thread-safety as for User.
struct SellerApplication {
    std::int64_t id = 0;     ///< Primary key of the application.
    User applicant;          ///< The user who applied.
    std::string seller_type; ///< Kind of seller applied for, e.g. "individual".

    /// True when every field is equal.
    friend bool operator==(const SellerApplication& a, const SellerApplication& b) {
        return std::tie(a.id, a.applicant, a.seller_type) ==
               std::tie(b.id, b.applicant, b.seller_type);
    }
    /// Negation of `==`.
    friend bool operator!=(const SellerApplication& a, const SellerApplication& b) {
        return !(a == b);
    }
};

/// Why a login attempt failed (Django passes these words as the `reason` string).
enum class LoginFailureReason {
    wrong_password,     ///< The email exists but the password did not match.
    user_not_found,     ///< No user has this email.
    account_inactive,   ///< The account exists but is deactivated.
    email_not_verified, ///< The account's email address is not verified yet.
    invalid_2fa_code,   ///< The password was right but the second factor was not.
    rate_limited,       ///< Too many attempts; the attempt was refused unchecked.
};

/// Every LoginFailureReason, in declaration order (handy for loops and tests).
inline constexpr std::array<LoginFailureReason, 6> login_failure_reasons = {
    LoginFailureReason::wrong_password,   LoginFailureReason::user_not_found,
    LoginFailureReason::account_inactive, LoginFailureReason::email_not_verified,
    LoginFailureReason::invalid_2fa_code, LoginFailureReason::rate_limited,
};

/// The snake_case word for `reason`, e.g. "wrong_password"; "unknown" for a value that is
/// not an enumerator (e.g. cast from an out-of-range integer).
///
/// Returns a reference to a string with static storage duration, so it converts to
/// `std::string` or `std::string_view` without dangling. Thread-safe; does not throw
/// (apart from `std::bad_alloc` on the very first call, when the words are built).
inline const std::string& to_string(LoginFailureReason reason) {
    static const std::array<std::string, 7> words = {
        "wrong_password",   "user_not_found", "account_inactive", "email_not_verified",
        "invalid_2fa_code", "rate_limited",   "unknown",
    };
    const auto index = static_cast<std::size_t>(reason);
    return index < login_failure_reasons.size() ? words[index] : words.back();
}

/// The reason whose to_string() word is exactly `word`; `std::nullopt` for any other text
/// (matching is exact: case and surrounding spaces count). Thread-safe; does not throw
/// except `std::bad_alloc` as for to_string().
inline std::optional<LoginFailureReason> parse_login_failure_reason(std::string_view word) {
    for (const LoginFailureReason reason : login_failure_reasons) {
        if (to_string(reason) == word) {
            return reason;
        }
    }
    return std::nullopt;
}

/// Like parse_login_failure_reason(), but throws on a word it does not know.
///
/// @throws std::invalid_argument naming the rejected word and listing the valid ones, e.g.
/// `unknown login failure reason "bad_pin" (expected one of: wrong_password, ...)`.
/// Thread-safe.
inline LoginFailureReason login_failure_reason_from_string(std::string_view word) {
    if (const auto reason = parse_login_failure_reason(word)) {
        return *reason;
    }
    std::string message = "unknown login failure reason \"";
    message.append(word);
    message += "\" (expected one of: ";
    for (std::size_t i = 0; i < login_failure_reasons.size(); ++i) {
        message += (i == 0 ? "" : ", ");
        message += to_string(login_failure_reasons[i]);
    }
    message += ")";
    throw std::invalid_argument(message);
}

// Each event below:
//   - is a default-constructible aggregate, brace-initialisable with its fields in order;
//   - is a copyable value with == and != (all fields compared);
//   - has `static constexpr std::string_view name`, the Django signal name;
//   - has `using sender_type = ...`, the class Django passes as `sender` (void: Django's
//     None). EventDispatcher::dispatch(event) sends from `SenderId::type<sender_type>()`
//     (see EventSender in dispatcher.hpp to customise this for your own events).
// Thread-safety is that of the fields: concurrent reads of one event are safe.

/// A user completed registration. Django sender: the `CustomUser` class.
struct UserRegistered {
    static constexpr std::string_view name = "user_registered"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user;                             ///< The new user.
    bool email_sent = false;               ///< Whether the verification email was sent.
    std::optional<std::string> ip_address; ///< Registration IP address, if known.

    /// True when every field is equal.
    friend bool operator==(const UserRegistered& a, const UserRegistered& b) {
        return std::tie(a.user, a.email_sent, a.ip_address) ==
               std::tie(b.user, b.email_sent, b.ip_address);
    }
    /// Negation of `==`.
    friend bool operator!=(const UserRegistered& a, const UserRegistered& b) { return !(a == b); }
};

/// A user verified their email address. Django sender: the `CustomUser` class.
struct UserEmailVerified {
    static constexpr std::string_view name = "user_email_verified"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user;                             ///< The verified user.
    std::optional<std::string> ip_address; ///< Verification IP address, if known.

    /// True when every field is equal.
    friend bool operator==(const UserEmailVerified& a, const UserEmailVerified& b) {
        return std::tie(a.user, a.ip_address) == std::tie(b.user, b.ip_address);
    }
    /// Negation of `==`.
    friend bool operator!=(const UserEmailVerified& a, const UserEmailVerified& b) {
        return !(a == b);
    }
};

/// A user completed login. Django sender: the `CustomUser` class.
struct UserLoginSuccessful {
    static constexpr std::string_view name = "user_login_successful"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user;                             ///< The user who logged in.
    std::optional<std::string> ip_address; ///< Login IP address, if known.
    bool required_2fa = false;             ///< Whether a second factor was required.

    /// True when every field is equal.
    friend bool operator==(const UserLoginSuccessful& a, const UserLoginSuccessful& b) {
        return std::tie(a.user, a.ip_address, a.required_2fa) ==
               std::tie(b.user, b.ip_address, b.required_2fa);
    }
    /// Negation of `==`.
    friend bool operator!=(const UserLoginSuccessful& a, const UserLoginSuccessful& b) {
        return !(a == b);
    }
};

/// A login attempt failed. Django sender: None (there may be no user at all).
struct UserLoginFailed {
    static constexpr std::string_view name = "user_login_failed"; ///< The Django signal name.
    using sender_type = void; ///< Dispatched from `SenderId::any()` (Django's None).

    std::string email; ///< Email used for the attempt, as typed (untrusted input).
    LoginFailureReason reason = LoginFailureReason::wrong_password; ///< Why it failed.
    std::optional<std::string> ip_address; ///< Attempt IP address, if known.

    /// True when every field is equal.
    friend bool operator==(const UserLoginFailed& a, const UserLoginFailed& b) {
        return std::tie(a.email, a.reason, a.ip_address) ==
               std::tie(b.email, b.reason, b.ip_address);
    }
    /// Negation of `==`.
    friend bool operator!=(const UserLoginFailed& a, const UserLoginFailed& b) { return !(a == b); }
};

/// A user enabled two-factor authentication. Django sender: the `CustomUser` class.
struct User2faEnabled {
    static constexpr std::string_view name = "user_2fa_enabled"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user; ///< The user concerned.

    /// True when the users are equal.
    friend bool operator==(const User2faEnabled& a, const User2faEnabled& b) {
        return a.user == b.user;
    }
    /// Negation of `==`.
    friend bool operator!=(const User2faEnabled& a, const User2faEnabled& b) { return !(a == b); }
};

/// A user disabled two-factor authentication. Django sender: the `CustomUser` class.
struct User2faDisabled {
    static constexpr std::string_view name = "user_2fa_disabled"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user; ///< The user concerned.

    /// True when the users are equal.
    friend bool operator==(const User2faDisabled& a, const User2faDisabled& b) {
        return a.user == b.user;
    }
    /// Negation of `==`.
    friend bool operator!=(const User2faDisabled& a, const User2faDisabled& b) { return !(a == b); }
};

/// A seller application was submitted or resubmitted. Django sender: the
/// `SellerApplication` class.
struct SellerApplicationSubmitted {
    static constexpr std::string_view name =
        "seller_application_submitted"; ///< The Django signal name.
    using sender_type =
        SellerApplication; ///< Dispatched from `SenderId::type<SellerApplication>()`.

    SellerApplication application; ///< The application.
    bool is_resubmission = false;  ///< True for a resubmission after a rejection.

    /// True when every field is equal.
    friend bool operator==(const SellerApplicationSubmitted& a,
                           const SellerApplicationSubmitted& b) {
        return std::tie(a.application, a.is_resubmission) ==
               std::tie(b.application, b.is_resubmission);
    }
    /// Negation of `==`.
    friend bool operator!=(const SellerApplicationSubmitted& a,
                           const SellerApplicationSubmitted& b) {
        return !(a == b);
    }
};

/// An admin approved a seller application. Django sender: the `SellerApplication` class.
struct SellerApplicationApproved {
    static constexpr std::string_view name =
        "seller_application_approved"; ///< The Django signal name.
    using sender_type =
        SellerApplication; ///< Dispatched from `SenderId::type<SellerApplication>()`.

    SellerApplication application; ///< The approved application.
    User admin_user;               ///< The admin who approved it.
    User new_seller;               ///< The user who is now a seller.

    /// True when every field is equal.
    friend bool operator==(const SellerApplicationApproved& a, const SellerApplicationApproved& b) {
        return std::tie(a.application, a.admin_user, a.new_seller) ==
               std::tie(b.application, b.admin_user, b.new_seller);
    }
    /// Negation of `==`.
    friend bool operator!=(const SellerApplicationApproved& a, const SellerApplicationApproved& b) {
        return !(a == b);
    }
};

/// An admin rejected a seller application. Django sender: the `SellerApplication` class.
struct SellerApplicationRejected {
    static constexpr std::string_view name =
        "seller_application_rejected"; ///< The Django signal name.
    using sender_type =
        SellerApplication; ///< Dispatched from `SenderId::type<SellerApplication>()`.

    SellerApplication application; ///< The rejected application.
    User admin_user;               ///< The admin who rejected it.
    std::string reason;            ///< Rejection reason, free text for the applicant.

    /// True when every field is equal.
    friend bool operator==(const SellerApplicationRejected& a, const SellerApplicationRejected& b) {
        return std::tie(a.application, a.admin_user, a.reason) ==
               std::tie(b.application, b.admin_user, b.reason);
    }
    /// Negation of `==`.
    friend bool operator!=(const SellerApplicationRejected& a, const SellerApplicationRejected& b) {
        return !(a == b);
    }
};

/// A user updated their profile. Django sender: the `CustomUser` class.
struct ProfileUpdated {
    static constexpr std::string_view name = "profile_updated"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user;                               ///< The user, after the update.
    std::vector<std::string> updated_fields; ///< Names of the fields that changed.
    int profile_completion = 0;              ///< Profile completion percentage, 0 to 100.

    /// True when every field is equal.
    friend bool operator==(const ProfileUpdated& a, const ProfileUpdated& b) {
        return std::tie(a.user, a.updated_fields, a.profile_completion) ==
               std::tie(b.user, b.updated_fields, b.profile_completion);
    }
    /// Negation of `==`.
    friend bool operator!=(const ProfileUpdated& a, const ProfileUpdated& b) { return !(a == b); }
};

/// A user uploaded a new profile picture. Django sender: the `CustomUser` class.
struct ProfilePictureUploaded {
    static constexpr std::string_view name = "profile_picture_uploaded"; ///< The Django name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user;            ///< The user concerned.
    std::string file_key; ///< Storage key (e.g. S3 key) of the uploaded file.

    /// True when every field is equal.
    friend bool operator==(const ProfilePictureUploaded& a, const ProfilePictureUploaded& b) {
        return std::tie(a.user, a.file_key) == std::tie(b.user, b.file_key);
    }
    /// Negation of `==`.
    friend bool operator!=(const ProfilePictureUploaded& a, const ProfilePictureUploaded& b) {
        return !(a == b);
    }
};

/// A user deleted their profile picture. Django sender: the `CustomUser` class.
struct ProfilePictureDeleted {
    static constexpr std::string_view name = "profile_picture_deleted"; ///< The Django name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user; ///< The user concerned.

    /// True when the users are equal.
    friend bool operator==(const ProfilePictureDeleted& a, const ProfilePictureDeleted& b) {
        return a.user == b.user;
    }
    /// Negation of `==`.
    friend bool operator!=(const ProfilePictureDeleted& a, const ProfilePictureDeleted& b) {
        return !(a == b);
    }
};

/// The twelve built-in event types, in the order of docs/events.md. Use with
/// `std::tuple_element_t` or a fold to visit every event type.
using BuiltinEvents =
    std::tuple<UserRegistered, UserEmailVerified, UserLoginSuccessful, UserLoginFailed,
               User2faEnabled, User2faDisabled, SellerApplicationSubmitted,
               SellerApplicationApproved, SellerApplicationRejected, ProfileUpdated,
               ProfilePictureUploaded, ProfilePictureDeleted>;

} // namespace authevents
