// auth_service_postgres: the example auth service in its PostgreSQL mode. Users live in a
// PostgreSQL `users` table and every event goes into the outbox table of the same database in
// the same transaction (PostgresAccounts); an OutboxRelay publishes the outbox to a Redis
// stream, woken at each commit by LISTEN/NOTIFY.
//
// The scripted workload also makes transactions fail: a second registration with a taken
// email (rolled back by the unique constraint) and a registration that "crashes" after writing
// its user and its event, before the commit. At the end the program reads the stream back and
// checks that it holds exactly the events of the committed transactions, each once, in commit
// order, and that the local handlers saw the same; it exits 1 otherwise.
//
// Usage:
//   auth_service_postgres --conninfo "host=... port=... dbname=..." --redis-port P
//                         [--redis-host H] [--users N] [--stream S] [--drain-timeout-s T]
#include "errors.hpp"
#include "handlers/analytics.hpp"
#include "postgres_accounts.hpp"

#include "command_line.hpp"

#include <authevents/bus/detail/postgres.hpp>
#include <authevents/bus/postgres_outbox.hpp>
#include <authevents/bus/redis.hpp>
#include <authevents/bus/relay.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

constexpr std::string_view program = "auth_service_postgres";
constexpr const char* usage =
    "usage: auth_service_postgres --conninfo CONNINFO --redis-port P [--redis-host H]\n"
    "                             [--users N] [--stream S] [--drain-timeout-s T]\n";

struct Options {
    std::string conninfo;
    std::string redis_host = "127.0.0.1";
    int redis_port = 0;
    long users = 10;
    std::string stream = "authevents";
    long drain_timeout_s = 60;
};

Options parse_options(int argc, char** argv) {
    Options options;
    bus_example::CommandLine args(argc, argv, program, usage);
    while (args.next()) {
        const std::string_view flag = args.flag();
        if (flag == "--conninfo") {
            options.conninfo = args.value();
        } else if (flag == "--redis-port") {
            options.redis_port = static_cast<int>(args.number(1, 65535));
        } else if (flag == "--redis-host") {
            options.redis_host = args.value();
        } else if (flag == "--users") {
            options.users = args.number(1, 100'000);
        } else if (flag == "--stream") {
            options.stream = args.value();
        } else if (flag == "--drain-timeout-s") {
            options.drain_timeout_s = args.number(1, 3600);
        } else {
            args.unknown();
        }
    }
    if (options.conninfo.empty() || options.redis_port == 0) {
        args.fail("--conninfo and --redis-port are required");
    }
    return options;
}

// Thrown by the "crashing" registration between its writes and its commit.
struct SimulatedCrash : std::runtime_error {
    SimulatedCrash() : std::runtime_error("simulated crash before commit") {}
};

// The CloudEvent ids in `stream`, oldest first.
std::vector<std::string> stream_ids(authevents::bus::RedisConnection& redis,
                                    const std::string& stream) {
    std::vector<std::string> ids;
    const auto reply = redis.command({"XRANGE", stream, "-", "+"});
    for (const auto& entry : reply.elements) {
        const auto& fields = entry.elements.at(1).elements;
        for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
            if (fields[i].text == "id") {
                ids.push_back(fields[i + 1].text);
            }
        }
    }
    return ids;
}

int run(const Options& options) {
    authevents::EventDispatcher dispatcher; // warnings and errors to stderr
    authsvc::handlers::AnalyticsTracker analytics;
    analytics.connect(dispatcher);

    authevents::detail::PgConnection service(options.conninfo, program);
    authsvc::PostgresAccounts accounts(service.get(), dispatcher);

    authevents::bus::PostgresOutbox outbox(options.conninfo); // the relay's side
    authevents::bus::RedisEndpoint endpoint;
    endpoint.host = options.redis_host;
    endpoint.port = options.redis_port;
    authevents::bus::RelayOptions relay_options;
    relay_options.stream = options.stream;
    relay_options.max_backoff = 1000ms;
    authevents::bus::OutboxRelay relay(outbox, endpoint, relay_options,
                                       authevents::stderr_logger(authevents::LogLevel::info));
    relay.start();

    long rolled_back = 0;
    std::set<std::string> absent_emails; // registrations that must have left no row
    for (long i = 1; i <= options.users; ++i) {
        const std::string email = fmt::format("user{}@example.com", i);
        const std::string password = fmt::format("Secret-pass-{}", i);
        const std::string ip = fmt::format("198.51.100.{}", i % 250 + 1);
        const authevents::User user =
            accounts.register_user({email, password, "Ana", "Lima", "es"}, ip);
        if (i % 3 == 0) {
            try { // the email is taken: the unique constraint rolls it all back
                accounts.register_user({email, password, "Ana", "Lima", "es"}, ip);
                throw std::runtime_error("a second registration of " + email + " succeeded");
            } catch (const authsvc::ConflictError&) {
                ++rolled_back;
            }
        }
        if (i % 4 == 0) {
            const std::string doomed = fmt::format("crashed{}@example.com", i);
            try { // user row and event written, then a "crash" before the commit
                accounts.register_user({doomed, password, "Bea", "Ruiz", "en"}, ip,
                                       [] { throw SimulatedCrash(); });
            } catch (const SimulatedCrash&) {
                ++rolled_back;
                absent_emails.insert(doomed);
            }
        }
        accounts.login(email, "Wrong-pass-1", ip);
        accounts.verify_email(user.id, ip);
        if (!accounts.login(email, password, ip)) {
            throw std::runtime_error("the right password of " + email + " was refused");
        }
    }
    const std::vector<std::string>& committed = accounts.committed_event_ids();
    fmt::print("{}: {} users, {} events committed, {} transactions rolled back\n", program,
               options.users, committed.size(), rolled_back);
    std::fflush(stdout);

    const bool drained = relay.wait_until_drained(std::chrono::seconds(options.drain_timeout_s));
    relay.stop();
    if (!drained) {
        fmt::print("{}: FAILED: the outbox did not drain within {} s ({} pending)\n", program,
                   options.drain_timeout_s, outbox.pending_count());
        return 1;
    }
    authevents::bus::RedisConnection redis(endpoint);
    const std::vector<std::string> published = stream_ids(redis, options.stream);
    if (published != committed) {
        fmt::print("{}: FAILED: the stream holds {} events, the committed transactions made {} "
                   "(or in another order)\n",
                   program, published.size(), committed.size());
        return 1;
    }
    for (const std::string& email : absent_emails) {
        const auto rows =
            service.exec("SELECT count(*) FROM users WHERE email = $1",
                         authevents::detail::PgParams().text(email), "check rollback");
        if (rows.int64(0, 0) != 0) {
            fmt::print("{}: FAILED: the rolled-back user {} exists\n", program, email);
            return 1;
        }
    }
    if (analytics.events().size() != committed.size()) {
        fmt::print("{}: FAILED: local handlers saw {} events, {} committed\n", program,
                   analytics.events().size(), committed.size());
        return 1;
    }
    fmt::print("{}: ok: {} committed events published exactly once in commit order, none of "
               "the {} rolled-back transactions published\n",
               program, committed.size(), rolled_back);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    const Options options = parse_options(argc, argv);
    try {
        return run(options);
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: FAILED: {}\n", program, e.what());
        return 1;
    }
}
