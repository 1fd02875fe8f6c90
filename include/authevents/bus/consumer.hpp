/// @file
/// StreamConsumer: reads events from a Redis stream in a consumer group and re-dispatches
/// them into a local EventDispatcher, with acknowledgements, duplicate skipping, recovery of
/// pending entries, claiming from dead consumers, and a dead-letter stream.
#pragma once

#include <authevents/bus/backoff.hpp>
#include <authevents/bus/cloudevent.hpp>
#include <authevents/bus/dedup.hpp>
#include <authevents/bus/redis.hpp>
#include <authevents/dispatcher.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace authevents::bus {

/// How a StreamConsumer reads, retries and gives up.
struct ConsumerOptions {
    std::string stream = "authevents"; ///< The stream the relay publishes to.
    std::string group = "authevents";  ///< Consumer group: each entry goes to one member.
    /// This member's name. Keep it stable across restarts (a restarted member re-reads its own
    /// pending entries at once) and distinct per process (two processes under one name would
    /// re-run each other's entries). Empty: the hostname.
    std::string consumer;
    std::string dead_letter_stream;       ///< Empty: "<stream>.dead".
    std::string group_start_id = "0";     ///< Where a new group starts: "0" all, "$" new only.
    std::size_t batch_size = 64;          ///< Entries per read.
    std::chrono::milliseconds block{500}; ///< How long a read waits for new entries.
    int max_deliveries = 5;               ///< Deliveries of a failing entry before it is
                                          ///< dead-lettered (Redis counts them per entry).
    std::chrono::milliseconds retry_delay{1000};     ///< Pause before failing entries re-run.
    std::chrono::milliseconds claim_min_idle{30000}; ///< Idle time after which another
                                                     ///< member's pending entry is claimed.
    std::chrono::milliseconds claim_interval{5000};  ///< How often to look for such entries.
    std::chrono::milliseconds min_backoff{50};       ///< Reconnect backoff while Redis is down.
    std::chrono::milliseconds max_backoff{5000};     ///< See min_backoff.
};

/// Counters of a StreamConsumer (a snapshot; each counter read atomically).
struct ConsumerStats {
    std::uint64_t handled = 0;         ///< Entries whose handlers all ran without throwing.
    std::uint64_t duplicates = 0;      ///< Entries skipped because their id was handled before.
    std::uint64_t failed_attempts = 0; ///< Deliveries in which a handler threw.
    std::uint64_t dead_lettered = 0;   ///< Entries moved to the dead-letter stream.
    std::uint64_t claimed = 0;         ///< Entries claimed from other (dead) members.
    std::uint64_t lost = 0;            ///< Pending entries the stream had trimmed (logged).
    std::uint64_t redis_errors = 0;    ///< Failed rounds (Redis unreachable or refusing).
};

namespace detail {

inline std::string default_consumer_name() {
    char host[256] = {};
    if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
        return "consumer";
    }
    return host;
}

/// One stream entry: its id and its field/value pairs (absent when the stream trimmed it).
struct StreamEntry {
    std::string id;
    std::optional<std::vector<std::pair<std::string, std::string>>> fields;

    [[nodiscard]] const std::string* field(std::string_view name) const {
        if (fields) {
            for (const auto& [key, value] : *fields) {
                if (key == name) {
                    return &value;
                }
            }
        }
        return nullptr;
    }
};

/// Entries of an `[[id, [field, value, ...] | nil], ...]` reply.
inline std::vector<StreamEntry> parse_entries(const RedisReply& list) {
    std::vector<StreamEntry> entries;
    for (const RedisReply& item : list.elements) {
        if (!item.is_array() || item.elements.size() != 2) {
            throw std::runtime_error("redis: unexpected stream entry shape");
        }
        StreamEntry entry{item.elements[0].text, std::nullopt};
        const RedisReply& values = item.elements[1];
        if (values.is_array()) {
            entry.fields.emplace();
            for (std::size_t i = 0; i + 1 < values.elements.size(); i += 2) {
                entry.fields->emplace_back(values.elements[i].text, values.elements[i + 1].text);
            }
        }
        entries.push_back(std::move(entry));
    }
    return entries;
}

} // namespace detail

