// Sample users, applications and one filled-in value of every built-in event, shared by the
// event, format, dispatcher and testing tests.
#pragma once

#include <authevents/events.hpp>

#include <string>
#include <type_traits>
#include <vector>

namespace samples {

inline authevents::User ana() { return {42, "ana@example.com", "Ana", "Lima", "es"}; }
inline authevents::User admin() { return {1, "admin@example.com", "Ada", "Min", "en"}; }
inline authevents::SellerApplication application() { return {7, ana(), "individual"}; }

inline authevents::UserRegistered user_registered() { return {ana(), true, "203.0.113.7"}; }
inline authevents::UserEmailVerified user_email_verified() { return {ana(), "203.0.113.8"}; }
inline authevents::UserLoginSuccessful user_login_successful() {
    return {ana(), "203.0.113.9", true};
}
inline authevents::UserLoginFailed user_login_failed() {
    return {"ana@example.com", authevents::LoginFailureReason::wrong_password, "198.51.100.1"};
}
inline authevents::User2faEnabled user_2fa_enabled() { return {ana()}; }
inline authevents::User2faDisabled user_2fa_disabled() { return {ana()}; }
inline authevents::SellerApplicationSubmitted seller_application_submitted() {
    return {application(), true};
}
inline authevents::SellerApplicationApproved seller_application_approved() {
    return {application(), admin(), ana()};
}
inline authevents::SellerApplicationRejected seller_application_rejected() {
    return {application(), admin(), "Missing tax documents"};
}
inline authevents::ProfileUpdated profile_updated() {
    return {ana(), {"first_name", "language"}, 80};
}
inline authevents::ProfilePictureUploaded profile_picture_uploaded() {
    return {ana(), "avatars/42.png"};
}
inline authevents::ProfilePictureDeleted profile_picture_deleted() { return {ana()}; }

/// The sample value of event type E.
template <class E> E sample() {
    if constexpr (std::is_same_v<E, authevents::UserRegistered>) {
        return user_registered();
    } else if constexpr (std::is_same_v<E, authevents::UserEmailVerified>) {
        return user_email_verified();
    } else if constexpr (std::is_same_v<E, authevents::UserLoginSuccessful>) {
        return user_login_successful();
    } else if constexpr (std::is_same_v<E, authevents::UserLoginFailed>) {
        return user_login_failed();
    } else if constexpr (std::is_same_v<E, authevents::User2faEnabled>) {
        return user_2fa_enabled();
    } else if constexpr (std::is_same_v<E, authevents::User2faDisabled>) {
        return user_2fa_disabled();
    } else if constexpr (std::is_same_v<E, authevents::SellerApplicationSubmitted>) {
        return seller_application_submitted();
    } else if constexpr (std::is_same_v<E, authevents::SellerApplicationApproved>) {
        return seller_application_approved();
    } else if constexpr (std::is_same_v<E, authevents::SellerApplicationRejected>) {
        return seller_application_rejected();
    } else if constexpr (std::is_same_v<E, authevents::ProfileUpdated>) {
        return profile_updated();
    } else if constexpr (std::is_same_v<E, authevents::ProfilePictureUploaded>) {
        return profile_picture_uploaded();
    } else if constexpr (std::is_same_v<E, authevents::ProfilePictureDeleted>) {
        return profile_picture_deleted();
    } else {
        static_assert(std::is_same_v<E, void>, "no sample for this type");
    }
}

} // namespace samples
