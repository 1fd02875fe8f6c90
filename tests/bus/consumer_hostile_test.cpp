// StreamConsumer against hostile entries and real topologies (part of consumer_test): limits,
// exceptions of any kind from parsing and codecs, per-group inboxes, dead-lettering that
// cannot lose the entry, the dead-letter bound, replay (API and command-line tool), retry
// backoff, slow handlers and the delivery count checked before dispatch.
#include "bus_test_support.hpp"
#include "catch_compat.hpp"
#include "consumer_test_support.hpp"
#include "event_samples.hpp"
#include "sync_helpers.hpp"

#include <authevents/bus/cloudevent.hpp>
#include <authevents/bus/consumer.hpp>
#include <authevents/bus/dead_letters.hpp>
#include <authevents/bus/dedup.hpp>
#include <authevents/bus/redis.hpp>
#include <authevents/bus/redis_dedup.hpp>
#include <authevents/dispatcher.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using authevents::UserRegistered;
using authevents::bus::CloudEvent;
using authevents::bus::CloudEventLimits;
using authevents::bus::ConsumerOptions;
using authevents::bus::DeadLetters;
using authevents::bus::EventTypeRegistry;
using authevents::bus::MemoryDedupStore;
using authevents::bus::RedisConnection;
using authevents::bus::RedisDedupStore;
using authevents::bus::StreamConsumer;
using namespace test_consumer;

// A custom event whose codec throws what a careless codec would: not a CloudEventError.
struct ShippingLabelPrinted {
    static constexpr std::string_view name = "shipping_label_printed";
    std::string label;
};

template <> struct authevents::bus::EventCodec<ShippingLabelPrinted> {
    static constexpr int version = 1;
    static nlohmann::json to_data(const ShippingLabelPrinted& e) { return {{"label", e.label}}; }
    static ShippingLabelPrinted from_data(const DataReader& data) {
        const std::string label = data.string("label");
        if (label == "int") {
            throw 42; // not even a std::exception
        }
        if (label == "range") {
            return {std::string(label).substr(99)}; // std::out_of_range
        }
        // A huge message with control characters, as an exception may carry input verbatim.
        throw std::runtime_error("label \x01\x1b[31m\n" + std::string(10000, 'x'));
    }
    static std::optional<std::string> subject(const ShippingLabelPrinted& /*e*/) {
        return std::nullopt;
    }
};

namespace {

/// A valid user_registered CloudEvent text with `data` spliced in raw.
std::string event_text_with_data(const std::string& data) {
    CloudEvent event = EventTypeRegistry{}.encode(samples::user_registered());
    event.data = nullptr;
    std::string text = authevents::bus::to_json_text(event);
    const std::string null_data = "\"data\":null";
    const auto at = text.find(null_data);
    REQUIRE(at != std::string::npos);
    return text.replace(at, null_data.size(), "\"data\":" + data);
}

/// Counts user_registered handler calls.
struct CountingService {
    test_bus::QuietDispatcher dispatcher;
    std::atomic<int> calls{0};
    CountingService() {
        dispatcher.user_registered.connect([this](const UserRegistered&) { ++calls; });
    }
};

} // namespace

