#include "bus_test_support.hpp"
#include "catch_compat.hpp"
#include "consumer_test_support.hpp"
#include "event_samples.hpp"
#include "sqlite_test_helpers.hpp"
#include "sync_helpers.hpp"

#include <authevents/bus/cloudevent.hpp>
#include <authevents/bus/consumer.hpp>
#include <authevents/bus/dedup.hpp>
#include <authevents/bus/redis.hpp>
#include <authevents/bus/redis_dedup.hpp>
#include <authevents/bus/sqlite_inbox.hpp>
#include <authevents/dispatcher.hpp>
#include <authevents/testing.hpp>

#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

using authevents::UserLoginFailed;
using authevents::UserRegistered;
using authevents::bus::CloudEvent;
using authevents::bus::ConsumerOptions;
using authevents::bus::EventTypeRegistry;
using authevents::bus::MemoryDedupStore;
using authevents::bus::RedisConnection;
using authevents::bus::StreamConsumer;
using namespace test_consumer;

TEST_CASE("consumer: every built-in event arrives at the same typed handler, then is acked") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    const EventTypeRegistry registry;
    test_bus::for_each_sample([&](const auto& event) { add(redis, registry.encode(event)); });

    test_bus::QuietDispatcher dispatcher;
    authevents::testing::EventRecorder recorder(dispatcher);
    MemoryDedupStore dedup;
    StreamConsumer consumer(server.endpoint(), dispatcher, dedup, fast_options());
    CHECK(poll_until(consumer, [&] { return consumer.stats().handled == 12; }));

    test_bus::for_each_sample([&](const auto& event) {
        using Event = std::decay_t<decltype(event)>;
        INFO(Event::name);
        CHECK(recorder.last<Event>() == event);
    });
    CHECK(pending_count(redis) == 0);
    CHECK(consumer.stats().dead_lettered == 0);
}

TEST_CASE("consumer: a duplicate CloudEvent id runs the handlers once and is acked") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    const EventTypeRegistry registry;
    const CloudEvent event = registry.encode(samples::user_registered());
    add(redis, event);
    add(redis, event); // e.g. the relay re-published after losing XADD's reply

    test_bus::QuietDispatcher dispatcher;
    int calls = 0;
    dispatcher.user_registered.connect([&](const UserRegistered&) { ++calls; });
    MemoryDedupStore dedup;
    StreamConsumer consumer(server.endpoint(), dispatcher, dedup, fast_options());
    CHECK(poll_until(consumer, [&] { return consumer.stats().duplicates == 1; }));
    CHECK(calls == 1);
    CHECK(consumer.stats().handled == 1);
    CHECK(pending_count(redis) == 0);
    CHECK(dedup.done(inbox_key(event)));
}

TEST_CASE("consumer: a handler that fails is retried, and succeeds on a later delivery") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    add(redis, EventTypeRegistry{}.encode(samples::user_login_failed()));

    test_bus::QuietDispatcher dispatcher;
    int calls = 0;
    dispatcher.user_login_failed.connect([&](const UserLoginFailed&) {
        if (++calls < 3) {
            throw std::runtime_error("mail server busy");
        }
    });
    MemoryDedupStore dedup;
    StreamConsumer consumer(server.endpoint(), dispatcher, dedup, fast_options());
    CHECK(poll_until(consumer, [&] { return consumer.stats().handled == 1; }));
    CHECK(calls == 3);
    CHECK(consumer.stats().failed_attempts == 2);
    CHECK(consumer.stats().dead_lettered == 0);
    CHECK(pending_count(redis) == 0);
}

TEST_CASE("consumer: an entry whose handler keeps failing goes to the dead-letter stream") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    const CloudEvent event = EventTypeRegistry{}.encode(samples::user_registered());
    const std::string entry_id = add(redis, event);

    test_bus::QuietDispatcher dispatcher;
    int calls = 0;
    dispatcher.user_registered.connect([&](const UserRegistered&) {
        ++calls;
        throw std::runtime_error("CRM unreachable");
    });
    MemoryDedupStore dedup;
    StreamConsumer consumer(server.endpoint(), dispatcher, dedup, fast_options());
    CHECK(poll_until(consumer, [&] { return consumer.stats().dead_lettered == 1; }));
    CHECK(calls == 3); // max_deliveries
    CHECK(pending_count(redis) == 0);
    CHECK_FALSE(dedup.done(inbox_key(event)));

    const auto dead = test_bus::read_stream(redis, "events.dead");
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].field("entry_id") == entry_id);
    CHECK(test_bus::contains(dead[0].field("reason"), "CRM unreachable"));
    CHECK(test_bus::contains(dead[0].field("reason"), "3 deliveries"));
    CHECK(dead[0].field("field.event") == authevents::bus::to_json_text(event));
    CHECK(dead[0].field("consumer") == "worker-1");
}

