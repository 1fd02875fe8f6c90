/// @file
/// OutboxSource: what an OutboxRelay publishes from, whatever database holds the outbox
/// (SqliteOutbox, PostgresOutbox), and the record type they share.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace authevents::bus {

/// One event waiting in (or published from) an outbox. A plain value: the outbox stores the
/// CloudEvent as opaque text and does not depend on the CloudEvents header.
struct OutboxRecord {
    std::int64_t sequence = 0;      ///< publish order (assigned when appended, never reused)
    std::string event_id;           ///< the CloudEvent id, unique in the outbox
    std::string type;               ///< the CloudEvent type
    std::string payload;            ///< the CloudEvent JSON text
    std::int64_t created_at_ms = 0; ///< when it was appended, ms since the Unix epoch
    int attempts = 0;               ///< failed publish attempts so far
};

/// The unpublished part of an outbox (see SqliteOutbox::backlog(), PostgresOutbox::backlog()).
/// A plain value.
struct OutboxBacklog {
    std::size_t count = 0;                   ///< Records not published yet.
    std::int64_t oldest_created_at_ms = 0;   ///< When the oldest of them was appended (ms since
                                             ///< the Unix epoch); 0 when there is none.
    std::chrono::milliseconds oldest_age{0}; ///< How long the oldest has waited; 0 when none.
};

/// mark_published() was asked to check a relay lease the caller no longer holds (it expired
/// and may have been taken over, or the connection that held it broke): nothing was marked,
/// so the records go out again (at least once) from the relay that holds the lease now.
class OutboxLeaseLost : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A subscription made by OutboxSource::watch(); destroying it ends the subscription (and
/// waits for a callback in progress). Not copyable.
class OutboxWatch {
public:
    OutboxWatch() = default;
    OutboxWatch(const OutboxWatch&) = delete;
    OutboxWatch& operator=(const OutboxWatch&) = delete;
    virtual ~OutboxWatch() = default;
};

/// What an OutboxRelay needs from an outbox: a lease so that one relay at a time publishes,
/// pending records in order, and marking them published or failed. Implemented by
/// SqliteOutbox (outbox.hpp) and PostgresOutbox (postgres_outbox.hpp); the relay calls these
/// members from one thread at a time, pending_count() also from others. Each implementation
/// documents its own thread-safety and exceptions.
class OutboxSource {
public:
    virtual ~OutboxSource() = default;

    /// Takes or renews the right to publish for `owner` for `duration` (or as long as the
    /// implementation can tell the holder is alive); whether `owner` holds it.
    virtual bool acquire_lease(std::string_view owner, std::chrono::milliseconds duration) = 0;
    /// Gives `owner`'s lease up at once, so a waiting relay takes over.
    virtual void release_lease(std::string_view owner) = 0;
    /// Up to `limit` unpublished records, lowest sequence first.
    [[nodiscard]] virtual std::vector<OutboxRecord> next_batch(std::size_t limit) = 0;
    /// Marks these records published; with a `lease_owner`, only while it holds the lease
    /// (else OutboxLeaseLost, marking none).
    virtual void mark_published(const std::vector<std::int64_t>& sequences,
                                std::string_view lease_owner = {}) = 0;
    /// Records one failed publish attempt for each of these records.
    virtual void record_failure(const std::vector<std::int64_t>& sequences,
                                std::string_view error) = 0;
    /// How many records are not published yet.
    [[nodiscard]] virtual std::size_t pending_count() const = 0;
    /// Calls `wake` (from another thread) whenever records may have been appended by another
    /// connection or process, until the returned watch is destroyed; nullptr when this outbox
    /// has no such signal (then the relay finds them by polling). `wake` must be cheap and
    /// must not throw.
    [[nodiscard]] virtual std::unique_ptr<OutboxWatch> watch(std::function<void()> wake) {
        static_cast<void>(wake);
        return nullptr;
    }

protected:
    OutboxSource() = default;
    OutboxSource(const OutboxSource&) = default;
    OutboxSource& operator=(const OutboxSource&) = default;
};

} // namespace authevents::bus
