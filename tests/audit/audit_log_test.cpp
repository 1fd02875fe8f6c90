// Tests of authevents/audit/audit_log.hpp (AuditLog) and reader.hpp (AuditReader): every
// event recorded once, CloudEvent dedup, a failing store never fails a dispatch, overflow is
// counted, logged and replaced by an audit_gap record, committed(), queries, erasure.
#include <authevents/audit/audit_log.hpp>
#include <authevents/audit/reader.hpp>
#include <authevents/audit/sqlite_store.hpp>
#include <authevents/audit/verify.hpp>
#include <authevents/bus/codec.hpp>
#include <authevents/bus/delivery.hpp>
#include <authevents/bus/registry.hpp>

#include "audit/audit_log_contract.hpp"
#include "audit/audit_test_store.hpp"
#include "bus/sqlite_test_helpers.hpp"
#include "catch_compat.hpp"
#include "event_samples.hpp"
#include "log_capture.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace authevents;
using namespace authevents::audit;
using namespace audit_log_contract;
using authevents::audit::testing::FailingStore;

TEST_CASE("Every dispatched event, built-in or custom, is recorded exactly once",
          "[audit][audit_log]") {
    auto store = testing::make_test_store();
    audit_log_contract::every_event_recorded_once(*store);
}

namespace {

// Custom described events with no AuditTraits: the log records them from their description
// whether or not it was told about them.
struct AccountLocked {
    static constexpr std::string_view name = "account_locked";
    static constexpr int version = 3;
    std::vector<User> watchers; // in an array: never the subject
    User user;                  // the subject: the first User outside arrays
    std::optional<User> by;     // another user: their personal values are left out
    std::optional<std::string> ip_address;
    std::vector<std::string> notes;
    static constexpr auto fields =
        std::make_tuple(field("watchers", &AccountLocked::watchers),
                        field("user", &AccountLocked::user), field("by", &AccountLocked::by),
                        field("ip_address", &AccountLocked::ip_address, FieldKind::ip_address),
                        field("notes", &AccountLocked::notes, FieldKind::free_text));
};

struct MaintenanceDone { // about no user: sealed with a key of its own
    static constexpr std::string_view name = "maintenance_done";
    std::string note;
    static constexpr auto fields =
        std::make_tuple(field("note", &MaintenanceDone::note, FieldKind::free_text));
};

void dispatch_custom(EventDispatcher& dispatcher) {
    dispatcher.dispatch(TicketClosed{11, quetzal(), "closed after a call with Anastasia"});
    dispatcher.dispatch(AccountLocked{
        {bob()}, quetzal(), bob(), quetzal_ip, {"Zanzibar tax forms missing", "second note"}});
    dispatcher.dispatch(MaintenanceDone{"Zanzibar tax forms missing"});
}

} // namespace

