// The audit trail on SQLite with a million records: how fast records are appended, how long the
// queries the security team runs take, and how long rebuilding the three read models takes.
//
// 1. append: the store appends generated entries in batches of --batch (500) into a fresh
//    database until it holds --records (1,000,000); the rate of each tenth of the fill is one
//    run, and the median of the runs is printed (records/s), with the smallest and largest.
// 2. queries on that database, each run --repeat (25) times with a different value, median and
//    largest latency of the first page (100 records, newest first) in milliseconds: by user,
//    by event type, by time range (one hour), by IP address (blind index), and by user within
//    a time range.
// 3. replay: ProjectionRunner::rebuild() of the three shipped projections (login history,
//    failed logins per IP per hour, seller funnel) from the whole store, --replays (3) times,
//    median records/s and seconds.
//
// The data is generated: --users (records / 50) users, 2,000 IP addresses, ten event types
// in realistic proportions (mostly logins), times spread over 30 days, personal values sealed.
//
// Usage: audit_benchmark [--records N] [--batch N] [--repeat N] [--replays N] [--users N]
//                        [--dir DIRECTORY for the database, default the temp directory]
#include <authevents/audit/entry.hpp>
#include <authevents/audit/projection.hpp>
#include <authevents/audit/projections.hpp>
#include <authevents/audit/reader.hpp>
#include <authevents/audit/sealing.hpp>
#include <authevents/audit/sqlite_store.hpp>
#include <authevents/events.hpp>

#include "arguments.hpp"
#include "scratch_dir.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace audit = authevents::audit;
using Clock = std::chrono::steady_clock;

struct Settings {
    std::int64_t records = 1'000'000;
    std::size_t batch = 500;
    int repeat = 25;
    int replays = 3;
    std::int64_t users = 0; // 0: records / 50
    std::filesystem::path dir = std::filesystem::temp_directory_path();
};

Settings parse(int argc, char** argv) {
    Settings settings;
    Arguments args("audit_benchmark", argc, argv);
    while (args.next()) {
        const std::string& arg = args.name();
        if (arg == "--records") {
            settings.records = args.positive();
        } else if (arg == "--batch") {
            settings.batch = static_cast<std::size_t>(args.positive());
        } else if (arg == "--repeat") {
            settings.repeat = static_cast<int>(args.positive());
        } else if (arg == "--replays") {
            settings.replays = static_cast<int>(args.positive());
        } else if (arg == "--users") {
            settings.users = args.positive();
        } else if (arg == "--dir") {
            settings.dir = args.value();
        } else {
            throw args.unknown("--records N, --batch N, --repeat N, --replays N, --users N, "
                               "--dir DIR");
        }
    }
    if (settings.users == 0) {
        settings.users = std::max<std::int64_t>(10, settings.records / 50);
    }
    if (settings.batch > 10000) {
        throw args.error("--batch must be at most 10000");
    }
    return settings;
}

/// Median, smallest and largest of a set of measurements.
struct Summary {
    double median = 0;
    double min = 0;
    double max = 0;
};