TEST_CASE("consumer: malformed and unknown entries are dead-lettered at once with the reason") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    CloudEvent unknown = EventTypeRegistry{}.encode(samples::user_registered());
    unknown.type = "authevents.user_exploded.v1";
    CloudEvent bad_data = EventTypeRegistry{}.encode(samples::user_registered());
    bad_data.data["user"]["id"] = "forty-two";

    add_raw(redis, {"event", "{not json"});
    add_raw(redis, {"id", "x", "type", "y"});
    add(redis, unknown);
    add(redis, bad_data);
    add_raw(redis, {"event", "{\"specversion\":\"1.0\"}"});

    test_bus::QuietDispatcher dispatcher;
    authevents::testing::EventRecorder recorder(dispatcher);
    MemoryDedupStore dedup;
    StreamConsumer consumer(server.endpoint(), dispatcher, dedup, fast_options());
    CHECK(poll_until(consumer, [&] { return consumer.stats().dead_lettered == 5; }));
    CHECK(recorder.size() == 0);
    CHECK(pending_count(redis) == 0);

    const auto dead = test_bus::read_stream(redis, "events.dead");
    REQUIRE(dead.size() == 5);
    CHECK(test_bus::contains(dead[0].field("reason"), "cannot parse the CloudEvent"));
    CHECK(dead[1].field("reason") == "entry has no 'event' field");
    CHECK(test_bus::contains(dead[2].field("reason"), "authevents.user_exploded.v1"));
    CHECK(test_bus::contains(dead[3].field("reason"), "data.user.id"));
    CHECK(test_bus::contains(dead[4].field("reason"), "'id'"));
}

TEST_CASE("consumer: a restarted consumer re-reads its own pending entries") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    // worker-1 took all five, then died before acknowledging any.
    leave_pending(redis, "worker-1", 5, samples::user_registered());
    REQUIRE(pending_count(redis) == 5);

    test_bus::QuietDispatcher dispatcher;
    int calls = 0;
    dispatcher.user_registered.connect([&](const UserRegistered&) { ++calls; });
    MemoryDedupStore dedup;
    StreamConsumer restarted(server.endpoint(), dispatcher, dedup, fast_options("worker-1"));
    restarted.poll_once();
    CHECK(calls == 5);
    CHECK(pending_count(redis) == 0);
    CHECK(restarted.stats().claimed == 0);
}

TEST_CASE("consumer: entries a dead consumer left idle are claimed by another") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    leave_pending(redis, "dead-worker", 4, samples::profile_updated());

    test_bus::QuietDispatcher dispatcher;
    int calls = 0;
    dispatcher.profile_updated.connect([&](const authevents::ProfileUpdated&) { ++calls; });
    MemoryDedupStore dedup;
    StreamConsumer survivor(server.endpoint(), dispatcher, dedup, fast_options("worker-2"));
    CHECK(poll_until(survivor, [&] { return calls == 4; })); // after claim_min_idle (50 ms)
    CHECK(survivor.stats().claimed == 4);
    CHECK(pending_count(redis) == 0);
}

TEST_CASE("consumer: the background thread rides out a Redis restart") {
    test_redis::RedisServer server;
    test_bus::QuietDispatcher dispatcher;
    std::mutex mutex;
    std::map<std::string, int> calls_by_id;
    dispatcher.user_registered.connect([&](const UserRegistered& event) {
        std::lock_guard<std::mutex> lock(mutex);
        ++calls_by_id[event.user.email];
    });
    MemoryDedupStore dedup;
    StreamConsumer consumer(server.endpoint(), dispatcher, dedup, fast_options());
    consumer.start();

    const EventTypeRegistry registry;
    auto publish = [&](int first, int count) {
        RedisConnection redis(server.endpoint());
        for (int i = first; i < first + count; ++i) {
            auto event = samples::user_registered();
            event.user.email = "user" + std::to_string(i) + "@example.com";
            add(redis, registry.encode(event));
        }
    };
    auto handled = [&] {
        std::lock_guard<std::mutex> lock(mutex);
        return calls_by_id.size();
    };
    publish(0, 50);
    CHECK(test_sync::eventually([&] { return handled() == 50; }));
    server.stop();
    CHECK(test_sync::eventually([&] { return consumer.stats().redis_errors > 0; }));
    server.start();
    publish(50, 50);
    CHECK(test_sync::eventually([&] { return handled() == 100; }));
    consumer.stop();

    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& [email, calls] : calls_by_id) {
        INFO(email);
        CHECK(calls == 1);
    }
}