TEST_CASE("consumer: hostile entries are dead-lettered with a reason and the next one runs") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    std::string deep;
    for (int i = 0; i < 87000; ++i) {
        deep += '[';
    }
    for (int i = 0; i < 87000; ++i) {
        deep += ']';
    }
    add_raw(redis, {"event", event_text_with_data("{\"n\":1e348}")});
    add_raw(redis, {"event", event_text_with_data(deep)});
    add_raw(redis,
            {"event", event_text_with_data("{\"s\":\"" + std::string(20 << 20, 'a') + "\"}")});
    add_raw(redis, {"event", event_text_with_data("{\"s\":\"" + std::string(100000, 'a') + "\"}")});
    add(redis, EventTypeRegistry{}.encode(samples::user_registered()));

    CountingService service;
    MemoryDedupStore dedup;
    StreamConsumer consumer(server.endpoint(), service.dispatcher, dedup, fast_options());
    CHECK(poll_until(consumer, [&] { return consumer.stats().handled == 1; }));
    CHECK(service.calls == 1);
    CHECK(consumer.stats().dead_lettered == 4);
    CHECK(pending_count(redis) == 0);

    const auto dead = test_bus::read_stream(redis, "events.dead");
    REQUIRE(dead.size() == 4);
    CHECK(test_bus::contains(dead[0].field("reason"), "1e348"));
    CHECK(test_bus::contains(dead[1].field("reason"), "CloudEventLimits::max_depth"));
    CHECK(test_bus::contains(dead[2].field("reason"), "CloudEventLimits::max_entry_bytes"));
    CHECK(test_bus::contains(dead[3].field("reason"), "CloudEventLimits::max_string_bytes"));
    CHECK(dead[2].field("field.event").size() > (20U << 20)); // kept whole for inspection
}

TEST_CASE("consumer: limits are options; within them a deep or large entry is parsed") {
    CloudEventLimits limits;
    limits.max_depth = 3;
    CHECK_THROWS_AS(authevents::bus::parse_cloud_event(event_text_with_data("[[[]]]"), limits),
                    authevents::bus::CloudEventError);
    CHECK(authevents::bus::parse_cloud_event(event_text_with_data("[[]]"), limits).data ==
          nlohmann::json::array({nlohmann::json::array()}));
    // Brackets and escaped quotes inside strings do not count as nesting or end a string.
    CHECK(authevents::bus::parse_cloud_event(event_text_with_data("[\"[[[\\\"]]]\"]"), limits)
              .data.at(0) == "[[[\"]]]");
    limits.max_string_bytes = 40; // the envelope's strings are shorter (an id has 36 bytes)
    const std::string forty(40, 'a');
    CHECK_THROWS_AS(
        authevents::bus::parse_cloud_event(event_text_with_data("[\"" + forty + "a\"]"), limits),
        authevents::bus::CloudEventError);
    CHECK_NOTHROW(
        authevents::bus::parse_cloud_event(event_text_with_data("[\"" + forty + "\"]"), limits));
}

TEST_CASE("consumer: any codec exception dead-letters the entry with a bounded, escaped reason") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    EventTypeRegistry registry;
    registry.add<ShippingLabelPrinted>();
    for (const char* label : {"int", "range", "huge"}) {
        add(redis, registry.encode(ShippingLabelPrinted{label}));
    }
    add(redis, registry.encode(samples::user_registered()));

    CountingService service;
    MemoryDedupStore dedup;
    ConsumerOptions options = fast_options();
    options.max_reason_bytes = 300;
    StreamConsumer consumer(server.endpoint(), service.dispatcher, dedup, options, registry);
    CHECK(poll_until(consumer, [&] { return consumer.stats().handled == 1; }));
    CHECK(consumer.stats().dead_lettered == 3);

    const auto dead = test_bus::read_stream(redis, "events.dead");
    REQUIRE(dead.size() == 3);
    CHECK(test_bus::contains(dead[0].field("reason"), "not derived from std::exception"));
    CHECK(test_bus::contains(dead[1].field("reason"), "cannot decode the event"));
    const std::string huge = dead[2].field("reason");
    CHECK(huge.size() <= 300);
    CHECK(test_bus::contains(huge, "label \\x01\\x1b[31m\\nxxx"));
    CHECK(huge.substr(huge.size() - 3) == "..."); // cut (escaping and capping: redaction.hpp)
    for (const char c : huge) {
        CHECK(static_cast<unsigned char>(c) >= 0x20);
    }
}

