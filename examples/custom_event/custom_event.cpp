// A custom event, user_password_changed, added in the reference's four steps:
//   1. define the event (its fields described once), 2. add a dispatch helper, 3. create the
//   handler, 4. dispatch from the service's change_password().
// The description is all the event needs: the dispatcher's [EVENT] line (redacted), the test
// recorder and, when they are built, the bus publisher (the CloudEvent encoding) and the audit
// log (its record, personal values sealed) derive from it; neither is told about the event.
// Only the consuming process names the type, to decode it into a UserPasswordChanged. The
// program changes a password, prints the transcript and checks that the event reached its
// handler, the recorder, the outbox and the audit trail; it exits non-zero if not.
#include "password_hasher.hpp" // the auth service example's libsodium hasher

#include <authevents/receiver.hpp>
#include <authevents/testing.hpp>
#if AUTHEVENTS_EXAMPLE_WITH_BUS
#include <authevents/bus/codec.hpp>
#include <authevents/bus/outbox.hpp>
#include <authevents/bus/publisher.hpp>
#include <authevents/bus/registry.hpp>
#endif
#if AUTHEVENTS_EXAMPLE_WITH_AUDIT
#include <authevents/audit/audit_log.hpp>
#include <authevents/audit/reader.hpp>
#include <authevents/audit/sqlite_store.hpp>
#endif

#include <fmt/format.h>

#include <stdlib.h> // mkdtemp

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// ---- Step 1: define the event: a value struct with the Django signal's name, and its fields
// described once (name, member, and what personal data it holds) ------------------------------
struct UserPasswordChanged {
    static constexpr std::string_view name = "user_password_changed";
    using sender_type = authevents::User; // Django's sender=user.__class__ (optional)

    authevents::User user;
    std::optional<std::string> ip_address;

    static constexpr auto fields =
        std::make_tuple(authevents::field("user", &UserPasswordChanged::user),
                        authevents::field("ip_address", &UserPasswordChanged::ip_address,
                                          authevents::FieldKind::ip_address));
};

// ---- Step 2: a dispatch helper, like EventDispatcher::dispatch_user_registered ------------
authevents::DispatchReport dispatch_user_password_changed(authevents::EventDispatcher& dispatcher,
                                                          const authevents::User& user,
                                                          std::optional<std::string> ip = {}) {
    return dispatcher.dispatch(UserPasswordChanged{user, std::move(ip)});
}

// ---- Step 3: the handler: a security alert email, registered declaratively ----------------
std::vector<std::string> outbox; // the "sent" emails

void handle_user_password_changed(const UserPasswordChanged& event) {
    outbox.push_back(event.user.email + ": Your password was changed");
    fmt::print("      email        -> {}: Your password was changed (from {})\n", event.user.email,
               event.ip_address.value_or("an unknown address"));
}

authevents::ConnectOptions uid(std::string dispatch_uid) {
    authevents::ConnectOptions options;
    options.dispatch_uid = std::move(dispatch_uid);
    return options;
}

const authevents::Receiver<UserPasswordChanged> password_changed_email{
    &handle_user_password_changed, uid("security.password_changed_email")};

// ---- Step 4: dispatch from the service --------------------------------------------------------
class AccountService {
public:
    explicit AccountService(authevents::EventDispatcher& events) : events_(events) {}

    authevents::User add_user(std::string email, std::string_view password) {
        const authevents::User user{next_id_++, std::move(email), "Ana", "Silva", "en"};
        accounts_[user.id] = Account{user, hasher_.hash(password)};
        return user;
    }

    void change_password(std::int64_t user_id, std::string_view current,
                         std::string_view new_password, std::optional<std::string> ip = {}) {
        Account& account = accounts_.at(user_id);
        if (!hasher_.verify(account.password_hash, current)) {
            throw std::invalid_argument("current password is wrong");
        }
        if (new_password.size() < 10 || new_password == current) {
            throw std::invalid_argument("new password must have 10 characters and be new");
        }
        account.password_hash = hasher_.hash(new_password);
        dispatch_user_password_changed(events_, account.user, std::move(ip)); // step 4
    }

    bool check_password(std::int64_t user_id, std::string_view password) const {
        return hasher_.verify(accounts_.at(user_id).password_hash, password);
    }

private:
    struct Account {
        authevents::User user;
        std::string password_hash;
    };
    authevents::EventDispatcher& events_;
    authsvc::PasswordHasher hasher_;
    std::map<std::int64_t, Account> accounts_;
    std::int64_t next_id_ = 1;
};

