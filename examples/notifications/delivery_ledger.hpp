// DeliveryLedger: counts how many times each event reached the handlers of the notifications
// service, to prove the bus delivers every event to them exactly once.
//
// The consumer does not hand CloudEvent ids to handlers, so the ledger names an event by its
// content: its CloudEvent type and its data as canonical JSON (object keys sorted). The
// publisher makes every event's content unique (unique emails, a fresh IP address per
// request), so two runs under one key mean the same event was handled twice.
#pragma once

#include <authevents/bus/cloudevent.hpp>
#include <authevents/dispatcher.hpp>
#include <authevents/signal.hpp>

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace notifications {

/// What a DeliveryLedger counted so far.
struct LedgerSnapshot {
    std::size_t distinct = 0; ///< Distinct events dispatched.
    std::size_t runs = 0;     ///< Dispatches in all (distinct + repeated).
    std::size_t repeated = 0; ///< Dispatches of an event already dispatched before.
    std::string first_repeat; ///< The key of the first repeated event; empty if none.
};

/// Observes a dispatcher and counts its dispatches per event content. Observers see every
/// dispatch before the handlers run, and the handlers run once per dispatch, so the count
/// of a key is the number of times its event ran at the handlers. Thread-safe. Disconnects
/// when destroyed; the dispatcher must outlive it.
class DeliveryLedger {
public:
    /// Starts counting `dispatcher`'s dispatches (of the built-in events).
    explicit DeliveryLedger(authevents::EventDispatcher& dispatcher);

    DeliveryLedger(const DeliveryLedger&) = delete;
    DeliveryLedger& operator=(const DeliveryLedger&) = delete;

    /// The counts so far.
    [[nodiscard]] LedgerSnapshot snapshot() const;

    /// The key of an event: "<CloudEvent type> <data as JSON>".
    [[nodiscard]] std::string key_of(const authevents::EventView& view) const;

private:
    void record(const authevents::EventView& view);

    authevents::bus::EventTypeRegistry registry_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, int> runs_;
    LedgerSnapshot totals_;
    authevents::ScopedConnection observer_; // last: disconnected before the members it uses
};

} // namespace notifications
