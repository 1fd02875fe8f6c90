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
#include <utility>
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
        field_list(field("id", &User::id), field("email", &User::email, FieldKind::email),
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
    static constexpr auto fields = field_list(
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
//     (see EventSender in event_traits.hpp to customise this for your own events);
//   - is followed by its DispatcherEntryPoints specialisation, which gives EventDispatcher
//     the named member `<name>` and the Django-named method `dispatch_<name>(fields...)`.
// Thread-safety is that of the fields: concurrent reads of one event are safe.
//
// Adding a built-in event is this file only (plus its docs): the struct with its description,
// its DispatcherEntryPoints specialisation, and its place in BuiltinEvents at the end. The
// dispatcher, the formatter, the CloudEvent codec and the type registry derive the rest.

/// The members EventDispatcher has for the built-in event `Event`, written once next to the
/// event: `View <name>`, the connection side of the event's signal (View is
/// SignalView<Event>, see signal_view.hpp; its send() dispatches), and
/// `dispatch_<name>(fields...)`, the Django-named entry point that builds the event from its
/// fields in order and dispatches it. Being plain member functions (no templates), the entry
/// points accept braced lists, e.g. `dispatch_user_registered({42, "ana@example.com"}, true)`.
/// EventDispatcher derives from one specialisation per type in BuiltinEvents; custom events
/// have none (they use `EventDispatcher::dispatch(event)` and `signal<Event>()`).
template <class Event, class View> struct DispatcherEntryPoints;

/// A user completed registration. Django sender: the `CustomUser` class.
struct UserRegistered {
    static constexpr std::string_view name = "user_registered"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user;                             ///< The new user.
    bool email_sent = false;               ///< Whether the verification email was sent.
    std::optional<std::string> ip_address; ///< Registration IP address, if known.

    /// The description: one line per field, in order.
    static constexpr auto fields = field_list(
        field("user", &UserRegistered::user), field("email_sent", &UserRegistered::email_sent),
        field("ip_address", &UserRegistered::ip_address, FieldKind::ip_address));
};

/// EventDispatcher's `user_registered` and `dispatch_user_registered()`.
template <class View> struct DispatcherEntryPoints<UserRegistered, View> {
    View user_registered; ///< Handlers of UserRegistered (a view of its signal; send() dispatches).

    /// Dispatches UserRegistered{user, email_sent, ip_address}; see EventDispatcher::dispatch().
    typename View::report_type
    dispatch_user_registered(const User& user, bool email_sent,
                             std::optional<std::string> ip_address = {}) {
        return user_registered.send(UserRegistered{user, email_sent, std::move(ip_address)});
    }
};

/// A user verified their email address. Django sender: the `CustomUser` class.
struct UserEmailVerified {
    static constexpr std::string_view name = "user_email_verified"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user;                             ///< The verified user.
    std::optional<std::string> ip_address; ///< Verification IP address, if known.

    /// The description: one line per field, in order.
    static constexpr auto fields =
        field_list(field("user", &UserEmailVerified::user),
                   field("ip_address", &UserEmailVerified::ip_address, FieldKind::ip_address));
};

/// EventDispatcher's `user_email_verified` and `dispatch_user_email_verified()`.
template <class View> struct DispatcherEntryPoints<UserEmailVerified, View> {
    View user_email_verified; ///< Handlers of UserEmailVerified (a view of its signal; send()
                              ///< dispatches).

    /// Dispatches UserEmailVerified{user, ip_address}; see EventDispatcher::dispatch().
    typename View::report_type
    dispatch_user_email_verified(const User& user, std::optional<std::string> ip_address = {}) {
        return user_email_verified.send(UserEmailVerified{user, std::move(ip_address)});
    }
};

/// A user completed login. Django sender: the `CustomUser` class.
struct UserLoginSuccessful {
    static constexpr std::string_view name = "user_login_successful"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user;                             ///< The user who logged in.
    std::optional<std::string> ip_address; ///< Login IP address, if known.
    bool required_2fa = false;             ///< Whether a second factor was required.

    /// The description: one line per field, in order.
    static constexpr auto fields =
        field_list(field("user", &UserLoginSuccessful::user),
                   field("ip_address", &UserLoginSuccessful::ip_address, FieldKind::ip_address),
                   field("required_2fa", &UserLoginSuccessful::required_2fa));
};

/// EventDispatcher's `user_login_successful` and `dispatch_user_login_successful()`.
template <class View> struct DispatcherEntryPoints<UserLoginSuccessful, View> {
    View user_login_successful; ///< Handlers of UserLoginSuccessful (a view of its signal; send()
                                ///< dispatches).

    /// Dispatches UserLoginSuccessful{user, ip_address, required_2fa}; see
    /// EventDispatcher::dispatch().
    typename View::report_type
    dispatch_user_login_successful(const User& user, std::optional<std::string> ip_address = {},
                                   bool required_2fa = false) {
        return user_login_successful.send(
            UserLoginSuccessful{user, std::move(ip_address), required_2fa});
    }
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
        field_list(field("email", &UserLoginFailed::email, FieldKind::email),
                   field("reason", &UserLoginFailed::reason),
                   field("ip_address", &UserLoginFailed::ip_address, FieldKind::ip_address));
};

/// EventDispatcher's `user_login_failed` and `dispatch_user_login_failed()`.
template <class View> struct DispatcherEntryPoints<UserLoginFailed, View> {
    View user_login_failed; ///< Handlers of UserLoginFailed (a view of its signal; send()
                            ///< dispatches).

    /// Dispatches UserLoginFailed{email, reason, ip_address}; see EventDispatcher::dispatch().
    typename View::report_type
    dispatch_user_login_failed(std::string email, LoginFailureReason reason,
                               std::optional<std::string> ip_address = {}) {
        return user_login_failed.send(
            UserLoginFailed{std::move(email), reason, std::move(ip_address)});
    }
};

/// A user enabled two-factor authentication. Django sender: the `CustomUser` class.
struct User2faEnabled {
    static constexpr std::string_view name = "user_2fa_enabled"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user; ///< The user concerned.

    /// The description: one line per field, in order.
    static constexpr auto fields = field_list(field("user", &User2faEnabled::user));
};

/// EventDispatcher's `user_2fa_enabled` and `dispatch_user_2fa_enabled()`.
template <class View> struct DispatcherEntryPoints<User2faEnabled, View> {
    View
        user_2fa_enabled; ///< Handlers of User2faEnabled (a view of its signal; send() dispatches).

    /// Dispatches User2faEnabled{user}; see EventDispatcher::dispatch().
    typename View::report_type dispatch_user_2fa_enabled(const User& user) {
        return user_2fa_enabled.send(User2faEnabled{user});
    }
};

/// A user disabled two-factor authentication. Django sender: the `CustomUser` class.
struct User2faDisabled {
    static constexpr std::string_view name = "user_2fa_disabled"; ///< The Django signal name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user; ///< The user concerned.

    /// The description: one line per field, in order.
    static constexpr auto fields = field_list(field("user", &User2faDisabled::user));
};

/// EventDispatcher's `user_2fa_disabled` and `dispatch_user_2fa_disabled()`.
template <class View> struct DispatcherEntryPoints<User2faDisabled, View> {
    View user_2fa_disabled; ///< Handlers of User2faDisabled (a view of its signal; send()
                            ///< dispatches).

    /// Dispatches User2faDisabled{user}; see EventDispatcher::dispatch().
    typename View::report_type dispatch_user_2fa_disabled(const User& user) {
        return user_2fa_disabled.send(User2faDisabled{user});
    }
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
        field_list(field("application", &SellerApplicationSubmitted::application),
                   field("is_resubmission", &SellerApplicationSubmitted::is_resubmission));
};

/// EventDispatcher's `seller_application_submitted` and `dispatch_seller_application_submitted()`.
template <class View> struct DispatcherEntryPoints<SellerApplicationSubmitted, View> {
    View seller_application_submitted; ///< Handlers of SellerApplicationSubmitted (a view of its
                                       ///< signal; send() dispatches).

    /// Dispatches SellerApplicationSubmitted{application, is_resubmission}; see
    /// EventDispatcher::dispatch().
    typename View::report_type
    dispatch_seller_application_submitted(const SellerApplication& application,
                                          bool is_resubmission = false) {
        return seller_application_submitted.send(
            SellerApplicationSubmitted{application, is_resubmission});
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

    /// The description: one line per field, in order.
    static constexpr auto fields =
        field_list(field("application", &SellerApplicationApproved::application),
                   field("admin_user", &SellerApplicationApproved::admin_user),
                   field("new_seller", &SellerApplicationApproved::new_seller));
};

/// EventDispatcher's `seller_application_approved` and `dispatch_seller_application_approved()`.
template <class View> struct DispatcherEntryPoints<SellerApplicationApproved, View> {
    View seller_application_approved; ///< Handlers of SellerApplicationApproved (a view of its
                                      ///< signal; send() dispatches).

    /// Dispatches SellerApplicationApproved{application, admin_user, new_seller}; see
    /// EventDispatcher::dispatch().
    typename View::report_type
    dispatch_seller_application_approved(const SellerApplication& application,
                                         const User& admin_user, const User& new_seller) {
        return seller_application_approved.send(
            SellerApplicationApproved{application, admin_user, new_seller});
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

    /// The description: one line per field, in order.
    static constexpr auto fields =
        field_list(field("application", &SellerApplicationRejected::application),
                   field("admin_user", &SellerApplicationRejected::admin_user),
                   field("reason", &SellerApplicationRejected::reason, FieldKind::free_text));
};

/// EventDispatcher's `seller_application_rejected` and `dispatch_seller_application_rejected()`.
template <class View> struct DispatcherEntryPoints<SellerApplicationRejected, View> {
    View seller_application_rejected; ///< Handlers of SellerApplicationRejected (a view of its
                                      ///< signal; send() dispatches).

    /// Dispatches SellerApplicationRejected{application, admin_user, reason}; see
    /// EventDispatcher::dispatch().
    typename View::report_type
    dispatch_seller_application_rejected(const SellerApplication& application,
                                         const User& admin_user, std::string reason) {
        return seller_application_rejected.send(
            SellerApplicationRejected{application, admin_user, std::move(reason)});
    }
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
        field_list(field("user", &ProfileUpdated::user),
                   field("updated_fields", &ProfileUpdated::updated_fields),
                   field("profile_completion", &ProfileUpdated::profile_completion)
                       .in_range(0, 100, "a percentage"));
};

/// EventDispatcher's `profile_updated` and `dispatch_profile_updated()`.
template <class View> struct DispatcherEntryPoints<ProfileUpdated, View> {
    View profile_updated; ///< Handlers of ProfileUpdated (a view of its signal; send() dispatches).

    /// Dispatches ProfileUpdated{user, updated_fields, profile_completion}; see
    /// EventDispatcher::dispatch().
    typename View::report_type dispatch_profile_updated(const User& user,
                                                        std::vector<std::string> updated_fields,
                                                        int profile_completion) {
        return profile_updated.send(
            ProfileUpdated{user, std::move(updated_fields), profile_completion});
    }
};

/// A user uploaded a new profile picture. Django sender: the `CustomUser` class.
struct ProfilePictureUploaded {
    static constexpr std::string_view name = "profile_picture_uploaded"; ///< The Django name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user;            ///< The user concerned.
    std::string file_key; ///< Storage key (e.g. S3 key) of the uploaded file.

    /// The description: one line per field, in order.
    static constexpr auto fields =
        field_list(field("user", &ProfilePictureUploaded::user),
                   field("file_key", &ProfilePictureUploaded::file_key, FieldKind::free_text));
};

/// EventDispatcher's `profile_picture_uploaded` and `dispatch_profile_picture_uploaded()`.
template <class View> struct DispatcherEntryPoints<ProfilePictureUploaded, View> {
    View profile_picture_uploaded; ///< Handlers of ProfilePictureUploaded (a view of its signal;
                                   ///< send() dispatches).

    /// Dispatches ProfilePictureUploaded{user, file_key}; see EventDispatcher::dispatch().
    typename View::report_type dispatch_profile_picture_uploaded(const User& user,
                                                                 std::string file_key) {
        return profile_picture_uploaded.send(ProfilePictureUploaded{user, std::move(file_key)});
    }
};

/// A user deleted their profile picture. Django sender: the `CustomUser` class.
struct ProfilePictureDeleted {
    static constexpr std::string_view name = "profile_picture_deleted"; ///< The Django name.
    using sender_type = User; ///< Dispatched from `SenderId::type<User>()`.

    User user; ///< The user concerned.

    /// The description: one line per field, in order.
    static constexpr auto fields = field_list(field("user", &ProfilePictureDeleted::user));
};

/// EventDispatcher's `profile_picture_deleted` and `dispatch_profile_picture_deleted()`.
template <class View> struct DispatcherEntryPoints<ProfilePictureDeleted, View> {
    View profile_picture_deleted; ///< Handlers of ProfilePictureDeleted (a view of its signal;
                                  ///< send() dispatches).

    /// Dispatches ProfilePictureDeleted{user}; see EventDispatcher::dispatch().
    typename View::report_type dispatch_profile_picture_deleted(const User& user) {
        return profile_picture_deleted.send(ProfilePictureDeleted{user});
    }
};

/// The twelve built-in event types, in the order of docs/events.md (a new built-in event goes
/// here too: EventDispatcher, the bus registry and the tests iterate this list). Use with
/// `std::tuple_element_t` or a fold to visit every event type.
using BuiltinEvents =
    std::tuple<UserRegistered, UserEmailVerified, UserLoginSuccessful, UserLoginFailed,
               User2faEnabled, User2faDisabled, SellerApplicationSubmitted,
               SellerApplicationApproved, SellerApplicationRejected, ProfileUpdated,
               ProfilePictureUploaded, ProfilePictureDeleted>;

} // namespace authevents