TEST_CASE("consumer: two groups with default Redis inboxes both receive every event") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    const EventTypeRegistry registry;
    constexpr int total = 20;
    for (int i = 0; i < total; ++i) {
        add(redis, registry.encode(samples::user_registered()));
    }
    RedisDedupStore notifications_inbox(server.endpoint());
    RedisDedupStore analytics_inbox(server.endpoint());
    CountingService notifications;
    CountingService analytics;
    ConsumerOptions analytics_options = fast_options("analytics-1");
    analytics_options.group = "analytics";
    StreamConsumer first(server.endpoint(), notifications.dispatcher, notifications_inbox,
                         fast_options());
    StreamConsumer second(server.endpoint(), analytics.dispatcher, analytics_inbox,
                          analytics_options);
    // Interleaved, so each group meets events the other has handled already.
    for (int round = 0; round < 200 && (notifications.calls < total || analytics.calls < total);
         ++round) {
        first.poll_once();
        second.poll_once();
    }
    CHECK(notifications.calls == total);
    CHECK(analytics.calls == total);
    CHECK(first.stats().duplicates == 0);
    CHECK(second.stats().duplicates == 0);
}

TEST_CASE(
    "consumer: a refused dead-letter XADD leaves the entry pending, counted, until it works") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    redis.command({"SET", "events.dead", "not a stream"}); // XADD now gets WRONGTYPE
    const std::string bad = add_raw(redis, {"event", "{not json"});
    add(redis, EventTypeRegistry{}.encode(samples::user_registered()));

    CountingService service;
    MemoryDedupStore dedup;
    StreamConsumer consumer(server.endpoint(), service.dispatcher, dedup, fast_options());
    CHECK(poll_until(consumer, [&] { return consumer.stats().handled == 1; }));
    CHECK(poll_until(consumer, [&] { return consumer.stats().dead_letter_failures >= 2; }));
    CHECK(consumer.stats().dead_lettered == 0);
    CHECK(pending_count(redis) == 1); // the bad entry, not acknowledged

    redis.command({"DEL", "events.dead"});
    CHECK(poll_until(consumer, [&] { return consumer.stats().dead_lettered == 1; }));
    CHECK(pending_count(redis) == 0);
    const auto dead = test_bus::read_stream(redis, "events.dead");
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].field("entry_id") == bad);
}

TEST_CASE("consumer: the dead-letter stream is bounded and its drops are counted") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    for (int i = 0; i < 5; ++i) {
        add_raw(redis, {"event", "bad " + std::to_string(i)});
    }
    CountingService service;
    MemoryDedupStore dedup;
    ConsumerOptions options = fast_options();
    options.dead_letter_max_length = 3;
    StreamConsumer consumer(server.endpoint(), service.dispatcher, dedup, options);
    CHECK(poll_until(consumer, [&] { return consumer.stats().dead_lettered == 5; }));
    CHECK(consumer.stats().dead_letters_dropped == 2);
    const auto dead = test_bus::read_stream(redis, "events.dead");
    REQUIRE(dead.size() == 3);
    CHECK(dead[0].field("field.event") == "bad 2"); // the oldest went first
    CHECK(poll_until(consumer, [&] { return consumer.stats().dead_letter_length == 3; }));
}

TEST_CASE("consumer: dead letters are listed, replayed and deleted, by API and by the tool") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    const EventTypeRegistry registry;
    for (int i = 0; i < 4; ++i) {
        add(redis, registry.encode(samples::user_registered()));
    }
    test_bus::QuietDispatcher dispatcher;
    std::atomic<bool> downstream_up{false};
    std::atomic<int> calls{0};
    dispatcher.user_registered.connect([&](const UserRegistered&) {
        if (!downstream_up) {
            throw std::runtime_error("mail server down");
        }
        ++calls;
    });
    MemoryDedupStore dedup;
    ConsumerOptions options = fast_options();
    options.max_deliveries = 1;
    StreamConsumer consumer(server.endpoint(), dispatcher, dedup, options);
    CHECK(poll_until(consumer, [&] { return consumer.stats().dead_lettered == 4; }));

    DeadLetters letters(server.endpoint(), "events.dead");
    const auto listed = letters.list();
    REQUIRE(listed.size() == 4);
    CHECK(test_bus::contains(listed[0].reason, "mail server down"));
    CHECK(listed[0].stream == "events");
    CHECK(listed[0].group == "notifications");

    downstream_up = true;
    // API: replay one.
    CHECK(letters.replay(listed[0].id).has_value());
    CHECK_FALSE(letters.replay("0-1").has_value());
    CHECK(poll_until(consumer, [&] { return calls == 1; }));
    CHECK(letters.size() == 3);
