/// @file
/// The authentication domain events: plain value structs, one per Django signal.
///
/// Each type carries its description (`static constexpr auto fields`, see describe.hpp): the
/// field list that equality, the log line, the CloudEvent data and audit trails derive from.
/// Standard headers only (plus describe.hpp and redaction.hpp, which use nothing else). fmt
/// formatters for these types live in `authevents/format.hpp` (included by
/// `authevents/dispatcher.hpp`).
#pragma once

#include <authevents/describe.hpp>
#include <authevents/redaction.hpp>

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

    /// The description: equality, log text, CloudEvent data and audit fields derive from it.
    static constexpr auto fields =
        std::make_tuple(field("id", &User::id), field("email", &User::email, FieldKind::email),
                        field("first_name", &User::first_name, FieldKind::free_text),
                        field("last_name", &User::last_name, FieldKind::free_text),
                        field("language", &User::language));
};

/// A value snapshot of a seller application (Django's `SellerApplication` instance).
///
/// Copyable, equality-comparable value; thread-safety as for User.
struct SellerApplication {
    std::int64_t id = 0;     ///< Primary key of the application.
    User applicant;          ///< The user who applied.
    std::string seller_type; ///< Kind of seller applied for, e.g. "individual".

    /// The description (see User::fields).
    static constexpr auto fields = std::make_tuple(
        field("id", &SellerApplication::id), field("applicant", &SellerApplication::applicant),
        field("seller_type", &SellerApplication::seller_type));
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

/// LoginFailureReason's enumerators for descriptions (log words, CloudEvent data).
template <> struct EnumDescription<LoginFailureReason> {
    static constexpr const auto& values = login_failure_reasons;        ///< Every enumerator.
    static constexpr std::string_view what = "login failure reason";    ///< For messages.
    static constexpr std::string_view type_name = "LoginFailureReason"; ///< For messages.
};

/// The snake_case word for `reason`, e.g. "wrong_password"; "unknown" for a value that is
/// not an enumerator (e.g. cast from an out-of-range integer).
///
/// Returns a reference to a string with static storage duration, so it converts to
/// `std::string` or `std::string_view` without dangling. Thread-safe.
/// @throws std::bad_alloc only, on the very first call, when the words are built.
inline const std::string& to_string(LoginFailureReason reason) {
    static const std::array<std::string, 7> words = {
        "wrong_password",   "user_not_found", "account_inactive", "email_not_verified",
        "invalid_2fa_code", "rate_limited",   "unknown",
    };
    const auto index = static_cast<std::size_t>(reason);
    return index < login_failure_reasons.size() ? words[index] : words.back();
}

/// The reason whose to_string() word is exactly `word`; `std::nullopt` for any other text
/// (matching is exact: case and surrounding spaces count). Thread-safe.
/// @throws std::bad_alloc only, as for to_string().
inline std::optional<LoginFailureReason> parse_login_failure_reason(std::string_view word) {
    for (const LoginFailureReason reason : login_failure_reasons) {
        if (to_string(reason) == word) {
            return reason;
        }
    }
    return std::nullopt;
}

/// Like parse_login_failure_reason(), but throws on a word it does not know. Thread-safe.
///
/// @throws std::invalid_argument naming the rejected word and listing the valid ones, e.g.
/// `unknown login failure reason "bad_pin" (expected one of: wrong_password, ...)`.
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
//   - is a copyable value with == and != (every described field compared);
//   - has `static constexpr auto fields`, its description (see describe.hpp);
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

    /// The description: one line per field, in order.
    static constexpr auto fields = std::make_tuple(
        field("user", &UserRegistered::user), field("email_sent", &UserRegistered::email_sent),
        field("ip_address", &UserRegistered::ip_address, FieldKind::ip_address));
};

/// A user verified their email address. Django sender: the `CustomUser` class.
struct UserEmailVerified {
    static constexpr std::string_view name = "user_email_verified"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user;                             ///< The verified user.
    std::optional<std::string> ip_address; ///< Verification IP address, if known.

    /// The description: one line per field, in order.
    static constexpr auto fields =
        std::make_tuple(field("user", &UserEmailVerified::user),
                        field("ip_address", &UserEmailVerified::ip_address, FieldKind::ip_address));
};

/// A user completed login. Django sender: the `CustomUser` class.
struct UserLoginSuccessful {
    static constexpr std::string_view name = "user_login_successful"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user;                             ///< The user who logged in.
    std::optional<std::string> ip_address; ///< Login IP address, if known.
    bool required_2fa = false;             ///< Whether a second factor was required.

