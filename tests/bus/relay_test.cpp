#include "bus_test_support.hpp"
#include "catch_compat.hpp"
#include "sync_helpers.hpp"

#include <authevents/bus/outbox.hpp>
#include <authevents/bus/redis.hpp>
#include <authevents/bus/relay.hpp>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

using authevents::bus::OutboxRelay;
using authevents::bus::RedisCommandError;
using authevents::bus::RedisConnection;
using authevents::bus::RedisConnectionError;
using authevents::bus::RelayOptions;
using authevents::bus::SqliteOutbox;

namespace {

RelayOptions fast_options(std::size_t batch_size = 16) {
    RelayOptions options;
    options.stream = "events";
    options.batch_size = batch_size;
    options.poll_interval = std::chrono::milliseconds(5);
    options.min_backoff = std::chrono::milliseconds(5);
    options.max_backoff = std::chrono::milliseconds(50);
    return options;
}

void append_numbered(SqliteOutbox& outbox, int first, int count) {
    for (int i = first; i < first + count; ++i) {
        outbox.append("id-" + std::to_string(i), "test.numbered.v1",
                      "{\"n\":" + std::to_string(i) + "}");
    }
}

std::vector<std::string> ids_in(RedisConnection& redis) {
    std::vector<std::string> ids;
    for (const auto& entry : test_bus::read_stream(redis, "events")) {
        ids.push_back(entry.field("id"));
    }
    return ids;
}

std::vector<std::string> numbered_ids(int count) {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) {
        ids.push_back("id-" + std::to_string(i));
    }
    return ids;
}

} // namespace

TEST_CASE("relay: pending records reach the stream in order, with id, type and event fields") {
    test_redis::RedisServer server;
    test_bus::TempDatabase db;
    SqliteOutbox outbox(db.path());
    append_numbered(outbox, 0, 40);
    OutboxRelay relay(outbox, server.endpoint(), fast_options(16));

    CHECK(relay.relay_once() == 40); // three batches: 16 + 16 + 8
    CHECK(outbox.pending_count() == 0);
    CHECK(relay.relay_once() == 0);
    CHECK(relay.stats().published == 40);

    RedisConnection redis(server.endpoint());
    const auto entries = test_bus::read_stream(redis, "events");
    REQUIRE(entries.size() == 40);
    CHECK(entries[3].field("id") == "id-3");
    CHECK(entries[3].field("type") == "test.numbered.v1");
    CHECK(entries[3].field("event") == "{\"n\":3}");
    CHECK(ids_in(redis) == numbered_ids(40));
}

TEST_CASE("relay: while Redis is down records stay pending, then go out in order") {
    test_redis::RedisServer server;
    test_bus::TempDatabase db;
    SqliteOutbox outbox(db.path());
    OutboxRelay relay(outbox, server.endpoint(), fast_options());
    append_numbered(outbox, 0, 5);
    CHECK(relay.relay_once() == 5);

    server.stop();
    append_numbered(outbox, 5, 10);
    CHECK_THROWS_AS(relay.relay_once(), RedisConnectionError);
    CHECK(outbox.pending_count() == 10);
    const auto waiting = outbox.next_batch(100);
    REQUIRE(waiting.size() == 10);
    CHECK(waiting.front().attempts >= 1);

    server.start();
    CHECK(relay.relay_once() == 10);
    RedisConnection redis(server.endpoint());
    CHECK(ids_in(redis) == numbered_ids(15));
}

TEST_CASE("relay: a record Redis refuses stays pending and the error names the command") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    redis.command({"SET", "events", "not a stream"});
    test_bus::TempDatabase db;
    SqliteOutbox outbox(db.path());
    append_numbered(outbox, 0, 3);
    OutboxRelay relay(outbox, server.endpoint(), fast_options());

    try {
        relay.relay_once();
        FAIL("XADD to a string key must be refused");
    } catch (const RedisCommandError& e) {
        CHECK(e.command() == "XADD");
        CHECK(e.is("WRONGTYPE"));
    }
    CHECK(outbox.pending_count() == 3);

    redis.command({"DEL", "events"});
    CHECK(relay.relay_once() == 3);
    CHECK(ids_in(redis) == numbered_ids(3));
}

TEST_CASE("relay: the background thread publishes through a Redis restart, losing nothing") {
    test_redis::RedisServer server;
    test_bus::TempDatabase db;
    SqliteOutbox outbox(db.path());
    OutboxRelay relay(outbox, server.endpoint(), fast_options(8));
    relay.start();

    constexpr int total = 600;
    std::atomic<int> appended{0};
    std::thread producer([&] {
        for (int i = 0; i < total; ++i) {
            append_numbered(outbox, i, 1);
            relay.notify();
            appended.store(i + 1);
            if (i % 50 == 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
        }
    });
    CHECK(test_sync::eventually([&] { return appended.load() >= total / 3; }));
    server.stop(); // mid-stream
    CHECK(test_sync::eventually([&] { return relay.stats().failed_attempts > 0; }));
    server.start();
    producer.join();
    CHECK(relay.wait_until_drained(std::chrono::seconds(20)));
    relay.stop();

    // At-least-once: a batch whose replies were lost may be in the stream twice; every id is
    // there, and the first copies are in outbox order.
    RedisConnection redis(server.endpoint());
    std::vector<std::string> first_copies;
    std::set<std::string> seen;
    for (const auto& id : ids_in(redis)) {
        if (seen.insert(id).second) {
            first_copies.push_back(id);
        }
    }
    CHECK(first_copies == numbered_ids(total));
    CHECK(relay.stats().redis_reachable);
}

TEST_CASE("relay: MAXLEN ~ keeps the stream near max_length") {
    test_redis::RedisServer server;
    test_bus::TempDatabase db;
    SqliteOutbox outbox(db.path());
    RelayOptions options = fast_options(50);
    options.max_length = 100;
    OutboxRelay relay(outbox, server.endpoint(), options);
    append_numbered(outbox, 0, 1000);
    CHECK(relay.relay_once() == 1000);
    RedisConnection redis(server.endpoint());
    const long long length = test_bus::stream_length(redis, "events");
    CHECK(length >= 100);
    CHECK(length < 1000);
}

TEST_CASE("relay: options that cannot work are rejected by name") {
    test_bus::TempDatabase db;
    SqliteOutbox outbox(db.path());
    authevents::bus::RedisEndpoint endpoint;
    RelayOptions no_stream;
    no_stream.stream.clear();
    CHECK(test_bus::contains(
        test_bus::error_of([&] { OutboxRelay relay(outbox, endpoint, no_stream); }), "stream"));
    RelayOptions no_batch;
    no_batch.batch_size = 0;
    CHECK(test_bus::contains(
        test_bus::error_of([&] { OutboxRelay relay(outbox, endpoint, no_batch); }), "batch_size"));
}

TEST_CASE("relay: wait_until_drained reports a timeout while Redis stays down") {
    test_redis::RedisServer server;
    test_bus::TempDatabase db;
    SqliteOutbox outbox(db.path());
    OutboxRelay relay(outbox, server.endpoint(), fast_options());
    server.stop();
    relay.start();
    append_numbered(outbox, 0, 3);
    CHECK_FALSE(relay.wait_until_drained(std::chrono::milliseconds(100)));
    server.start();
    CHECK(relay.wait_until_drained(std::chrono::seconds(20)));
    relay.stop();
    RedisConnection redis(server.endpoint());
    CHECK(ids_in(redis) == numbered_ids(3));
}
