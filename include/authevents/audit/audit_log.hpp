/// @file
/// AuditLog: records every dispatched event (as an EventDispatcher observer) and every bus
/// CloudEvent handed to it (for a central audit service) in an AuditStore, with personal
/// values sealed, without ever failing or slowing a dispatch on the store: entries are queued
/// (bounded), written in batches on the log's own thread, retried with backoff while the
/// store fails; entries that do not fit in the queue are counted, logged at error, and an
/// "audit_gap" record stating how many were lost and when is appended in their place.
///
/// Part of authevents::audit (CMake target authevents::audit).
#pragma once

#include <authevents/audit/audit_log_options.hpp>
#include <authevents/audit/entry.hpp>
#include <authevents/audit/owasp.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/audit/sealing.hpp>
#include <authevents/audit/store.hpp>
#include <authevents/bus/backoff.hpp>
#include <authevents/bus/codec.hpp>
#include <authevents/bus/delivery.hpp>
#include <authevents/bus/envelope.hpp>
#include <authevents/bus/time.hpp>
#include <authevents/dispatcher.hpp>
#include <authevents/event_view.hpp>
#include <authevents/events.hpp>
#include <authevents/logging.hpp>
#include <authevents/signal.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace authevents::audit {

/// Records events in an AuditStore. Knows the twelve built-in events. A custom event with a
/// description is recorded with its fields from the description alone (see
/// pending_entry(const EventView&)); add<Event>() is needed only for its AuditTraits (OWASP
/// name, subject, actor) and to decode its CloudEvents in record(const bus::CloudEvent&). An
/// event with no description is still recorded, by its name, counted in unknown_types and
/// logged once at warning.
///
/// - attach(dispatcher): records every dispatch of that dispatcher (an observer; the dispatch
///   only builds the entry and queues it; it never touches the store).
/// - record(const bus::CloudEvent&): for a bus consumer or a central audit service; keeps the
///   CloudEvent id, so a replayed or duplicated CloudEvent is recorded once (the store skips
///   an id it has; counted in duplicates).
/// - committed(): emitted on the writer thread after each committed batch with its records as
///   stored (sequence, hash), for read models (see projection.hpp).
///
/// Thread-safety: every member may be called from any thread concurrently, except that add()
/// should be called before the events it adds are recorded (it is safe, but an event recorded
/// before its add() is recorded with the default traits). Non-copyable, non-movable. The store must
/// outlive the AuditLog. Destruction disconnects from the dispatchers, then writes what is
/// queued for up to shutdown_timeout (entries still unwritten are counted and logged at error).
class AuditLog {
public:
    /// A log over `store` with its own KeyRing (keys stored unwrapped).
    /// @throws std::invalid_argument for invalid options; std::system_error if the writer
    /// thread cannot start; std::runtime_error when libsodium cannot be initialised.
    explicit AuditLog(AuditStore& store, AuditLogOptions options = {})
        : AuditLog(store, std::make_shared<KeyRing>(store), std::move(options)) {}

    /// A log over `store` sealing with `keys` (share one KeyRing with an AuditReader; keys
    /// wrapped with its master key). @throws as above, and std::invalid_argument for null
    /// `keys` or keys over another store.
    AuditLog(AuditStore& store, std::shared_ptr<KeyRing> keys, AuditLogOptions options = {})
        : store_(store), keys_(std::move(keys)), options_(detail::checked(std::move(options))) {
        if (!keys_ || &keys_->store() != &store_) {
            throw std::invalid_argument("authevents::audit::AuditLog: the KeyRing must be non-null "
                                        "and over the same store");
        }
        add_all(static_cast<BuiltinEvents*>(nullptr));
        writer_ = std::thread([this] { run(); });
    }

    AuditLog(const AuditLog&) = delete;
    AuditLog& operator=(const AuditLog&) = delete;

