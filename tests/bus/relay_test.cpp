#include "bus_test_support.hpp"
#include "catch_compat.hpp"
#include "log_capture.hpp"
#include "sync_helpers.hpp"

#include <authevents/bus/outbox.hpp>
#include <authevents/bus/redis.hpp>
#include <authevents/bus/relay.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using authevents::LogLevel;
using authevents::bus::OutboxRelay;
using authevents::bus::RedisCommandError;
using authevents::bus::RedisConnection;
using authevents::bus::RedisConnectionError;
using authevents::bus::RelayOptions;
using authevents::bus::SqliteOutbox;

namespace {

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

/// Reads up to `count` new entries for `group` (member "m"); returns their stream ids.
std::vector<std::string> read_group(RedisConnection& redis, const std::string& group, int count) {
    const auto reply = redis.command({"XREADGROUP", "GROUP", group, "m", "COUNT",
                                      std::to_string(count), "STREAMS", "events", ">"});
    std::vector<std::string> ids;
    if (reply.is_array() && !reply.elements.empty()) {
        for (const auto& entry : reply.elements[0].elements[1].elements) {
            ids.push_back(entry.elements[0].text);
        }
    }
    return ids;
}

void ack(RedisConnection& redis, const std::string& group, const std::vector<std::string>& ids) {
    for (const auto& id : ids) {
        redis.command({"XACK", "events", group, id});
    }
}

/// The ids in the stream, each once, in the order of their first copies.
std::vector<std::string> first_copies_in(RedisConnection& redis) {
    std::vector<std::string> first;
    std::set<std::string> seen;
    for (const auto& id : ids_in(redis)) {
        if (seen.insert(id).second) {
            first.push_back(id);
        }
    }
    return first;
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
    OutboxRelay relay(outbox, server.endpoint(), test_bus::fast_relay_options(16));

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
    OutboxRelay relay(outbox, server.endpoint(), test_bus::fast_relay_options());
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
    OutboxRelay relay(outbox, server.endpoint(), test_bus::fast_relay_options());

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
    OutboxRelay relay(outbox, server.endpoint(), test_bus::fast_relay_options(8));
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
    CHECK(first_copies_in(redis) == numbered_ids(total));
    CHECK(relay.stats().redis_reachable);
}

TEST_CASE("relay: with no consumer group the max_length cap keeps the stream at max_length, "
          "counting and logging what it drops") {
    test_redis::RedisServer server;
    test_bus::TempDatabase db;
    authevents::bus::OutboxOptions quick;
    quick.synchronous_full = false; // 1000 appends
    SqliteOutbox outbox(db.path(), quick);
    RelayOptions options = test_bus::fast_relay_options(50);
    options.max_length = 100;
    LogCapture log;
    OutboxRelay relay(outbox, server.endpoint(), options, log.logger());
    append_numbered(outbox, 0, 1000);
    CHECK(relay.relay_once() == 1000);
    RedisConnection redis(server.endpoint());
    CHECK(test_bus::stream_length(redis, "events") == 100);
    CHECK(relay.stats().dropped_undelivered == 900);
    CHECK(relay.stats().trimmed == 0);
    CHECK(ids_in(redis).front() == "id-900");
    const auto errors = log.texts(LogLevel::error);
    REQUIRE_FALSE(errors.empty());
    CHECK(test_bus::contains(errors.front(), "max_length 100"));
    CHECK(test_bus::contains(errors.front(), "no consumer group"));
}

TEST_CASE("relay: trimming by MINID keeps what the slowest group still needs; drops past the "
          "hard cap are counted") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    redis.command({"XGROUP", "CREATE", "events", "fast", "0", "MKSTREAM"});
    redis.command({"XGROUP", "CREATE", "events", "slow", "0", "MKSTREAM"});
    test_bus::TempDatabase db;
    SqliteOutbox outbox(db.path());
    RelayOptions options = test_bus::fast_relay_options(16);
    options.max_length = 1000;
    LogCapture log;
    auto relay = std::make_unique<OutboxRelay>(outbox, server.endpoint(), options, log.logger());
    append_numbered(outbox, 0, 50);
    CHECK(relay->relay_once() == 50);
    CHECK(test_bus::stream_length(redis, "events") == 50); // nothing delivered: nothing trimmed
    CHECK(relay->stats().trimmed == 0);

