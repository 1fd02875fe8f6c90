// Profile picture housekeeping (the reference's use cases for profile_picture_uploaded and
// profile_picture_deleted): thumbnails are made for each upload and, on delete, removed and
// purged from the CDN cache. One handler object for two events, connected with
// authevents::receiver<ProfilePictureUploaded, ProfilePictureDeleted>(...) and Overloaded.
#pragma once

#include "activity.hpp"

#include <authevents/dispatcher.hpp>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace authsvc::handlers {

/// Thumbnails per user and the CDN paths purged. Thread-safe.
class MediaPipeline {
public:
    explicit MediaPipeline(Activity activity = {});

    /// Connects "media.thumbnails" to both picture events; returns the connections.
    std::vector<authevents::Connection> connect(authevents::EventDispatcher& dispatcher);

    /// profile_picture_uploaded: makes the 64 and 256 pixel thumbnails of the new picture.
    void on_uploaded(const authevents::ProfilePictureUploaded& event);
    /// profile_picture_deleted: deletes the user's thumbnails and purges them from the CDN.
    void on_deleted(const authevents::ProfilePictureDeleted& event);

    /// The thumbnail keys a user has now.
    [[nodiscard]] std::vector<std::string> thumbnails_of(std::int64_t user_id) const;
    /// Every key purged from the CDN, in order.
    [[nodiscard]] std::vector<std::string> purged() const;

private:
    Activity activity_;
    mutable std::mutex mutex_;
    std::map<std::int64_t, std::vector<std::string>> thumbnails_;
    std::vector<std::string> purged_;
};

} // namespace authsvc::handlers
