/// @file
/// StreamConsumer: reads events from a Redis stream in a consumer group and re-dispatches
/// them into a local EventDispatcher, with acknowledgements, duplicate skipping, recovery of
/// pending entries, claiming from dead consumers, and a dead-letter stream. Its options and
/// counters are in consumer_options.hpp (included).
#pragma once

#include <authevents/bus/backoff.hpp>
#include <authevents/bus/consumer_options.hpp>
#include <authevents/bus/dedup.hpp>
#include <authevents/bus/delivery.hpp>
#include <authevents/bus/detail/claim_keeper.hpp>
#include <authevents/bus/detail/failure_line.hpp>
#include <authevents/bus/detail/stream_entries.hpp>
#include <authevents/bus/envelope.hpp>
#include <authevents/bus/redis.hpp>
#include <authevents/bus/registry.hpp>
#include <authevents/bus/signing.hpp>
#include <authevents/dispatch_report.hpp>
#include <authevents/dispatcher.hpp>
#include <authevents/logging.hpp>
#include <authevents/redaction.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace authevents::bus {

/// Reads CloudEvents from a Redis stream as a member of a consumer group and dispatches each
/// into a local EventDispatcher, so the same typed handlers run in another process.
///
/// Per entry, in this order: an entry Redis has delivered more than max_deliveries times (its
/// consumer died running it, again and again) is dead-lettered without running; the CloudEvent
/// is checked against `options.limits` and parsed strictly; its inbox key (stream, group,
/// event id) is claimed in the DedupStore (done before: acknowledged as a duplicate; held by
/// another member right now: left pending for later); the handlers run; on success the key is
/// marked done and the entry acknowledged (`XACK`). An entry whose handlers threw releases the
/// key and stays pending; it runs again after retry_delay, then retry_delay * retry_factor,
/// ... (at most retry_max_delay), and is dead-lettered when delivery max_deliveries fails too.
/// Any exception the entry causes before the handlers (limits, parsing, an unknown type,
/// decoding by any codec, custom ones included) dead-letters it at once. With
/// `options.signing_keys`, the signature is checked right after parsing, before the inbox
/// claim: an unsigned, unknown-key or badly signed event is dead-lettered with that reason
/// and no handler sees it. Dead-letter reasons and log lines built from an entry are redacted
/// (`options.redaction`), escaped and capped (max_reason_bytes).
///
/// Dead-lettering adds the entry, with its reason, to the dead-letter stream (bounded by
/// dead_letter_max_length; the oldest dropped beyond it, counted and logged at error), and
/// acknowledges it only after that XADD succeeded: if Redis refuses the XADD the entry stays
/// pending (counted in dead_letter_failures, logged at error) and is tried again later. See
/// DeadLetters (dead_letters.hpp) to list, replay or delete dead letters.
///
/// Recovery: every claim_interval the consumer scans the group's pending entries: its own are
/// re-run when their retry is due (at once after a restart under the same name), and entries
/// other members left idle for claim_min_idle (dead consumers) are claimed. While handlers run,
/// a helper thread keeps the entries in hand from going idle (see claim_refresh_interval), so
/// a live member's slow handler is not claimed and run twice. Delivery to handlers is
/// at-least-once: a crash after the handlers ran but before the key is marked done runs them
/// again, so handlers should be idempotent. Handlers connected with an executor (queued) count
/// as run once queued. With a transactional inbox (SqliteInbox, PostgresInbox) as the store,
/// the database writes of the handlers connected through it commit with the event's inbox row,
/// exactly once; if that commit fails the delivery counts as failed and is retried.
///
/// Thread-safety: poll_once() runs on one thread at a time (the background thread after
/// start()); start(), stop() and stats() may be called from any thread. The dispatcher and
/// the dedup store must outlive the consumer.
class StreamConsumer {
public:
    /// A consumer dispatching into `dispatcher`, claiming events in `dedup`, decoding with
    /// `registry` (its type prefix must match the publisher's). Connects lazily.
    /// @throws std::invalid_argument naming a bad option (empty stream or group,
    ///         max_deliveries < 1, batch_size 0, a non-positive block, retry_delay,
    ///         claim_min_idle or claim_interval, retry_factor < 1, retry_max_delay <
    ///         retry_delay, dead_letter_max_length 0, max_reason_bytes < 64, two signing
    ///         keys with one id).
    StreamConsumer(RedisEndpoint endpoint, EventDispatcher& dispatcher, DedupStore& dedup,
                   ConsumerOptions options = {}, EventTypeRegistry registry = EventTypeRegistry{},
                   Logger logger = {})
        : endpoint_(std::move(endpoint)), dispatcher_(dispatcher), dedup_(dedup),
          options_(detail::checked_consumer_options(std::move(options))),
          registry_(std::move(registry)), logger_(std::move(logger)),
          keeper_(endpoint_, options_, dedup_, options_.claim_refresh_interval,
                  [this](const std::exception& error) {
                      log(LogLevel::warning,
                          failure_line(std::string("stream consumer: refreshing the claim of the "
                                                   "entries in hand failed: ") +
                                           error.what(),
                                       error));
                  }) {}