    // "fast" gets and acknowledges everything; "slow" gets 20 and acknowledges 10 of them.
    const auto fast = read_group(redis, "fast", 100);
    REQUIRE(fast.size() == 50);
    ack(redis, "fast", fast);
    const auto slow = read_group(redis, "slow", 20);
    REQUIRE(slow.size() == 20);
    ack(redis, "slow", {slow.begin(), slow.begin() + 10});

    append_numbered(outbox, 50, 10);
    CHECK(relay->relay_once() == 10);
    // Entries 0-9 were delivered to and acknowledged by both groups; 10-19 are pending in
    // "slow", 20-59 not delivered to it: all of those stay.
    CHECK(relay->stats().trimmed == 10);
    CHECK(relay->stats().dropped_undelivered == 0);
    std::vector<std::string> expected;
    for (int i = 10; i < 60; ++i) {
        expected.push_back("id-" + std::to_string(i));
    }
    CHECK(ids_in(redis) == expected);
    const auto groups = relay->group_stats();
    REQUIRE(groups.size() == 2);
    CHECK(groups[0].name == "fast");
    CHECK(groups[0].pending == 0);
    CHECK(groups[0].lag == std::optional<std::uint64_t>(10));
    CHECK(groups[1].name == "slow");
    CHECK(groups[1].pending == 10);
    CHECK(groups[1].oldest_pending_id == slow[10]);
    CHECK(groups[1].last_delivered_id == slow[19]);
    CHECK(groups[1].lag == std::optional<std::uint64_t>(40));
    CHECK(log.texts(LogLevel::error).empty());

    // The same stream behind a hard cap of 30: the 25 oldest entries "slow" still needs go,
    // counted and logged.
    relay.reset(); // releases the lease
    options.max_length = 30;
    OutboxRelay capped(outbox, server.endpoint(), options, log.logger());
    append_numbered(outbox, 60, 5);
    CHECK(capped.relay_once() == 5);
    CHECK(capped.stats().dropped_undelivered == 25);
    CHECK(test_bus::stream_length(redis, "events") == 30);
    CHECK(ids_in(redis).front() == "id-35");
    const auto errors = log.texts(LogLevel::error);
    REQUIRE(errors.size() == 1);
    CHECK(test_bus::contains(errors.front(), "dropped its 25 oldest entries"));
    CHECK(test_bus::contains(errors.front(), "had not been delivered"));
}

TEST_CASE("relay: a group named in RelayOptions::groups that does not exist yet keeps "
          "everything") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    redis.command({"XGROUP", "CREATE", "events", "fast", "0", "MKSTREAM"});
    test_bus::TempDatabase db;
    SqliteOutbox outbox(db.path());
    RelayOptions options = test_bus::fast_relay_options(16);
    options.groups = {"fast", "analytics"};
    OutboxRelay relay(outbox, server.endpoint(), options);
    append_numbered(outbox, 0, 20);
    CHECK(relay.relay_once() == 20);
    ack(redis, "fast", read_group(redis, "fast", 100));
    append_numbered(outbox, 20, 1);
    CHECK(relay.relay_once() == 1);
    CHECK(relay.stats().trimmed == 0);
    CHECK(test_bus::stream_length(redis, "events") == 21);

    redis.command({"XGROUP", "CREATE", "events", "analytics", "0"});
    ack(redis, "analytics", read_group(redis, "analytics", 5));
    append_numbered(outbox, 21, 1);
    CHECK(relay.relay_once() == 1);
    CHECK(relay.stats().trimmed == 5);
    CHECK(ids_in(redis).front() == "id-5");
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
    OutboxRelay relay(outbox, server.endpoint(), test_bus::fast_relay_options());
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

