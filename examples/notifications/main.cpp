// notifications_service: a second service that runs its own typed handlers on the events the
// auth service publishes (examples/auth_service/publisher.cpp).
//
// A StreamConsumer reads the Redis stream as a member of a consumer group and re-dispatches
// each CloudEvent into this process's EventDispatcher, whose handlers "send" notifications
// (handlers/). Event ids already handled are skipped with a SqliteDedupStore, so a duplicate is
// skipped even after this process restarts. A DeliveryLedger counts how often each event ran
// at the handlers, to check that each ran exactly once.
//
// Usage:
//   notifications_service --redis-port P [--redis-host H] [--stream S] [--group G] [--name N]
//                         --dedup PATH [--expect K] [--timeout-s T] [--quiet]
// With --expect it exits 0 once K distinct events were handled, each once (after a short
// settling pause that would catch a late duplicate), and 1 as soon as one ran twice or when T
// seconds (default 120) pass. Without it, it runs until SIGINT or SIGTERM. Either way it ends
// with the line `notifications_service: handled K events exactly once (duplicates skipped: D)`.
#include "delivery_ledger.hpp"
#include "handlers/handlers.hpp"
#include "notifier.hpp"

#include "command_line.hpp"

#include <authevents/bus/cloudevent.hpp>
#include <authevents/bus/consumer.hpp>
#include <authevents/bus/dedup.hpp>
#include <authevents/dispatcher.hpp>

#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace {

using namespace std::chrono_literals;

constexpr std::string_view program = "notifications_service";
constexpr const char* usage =
    "usage: notifications_service --redis-port P [--redis-host H] [--stream S] [--group G]\n"
    "                             [--name N] --dedup PATH [--expect K] [--timeout-s T] [--quiet]\n";

volatile std::sig_atomic_t stop_signal = 0;

extern "C" void on_stop_signal(int signal_number) { stop_signal = signal_number; }

struct Options {
    std::string redis_host = "127.0.0.1";
    int redis_port = 0;
    std::string stream = "authevents";
    std::string group = "notifications";
    // Stable across restarts, so a restarted service re-reads what it left unacknowledged.
    std::string name = "notifications-1";
    std::string dedup_path;
    long expect = -1;
    long timeout_s = -1;
    bool quiet = false;
};

