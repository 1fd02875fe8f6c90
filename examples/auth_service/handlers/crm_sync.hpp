// Use case 3, external system integration: registered users become CRM contacts, marked
// verified once they verify their email. Connected the manual way, with
// dispatcher.user_registered.connect(...) on the named signals, as background handlers: a
// slow CRM API never slows a registration down.
//
// The CRM here is a stand-in that fails every Nth request (HTTP 503), deterministically. The
// handler lets the failure escape on purpose: the dispatcher logs it at error with the
// handler's dispatch_uid (as a queued handler's failure), and the other handlers and the
// service carry on, so a CRM outage never breaks a registration.
#pragma once

#include "activity.hpp"

#include <authevents/dispatcher.hpp>

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace authsvc::handlers {

/// A contact in the CRM.
struct CrmContact {
    std::string email;
    std::string name;
    std::string language;
    bool verified = false;
};

/// What the CRM client throws when the remote API is down.
class CrmUnavailable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// An in-memory stand-in for a remote CRM API. Every `fail_every`-th request throws
/// CrmUnavailable (0: never). Thread-safe.
class FakeCrmClient {
public:
    explicit FakeCrmClient(std::size_t fail_every = 3) : fail_every_(fail_every) {}

    /// Creates or replaces the contact with `contact.email`; throws CrmUnavailable.
    void upsert_contact(const CrmContact& contact);

    /// The contact with `email`, if the CRM has it.
    [[nodiscard]] std::optional<CrmContact> contact(const std::string& email) const;
    /// Requests made, failed ones included.
    [[nodiscard]] std::size_t requests() const;
    /// The emails of the requests that failed, in order.
    [[nodiscard]] std::vector<std::string> failed_emails() const;

private:
    std::size_t fail_every_;
    mutable std::mutex mutex_;
    std::size_t requests_ = 0;
    std::map<std::string, CrmContact> contacts_;
    std::vector<std::string> failed_;
};

/// The handlers syncing users to the CRM.
class CrmSync {
public:
    /// Syncs to `crm`, which must outlive the connections.
    explicit CrmSync(FakeCrmClient& crm, Activity activity = {});

    /// Connects "crm.create_contact" to user_registered and "crm.mark_verified" to
    /// user_email_verified as queued handlers running on `background` (an empty executor runs
    /// them on the dispatching thread) and returns the connections.
    std::vector<authevents::Connection> connect(authevents::EventDispatcher& dispatcher,
                                                const authevents::Executor& background = {});

    /// user_registered: creates the contact (unverified). Throws CrmUnavailable.
    void on_user_registered(const authevents::UserRegistered& event);
    /// user_email_verified: marks the contact verified. Throws CrmUnavailable.
    void on_user_email_verified(const authevents::UserEmailVerified& event);

private:
    void sync(const authevents::User& user, bool verified);

    FakeCrmClient& crm_;
    Activity activity_;
};

} // namespace authsvc::handlers
