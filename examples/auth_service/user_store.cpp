#include "user_store.hpp"

#include "errors.hpp"

#include <string>
#include <utility>

namespace authsvc {

authevents::User to_event_user(const UserRecord& record) {
    return authevents::User{record.id, record.email, record.first_name, record.last_name,
                            record.language};
}

int profile_completion(const UserRecord& record) {
    const bool items[] = {!record.first_name.empty(), !record.last_name.empty(),
                          !record.phone.empty(),      !record.bio.empty(),
                          !record.city.empty(),       record.picture_key.has_value()};
    int filled = 0;
    for (const bool item : items) {
        filled += item ? 1 : 0;
    }
    return filled * 100 / static_cast<int>(std::size(items));
}

UserRecord& UserStore::add(UserRecord user) {
    user.id = next_user_id_++;
    ids_by_email_.emplace(user.email, user.id);
    return users_.emplace(user.id, std::move(user)).first->second;
}

UserRecord& UserStore::get(std::int64_t id) {
    return const_cast<UserRecord&>(std::as_const(*this).get(id));
}

const UserRecord& UserStore::get(std::int64_t id) const {
    const auto found = users_.find(id);
    if (found == users_.end()) {
        throw NotFoundError("no user with id " + std::to_string(id));
    }
    return found->second;
}

UserRecord* UserStore::find_by_email(std::string_view email) {
    return const_cast<UserRecord*>(std::as_const(*this).find_by_email(email));
}

const UserRecord* UserStore::find_by_email(std::string_view email) const {
    const auto found = ids_by_email_.find(std::string(email));
    return found == ids_by_email_.end() ? nullptr : &users_.at(found->second);
}

ApplicationRecord& UserStore::add_application(ApplicationRecord application) {
    application.id = next_application_id_++;
    return applications_.emplace(application.id, std::move(application)).first->second;
}

ApplicationRecord& UserStore::get_application(std::int64_t id) {
    return const_cast<ApplicationRecord&>(std::as_const(*this).get_application(id));
}

const ApplicationRecord& UserStore::get_application(std::int64_t id) const {
    const auto found = applications_.find(id);
    if (found == applications_.end()) {
        throw NotFoundError("no seller application with id " + std::to_string(id));
    }
    return found->second;
}

ApplicationRecord* UserStore::latest_application_of(std::int64_t user_id) {
    for (auto it = applications_.rbegin(); it != applications_.rend(); ++it) {
        if (it->second.user_id == user_id) {
            return &it->second;
        }
    }
    return nullptr;
}

} // namespace authsvc
