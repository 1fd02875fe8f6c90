#include "crm_sync.hpp"

#include <utility>

namespace authsvc::handlers {

void FakeCrmClient::upsert_contact(const CrmContact& contact) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++requests_;
    if (fail_every_ != 0 && requests_ % fail_every_ == 0) {
        failed_.push_back(contact.email);
        throw CrmUnavailable("CRM API unavailable (HTTP 503) while saving contact " +
                             contact.email);
    }
    contacts_[contact.email] = contact;
}

std::optional<CrmContact> FakeCrmClient::contact(const std::string& email) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto found = contacts_.find(email);
    return found == contacts_.end() ? std::nullopt : std::optional<CrmContact>(found->second);
}

std::size_t FakeCrmClient::requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
}

std::vector<std::string> FakeCrmClient::failed_emails() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return failed_;
}

CrmSync::CrmSync(FakeCrmClient& crm, Activity activity)
    : crm_(crm), activity_(std::move(activity)) {}

std::vector<authevents::Connection> CrmSync::connect(authevents::EventDispatcher& dispatcher,
                                                     const authevents::Executor& background) {
    authevents::ConnectOptions create = handler_options("crm.create_contact", integration_priority);
    create.executor = background;
    authevents::ConnectOptions verify = handler_options("crm.mark_verified", integration_priority);
    verify.executor = background;
    return {
        dispatcher.user_registered.connect(
            [this](const authevents::UserRegistered& event) { on_user_registered(event); },
            std::move(create)),
        dispatcher.user_email_verified.connect(
            [this](const authevents::UserEmailVerified& event) { on_user_email_verified(event); },
            std::move(verify)),
    };
}

void CrmSync::on_user_registered(const authevents::UserRegistered& event) {
    sync(event.user, false);
}

void CrmSync::on_user_email_verified(const authevents::UserEmailVerified& event) {
    sync(event.user, true);
}

void CrmSync::sync(const authevents::User& user, bool verified) {
    // No try/catch: a failure propagates to the dispatcher, which logs it and runs the other
    // handlers. (Catch here instead if you want to retry or queue the sync.)
    crm_.upsert_contact(
        CrmContact{user.email, user.first_name + " " + user.last_name, user.language, verified});
    report(activity_, "crm",
           std::string(verified ? "contact marked verified: " : "contact created: ") + user.email);
}

} // namespace authsvc::handlers