TEST_CASE("A described custom event is recorded from its description alone: the same record "
          "whether or not it was added",
          "[audit][audit_log]") {
    auto told_store = testing::make_test_store();
    auto untold_store = testing::make_test_store();
    {
        EventDispatcher dispatcher;
        dispatcher.set_logger({});
        AuditLog told(*told_store, quick_options());
        told.add<TicketClosed>().add<AccountLocked>().add<MaintenanceDone>();
        told.attach(dispatcher);
        AuditLog untold(*untold_store, quick_options());
        untold.attach(dispatcher);
        dispatch_custom(dispatcher);
        REQUIRE(told.flush(std::chrono::seconds(10)));
        REQUIRE(untold.flush(std::chrono::seconds(10)));
        CHECK(untold.stats().unknown_types == 0);
        CHECK(untold.stats().written == 3);
    }
    AuditReader told_reader(*told_store);
    AuditReader untold_reader(*untold_store);
    const auto told_records = all_records(*told_store);
    const auto untold_records = all_records(*untold_store);
    REQUIRE(told_records.size() == 3);
    REQUIRE(untold_records.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        const OpenedRecord a = told_reader.open(told_records[i]);
        const OpenedRecord b = untold_reader.open(untold_records[i]);
        INFO(a.record.event_type);
        CHECK(a.record.event_type == b.record.event_type);
        CHECK(a.record.event_version == b.record.event_version);
        CHECK(a.record.owasp == b.record.owasp);
        CHECK(a.record.actor == b.record.actor);
        CHECK(a.record.subject == b.record.subject);
        CHECK(a.record.key_scope.substr(0, 6) == b.record.key_scope.substr(0, 6));
        CHECK(a.data == b.data);
        CHECK(a.source_ip == b.source_ip);
        CHECK(a.record.ip_index.has_value() == b.record.ip_index.has_value()); // keyed per store
    }
    const OpenedRecord locked = untold_reader.open(untold_records[1]);
    CHECK(locked.record.event_version == 3);
    CHECK(locked.record.subject == "user:7");
    CHECK(locked.record.actor == "user:7");
    CHECK(locked.source_ip == std::optional<std::string>(quetzal_ip));
    CHECK(locked.data.at("user").at("email") == quetzal().email);
    CHECK(locked.data.at("notes") ==
          nlohmann::json::array({"Zanzibar tax forms missing", "second note"}));
    // bob's id stays, his personal values do not.
    CHECK(locked.data.at("by") == nlohmann::json{{"id", 8}, {"language", "en"}});
    CHECK(locked.data.at("watchers").at(0) == nlohmann::json{{"id", 8}, {"language", "en"}});
    ReaderQuery by_ip;
    by_ip.ip = quetzal_ip;
    const OpenedPage found = untold_reader.query(by_ip);
    REQUIRE(found.records.size() == 1);
    CHECK(found.records[0].record.event_type == "account_locked");
    const OpenedRecord maintenance = untold_reader.open(untold_records[2]);
    CHECK(maintenance.record.subject == "system");
    CHECK(maintenance.record.key_scope.rfind("event:", 0) == 0);
    CHECK(maintenance.data.at("note") == "Zanzibar tax forms missing");
    check_no_plaintext_columns(*untold_store);
}

TEST_CASE("A CloudEvent is recorded once however often it is delivered, with its id and time",
          "[audit][audit_log]") {
    auto store = testing::make_test_store();
    audit_log_contract::cloud_event_recorded_once(*store);
}

TEST_CASE("An event a consumer delivers is recorded with its CloudEvent id, once; events its "
          "handlers dispatch are recorded on their own",
          "[audit][audit_log]") {
    auto store = testing::make_test_store();
    EventDispatcher dispatcher;
    AuditLog log(*store, quick_options());
    log.attach(dispatcher);
    // A handler that dispatches another event of the same type from inside the delivery.
    bool nested = false;
    ScopedConnection handler = dispatcher.connect<User2faEnabled>([&](const User2faEnabled&) {
        if (!nested) {
            nested = true;
            dispatcher.dispatch(User2faEnabled{bob()});
        }
    });
    const bus::EventTypeRegistry registry;
    const bus::CloudEvent delivered = bus::to_cloud_event(User2faEnabled{bob()});
    for (int attempt = 0; attempt < 2; ++attempt) { // delivered twice, as after a redelivery
        const bus::DeliveryScope scope(delivered);
        registry.dispatch(delivered, dispatcher);
    }
    CHECK(bus::current_delivery() == nullptr);
    dispatcher.dispatch(User2faEnabled{bob()}); // outside any delivery: no id
    REQUIRE(log.flush(std::chrono::seconds(10)));
    const auto stored = all_records(*store);
    REQUIRE(stored.size() == 3); // the delivery once, the nested dispatch, the plain one
    CHECK(stored[0].cloud_event_id == delivered.id);
    CHECK_FALSE(stored[1].cloud_event_id.has_value());
    CHECK_FALSE(stored[2].cloud_event_id.has_value());
    CHECK(log.stats().duplicates == 1);
}

