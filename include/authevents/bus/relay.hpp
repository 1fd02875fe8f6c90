/// @file
/// OutboxRelay: moves events from the SQLite outbox to a Redis stream, in order, retrying
/// with backoff while Redis is down. Delivery is at-least-once.
#pragma once

#include <authevents/bus/backoff.hpp>
#include <authevents/bus/outbox.hpp>
#include <authevents/bus/redis.hpp>
#include <authevents/dispatcher.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace authevents::bus {

/// How an OutboxRelay publishes.
struct RelayOptions {
    /// The Redis stream to append to.
    std::string stream = "authevents";
    /// `XADD ... MAXLEN ~ max_length`: Redis trims the stream to about this many entries.
    /// Size it so consumers never fall this far behind (a trimmed entry nobody read is gone).
    std::size_t max_length = 1'000'000;
    /// Records per round trip (one pipelined batch of XADDs).
    std::size_t batch_size = 128;
    /// How long the background loop sleeps when the outbox is empty (notify() wakes it).
    std::chrono::milliseconds poll_interval{100};
    /// Backoff after a failed attempt: starts at `min_backoff`, doubles up to `max_backoff`.
    std::chrono::milliseconds min_backoff{50};
    std::chrono::milliseconds max_backoff{5000}; ///< See min_backoff.
};

/// Counters of an OutboxRelay (a snapshot; each counter read atomically).
struct RelayStats {
    std::uint64_t published = 0;       ///< Records appended to the stream and marked published.
    std::uint64_t failed_attempts = 0; ///< Attempts that failed (Redis down, error reply).
    bool redis_reachable = false;      ///< Whether the last attempt reached Redis.
};

/// Publishes an outbox's pending records to a Redis stream, oldest first.
///
/// Each stream entry has three fields: `id` (the CloudEvent id), `type` (the CloudEvent
/// type) and `event` (the CloudEvent JSON). A record is marked published only after Redis
/// acknowledged its XADD, so a crash or outage between the two publishes it again later:
/// delivery is at-least-once, and consumers skip duplicates by `id` (see StreamConsumer).
/// Records reach the stream in outbox order; the only exception is a record Redis refuses
/// with an error reply (e.g. the stream key holds another type), which is retried after the
/// records behind it. While Redis is unreachable the relay retries with backoff; nothing is
/// dropped.
///
/// Use relay_once() from your own loop, or start() a background thread. Thread-safety:
/// start(), stop(), notify() and stats() may be called from any thread; relay_once() must
/// not run concurrently with itself or with the background thread. The outbox must outlive
/// the relay. Several relays on one outbox would publish records twice (harmless for
/// consumers, but wasteful): run one per outbox.
class OutboxRelay {
public:
    /// A relay from `outbox` to `endpoint`. Connects lazily (the first attempt connects), so
    /// constructing it with Redis down is fine. `logger` gets warning lines for failed
    /// attempts and an info line when Redis is reachable again; empty means silent.
    OutboxRelay(SqliteOutbox& outbox, RedisEndpoint endpoint, RelayOptions options = {},
                Logger logger = {})
        : outbox_(outbox), endpoint_(std::move(endpoint)), options_(std::move(options)),
          logger_(std::move(logger)) {
        if (options_.stream.empty()) {
            throw std::invalid_argument("OutboxRelay: RelayOptions::stream must not be empty");
        }
        if (options_.batch_size == 0) {
            throw std::invalid_argument("OutboxRelay: RelayOptions::batch_size must be > 0");
        }
        if (options_.max_length == 0) {
            throw std::invalid_argument("OutboxRelay: RelayOptions::max_length must be > 0");
        }
    }

    OutboxRelay(const OutboxRelay&) = delete;
    OutboxRelay& operator=(const OutboxRelay&) = delete;

    /// Stops the background thread, if running.
    ~OutboxRelay() { stop(); }

    /// Publishes pending records in batches until the outbox has none left; returns how many
    /// it published.
    /// @throws RedisConnectionError when Redis is unreachable, RedisCommandError when it
    ///         refuses a record, SqliteError when the outbox fails. Records published before
    ///         the failure stay marked published.
    std::size_t relay_once() {
        std::size_t total = 0;
        for (;;) {
            const std::vector<OutboxRecord> batch = outbox_.next_batch(options_.batch_size);
            if (batch.empty()) {
                return total;
            }
            total += publish(batch);
            if (batch.size() < options_.batch_size) {
                return total;
            }
        }
    }

    /// Starts the background thread: relay_once() whenever records are pending (checked every
    /// poll_interval, or at once after notify()), backoff after failures. No effect when
    /// already running. Thread-safe.
    void start() {
        std::lock_guard<std::mutex> lock(thread_mutex_);
        if (thread_.joinable()) {
            return;
        }
        {
            std::lock_guard<std::mutex> wake_lock(wake_mutex_);
            stopping_ = false;
        }
        thread_ = std::thread([this] { run(); });
    }