/// A fresh directory under the system's temporary directory, removed with its files.
class ScratchDir {
public:
    ScratchDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "custom_event_example-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("cannot create a temporary directory");
        }
        path_ = pattern;
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    ~ScratchDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    std::string file(std::string_view name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

int main() {
    authevents::EventDispatcher dispatcher;
    dispatcher.set_logger(
        [](authevents::LogLevel, std::string_view line) { fmt::print("    {}\n", line); });
    authevents::HandlerRegistry::global().connect_all(dispatcher);

    authevents::testing::EventRecorder recorder(dispatcher);
    [[maybe_unused]] const ScratchDir scratch;
#if AUTHEVENTS_EXAMPLE_WITH_BUS
    // The publishing side: a BusPublisher with the default registry. It was never told about
    // UserPasswordChanged: the event is encoded from its description.
    authevents::bus::SqliteOutbox bus_outbox(scratch.file("outbox.db"));
    authevents::bus::BusPublisher publisher(dispatcher, bus_outbox);
#endif
#if AUTHEVENTS_EXAMPLE_WITH_AUDIT
    // The audit trail: an AuditLog attached to the dispatcher, also never told about the event.
    authevents::audit::SqliteAuditStore audit_store(scratch.file("audit.db"));
    authevents::audit::AuditLog audit_log(audit_store);
    audit_log.attach(dispatcher);
#endif
    AccountService accounts(dispatcher);
    const authevents::User ana = accounts.add_user("ana@example.com", "correct-horse-42");

    fmt::print("> accounts.change_password(ana, wrong current password)\n");
    try {
        accounts.change_password(ana.id, "not-my-password", "battery-staple-17");
    } catch (const std::invalid_argument& e) {
        fmt::print("  = refused: {} (no event)\n", e.what());
    }
    fmt::print("> accounts.change_password(ana, \"correct-horse-42\" -> \"battery-staple-17\")\n");
    accounts.change_password(ana.id, "correct-horse-42", "battery-staple-17", "203.0.113.7");
    fmt::print("  = password changed\n");

    const auto stats = dispatcher.stats<UserPasswordChanged>();
    const auto recorded = recorder.events<UserPasswordChanged>();
    bool ok = stats.dispatched == 1 && stats.handlers_called == 1 && outbox.size() == 1 &&
              recorded.size() == 1 && recorded.front().ip_address == "203.0.113.7" &&
              accounts.check_password(ana.id, "battery-staple-17") &&
              !accounts.check_password(ana.id, "correct-horse-42");
    fmt::print("\nrecorder: {} user_password_changed event(s), {}\n", recorded.size(),
               recorded.empty() ? std::string("-") : fmt::format("{}", recorded.front()));
#if AUTHEVENTS_EXAMPLE_WITH_BUS
    // The outbox holds the CloudEvent the publisher wrote. A consuming process names the type
    // once, with add<>(), to decode it into a UserPasswordChanged and dispatch it.
    const auto batch = bus_outbox.next_batch(10);
    ok = ok && batch.size() == 1 && publisher.stats().appended == 1;
    if (!batch.empty()) {
        const authevents::bus::CloudEvent cloud =
            authevents::bus::parse_cloud_event(batch.front().payload);
        fmt::print("bus: outbox holds type {}, subject {}, data {}\n", cloud.type,
                   cloud.subject.value_or("-"), cloud.data.dump());
        authevents::bus::EventTypeRegistry consumer_registry;
        consumer_registry.add<UserPasswordChanged>();
        authevents::EventDispatcher consumer_side;
        consumer_side.set_logger({});
        std::vector<UserPasswordChanged> decoded;
        consumer_side.connect<UserPasswordChanged>(
            [&decoded](const UserPasswordChanged& event) { decoded.push_back(event); });
        consumer_registry.dispatch(cloud, consumer_side);
        ok = ok && cloud.type == "authevents.user_password_changed.v1" &&
             cloud.subject == "user/1" && decoded.size() == 1 && !recorded.empty() &&
             authevents::equal(decoded.front(), recorded.front());
    }
#endif
#if AUTHEVENTS_EXAMPLE_WITH_AUDIT
    // The audit record: stored with the e-mail address and IP sealed under ana's key, and
    // opened again by an AuditReader.
    ok = ok && audit_log.flush(std::chrono::seconds(10));
    const auto stored = audit_store.read(0, 10);
    authevents::audit::AuditReader reader(audit_store);
    authevents::audit::ReaderQuery query;
    query.user_id = ana.id;
    const authevents::audit::OpenedPage page = reader.query(query);
    ok = ok && stored.size() == 1 && page.records.size() == 1 &&
         stored.front().data.find("ana@example.com") == std::string::npos &&
         stored.front().data.find("203.0.113.7") == std::string::npos;
    if (!page.records.empty()) {
        const authevents::audit::OpenedRecord& record = page.records.front();
        fmt::print("audit: #{} {} subject {}, stored {}\n       opened {}\n",
                   record.record.sequence, record.record.event_type, record.record.subject,
                   record.record.data.substr(0, 96) + "...", record.data.dump());
        ok = ok && record.record.event_type == "user_password_changed" &&
             record.record.subject == "user:1" &&
             record.data["user"]["email"] == "ana@example.com" &&
             record.source_ip == "203.0.113.7" && audit_log.stats().unknown_types == 0;
    }
#endif
    fmt::print("\n{}: dispatched {}, handlers called {}, emails {}\n", stats.name, stats.dispatched,
               stats.handlers_called, outbox.size());
    fmt::print("custom_event_example: {}\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