TEST_CASE("relay: an outage's warnings name the Redis endpoint as configured, not redacted") {
    test_redis::RedisServer server;
    test_bus::TempDatabase db;
    SqliteOutbox outbox(db.path());
    LogCapture log;
    const authevents::bus::RedisEndpoint endpoint = server.endpoint();
    OutboxRelay relay(outbox, endpoint, test_bus::fast_relay_options(), log.logger());
    server.stop();
    relay.start();
    append_numbered(outbox, 0, 1);
    CHECK(test_sync::eventually([&] { return !log.texts(authevents::LogLevel::warning).empty(); }));
    relay.stop();
    const std::string warning = log.texts(authevents::LogLevel::warning).front();
    INFO(warning);
    CHECK(test_bus::contains(warning, endpoint.host + ":" + std::to_string(endpoint.port)));
    CHECK_FALSE(test_bus::contains(warning, "/24"));
}

TEST_CASE("relay: failure_line keeps a Redis connection failure unredacted, redacts others, and "
          "escapes once") {
    using authevents::detail::failure_line;
    const authevents::RedactionPolicy policy; // the default: e-mails masked, IPs truncated
    const authevents::bus::RedisConnectionError outage(
        "redis XADD on 10.0.4.7:6379: the server closed the connection");
    CHECK(failure_line(outage.what(), outage, policy, 256) == outage.what());
    const std::runtime_error refused("UNIQUE constraint failed: ana@example.com from 10.0.4.7");
    CHECK(failure_line(refused.what(), refused, policy, 256) ==
          "UNIQUE constraint failed: a***@example.com from 10.0.4.0/24");
    CHECK(failure_line(outage.what(), outage, policy, 20).size() <= 20); // still capped
    const authevents::bus::RedisConnectionError garbled("redis XADD on 10.0.4.7:6379: bad\nreply");
    CHECK(failure_line(std::string("relay: ") + garbled.what(), garbled, policy, 256) ==
          "relay: redis XADD on 10.0.4.7:6379: bad\\nreply");
}

TEST_CASE("relay: two relays on one outbox publish each record once, in order; the waiting one "
          "takes over when the active one stops") {
    test_redis::RedisServer server;
    test_bus::TempDatabase db;
    SqliteOutbox outbox_a(db.path()); // two connections, as two processes would have
    SqliteOutbox outbox_b(db.path());
    RelayOptions options = test_bus::fast_relay_options(8);
    options.relay_id = "relay-a";
    OutboxRelay a(outbox_a, server.endpoint(), options);
    options.relay_id = "relay-b";
    OutboxRelay b(outbox_b, server.endpoint(), options);
    a.start();
    REQUIRE(test_sync::eventually([&] { return a.stats().lease_held; }));
    b.start();

    constexpr int total = 400;
    for (int i = 0; i < total; ++i) {
        append_numbered(i % 2 == 0 ? outbox_a : outbox_b, i, 1);
        a.notify();
        b.notify();
        if (i == total / 2) {
            CHECK(a.wait_until_drained(std::chrono::seconds(20)));
            CHECK_FALSE(b.stats().lease_held);
            CHECK(b.stats().published == 0);
            a.stop(); // releases the lease: b takes over
        }
    }
    CHECK(b.wait_until_drained(std::chrono::seconds(20)));
    CHECK(b.stats().lease_held);
    b.stop();
    CHECK(a.stats().published > 0);
    CHECK(b.stats().published > 0);
    CHECK(a.stats().published + b.stats().published == total);
    RedisConnection redis(server.endpoint());
    CHECK(ids_in(redis) == numbered_ids(total)); // each once, in order
    CHECK_FALSE(outbox_a.lease().has_value());   // b released it too
}

