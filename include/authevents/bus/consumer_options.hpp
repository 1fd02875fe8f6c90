/// @file
/// ConsumerOptions and ConsumerStats: how a StreamConsumer (consumer.hpp) reads, retries and
/// gives up, and what it counts.
#pragma once

#include <authevents/bus/detail/stream_entries.hpp>
#include <authevents/bus/envelope.hpp>
#include <authevents/bus/signing.hpp>
#include <authevents/redaction.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
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
    /// Deliveries of an entry before it is dead-lettered (Redis counts them per entry): one
    /// whose handlers failed on delivery max_deliveries, or one delivered more often than
    /// that (its consumer died while running it) before it runs again.
    int max_deliveries = 8;
    std::chrono::milliseconds retry_delay{1000};       ///< Pause after a first failure.
    double retry_factor = 2.0;                         ///< Each next pause: times this...
    std::chrono::milliseconds retry_max_delay{300000}; ///< ...up to this (5 min).
    std::chrono::milliseconds claim_min_idle{30000};   ///< Idle time after which another
                                                       ///< member's pending entry is claimed.
    /// How often the pending entries are scanned for retries that are due and for entries
    /// other members left idle for claim_min_idle.
    std::chrono::milliseconds claim_interval{1000};
    /// How often the entries in hand are touched (`XCLAIM ... JUSTID`, from a helper thread on
    /// its own connection) while handlers run, so no member claims them from a live one.
    /// Zero: claim_min_idle / 3.
    std::chrono::milliseconds claim_refresh_interval{0};
    std::size_t dead_letter_max_length = 100000; ///< Bound of the dead-letter stream: beyond
                                                 ///< it the oldest are dropped (counted,
                                                 ///< logged at error).
    std::size_t max_reason_bytes = 1024;         ///< Cap of a dead letter's reason and of
                                                 ///< each log line built from an entry.
    /// What dead-letter reasons and log lines may show of personal data found in them
    /// (e-mail and IP addresses in exception messages, ...); they are always escaped and
    /// capped at max_reason_bytes. A Redis connection failure's text (the configured endpoint
    /// and the socket's reason) is quoted as it is. Default: e-mail local parts masked, IPs
    /// truncated.
    RedactionPolicy redaction{};
    /// Accept only events signed with one of these keys (bus/signing.hpp). Empty (default):
    /// signatures are not checked. Otherwise an unsigned event, one signed with a key id not
    /// listed, or one whose signature does not match is dead-lettered with that reason
    /// before its inbox claim and before any handler runs. List the old and the new key
    /// while rotating (docs/security.md). Ids must be distinct.
    std::vector<SigningKey> signing_keys{};
    CloudEventLimits limits{};                   ///< Bounds on each entry's CloudEvent text.
    std::chrono::milliseconds min_backoff{50};   ///< Reconnect backoff while Redis is down.
    std::chrono::milliseconds max_backoff{5000}; ///< See min_backoff.
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
    std::uint64_t busy = 0;            ///< Entries left pending because another member was
                                       ///< running the same event.
    std::uint64_t dead_letter_failures = 0; ///< Dead-letter XADDs Redis refused (the entry
                                            ///< stays pending; logged at error).
    std::uint64_t dead_letters_dropped = 0; ///< Old dead letters trimmed by
                                            ///< dead_letter_max_length (logged at error).
    std::uint64_t pending = 0;              ///< The group's pending entries at the last scan.
    std::uint64_t dead_letter_length = 0;   ///< The dead-letter stream's length at the last scan.
    std::uint64_t unauthenticated = 0; ///< Entries dead-lettered because signing_keys is set and
                                       ///< their signature is missing, unknown or wrong.
};

} // namespace authevents::bus

namespace authevents::detail {

/// `options` with its defaults filled in (consumer name, dead-letter stream, refresh interval).
/// @throws std::invalid_argument naming the first option out of range.
inline bus::ConsumerOptions checked_consumer_options(bus::ConsumerOptions options) {
    auto fail = [](const char* what) {
        throw std::invalid_argument(std::string("StreamConsumer: ") + what);
    };
    if (options.stream.empty() || options.group.empty()) {
        fail("stream and group must not be empty");
    }
    if (options.max_deliveries < 1) {
        fail("max_deliveries must be at least 1");
    }
    if (options.batch_size == 0) {
        fail("batch_size must be > 0");
    }
    if (options.block.count() <= 0 || options.retry_delay.count() <= 0) {
        fail("block and retry_delay must be > 0");
    }
    if (options.claim_min_idle.count() <= 0 || options.claim_interval.count() <= 0 ||
        options.claim_refresh_interval.count() < 0) {
        fail("claim_min_idle and claim_interval must be > 0, claim_refresh_interval >= 0");
    }
    if (!(options.retry_factor >= 1.0) || options.retry_max_delay < options.retry_delay) {
        fail("retry_factor must be >= 1 and retry_max_delay >= retry_delay");
    }
    if (options.dead_letter_max_length == 0 || options.max_reason_bytes < 64) {
        fail("dead_letter_max_length must be > 0 and max_reason_bytes >= 64");
    }
    bus::check_signing_keys(options.signing_keys, "StreamConsumer");
    if (options.consumer.empty()) {
        options.consumer = detail::default_consumer_name();
    }
    if (options.dead_letter_stream.empty()) {
        options.dead_letter_stream = options.stream + ".dead";
    }
    if (options.claim_refresh_interval.count() == 0) {
        options.claim_refresh_interval =
            std::max(std::chrono::milliseconds(1), options.claim_min_idle / 3);
    }
    return options;
}

} // namespace authevents::detail
