// auth_service_publisher: the example AuthService publishing every event it dispatches to a
// Redis stream through authevents::bus, for the notifications service (examples/notifications)
// to consume.
//
// Wiring: BusPublisher observes the service's EventDispatcher and appends each event, as a
// CloudEvent, to a SqliteOutbox file before any local handler runs; an OutboxRelay thread
// publishes the outbox to the stream, retrying with backoff while Redis is down. The workload
// is scripted through the real AuthService API for N users, and every event it dispatches has
// unique content (unique emails, a fresh IP address per request, a per-run tag), so the
// consumer can check that each one reached its handlers exactly once.
//
// Usage:
//   auth_service_publisher --redis-port P [--redis-host H] --outbox PATH --users N
//                          [--stream S] [--pace-ms M]
//   auth_service_publisher --count-only --users N   (prints how many events N users make)
#include "auth_service.hpp"
#include "errors.hpp"
#include "handlers/analytics.hpp"
#include "password_hasher.hpp"

#include "command_line.hpp"

#include <authevents/bus/cloudevent.hpp>
#include <authevents/bus/outbox.hpp>
#include <authevents/bus/publisher.hpp>
#include <authevents/bus/relay.hpp>
#include <authevents/receiver.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using authevents::EventDispatcher;
using authevents::LogLevel;

constexpr std::string_view program = "auth_service_publisher";
constexpr const char* usage =
    "usage: auth_service_publisher --redis-port P [--redis-host H] --outbox PATH --users N\n"
    "                              [--stream S] [--pace-ms M] [--drain-timeout-s T]\n"
    "                              [--password-cost interactive|minimum]\n"
    "       auth_service_publisher --count-only --users N\n";

// ---- command line ---------------------------------------------------------------------------

struct Options {
    std::string redis_host = "127.0.0.1";
    int redis_port = 0;
    std::string outbox_path;
    std::string stream = "authevents";
    long users = -1;
    long pace_ms = 0;
    long drain_timeout_s = 60;
    bool count_only = false;
    // minimum: hundreds of accounts in seconds (a test of the bus, not of the hashing).
    authsvc::PasswordCost password_cost = authsvc::PasswordCost::interactive;
};