TEST_CASE("A CloudEvent of an unknown type or with bad data is recorded, its data sealed",
          "[audit][audit_log]") {
    auto store = testing::make_test_store();
    LogCapture capture;
    AuditLog log(*store, quick_options(&capture));
    bus::CloudEvent unknown;
    unknown.id = "ce-unknown-1";
    unknown.source = "/billing";
    unknown.type = "acme.card_added.v3";
    unknown.subject = "user/7";
    unknown.time = "2026-12-01T10:00:00.000Z";
    unknown.data = {{"holder", "Anastasia-Quetzal"}, {"last4", "4242"}};
    bus::CloudEvent bad = bus::to_cloud_event(
        UserLoginFailed{"mallory.typed@example.com", LoginFailureReason::wrong_password, {}});
    bad.data["reason"] = "Oyelaran-Whitfield guessed"; // not a LoginFailureReason
    CHECK(log.record(unknown));
    CHECK(log.record(bad));
    REQUIRE(log.flush(std::chrono::seconds(10)));
    CHECK(log.stats().undecoded == 2);
    const auto records = all_records(*store);
    REQUIRE(records.size() == 2);
    CHECK(records[0].event_type == "card_added");
    CHECK(records[0].event_version == 3);
    CHECK(records[0].key_scope == "user:7");
    CHECK(records[1].event_type == "user_login_failed");
    for (const AuditRecord& record : records) {
        CHECK(record.data.find("Quetzal") == std::string::npos);
        CHECK(record.data.find("Oyelaran") == std::string::npos);
        CHECK(record.data.find("mallory") == std::string::npos);
    }
    AuditReader reader(log.keys());
    const OpenedRecord opened = reader.open(records[0]);
    CHECK(nlohmann::json::parse(opened.data["undecoded"].get<std::string>()) == unknown.data);
    CHECK(capture.texts(LogLevel::warning).size() == 2);
}

TEST_CASE("A failing store never fails the dispatch: entries wait, are retried and written once",
          "[audit][audit_log]") {
    auto store = testing::make_test_store();
    audit_log_contract::failing_store_retried(*store);
}

TEST_CASE("When the queue overflows, losses are counted, logged at error and an audit_gap "
          "record states how many and when",
          "[audit][audit_log]") {
    auto store = testing::make_test_store();
    audit_log_contract::overflow_counted_and_gap_recorded(*store);
}

TEST_CASE("committed() hands each committed batch's records, as stored, to read models",
          "[audit][audit_log]") {
    auto store = testing::make_test_store();
    EventDispatcher dispatcher;
    std::mutex mutex;
    std::vector<AuditRecord> seen;
    AuditLog log(*store, quick_options());
    ScopedConnection connection =
        log.committed().connect([&](const std::vector<AuditRecord>& records) {
            std::lock_guard<std::mutex> lock(mutex);
            seen.insert(seen.end(), records.begin(), records.end());
        });
    log.attach(dispatcher);
    dispatch_everything(dispatcher);
    const bus::CloudEvent event = bus::to_cloud_event(User2faEnabled{bob()});
    log.record(event);
    log.record(event); // a duplicate is not committed twice
    REQUIRE(log.flush(std::chrono::seconds(10)));
    const auto stored = all_records(*store);
    std::lock_guard<std::mutex> lock(mutex);
    REQUIRE(seen.size() == stored.size());
    REQUIRE(seen.size() == 13);
    for (std::size_t i = 0; i < seen.size(); ++i) {
        CHECK(seen[i].sequence == stored[i].sequence);
        CHECK(seen[i].hash == stored[i].hash);
        CHECK(seen[i].data == stored[i].data);
    }
}