Options parse_options(int argc, char** argv) {
    Options options;
    bus_example::CommandLine args(argc, argv, program, usage);
    while (args.next()) {
        const std::string_view flag = args.flag();
        if (flag == "--quiet") {
            options.quiet = true;
        } else if (flag == "--redis-port") {
            options.redis_port = static_cast<int>(args.number(1, 65535));
        } else if (flag == "--redis-host") {
            options.redis_host = args.value();
        } else if (flag == "--stream") {
            options.stream = args.value();
        } else if (flag == "--group") {
            options.group = args.value();
        } else if (flag == "--name") {
            options.name = args.value();
        } else if (flag == "--dedup") {
            options.dedup_path = args.value();
        } else if (flag == "--expect") {
            options.expect = args.number(0, 100'000'000);
        } else if (flag == "--timeout-s") {
            options.timeout_s = args.number(1, 86'400);
        } else {
            args.unknown();
        }
    }
    if (options.redis_port == 0 || options.dedup_path.empty()) {
        args.fail("--redis-port and --dedup are required");
    }
    if (options.timeout_s < 0 && options.expect >= 0) {
        options.timeout_s = 120;
    }
    return options;
}

// Why the service stops.
enum class Outcome { all_expected, signalled, repeated, too_many, timed_out };

int serve(const Options& options) {
    authevents::EventDispatcher dispatcher; // handler failures logged to stderr
    notifications::Notifier notifier(!options.quiet);
    notifications::handlers::connect_all(dispatcher, notifier);
    notifications::DeliveryLedger ledger(dispatcher);

    authevents::bus::SqliteDedupStore dedup(options.dedup_path);
    authevents::bus::RedisEndpoint endpoint;
    endpoint.host = options.redis_host;
    endpoint.port = options.redis_port;
    endpoint.connect_timeout = 500ms;
    authevents::bus::ConsumerOptions consumer_options;
    consumer_options.stream = options.stream;
    consumer_options.group = options.group;
    consumer_options.consumer = options.name;
    consumer_options.block = 200ms;
    consumer_options.max_backoff = 1000ms; // reconnect within a second of Redis coming back
    authevents::bus::StreamConsumer consumer(endpoint, dispatcher, dedup, consumer_options,
                                             authevents::bus::EventTypeRegistry{},
                                             authevents::stderr_logger(authevents::LogLevel::info));

    fmt::print("{}: consuming stream '{}' at {}:{} as '{}' in group '{}' (dedup {}){}\n", program,
               options.stream, options.redis_host, options.redis_port, options.name, options.group,
               options.dedup_path,
               options.expect >= 0 ? fmt::format(", expecting {} events", options.expect) : "");
    std::fflush(stdout);
    consumer.start();

    const auto start = std::chrono::steady_clock::now();
    std::optional<std::chrono::steady_clock::time_point> settled_at;
    Outcome outcome = Outcome::signalled;
    for (;;) {
        const auto now = std::chrono::steady_clock::now();
        const notifications::LedgerSnapshot counts = ledger.snapshot();
        if (stop_signal != 0) {
            outcome = Outcome::signalled;
            break;
        }
        if (counts.repeated > 0) {
            outcome = Outcome::repeated;
            break;
        }
        if (options.expect >= 0 && counts.distinct > static_cast<std::size_t>(options.expect)) {
            outcome = Outcome::too_many;
            break;
        }
        if (options.expect >= 0 && counts.distinct == static_cast<std::size_t>(options.expect)) {
            // Every expected event ran; stay a moment to catch a late redelivery.
            if (!settled_at) {
                settled_at = now + 1s;
            } else if (now >= *settled_at) {
                outcome = Outcome::all_expected;
                break;
            }
        }
        if (options.timeout_s > 0 && now - start >= std::chrono::seconds(options.timeout_s)) {
            outcome = Outcome::timed_out;
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    consumer.stop();

    const notifications::LedgerSnapshot counts = ledger.snapshot();
    const authevents::bus::ConsumerStats stats = consumer.stats();
    fmt::print("{}: consumer: {} handled, {} duplicates skipped, {} failed deliveries, {} "
               "dead-lettered, {} rounds failed (Redis unreachable); {} notifications sent\n",
               program, stats.handled, stats.duplicates, stats.failed_attempts, stats.dead_lettered,
               stats.redis_errors, notifier.size());
    switch (outcome) {
    case Outcome::repeated:
        fmt::print("{}: FAILED: {} dispatches repeated an event already handled; first: {}\n",
                   program, counts.repeated, counts.first_repeat);
        return 1;
    case Outcome::too_many:
        fmt::print("{}: FAILED: handled {} distinct events, more than the {} expected\n", program,
                   counts.distinct, options.expect);
        return 1;
    case Outcome::timed_out:
        fmt::print("{}: FAILED: timed out after {} s: handled {} of {} expected events\n", program,
                   options.timeout_s, counts.distinct, options.expect);
        return 1;
    case Outcome::signalled:
        fmt::print("{}: stopped by signal {}\n", program, static_cast<int>(stop_signal));
        break;
    case Outcome::all_expected:
        break;
    }
    if (stats.dead_lettered > 0) {
        fmt::print("{}: FAILED: {} events were dead-lettered to '{}'\n", program,
                   stats.dead_lettered, consumer.options().dead_letter_stream);
        return 1;
    }
    fmt::print("{}: handled {} events exactly once (duplicates skipped: {})\n", program,
               counts.distinct, stats.duplicates);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    const Options options = parse_options(argc, argv);
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    try {
        return serve(options);
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: FAILED: {}\n", program, e.what());
        return 1;
    }
}
