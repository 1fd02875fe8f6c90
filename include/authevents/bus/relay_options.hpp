/// @file
/// RelayOptions and RelayStats: how an OutboxRelay (relay.hpp) publishes, and what it counts.
#pragma once

#include <authevents/redaction.hpp>

#include <fmt/format.h>

#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

namespace authevents::bus {

/// How an OutboxRelay publishes.
struct RelayOptions {
    /// The Redis stream to append to.
    std::string stream = "authevents";
    /// Hard cap on the stream's length, a safety bound: after each batch the relay trims the
    /// stream to at most this many entries (exact `XTRIM MAXLEN`; in between it may exceed it
    /// by up to batch_size). Normal trimming is by MINID and never removes an entry a
    /// consumer group still needs; what this cap removes was not delivered to (or not
    /// acknowledged by) some group, so each such entry is counted in
    /// RelayStats::dropped_undelivered and logged at error. Size it for the longest outage
    /// of a consumer group you want to survive.
    std::size_t max_length = 1'000'000;
    /// Consumer groups that must get every entry even before they exist (e.g. a service not
    /// deployed yet, whose group starts at "0"): while one of them is missing from the
    /// stream, the relay trims nothing by MINID (only the max_length cap applies).
    std::vector<std::string> groups;
    /// Records per round trip (one pipelined batch of XADDs).
    std::size_t batch_size = 128;
    /// How long the background loop sleeps when the outbox is empty (notify() wakes it); also
    /// how often a waiting relay checks whether the lease is free.
    std::chrono::milliseconds poll_interval{100};
    /// Backoff after a failed attempt: starts at `min_backoff`, doubles up to `max_backoff`.
    std::chrono::milliseconds min_backoff{50};
    std::chrono::milliseconds max_backoff{5000}; ///< See min_backoff.
    /// How often the relay trims the stream (and refreshes group_stats()) while it publishes
    /// nothing; it also trims after every batch it publishes.
    std::chrono::milliseconds trim_interval{1000};
    /// Take the outbox's relay lease (OutboxSource::acquire_lease) so that of several relays
    /// on one outbox (threads or processes) one publishes and the others wait, taking over
    /// when its lease expires or it stops. Off: this relay publishes regardless (run one per
    /// outbox yourself).
    bool use_lease = true;
    /// How long a lease lasts unless renewed; the active relay renews it every third of
    /// this, so a waiting relay takes over at most this long after the active one died
    /// (SQLite; a PostgreSQL outbox's lease is an advisory lock that ends with the holder's
    /// session, so a waiting relay takes over within a poll_interval). Keep
    /// it well above RedisEndpoint::command_timeout: a batch that outlives the lease is
    /// published again by the successor (at least once).
    std::chrono::milliseconds lease_duration{30'000};
    /// This relay's id as lease owner; empty: "<hostname>:<pid>:<random>".
    std::string relay_id;
    /// When > 0, after each batch the relay sends `WAIT wait_replicas wait_timeout` and marks
    /// the records published only if that many replicas acknowledged them; otherwise they
    /// stay pending (counted in RelayStats::replica_shortfalls) and are published again after
    /// a backoff (consumers drop the duplicates by id).
    int wait_replicas = 0;
    /// The WAIT timeout; must be positive and below RedisEndpoint::command_timeout.
    std::chrono::milliseconds wait_timeout{1000};
    /// What the relay's log lines may show of personal data in the errors they quote (an
    /// outbox's database or Redis may quote what they refused): redacted by this policy. A
    /// connection failure's text (the configured Redis endpoint and the socket's reason) is
    /// quoted as it is. Every line is escaped and cut to max_log_bytes. Default: e-mail local
    /// parts masked, IP addresses truncated.
    RedactionPolicy redaction{};
    std::size_t max_log_bytes = 2048; ///< Cap of one log line (see redaction).
};

/// Counters of an OutboxRelay (a snapshot; each counter read atomically).
struct RelayStats {
    std::uint64_t published = 0;       ///< Records appended to the stream and marked published.
    std::uint64_t failed_attempts = 0; ///< Attempts that failed (Redis down, error reply).
    bool redis_reachable = false;      ///< Whether the last attempt reached Redis.
    /// Attempts Redis refused with an error reply (NOAUTH, WRONGPASS, READONLY, OOM, LOADING,
    /// WRONGTYPE, ...); each drops the connection, which is made again after the backoff.
    std::uint64_t refused_attempts = 0;
    std::uint64_t reconnects = 0; ///< Connections made after the first one.
    /// Batches not marked published because fewer than wait_replicas replicas acknowledged.
    std::uint64_t replica_shortfalls = 0;
    /// Entries trimmed by MINID: every known group had been delivered and acknowledged them.
    std::uint64_t trimmed = 0;
    /// Entries the max_length cap removed although a group had not been delivered or had not
    /// acknowledged them, or no group existed yet (each batch of them logged at error).
    std::uint64_t dropped_undelivered = 0;
    bool lease_held = false; ///< Whether this relay holds the outbox's lease (is the active one).
};

} // namespace authevents::bus

namespace authevents::detail {

/// A random id for this process's relay: "<hostname>:<pid>:<16 hex digits>".
inline std::string default_relay_id() {
    char host[256] = {};
    if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
        host[0] = '\0';
    }
    std::random_device random;
    const std::uint64_t nonce = (static_cast<std::uint64_t>(random()) << 32) ^ random();
    return fmt::format("{}:{}:{:016x}", host[0] != '\0' ? host : "relay", ::getpid(), nonce);
}

} // namespace authevents::detail
