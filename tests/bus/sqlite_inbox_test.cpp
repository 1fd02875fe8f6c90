// Tests for authevents/bus/sqlite_inbox.hpp: the transactional inbox in the consumer's SQLite
// database (the inbox row and the handlers' writes commit or roll back together), driven as
// StreamConsumer drives a DedupStore; and dispatch on commit (unit_of_work.hpp) beside a real
// SQLite transaction. The same inbox under a real StreamConsumer is in consumer_test.
#include <authevents/bus/sqlite_inbox.hpp>
#include <authevents/testing.hpp>
#include <authevents/thread_pool.hpp>
#include <authevents/unit_of_work.hpp>

#include "bus_test_support.hpp"
#include "catch_compat.hpp"
#include "event_samples.hpp"
#include "sqlite_test_helpers.hpp"

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using authevents::DispatchReport;
using authevents::UnitOfWork;
using authevents::UserRegistered;
using authevents::bus::ClaimState;
using authevents::bus::DedupKey;
using authevents::bus::SqliteError;
using authevents::bus::SqliteInbox;
using bus_test::TempDir;
using std::chrono::milliseconds;

namespace {

using bus_test::dedup_key;

using test_bus::exec_sql;

/// What StreamConsumer does with one delivery: claim, dispatch, complete on success or
/// release on failure. Returns the claim's state and, when claimed, the report.
struct Delivery {
    ClaimState state;
    DispatchReport report;
};
Delivery deliver(SqliteInbox& inbox, authevents::EventDispatcher& events, const DedupKey& k,
                 const UserRegistered& event) {
    Delivery result{inbox.claim(k, "worker-1", milliseconds(30000)), {}};
    if (result.state != ClaimState::claimed) {
        return result;
    }
    result.report = events.dispatch(event);
    if (result.report.ok()) {
        inbox.complete(k);
    } else {
        inbox.release(k, "worker-1");
    }
    return result;
}

using Fixture = test_bus::CreditsInbox;

} // namespace

TEST_CASE("sqlite inbox: a handler failing after writing rolls back; the retry commits once") {
    Fixture f;
    int attempts = 0;
    f.inbox.connect<UserRegistered>(
        f.events, [&](const UserRegistered& e, SqliteInbox::Transaction& tx) {
            REQUIRE(tx.inbox_key() != nullptr);
            CHECK(tx.inbox_key()->event_id == "e1");
            exec_sql(tx.connection(),
                     "INSERT INTO credits VALUES (" + std::to_string(e.user.id) + ", 10)");
            if (++attempts == 1) {
                throw std::runtime_error("payment service down"); // after writing
            }
        });
    const UserRegistered event = samples::user_registered();

    const Delivery first = deliver(f.inbox, f.events, dedup_key("e1"), event);
    CHECK(first.state == ClaimState::claimed);
    CHECK_FALSE(first.report.ok());
    CHECK(f.credits() == 0); // the write was rolled back with the inbox row
    CHECK_FALSE(f.inbox.done(dedup_key("e1")));

    const Delivery retry = deliver(f.inbox, f.events, dedup_key("e1"), event);
    CHECK(retry.state == ClaimState::claimed);
    CHECK(retry.report.ok());
    CHECK(f.credits() == 1);
    CHECK(f.inbox.done(dedup_key("e1")));

    // Redelivered (a relay duplicate, or a crash before XACK): skipped, nothing written.
    CHECK(deliver(f.inbox, f.events, dedup_key("e1"), event).state == ClaimState::done);
    CHECK(f.credits() == 1);
    CHECK(attempts == 2);
    // Keys are per group: another group runs it too.
    CHECK(deliver(f.inbox, f.events, dedup_key("e1", "analytics"), event).state ==
          ClaimState::claimed);
    CHECK(f.credits() == 2);
    CHECK(f.inbox.size() == 2);
}