    /// The description: one line per field, in order.
    static constexpr auto fields = std::make_tuple(
        field("user", &UserLoginSuccessful::user),
        field("ip_address", &UserLoginSuccessful::ip_address, FieldKind::ip_address),
        field("required_2fa", &UserLoginSuccessful::required_2fa));
};

/// A login attempt failed. Django sender: None (there may be no user at all).
struct UserLoginFailed {
    static constexpr std::string_view name = "user_login_failed"; ///< The Django signal name.
    using sender_type = void; ///< Dispatched from `SenderId::any()` (Django's None).

    std::string email; ///< Email used for the attempt, as typed (untrusted input).
    LoginFailureReason reason = LoginFailureReason::wrong_password; ///< Why it failed.
    std::optional<std::string> ip_address; ///< Attempt IP address, if known.

    /// The description: one line per field, in order.
    static constexpr auto fields =
        std::make_tuple(field("email", &UserLoginFailed::email, FieldKind::email),
                        field("reason", &UserLoginFailed::reason),
                        field("ip_address", &UserLoginFailed::ip_address, FieldKind::ip_address));
};

/// A user enabled two-factor authentication. Django sender: the `CustomUser` class.
struct User2faEnabled {
    static constexpr std::string_view name = "user_2fa_enabled"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user; ///< The user concerned.

    /// The description: one line per field, in order.
    static constexpr auto fields = std::make_tuple(field("user", &User2faEnabled::user));
};

/// A user disabled two-factor authentication. Django sender: the `CustomUser` class.
struct User2faDisabled {
    static constexpr std::string_view name = "user_2fa_disabled"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user; ///< The user concerned.

    /// The description: one line per field, in order.
    static constexpr auto fields = std::make_tuple(field("user", &User2faDisabled::user));
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

    /// The description: one line per field, in order.
    static constexpr auto fields =
        std::make_tuple(field("application", &SellerApplicationSubmitted::application),
                        field("is_resubmission", &SellerApplicationSubmitted::is_resubmission));
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

    /// The description: one line per field, in order.
    static constexpr auto fields =
        std::make_tuple(field("application", &SellerApplicationApproved::application),
                        field("admin_user", &SellerApplicationApproved::admin_user),
                        field("new_seller", &SellerApplicationApproved::new_seller));
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

    /// The description: one line per field, in order.
    static constexpr auto fields =
        std::make_tuple(field("application", &SellerApplicationRejected::application),
                        field("admin_user", &SellerApplicationRejected::admin_user),
                        field("reason", &SellerApplicationRejected::reason, FieldKind::free_text));
};

/// A user updated their profile. Django sender: the `CustomUser` class.
struct ProfileUpdated {
    static constexpr std::string_view name = "profile_updated"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user;                               ///< The user, after the update.
    std::vector<std::string> updated_fields; ///< Names of the fields that changed.
    int profile_completion = 0;              ///< Profile completion percentage, 0 to 100.

    /// The description: one line per field, in order.
    static constexpr auto fields =
        std::make_tuple(field("user", &ProfileUpdated::user),
                        field("updated_fields", &ProfileUpdated::updated_fields),
                        field("profile_completion", &ProfileUpdated::profile_completion)
                            .in_range(0, 100, "a percentage"));
};

/// A user uploaded a new profile picture. Django sender: the `CustomUser` class.
struct ProfilePictureUploaded {
    static constexpr std::string_view name = "profile_picture_uploaded"; ///< The Django name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user;            ///< The user concerned.
    std::string file_key; ///< Storage key (e.g. S3 key) of the uploaded file.

    /// The description: one line per field, in order.
    static constexpr auto fields =
        std::make_tuple(field("user", &ProfilePictureUploaded::user),
                        field("file_key", &ProfilePictureUploaded::file_key, FieldKind::free_text));
};

/// A user deleted their profile picture. Django sender: the `CustomUser` class.
struct ProfilePictureDeleted {
    static constexpr std::string_view name = "profile_picture_deleted"; ///< The Django name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user; ///< The user concerned.

    /// The description: one line per field, in order.
    static constexpr auto fields = std::make_tuple(field("user", &ProfilePictureDeleted::user));
};

/// The twelve built-in event types, in the order of docs/events.md. Use with
/// `std::tuple_element_t` or a fold to visit every event type.
using BuiltinEvents =
    std::tuple<UserRegistered, UserEmailVerified, UserLoginSuccessful, UserLoginFailed,
               User2faEnabled, User2faDisabled, SellerApplicationSubmitted,
               SellerApplicationApproved, SellerApplicationRejected, ProfileUpdated,
               ProfilePictureUploaded, ProfilePictureDeleted>;

} // namespace authevents
