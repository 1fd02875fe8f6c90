#include "media.hpp"

#include <authevents/receiver.hpp>

#include <utility>

namespace authsvc::handlers {

MediaPipeline::MediaPipeline(Activity activity) : activity_(std::move(activity)) {}

std::vector<authevents::Connection>
MediaPipeline::connect(authevents::EventDispatcher& dispatcher) {
    using namespace authevents;
    return receiver<ProfilePictureUploaded, ProfilePictureDeleted>(
        dispatcher,
        Overloaded{[this](const ProfilePictureUploaded& event) { on_uploaded(event); },
                   [this](const ProfilePictureDeleted& event) { on_deleted(event); }},
        handler_options("media.thumbnails"));
}

void MediaPipeline::on_uploaded(const authevents::ProfilePictureUploaded& event) {
    const std::string stem = event.file_key.substr(0, event.file_key.rfind('.'));
    std::vector<std::string> made = {stem + "_64.webp", stem + "_256.webp"};
    std::vector<std::string> replaced;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        replaced = std::exchange(thumbnails_[event.user.id], made);
        purged_.insert(purged_.end(), replaced.begin(), replaced.end());
    }
    report(activity_, "media",
           "thumbnails " + made[0] + ", " + made[1] +
               (replaced.empty() ? "" : " (old ones purged from the CDN)"));
}

void MediaPipeline::on_deleted(const authevents::ProfilePictureDeleted& event) {
    std::vector<std::string> removed;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        removed = std::exchange(thumbnails_[event.user.id], {});
        purged_.insert(purged_.end(), removed.begin(), removed.end());
    }
    report(activity_, "media",
           "deleted " + std::to_string(removed.size()) + " thumbnails of " + event.user.email +
               " and purged them from the CDN cache");
}

std::vector<std::string> MediaPipeline::thumbnails_of(std::int64_t user_id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto found = thumbnails_.find(user_id);
    return found == thumbnails_.end() ? std::vector<std::string>{} : found->second;
}

std::vector<std::string> MediaPipeline::purged() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return purged_;
}

} // namespace authsvc::handlers
