// Profile changes: a confirmation naming the changed fields, and notices when the profile
// picture is replaced or removed.
#include "handlers.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace notifications::handlers {

std::vector<authevents::Connection> connect_profile_notices(authevents::EventDispatcher& dispatcher,
                                                            Notifier& notifier) {
    return {
        dispatcher.profile_updated.connect(
            [&notifier](const authevents::ProfileUpdated& event) {
                notifier.send(
                    {"email", event.user.email,
                     fmt::format("Profile updated ({}); {}% complete",
                                 fmt::join(event.updated_fields, ", "), event.profile_completion),
                     "profile_updated"});
            },
            uid("profile_updated")),
        dispatcher.profile_picture_uploaded.connect(
            [&notifier](const authevents::ProfilePictureUploaded& event) {
                notifier.send({"email", event.user.email, "Your new profile picture is live",
                               "picture_uploaded"});
            },
            uid("picture_uploaded")),
        dispatcher.profile_picture_deleted.connect(
            [&notifier](const authevents::ProfilePictureDeleted& event) {
                notifier.send({"email", event.user.email, "Your profile picture was removed",
                               "picture_deleted"});
            },
            uid("picture_deleted")),
    };
}

} // namespace notifications::handlers