/// Reads CloudEvents from a Redis stream as a member of a consumer group and dispatches each
/// into a local EventDispatcher, so the same typed handlers run in another process.
///
/// Per entry: parse the CloudEvent strictly; skip it (acknowledged) if its id is in the
/// DedupStore; otherwise dispatch it, and when every handler ran without throwing, remember the
/// id and `XACK`. An entry whose handler threw stays pending and is re-run after retry_delay,
/// until Redis has delivered it max_deliveries times; then it is moved to the dead-letter
/// stream with the reason. An entry that cannot be parsed, or whose type the registry does
/// not know, is dead-lettered at once. Dead-lettering adds the entry to the dead-letter stream
/// and acknowledges it in one MULTI/EXEC.
///
/// Recovery: at start (and every retry_delay) the consumer re-reads its own pending entries,
/// so a restart under the same name re-runs what a crash left unacknowledged; every
/// claim_interval it claims entries that other members left idle for claim_min_idle (dead
/// consumers) with XAUTOCLAIM. Delivery to handlers is at-least-once: a crash after the
/// handlers ran but before the id is remembered runs them again, so handlers should be
/// idempotent. Handlers connected with an executor (queued) count as run once queued.
///
/// Thread-safety: poll_once() runs on one thread at a time (the background thread after
/// start()); start(), stop() and stats() may be called from any thread. The dispatcher and
/// the dedup store must outlive the consumer.
class StreamConsumer {
public:
    /// A consumer dispatching into `dispatcher`, skipping ids found in `dedup`, decoding with
    /// `registry` (its type prefix must match the publisher's). Connects lazily.
    /// @throws std::invalid_argument naming a bad option (empty stream or group,
    ///         max_deliveries < 1, batch_size 0, a non-positive block or retry_delay).
    StreamConsumer(RedisEndpoint endpoint, EventDispatcher& dispatcher, DedupStore& dedup,
                   ConsumerOptions options = {}, EventTypeRegistry registry = EventTypeRegistry{},
                   Logger logger = {})
        : endpoint_(std::move(endpoint)), dispatcher_(dispatcher), dedup_(dedup),
          options_(std::move(options)), registry_(std::move(registry)), logger_(std::move(logger)) {
        if (options_.stream.empty() || options_.group.empty()) {
            throw std::invalid_argument("StreamConsumer: stream and group must not be empty");
        }
        if (options_.max_deliveries < 1) {
            throw std::invalid_argument("StreamConsumer: max_deliveries must be at least 1");
        }
        if (options_.batch_size == 0) {
            throw std::invalid_argument("StreamConsumer: batch_size must be > 0");
        }
        if (options_.block.count() <= 0 || options_.retry_delay.count() <= 0) {
            throw std::invalid_argument("StreamConsumer: block and retry_delay must be > 0");
        }
        if (options_.consumer.empty()) {
            options_.consumer = detail::default_consumer_name();
        }
        if (options_.dead_letter_stream.empty()) {
            options_.dead_letter_stream = options_.stream + ".dead";
        }
    }

    StreamConsumer(const StreamConsumer&) = delete;
    StreamConsumer& operator=(const StreamConsumer&) = delete;

    /// Stops the background thread, if running.
    ~StreamConsumer() { stop(); }

    /// One round: creates the group if needed (`XGROUP CREATE ... MKSTREAM`), re-runs own
    /// pending entries when due, claims idle entries of other members when due, then reads
    /// new entries (waiting up to `block`) and handles them. Returns how many entries it took
    /// care of (handled, skipped as duplicates, dead-lettered or failed again).
    /// @throws RedisConnectionError when Redis is unreachable, RedisCommandError when it
    ///         refuses a command; DedupStore errors. Entries not acknowledged stay pending
    ///         and are handled on a later round.
    std::size_t poll_once() {
        try {
            return poll(connection());
        } catch (const RedisCommandError& e) {
            if (e.is("NOGROUP")) {
                group_ready_ = false; // e.g. Redis restarted without its data: create it again
            }
            throw;
        }
    }

