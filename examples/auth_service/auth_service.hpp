// AuthService: registration, email verification, login with optional 2FA, seller
// applications and profiles, over an in-memory store.
//
// It dispatches one authevents event per business action through the EventDispatcher it is
// given, and knows nothing of who listens: welcome emails, analytics, CRM sync, security
// monitoring and badges are handlers (see handlers/), connected by the application.
#pragma once

#include "clock.hpp"
#include "mail.hpp"
#include "password_hasher.hpp"
#include "user_store.hpp"

#include <authevents/dispatcher.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace authsvc {

/// Sends the service's own mail (verification links, sign-in codes). May throw: the service
/// then reports email_sent=false or fails the request.
using Mailer = std::function<void(const mail::Message&)>;

/// Tunables of AuthService.
struct AuthServiceOptions {
    /// Failed logins for one email within failed_login_window after which login() answers
    /// rate_limited without checking the password.
    std::size_t max_failed_logins = 8;
    std::chrono::minutes failed_login_window{15};
    std::chrono::minutes sign_in_code_ttl{5}; ///< How long a 2FA code is valid.
    int max_sign_in_code_attempts = 3;        ///< Wrong codes before the challenge is dropped.
    std::size_t max_picture_bytes = 5 * 1024 * 1024;
    /// What a password hash costs; PasswordCost::minimum only in tests and load demos.
    PasswordCost password_cost = PasswordCost::interactive;
};

/// A sign-up request.
struct Registration {
    std::string email;
    std::string password;
    std::string first_name;
    std::string last_name;
    std::string language = "en";
};

/// A profile edit: only the fields that are set are changed.
struct ProfileChanges {
    std::optional<std::string> first_name;
    std::optional<std::string> last_name;
    std::optional<std::string> language;
    std::optional<std::string> phone;
    std::optional<std::string> bio;
    std::optional<std::string> city;
};

/// What update_profile() did.
struct ProfileUpdateResult {
    authevents::User user;
    std::vector<std::string> updated_fields; ///< Empty when nothing changed (no event then).
    int profile_completion = 0;
};

/// The outcome of a login step.
enum class LoginStatus { success, two_factor_required, failed };

/// What login() or verify_2fa() answered.
struct LoginResult {
    LoginStatus status = LoginStatus::failed;
    std::optional<authevents::LoginFailureReason> failure; ///< Set when status == failed.
    std::optional<authevents::User> user;                  ///< Set on success.
    std::string challenge_id;  ///< Set when two_factor_required: pass it to verify_2fa().
    std::string session_token; ///< Set on success.

    /// True on success.
    [[nodiscard]] bool ok() const noexcept { return status == LoginStatus::success; }
};

/// A read-only view of an account, for callers and tests.
struct AccountInfo {
    authevents::User user;
    bool is_active = true;
    bool email_verified = false;
    bool two_factor_enabled = false;
    bool is_seller = false;
    std::optional<std::string> picture_key;
    int profile_completion = 0;
};

/// The authentication service. Thread-safe: every member may be called from any thread. It
/// never holds its lock while dispatching, so handlers may call back into it.
///
/// Requests it refuses throw ValidationError, NotFoundError, ConflictError or
/// PermissionDeniedError (see errors.hpp). Failed logins are results, not exceptions.
/// Handler failures never reach it: the dispatcher logs and reports them.
class AuthService {
public:
    /// A service dispatching through `events` (which must outlive it), sending its own mail
    /// with `mailer` and reading time from `clock`.
    AuthService(authevents::EventDispatcher& events, Mailer mailer, Clock clock = system_clock(),
                AuthServiceOptions options = {});

    /// Creates an account and emails a verification link. Dispatches user_registered.
    /// Throws ValidationError (bad email, weak password, bad language) or ConflictError
    /// (email taken).
    authevents::User register_user(const Registration& request,
                                   std::optional<std::string> ip_address = {});

    /// Marks the email of the token's owner verified. Dispatches user_email_verified.
    /// Throws NotFoundError for an unknown or used token.
    authevents::User verify_email(std::string_view token,
                                  std::optional<std::string> ip_address = {});

    /// First login step: checks the password. With 2FA on, emails a sign-in code and answers
    /// two_factor_required; else answers success. Dispatches user_login_successful or
    /// user_login_failed (wrong_password, user_not_found, account_inactive,
    /// email_not_verified, rate_limited).
    LoginResult login(std::string_view email, std::string_view password,
                      std::optional<std::string> ip_address = {});

