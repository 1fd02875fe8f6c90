/// @file
/// AuditLogOptions (how an AuditLog queues, batches and retries) and AuditLogStats (what it
/// did so far).
///
/// Part of authevents::audit (CMake target authevents::audit).
#pragma once

#include <authevents/logging.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace authevents::audit {

/// How an AuditLog queues, batches and retries. A plain value; validated by AuditLog.
struct AuditLogOptions {
    /// Most entries waiting to be written; beyond it entries are dropped, counted, logged at
    /// error and replaced by an audit_gap record. At least 1.
    std::size_t queue_capacity = 10000;
    std::size_t batch_size = 256; ///< Most entries per append (one transaction). At least 1.
    std::chrono::milliseconds retry_min{20};   ///< First pause after a failed write (> 0).
    std::chrono::milliseconds retry_max{2000}; ///< Longest pause between retries (>= retry_min).
    /// How long the destructor (or stop()) keeps trying to write what is queued.
    std::chrono::milliseconds shutdown_timeout{5000};
    /// The CloudEvent type prefix of record(const CloudEvent&) ("<prefix>.<name>.v<N>").
    std::string type_prefix = "authevents";
    /// Where store failures, drops and unknown event types are reported (at error or warning).
    /// An empty Logger reports nothing (the counters still count).
    Logger logger = stderr_logger();
};

/// What an AuditLog did so far. Each counter is read atomically; the whole is not a snapshot.
struct AuditLogStats {
    std::uint64_t recorded = 0;       ///< Entries accepted into the queue (gap records excluded).
    std::uint64_t written = 0;        ///< Records appended (gap records included).
    std::uint64_t duplicates = 0;     ///< Entries the store skipped: their CloudEvent id was known.
    std::uint64_t dropped = 0;        ///< Entries lost (queue full, stopped, or rejected).
    std::uint64_t rejected = 0;       ///< Of `dropped`: entries that could not be sealed/written.
    std::uint64_t gap_records = 0;    ///< audit_gap records appended.
    std::uint64_t store_failures = 0; ///< Failed write attempts (each retried).
    std::uint64_t unknown_types = 0;  ///< Events recorded by name only (no description).
    std::uint64_t undecoded = 0;      ///< CloudEvents recorded undecoded (unknown type, bad data).
    std::size_t queued = 0;           ///< Entries waiting now (in the queue or being written).
};

namespace detail {

/// `options`, checked: the AuditLog constructor's validation.
/// @throws std::invalid_argument naming the option for a zero queue_capacity or batch_size,
///         retry_min not positive or above retry_max, or a negative shutdown_timeout.
inline AuditLogOptions checked(AuditLogOptions options) {
    if (options.queue_capacity == 0 || options.batch_size == 0) {
        throw std::invalid_argument(
            "authevents::audit::AuditLogOptions: queue_capacity and batch_size must be >= 1");
    }
    if (options.retry_min.count() <= 0 || options.retry_max < options.retry_min) {
        throw std::invalid_argument(
            "authevents::audit::AuditLogOptions: need 0 < retry_min <= retry_max");
    }
    if (options.shutdown_timeout.count() < 0) {
        throw std::invalid_argument(
            "authevents::audit::AuditLogOptions: shutdown_timeout must not be negative");
    }
    return options;
}

} // namespace detail

} // namespace authevents::audit
