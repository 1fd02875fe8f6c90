// Helpers of the StreamConsumer tests (consumer_test.cpp, consumer_hostile_test.cpp): a
// consumer configured for fast tests and ways to put entries into the stream "events".
#pragma once

#include "bus_test_support.hpp"
#include "catch_compat.hpp"
#include "event_samples.hpp"

#include <authevents/bus/cloudevent.hpp>
#include <authevents/bus/consumer.hpp>
#include <authevents/bus/dedup.hpp>
#include <authevents/bus/redis.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace test_consumer {

using authevents::bus::CloudEvent;
using authevents::bus::ConsumerOptions;
using authevents::bus::EventTypeRegistry;
using authevents::bus::RedisConnection;
using authevents::bus::StreamConsumer;

inline ConsumerOptions fast_options(const std::string& name = "worker-1") {
    ConsumerOptions options;
    options.stream = "events";
    options.group = "notifications";
    options.consumer = name;
    options.block = std::chrono::milliseconds(20);
    options.retry_delay = std::chrono::milliseconds(1);
    options.max_deliveries = 3;
    options.claim_min_idle = std::chrono::milliseconds(50);
    options.claim_interval = std::chrono::milliseconds(1);
    options.min_backoff = std::chrono::milliseconds(5);
    options.max_backoff = std::chrono::milliseconds(50);
    return options;
}

/// Adds `event` to the stream as the relay would; returns the entry id.
inline std::string add(RedisConnection& redis, const CloudEvent& event) {
    return redis
        .command({"XADD", "events", "*", "id", event.id, "type", event.type, "event",
                  authevents::bus::to_json_text(event)})
        .text;
}

inline std::string add_raw(RedisConnection& redis, const std::vector<std::string>& fields) {
    std::vector<std::string> command = {"XADD", "events", "*"};
    command.insert(command.end(), fields.begin(), fields.end());
    return redis.command(command).text;
}

/// The inbox key of `event` for the tests' stream and group.
inline authevents::bus::DedupKey inbox_key(const CloudEvent& event) {
    return {"events", "notifications", event.id};
}

inline long long pending_count(RedisConnection& redis) {
    const auto summary = redis.command({"XPENDING", "events", "notifications"});
    return summary.elements.at(0).integer;
}

/// Creates the group and adds `count` entries of `event` (each its own CloudEvent id), which
/// `member` then reads and never acknowledges, like a consumer that died mid-batch.
template <class Event>
void leave_pending(RedisConnection& redis, const std::string& member, int count,
                   const Event& event) {
    redis.command({"XGROUP", "CREATE", "events", "notifications", "0", "MKSTREAM"});
    const EventTypeRegistry registry;
    for (int i = 0; i < count; ++i) {
        add(redis, registry.encode(event));
    }
    redis.command({"XREADGROUP", "GROUP", "notifications", member, "COUNT", std::to_string(count),
                   "STREAMS", "events", ">"});
}

/// Runs poll_once until `done` holds (bounded).
template <class Done> bool poll_until(StreamConsumer& consumer, Done done) {
    for (int round = 0; round < 500 && !done(); ++round) {
        consumer.poll_once();
    }
    return done();
}

/// Runs `command` (a shell command line) and returns its standard output.
inline std::string run_tool(const std::string& command) {
    std::string output;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    std::size_t size = 0;
    while ((size = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
        output.append(buffer, size);
    }
    CHECK(::pclose(pipe) == 0);
    return output;
}

} // namespace test_consumer