    StreamConsumer(const StreamConsumer&) = delete;
    StreamConsumer& operator=(const StreamConsumer&) = delete;

    /// Stops the background thread, if running.
    ~StreamConsumer() { stop(); }

    /// One round: creates the group if needed (`XGROUP CREATE ... MKSTREAM`), scans the
    /// pending entries when due (retries due, idle entries of other members), then reads new
    /// entries (waiting up to `block`) and handles them. Returns how many entries it took
    /// care of (handled, skipped, dead-lettered, failed again or left pending as busy).
    /// Entries not acknowledged stay pending and are handled on a later round.
    /// @throws RedisConnectionError when Redis is unreachable.
    /// @throws RedisCommandError when Redis refuses a command.
    /// @throws what the DedupStore throws (e.g. SqliteError) when it fails.
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
        ConsumerStats stats;
        stats.handled = handled_.load(std::memory_order_relaxed);
        stats.duplicates = duplicates_.load(std::memory_order_relaxed);
        stats.failed_attempts = failed_attempts_.load(std::memory_order_relaxed);
        stats.dead_lettered = dead_lettered_.load(std::memory_order_relaxed);
        stats.claimed = claimed_.load(std::memory_order_relaxed);
        stats.lost = lost_.load(std::memory_order_relaxed);
        stats.redis_errors = redis_errors_.load(std::memory_order_relaxed);
        stats.busy = busy_.load(std::memory_order_relaxed);
        stats.dead_letter_failures = dead_letter_failures_.load(std::memory_order_relaxed);
        stats.dead_letters_dropped = dead_letters_dropped_.load(std::memory_order_relaxed);
        stats.pending = pending_.load(std::memory_order_relaxed);
        stats.dead_letter_length = dead_letter_length_.load(std::memory_order_relaxed);
        stats.unauthenticated = unauthenticated_.load(std::memory_order_relaxed);
        return stats;
    }

    /// The options in use (consumer, dead_letter_stream and claim_refresh_interval filled in).
    [[nodiscard]] const ConsumerOptions& options() const noexcept { return options_; }

    /// How many times the helper thread touched entries in hand. Thread-safe; noexcept.
    [[nodiscard]] std::uint64_t claim_refreshes() const noexcept { return keeper_.refreshes(); }

    /// The pause before the retry of an entry delivered `deliveries` times:
    /// retry_delay * retry_factor^(deliveries - 1), at most retry_max_delay. noexcept.
    [[nodiscard]] std::chrono::milliseconds retry_pause(long long deliveries) const noexcept {
        double pause = static_cast<double>(options_.retry_delay.count());
        const double cap = static_cast<double>(options_.retry_max_delay.count());
        for (long long i = 1; i < deliveries && pause < cap && options_.retry_factor > 1.0; ++i) {
            pause *= options_.retry_factor;
        }
        return std::chrono::milliseconds(static_cast<long long>(std::min(pause, cap)));
    }

