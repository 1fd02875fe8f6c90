/// @file
/// OutboxRelay: moves events from an outbox (SQLite or PostgreSQL) to a Redis stream, in order,
/// retrying with backoff while Redis is down or refusing, one active relay per outbox, trimming
/// only what every consumer group has acknowledged. Delivery is at-least-once. Its options and
/// counters are in relay_options.hpp, the group reads in stream_groups.hpp (both included).
#pragma once

#include <authevents/bus/backoff.hpp>
#include <authevents/bus/detail/failure_line.hpp>
#include <authevents/bus/outbox_source.hpp>
#include <authevents/bus/redis.hpp>
#include <authevents/bus/relay_options.hpp>
#include <authevents/bus/stream_groups.hpp>
#include <authevents/logging.hpp>
#include <authevents/redaction.hpp>

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace authevents::bus {

/// Publishes an outbox's pending records to a Redis stream, oldest first.
///
/// Each stream entry has three fields: `id` (the CloudEvent id), `type` (the CloudEvent
/// type) and `event` (the CloudEvent JSON). A record is marked published only after Redis
/// acknowledged its XADD (and, with wait_replicas, that many replicas did), so a crash or
/// outage between the two publishes it again later: delivery is at-least-once, and
/// consumers skip duplicates by `id` (see StreamConsumer). Records reach the stream in
/// outbox order; the only exception is a record Redis refuses with an error reply while
/// records behind it in the same batch are accepted: it is published after them.
///
/// Failures: while Redis is unreachable, or when it refuses a command with an error reply
/// (NOAUTH, READONLY after a failover, OOM, LOADING, ...), the relay drops its connection and
/// tries again after an exponential backoff with jitter, with a new connection; nothing is
/// dropped, and each failed attempt is recorded on its records (attempts, last_error).
///
/// Trimming: after each batch (and every trim_interval), the relay asks Redis how far each
/// consumer group has got (read_group_stats) and trims, with `XTRIM MINID`, only the entries
/// every group has been delivered and acknowledged; then it enforces the max_length cap,
/// counting and logging at error every entry that cap removes (see RelayOptions).
///
/// One active relay per outbox: with use_lease (the default) the relay publishes only
/// while it holds the outbox's lease; others wait and take over once it stops (stop()
/// releases the lease) or its lease expires (it died).
///
/// Wake-up: notify() (PublisherOptions::relay calls it after each append) wakes the
/// background thread at once; so does the outbox itself where it can signal appends made by
/// other processes (OutboxSource::watch(): PostgreSQL's LISTEN/NOTIFY); otherwise the relay
/// polls every poll_interval.
///
/// Use relay_once() from your own loop, or start() a background thread. Thread-safety:
/// start(), stop(), notify(), stats() and group_stats() may be called from any thread;
/// relay_once() must not run concurrently with itself or with the background thread. The
/// outbox must outlive the relay.
class OutboxRelay {
public:
    /// A relay from `outbox` to `endpoint`. Connects lazily (the first attempt connects), so
    /// constructing it with Redis down is fine. `logger` gets warning lines for failed
    /// attempts, error lines for entries the max_length cap removed, and info lines when
    /// Redis is reachable again and when this relay becomes the active one; empty means
    /// silent.
    /// @throws std::invalid_argument naming the option that cannot work.
    OutboxRelay(OutboxSource& outbox, RedisEndpoint endpoint, RelayOptions options = {},
                Logger logger = {})
        : outbox_(outbox), endpoint_(std::move(endpoint)), options_(std::move(options)),
          logger_(std::move(logger)) {
        const auto reject = [](const char* what) {
            throw std::invalid_argument(std::string("OutboxRelay: RelayOptions::") + what);
        };
        if (options_.stream.empty()) {
            reject("stream must not be empty");
        }
        if (options_.batch_size == 0) {
            reject("batch_size must be > 0");
        }
        if (options_.max_length == 0) {
            reject("max_length must be > 0");
        }
        if (options_.trim_interval.count() < 0) {
            reject("trim_interval must not be negative");
        }
        if (options_.use_lease && options_.lease_duration.count() <= 0) {
            reject("lease_duration must be > 0");
        }
        if (options_.wait_replicas < 0) {
            reject("wait_replicas must not be negative");
        }
        if (options_.max_log_bytes < 64) {
            reject("max_log_bytes must be at least 64");
        }
        if (options_.wait_replicas > 0 && (options_.wait_timeout.count() <= 0 ||
                                           options_.wait_timeout >= endpoint_.command_timeout)) {
            reject("wait_timeout must be > 0 and below RedisEndpoint::command_timeout");
        }
        if (options_.relay_id.empty()) {
            options_.relay_id = detail::default_relay_id();
        }
    }

    OutboxRelay(const OutboxRelay&) = delete;
    OutboxRelay& operator=(const OutboxRelay&) = delete;

    /// Stops the background thread, if running, and releases the lease.
    ~OutboxRelay() { stop(); }

    /// If this relay holds (or can take) the outbox's lease, publishes pending records in
    /// batches until the outbox has none left, trimming the stream after each; returns how
    /// many it published (0 while another relay holds the lease).
    /// Records published before a failure stay marked published; after a RedisCommandError the
    /// next attempt uses a new connection.
    /// @throws RedisConnectionError when Redis is unreachable.
    /// @throws RedisCommandError when Redis refuses a command (NOREPLICAS when fewer than
    ///         wait_replicas replicas acknowledged).
    /// @throws OutboxLeaseLost when the lease lapsed mid-batch.
    /// @throws SqliteError when a SqliteOutbox fails.
    /// @throws PostgresError when a PostgresOutbox fails.
    std::size_t relay_once() {
        if (!hold_lease()) {
            return 0;
        }
        std::size_t total = 0;
        try {
            for (;;) {
                const std::vector<OutboxRecord> batch = outbox_.next_batch(options_.batch_size);
                if (batch.empty()) {
                    break;
                }
                if (!hold_lease()) {
                    return total;
                }
                total += publish(batch);
                trim();
                if (batch.size() < options_.batch_size) {
                    break;
                }
            }
            if (trim_due_ ||
                std::chrono::steady_clock::now() - last_trim_ >= options_.trim_interval) {
                trim();
            }
        } catch (const RedisCommandError& e) {
            if (e.command() != "WAIT") {
                refused_attempts_.fetch_add(1, std::memory_order_relaxed);
            }
            connection_.reset(); // a refusal may mean a failover: reconnect after the backoff
            throw;
        } catch (const OutboxLeaseLost&) {
            lease_held_.store(false, std::memory_order_relaxed); // take it again next time
            throw;
        }
        return total;
    }

    /// Starts the background thread: relay_once() whenever records are pending (checked every
    /// poll_interval, or at once after notify() or the outbox's own wake-up signal), backoff
    /// after failures. No effect when already running. Thread-safe.
    /// @throws what OutboxSource::watch() throws (std::system_error if no thread can start).
    void start() {
        std::lock_guard<std::mutex> lock(thread_mutex_);
        if (thread_.joinable()) {
            return;
        }
        {
            std::lock_guard<std::mutex> wake_lock(wake_mutex_);
            stopping_ = false;
        }
        watch_ = outbox_.watch([this] { notify(); });
        thread_ = std::thread([this] { run(); });
    }

    /// Stops the background thread and waits for it (the attempt in progress finishes
    /// first), then releases the outbox's lease if this relay holds it, so a waiting relay
    /// takes over at once. Pending records stay in the outbox for the next run. Must not run
    /// while relay_once() runs on another thread. Thread-safe otherwise; noexcept (a failed
    /// release is logged; the lease then expires by itself).
    void stop() noexcept {
        std::lock_guard<std::mutex> lock(thread_mutex_);
        watch_.reset();
        if (thread_.joinable()) {
            {
                std::lock_guard<std::mutex> wake_lock(wake_mutex_);
                stopping_ = true;
            }
            wake_.notify_all();
            thread_.join();
        }
        if (lease_held_.exchange(false, std::memory_order_relaxed)) {
            try {
                outbox_.release_lease(options_.relay_id);
            } catch (const std::exception& e) {
                log(LogLevel::warning,
                    fmt::format("outbox relay '{}': cannot release the lease (it expires in "
                                "at most {} ms): {}",
                                options_.relay_id, options_.lease_duration.count(), e.what()),
                    &e);
            }
        }
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
    /// must be running, or by another relay holding the lease) or `timeout` passes; returns
    /// whether it drained. For a graceful shutdown: `relay.wait_until_drained(10s);
    /// relay.stop();`. Thread-safe.
    /// @throws SqliteError when a SqliteOutbox cannot be read.
    /// @throws PostgresError when a PostgresOutbox cannot be read.
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
        RelayStats stats;
        stats.published = published_.load(std::memory_order_relaxed);
        stats.failed_attempts = failed_attempts_.load(std::memory_order_relaxed);
        stats.redis_reachable = reachable_.load(std::memory_order_relaxed);
        stats.refused_attempts = refused_attempts_.load(std::memory_order_relaxed);
        stats.reconnects = reconnects_.load(std::memory_order_relaxed);
        stats.replica_shortfalls = replica_shortfalls_.load(std::memory_order_relaxed);
        stats.trimmed = trimmed_.load(std::memory_order_relaxed);
        stats.dropped_undelivered = dropped_undelivered_.load(std::memory_order_relaxed);
        stats.lease_held = lease_held_.load(std::memory_order_relaxed);
        return stats;
    }

    /// The consumer groups of the stream as of this relay's last trim (after each batch, and
    /// every trim_interval while running): per group its lag (entries not delivered yet) and
    /// pending count. Empty before the first trim. For the outbox side see
    /// SqliteOutbox::backlog() and PostgresOutbox::backlog(). Thread-safe.
    /// @throws std::bad_alloc only.
    [[nodiscard]] std::vector<StreamGroupStats> group_stats() const {
        std::lock_guard<std::mutex> lock(groups_mutex_);
        return groups_;
    }

    /// The options this relay uses (relay_id filled in when it was empty).
    [[nodiscard]] const RelayOptions& options() const noexcept { return options_; }

private:
    // Takes or renews the lease (at most every third of its duration); whether we hold it.
    bool hold_lease() {
        if (!options_.use_lease) {
            return true;
        }
        const auto now = std::chrono::steady_clock::now();
        const bool held = lease_held_.load(std::memory_order_relaxed);
        if (held && now - lease_renewed_ < options_.lease_duration / 3) {
            return true;
        }
        const bool holds = outbox_.acquire_lease(options_.relay_id, options_.lease_duration);
        if (holds) {
            lease_renewed_ = now;
        }
        lease_held_.store(holds, std::memory_order_relaxed);
        if (holds && !held) {
            trim_due_ = true; // the previous holder may have left the stream untrimmed
            log(LogLevel::info, fmt::format("outbox relay '{}': holds the outbox's lease, "
                                            "publishing to stream '{}'",
                                            options_.relay_id, options_.stream));
        } else if (!holds && held) {
            log(LogLevel::warning,
                fmt::format("outbox relay '{}': lost the outbox's lease to another relay; "
                            "waiting",
                            options_.relay_id));
        }
        return holds;
    }

    std::size_t publish(const std::vector<OutboxRecord>& batch) {
        std::vector<std::vector<std::string>> commands;
        commands.reserve(batch.size());
        for (const OutboxRecord& record : batch) {
            commands.push_back({"XADD", options_.stream, "*", "id", record.event_id, "type",
                                record.type, "event", record.payload});
        }
        std::vector<RedisReply> replies;
        try {
            replies = connection().pipeline(commands);
        } catch (const RedisConnectionError& e) {
            record_failure(sequences_of(batch), e.what());
            throw;
        }
        std::vector<std::int64_t> published;
        std::vector<std::int64_t> refused;
        std::string refusal;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (replies[i].is_error()) {
                refused.push_back(batch[i].sequence);
                refusal = replies[i].text;
            } else {
                published.push_back(batch[i].sequence);
            }
        }
        if (!published.empty() && options_.wait_replicas > 0) {
            wait_for_replicas(published);
        }
        outbox_.mark_published(published, options_.use_lease ? options_.relay_id : "");
        published_.fetch_add(published.size(), std::memory_order_relaxed);
        if (!refused.empty()) {
            record_failure(refused, refusal);
            throw RedisCommandError("XADD", refusal);
        }
        return published.size();
    }

    // WAIT for the replicas; below wait_replicas the records are not marked (retried).
    void wait_for_replicas(const std::vector<std::int64_t>& published) {
        const RedisReply reply =
            connection().command({"WAIT", std::to_string(options_.wait_replicas),
                                  std::to_string(options_.wait_timeout.count())});
        if (reply.integer >= options_.wait_replicas) {
            return;
        }
        replica_shortfalls_.fetch_add(1, std::memory_order_relaxed);
        const std::string message = fmt::format(
            "NOREPLICAS only {} of {} replicas acknowledged {} records within {} ms; "
            "they stay pending and are published again",
            reply.integer, options_.wait_replicas, published.size(), options_.wait_timeout.count());
        record_failure(published, message);
        throw RedisCommandError("WAIT", message);
    }

    // Trims by MINID what every group has been delivered and acknowledged, then enforces the
    // max_length cap, counting what it removes. Refreshes group_stats().
    void trim() {
        trim_due_ = true; // until it completes
        RedisConnection& redis = connection();
        std::vector<StreamGroupStats> groups = read_group_stats(redis, options_.stream);
        std::optional<detail::StreamId> floor;
        bool every_group_known = !groups.empty();
        for (const std::string& expected : options_.groups) {
            const bool found = std::any_of(groups.begin(), groups.end(),
                                           [&](const auto& g) { return g.name == expected; });
            every_group_known = every_group_known && found;
        }
        if (every_group_known) {
            for (const StreamGroupStats& group : groups) {
                const detail::StreamId needed =
                    group.pending > 0 && !group.oldest_pending_id.empty()
                        ? detail::parse_stream_id(group.oldest_pending_id)
                        : detail::successor(detail::parse_stream_id(group.last_delivered_id));
                if (!floor || needed < *floor) {
                    floor = needed;
                }
            }
        }
        {
            std::lock_guard<std::mutex> lock(groups_mutex_);
            groups_ = std::move(groups);
        }
        if (floor) {
            const RedisReply removed =
                redis.command({"XTRIM", options_.stream, "MINID", "=", detail::to_string(*floor)});
            trimmed_.fetch_add(detail::to_count(removed), std::memory_order_relaxed);
        }
        const std::uint64_t length = detail::to_count(redis.command({"XLEN", options_.stream}));
        if (length > options_.max_length) {
            const std::uint64_t dropped = detail::to_count(redis.command(
                {"XTRIM", options_.stream, "MAXLEN", "=", std::to_string(options_.max_length)}));
            dropped_undelivered_.fetch_add(dropped, std::memory_order_relaxed);
            if (dropped > 0) {
                log(LogLevel::error,
                    fmt::format("outbox relay: stream '{}' reached max_length {}: dropped its "
                                "{} oldest entries, which {}; raise "
                                "RelayOptions::max_length or speed up the slowest group",
                                options_.stream, options_.max_length, dropped,
                                floor ? "a consumer group had not been delivered or had not "
                                        "acknowledged"
                                      : "no consumer group (or not every group in "
                                        "RelayOptions::groups) had read"));
            }
        }
        last_trim_ = std::chrono::steady_clock::now();
        trim_due_ = false;
    }

    static std::vector<std::int64_t> sequences_of(const std::vector<OutboxRecord>& records) {
        std::vector<std::int64_t> sequences;
        sequences.reserve(records.size());
        for (const OutboxRecord& record : records) {
            sequences.push_back(record.sequence);
        }
        return sequences;
    }

    void record_failure(const std::vector<std::int64_t>& sequences, const std::string& error) {
        try {
            outbox_.record_failure(sequences, error);
        } catch (const std::exception& e) {
            log(LogLevel::error, fmt::format("outbox relay: cannot record a failure: {}", e.what()),
                &e);
        }
    }

    RedisConnection& connection() {
        if (!connection_) {
            connection_.emplace(endpoint_); // throws while Redis is down or refuses AUTH
            if (connected_before_) {
                reconnects_.fetch_add(1, std::memory_order_relaxed);
            }
            connected_before_ = true;
        }
        return *connection_;
    }

    void run() noexcept {
        Backoff backoff(options_.min_backoff, options_.max_backoff);
        for (;;) {
            std::chrono::milliseconds pause = options_.poll_interval;
            try {
                relay_once();
                if (lease_held_.load(std::memory_order_relaxed) || !options_.use_lease) {
                    if (!reachable_.exchange(true, std::memory_order_relaxed) && attempts_failed_) {
                        log(LogLevel::info, "outbox relay: Redis reachable again");
                    }
                }
                attempts_failed_ = false;
                backoff.reset();
            } catch (const std::exception& e) {
                reachable_.store(false, std::memory_order_relaxed);
                failed_attempts_.fetch_add(1, std::memory_order_relaxed);
                attempts_failed_ = true;
                pause = backoff.next();
                log(LogLevel::warning,
                    fmt::format("outbox relay: publish to stream '{}' failed, retrying in {} ms "
                                "on a new connection: {}",
                                options_.stream, pause.count(), e.what()),
                    &e);
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

    /// Logs `line` redacted by options_.redaction, escaped and capped at max_log_bytes; a line
    /// that quotes an error passes it as `quoted`, which decides on the redaction (see
    /// detail::failure_line()).
    void log(LogLevel level, const std::string& line,
             const std::exception* quoted = nullptr) const noexcept {
        if (logger_) {
            try {
                logger_(level, quoted != nullptr
                                   ? detail::failure_line(line, *quoted, options_.redaction,
                                                          options_.max_log_bytes)
                                   : redact_text(line, options_.redaction, options_.max_log_bytes));
            } catch (...) {
                // A failing logger has nowhere to report to.
            }
        }
    }

    OutboxSource& outbox_;
    RedisEndpoint endpoint_;
    RelayOptions options_;
    Logger logger_;
    std::optional<RedisConnection> connection_; // used by one thread at a time
    bool connected_before_ = false;             // likewise, and the fields down to groups_
    bool trim_due_ = true;
    std::chrono::steady_clock::time_point last_trim_{};
    std::chrono::steady_clock::time_point lease_renewed_{};

    mutable std::mutex groups_mutex_;
    std::vector<StreamGroupStats> groups_; // guarded by groups_mutex_

    std::atomic<std::uint64_t> published_{0};
    std::atomic<std::uint64_t> failed_attempts_{0};
    std::atomic<std::uint64_t> refused_attempts_{0};
    std::atomic<std::uint64_t> reconnects_{0};
    std::atomic<std::uint64_t> replica_shortfalls_{0};
    std::atomic<std::uint64_t> trimmed_{0};
    std::atomic<std::uint64_t> dropped_undelivered_{0};
    std::atomic<bool> reachable_{false};
    std::atomic<bool> lease_held_{false};
    bool attempts_failed_ = false; // background thread only

    std::mutex thread_mutex_;            // serialises start() and stop()
    std::unique_ptr<OutboxWatch> watch_; // the outbox's wake-up while started; nullptr if none
    std::thread thread_;
    std::mutex wake_mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    bool notified_ = false;
};

} // namespace authevents::bus