    /// Stops the background thread and waits for it; the attempt in progress finishes first.
    /// Pending records stay in the outbox for the next run. Thread-safe; noexcept.
    void stop() noexcept {
        std::lock_guard<std::mutex> lock(thread_mutex_);
        if (!thread_.joinable()) {
            return;
        }
        {
            std::lock_guard<std::mutex> wake_lock(wake_mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }

    /// Wakes the background thread to publish now (e.g. right after an append), skipping the
    /// rest of its poll interval; it does not cut a backoff short. Thread-safe; noexcept.
    void notify() noexcept {
        {
            std::lock_guard<std::mutex> lock(wake_mutex_);
            notified_ = true;
        }
        wake_.notify_all();
    }

    /// Waits until the outbox has no pending record (published by the background thread, which
    /// must be running) or `timeout` passes; returns whether it drained. For a graceful
    /// shutdown: `relay.wait_until_drained(10s); relay.stop();`. Thread-safe.
    /// @throws SqliteError when the outbox cannot be read.
    bool wait_until_drained(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (outbox_.pending_count() == 0) {
                return true;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                return false;
            }
            notify();
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }

    /// A snapshot of the counters. Thread-safe; noexcept.
    [[nodiscard]] RelayStats stats() const noexcept {
        return RelayStats{published_.load(std::memory_order_relaxed),
                          failed_attempts_.load(std::memory_order_relaxed),
                          reachable_.load(std::memory_order_relaxed)};
    }

    /// The options this relay uses.
    [[nodiscard]] const RelayOptions& options() const noexcept { return options_; }

private:
    std::size_t publish(const std::vector<OutboxRecord>& batch) {
        const std::string max_length = std::to_string(options_.max_length);
        std::vector<std::vector<std::string>> commands;
        commands.reserve(batch.size());
        for (const OutboxRecord& record : batch) {
            commands.push_back({"XADD", options_.stream, "MAXLEN", "~", max_length, "*", "id",
                                record.event_id, "type", record.type, "event", record.payload});
        }
        std::vector<RedisReply> replies;
        try {
            replies = connection().pipeline(commands);
        } catch (const RedisConnectionError& e) {
            record_failure(batch, e.what());
            throw;
        }
        std::vector<std::int64_t> published;
        std::vector<OutboxRecord> refused;
        std::string refusal;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (replies[i].is_error()) {
                refused.push_back(batch[i]);
                refusal = replies[i].text;
            } else {
                published.push_back(batch[i].sequence);
            }
        }
        outbox_.mark_published(published);
        published_.fetch_add(published.size(), std::memory_order_relaxed);
        if (!refused.empty()) {
            record_failure(refused, refusal);
            throw RedisCommandError("XADD", refusal);
        }
        return published.size();
    }

    void record_failure(const std::vector<OutboxRecord>& records, const std::string& error) {
        std::vector<std::int64_t> sequences;
        sequences.reserve(records.size());
        for (const OutboxRecord& record : records) {
            sequences.push_back(record.sequence);
        }
        try {
            outbox_.record_failure(sequences, error);
        } catch (const std::exception& e) {
            log(LogLevel::error,
                fmt::format("outbox relay: cannot record a failure: {}", e.what()));
        }
    }

    RedisConnection& connection() {
        if (!connection_) {
            connection_.emplace(endpoint_); // throws RedisConnectionError while Redis is down
        }
        return *connection_;
    }

    void run() noexcept {
        Backoff backoff(options_.min_backoff, options_.max_backoff);
        for (;;) {
            std::chrono::milliseconds pause = options_.poll_interval;
            try {
                relay_once();
                if (!reachable_.exchange(true, std::memory_order_relaxed) && attempts_failed_) {
                    log(LogLevel::info, "outbox relay: Redis reachable again");
                }
                attempts_failed_ = false;
                backoff.reset();
            } catch (const std::exception& e) {
                reachable_.store(false, std::memory_order_relaxed);
                failed_attempts_.fetch_add(1, std::memory_order_relaxed);
                attempts_failed_ = true;
                pause = backoff.next();
                log(LogLevel::warning,
                    fmt::format("outbox relay: publish to stream '{}' failed, retrying in {} ms: "
                                "{}",
                                options_.stream, pause.count(), e.what()));
            }
            std::unique_lock<std::mutex> lock(wake_mutex_);
            const bool backing_off = attempts_failed_;
            wake_.wait_for(lock, pause, [&] { return stopping_ || (notified_ && !backing_off); });
            notified_ = false;
            if (stopping_) {
                return;
            }
        }
    }

    void log(LogLevel level, const std::string& line) const noexcept {
        if (logger_) {
            try {
                logger_(level, line);
            } catch (...) {
                // A failing logger has nowhere to report to.
            }
        }
    }

    SqliteOutbox& outbox_;
    RedisEndpoint endpoint_;
    RelayOptions options_;
    Logger logger_;
    std::optional<RedisConnection> connection_; // used by one thread at a time

    std::atomic<std::uint64_t> published_{0};
    std::atomic<std::uint64_t> failed_attempts_{0};
    std::atomic<bool> reachable_{false};
    bool attempts_failed_ = false; // background thread only

    std::mutex thread_mutex_; // serialises start() and stop()
    std::thread thread_;
    std::mutex wake_mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    bool notified_ = false;
};

} // namespace authevents::bus
