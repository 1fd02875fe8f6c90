// Tests for authevents/bus/postgres_inbox.hpp against a real PostgreSQL (and redis-server) the
// test starts itself: the inbox row and the handlers' writes commit or roll back together under
// a real StreamConsumer; contention between members; a server killed mid-transaction; and
// dispatch on commit (unit_of_work.hpp) beside a real PostgreSQL transaction.
#include <authevents/bus/consumer.hpp>
#include <authevents/bus/postgres_inbox.hpp>
#include <authevents/testing.hpp>
#include <authevents/unit_of_work.hpp>

#include "catch_compat.hpp"
#include "consumer_test_support.hpp"
#include "event_samples.hpp"
#include "postgres_server.hpp"

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

using authevents::UnitOfWork;
using authevents::UserRegistered;
using authevents::bus::ClaimState;
using authevents::bus::DedupKey;
using authevents::bus::EventTypeRegistry;
using authevents::bus::PostgresError;
using authevents::bus::PostgresInbox;
using authevents::bus::PostgresInboxOptions;
using authevents::bus::RedisConnection;
using authevents::bus::StreamConsumer;
using authevents::detail::PgConnection;
using authevents::detail::PgParams;
using authevents::detail::PgTransaction;
using std::chrono::milliseconds;

namespace {

std::int64_t count(PgConnection& db, const std::string& table) {
    return db.exec("SELECT count(*) FROM " + table, "test: count").int64(0, 0);
}

/// Polls until `done` holds (bounded), riding out rounds that fail (e.g. while PostgreSQL is
/// down); `between` runs after each round.
bool poll_through_failures(
    StreamConsumer& consumer, const std::function<bool()>& done,
    const std::function<void()>& between = [] {}) {
    for (int round = 0; round < 500 && !done(); ++round) {
        try {
            consumer.poll_once();
        } catch (const std::exception&) {
            // the entry stays pending; the next round retries
        }
        between();
    }
    return done();
}

void credit(const PostgresInbox::Transaction& tx, std::int64_t user_id) {
    authevents::detail::pg_exec(tx.connection(), "INSERT INTO credits VALUES ($1, 10)",
                                PgParams().int64(user_id), "test: credit");
}

} // namespace

TEST_CASE("postgres inbox: a handler failing after writing is retried; its effects commit once") {
    const std::string info = test_postgres::shared_server().create_database();
    PgConnection db(info, "test");
    db.exec("CREATE TABLE credits (user_id bigint NOT NULL, amount int NOT NULL)", "test");
    PostgresInbox inbox(info);

    test_redis::RedisServer redis_server;
    RedisConnection redis(redis_server.endpoint());
    const auto event = EventTypeRegistry{}.encode(samples::user_registered());
    test_consumer::add(redis, event);
    test_consumer::add(redis, event); // a relay duplicate

    test_bus::QuietDispatcher events;
    int attempts = 0;
    inbox.connect<UserRegistered>(
        events, [&](const UserRegistered& e, PostgresInbox::Transaction& tx) {
            REQUIRE(tx.inbox_key() != nullptr);
            CHECK(tx.inbox_key()->event_id == event.id);
            credit(tx, e.user.id);
            if (++attempts == 1) {
                throw std::runtime_error("ledger offline"); // after writing
            }
        });
    StreamConsumer consumer(redis_server.endpoint(), events, inbox, test_consumer::fast_options());
    CHECK(test_consumer::poll_until(consumer, [&] {
        return consumer.stats().handled == 1 && consumer.stats().duplicates == 1;
    }));
    CHECK(attempts == 2);
    CHECK(consumer.stats().failed_attempts == 1);
    CHECK(count(db, "credits") == 1);
    CHECK(count(db, "authevents_inbox_handled") == 1);
    CHECK(inbox.done(test_consumer::inbox_key(event)));
    CHECK(test_consumer::pending_count(redis) == 0);
}

TEST_CASE("postgres inbox: a second member handed the same event waits, then skips it") {
    const std::string info = test_postgres::shared_server().create_database();
    PostgresInboxOptions quick;
    quick.lock_timeout = milliseconds(100);
    PostgresInbox first(info);
    PostgresInbox second(info, quick);
    const DedupKey key{"events", "notifications", "e1"};

    REQUIRE(first.claim(key, "a", milliseconds(1000)) == ClaimState::claimed);
    // The first member's transaction holds the row: the second gives up after lock_timeout.
    CHECK(second.claim(key, "b", milliseconds(1000)) == ClaimState::in_progress);
    first.release(key, "a"); // the first member's handlers failed: rolled back
    REQUIRE(second.claim(key, "b", milliseconds(1000)) == ClaimState::claimed);
    second.complete(key);
    CHECK(first.claim(key, "a", milliseconds(1000)) == ClaimState::done);
    CHECK(first.done(key));
    // Keys are per group.
    CHECK(first.claim({"events", "analytics", "e1"}, "a", milliseconds(1000)) ==
          ClaimState::claimed);
    first.complete({"events", "analytics", "e1"});
    CHECK(first.size() == 2);
    CHECK(first.prune(milliseconds(3600000)) == 0);
    CHECK(first.prune(milliseconds(0)) == 2);
}