    /// Starts a background thread calling poll_once() until stop(), reconnecting with backoff
    /// while Redis is down (each failure logged at warning). No effect when running.
    void start() {
        std::lock_guard<std::mutex> lock(thread_mutex_);
        if (thread_.joinable()) {
            return;
        }
        stopping_.store(false, std::memory_order_relaxed);
        thread_ = std::thread([this] { run(); });
    }

    /// Stops the background thread and waits for it (at most about `block` plus the entry in
    /// progress). Thread-safe; noexcept.
    void stop() noexcept {
        std::lock_guard<std::mutex> lock(thread_mutex_);
        if (!thread_.joinable()) {
            return;
        }
        stopping_.store(true, std::memory_order_relaxed);
        thread_.join();
    }

    /// A snapshot of the counters. Thread-safe; noexcept.
    [[nodiscard]] ConsumerStats stats() const noexcept {
        return ConsumerStats{
            handled_.load(std::memory_order_relaxed),
            duplicates_.load(std::memory_order_relaxed),
            failed_attempts_.load(std::memory_order_relaxed),
            dead_lettered_.load(std::memory_order_relaxed),
            claimed_.load(std::memory_order_relaxed),
            lost_.load(std::memory_order_relaxed),
            redis_errors_.load(std::memory_order_relaxed),
        };
    }

