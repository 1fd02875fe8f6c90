// What the fragments of docs/guide.md use without declaring: the reader's own services.
// Declarations only: the fragments are compiled, not linked. Objects that bodies use are
// also their locals (AUTHEVENTS_SNIPPET_LOCALS), so a lambda must capture them.
#pragma once

#include <authevents/authevents.hpp>

#include "catch_compat.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

using namespace authevents;

namespace docs_guide {

struct Form {};
struct FakeStore {};
struct Request {
    std::optional<std::string> client_ip() const;
};
struct UserRepository {
    User create(const Form& form);
};
struct Mailer {
    bool send_verification(const User& user);
    void send_welcome(const User& user);
};
struct Mail {
    void welcome(const User& user);
    void two_factor_notice(const User& user, std::string_view event_name);
    void password_changed(const User& user);
};
struct Crm {
    void add(const User& user);
    void create_contact(const User& user);
};
struct CrmTimeout : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct SecurityMonitor {
    template <class Event> void observe(const Event& event);
};
struct RetryQueue {
    void push(const UserRegistered& event);
};
class AuthService {
public:
    AuthService(EventDispatcher& dispatcher, FakeStore& store);
    void register_user(const Form& form);
};
struct Tenant {};
struct TenantEvent {
    static constexpr std::string_view name = "tenant_event";
    const Tenant* tenant = nullptr;
};

struct Database { // the service's own database connection
    void begin();
    void commit();
};

extern Mail mail;
extern Database database;
extern FakeStore fake_store;
extern Form form;
int run_service(EventDispatcher& dispatcher);
void send_spanish_welcome_email(const User& user);
void sync_to_mailchimp(const UserRegistered& event);

} // namespace docs_guide

using namespace docs_guide;

#define AUTHEVENTS_SNIPPET_LOCALS                                                                  \
    [[maybe_unused]] EventDispatcher dispatcher;                                                   \
    [[maybe_unused]] EventDispatcher dispatcher_;                                                  \
    [[maybe_unused]] Crm crm;                                                                      \
    [[maybe_unused]] SecurityMonitor security;                                                     \
    [[maybe_unused]] UserRepository users_;                                                        \
    [[maybe_unused]] Mailer mailer_;                                                               \
    [[maybe_unused]] Mailer mailer;                                                                \
    [[maybe_unused]] Request request;                                                              \
    [[maybe_unused]] User user;                                                                    \
    [[maybe_unused]] AuthService service(dispatcher, fake_store);                                  \
    [[maybe_unused]] RetryQueue retry_queue;
