// What the fragments of docs/events.md use without declaring: the reader's own services.
// Declarations only: the fragments are compiled, not linked. Objects that bodies use are
// also their locals (AUTHEVENTS_SNIPPET_LOCALS), so a lambda must capture them.
#pragma once

#include <authevents/authevents.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace docs_events {

using Properties = std::map<std::string, std::variant<bool, std::int64_t, std::string>>;

struct Analytics {
    void track(std::string_view what, std::int64_t user_id, const Properties& properties);
};
struct Contact {
    std::string email;
    std::string name;
    bool verified = false;
};
struct Crm {
    void create_contact(const Contact& contact);
};
struct Devices {
    bool is_new(std::int64_t user_id, const std::string& ip_address);
};
struct SecurityMail {
    void new_device_alert(const authevents::User& user, const std::string& ip_address);
};
struct FailedAttempts {
    int record(const std::string& email);
};
struct SecurityAlerts {
    void send(std::string_view subject, const std::string& body);
};
struct Audit {
    void write(std::string_view event_name, std::int64_t user_id);
};
struct Log {
    template <class... T> void info(fmt::format_string<T...> format, T&&... arguments);
};
struct Mail {
    void send_rejection(const authevents::User& user, const std::string& reason);
};
struct Followups {
    void schedule(std::int64_t application_id, std::chrono::hours delay);
};
struct Badges {
    bool has(std::int64_t user_id, std::string_view badge);
    void award(std::int64_t user_id, std::string_view badge);
};
struct Thumbnails {
    void enqueue(const std::string& file_key);
};
struct Cdn {
    void purge_avatar(std::int64_t user_id);
};

extern Analytics analytics;
void notify_admins_new_application(const authevents::SellerApplication& application);
void send_seller_approval_email(const authevents::User& user,
                                const authevents::SellerApplication& application);
void track_event(std::string_view what, std::int64_t user_id, const Properties& properties);
void send_badge_earned_email(const authevents::User& user, std::string_view badge);

} // namespace docs_events

using namespace docs_events;

#define AUTHEVENTS_SNIPPET_LOCALS                                                                  \
    [[maybe_unused]] authevents::EventDispatcher dispatcher;                                       \
    [[maybe_unused]] Crm crm;                                                                      \
    [[maybe_unused]] Devices devices;                                                              \
    [[maybe_unused]] SecurityMail security_mail;                                                   \
    [[maybe_unused]] FailedAttempts failed_attempts;                                               \
    [[maybe_unused]] SecurityAlerts security_alerts;                                               \
    [[maybe_unused]] Audit audit;                                                                  \
    [[maybe_unused]] Log log;                                                                      \
    [[maybe_unused]] Mail mail;                                                                    \
    [[maybe_unused]] Followups followups;                                                          \
    [[maybe_unused]] Badges badges;                                                                \
    [[maybe_unused]] Thumbnails thumbnails;                                                        \
    [[maybe_unused]] Cdn cdn;
