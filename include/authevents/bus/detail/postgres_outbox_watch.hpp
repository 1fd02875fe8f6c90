/// @file
/// What PostgresOutbox shares with its LISTEN thread: the advisory lock key spaces, the
/// server clock expression, bigint[] literals, and PostgresOutboxWatch (listens on the
/// outbox's channel from its own thread and connection). Needs libpq.
#pragma once

#include <authevents/bus/backoff.hpp>
#include <authevents/bus/detail/postgres.hpp>
#include <authevents/bus/outbox_source.hpp>

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace authevents::detail {

// The advisory lock key spaces of authevents (two-int form, first key): relay lease, schema.
inline constexpr int pg_lease_lock_class = 0x61657672; // "aevr"
inline constexpr int pg_schema_lock_class = 0x61657673;

// Milliseconds since the Unix epoch on the server's clock.
inline constexpr const char* pg_now_ms = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

// `{1,2,3}`: a bigint[] literal for `= ANY($n::bigint[])`.
inline std::string pg_bigint_array(const std::vector<std::int64_t>& values) {
    std::string text = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) {
            text += ',';
        }
        text += std::to_string(values[i]);
    }
    text += '}';
    return text;
}

// Listens on a channel from its own thread and connection, calling `wake` for each
// notification and after each (re)connection; reconnects with backoff while the server is
// down. Destruction stops the thread (within about 100 ms) and waits for it.
class PostgresOutboxWatch final : public bus::OutboxWatch {
public:
    PostgresOutboxWatch(std::string conninfo, std::string channel, std::function<void()> wake)
        : conninfo_(std::move(conninfo)), channel_(std::move(channel)), wake_(std::move(wake)),
          thread_([this] { run(); }) {}
    ~PostgresOutboxWatch() override {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        stopped_.notify_all();
        thread_.join();
    }

private:
    [[nodiscard]] bool stopping() {
        std::lock_guard<std::mutex> lock(mutex_);
        return stopping_;
    }

    void wake() noexcept {
        try {
            wake_();
        } catch (...) { // documented as not throwing; nothing to report to
        }
    }

    void run() noexcept {
        bus::Backoff backoff(std::chrono::milliseconds(50), std::chrono::milliseconds(2000));
        while (!stopping()) {
            try {
                PgConnection listener(conninfo_, "postgres outbox: watch");
                listener.exec("LISTEN " + pg_quote_identifier(channel_), "postgres outbox: listen");
                backoff.reset();
                wake(); // whatever was appended while nobody listened
                while (!stopping()) {
                    if (!pg_wait_notifications(listener.get(), std::chrono::milliseconds(100),
                                               "postgres outbox: watch")
                             .empty()) {
                        wake();
                    }
                }
            } catch (...) { // server down or restarting: the relay still polls; try again
                std::unique_lock<std::mutex> lock(mutex_);
                stopped_.wait_for(lock, backoff.next(), [this] { return stopping_; });
            }
        }
    }

    std::string conninfo_;
    std::string channel_;
    std::function<void()> wake_;
    std::mutex mutex_;
    std::condition_variable stopped_;
    bool stopping_ = false; // guarded by mutex_
    std::thread thread_;    // last: starts after the members it uses
};

} // namespace authevents::detail
