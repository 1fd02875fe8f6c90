#include "auth_service.hpp"

#include "errors.hpp"
#include "validation.hpp"

#include <exception>
#include <utility>

namespace authsvc {

using authevents::LoginFailureReason;

namespace {

constexpr std::size_t max_bio_length = 500;
constexpr std::size_t max_city_length = 80;
constexpr std::size_t max_reason_length = 500;

// Sets `field` to `value` if it differs, and records the field's name.
void apply(std::string& field, const std::optional<std::string>& value, const char* name,
           std::vector<std::string>& updated) {
    if (value && *value != field) {
        field = *value;
        updated.emplace_back(name);
    }
}

AccountInfo to_account(const UserRecord& record) {
    return AccountInfo{to_event_user(record),     record.is_active, record.email_verified,
                       record.two_factor_enabled, record.is_seller, record.picture_key,
                       profile_completion(record)};
}

} // namespace

std::string_view to_string(ApplicationStatus status) noexcept {
    switch (status) {
    case ApplicationStatus::pending:
        return "pending";
    case ApplicationStatus::approved:
        return "approved";
    case ApplicationStatus::rejected:
        return "rejected";
    }
    return "unknown";
}

AuthService::AuthService(authevents::EventDispatcher& events, Mailer mailer, Clock clock,
                         AuthServiceOptions options)
    : events_(events), mailer_(std::move(mailer)), clock_(std::move(clock)), options_(options),
      hasher_(options.password_cost) {}

authevents::User AuthService::register_user(const Registration& request,
                                            std::optional<std::string> ip_address) {
    const std::string email = normalize_email(request.email);
    validate_email(email);
    validate_password(request.password, email);
    validate_language(request.language);
    validate_names(request.first_name, request.last_name);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (store_.find_by_email(email) != nullptr) {
            throw ConflictError("email " + email + " is already registered");
        }
    }

    UserRecord record;
    record.email = email;
    record.password_hash = hasher_.hash(request.password); // slow on purpose: outside the lock
    record.first_name = request.first_name;
    record.last_name = request.last_name;
    record.language = request.language;
    const std::string token = random_hex(16);

    authevents::User user;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (store_.find_by_email(email) != nullptr) { // registered meanwhile by another thread
            throw ConflictError("email " + email + " is already registered");
        }
        user = to_event_user(store_.add(std::move(record)));
        verification_tokens_.emplace(token, user.id);
    }

    bool email_sent = false;
    try {
        mailer_(mail::Message{email, "Verify your email address",
                              "Confirm your address: https://shop.example/verify?token=" + token,
                              "verify_email"});
        email_sent = true;
    } catch (const std::exception&) {
        // The account exists; the user can ask for a new link. The event says it was not sent.
    }

    events_.dispatch_user_registered(user, email_sent, std::move(ip_address));
    return user;
}

authevents::User AuthService::verify_email(std::string_view token,
                                           std::optional<std::string> ip_address) {
    authevents::User user;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = verification_tokens_.find(std::string(token));
        if (found == verification_tokens_.end()) {
            throw NotFoundError("unknown or already used verification link");
        }
        UserRecord& record = store_.get(found->second);
        verification_tokens_.erase(found);
        record.email_verified = true;
        user = to_event_user(record);
    }
    events_.dispatch_user_email_verified(user, std::move(ip_address));
    return user;
}

bool AuthService::rate_limited_locked(const std::string& email) {
    const auto found = failed_logins_.find(email);
    if (found == failed_logins_.end()) {
        return false;
    }
    std::deque<TimePoint>& times = found->second;
    const TimePoint oldest_counted = clock_() - options_.failed_login_window;
    while (!times.empty() && times.front() < oldest_counted) {
        times.pop_front();
    }
    return times.size() >= options_.max_failed_logins;
}

LoginResult AuthService::fail_login(const std::string& email, LoginFailureReason reason,
                                    std::optional<std::string> ip_address,
                                    bool counts_towards_limit) {
    if (counts_towards_limit) {
        std::lock_guard<std::mutex> lock(mutex_);
        failed_logins_[email].push_back(clock_());
    }
    events_.dispatch_user_login_failed(email, reason, std::move(ip_address));
    LoginResult result;
    result.failure = reason;
    return result;
}

LoginResult AuthService::succeed_login(const authevents::User& user,
                                       std::optional<std::string> ip_address, bool required_2fa) {
    LoginResult result;
    result.status = LoginStatus::success;
    result.user = user;
    result.session_token = random_hex(16);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        sessions_.emplace(result.session_token, user.id);
    }
    events_.dispatch_user_login_successful(user, std::move(ip_address), required_2fa);
    return result;
}