TEST_CASE("AuditReader finds records by user, e-mail, type, time and plaintext IP, page by page",
          "[audit][reader]") {
    auto store = testing::make_test_store();
    EventDispatcher dispatcher;
    AuditLog log(*store, quick_options());
    log.attach(dispatcher);
    dispatch_everything(dispatcher);
    for (int i = 0; i < 5; ++i) {
        dispatcher.dispatch(UserLoginSuccessful{bob(), bob_ip, true});
    }
    REQUIRE(log.flush(std::chrono::seconds(10)));
    AuditReader reader(log.keys());

    ReaderQuery by_user;
    by_user.user_id = 8;
    by_user.limit = 3;
    const OpenedPage first = reader.query(by_user);
    REQUIRE(first.records.size() == 3);
    REQUIRE(first.next_cursor.has_value());
    CHECK(first.records[0].record.event_type == "user_login_successful");
    CHECK(first.records[0].source_ip == std::optional<std::string>(bob_ip));
    CHECK(first.records[0].data["user"]["email"] == "bob.marlowe@example.net");
    CHECK_FALSE(first.records[0].erased);
    by_user.cursor = first.next_cursor;
    by_user.limit = 100;
    const OpenedPage rest = reader.query(by_user);
    // Bob: 5 logins, plus the approval and rejection he acted in (actor user:8).
    CHECK(rest.records.size() == 4);
    CHECK(rest.records.back().record.event_type == "seller_application_approved");

    ReaderQuery by_ip;
    by_ip.ip = " " + bob_ip; // normalised
    by_ip.newest_first = false;
    const OpenedPage ip_page = reader.query(by_ip);
    REQUIRE(ip_page.records.size() == 6);
    CHECK(ip_page.records[0].record.event_type == "user_login_failed");
    CHECK(ip_page.records[0].data["email"] == "mallory.typed@example.com");

    ReaderQuery by_email;
    by_email.email = "Mallory.Typed@example.com";
    REQUIRE(reader.query(by_email).records.size() == 1);

    ReaderQuery by_type;
    by_type.event_type = "user_2fa_disabled";
    const OpenedPage type_page = reader.query(by_type);
    REQUIRE(type_page.records.size() == 1);
    CHECK(type_page.records[0].data["user"]["first_name"] == "Anastasia-Quetzal");

    ReaderQuery in_future;
    in_future.from = audit_now() + std::chrono::hours(1);
    CHECK(reader.query(in_future).records.empty());
    ReaderQuery until_now;
    until_now.until = audit_now() + std::chrono::seconds(1);
    CHECK(reader.query(until_now).records.size() == 17);

    ReaderQuery both;
    both.user_id = 1;
    both.email = "x@example.com";
    CHECK_THROWS_AS(reader.query(both), std::invalid_argument);
    ReaderQuery zero;
    zero.limit = 0;
    CHECK_THROWS_AS(reader.query(zero), std::invalid_argument);
}

TEST_CASE("erase_user makes every personal value of the user unreadable; others stay readable",
          "[audit][reader][erasure]") {
    auto store = testing::make_test_store();
    audit_log_contract::erasure_keeps_chain(*store);
}

TEST_CASE("Nothing personal is stored in plaintext: the raw store files hold none of it",
          "[audit][erasure]") {
    testing::TestStoreFiles files;
    {
        auto store = files.open();
        EventDispatcher dispatcher;
        AuditLog log(*store, quick_options());
        log.add<TicketClosed>();
        log.attach(dispatcher);
        dispatch_everything(dispatcher);
        dispatcher.dispatch(TicketClosed{1, quetzal(), "Anastasia-Quetzal called back"});
        log.record(bus::to_cloud_event(UserRegistered{bob(), false, bob_ip}));
        REQUIRE(log.flush(std::chrono::seconds(10)));
        CHECK(log.stats().written == 14);
    }
    const std::string bytes = files.raw_bytes();
    REQUIRE_FALSE(bytes.empty());
    CHECK(bytes.find("user_login_failed") != std::string::npos); // the files were read
    for (const std::string& value : personal_values()) {
        INFO(value);
        CHECK(bytes.find(value) == std::string::npos);
    }
}

