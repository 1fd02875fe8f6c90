// The service's in-memory persistence: users and seller applications. Not thread-safe on its
// own; AuthService guards it with its mutex.
#pragma once

#include <authevents/events.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace authsvc {

/// Everything the service stores about a user (the `CustomUser` row).
struct UserRecord {
    std::int64_t id = 0;
    std::string email;         ///< Normalized (see normalize_email()).
    std::string password_hash; ///< crypto_pwhash_str output; never the password itself.
    std::string first_name;
    std::string last_name;
    std::string language = "en";
    std::string phone;
    std::string bio;
    std::string city;
    std::optional<std::string> picture_key; ///< Storage key of the profile picture, if any.
    bool is_active = true;
    bool email_verified = false;
    bool two_factor_enabled = false;
    bool is_seller = false;
    bool is_admin = false;
};

/// The value snapshot events carry (authevents::User) of `record`.
authevents::User to_event_user(const UserRecord& record);

/// Profile completion in percent (0 to 100): the share of the six profile items that are
/// filled in: first name, last name, phone, bio, city and profile picture.
int profile_completion(const UserRecord& record);

/// Where a seller application stands.
enum class ApplicationStatus { pending, approved, rejected };

/// A seller application row.
struct ApplicationRecord {
    std::int64_t id = 0;
    std::int64_t user_id = 0;
    std::string seller_type; ///< "individual" or "business".
    ApplicationStatus status = ApplicationStatus::pending;
    std::string rejection_reason; ///< Set when rejected.
};

/// Users by id and by email, and seller applications by id. References it returns stay valid
/// until the store is destroyed (rows are never removed).
class UserStore {
public:
    /// Stores `user` under a new id and returns the stored row. The email must be unused.
    UserRecord& add(UserRecord user);
    /// The user with `id`; throws NotFoundError.
    UserRecord& get(std::int64_t id);
    const UserRecord& get(std::int64_t id) const;
    /// The user with the normalized `email`, or nullptr.
    UserRecord* find_by_email(std::string_view email);
    const UserRecord* find_by_email(std::string_view email) const;
    /// Number of users.
    [[nodiscard]] std::size_t size() const noexcept { return users_.size(); }

    /// Stores `application` under a new id and returns the stored row.
    ApplicationRecord& add_application(ApplicationRecord application);
    /// The application with `id`; throws NotFoundError.
    ApplicationRecord& get_application(std::int64_t id);
    const ApplicationRecord& get_application(std::int64_t id) const;
    /// The newest application of `user_id`, or nullptr.
    ApplicationRecord* latest_application_of(std::int64_t user_id);

private:
    std::map<std::int64_t, UserRecord> users_;
    std::unordered_map<std::string, std::int64_t> ids_by_email_;
    std::map<std::int64_t, ApplicationRecord> applications_;
    std::int64_t next_user_id_ = 1;
    std::int64_t next_application_id_ = 1;
};

} // namespace authsvc