    /// Disconnects from every attached dispatcher, then stop().
    ~AuditLog() {
        {
            std::lock_guard<std::mutex> lock(attached_mutex_);
            attached_.clear(); // waits for observer calls in progress
        }
        stop();
    }

    /// Records every event dispatched through `dispatcher` from now on (connects an observer).
    /// The connection is kept by the log (and dropped when it is destroyed); the Connection
    /// returned lets you detach earlier. Thread-safe. @throws std::bad_alloc.
    Connection attach(EventDispatcher& dispatcher) {
        Connection connection =
            dispatcher.observers().connect([this](const EventView& view) { record(view); });
        std::lock_guard<std::mutex> lock(attached_mutex_);
        attached_.emplace_back(connection);
        return connection;
    }

    /// Adds the custom described event `Event`: its dispatches are recorded through its
    /// AuditTraits (without add(), from its description alone, with the default traits), and
    /// its CloudEvents (type "<type_prefix>.<name>.v<version>") are decoded and recorded with
    /// their fields (without add(), recorded undecoded). Adding twice does nothing.
    /// Thread-safe. @throws std::bad_alloc.
    template <class Event> AuditLog& add() {
        static_assert(is_described_v<Event>,
                      "authevents::audit::AuditLog::add<Event>: Event has no description (add "
                      "`static constexpr auto fields = std::make_tuple(authevents::field(...), "
                      "...)`, see describe.hpp)");
        std::unique_lock<std::shared_mutex> lock(types_mutex_);
        by_key_.emplace(EventView::key_of<Event>(), &pending_of_view<Event>);
        if constexpr (authevents::detail::has_event_codec<Event>::value) {
            by_type_.emplace(bus::cloud_event_type<Event>(options_.type_prefix),
                             &pending_of_cloud_event<Event>);
        }
        return *this;
    }

    /// Records the viewed event (what the observer of attach() does). Never throws; returns
    /// false when the entry was dropped (queue full, stopped, out of memory: counted, logged).
    bool record(const EventView& view) noexcept {
        const AuditTime now = audit_now();
        try {
            // Dispatched by a StreamConsumer: record the CloudEvent itself, with its id, so a
            // redelivery or replay is recorded once. Observers run before handlers, so the
            // first event of this delivery's type seen here is the delivered one.
            bus::Delivery* delivery = bus::current_delivery();
            if (delivery != nullptr && !delivery->claimed &&
                is_delivered_type(delivery->event->type, view.name())) {
                delivery->claimed = true;
                return record(*delivery->event);
            }
            PendingEntry (*make)(const EventView&, AuditTime) = nullptr;
            {
                std::shared_lock<std::shared_mutex> lock(types_mutex_);
                const auto found = by_key_.find(view.type_key());
                make = found == by_key_.end() ? nullptr : found->second;
            }
            if (make != nullptr) {
                return enqueue(make(view, now));
            }
            if (view.has_fields()) {
                return enqueue(pending_entry(view, now));
            }
            unknown_types_.fetch_add(1, std::memory_order_relaxed);
            warn_unknown(view.name());
            return enqueue(unknown_pending_entry(view.name(), now));
        } catch (...) {
            return drop(now, "could not build the entry", std::current_exception());
        }
    }

    /// Records `event` (a described event, added or not), with `cloud_event_id` when it came
    /// from or went to the bus. Never throws; false when dropped (counted, logged).
    template <class Event>
    bool record(const Event& event,
                std::optional<std::string> cloud_event_id = std::nullopt) noexcept {
        const AuditTime now = audit_now();
        try {
            return enqueue(pending_entry(event, now, std::move(cloud_event_id)));
        } catch (...) {
            return drop(now, "could not build the entry", std::current_exception());
        }
    }