TEST_CASE("sqlite inbox: every transactional handler of an event shares one transaction") {
    Fixture f;
    f.inbox.connect<UserRegistered>(
        f.events, [](const UserRegistered&, SqliteInbox::Transaction& tx) {
            exec_sql(tx.connection(), "INSERT INTO credits VALUES (1, 1)");
        });
    bool fail = true;
    f.inbox.connect<UserRegistered>(
        f.events, [&](const UserRegistered&, SqliteInbox::Transaction& tx) {
            exec_sql(tx.connection(), "INSERT INTO credits VALUES (2, 2)");
            if (fail) {
                throw std::runtime_error("second handler failed");
            }
        });
    CHECK_FALSE(
        deliver(f.inbox, f.events, dedup_key("e1"), samples::user_registered()).report.ok());
    CHECK(f.credits() == 0); // the first handler's write is undone too
    fail = false;
    CHECK(deliver(f.inbox, f.events, dedup_key("e1"), samples::user_registered()).report.ok());
    CHECK(f.credits() == 2);
}

TEST_CASE("sqlite inbox: dispatched locally, a handler runs in a transaction of its own") {
    Fixture f;
    bool fail = false;
    f.inbox.connect<UserRegistered>(
        f.events, [&](const UserRegistered&, SqliteInbox::Transaction& tx) {
            CHECK(tx.inbox_key() == nullptr);
            exec_sql(tx.connection(), "INSERT INTO credits VALUES (1, 1)");
            if (fail) {
                throw std::runtime_error("boom");
            }
        });
    CHECK(f.events.dispatch(samples::user_registered()).ok());
    CHECK(f.credits() == 1);
    fail = true;
    CHECK_FALSE(f.events.dispatch(samples::user_registered()).ok());
    CHECK(f.credits() == 1); // rolled back
    CHECK(f.inbox.size() == 0);
}

TEST_CASE("sqlite inbox: a commit that fails leaves nothing and the key not done") {
    Fixture f;
    f.inbox.connect<UserRegistered>(
        f.events, [](const UserRegistered&, SqliteInbox::Transaction& tx) {
            exec_sql(tx.connection(), "INSERT INTO credits VALUES (1, 1)");
            exec_sql(tx.connection(),
                     "ROLLBACK"); // a handler ending the transaction itself: refused at commit
            exec_sql(tx.connection(), "INSERT INTO credits VALUES (2, 2)");
        });
    REQUIRE(f.inbox.claim(dedup_key("e1"), "worker-1", milliseconds(1000)) == ClaimState::claimed);
    CHECK(f.events.dispatch(samples::user_registered()).ok());
    CHECK_THROWS_AS(f.inbox.complete(dedup_key("e1")), SqliteError);
    CHECK_FALSE(f.inbox.done(dedup_key("e1")));
    // The handler's second insert ran outside any transaction: the commit refused rather than
    // recording the event as handled with half its effects.
    CHECK(f.credits() == 1);
}

TEST_CASE("sqlite inbox: a write lock held by another connection makes the claim busy") {
    TempDir dir;
    const std::string path = dir.file("app.db");
    authevents::bus::SqliteInboxOptions options;
    options.busy_timeout = milliseconds(50);
    SqliteInbox inbox(path, options);
    bus_test::Db other(path);
    other.exec("BEGIN IMMEDIATE");
    CHECK(inbox.claim(dedup_key("e1"), "worker-1", milliseconds(1000)) == ClaimState::in_progress);
    other.exec("COMMIT");
    CHECK(inbox.claim(dedup_key("e1"), "worker-1", milliseconds(1000)) == ClaimState::claimed);
    inbox.complete(dedup_key("e1"));
    CHECK(inbox.done(dedup_key("e1")));
}

TEST_CASE("sqlite inbox: threads sharing one inbox handle one event at a time") {
    Fixture f;
    std::atomic<int> inside{0};
    std::atomic<int> overlaps{0};
    f.inbox.connect<UserRegistered>(
        f.events, [&](const UserRegistered&, SqliteInbox::Transaction& tx) {
            if (inside.fetch_add(1) != 0) {
                overlaps.fetch_add(1);
            }
            exec_sql(tx.connection(), "INSERT INTO credits VALUES (1, 1)");
            std::this_thread::yield();
            inside.fetch_sub(1);
        });
    constexpr int per_thread = 40;
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                // Each event delivered twice, as duplicates across threads would be.
                const DedupKey k = dedup_key("e" + std::to_string(i));
                (void)deliver(f.inbox, f.events, k, samples::user_registered());
                if (t == 2) {
                    CHECK(f.events.dispatch(samples::user_registered()).ok()); // local
                }
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    CHECK(overlaps.load() == 0);
    CHECK(f.inbox.size() == per_thread);
    CHECK(f.credits() == per_thread * 2); // one per event id, plus the local dispatches
}