Summary summarise(std::vector<double> values) {
    if (values.empty()) {
        return {};
    }
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    return {median, values.front(), values.back()};
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace

namespace {

using namespace std::chrono_literals;

/// Makes the benchmark's events: a fixed seed, so every run appends the same kinds of records.
/// Times grow with the sequence from 30 days ago to now.
class Generator {
public:
    Generator(const Settings& settings, audit::AuditTime start, audit::AuditTime end)
        : users_(settings.users), start_(start),
          step_((end - start) / std::max<std::int64_t>(1, settings.records)) {
        for (int i = 0; i < ip_count; ++i) {
            ips_.push_back("198.51." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1));
        }
    }

    /// The next `count` entries, sealed with keys of `ring`.
    std::vector<audit::AuditEntry> batch(audit::KeyRing& ring, std::size_t count) {
        audit::ScopeKeys keys(ring);
        std::vector<audit::AuditEntry> entries;
        entries.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
            const audit::AuditTime time = start_ + step_ * made_++;
            entries.push_back(audit::seal_entry(next_pending(time), keys));
        }
        return entries;
    }

    [[nodiscard]] const std::vector<std::string>& ips() const noexcept { return ips_; }
    [[nodiscard]] std::int64_t users() const noexcept { return users_; }

private:
    static constexpr int ip_count = 2000;

    authevents::User user(std::int64_t id) const {
        const std::string n = std::to_string(id);
        return {id, "user" + n + "@example.com", "First" + n, "Last" + n, "en"};
    }

    audit::PendingEntry next_pending(audit::AuditTime time) {
        using namespace authevents;
        const User who = user(std::uniform_int_distribution<std::int64_t>(1, users_)(random_));
        const std::string ip =
            ips_[std::uniform_int_distribution<std::size_t>(0, ips_.size() - 1)(random_)];
        const int roll = std::uniform_int_distribution<int>(0, 999)(random_);
        SellerApplication application{who.id, who, roll % 2 == 0 ? "individual" : "business"};
        if (roll < 450) {
            return audit::pending_entry(UserLoginSuccessful{who, ip, roll % 5 == 0}, time);
        }
        if (roll < 750) { // a tenth of them for addresses without an account
            const std::string email =
                roll < 480 ? "nobody" + std::to_string(roll) + "@example.net" : who.email;
            return audit::pending_entry(
                UserLoginFailed{email, LoginFailureReason::wrong_password, ip}, time);
        }
        if (roll < 830) {
            return audit::pending_entry(ProfileUpdated{who, {"bio"}, 50}, time);
        }
        if (roll < 870) {
            return audit::pending_entry(UserRegistered{who, true, ip}, time);
        }
        if (roll < 900) {
            return audit::pending_entry(UserEmailVerified{who, ip}, time);
        }
        if (roll < 910) {
            return audit::pending_entry(User2faEnabled{who}, time);
        }
        if (roll < 920) {
            return audit::pending_entry(User2faDisabled{who}, time);
        }
        if (roll < 950) {
            return audit::pending_entry(SellerApplicationSubmitted{application, roll % 3 == 0},
                                        time);
        }
        if (roll < 965) {
            return audit::pending_entry(SellerApplicationApproved{application, user(1), who}, time);
        }
        if (roll < 975) {
            return audit::pending_entry(
                SellerApplicationRejected{application, user(1), "Missing tax documents"}, time);
        }
        if (roll < 990) {
            return audit::pending_entry(
                ProfilePictureUploaded{who, "avatars/" + std::to_string(who.id) + ".jpg"}, time);
        }
        return audit::pending_entry(ProfilePictureDeleted{who}, time);
    }

    std::int64_t users_;
    audit::AuditTime start_;
    audit::Microseconds step_;
    std::int64_t made_ = 0;
    std::vector<std::string> ips_;
    std::mt19937_64 random_{20261206};
};

} // namespace

namespace {

/// Fills the store to settings.records; returns the append rate of each tenth (records/s).
std::vector<double> fill(audit::SqliteAuditStore& store, audit::KeyRing& ring, Generator& generator,
                         const Settings& settings) {
    std::vector<double> rates;
    const bool terminal = ::isatty(STDERR_FILENO) == 1;
    const std::int64_t tenth = std::max<std::int64_t>(1, settings.records / 10);
    std::int64_t appended = 0;
    while (appended < settings.records) {
        const std::int64_t goal = std::min(settings.records, appended + tenth);
        double busy = 0;
        const std::int64_t from = appended;
        while (appended < goal) {
            const auto count = static_cast<std::size_t>(
                std::min<std::int64_t>(static_cast<std::int64_t>(settings.batch), goal - appended));
            // Sealing is the audit log's work, done before the store is called: not timed.
            const auto entries = generator.batch(ring, count);
            const auto start = Clock::now();
            const auto result = store.append(entries);
            busy += seconds_since(start);
            if (result.appended != count) {
                throw std::runtime_error("audit_benchmark: the store skipped entries");
            }
            appended += static_cast<std::int64_t>(count);
        }
        rates.push_back(static_cast<double>(appended - from) / busy);
        if (terminal) {
            std::fprintf(stderr, "\r  appended %lld of %lld", static_cast<long long>(appended),
                         static_cast<long long>(settings.records));
        }
    }
    if (terminal) {
        std::fputc('\n', stderr);
    }
    return rates;
}

/// Runs `query` `repeat` times (with run index 0, 1, ...); returns latencies in milliseconds.
std::vector<double> time_queries(int repeat, const std::function<std::size_t(int)>& query,
                                 std::size_t& found) {
    std::vector<double> latencies;
    for (int run = 0; run < repeat; ++run) {
        const auto start = Clock::now();
        found += query(run);
        latencies.push_back(seconds_since(start) * 1000.0);
    }
    return latencies;
}

void print_latency(const char* what, const std::vector<double>& latencies, std::size_t found,
                   int repeat) {
    const Summary summary = summarise(latencies);
    std::printf("  %-44s %10.2f %10.2f %12.1f\n", what, summary.median, summary.max,
                static_cast<double>(found) / repeat);
}

} // namespace