LoginResult AuthService::login(std::string_view email_as_typed, std::string_view password,
                               std::optional<std::string> ip_address) {
    const std::string email = normalize_email(email_as_typed);
    std::optional<UserRecord> record;
    bool limited = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        limited = rate_limited_locked(email);
        if (!limited) {
            if (const UserRecord* found = store_.find_by_email(email)) {
                record = *found;
            }
        }
    }
    if (limited) {
        return fail_login(email, LoginFailureReason::rate_limited, std::move(ip_address), false);
    }
    if (!record) {
        return fail_login(email, LoginFailureReason::user_not_found, std::move(ip_address), true);
    }
    if (!hasher_.verify(record->password_hash, password)) {
        return fail_login(email, LoginFailureReason::wrong_password, std::move(ip_address), true);
    }
    if (!record->is_active) {
        return fail_login(email, LoginFailureReason::account_inactive, std::move(ip_address),
                          false);
    }
    if (!record->email_verified) {
        return fail_login(email, LoginFailureReason::email_not_verified, std::move(ip_address),
                          false);
    }
    if (!record->two_factor_enabled) {
        return succeed_login(to_event_user(*record), std::move(ip_address), false);
    }

    LoginResult result;
    result.status = LoginStatus::two_factor_required;
    result.challenge_id = random_hex(12);
    Challenge challenge{record->id, random_digits(6), clock_() + options_.sign_in_code_ttl,
                        options_.max_sign_in_code_attempts};
    const std::string code = challenge.code;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        challenges_.emplace(result.challenge_id, std::move(challenge));
    }
    mailer_(mail::Message{email, "Your sign-in code",
                          "Your sign-in code is " + code + ". It expires in " +
                              std::to_string(options_.sign_in_code_ttl.count()) + " minutes.",
                          "sign_in_code"});
    return result;
}

LoginResult AuthService::verify_2fa(std::string_view challenge_id, std::string_view code,
                                    std::optional<std::string> ip_address) {
    authevents::User user;
    bool matched = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = challenges_.find(std::string(challenge_id));
        if (found == challenges_.end() || found->second.expires < clock_()) {
            if (found != challenges_.end()) {
                challenges_.erase(found);
            }
            throw NotFoundError("unknown or expired sign-in challenge: log in again");
        }
        Challenge& challenge = found->second;
        user = to_event_user(store_.get(challenge.user_id));
        matched = constant_time_equal(challenge.code, code);
        if (matched || --challenge.attempts_left <= 0) {
            challenges_.erase(found);
        }
    }
    if (!matched) {
        return fail_login(user.email, LoginFailureReason::invalid_2fa_code, std::move(ip_address),
                          true);
    }
    return succeed_login(user, std::move(ip_address), true);
}

authevents::User AuthService::enable_2fa(std::int64_t user_id) {
    authevents::User user;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        UserRecord& record = store_.get(user_id);
        if (record.two_factor_enabled) {
            throw ConflictError("two-factor login is already enabled");
        }
        record.two_factor_enabled = true;
        user = to_event_user(record);
    }
    events_.dispatch_user_2fa_enabled(user);
    return user;
}

authevents::User AuthService::disable_2fa(std::int64_t user_id, std::string_view password) {
    UserRecord record;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        record = store_.get(user_id);
    }
    if (!record.two_factor_enabled) {
        throw ConflictError("two-factor login is not enabled");
    }
    if (!hasher_.verify(record.password_hash, password)) {
        throw PermissionDeniedError("wrong password: two-factor login stays on");
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        store_.get(user_id).two_factor_enabled = false;
    }
    authevents::User user = to_event_user(record);
    events_.dispatch_user_2fa_disabled(user);
    return user;
}

authevents::SellerApplication AuthService::snapshot_locked(const ApplicationRecord& application) {
    return authevents::SellerApplication{
        application.id, to_event_user(store_.get(application.user_id)), application.seller_type};
}

authevents::SellerApplication AuthService::submit_seller_application(std::int64_t user_id,
                                                                     std::string seller_type) {
    if (seller_type != "individual" && seller_type != "business") {
        throw ValidationError("seller_type", R"(must be "individual" or "business")");
    }
    authevents::SellerApplication application;
    bool is_resubmission = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const UserRecord& user = store_.get(user_id);
        if (!user.email_verified) {
            throw ConflictError("verify your email address before applying to sell");
        }
        if (user.is_seller) {
            throw ConflictError("you are already a seller");
        }
        ApplicationRecord* latest = store_.latest_application_of(user_id);
        if (latest != nullptr && latest->status == ApplicationStatus::pending) {
            throw ConflictError("your application is already under review");
        }
        is_resubmission = latest != nullptr && latest->status == ApplicationStatus::rejected;
        if (is_resubmission) {
            latest->status = ApplicationStatus::pending;
            latest->seller_type = std::move(seller_type);
            latest->rejection_reason.clear();
            application = snapshot_locked(*latest);
        } else {
            application = snapshot_locked(store_.add_application(ApplicationRecord{
                0, user_id, std::move(seller_type), ApplicationStatus::pending, {}}));
        }
    }
    events_.dispatch_seller_application_submitted(application, is_resubmission);
    return application;
}

