// The whole path: services dispatch, BusPublisher writes the outbox, OutboxRelay publishes to
// Redis, StreamConsumer re-dispatches in another dispatcher (in this process or another one).
#include "bus_test_support.hpp"
#include "catch_compat.hpp"
#include "event_samples.hpp"
#include "sync_helpers.hpp"

#include <authevents/bus.hpp>
#include <authevents/dispatcher.hpp>
#include <authevents/testing.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

using authevents::EventDispatcher;
using authevents::UserRegistered;
using namespace authevents::bus;

namespace {

std::string email_of(int i) { return "user" + std::to_string(i) + "@example.com"; }

ConsumerOptions fast_consumer() {
    ConsumerOptions options;
    options.stream = "events";
    options.group = "notifications";
    options.consumer = "in-process";
    options.block = std::chrono::milliseconds(20);
    options.min_backoff = std::chrono::milliseconds(5);
    options.max_backoff = std::chrono::milliseconds(100);
    return options;
}

/// The publishing service: a dispatcher whose events go to the outbox and on to Redis.
struct PublishingService {
    explicit PublishingService(const RedisEndpoint& endpoint, const std::string& db_path)
        : outbox(db_path), relay(outbox, endpoint, test_bus::fast_relay_options()),
          publisher(dispatcher, outbox, EventTypeRegistry{}, PublisherOptions{false, &relay}) {
        dispatcher.set_logger({});
        relay.start();
    }

    /// Registers users first..first+count-1 from `threads` threads.
    void register_users(int first, int count, int threads) {
        std::vector<std::thread> workers;
        for (int t = 0; t < threads; ++t) {
            workers.emplace_back([=] {
                for (int i = first + t; i < first + count; i += threads) {
                    auto user = samples::ana();
                    user.id = i;
                    user.email = email_of(i);
                    dispatcher.dispatch_user_registered(user, true, "203.0.113.7");
                }
            });
        }
        for (auto& worker : workers) {
            worker.join();
        }
    }

    EventDispatcher dispatcher;
    SqliteOutbox outbox;
    OutboxRelay relay;
    BusPublisher publisher;
};

std::map<std::string, int> count_lines(const std::string& path) {
    std::map<std::string, int> counts;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        ++counts[line];
    }
    return counts;
}

std::vector<std::string> lines_of(const std::string& path) {
    std::vector<std::string> lines;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

pid_t spawn_consumer(int port, const std::string& member, const std::string& out, long kill_after) {
    std::vector<std::string> args = {AUTHEVENTS_CONSUMER_PROCESS, std::to_string(port), member, out,
                                     std::to_string(kill_after)};
    std::vector<char*> argv;
    for (auto& arg : args) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    pid_t pid = 0;
    REQUIRE(::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) == 0);
    return pid;
}

} // namespace

TEST_CASE("bus: every built-in event goes from dispatch to the other dispatcher's handlers") {
    test_redis::RedisServer server;
    test_bus::TempDatabase db;
    PublishingService service(server.endpoint(), db.path());
    test_bus::QuietDispatcher remote;
    authevents::testing::EventRecorder recorder(remote);
    MemoryDedupStore dedup;
    StreamConsumer consumer(server.endpoint(), remote, dedup, fast_consumer());
    consumer.start();

    test_bus::for_each_sample([&](const auto& event) { service.dispatcher.dispatch(event); });
    CHECK(test_sync::eventually([&] { return recorder.size() == 12; }));
    consumer.stop();
    service.relay.stop();
    test_bus::for_each_sample([&](const auto& event) {
        using Event = std::decay_t<decltype(event)>;
        INFO(Event::name);
        CHECK(recorder.count<Event>() == 1);
        CHECK(recorder.last<Event>() == event);
    });
    CHECK(service.publisher.stats().appended == 12);
}

TEST_CASE("bus: events from several threads arrive exactly once through a Redis restart") {
    test_redis::RedisServer server;
    test_bus::TempDatabase db;
    PublishingService service(server.endpoint(), db.path());

    test_bus::QuietDispatcher remote;
    std::mutex mutex;
    std::map<std::string, int> calls;
    remote.user_registered.connect([&](const UserRegistered& event) {
        std::lock_guard<std::mutex> lock(mutex);
        ++calls[event.user.email];
    });
    MemoryDedupStore dedup;
    StreamConsumer consumer(server.endpoint(), remote, dedup, fast_consumer());
    consumer.start();
    auto distinct = [&] {
        std::lock_guard<std::mutex> lock(mutex);
        return calls.size();
    };

    service.register_users(0, 200, 4);
    CHECK(test_sync::eventually([&] { return distinct() >= 50; }));
    server.stop(); // mid-stream: the relay and the consumer both lose Redis
    service.register_users(200, 200, 4);
    server.start();
    service.register_users(400, 200, 4);

    CHECK(test_sync::eventually([&] { return distinct() == 600; }));
    CHECK(test_sync::eventually([&] { return service.outbox.pending_count() == 0; }));
    consumer.stop();
    service.relay.stop();

    std::lock_guard<std::mutex> lock(mutex);
    REQUIRE(calls.size() == 600);
    for (int i = 0; i < 600; ++i) {
        INFO(email_of(i));
        CHECK(calls[email_of(i)] == 1);
    }
    CHECK(service.publisher.stats().appended == 600);
    CHECK(consumer.stats().dead_lettered == 0);
}

TEST_CASE("bus: a consumer process killed mid-batch gets its entries again after a restart") {
    test_redis::RedisServer server;
    test_bus::TempDatabase db;
    PublishingService service(server.endpoint(), db.path());
    constexpr int total = 300;
    constexpr long kill_after = 100;
    service.register_users(0, total, 3);
    REQUIRE(test_sync::eventually([&] { return service.outbox.pending_count() == 0; }));

    const std::string out = db.sibling("handled.txt");
    const pid_t first = spawn_consumer(server.port(), "worker-1", out, kill_after);
    int status = 0;
    REQUIRE(::waitpid(first, &status, 0) == first);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    const std::vector<std::string> before_restart = lines_of(out);
    REQUIRE(before_restart.size() == kill_after);
    RedisConnection redis(server.endpoint());
    const auto pending = redis.command({"XPENDING", "events", "notifications"});
    CHECK(pending.elements.at(0).integer > 0); // the rest of the batch it had read

    const pid_t second = spawn_consumer(server.port(), "worker-1", out, 0);
    const bool all_seen =
        test_sync::eventually([&] { return count_lines(out).size() == std::size_t{total}; });
    ::kill(second, SIGTERM);
    ::waitpid(second, &status, 0);
    REQUIRE(all_seen);

    // At-least-once, exactly as documented: every event once, except the one whose handler
    // ran just before the kill, which ran again after the restart.
    const auto counts = count_lines(out);
    for (int i = 0; i < total; ++i) {
        INFO(email_of(i));
        CHECK(counts.at(email_of(i)) == (email_of(i) == before_restart.back() ? 2 : 1));
    }
    service.relay.stop();
}