Options parse_options(int argc, char** argv) {
    Options options;
    bus_example::CommandLine args(argc, argv, program, usage);
    while (args.next()) {
        const std::string_view flag = args.flag();
        if (flag == "--count-only") {
            options.count_only = true;
        } else if (flag == "--redis-port") {
            options.redis_port = static_cast<int>(args.number(1, 65535));
        } else if (flag == "--redis-host") {
            options.redis_host = args.value();
        } else if (flag == "--outbox") {
            options.outbox_path = args.value();
        } else if (flag == "--users") {
            options.users = args.number(0, 1'000'000);
        } else if (flag == "--stream") {
            options.stream = args.value();
        } else if (flag == "--pace-ms") {
            options.pace_ms = args.number(0, 60'000);
        } else if (flag == "--drain-timeout-s") {
            options.drain_timeout_s = args.number(1, 3600);
        } else if (flag == "--password-cost") {
            const std::string cost = args.value();
            if (cost == "interactive") {
                options.password_cost = authsvc::PasswordCost::interactive;
            } else if (cost == "minimum") {
                options.password_cost = authsvc::PasswordCost::minimum;
            } else {
                args.fail(fmt::format("--password-cost is interactive or minimum, not '{}'", cost));
            }
        } else {
            args.unknown();
        }
    }
    if (options.users < 0) {
        args.fail("--users is required");
    }
    if (!options.count_only && (options.redis_port == 0 || options.outbox_path.empty())) {
        args.fail("--redis-port and --outbox are required");
    }
    return options;
}

// ---- the scripted workload ------------------------------------------------------------------

// Which steps user `i` (1-based) goes through. Every user registers, fails a login with a
// wrong password, verifies the email, logs in and edits the profile; the others take turns.
// Both the workload and event_plan() read these, so the event count is a function of N.
struct Script {
    static bool tries_unknown_email(long i) { return i % 2 == 0; }
    static bool uploads_picture(long i) { return i % 3 == 0; }
    static bool deletes_picture(long i) { return i % 6 == 0; }
    static bool uses_two_factor(long i) { return i % 4 == 0; }
    static bool applies_to_sell(long i) { return i % 5 == 0; }
    // Rejected first, then resubmitted and approved; the other applicants are approved at once.
    static bool rejected_first(long i) { return i % 10 == 0; }
};

// How many events of each type (by event name) `users` users dispatch, admin included.
std::map<std::string, long> event_plan(long users) {
    std::map<std::string, long> plan;
    auto add = [&plan](std::string_view name, long count) { plan[std::string(name)] += count; };
    add(authevents::UserRegistered::name, 1); // the admin
    for (long i = 1; i <= users; ++i) {
        add(authevents::UserRegistered::name, 1);
        add(authevents::UserLoginFailed::name, 1); // wrong password
        add(authevents::UserEmailVerified::name, 1);
        add(authevents::UserLoginSuccessful::name, 1);
        add(authevents::ProfileUpdated::name, 1);
        if (Script::tries_unknown_email(i)) {
            add(authevents::UserLoginFailed::name, 1);
        }
        if (Script::uploads_picture(i)) {
            add(authevents::ProfilePictureUploaded::name, 1);
        }
        if (Script::deletes_picture(i)) {
            add(authevents::ProfilePictureDeleted::name, 1);
        }
        if (Script::uses_two_factor(i)) {
            add(authevents::User2faEnabled::name, 1);
            add(authevents::UserLoginFailed::name, 1);     // a wrong code
            add(authevents::UserLoginSuccessful::name, 1); // the emailed code
            add(authevents::User2faDisabled::name, 1);
        }
        if (Script::applies_to_sell(i)) {
            add(authevents::SellerApplicationSubmitted::name, 1);
            if (Script::rejected_first(i)) {
                add(authevents::SellerApplicationRejected::name, 1);
                add(authevents::SellerApplicationSubmitted::name, 1); // resubmission
            }
            add(authevents::SellerApplicationApproved::name, 1);
        }
    }
    return plan;
}

long total(const std::map<std::string, long>& counts) {
    long sum = 0;
    for (const auto& [name, count] : counts) {
        sum += count;
    }
    return sum;
}

// The service's own mail (verification links, sign-in codes), kept per recipient so that the
// script can follow the links as a user would. Thread-safe.
class Inbox {
public:
    void deliver(const authsvc::mail::Message& message) {
        const std::lock_guard<std::mutex> lock(mutex_);
        last_body_[message.to] = message.body;
    }

    // The text after `marker` in the newest message to `to`, up to a space or full stop.
    std::string find_after(const std::string& to, std::string_view marker) const {
        const std::lock_guard<std::mutex> lock(mutex_);
        const auto found = last_body_.find(to);
        const std::size_t start =
            found == last_body_.end() ? std::string::npos : found->second.find(marker);
        if (start == std::string::npos) {
            throw std::runtime_error(fmt::format("no mail to {} containing '{}'", to, marker));
        }
        const std::size_t begin = start + marker.size();
        return found->second.substr(begin, found->second.find_first_of(" .", begin) - begin);
    }

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::string> last_body_;
};

// Runs the script against the service. Every request gets a new IP address (10.x.y.z from a
// counter), and every email carries the run's tag, so no two events have equal content.
class Workload {
public:
    Workload(EventDispatcher& dispatcher, authsvc::PasswordCost password_cost)
        : auth_(
              dispatcher,
              [this](const authsvc::mail::Message& message) { inbox_.deliver(message); },
              authsvc::system_clock(), password_options(password_cost)),
          tag_(authsvc::random_hex(3)) {} // after auth_, whose hasher initialises libsodium

    // Registers the admin who decides on seller applications.
    void prepare() {
        const authevents::User admin = auth_.register_user(
            {email("admin"), "admin-pass-2024", "Grace", "Hopper", "en"}, next_ip());
        auth_.grant_admin(admin.id);
        admin_id_ = admin.id;
    }

    // Takes user `i` (1-based) through the script.
    void run_user(long i) {
        const std::string address = email(fmt::format("user{}", i));
        const std::string password = fmt::format("horse-battery-{}", i);
        const std::string language = i % 3 == 1 ? "es" : "en";
        const authevents::User user = auth_.register_user(
            {address, password, fmt::format("User{}", i), "Example", language}, next_ip());

        expect_failure(auth_.login(address, "not-the-password-1", next_ip()));
        auth_.verify_email(inbox_.find_after(address, "token="), next_ip());
        expect_success(auth_.login(address, password, next_ip()));

        authsvc::ProfileChanges changes;
        changes.phone = fmt::format("+351 91{:07}", i % 10'000'000);
        changes.city = "Lisbon";
        auth_.update_profile(user.id, changes);

        if (Script::tries_unknown_email(i)) {
            expect_failure(auth_.login(email(fmt::format("nobody{}", i)), password, next_ip()));
        }
        if (Script::uploads_picture(i)) {
            auth_.upload_profile_picture(user.id, "image/jpeg",
                                         static_cast<std::size_t>(40'000 + i));
        }
        if (Script::deletes_picture(i)) {
            auth_.delete_profile_picture(user.id);
        }
        if (Script::uses_two_factor(i)) {
            two_factor(user, password);
        }
        if (Script::applies_to_sell(i)) {
            sell(user, i);
        }
    }

private:
    void two_factor(const authevents::User& user, const std::string& password) {
        auth_.enable_2fa(user.id);
        const authsvc::LoginResult step = auth_.login(user.email, password, next_ip());
        if (step.status != authsvc::LoginStatus::two_factor_required) {
            throw std::runtime_error("expected a two-factor challenge for " + user.email);
        }
        expect_failure(auth_.verify_2fa(step.challenge_id, "not-a-code", next_ip()));
        const std::string code = inbox_.find_after(user.email, "sign-in code is ");
        expect_success(auth_.verify_2fa(step.challenge_id, code, next_ip()));
        auth_.disable_2fa(user.id, password);
    }

    void sell(const authevents::User& user, long i) {
        const authevents::SellerApplication application =
            auth_.submit_seller_application(user.id, i % 2 == 0 ? "business" : "individual");
        if (Script::rejected_first(i)) {
            auth_.reject_seller_application(application.id, admin_id_,
                                            fmt::format("Add a tax ID (application {}).", i));
            auth_.submit_seller_application(user.id, "business");
        }
        auth_.approve_seller_application(application.id, admin_id_);
    }

    static authsvc::AuthServiceOptions password_options(authsvc::PasswordCost cost) {
        authsvc::AuthServiceOptions options;
        options.password_cost = cost;
        return options;
    }

    static void expect_failure(const authsvc::LoginResult& result) {
        if (result.status != authsvc::LoginStatus::failed) {
            throw std::runtime_error("a login that should fail did not");
        }
    }

    static void expect_success(const authsvc::LoginResult& result) {
        if (!result.ok()) {
            throw std::runtime_error("a login that should succeed did not");
        }
    }

    std::string email(const std::string& local_part) const {
        return fmt::format("{}-{}@shop.example", local_part, tag_);
    }

    std::string next_ip() {
        const std::uint32_t n = ++requests_;
        return fmt::format("10.{}.{}.{}", (n >> 16U) & 255U, (n >> 8U) & 255U, n & 255U);
    }

    Inbox inbox_;
    authsvc::AuthService auth_;
    std::string tag_;
    std::int64_t admin_id_ = 0;
    std::uint32_t requests_ = 0;
};

// ---- the service with its bus ---------------------------------------------------------------

std::string describe_counts(const std::map<std::string, long>& counts) {
    std::vector<std::string> parts;
    for (const auto& [name, count] : counts) {
        if (count > 0) {
            parts.push_back(fmt::format("{} {}", name, count));
        }
    }
    return fmt::format("{}", fmt::join(parts, ", "));
}

// Waits until the relay has published every outbox record; false after `timeout`.
bool drain(authevents::bus::SqliteOutbox& outbox, std::chrono::seconds timeout) {
    const auto start = std::chrono::steady_clock::now();
    auto next_note = start;
    for (;;) {
        const std::size_t pending = outbox.pending_count();
        if (pending == 0) {
            return true;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now - start >= timeout) {
            fmt::print("{}: gave up after {} s: {} events still in the outbox {}\n", program,
                       timeout.count(), pending, "(they stay there for the next run)");
            return false;
        }
        if (now >= next_note) {
            fmt::print("{}: waiting for Redis to take {} pending events\n", program, pending);
            std::fflush(stdout);
            next_note = now + 2s;
        }
        std::this_thread::sleep_for(50ms);
    }
}

int publish(const Options& options) {
    EventDispatcher dispatcher; // warnings and errors to stderr

    // Local handlers, as in the demo: analytics, and the declarative email automation.
    authsvc::handlers::AnalyticsTracker analytics;
    analytics.connect(dispatcher);
    authevents::HandlerRegistry::global().connect_all(dispatcher);

    authevents::bus::SqliteOutbox outbox(options.outbox_path);
    authevents::bus::RedisEndpoint endpoint;
    endpoint.host = options.redis_host;
    endpoint.port = options.redis_port;
    endpoint.connect_timeout = 500ms;
    authevents::bus::RelayOptions relay_options;
    relay_options.stream = options.stream;
    relay_options.max_backoff = 1000ms; // reconnect within a second of Redis coming back
    authevents::bus::OutboxRelay relay(outbox, endpoint, relay_options,
                                       authevents::stderr_logger(LogLevel::info));
    // Appends each event durably before the local handlers run; wakes the relay after each.
    authevents::bus::BusPublisher publisher(dispatcher, outbox,
                                            authevents::bus::EventTypeRegistry{},
                                            authevents::bus::PublisherOptions{false, &relay});
    relay.start();

    const std::map<std::string, long> plan = event_plan(options.users);
    fmt::print("{}: {} users, {} events to publish to stream '{}' at {}:{} (outbox {})\n", program,
               options.users, total(plan), options.stream, options.redis_host, options.redis_port,
               options.outbox_path);
    std::fflush(stdout);

    Workload workload(dispatcher, options.password_cost);
    workload.prepare();
    for (long i = 1; i <= options.users; ++i) {
        workload.run_user(i);
        if (i % 50 == 0 || i == options.users) {
            fmt::print("{}: {} of {} users done, {} events appended, {} published\n", program, i,
                       options.users, publisher.stats().appended, relay.stats().published);
            std::fflush(stdout);
        }
        if (options.pace_ms > 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(options.pace_ms));
        }
    }

    std::map<std::string, long> dispatched;
    for (const authevents::EventStats& stats : dispatcher.all_stats()) {
        dispatched[std::string(stats.name)] = static_cast<long>(stats.dispatched);
        if (analytics.count(stats.name) != stats.dispatched) {
            fmt::print("{}: FAILED: analytics tracked {} of {} {} events\n", program,
                       analytics.count(stats.name), stats.dispatched, stats.name);
            return 1;
        }
    }
    for (auto it = dispatched.begin(); it != dispatched.end();) {
        it = it->second == 0 ? dispatched.erase(it) : std::next(it);
    }
    if (dispatched != plan || static_cast<long>(publisher.stats().appended) != total(plan)) {
        fmt::print("{}: FAILED: dispatched ({}) or appended ({}) differs from the plan ({})\n",
                   program, describe_counts(dispatched), publisher.stats().appended,
                   describe_counts(plan));
        return 1;
    }

    const bool drained = drain(outbox, std::chrono::seconds(options.drain_timeout_s));
    relay.stop();
    const authevents::bus::RelayStats relay_stats = relay.stats();
    if (!drained) {
        fmt::print("{}: FAILED: the outbox did not drain ({} of {} events published)\n", program,
                   relay_stats.published, total(plan));
        return 1;
    }
    fmt::print("{}: published {} events ({})\n", program, total(plan), describe_counts(plan));
    fmt::print("{}: relay: {} stream entries added, {} failed attempts\n", program,
               relay_stats.published, relay_stats.failed_attempts);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    const Options options = parse_options(argc, argv);
    if (options.count_only) {
        fmt::print("{}\n", total(event_plan(options.users)));
        return 0;
    }
    try {
        return publish(options);
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: FAILED: {}\n", program, e.what());
        return 1;
    }
}