TEST_CASE("postgres inbox: a handler that swallows a failed statement commits nothing") {
    const std::string info = test_postgres::shared_server().create_database();
    PgConnection db(info, "test");
    db.exec("CREATE TABLE credits (user_id bigint PRIMARY KEY, amount int NOT NULL)", "test");
    PostgresInbox inbox(info);
    test_bus::QuietDispatcher events;
    inbox.connect<UserRegistered>(
        events, [](const UserRegistered& e, PostgresInbox::Transaction& tx) {
            credit(tx, e.user.id);
            try {
                credit(tx, e.user.id); // duplicate key: the transaction is now aborted
            } catch (const PostgresError&) {
                // swallowed: wrong, and the inbox must not record the event as handled
            }
        });
    const DedupKey key{"events", "notifications", "e1"};
    REQUIRE(inbox.claim(key, "a", milliseconds(1000)) == ClaimState::claimed);
    CHECK(events.dispatch(samples::user_registered()).ok());
    try {
        inbox.complete(key);
        FAIL("an aborted transaction was reported as committed");
    } catch (const PostgresError& e) {
        CHECK(e.sqlstate() == "25P02");
    }
    CHECK_FALSE(inbox.done(key));
    CHECK(count(db, "credits") == 0);
    // Dispatched locally, the handler has a transaction of its own, which fails the same way.
    CHECK_FALSE(events.dispatch(samples::user_registered()).ok());
    CHECK(count(db, "credits") == 0);
}

TEST_CASE("postgres inbox: PostgreSQL killed in a handler's transaction: the event commits once "
          "after the restart") {
    test_postgres::PostgresServer server; // its own: this test kills it
    const std::string info = server.conninfo();
    {
        PgConnection db(info, "test");
        db.exec("CREATE TABLE credits (user_id bigint NOT NULL, amount int NOT NULL)", "test");
    }
    PostgresInbox inbox(info);
    test_redis::RedisServer redis_server;
    RedisConnection redis(redis_server.endpoint());
    const EventTypeRegistry registry;
    authevents::User bob = samples::ana();
    bob.id = 43;
    test_consumer::add(redis, registry.encode(samples::user_registered()));
    test_consumer::add(redis, registry.encode(UserRegistered{bob, true, std::nullopt}));

    test_bus::QuietDispatcher events;
    int calls = 0;
    inbox.connect<UserRegistered>(events,
                                  [&](const UserRegistered& e, PostgresInbox::Transaction& tx) {
                                      credit(tx, e.user.id);
                                      if (++calls == 2) {
                                          server.kill(); // a crash before the commit
                                      }
                                  });
    StreamConsumer consumer(redis_server.endpoint(), events, inbox, test_consumer::fast_options());
    CHECK(poll_through_failures(
        consumer, [&] { return consumer.stats().handled == 2; },
        [&] {
            if (!server.running()) {
                server.start();
            }
        }));
    CHECK(calls == 3); // the killed attempt, then its retry
    PgConnection db(info, "test");
    CHECK(db.exec("SELECT user_id FROM credits ORDER BY user_id", "test").rows() == 2);
    CHECK(count(db, "authevents_inbox_handled") == 2);
    CHECK(test_consumer::pending_count(redis) == 0);
}

TEST_CASE("dispatch on commit with PostgreSQL: rolled back, nothing; committed, once") {
    const std::string info = test_postgres::shared_server().create_database();
    PgConnection db(info, "test");
    db.exec("CREATE TABLE users (email text PRIMARY KEY)", "test");
    test_bus::QuietDispatcher events;
    authevents::testing::EventRecorder recorder(events);
    int welcomed = 0;
    events.user_registered.connect([&](const UserRegistered&) { ++welcomed; });

    const auto register_user = [&](const std::string& email, bool fail_late) {
        UnitOfWork work(events);
        PgTransaction transaction(db.get(), "test: register");
        db.exec("INSERT INTO users VALUES ($1)", PgParams().text(email), "test: insert user");
        authevents::User user = samples::ana();
        user.email = email;
        work.dispatch(UserRegistered{user, true, std::nullopt});
        if (fail_late) {
            throw std::runtime_error("validation failed after the insert");
        }
        transaction.commit();
        return work.commit();
    };
    CHECK_THROWS_AS(register_user("a@example.com", true), std::runtime_error);
    CHECK(recorder.empty());
    CHECK(register_user("b@example.com", false).ok());
    CHECK(welcomed == 1);
    CHECK_THROWS_AS(register_user("b@example.com", false), PostgresError); // duplicate e-mail
    CHECK(count(db, "users") == 1);
    CHECK(welcomed == 1);
    REQUIRE(recorder.count<UserRegistered>() == 1);
    CHECK(recorder.last<UserRegistered>()->user.email == "b@example.com");
}