ApplicationRecord& AuthService::pending_application_locked(std::int64_t application_id,
                                                           std::int64_t admin_id) {
    if (!store_.get(admin_id).is_admin) {
        throw PermissionDeniedError("only admins may review seller applications");
    }
    ApplicationRecord& application = store_.get_application(application_id);
    if (application.status != ApplicationStatus::pending) {
        throw ConflictError("application " + std::to_string(application_id) + " is " +
                            std::string(to_string(application.status)) + ", not pending");
    }
    return application;
}

authevents::SellerApplication AuthService::approve_seller_application(std::int64_t application_id,
                                                                      std::int64_t admin_id) {
    authevents::SellerApplication application;
    authevents::User admin;
    authevents::User seller;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        ApplicationRecord& record = pending_application_locked(application_id, admin_id);
        record.status = ApplicationStatus::approved;
        UserRecord& user = store_.get(record.user_id);
        user.is_seller = true;
        application = snapshot_locked(record);
        admin = to_event_user(store_.get(admin_id));
        seller = to_event_user(user);
    }
    events_.dispatch_seller_application_approved(application, admin, seller);
    return application;
}

authevents::SellerApplication AuthService::reject_seller_application(std::int64_t application_id,
                                                                     std::int64_t admin_id,
                                                                     std::string reason) {
    if (reason.find_first_not_of(" \t\n") == std::string::npos) {
        throw ValidationError("reason", "tell the applicant why the application was rejected");
    }
    validate_text("reason", reason, max_reason_length);
    authevents::SellerApplication application;
    authevents::User admin;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        ApplicationRecord& record = pending_application_locked(application_id, admin_id);
        record.status = ApplicationStatus::rejected;
        record.rejection_reason = reason;
        application = snapshot_locked(record);
        admin = to_event_user(store_.get(admin_id));
    }
    events_.dispatch_seller_application_rejected(application, admin, std::move(reason));
    return application;
}

ProfileUpdateResult AuthService::update_profile(std::int64_t user_id,
                                                const ProfileChanges& changes) {
    validate_names(changes.first_name.value_or(""), changes.last_name.value_or(""));
    if (changes.language) {
        validate_language(*changes.language);
    }
    validate_phone(changes.phone.value_or(""));
    validate_text("bio", changes.bio.value_or(""), max_bio_length);
    validate_text("city", changes.city.value_or(""), max_city_length);

    ProfileUpdateResult result;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        UserRecord& record = store_.get(user_id);
        apply(record.first_name, changes.first_name, "first_name", result.updated_fields);
        apply(record.last_name, changes.last_name, "last_name", result.updated_fields);
        apply(record.language, changes.language, "language", result.updated_fields);
        apply(record.phone, changes.phone, "phone", result.updated_fields);
        apply(record.bio, changes.bio, "bio", result.updated_fields);
        apply(record.city, changes.city, "city", result.updated_fields);
        result.user = to_event_user(record);
        result.profile_completion = profile_completion(record);
    }
    if (!result.updated_fields.empty()) {
        events_.dispatch_profile_updated(result.user, result.updated_fields,
                                         result.profile_completion);
    }
    return result;
}

std::string AuthService::upload_profile_picture(std::int64_t user_id, std::string_view content_type,
                                                std::size_t size_bytes) {
    std::string extension;
    if (content_type == "image/jpeg") {
        extension = ".jpg";
    } else if (content_type == "image/png") {
        extension = ".png";
    } else {
        throw ValidationError("picture",
                              "must be a JPEG or PNG image, not " + std::string(content_type));
    }
    if (size_bytes == 0 || size_bytes > options_.max_picture_bytes) {
        throw ValidationError(
            "picture", "must have 1 byte to " +
                           std::to_string(options_.max_picture_bytes / 1024 / 1024) + " MiB");
    }
    std::string key =
        "profile-pictures/" + std::to_string(user_id) + "/" + random_hex(8) + extension;
    authevents::User user;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        UserRecord& record = store_.get(user_id);
        record.picture_key = key;
        user = to_event_user(record);
    }
    events_.dispatch_profile_picture_uploaded(user, key);
    return key;
}

void AuthService::delete_profile_picture(std::int64_t user_id) {
    authevents::User user;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        UserRecord& record = store_.get(user_id);
        if (!record.picture_key) {
            throw NotFoundError("there is no profile picture to delete");
        }
        record.picture_key.reset();
        user = to_event_user(record);
    }
    events_.dispatch_profile_picture_deleted(user);
}

void AuthService::grant_admin(std::int64_t user_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    store_.get(user_id).is_admin = true;
}

void AuthService::deactivate_user(std::int64_t user_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    store_.get(user_id).is_active = false;
}

AccountInfo AuthService::account(std::int64_t user_id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return to_account(store_.get(user_id));
}

std::optional<AccountInfo> AuthService::find_account(std::string_view email) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const UserRecord* record = store_.find_by_email(normalize_email(email));
    return record == nullptr ? std::nullopt : std::optional<AccountInfo>(to_account(*record));
}

ApplicationStatus AuthService::application_status(std::int64_t application_id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return store_.get_application(application_id).status;
}

} // namespace authsvc
