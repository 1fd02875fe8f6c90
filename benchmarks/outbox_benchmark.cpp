// How fast services can dispatch events through a BusPublisher into the SQLite outbox, beside
// the raw fsync rate of the disk the outbox lives on, measured in the same run.
//
// For 1, 4 and 16 dispatching threads (or --threads a,b,c): events/s over all threads, and the
// latency each dispatch gains from the publisher (mean and 99th percentile of the dispatch
// with the publisher, minus the mean without it, measured in the same run). The raw rate is
// write(4 bytes) + fdatasync() in a loop on a file in the same directory: one fsync per
// append is the ceiling an outbox without group commit cannot pass.
//
// Usage: outbox_benchmark [--seconds S per measurement, default 2] [--threads 1,4,16]
//                         [--dir DIRECTORY for the files, default the temp directory]
#include <authevents/bus/outbox.hpp>
#include <authevents/bus/publisher.hpp>
#include <authevents/dispatcher.hpp>

#include "arguments.hpp"
#include "scratch_dir.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Settings {
    double seconds = 2.0;
    std::vector<int> threads{1, 4, 16};
    std::filesystem::path dir = std::filesystem::temp_directory_path();
};

Settings parse(int argc, char** argv) {
    Settings settings;
    Arguments args("outbox_benchmark", argc, argv);
    while (args.next()) {
        const std::string& arg = args.name();
        if (arg == "--seconds") {
            const std::string text = args.value();
            try {
                settings.seconds = std::stod(text);
            } catch (const std::exception&) {
                throw args.error("--seconds must be a number, not '" + text + "'");
            }
        } else if (arg == "--threads") {
            settings.threads.clear();
            std::stringstream list(args.value());
            std::string item;
            while (std::getline(list, item, ',')) {
                try {
                    settings.threads.push_back(std::stoi(item));
                } catch (const std::exception&) {
                    throw args.error("--threads takes numbers separated by commas, not '" + item +
                                     "'");
                }
            }
        } else if (arg == "--dir") {
            settings.dir = args.value();
        } else {
            throw args.unknown("--seconds S, --threads a,b,c, --dir DIR");
        }
    }
    if (settings.seconds <= 0 || settings.threads.empty() ||
        std::any_of(settings.threads.begin(), settings.threads.end(),
                    [](int n) { return n < 1 || n > 256; })) {
        throw args.error("--seconds must be > 0 and every thread count in 1..256");
    }
    return settings;
}

// fdatasync()s per second of a 4-byte append to a file in `dir`.
double raw_fsync_rate(const std::filesystem::path& dir, double seconds) {
    const std::string path = (dir / "fsync-probe").string();
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd < 0) {
        throw std::runtime_error("outbox_benchmark: cannot create " + path);
    }
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    const auto start = Clock::now();
    long syncs = 0;
    while (Clock::now() < end) {
        if (::write(fd, "abcd", 4) != 4 || ::fdatasync(fd) != 0) {
            ::close(fd);
            throw std::runtime_error("outbox_benchmark: write/fdatasync failed on " + path);
        }
        ++syncs;
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    ::close(fd);
    return static_cast<double>(syncs) / elapsed;
}

struct Result {
    double events_per_second = 0;
    double mean_us = 0;
    double p99_us = 0;
};

// `threads` threads dispatch user_login_failed for `seconds`, each timing every dispatch.
Result run(authevents::EventDispatcher& dispatcher, int threads, double seconds) {
    std::atomic<bool> go{false};
    std::atomic<bool> stop{false};
    std::vector<std::vector<double>> latencies(static_cast<std::size_t>(threads));
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            auto& mine = latencies[static_cast<std::size_t>(t)];
            mine.reserve(1 << 16);
            while (!go.load(std::memory_order_acquire)) {
                std::this_thread::yield();
            }
            while (!stop.load(std::memory_order_relaxed)) {
                const auto begin = Clock::now();
                const auto report = dispatcher.dispatch_user_login_failed(
                    "ana@example.com", authevents::LoginFailureReason::wrong_password,
                    "198.51.100.1");
                const auto took = Clock::now() - begin;
                if (!report.observer_failures.empty()) {
                    std::fprintf(stderr, "outbox_benchmark: a dispatch failed to publish\n");
                    std::abort();
                }
                mine.push_back(std::chrono::duration<double, std::micro>(took).count());
            }
        });
    }
    const auto start = Clock::now();
    go.store(true, std::memory_order_release);
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop.store(true);
    for (auto& worker : workers) {
        worker.join();
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::vector<double> all;
    for (const auto& mine : latencies) {
        all.insert(all.end(), mine.begin(), mine.end());
    }
    Result result;
    if (all.empty()) {
        return result;
    }
    double sum = 0;
    for (const double value : all) {
        sum += value;
    }
    result.events_per_second = static_cast<double>(all.size()) / elapsed;
    result.mean_us = sum / static_cast<double>(all.size());
    const auto p99 = all.begin() + static_cast<std::ptrdiff_t>(all.size() * 99 / 100);
    std::nth_element(all.begin(), p99, all.end());
    result.p99_us = *p99;
    return result;
}

} // namespace

int main(int argc, char** argv) {
    try {
        const Settings settings = parse(argc, argv);
        const ScratchDir dir(settings.dir, "authevents-outbox-bench");
        const double fsync_rate = raw_fsync_rate(dir.path(), settings.seconds);
        std::printf("outbox benchmark: SQLite outbox (WAL, synchronous=FULL) in %s\n",
                    dir.path().c_str());
        std::printf("raw fsync rate (write + fdatasync, same directory): %.0f /s\n\n", fsync_rate);
        std::printf("%8s %14s %12s %16s %16s\n", "threads", "events/s", "x fsync", "added mean us",
                    "added p99 us");
        for (const int threads : settings.threads) {
            authevents::EventDispatcher bare;
            const Result baseline = run(bare, threads, std::min(settings.seconds, 0.5));

            const std::string file =
                (dir.path() / ("outbox-" + std::to_string(threads) + ".db")).string();
            authevents::bus::SqliteOutbox outbox(file);
            authevents::EventDispatcher dispatcher;
            authevents::bus::BusPublisher publisher(dispatcher, outbox);
            const Result measured = run(dispatcher, threads, settings.seconds);
            if (outbox.pending_count() != publisher.stats().appended) {
                throw std::runtime_error(
                    "outbox_benchmark: the outbox holds " + std::to_string(outbox.pending_count()) +
                    " events, " + std::to_string(publisher.stats().appended) + " were appended");
            }
            std::printf("%8d %14.0f %12.2f %16.1f %16.1f\n", threads, measured.events_per_second,
                        measured.events_per_second / fsync_rate,
                        measured.mean_us - baseline.mean_us, measured.p99_us - baseline.mean_us);
            std::fflush(stdout);
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