TEST_CASE("consumer: options that cannot work are rejected by name") {
    test_bus::QuietDispatcher dispatcher;
    MemoryDedupStore dedup;
    ConsumerOptions no_group = fast_options();
    no_group.group.clear();
    CHECK(test_bus::contains(
        test_bus::error_of([&] { StreamConsumer consumer({}, dispatcher, dedup, no_group); }),
        "group"));
    ConsumerOptions zero_deliveries = fast_options();
    zero_deliveries.max_deliveries = 0;
    CHECK(test_bus::contains(test_bus::error_of([&] {
                                 StreamConsumer consumer({}, dispatcher, dedup, zero_deliveries);
                             }),
                             "max_deliveries"));
    ConsumerOptions defaults;
    StreamConsumer named({}, dispatcher, dedup, defaults);
    char host[256] = {};
    REQUIRE(::gethostname(host, sizeof(host) - 1) == 0);
    CHECK(named.options().consumer == host); // stable across restarts
    CHECK(named.options().dead_letter_stream == "authevents.dead");
}

TEST_CASE("consumer: members on a shared RedisDedupStore skip a duplicate the other handled") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    const CloudEvent event = EventTypeRegistry{}.encode(samples::user_registered());
    add(redis, event);

    authevents::bus::RedisDedupStore shared(server.endpoint(),
                                            "test:consumed:", std::chrono::seconds(60));
    test_bus::QuietDispatcher dispatcher;
    int calls = 0;
    dispatcher.user_registered.connect([&](const UserRegistered&) { ++calls; });
    StreamConsumer first(server.endpoint(), dispatcher, shared, fast_options("worker-1"));
    CHECK(poll_until(first, [&] { return first.stats().handled == 1; }));

    add(redis, event); // the relay's duplicate, delivered to the other member
    StreamConsumer second(server.endpoint(), dispatcher, shared, fast_options("worker-2"));
    CHECK(poll_until(second, [&] { return second.stats().duplicates == 1; }));
    CHECK(calls == 1);
    CHECK(pending_count(redis) == 0);
    const long long ttl = redis.command({"TTL", shared.redis_key(inbox_key(event))}).integer;
    CHECK(ttl > 0);
    CHECK(ttl <= 60);
}

TEST_CASE("consumer: with a SqliteInbox a handler failing after writing commits its effects once") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    const CloudEvent event = EventTypeRegistry{}.encode(samples::user_registered());
    add(redis, event);
    add(redis, event); // a relay duplicate

    test_bus::CreditsInbox app; // the SqliteInbox in the service's database, with `credits`
    auto& inbox = app.inbox;
    auto& dispatcher = app.events;
    int attempts = 0;
    int emails = 0;
    dispatcher.user_registered.connect([&](const UserRegistered&) { ++emails; }); // not in it
    inbox.connect<UserRegistered>(
        dispatcher, [&](const UserRegistered&, authevents::bus::SqliteInbox::Transaction& tx) {
            test_bus::exec_sql(tx.connection(), "INSERT INTO credits VALUES (42, 10)");
            if (++attempts == 1) {
                throw std::runtime_error("ledger offline"); // after writing
            }
        });
    StreamConsumer consumer(server.endpoint(), dispatcher, inbox, fast_options());
    CHECK(poll_until(consumer, [&] {
        return consumer.stats().handled == 1 && consumer.stats().duplicates == 1;
    }));
    CHECK(attempts == 2);
    CHECK(emails == 2); // other handlers: at least once
    CHECK(consumer.stats().failed_attempts == 1);
    CHECK(app.credits() == 1);
    CHECK(inbox.done(inbox_key(event)));
    CHECK(pending_count(redis) == 0);
}

TEST_CASE("consumer: an inbox that cannot commit fails the delivery, then dead-letters it") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    const CloudEvent event = EventTypeRegistry{}.encode(samples::user_registered());
    add(redis, event);

    bus_test::TempDir dir;
    authevents::bus::SqliteInbox inbox(dir.file("app.db"));
    test_bus::QuietDispatcher dispatcher;
    inbox.connect<UserRegistered>(dispatcher, [&](const UserRegistered&,
                                                  authevents::bus::SqliteInbox::Transaction& tx) {
        // Ends the transaction behind the inbox's back: the commit is refused.
        REQUIRE(sqlite3_exec(tx.connection(), "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
    });
    StreamConsumer consumer(server.endpoint(), dispatcher, inbox, fast_options());
    CHECK(poll_until(consumer, [&] { return consumer.stats().dead_lettered == 1; }));
    CHECK(consumer.stats().failed_attempts == 3);
    CHECK(consumer.stats().handled == 0);
    CHECK_FALSE(inbox.done(inbox_key(event)));
    const auto dead = test_bus::read_stream(redis, "events.dead");
    REQUIRE(dead.size() == 1);
    CHECK(test_bus::contains(dead[0].field("reason"),
                             "the handlers ran but the inbox did not record it"));
    CHECK(test_bus::contains(dead[0].field("reason"), "recording it in the inbox failed"));
}