private:
    std::size_t poll(RedisConnection& redis) {
        ensure_group(redis);
        std::size_t count = 0;
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_scan_) {
            count += scan_pending(redis);
            next_scan_ = now + options_.claim_interval;
        }
        const RedisReply reply = redis.command(
            {"XREADGROUP", "GROUP", options_.group, options_.consumer, "COUNT",
             std::to_string(options_.batch_size), "BLOCK", std::to_string(options_.block.count()),
             "STREAMS", options_.stream, ">"});
        std::vector<detail::Delivery> batch;
        for (detail::StreamEntry& entry : entries_of(reply)) {
            batch.push_back({std::move(entry), 1});
        }
        return count + handle_batch(redis, batch);
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

    /// Walks the group's pending entries (`XPENDING ... IDLE`): takes this member's own whose
    /// retry is due (all of them on the first scan: a restart re-runs what a crash left) and
    /// other members' idle for claim_min_idle and their retry pause, with one `XCLAIM` each
    /// (which counts a delivery), and handles them. Also samples the pending count and the
    /// dead-letter length for stats().
    std::size_t scan_pending(RedisConnection& redis) {
        const std::vector<RedisReply> sizes = redis.pipeline(
            {{"XPENDING", options_.stream, options_.group}, {"XLEN", options_.dead_letter_stream}});
        if (sizes[0].is_array() && !sizes[0].elements.empty()) {
            pending_.store(static_cast<std::uint64_t>(sizes[0].elements[0].integer),
                           std::memory_order_relaxed);
        }
        if (sizes[1].kind == RedisReply::Kind::integer) {
            dead_letter_length_.store(static_cast<std::uint64_t>(sizes[1].integer),
                                      std::memory_order_relaxed);
        }
        const long long min_idle =
            first_scan_ ? 0 : std::min(options_.retry_delay, options_.claim_min_idle).count();
        std::size_t count = 0;
        std::string start = "-";
        for (;;) {
            const RedisReply page = redis.command({"XPENDING", options_.stream, options_.group,
                                                   "IDLE", std::to_string(min_idle), start, "+",
                                                   std::to_string(options_.batch_size)});
            if (!page.is_array() || page.elements.empty()) {
                break;
            }
            std::vector<std::vector<std::string>> claims;
            std::vector<long long> deliveries;
            std::vector<bool> from_other;
            for (const RedisReply& row : page.elements) {
                if (!row.is_array() || row.elements.size() != 4) {
                    throw std::runtime_error("redis XPENDING: unexpected reply shape");
                }
                const std::string& id = row.elements[0].text;
                const bool own = row.elements[1].text == options_.consumer;
                const long long idle = row.elements[2].integer;
                const long long delivered = row.elements[3].integer;
                long long needed = retry_pause(delivered).count();
                if (!own) {
                    needed = std::max<long long>(needed, options_.claim_min_idle.count());
                } else if (first_scan_) {
                    needed = 0;
                }
                if (idle >= needed) {
                    claims.push_back({"XCLAIM", options_.stream, options_.group, options_.consumer,
                                      std::to_string(needed), id});
                    deliveries.push_back(delivered + 1);
                    from_other.push_back(!own);
                }
            }
            start = "(" + page.elements.back().elements[0].text;
            std::vector<detail::Delivery> batch;
            if (!claims.empty()) {
                const std::vector<RedisReply> replies = redis.pipeline(claims);
                for (std::size_t i = 0; i < replies.size(); ++i) {
                    const RedisReply& reply = replies[i];
                    if (reply.is_error()) {
                        throw RedisCommandError("XCLAIM", reply.text);
                    }
                    if (reply.is_array() && !reply.elements.empty() &&
                        reply.elements[0].is_nil()) { // trimmed (Redis before 7)
                        batch.push_back({{claims[i].back(), std::nullopt}, deliveries[i]});
                    } else if (reply.is_array() && !reply.elements.empty()) {
                        if (from_other[i]) {
                            claimed_.fetch_add(1, std::memory_order_relaxed);
                        }
                        for (detail::StreamEntry& entry : detail::parse_entries(reply)) {
                            batch.push_back({std::move(entry), deliveries[i]});
                        }
                    } else if (redis
                                   .command({"XRANGE", options_.stream, claims[i].back(),
                                             claims[i].back()})
                                   .elements.empty()) {
                        // Redis 7 drops a trimmed entry from the pending list and returns
                        // nothing: it was never handled.
                        report_lost(claims[i].back());
                    } // else another member took it first
                }
            }
            count += handle_batch(redis, batch);
            if (page.elements.size() < options_.batch_size) {
                break;
            }
        }
        first_scan_ = false;
        return count;
    }

    std::size_t handle_batch(RedisConnection& redis, const std::vector<detail::Delivery>& batch) {
        if (batch.empty()) {
            return 0;
        }
        std::vector<std::string> ids;
        ids.reserve(batch.size());
        for (const detail::Delivery& delivery : batch) {
            ids.push_back(delivery.entry.id);
        }
        keeper_.hold(std::move(ids));
        struct Release {
            detail::ClaimKeeper& keeper;
            ~Release() { keeper.hold({}); }
        } release{keeper_};
        for (const detail::Delivery& delivery : batch) {
            handle(redis, delivery.entry, delivery.deliveries);
            keeper_.drop(delivery.entry.id);
        }
        return batch.size();
    }

    void handle(RedisConnection& redis, const detail::StreamEntry& entry, long long deliveries) {
        if (!entry.fields) {
            // Pending but trimmed from the stream by MAXLEN before anyone handled it.
            report_lost(entry.id);
            acknowledge(redis, entry.id);
            return;
        }
        if (deliveries > options_.max_deliveries) {
            dead_letter(redis, entry,
                        fmt::format("delivered {} times (max_deliveries {}) without completing: "
                                    "its consumer stopped while running it",
                                    deliveries, options_.max_deliveries));
            return;
        }
        const std::string* payload = entry.field("event");
        if (payload == nullptr) {
            dead_letter(redis, entry, "entry has no 'event' field");
            return;
        }
        CloudEvent event;
        try {
            event = parse_cloud_event(*payload, options_.limits);
        } catch (const std::exception& e) {
            dead_letter(redis, entry, fmt::format("cannot parse the CloudEvent: {}", e.what()));
            return;
        }
        if (!options_.signing_keys.empty()) {
            const SignatureCheck check = check_signature(*payload, event, options_.signing_keys);
            if (!check.ok()) {
                unauthenticated_.fetch_add(1, std::memory_order_relaxed);
                dead_letter(redis, entry, check.reason);
                return;
            }
        }
        DedupKey key{options_.stream, options_.group, event.id};
        switch (dedup_.claim(key, options_.consumer, options_.claim_min_idle)) {
        case ClaimState::done:
            duplicates_.fetch_add(1, std::memory_order_relaxed);
            acknowledge(redis, entry.id);
            return;
        case ClaimState::in_progress:
            // Another member runs this event now: retry later, without counting a delivery.
            busy_.fetch_add(1, std::memory_order_relaxed);
            redis.command({"XCLAIM", options_.stream, options_.group, options_.consumer, "0",
                           entry.id, "RETRYCOUNT", std::to_string(deliveries - 1), "JUSTID"});
            return;
        case ClaimState::claimed:
            break;
        }
        keeper_.running(key);
        DispatchReport report;
        std::optional<std::string> undecodable;
        try {
            const DeliveryScope delivery(event); // observers (the audit log) see the CloudEvent
            report = registry_.dispatch(event, dispatcher_);
        } catch (const std::exception& e) {
            undecodable = e.what();
        } catch (...) {
            undecodable = "an exception not derived from std::exception";
        }
        keeper_.running(std::nullopt);
        if (undecodable) {
            dedup_.release(key, options_.consumer);
            dead_letter(redis, entry, fmt::format("cannot decode the event: {}", *undecodable));
            return;
        }
        std::string first_failure;
        if (report.ok()) {
            try {
                dedup_.complete(key); // a transactional inbox commits the handlers' writes here
                acknowledge(redis, entry.id);
                handled_.fetch_add(1, std::memory_order_relaxed);
                return;
            } catch (const std::exception& e) {
                if (dedup_.done(key)) {
                    throw; // recorded: only the XACK failed, and a redelivery is a duplicate
                }
                dedup_.release(key, options_.consumer);
                first_failure = fmt::format("recording it in the inbox failed: {}", e.what());
            }
        } else {
            dedup_.release(key, options_.consumer);
            first_failure = detail::describe_exception(report.failures.front().error);
        }
        failed_attempts_.fetch_add(1, std::memory_order_relaxed);
        if (deliveries >= options_.max_deliveries) {
            const std::string summary =
                report.ok() ? std::string("the handlers ran but the inbox did not record it")
                            : fmt::format("{} of {} handlers failed", report.failures.size(),
                                          report.handlers_called);
            dead_letter(redis, entry,
                        fmt::format("{} in each of {} deliveries; last: {}", summary, deliveries,
                                    first_failure));
            return;
        }
        // The retry pause counts from now: reset the idle time, not the delivery count.
        redis.command({"XCLAIM", options_.stream, options_.group, options_.consumer, "0", entry.id,
                       "JUSTID"});
        log(LogLevel::warning,
            safe(fmt::format("stream consumer: {} {} (entry {}) failed delivery {} of {}, retry "
                             "in {} ms: {}",
                             event.type, event.id, entry.id, deliveries, options_.max_deliveries,
                             retry_pause(deliveries).count(), first_failure)));
    }

    void acknowledge(RedisConnection& redis, const std::string& entry_id) {
        redis.command({"XACK", options_.stream, options_.group, entry_id});
    }

    /// XADD to the dead-letter stream (trimmed to dead_letter_max_length), then XACK only if
    /// that succeeded. A refused XADD leaves the entry pending, counted and logged.
    /// @throws RedisConnectionError when the connection is lost (the entry stays pending too).
    void dead_letter(RedisConnection& redis, const detail::StreamEntry& entry,
                     const std::string& raw_reason) {
        const std::string reason = safe(raw_reason);
        std::vector<std::string> add = {"XADD",
                                        options_.dead_letter_stream,
                                        "MAXLEN",
                                        std::to_string(options_.dead_letter_max_length),
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
        const std::vector<RedisReply> replies =
            redis.pipeline({{"XLEN", options_.dead_letter_stream}, add});
        if (replies[1].is_error()) {
            dead_letter_failures_.fetch_add(1, std::memory_order_relaxed);
            log(LogLevel::error,
                fmt::format("stream consumer: cannot dead-letter entry {} to '{}', it stays "
                            "pending: {} (reason: {})",
                            entry.id, options_.dead_letter_stream, safe(replies[1].text), reason));
            return;
        }
        const long long before =
            replies[0].kind == RedisReply::Kind::integer ? replies[0].integer : 0;
        const long long dropped =
            before + 1 - static_cast<long long>(options_.dead_letter_max_length);
        if (dropped > 0) {
            dead_letters_dropped_.fetch_add(static_cast<std::uint64_t>(dropped),
                                            std::memory_order_relaxed);
            log(LogLevel::error,
                fmt::format("stream consumer: dead-letter stream '{}' is full ({} entries, "
                            "dead_letter_max_length): dropped its {} oldest",
                            options_.dead_letter_stream, options_.dead_letter_max_length, dropped));
        }
        acknowledge(redis, entry.id);
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
                    failure_line(
                        fmt::format("stream consumer: reading '{}' failed, retrying in {} ms: {}",
                                    options_.stream, pause.count(), e.what()),
                        e));
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

    /// `text` as a dead-letter reason or log line may show it: redacted by options_.redaction,
    /// escaped, capped at max_reason_bytes.
    [[nodiscard]] std::string safe(std::string_view text) const {
        return redact_text(text, options_.redaction, options_.max_reason_bytes);
    }

    /// `line`, which quotes `error`, as a log line may show it (see detail::failure_line()).
    [[nodiscard]] std::string failure_line(std::string_view line,
                                           const std::exception& error) const {
        return detail::failure_line(line, error, options_.redaction, options_.max_reason_bytes);
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
    bool first_scan_ = true;
    std::chrono::steady_clock::time_point next_scan_{};

    std::atomic<std::uint64_t> handled_{0};
    std::atomic<std::uint64_t> duplicates_{0};
    std::atomic<std::uint64_t> failed_attempts_{0};
    std::atomic<std::uint64_t> dead_lettered_{0};
    std::atomic<std::uint64_t> claimed_{0};
    std::atomic<std::uint64_t> lost_{0};
    std::atomic<std::uint64_t> redis_errors_{0};
    std::atomic<std::uint64_t> busy_{0};
    std::atomic<std::uint64_t> dead_letter_failures_{0};
    std::atomic<std::uint64_t> dead_letters_dropped_{0};
    std::atomic<std::uint64_t> pending_{0};
    std::atomic<std::uint64_t> dead_letter_length_{0};
    std::atomic<std::uint64_t> unauthenticated_{0};

    detail::ClaimKeeper keeper_; // after everything it refers to; stopped first

    std::mutex thread_mutex_;
    std::thread thread_;
    std::atomic<bool> stopping_{false};
};

} // namespace authevents::bus