TEST_CASE("relay: when the active relay's process is killed, the waiting relay takes over once "
          "its lease expires") {
    test_redis::RedisServer server;
    test_bus::TempDatabase db;
    {
        SqliteOutbox setup(db.path());
        append_numbered(setup, 0, 300);
    }
    RelayOptions options = test_bus::fast_relay_options(4);
    options.lease_duration = std::chrono::milliseconds(3000);
    // The active relay runs in a child process, forked before this test starts a thread (the
    // test case's watchdog, hang_watch.cpp, holds no lock the child needs).
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        int status = 0;
        try {
            SqliteOutbox outbox(db.path());
            RelayOptions slow = options;
            slow.relay_id = "child";
            slow.batch_size = 1;
            OutboxRelay relay(outbox, server.endpoint(), slow);
            for (;;) {
                relay.relay_once();
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
        } catch (...) {
            status = 1;
        }
        ::_exit(status);
    }
    SqliteOutbox outbox(db.path());
    const bool child_active = test_sync::eventually([&] {
        const auto lease = outbox.lease();
        return lease && lease->owner == "child" && outbox.pending_count() < 250;
    });
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(child_active);
    CHECK(WIFSIGNALED(status));
    const std::size_t left = outbox.pending_count();
    CHECK(left > 0);

    options.relay_id = "survivor";
    OutboxRelay relay(outbox, server.endpoint(), options);
    CHECK(relay.relay_once() == 0); // the dead relay's lease has not expired yet
    relay.start();
    CHECK(relay.wait_until_drained(std::chrono::seconds(20)));
    CHECK(relay.stats().lease_held);
    relay.stop();
    // At least once: the batch the child was killed in may be there twice.
    RedisConnection redis(server.endpoint());
    CHECK(first_copies_in(redis) == numbered_ids(300));
    CHECK(relay.stats().published == left);
}

TEST_CASE("relay: NOAUTH replies make the relay reconnect with backoff until Redis accepts it") {
    test_redis::RedisServer server;
    RedisConnection admin(server.endpoint());
    test_bus::TempDatabase db;
    SqliteOutbox outbox(db.path());
    OutboxRelay relay(outbox, server.endpoint(), test_bus::fast_relay_options());
    append_numbered(outbox, 0, 3);
    CHECK(relay.relay_once() == 3);

    admin.command({"CONFIG", "SET", "requirepass", "s3cret"});
    admin.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}); // the relay's link
    append_numbered(outbox, 3, 3);
    relay.start();
    // Each attempt connects anew; Redis refuses the new connection's PING with NOAUTH.
    CHECK(test_sync::eventually(
        [&] { return relay.stats().refused_attempts >= 3 && relay.stats().failed_attempts >= 3; }));
    CHECK(outbox.pending_count() == 3);
    const auto waiting = outbox.next_batch(10);
    REQUIRE(waiting.size() == 3);
    CHECK(waiting[0].attempts >= 1);

    admin.command({"CONFIG", "SET", "requirepass", ""});
    CHECK(relay.wait_until_drained(std::chrono::seconds(20)));
    relay.stop();
    CHECK(relay.stats().reconnects >= 1);
    CHECK(ids_in(admin) == numbered_ids(6));
}