#ifdef AUTHEVENTS_DEAD_LETTERS_TOOL
    const std::string tool = std::string(AUTHEVENTS_DEAD_LETTERS_TOOL) + " --port " +
                             std::to_string(server.port()) + " --stream events ";
    const std::string list = run_tool(tool + "list");
    CHECK(test_bus::contains(list, listed[1].id));
    CHECK(test_bus::contains(list, "mail server down"));
    CHECK(test_bus::contains(list, "3 of 3 dead letters"));
    CHECK(test_bus::contains(run_tool(tool + "delete " + listed[1].id), "deleted"));
    CHECK(test_bus::contains(run_tool(tool + "replay --all"), "replayed 2"));
    CHECK(poll_until(consumer, [&] { return calls == 3; }));
    CHECK(letters.size() == 0);
#else
    CHECK(letters.remove(listed[1].id));
    CHECK(letters.replay_all() == 2);
    CHECK(poll_until(consumer, [&] { return calls == 3; }));
#endif
    CHECK(pending_count(redis) == 0);
}

TEST_CASE("consumer: an entry delivered more than max_deliveries times is not run again") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    // dead-worker crashed inside the handler on each of its max_deliveries (3) deliveries.
    leave_pending(redis, "worker-1", 1, samples::user_registered());
    const auto pending = redis.command({"XPENDING", "events", "notifications", "-", "+", "1"});
    const std::string id = pending.elements.at(0).elements.at(0).text;
    redis.command(
        {"XCLAIM", "events", "notifications", "worker-1", "0", id, "RETRYCOUNT", "3", "JUSTID"});

    CountingService service;
    MemoryDedupStore dedup;
    StreamConsumer restarted(server.endpoint(), service.dispatcher, dedup, fast_options());
    CHECK(poll_until(restarted, [&] { return restarted.stats().dead_lettered == 1; }));
    CHECK(service.calls == 0);
    const auto dead = test_bus::read_stream(redis, "events.dead");
    REQUIRE(dead.size() == 1);
    CHECK(test_bus::contains(dead[0].field("reason"), "delivered 4 times"));
}

TEST_CASE("consumer: retries back off exponentially per entry") {
    test_redis::RedisServer server;
    ConsumerOptions options = fast_options();
    options.retry_delay = std::chrono::milliseconds(100);
    options.retry_factor = 3.0;
    options.retry_max_delay = std::chrono::milliseconds(2000);
    CountingService idle;
    MemoryDedupStore dedup;
    const StreamConsumer calculator(server.endpoint(), idle.dispatcher, dedup, options);
    CHECK(calculator.retry_pause(1) == std::chrono::milliseconds(100));
    CHECK(calculator.retry_pause(2) == std::chrono::milliseconds(300));
    CHECK(calculator.retry_pause(3) == std::chrono::milliseconds(900));
    CHECK(calculator.retry_pause(4) == std::chrono::milliseconds(2000));
    CHECK(calculator.retry_pause(1000000000) == std::chrono::milliseconds(2000));

    // A failed entry is not re-run before its pause (an hour here), however often we poll.
    RedisConnection redis(server.endpoint());
    add(redis, EventTypeRegistry{}.encode(samples::user_registered()));
    test_bus::QuietDispatcher dispatcher;
    int calls = 0;
    dispatcher.user_registered.connect([&](const UserRegistered&) {
        ++calls;
        throw std::runtime_error("down");
    });
    options.retry_delay = std::chrono::hours(1);
    options.retry_max_delay = std::chrono::hours(2);
    StreamConsumer patient(server.endpoint(), dispatcher, dedup, options);
    options.consumer = "worker-2";
    StreamConsumer other(server.endpoint(), dispatcher, dedup, options);
    for (int round = 0; round < 8; ++round) {
        patient.poll_once();
        other.poll_once(); // a peer does not claim it early either
    }
    CHECK(calls == 1);
    CHECK(pending_count(redis) == 1);
}