int main(int argc, char** argv) {
    try {
        const Settings settings = parse(argc, argv);
        const ScratchDir dir(settings.dir, "authevents-audit-bench");
        const std::string path = (dir.path() / "audit.db").string();
        audit::SqliteAuditStore store(path);
        audit::KeyRing ring(store);
        const audit::AuditTime end = audit::audit_now();
        const audit::AuditTime start = end - std::chrono::hours(24 * 30);
        Generator generator(settings, start, end);

        std::printf("audit benchmark: SqliteAuditStore (WAL, synchronous=FULL) in %s\n",
                    dir.path().c_str());
        std::printf("%lld records: %lld users, %zu IP addresses, 30 days\n\n",
                    static_cast<long long>(settings.records),
                    static_cast<long long>(generator.users()), generator.ips().size());

        const Summary append = summarise(fill(store, ring, generator, settings));
        std::printf("append, batches of %zu (records/s, median of %d tenths of the fill):\n",
                    settings.batch, 10);
        std::printf("  median %.0f   min %.0f   max %.0f\n\n", append.median, append.min,
                    append.max);
        std::fflush(stdout);

        std::printf("query, first page of 100 newest first, %d runs each:\n", settings.repeat);
        std::printf("  %-44s %10s %10s %12s\n", "filter", "median ms", "max ms", "records/page");
        std::mt19937_64 random(7);
        const auto user_of = [&](int) {
            return "user:" + std::to_string(std::uniform_int_distribution<std::int64_t>(
                                 1, generator.users())(random));
        };
        const auto hour_of = [&](int) {
            const auto hours = std::uniform_int_distribution<int>(0, 24 * 30 - 2)(random);
            return start + std::chrono::hours(hours);
        };
        const std::vector<std::string> types = {
            "user_login_failed", "user_login_successful",        "profile_updated",
            "user_registered",   "seller_application_submitted", "user_2fa_disabled"};
        const auto page = [&](audit::AuditQuery query) {
            query.limit = 100;
            return store.query(query).records.size();
        };
        const auto run = [&](const char* what, const std::function<std::size_t(int)>& query) {
            std::size_t found = 0;
            const std::vector<double> latencies = time_queries(settings.repeat, query, found);
            print_latency(what, latencies, found, settings.repeat);
        };
        run("by user (actor or subject)", [&](int i) {
            audit::AuditQuery query;
            query.user = user_of(i);
            return page(query);
        });
        run("by event type", [&](int i) {
            audit::AuditQuery query;
            query.event_type = types[static_cast<std::size_t>(i) % types.size()];
            return page(query);
        });
        run("by time range (one hour)", [&](int i) {
            audit::AuditQuery query;
            query.from = hour_of(i);
            query.until = *query.from + std::chrono::hours(1);
            return page(query);
        });
        run("by IP address (blind index)", [&](int) {
            audit::AuditQuery query;
            const auto& ips = generator.ips();
            query.ip_index = ring.ip_index(
                ips[std::uniform_int_distribution<std::size_t>(0, ips.size() - 1)(random)]);
            return page(query);
        });
        run("failed logins of one IP in one day", [&](int i) {
            audit::AuditQuery query;
            const auto& ips = generator.ips();
            query.event_type = "user_login_failed";
            query.ip_index = ring.ip_index(
                ips[std::uniform_int_distribution<std::size_t>(0, ips.size() - 1)(random)]);
            query.from = hour_of(i);
            query.until = *query.from + std::chrono::hours(24);
            return page(query);
        });
        run("by user within one day", [&](int i) {
            audit::AuditQuery query;
            query.user = user_of(i);
            query.from = hour_of(i);
            query.until = *query.from + std::chrono::hours(24);
            return page(query);
        });
        audit::AuditReader reader(store);
        run("by user, values opened (AuditReader)", [&](int i) {
            audit::ReaderQuery query;
            query.user_id = std::stoll(user_of(i).substr(5));
            return reader.query(query).records.size();
        });
        std::printf("\n");
        std::fflush(stdout);

        std::vector<double> replay_seconds;
        for (int replay = 0; replay < settings.replays; ++replay) {
            const std::string models =
                (dir.path() / ("read_models-" + std::to_string(replay) + ".db")).string();
            audit::ProjectionRunner runner(models);
            runner.emplace<audit::LoginHistory>();
            runner.emplace<audit::FailedLoginsPerIpHour>();
            runner.emplace<audit::SellerFunnel>();
            const auto begin = Clock::now();
            const audit::ApplyReport report = runner.rebuild(store);
            replay_seconds.push_back(seconds_since(begin));
            if (report.rejected != 0 || report.failed != 0 || report.lost != 0) {
                throw std::runtime_error("audit_benchmark: the replay rejected or lost records");
            }
        }
        const Summary replay = summarise(replay_seconds);
        std::printf("replay through the 3 read models (ProjectionRunner::rebuild, %d runs):\n",
                    settings.replays);
        std::printf("  median %.2f s (%.0f records/s)   min %.2f s   max %.2f s\n", replay.median,
                    static_cast<double>(settings.records) / replay.median, replay.min, replay.max);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