TEST_CASE("sqlite inbox: bad options and handlers are refused with a clear error") {
    TempDir dir;
    CHECK_THROWS_WITH(SqliteInbox(":memory:"), Catch::Contains("in-memory"));
    authevents::bus::SqliteInboxOptions bad;
    bad.table = "bad name";
    CHECK_THROWS_WITH(SqliteInbox(dir.file("a.db"), bad), Catch::Contains("invalid table name"));
    {
        bus_test::Db db(dir.file("b.db"));
        db.exec("CREATE TABLE authevents_inbox_handled (event_id TEXT, consumed_at_ms INTEGER)");
    }
    CHECK_THROWS_WITH(SqliteInbox(dir.file("b.db")), Catch::Contains("another layout"));

    SqliteInbox inbox(dir.file("c.db"));
    test_bus::QuietDispatcher events;
    authevents::ThreadPool pool(1, 4);
    authevents::ConnectOptions queued;
    queued.executor = pool.executor();
    CHECK_THROWS_WITH(inbox.connect<UserRegistered>(
                          events, [](const UserRegistered&, SqliteInbox::Transaction&) {}, queued),
                      Catch::Contains("cannot have an executor"));
    CHECK_THROWS_AS(inbox.prune(milliseconds(-1)), std::invalid_argument);
}

TEST_CASE("sqlite inbox: prune forgets old rows; a handler's slot goes with its inbox") {
    TempDir dir;
    test_bus::QuietDispatcher events;
    int calls = 0;
    {
        SqliteInbox inbox(dir.file("app.db"));
        inbox.connect<UserRegistered>(
            events, [&](const UserRegistered&, SqliteInbox::Transaction&) { ++calls; });
        REQUIRE(inbox.claim(dedup_key("old"), "w", milliseconds(1000)) == ClaimState::claimed);
        inbox.complete(dedup_key("old"));
        inbox.complete(dedup_key("marked")); // without a claim: recorded on its own
        CHECK(inbox.done(dedup_key("marked")));
        CHECK(inbox.prune(milliseconds(3600000)) == 0);
        CHECK(inbox.prune(milliseconds(0)) == 2);
        CHECK(inbox.size() == 0);
        events.dispatch(samples::user_registered());
        CHECK(calls == 1);
    }
    CHECK(events.signal<UserRegistered>().size() == 0);
    events.dispatch(samples::user_registered());
    CHECK(calls == 1);
}

TEST_CASE("dispatch on commit with SQLite: a rolled-back transaction dispatches nothing") {
    TempDir dir;
    bus_test::Db db(dir.file("service.db"));
    db.exec("CREATE TABLE users (email TEXT UNIQUE)");
    test_bus::QuietDispatcher events;
    authevents::testing::EventRecorder recorder(events);

    const auto register_user = [&](const std::string& email) {
        UnitOfWork work(events);
        db.exec("BEGIN IMMEDIATE");
        try {
            db.exec("INSERT INTO users VALUES ('" + email + "')");
            authevents::User user = samples::ana();
            user.email = email;
            work.dispatch(UserRegistered{user, true, std::nullopt});
            {
                UnitOfWork audit = work.savepoint();
                db.exec("SAVEPOINT audit");
                audit.dispatch(samples::user_login_failed());
                db.exec("ROLLBACK TO audit"); // the inner part fails alone
                audit.rollback();
                db.exec("RELEASE audit");
            }
            db.exec("COMMIT");
        } catch (...) {
            db.exec("ROLLBACK");
            throw; // `work` rolls back too, on its destruction
        }
        return work.commit();
    };
    CHECK(register_user("a@example.com").ok());
    CHECK_THROWS(register_user("a@example.com")); // UNIQUE: the transaction fails
    CHECK(register_user("b@example.com").events.size() == 1);
    CHECK(db.query_text("SELECT count(*) FROM users") == "2");
    CHECK(recorder.names() == std::vector<std::string>{"user_registered", "user_registered"});
}