TEST_CASE("consumer: a handler slower than claim_min_idle keeps its claim and runs once") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    add(redis, EventTypeRegistry{}.encode(samples::user_registered()));

    test_bus::QuietDispatcher dispatcher;
    std::atomic<int> calls{0};
    std::atomic<bool> finished{false};
    dispatcher.user_registered.connect([&](const UserRegistered&) {
        ++calls;
        std::this_thread::sleep_for(std::chrono::milliseconds(2500)); // 5 x claim_min_idle
        finished = true;
    });
    // Separate in-memory inboxes: only the refreshed claim keeps the other member off.
    MemoryDedupStore first_inbox;
    MemoryDedupStore second_inbox;
    ConsumerOptions options = fast_options("worker-1");
    // Refreshed every 167 ms: the margin rides out a stall of the keeper's Redis writes, each
    // waiting for an fsync (appendfsync always) that a busy disk can make slow.
    options.claim_min_idle = std::chrono::milliseconds(500);
    StreamConsumer first(server.endpoint(), dispatcher, first_inbox, options);
    options.consumer = "worker-2";
    StreamConsumer second(server.endpoint(), dispatcher, second_inbox, options);
    first.start();
    second.start();
    CHECK(test_sync::eventually([&] { return finished.load(); }));
    CHECK(test_sync::eventually([&] { return pending_count(redis) == 0; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(500)); // more scans by both
    first.stop();
    second.stop();
    CHECK(calls == 1);
    CHECK(first.claim_refreshes() + second.claim_refreshes() > 0);
    CHECK(first.stats().claimed + second.stats().claimed == 0);
}

TEST_CASE("consumer: a duplicate entry reaching another member mid-run waits, then is skipped") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    const CloudEvent event = EventTypeRegistry{}.encode(samples::user_registered());
    add(redis, event);

    RedisDedupStore inbox(server.endpoint());
    test_bus::QuietDispatcher dispatcher;
    std::atomic<int> calls{0};
    test_sync::Gate release;
    dispatcher.user_registered.connect([&](const UserRegistered&) {
        ++calls;
        // Bounded: if a claim lapsed and the second member ran this on the test's own thread,
        // waiting for `release` forever would hang the run instead of failing `calls == 1`.
        release.wait_for(std::chrono::seconds(20));
    });
    // The claims must outlast any stall of the machine: each write waits for Redis's fsync
    // (appendfsync always), which takes tens of milliseconds on a busy disk, and a claim that
    // lapses lets the other member run the event too (at-least-once, a failure here).
    ConsumerOptions options = fast_options("worker-1");
    options.claim_min_idle = std::chrono::seconds(3);
    StreamConsumer first(server.endpoint(), dispatcher, inbox, options);
    first.start();
    REQUIRE(test_sync::eventually([&] { return calls == 1; }));
    add(redis, event); // the relay's duplicate, read by the other member while the first runs
    options.consumer = "worker-2";
    StreamConsumer second(server.endpoint(), dispatcher, inbox, options);
    CHECK(poll_until(second, [&] { return second.stats().busy >= 1; }));
    release.open();
    // Either member may skip the duplicate (the first one's own scan may claim the idle entry
    // first), and a scan may also skip the original when it takes that entry between the first
    // member's inbox record and its acknowledgement: count skips, never handler calls, twice.
    CHECK(poll_until(second, [&] {
        return first.stats().duplicates + second.stats().duplicates >= 1 &&
               pending_count(redis) == 0;
    }));
    first.stop();
    CHECK(calls == 1);
    CHECK(pending_count(redis) == 0);
}