TEST_CASE("Concurrent dispatchers while the store flaps: every event recorded exactly once",
          "[audit][audit_log][thread]") {
    auto inner = testing::make_test_store();
    FailingStore store(*inner);
    EventDispatcher dispatcher;
    AuditLogOptions options = quick_options();
    options.batch_size = 16;
    AuditLog log(store, options);
    log.attach(dispatcher);
    std::atomic<bool> done{false};
    std::thread flapper([&] {
        for (int i = 0; i < 20 && !done.load(); ++i) {
            store.set_failing(i % 2 == 0);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        store.set_failing(false);
    });
    constexpr int threads = 4;
    constexpr int per_thread = 150;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&dispatcher, t] {
            for (int i = 0; i < per_thread; ++i) {
                User user = bob();
                user.id = 100 + t;
                dispatcher.dispatch(ProfileUpdated{user, {std::to_string(i)}, i % 100});
            }
        });
    }
    for (std::thread& worker : workers) {
        worker.join();
    }
    done.store(true);
    flapper.join();
    store.set_failing(false);
    REQUIRE(log.flush(std::chrono::seconds(30)));
    CHECK(log.stats().dropped == 0);
    const auto records = all_records(*inner);
    REQUIRE(records.size() == threads * per_thread);
    std::set<std::string> seen;
    for (const AuditRecord& record : records) {
        seen.insert(record.subject + "/" +
                    nlohmann::json::parse(record.data)["updated_fields"][0].get<std::string>());
    }
    CHECK(seen.size() == threads * per_thread);
}

TEST_CASE("AuditLogOptions are validated", "[audit][audit_log]") {
    auto store = testing::make_test_store();
    AuditLogOptions options;
    options.queue_capacity = 0;
    CHECK_THROWS_AS(AuditLog(*store, options), std::invalid_argument);
    options = AuditLogOptions{};
    options.retry_max = std::chrono::milliseconds(1);
    options.retry_min = std::chrono::milliseconds(2);
    CHECK_THROWS_AS(AuditLog(*store, options), std::invalid_argument);
    auto other = testing::make_test_store();
    CHECK_THROWS_AS(AuditLog(*store, std::make_shared<KeyRing>(*other)), std::invalid_argument);
}

TEST_CASE("After stop(), entries are dropped, counted and logged at error", "[audit][audit_log]") {
    auto store = testing::make_test_store();
    LogCapture capture;
    AuditLog log(*store, quick_options(&capture));
    CHECK(log.record(User2faEnabled{quetzal()}));
    log.stop();
    CHECK(store->count() == 1); // stop() wrote what was queued
    CHECK_FALSE(log.record(User2faEnabled{quetzal()}));
    CHECK(log.stats().dropped == 1);
    CHECK_FALSE(capture.texts(LogLevel::error).empty());
}

TEST_CASE("A SQLite store that is really full: dispatches succeed, failures are counted and "
          "logged, what is left at shutdown is counted as lost",
          "[audit][audit_log]") {
    bus_test::TempDir dir;
    SqliteAuditStoreOptions tiny;
    tiny.max_page_count = 40;
    SqliteAuditStore store(dir.file("full.db"), tiny);
    LogCapture capture;
    EventDispatcher dispatcher;
    AuditLogOptions options = quick_options(&capture);
    options.shutdown_timeout = std::chrono::milliseconds(50);
    options.queue_capacity = 100000;
    auto log = std::make_unique<AuditLog>(store, options);
    log->attach(dispatcher);
    // Large free text fills 40 pages quickly.
    const std::string comment(2000, 'c');
    std::uint64_t dispatched = 0;
    while (log->stats().store_failures == 0 && dispatched < 2000) {
        CHECK(dispatcher.dispatch(ProfilePictureUploaded{quetzal(), comment}).ok());
        ++dispatched;
        if (dispatched % 20 == 0) {
            log->flush(std::chrono::milliseconds(200));
        }
    }
    REQUIRE(log->stats().store_failures > 0);
    const auto written = static_cast<std::uint64_t>(store.count());
    log.reset(); // gives up after shutdown_timeout
    const auto errors = capture.texts(LogLevel::error);
    CHECK(std::any_of(errors.begin(), errors.end(), [](const std::string& line) {
        return line.find("full") != std::string::npos;
    }));
    CHECK(std::any_of(errors.begin(), errors.end(), [](const std::string& line) {
        return line.find("the store failed until shutdown") != std::string::npos;
    }));
    CHECK(written < dispatched);
    testing::check_chain_verifies(store);
}