    /// Second login step: checks the emailed code. Dispatches user_login_successful (with
    /// required_2fa) or user_login_failed (invalid_2fa_code). Throws NotFoundError when the
    /// challenge is unknown or expired.
    LoginResult verify_2fa(std::string_view challenge_id, std::string_view code,
                           std::optional<std::string> ip_address = {});

    /// Turns on two-factor login. Dispatches user_2fa_enabled. Throws ConflictError if on.
    authevents::User enable_2fa(std::int64_t user_id);
    /// Turns it off after re-checking the password. Dispatches user_2fa_disabled. Throws
    /// ConflictError if off, PermissionDeniedError for a wrong password.
    authevents::User disable_2fa(std::int64_t user_id, std::string_view password);

    /// Submits a seller application, or resubmits a rejected one (is_resubmission).
    /// Dispatches seller_application_submitted. Throws ValidationError for a seller type other
    /// than "individual" or "business", ConflictError when the email is unverified, an
    /// application is pending, or the user already sells.
    authevents::SellerApplication submit_seller_application(std::int64_t user_id,
                                                            std::string seller_type);
    /// Approves a pending application: its user becomes a seller. Dispatches
    /// seller_application_approved. Throws PermissionDeniedError unless `admin_id` is an admin.
    authevents::SellerApplication approve_seller_application(std::int64_t application_id,
                                                             std::int64_t admin_id);
    /// Rejects a pending application with a reason for the applicant. Dispatches
    /// seller_application_rejected.
    authevents::SellerApplication reject_seller_application(std::int64_t application_id,
                                                            std::int64_t admin_id,
                                                            std::string reason);

    /// Applies `changes`. Dispatches profile_updated (with the changed field names and the
    /// new completion) when something changed.
    ProfileUpdateResult update_profile(std::int64_t user_id, const ProfileChanges& changes);
    /// Stores a new profile picture (JPEG or PNG, 1 byte to max_picture_bytes) and returns its
    /// storage key. Dispatches profile_picture_uploaded.
    std::string upload_profile_picture(std::int64_t user_id, std::string_view content_type,
                                       std::size_t size_bytes);
    /// Removes the profile picture. Dispatches profile_picture_deleted. Throws NotFoundError
    /// when there is none.
    void delete_profile_picture(std::int64_t user_id);

    /// Support operations (no events): make a user an admin; deactivate an account.
    void grant_admin(std::int64_t user_id);
    void deactivate_user(std::int64_t user_id);

    /// The account of `user_id`; throws NotFoundError.
    [[nodiscard]] AccountInfo account(std::int64_t user_id) const;
    /// The account with `email`, if any.
    [[nodiscard]] std::optional<AccountInfo> find_account(std::string_view email) const;
    /// The status of an application; throws NotFoundError.
    [[nodiscard]] ApplicationStatus application_status(std::int64_t application_id) const;

private:
    struct Challenge {
        std::int64_t user_id = 0;
        std::string code;
        TimePoint expires;
        int attempts_left = 0;
    };

    LoginResult fail_login(const std::string& email, authevents::LoginFailureReason reason,
                           std::optional<std::string> ip_address, bool counts_towards_limit);
    LoginResult succeed_login(const authevents::User& user, std::optional<std::string> ip_address,
                              bool required_2fa);
    bool rate_limited_locked(const std::string& email);
    authevents::SellerApplication snapshot_locked(const ApplicationRecord& application);
    ApplicationRecord& pending_application_locked(std::int64_t application_id,
                                                  std::int64_t admin_id);

    authevents::EventDispatcher& events_;
    Mailer mailer_;
    Clock clock_;
    AuthServiceOptions options_;
    PasswordHasher hasher_;

    mutable std::mutex mutex_; // guards everything below
    UserStore store_;
    std::unordered_map<std::string, std::int64_t> verification_tokens_;
    std::unordered_map<std::string, Challenge> challenges_;
    std::unordered_map<std::string, std::deque<TimePoint>> failed_logins_;
    std::unordered_map<std::string, std::int64_t> sessions_;
};

/// A human-readable name of `status` ("pending", "approved", "rejected").
std::string_view to_string(ApplicationStatus status) noexcept;

} // namespace authsvc
