// Checks of AuditLog and AuditReader that any AuditStore must pass, for the SQLite tests
// (audit_log_test.cpp) and the PostgreSQL ones: each function takes a fresh, empty store.
//
//     audit_log_contract::every_event_recorded_once(store);
//     audit_log_contract::cloud_event_recorded_once(store);
//     audit_log_contract::failing_store_retried(store);
//     audit_log_contract::overflow_counted_and_gap_recorded(store);
//     audit_log_contract::erasure_keeps_chain(store);
#pragma once

#include <authevents/audit/audit_log.hpp>
#include <authevents/audit/reader.hpp>
#include <authevents/audit/verify.hpp>
#include <authevents/bus/codec.hpp>

#include "audit/audit_test_store.hpp"
#include "catch_compat.hpp"
#include "log_capture.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace audit_log_contract {

using namespace authevents;
using namespace authevents::audit;
using authevents::audit::testing::FailingStore;
namespace testing = authevents::audit::testing;

// A user with values long and distinctive enough that finding them in a file means they are
// stored in plaintext (base64 of ciphertext has no '@' or '.' and is unlikely to spell these).
inline User quetzal() {
    return {7, "ana.quetzal@example.org", "Anastasia-Quetzal", "Oyelaran-Whitfield", "pt"};
}
inline User bob() { return {8, "bob.marlowe@example.net", "Bartholomew-Ink", "Marlowe-Zed", "en"}; }
inline const std::string quetzal_ip = "203.0.113.77";
inline const std::string bob_ip = "198.51.100.23";

inline std::vector<std::string> personal_values() {
    return {"ana.quetzal@example.org",
            "Anastasia-Quetzal",
            "Oyelaran-Whitfield",
            "bob.marlowe@example.net",
            "Bartholomew-Ink",
            "Marlowe-Zed",
            quetzal_ip,
            bob_ip,
            "Zanzibar tax forms missing",
            "avatars/quetzal-9.png",
            "mallory.typed@example.com"};
}

inline AuditLogOptions quick_options(LogCapture* capture = nullptr) {
    AuditLogOptions options;
    options.retry_min = std::chrono::milliseconds(1);
    options.retry_max = std::chrono::milliseconds(5);
    options.logger = capture != nullptr ? capture->logger() : Logger();
    return options;
}

inline std::vector<AuditRecord> all_records(AuditStore& store) { return store.read(0, 100000); }

// Dispatches one of every built-in event about the two users.
inline void dispatch_everything(EventDispatcher& dispatcher) {
    const SellerApplication application{3, quetzal(), "business"};
    dispatcher.dispatch(UserRegistered{quetzal(), true, quetzal_ip});
    dispatcher.dispatch(UserEmailVerified{quetzal(), quetzal_ip});
    dispatcher.dispatch(UserLoginSuccessful{quetzal(), quetzal_ip, false});
    dispatcher.dispatch(
        UserLoginFailed{"mallory.typed@example.com", LoginFailureReason::user_not_found, bob_ip});
    dispatcher.dispatch(User2faEnabled{quetzal()});
    dispatcher.dispatch(User2faDisabled{quetzal()});
    dispatcher.dispatch(SellerApplicationSubmitted{application, false});
    dispatcher.dispatch(SellerApplicationApproved{application, bob(), quetzal()});
    dispatcher.dispatch(
        SellerApplicationRejected{application, bob(), "Zanzibar tax forms missing"});
    dispatcher.dispatch(ProfileUpdated{quetzal(), {"first_name"}, 90});
    dispatcher.dispatch(ProfilePictureUploaded{quetzal(), "avatars/quetzal-9.png"});
    dispatcher.dispatch(ProfilePictureDeleted{quetzal()});
}

struct TicketClosed { // a custom described event
    static constexpr std::string_view name = "ticket_closed";
    std::int64_t ticket = 0;
    User by;
    std::string comment;
    static constexpr auto fields =
        std::make_tuple(field("ticket", &TicketClosed::ticket), field("by", &TicketClosed::by),
                        field("comment", &TicketClosed::comment, FieldKind::free_text));
};