    /// The options in use (consumer and dead_letter_stream filled in).
    [[nodiscard]] const ConsumerOptions& options() const noexcept { return options_; }

private:
    std::size_t poll(RedisConnection& redis) {
        ensure_group(redis);
        std::size_t count = 0;
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_pending_read_) {
            count += handle_own_pending(redis);
            next_pending_read_ = now + options_.retry_delay;
        }
        if (now >= next_claim_) {
            count += claim_idle(redis);
            next_claim_ = now + options_.claim_interval;
        }
        const RedisReply reply = redis.command(
            {"XREADGROUP", "GROUP", options_.group, options_.consumer, "COUNT",
             std::to_string(options_.batch_size), "BLOCK", std::to_string(options_.block.count()),
             "STREAMS", options_.stream, ">"});
        for (const detail::StreamEntry& entry : entries_of(reply)) {
            handle(redis, entry);
            ++count;
        }
        return count;
    }

    RedisConnection& connection() {
        if (!connection_) {
            connection_.emplace(endpoint_);
            group_ready_ = false;
        } else if (!connection_->connected()) {
            connection_->reconnect();
            group_ready_ = false; // Redis may have restarted: check the group again
        }
        return *connection_;
    }

    void ensure_group(RedisConnection& redis) {
        if (group_ready_) {
            return;
        }
        try {
            redis.command({"XGROUP", "CREATE", options_.stream, options_.group,
                           options_.group_start_id, "MKSTREAM"});
        } catch (const RedisCommandError& e) {
            if (!e.is("BUSYGROUP")) {
                throw;
            }
        }
        group_ready_ = true;
    }

    std::vector<detail::StreamEntry> entries_of(const RedisReply& reply) const {
        // [[stream, [entries...]]] or nil when BLOCK timed out.
        if (!reply.is_array() || reply.elements.empty()) {
            return {};
        }
        const RedisReply& stream = reply.elements[0];
        if (!stream.is_array() || stream.elements.size() != 2) {
            throw std::runtime_error("redis XREADGROUP: unexpected reply shape");
        }
        return detail::parse_entries(stream.elements[1]);
    }

    /// Re-reads this member's pending entries (delivered before, not acknowledged): those a
    /// crash interrupted and those whose handlers failed.
    std::size_t handle_own_pending(RedisConnection& redis) {
        std::size_t count = 0;
        std::string after = "0";
        for (;;) {
            const RedisReply reply = redis.command(
                {"XREADGROUP", "GROUP", options_.group, options_.consumer, "COUNT",
                 std::to_string(options_.batch_size), "STREAMS", options_.stream, after});
            const std::vector<detail::StreamEntry> entries = entries_of(reply);
            if (entries.empty()) {
                return count;
            }
            for (const detail::StreamEntry& entry : entries) {
                handle(redis, entry);
                ++count;
            }
            after = entries.back().id;
        }
    }

    /// Takes over entries other members left pending for claim_min_idle (XAUTOCLAIM).
    std::size_t claim_idle(RedisConnection& redis) {
        std::size_t count = 0;
        std::string cursor = "0-0";
        do {
            const RedisReply reply =
                redis.command({"XAUTOCLAIM", options_.stream, options_.group, options_.consumer,
                               std::to_string(options_.claim_min_idle.count()), cursor, "COUNT",
                               std::to_string(options_.batch_size)});
            if (!reply.is_array() || reply.elements.size() < 2) {
                throw std::runtime_error("redis XAUTOCLAIM: unexpected reply shape");
            }
            cursor = reply.elements[0].text;
            for (const detail::StreamEntry& entry : detail::parse_entries(reply.elements[1])) {
                claimed_.fetch_add(1, std::memory_order_relaxed);
                handle(redis, entry);
                ++count;
            }
            if (reply.elements.size() > 2) {
                for (const RedisReply& gone : reply.elements[2].elements) {
                    report_lost(gone.text);
                }
            }
        } while (cursor != "0-0");
        return count;
    }

    void handle(RedisConnection& redis, const detail::StreamEntry& entry) {
        if (!entry.fields) {
            // Pending but trimmed from the stream by MAXLEN before anyone handled it.
            report_lost(entry.id);
            acknowledge(redis, entry.id);
            return;
        }
        const std::string* payload = entry.field("event");
        if (payload == nullptr) {
            dead_letter(redis, entry, "entry has no 'event' field");
            return;
        }
        CloudEvent event;
        try {
            event = parse_cloud_event(*payload);
        } catch (const CloudEventError& e) {
            dead_letter(redis, entry, fmt::format("cannot parse the CloudEvent: {}", e.what()));
            return;
        }
        if (dedup_.seen(event.id)) {
            duplicates_.fetch_add(1, std::memory_order_relaxed);
            acknowledge(redis, entry.id);
            return;
        }
        DispatchReport report;
        try {
            report = registry_.dispatch(event, dispatcher_);
        } catch (const CloudEventError& e) {
            dead_letter(redis, entry, fmt::format("cannot decode the event: {}", e.what()));
            return;
        }
        if (report.ok()) {
            dedup_.remember(event.id);
            acknowledge(redis, entry.id);
            handled_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        failed_attempts_.fetch_add(1, std::memory_order_relaxed);
        const std::string first_failure =
            ::authevents::detail::describe_exception(report.failures.front().error);
        const long long deliveries = delivery_count(redis, entry.id);
        if (deliveries >= options_.max_deliveries) {
            dead_letter(redis, entry,
                        fmt::format("{} of {} handlers failed in each of {} deliveries; last: {}",
                                    report.failures.size(), report.handlers_called, deliveries,
                                    first_failure));
        } else {
            log(LogLevel::warning,
                fmt::format("stream consumer: {} {} (entry {}) failed delivery {} of {}: {}",
                            event.type, event.id, entry.id, deliveries, options_.max_deliveries,
                            first_failure));
        }
    }

    long long delivery_count(RedisConnection& redis, const std::string& entry_id) {
        const RedisReply reply =
            redis.command({"XPENDING", options_.stream, options_.group, entry_id, entry_id, "1"});
        if (reply.is_array() && !reply.elements.empty() && reply.elements[0].is_array() &&
            reply.elements[0].elements.size() == 4) {
            return reply.elements[0].elements[3].integer;
        }
        return 1;
    }

    void acknowledge(RedisConnection& redis, const std::string& entry_id) {
        redis.command({"XACK", options_.stream, options_.group, entry_id});
    }

    void dead_letter(RedisConnection& redis, const detail::StreamEntry& entry,
                     const std::string& reason) {
        std::vector<std::string> add = {"XADD",
                                        options_.dead_letter_stream,
                                        "*",
                                        "reason",
                                        reason,
                                        "stream",
                                        options_.stream,
                                        "group",
                                        options_.group,
                                        "consumer",
                                        options_.consumer,
                                        "entry_id",
                                        entry.id};
        if (entry.fields) {
            for (const auto& [key, value] : *entry.fields) {
                add.push_back("field." + key);
                add.push_back(value);
            }
        }
        const std::vector<RedisReply> replies = redis.pipeline(
            {{"MULTI"}, add, {"XACK", options_.stream, options_.group, entry.id}, {"EXEC"}});
        const RedisReply& exec = replies.back();
        if (!exec.is_array()) {
            throw RedisCommandError("EXEC", exec.is_error() ? exec.text : "transaction aborted");
        }
        for (const RedisReply& part : exec.elements) {
            if (part.is_error()) {
                throw RedisCommandError("EXEC", part.text);
            }
        }
        dead_lettered_.fetch_add(1, std::memory_order_relaxed);
        log(LogLevel::error, fmt::format("stream consumer: entry {} moved to '{}': {}", entry.id,
                                         options_.dead_letter_stream, reason));
    }

    void report_lost(const std::string& entry_id) {
        lost_.fetch_add(1, std::memory_order_relaxed);
        log(LogLevel::error,
            fmt::format("stream consumer: pending entry {} was trimmed from '{}' before it was "
                        "handled (raise RelayOptions::max_length)",
                        entry_id, options_.stream));
    }

    void run() noexcept {
        Backoff backoff(options_.min_backoff, options_.max_backoff);
        bool failing = false;
        while (!stopping_.load(std::memory_order_relaxed)) {
            try {
                poll_once();
                backoff.reset();
                if (failing) {
                    failing = false;
                    log(LogLevel::info, "stream consumer: Redis reachable again");
                }
            } catch (const std::exception& e) {
                redis_errors_.fetch_add(1, std::memory_order_relaxed);
                failing = true;
                const std::chrono::milliseconds pause = backoff.next();
                log(LogLevel::warning,
                    fmt::format("stream consumer: reading '{}' failed, retrying in {} ms: {}",
                                options_.stream, pause.count(), e.what()));
                sleep_unless_stopping(pause);
            }
        }
    }

    void sleep_unless_stopping(std::chrono::milliseconds pause) const {
        const auto until = std::chrono::steady_clock::now() + pause;
        while (!stopping_.load(std::memory_order_relaxed) &&
               std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
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

    RedisEndpoint endpoint_;
    EventDispatcher& dispatcher_;
    DedupStore& dedup_;
    ConsumerOptions options_;
    EventTypeRegistry registry_;
    Logger logger_;

    // Used by the polling thread only.
    std::optional<RedisConnection> connection_;
    bool group_ready_ = false;
    std::chrono::steady_clock::time_point next_pending_read_{};
    std::chrono::steady_clock::time_point next_claim_{};

    std::atomic<std::uint64_t> handled_{0};
    std::atomic<std::uint64_t> duplicates_{0};
    std::atomic<std::uint64_t> failed_attempts_{0};
    std::atomic<std::uint64_t> dead_lettered_{0};
    std::atomic<std::uint64_t> claimed_{0};
    std::atomic<std::uint64_t> lost_{0};
    std::atomic<std::uint64_t> redis_errors_{0};

    std::mutex thread_mutex_;
    std::thread thread_;
    std::atomic<bool> stopping_{false};
};

} // namespace authevents::bus