    /// Records the CloudEvent `event`, keeping its id (recorded once however often it is
    /// delivered) and its time (now when it has none or an invalid one). A type the log does
    /// not know, or data its codec rejects, is still recorded: its data whole but sealed (see
    /// undecoded_pending_entry()), counted in undecoded and logged at warning. Never throws;
    /// false when dropped (counted, logged).
    bool record(const bus::CloudEvent& event) noexcept {
        AuditTime time = audit_now();
        try {
            if (const auto parsed = bus::parse_rfc3339(event.time)) {
                time = std::chrono::time_point_cast<Microseconds>(*parsed);
            }
            PendingEntry (*make)(const bus::CloudEvent&, AuditTime) = nullptr;
            {
                std::shared_lock<std::shared_mutex> lock(types_mutex_);
                const auto found = by_type_.find(event.type);
                make = found == by_type_.end() ? nullptr : found->second;
            }
            std::optional<std::string> error;
            if (make != nullptr) {
                try {
                    return enqueue(make(event, time));
                } catch (const bus::CloudEventError& e) {
                    error = e.what();
                }
            } else {
                error = "unknown event type";
            }
            undecoded_.fetch_add(1, std::memory_order_relaxed);
            log(LogLevel::warning, [&] {
                return fmt::format("[AUDIT] CloudEvent {} of type {} recorded undecoded ({})",
                                   redact_text(event.id, RedactionPolicy{}, 64),
                                   redact_text(event.type, RedactionPolicy{}, 128),
                                   make == nullptr ? "unknown type" : "its data does not decode");
            });
            return enqueue(undecoded_pending_entry(event, time, error));
        } catch (...) {
            return drop(time, "could not build the entry", std::current_exception());
        }
    }

    /// Waits until everything queued so far is written (or dropped), at most `timeout`.
    /// Returns whether the queue was empty and idle in time. Thread-safe; do not call it from
    /// a committed() slot (that slot runs on the writer thread: it would wait for itself).
    /// @throws std::system_error from the condition variable (practically never).
    bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
        std::unique_lock<std::mutex> lock(mutex_);
        return idle_.wait_for(lock, timeout, [this] { return queue_.empty() && !in_flight_; });
    }

    /// Stops: no entry is accepted any more (each is dropped, counted, logged); the writer
    /// writes what is queued for up to shutdown_timeout, then exits. Idempotent. Thread-safe;
    /// not from a committed() slot. Does not detach dispatchers (the destructor does).
    void stop() noexcept {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!stopping_) {
                stopping_ = true;
                stop_deadline_ = std::chrono::steady_clock::now() + options_.shutdown_timeout;
            }
        }
        wake_.notify_all();
        std::lock_guard<std::mutex> join_lock(join_mutex_);
        if (writer_.joinable()) {
            writer_.join();
        }
    }

    /// The counters. Thread-safe, noexcept.
    [[nodiscard]] AuditLogStats stats() const noexcept {
        AuditLogStats s;
        s.recorded = recorded_.load(std::memory_order_relaxed);
        s.written = written_.load(std::memory_order_relaxed);
        s.duplicates = duplicates_.load(std::memory_order_relaxed);
        s.dropped = dropped_.load(std::memory_order_relaxed);
        s.rejected = rejected_.load(std::memory_order_relaxed);
        s.gap_records = gap_records_.load(std::memory_order_relaxed);
        s.store_failures = store_failures_.load(std::memory_order_relaxed);
        s.unknown_types = unknown_types_.load(std::memory_order_relaxed);
        s.undecoded = undecoded_.load(std::memory_order_relaxed);
        s.queued = queued_.load(std::memory_order_relaxed);
        return s;
    }

    /// Emitted on the writer thread after each committed batch, with the batch's records as
    /// stored (sequence and hash set; duplicates skipped), oldest first. A slot's exception
    /// is logged at error and does not affect the log. Slots must not call flush() or stop().
    /// Thread-safe.
    [[nodiscard]] Signal<const std::vector<AuditRecord>&>& committed() noexcept {
        return committed_;
    }

    /// The key ring the log seals with (share it with an AuditReader).
    [[nodiscard]] const std::shared_ptr<KeyRing>& keys() const noexcept { return keys_; }

    /// The store.
    [[nodiscard]] AuditStore& store() const noexcept { return store_; }