struct Undescribed { // a custom event the audit log cannot look into
    static constexpr std::string_view name = "undescribed_thing";
    int value = 0;
};

/// Checks that no column of any record holds one of personal_values() in plaintext.
inline void check_no_plaintext_columns(AuditStore& store) {
    for (const AuditRecord& r : all_records(store)) {
        const std::string text = r.event_type + '|' + r.owasp + '|' + r.actor + '|' + r.subject +
                                 '|' + r.source_ip.value_or("") + '|' + r.ip_index.value_or("") +
                                 '|' + r.data + '|' + r.cloud_event_id.value_or("") + '|' +
                                 r.key_scope;
        for (const std::string& value : personal_values()) {
            INFO(r.event_type << ": " << value);
            CHECK(text.find(value) == std::string::npos);
        }
    }
}

// "Every dispatched event, built-in or custom, is recorded exactly once"
inline void every_event_recorded_once(AuditStore& target) {
    AuditStore* store = &target;
    LogCapture capture;
    EventDispatcher dispatcher;
    {
        AuditLog log(*store, quick_options(&capture));
        log.add<TicketClosed>();
        log.attach(dispatcher);
        dispatch_everything(dispatcher);
        dispatcher.dispatch(TicketClosed{11, quetzal(), "closed after a call with Anastasia"});
        dispatcher.dispatch(Undescribed{5});
        dispatcher.set_enabled(false); // still an event: recorded
        dispatcher.dispatch(ProfilePictureDeleted{bob()});
        REQUIRE(log.flush(std::chrono::seconds(10)));
        const AuditLogStats stats = log.stats();
        CHECK(stats.recorded == 15);
        CHECK(stats.written == 15);
        CHECK(stats.dropped == 0);
        CHECK(stats.unknown_types == 1);
        CHECK(stats.queued == 0);
    }
    const auto records = all_records(*store);
    REQUIRE(records.size() == 15);
    std::vector<std::string> types;
    for (const AuditRecord& record : records) {
        types.push_back(record.event_type);
    }
    CHECK(types == std::vector<std::string>{
                       "user_registered", "user_email_verified", "user_login_successful",
                       "user_login_failed", "user_2fa_enabled", "user_2fa_disabled",
                       "seller_application_submitted", "seller_application_approved",
                       "seller_application_rejected", "profile_updated", "profile_picture_uploaded",
                       "profile_picture_deleted", "ticket_closed", "undescribed_thing",
                       "profile_picture_deleted"});
    CHECK(records[0].owasp == "user_created");
    CHECK(records[3].owasp == "authn_login_fail");
    CHECK(records[7].owasp == "authz_change");
    CHECK(records[12].subject == "user:7");
    CHECK(records[13].data == R"({"recorded_fields":false})");
    const auto warnings = capture.texts(LogLevel::warning);
    CHECK(std::count_if(warnings.begin(), warnings.end(), [](const std::string& line) {
              return line.find("undescribed_thing") != std::string::npos;
          }) == 1);
    for (std::size_t i = 0; i < records.size(); ++i) {
        CHECK(records[i].sequence == static_cast<std::int64_t>(i + 1));
    }
    check_no_plaintext_columns(*store);
}

// "A CloudEvent is recorded once however often it is delivered, with its id and time"
inline void cloud_event_recorded_once(AuditStore& target) {
    AuditStore* store = &target;
    AuditLog log(*store, quick_options());
    log.add<TicketClosed>();
    const bus::CloudEvent event = bus::to_cloud_event(UserLoginSuccessful{quetzal(), quetzal_ip});
    const bus::CloudEvent custom = bus::to_cloud_event(TicketClosed{4, bob(), "fine"});
    CHECK(log.record(event));
    CHECK(log.record(event)); // a redelivery
    CHECK(log.record(custom));
    REQUIRE(log.flush(std::chrono::seconds(10)));
    CHECK(log.record(event)); // a replay later on
    REQUIRE(log.flush(std::chrono::seconds(10)));
    const auto records = all_records(*store);
    REQUIRE(records.size() == 2);
    CHECK(records[0].cloud_event_id == std::optional<std::string>(event.id));
    CHECK(records[0].event_type == "user_login_successful");
    CHECK(format_audit_time(records[0].time) == event.time);
    CHECK(records[1].event_type == "ticket_closed");
    CHECK(records[1].cloud_event_id == std::optional<std::string>(custom.id));
    CHECK(log.stats().duplicates == 2);
    CHECK(log.stats().written == 2);
}