TEST_CASE("relay: READONLY replies (a replica after a failover) make the relay reconnect with "
          "backoff; it publishes once the server is a primary") {
    test_redis::RedisServer primary;
    test_redis::RedisServer replica;
    RedisConnection admin(replica.endpoint());
    admin.command({"REPLICAOF", "127.0.0.1", std::to_string(primary.port())});
    test_bus::TempDatabase db;
    SqliteOutbox outbox(db.path());
    OutboxRelay relay(outbox, replica.endpoint(), test_bus::fast_relay_options());
    append_numbered(outbox, 0, 4);
    try {
        relay.relay_once();
        FAIL("XADD to a replica must be refused");
    } catch (const RedisCommandError& e) {
        CHECK(e.command() == "XADD");
        CHECK(e.is("READONLY"));
    }
    CHECK(relay.stats().refused_attempts == 1);
    relay.start();
    CHECK(test_sync::eventually([&] { return relay.stats().reconnects >= 2; }));
    CHECK(outbox.pending_count() == 4);

    admin.command({"REPLICAOF", "NO", "ONE"}); // promoted
    CHECK(relay.wait_until_drained(std::chrono::seconds(20)));
    relay.stop();
    CHECK(ids_in(admin) == numbered_ids(4));
    replica.kill(); // a replica ignores SIGTERM while it writes its first AOF after a sync
}

TEST_CASE("relay: with wait_replicas, records are marked published only once a replica has "
          "them") {
    test_redis::RedisServer primary;
    test_redis::RedisServer replica;
    RedisConnection(primary.endpoint()).command({"CONFIG", "SET", "repl-diskless-sync-delay", "0"});
    const auto follow = [&] {
        RedisConnection link(replica.endpoint());
        link.command({"REPLICAOF", "127.0.0.1", std::to_string(primary.port())});
    };
    follow();
    test_bus::TempDatabase db;
    SqliteOutbox outbox(db.path());
    RelayOptions options = test_bus::fast_relay_options();
    options.wait_replicas = 1;
    options.wait_timeout = std::chrono::milliseconds(200);
    OutboxRelay relay(outbox, primary.endpoint(), options);
    append_numbered(outbox, 0, 5);
    const auto relay_until_published = [&] {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (outbox.pending_count() > 0 && std::chrono::steady_clock::now() < deadline) {
            try {
                relay.relay_once();
            } catch (const RedisCommandError& e) {
                INFO(e.what());
                CHECK(e.is("NOREPLICAS"));
            }
        }
        return outbox.pending_count() == 0;
    };
    CHECK(relay_until_published()); // once the replica is in sync

    replica.kill();
    append_numbered(outbox, 5, 3);
    const auto shortfalls = relay.stats().replica_shortfalls;
    try {
        relay.relay_once();
        FAIL("no replica: WAIT must fall short");
    } catch (const RedisCommandError& e) {
        CHECK(e.command() == "WAIT");
        CHECK(e.is("NOREPLICAS"));
        CHECK(test_bus::contains(e.what(), "only 0 of 1 replicas"));
    }
    CHECK(relay.stats().replica_shortfalls == shortfalls + 1);
    CHECK(outbox.pending_count() == 3); // in the stream, but not marked: published again

    replica.start();
    follow();
    CHECK(relay_until_published());
    RedisConnection redis(primary.endpoint());
    CHECK(first_copies_in(redis) == numbered_ids(8));
    replica.kill(); // a replica ignores SIGTERM while it writes its first AOF after a sync
}

TEST_CASE("relay: lease and WAIT options that cannot work are rejected by name") {
    test_bus::TempDatabase db;
    SqliteOutbox outbox(db.path());
    authevents::bus::RedisEndpoint endpoint;
    RelayOptions no_lease;
    no_lease.lease_duration = std::chrono::milliseconds(0);
    CHECK(test_bus::contains(
        test_bus::error_of([&] { OutboxRelay relay(outbox, endpoint, no_lease); }),
        "lease_duration"));
    RelayOptions long_wait;
    long_wait.wait_replicas = 1;
    long_wait.wait_timeout = endpoint.command_timeout;
    CHECK(test_bus::contains(
        test_bus::error_of([&] { OutboxRelay relay(outbox, endpoint, long_wait); }),
        "wait_timeout"));
    RelayOptions negative;
    negative.wait_replicas = -1;
    CHECK(test_bus::contains(
        test_bus::error_of([&] { OutboxRelay relay(outbox, endpoint, negative); }),
        "wait_replicas"));
}