private:
    struct Item {
        PendingEntry pending;
        bool gap = false; // a marker: becomes the audit_gap record of the drops it stands for
    };

    template <class... Events> void add_all(std::tuple<Events...>* /*tag*/) {
        (add<Events>(), ...);
    }

    template <class Event> static PendingEntry pending_of_view(const EventView& view, AuditTime t) {
        return pending_entry(*view.get_if<Event>(), t);
    }

    template <class Event>
    static PendingEntry pending_of_cloud_event(const bus::CloudEvent& event, AuditTime t) {
        return pending_entry(authevents::detail::decode_event<Event>(event), t, event.id);
    }

    template <class MakeLine> void log(LogLevel level, MakeLine&& make_line) const noexcept {
        if (!options_.logger) {
            return;
        }
        try {
            options_.logger(level, make_line());
        } catch (...) {
            // A failing logger has nowhere to report to.
        }
    }

    /// Whether `cloud_event_type` ("<prefix>.<name>.v<N>") names the event `name`.
    bool is_delivered_type(std::string_view cloud_event_type, std::string_view name) const {
        const auto parts = bus::parse_cloud_event_type(cloud_event_type);
        return parts && parts->prefix == options_.type_prefix && parts->name == name;
    }

    void warn_unknown(std::string_view name) {
        {
            std::lock_guard<std::mutex> lock(unknown_mutex_);
            if (!unknown_names_.emplace(name).second) {
                return;
            }
        }
        log(LogLevel::warning, [&] {
            return fmt::format("[AUDIT] event type {} is not known to the audit log (add it with "
                               "AuditLog::add<Event>()): recorded by name only",
                               redact_text(name, RedactionPolicy{}, 128));
        });
    }

    bool enqueue(PendingEntry&& pending) {
        const AuditTime time = pending.entry.time;
        bool stopped = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopped = stopping_;
            if (stopped || entries_queued_ >= options_.queue_capacity) {
                // Dropped below, without the lock: the logger may record events itself.
            } else {
                queue_.push_back(Item{std::move(pending), false});
                ++entries_queued_;
                queued_.fetch_add(1, std::memory_order_relaxed);
                recorded_.fetch_add(1, std::memory_order_relaxed);
                wake_.notify_one();
                return true;
            }
        }
        return drop(time, stopped ? "the audit log is stopped" : "the queue is full", nullptr);
    }

    /// Counts a lost entry of `time`, opens (or extends) the gap it belongs to, logs at error
    /// for the first loss of a gap. Returns false. `front`: the gap goes first in the queue.
    bool drop(AuditTime time, std::string_view why, std::exception_ptr error,
              bool front = false) noexcept {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        bool first = false;
        try {
            std::unique_lock<std::mutex> lock(mutex_);
            if (!stopping_) {
                if (!gap_open_) {
                    Item marker;
                    marker.gap = true;
                    if (front) {
                        queue_.push_front(std::move(marker));
                    } else {
                        queue_.push_back(std::move(marker));
                    }
                    gap_open_ = true;
                    gap_count_ = 0;
                    gap_first_ = time;
                    gap_last_ = time;
                    first = true;
                }
                ++gap_count_;
                gap_first_ = std::min(gap_first_, time);
                gap_last_ = std::max(gap_last_, time);
            } else {
                first = true; // no gap record can follow: report each loss
            }
        } catch (...) {
            first = true; // out of memory for the marker: the count and the log remain
        }
        if (first) {
            const std::string detail =
                error ? ": " + authevents::detail::describe_exception(error) : std::string();
            log(LogLevel::error, [&] {
                return fmt::format("[AUDIT] event lost, {}{}; {} lost so far (an audit_gap record "
                                   "will state how many and when)",
                                   why, redact_text(detail, RedactionPolicy{}, 512),
                                   dropped_.load(std::memory_order_relaxed));
            });
        }
        return false;
    }

    /// The writer thread: takes batches from the queue and writes each until it succeeds.
    void run() {
        bus::Backoff backoff(options_.retry_min, options_.retry_max);
        std::vector<PendingEntry> batch;
        for (;;) {
            batch.clear();
            std::size_t entries = 0;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [this] { return !queue_.empty() || stopping_; });
                if (queue_.empty()) {
                    break;
                }
                while (!queue_.empty() && batch.size() < options_.batch_size) {
                    Item& item = queue_.front();
                    if (item.gap) {
                        batch.push_back(
                            gap_pending_entry(gap_count_, gap_first_, gap_last_, audit_now()));
                        gap_open_ = false;
                    } else {
                        batch.push_back(std::move(item.pending));
                        --entries_queued_;
                        ++entries;
                    }
                    queue_.pop_front();
                }
                in_flight_ = true;
            }
            write(batch, backoff);
            queued_.fetch_sub(entries, std::memory_order_relaxed);
            {
                std::lock_guard<std::mutex> lock(mutex_);
                in_flight_ = false;
            }
            idle_.notify_all();
        }
        idle_.notify_all();
    }

    /// Writes `batch` (one append), retrying store failures with backoff until it succeeds or
    /// the shutdown deadline passes. An entry that cannot be sealed or appended for another
    /// reason than the store (a bug, an unreadable key) is written alone and, if it fails
    /// again, dropped (counted in rejected, logged, covered by a gap record).
    void write(std::vector<PendingEntry>& batch, bus::Backoff& backoff) {
        std::uint64_t failures = 0;
        for (;;) {
            try {
                append(batch);
                if (failures > 0) {
                    log(LogLevel::warning, [&] {
                        return fmt::format("[AUDIT] the store works again after {} failed "
                                           "attempts; nothing was lost",
                                           failures);
                    });
                }
                backoff.reset();
                return;
            } catch (const AuditStoreError& e) {
                ++failures;
                store_failures_.fetch_add(1, std::memory_order_relaxed);
                if (failures == 1 || failures % 10 == 0) {
                    log(LogLevel::error, [&] {
                        return fmt::format("[AUDIT] writing {} entries failed (attempt {}), "
                                           "retrying: {}",
                                           batch.size(), failures,
                                           redact_text(e.what(), RedactionPolicy{}, 512));
                    });
                }
            } catch (...) {
                if (batch.size() > 1) {
                    for (PendingEntry& one : batch) {
                        std::vector<PendingEntry> single;
                        single.push_back(std::move(one));
                        write(single, backoff);
                    }
                    return;
                }
                rejected_.fetch_add(1, std::memory_order_relaxed);
                drop(batch.front().entry.time, "the entry could not be written",
                     std::current_exception(), true);
                return;
            }
            std::unique_lock<std::mutex> lock(mutex_);
            const auto pause = backoff.next();
            if (stopping_) {
                if (std::chrono::steady_clock::now() >= stop_deadline_) {
                    abandon(batch, lock);
                    return;
                }
                wake_.wait_until(
                    lock, std::min(stop_deadline_, std::chrono::steady_clock::now() + pause));
            } else {
                wake_.wait_for(lock, pause, [this] { return stopping_; });
            }
        }
    }

    /// Gives up at shutdown: `batch` and everything still queued are counted as lost, in one
    /// error line (the store failed until the deadline; no gap record can follow).
    void abandon(const std::vector<PendingEntry>& batch, std::unique_lock<std::mutex>& lock) {
        std::uint64_t lost = 0;
        for (const PendingEntry& pending : batch) {
            lost += pending.entry.event_type == audit_gap_event_type ? 0U : 1U;
        }
        for (const Item& item : queue_) {
            lost += item.gap ? 0U : 1U;
        }
        queued_.fetch_sub(entries_queued_, std::memory_order_relaxed);
        queue_.clear();
        entries_queued_ = 0;
        lock.unlock();
        dropped_.fetch_add(lost, std::memory_order_relaxed);
        log(LogLevel::error, [&] {
            return fmt::format("[AUDIT] {} events lost: the store failed until shutdown ({} "
                               "lost in all)",
                               lost, dropped_.load(std::memory_order_relaxed));
        });
    }

    /// Seals and appends `batch` as one transaction; emits committed().
    void append(const std::vector<PendingEntry>& batch) {
        std::vector<AuditEntry> entries;
        entries.reserve(batch.size());
        std::size_t gaps = 0;
        {
            ScopeKeys keys(*keys_);
            for (const PendingEntry& pending : batch) {
                if (pending.entry.event_type == audit_gap_event_type &&
                    pending.entry.actor == system_actor) {
                    ++gaps;
                }
                entries.push_back(seal_entry(pending, keys));
            }
        }
        const AppendResult result = store_.append(entries);
        written_.fetch_add(result.appended, std::memory_order_relaxed);
        duplicates_.fetch_add(result.duplicates, std::memory_order_relaxed);
        gap_records_.fetch_add(gaps, std::memory_order_relaxed);
        if (gaps > 0) {
            log(LogLevel::error, [&] {
                return fmt::format("[AUDIT] appended {} audit_gap record(s) for lost events", gaps);
            });
        }
        if (result.appended == 0 || committed_.size() == 0) {
            return;
        }
        std::vector<AuditRecord> records;
        try {
            const auto count = static_cast<std::int64_t>(result.appended);
            records = store_.read(result.last_sequence - count, result.appended);
        } catch (const std::exception& e) {
            log(LogLevel::error, [&] {
                return fmt::format("[AUDIT] committed {} records but could not read them back "
                                   "for committed() (read models catch up from the store): {}",
                                   result.appended, redact_text(e.what(), RedactionPolicy{}, 512));
            });
            return;
        }
        for (const SlotError& failure : committed_.send_robust(records)) {
            log(LogLevel::error, [&] {
                return fmt::format(
                    "[AUDIT] a committed() slot failed: {}",
                    redact_text(authevents::detail::describe_exception(failure.error),
                                RedactionPolicy{}, 512));
            });
        }
    }

    AuditStore& store_;
    std::shared_ptr<KeyRing> keys_;
    AuditLogOptions options_;

    mutable std::shared_mutex types_mutex_;
    std::unordered_map<const void*, PendingEntry (*)(const EventView&, AuditTime)> by_key_;
    std::map<std::string, PendingEntry (*)(const bus::CloudEvent&, AuditTime), std::less<>>
        by_type_;

    std::mutex unknown_mutex_;
    std::set<std::string, std::less<>> unknown_names_;

    std::mutex mutex_; // guards the queue, the gap and the stop state
    std::condition_variable wake_;
    std::condition_variable idle_;
    std::deque<Item> queue_;
    std::size_t entries_queued_ = 0;
    bool in_flight_ = false;
    bool stopping_ = false;
    std::chrono::steady_clock::time_point stop_deadline_{};
    bool gap_open_ = false;
    std::uint64_t gap_count_ = 0;
    AuditTime gap_first_{};
    AuditTime gap_last_{};

    std::atomic<std::uint64_t> recorded_{0};
    std::atomic<std::uint64_t> written_{0};
    std::atomic<std::uint64_t> duplicates_{0};
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> rejected_{0};
    std::atomic<std::uint64_t> gap_records_{0};
    std::atomic<std::uint64_t> store_failures_{0};
    std::atomic<std::uint64_t> unknown_types_{0};
    std::atomic<std::uint64_t> undecoded_{0};
    std::atomic<std::size_t> queued_{0};

    Signal<const std::vector<AuditRecord>&> committed_;

    std::mutex attached_mutex_;
    std::vector<ScopedConnection> attached_;

    std::mutex join_mutex_;
    std::thread writer_; // last: starts after everything above is built
};

} // namespace authevents::audit