// "A failing store never fails the dispatch: entries wait, are retried and written once"
inline void failing_store_retried(AuditStore& target) {
    AuditStore* inner = &target;
    FailingStore store(*inner);
    LogCapture capture;
    EventDispatcher dispatcher;
    AuditLog log(store, quick_options(&capture));
    log.attach(dispatcher);
    store.set_failing(true);
    for (int i = 0; i < 50; ++i) {
        const DispatchReport report =
            dispatcher.dispatch(UserLoginSuccessful{quetzal(), quetzal_ip, false});
        CHECK(report.ok());
        CHECK(report.observer_failures.empty());
    }
    CHECK_FALSE(log.flush(std::chrono::milliseconds(100)));
    CHECK(log.stats().store_failures > 0);
    CHECK(log.stats().queued == 50);
    CHECK_FALSE(capture.texts(LogLevel::error).empty());
    store.set_failing(false);
    REQUIRE(log.flush(std::chrono::seconds(10)));
    CHECK(inner->count() == 50);
    CHECK(log.stats().written == 50);
    CHECK(log.stats().dropped == 0);
    CHECK(all_records(*inner).back().sequence == 50);
}

// "When the queue overflows, losses are counted, logged at error and an audit_gap record states how
// many and when"
inline void overflow_counted_and_gap_recorded(AuditStore& target) {
    AuditStore* inner = &target;
    FailingStore store(*inner);
    LogCapture capture;
    EventDispatcher dispatcher;
    AuditLogOptions options = quick_options(&capture);
    options.queue_capacity = 4;
    options.batch_size = 2;
    AuditLog log(store, options);
    log.attach(dispatcher);
    store.set_failing(true);
    for (int i = 0; i < 20; ++i) {
        CHECK(dispatcher.dispatch(ProfileUpdated{quetzal(), {"language"}, i}).ok());
    }
    const AuditLogStats failing = log.stats();
    CHECK(failing.dropped > 0);
    CHECK(failing.recorded + failing.dropped == 20);
    const auto errors = capture.texts(LogLevel::error);
    CHECK(std::any_of(errors.begin(), errors.end(), [](const std::string& line) {
        return line.find("event lost, the queue is full") != std::string::npos;
    }));
    store.set_failing(false);
    REQUIRE(log.flush(std::chrono::seconds(10)));
    // Events after the gap are recorded after it.
    CHECK(dispatcher.dispatch(ProfileUpdated{quetzal(), {"language"}, 99}).ok());
    REQUIRE(log.flush(std::chrono::seconds(10)));

    const auto records = all_records(*inner);
    REQUIRE(records.size() == failing.recorded + 2);
    std::size_t gaps = 0;
    std::int64_t lost = 0;
    for (const AuditRecord& record : records) {
        if (record.event_type == "audit_gap") {
            ++gaps;
            CHECK(record.owasp == "sys_monitor_disabled");
            const auto data = nlohmann::json::parse(record.data);
            lost += data["lost"].get<std::int64_t>();
            CHECK(data["first"].get<std::string>() <= data["last"].get<std::string>());
        }
    }
    CHECK(gaps == 1);
    CHECK(lost == static_cast<std::int64_t>(failing.dropped));
    // The gap sits where the losses began: after the entries queued before the first loss
    // and before the event dispatched afterwards. (Entries the queue accepted again while the
    // losses went on may follow it: the writer can free room before the queue fills again.)
    const auto gap_at = std::find_if(records.begin(), records.end(), [](const AuditRecord& r) {
        return r.event_type == "audit_gap";
    });
    REQUIRE(gap_at != records.end());
    CHECK(gap_at != records.begin());
    CHECK(gap_at + 1 != records.end());
    CHECK(records.back().event_type == "profile_updated");
    CHECK(nlohmann::json::parse(records.back().data)["profile_completion"] == 99);
    int previous_completion = -1; // the events that were recorded kept their order
    for (const AuditRecord& record : records) {
        if (record.event_type == "profile_updated") {
            const int completion =
                nlohmann::json::parse(record.data)["profile_completion"].get<int>();
            CHECK(completion > previous_completion);
            previous_completion = completion;
        }
    }
    CHECK(log.stats().gap_records == 1);
    const VerifyReport report = verify(*inner);
    CHECK(report.ok);
    REQUIRE(report.gaps.size() == 1);
    CHECK(report.gaps[0].event_type == "audit_gap");
}

// "erase_user makes every personal value of the user unreadable; others stay readable"
inline void erasure_keeps_chain(AuditStore& target) {
    AuditStore* store = &target;
    EventDispatcher dispatcher;
    AuditLog log(*store, quick_options());
    log.attach(dispatcher);
    dispatch_everything(dispatcher);
    dispatcher.dispatch(
        UserLoginFailed{"ana.quetzal@example.org", LoginFailureReason::wrong_password, quetzal_ip});
    dispatcher.dispatch(UserLoginSuccessful{bob(), bob_ip, false});
    REQUIRE(log.flush(std::chrono::seconds(10)));
    const auto before = all_records(*store);
    AuditReader reader(log.keys());

    const ErasureReport report = reader.erase_user(7, {"ana.quetzal@example.org"});
    CHECK(report.user_key);
    CHECK(report.email_keys == 1);
    const ErasureReport again = reader.erase_user(7, {"ana.quetzal@example.org"});
    CHECK_FALSE(again.user_key);
    CHECK(again.email_keys == 0);

    const auto after = all_records(*store);
    REQUIRE(after.size() == before.size());
    for (std::size_t i = 0; i < after.size(); ++i) {
        CHECK(after[i].hash == before[i].hash); // records untouched: the chain still verifies
        CHECK(after[i].data == before[i].data);
    }
    testing::check_chain_verifies(*store);

    ReaderQuery everything;
    everything.limit = 1000;
    for (const OpenedRecord& opened : reader.query(everything).records) {
        const std::string text = opened.data.dump() + opened.source_ip.value_or("");
        INFO(opened.record.event_type << " " << opened.record.subject);
        for (const std::string& value :
             {std::string("ana.quetzal@example.org"), std::string("Anastasia-Quetzal"),
              std::string("Oyelaran-Whitfield"), quetzal_ip, std::string("avatars/quetzal-9.png"),
              std::string("Zanzibar tax forms missing")}) {
            CHECK(text.find(value) == std::string::npos);
        }
        const bool about_quetzal =
            opened.record.key_scope == "user:7" ||
            opened.record.key_scope == log.keys()->email_scope("ana.quetzal@example.org");
        if (about_quetzal) {
            CHECK(opened.erased);
        } else if (!opened.record.key_scope.empty()) {
            CHECK_FALSE(opened.erased);
        }
    }
    // Bob's values still read; the IP index of the erased records is gone.
    ReaderQuery bob_logins;
    bob_logins.user_id = 8;
    bob_logins.event_type = "user_login_successful";
    const OpenedPage bob_page = reader.query(bob_logins);
    REQUIRE(bob_page.records.size() == 1);
    CHECK(bob_page.records[0].data["user"]["last_name"] == "Marlowe-Zed");
    ReaderQuery by_ip;
    by_ip.ip = quetzal_ip;
    CHECK(reader.query(by_ip).records.empty());

    // New events about the user get a new key and read again.
    dispatcher.dispatch(UserLoginSuccessful{quetzal(), quetzal_ip, false});
    REQUIRE(log.flush(std::chrono::seconds(10)));
    ReaderQuery newest;
    newest.user_id = 7;
    newest.limit = 1;
    const OpenedPage latest = reader.query(newest);
    REQUIRE(latest.records.size() == 1);
    CHECK_FALSE(latest.records[0].erased);
    CHECK(latest.records[0].source_ip == std::optional<std::string>(quetzal_ip));
}

} // namespace audit_log_contract
