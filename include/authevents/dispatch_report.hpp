/// @file
/// What a dispatch reports: DispatchReport, DispatchAborted and the per-event counters
/// EventStats. Standard headers and signal.hpp (SlotError) only.
#pragma once

#include <authevents/signal.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authevents {

/// A list of SlotError that is one pointer wide and allocates nothing while it is empty: the
/// type of DispatchReport::observer_failures, which is almost always empty, so that building
/// and destroying a report costs one store and one test for it, where a std::vector costs
/// three stores and two loads. Iterate it, index it and ask its size() as a
/// `std::vector<SlotError>` (to_vector() gives one). A value type: copies are deep, moves
/// steal. Thread-safety as a std::vector: const members may be called concurrently, a
/// modification may not overlap any other use.
class SlotErrorList {
public:
    using value_type = SlotError;
    using size_type = std::size_t;

    /// An empty list (allocates nothing).
    SlotErrorList() noexcept = default;
    /// A deep copy. @throws std::bad_alloc.
    SlotErrorList(const SlotErrorList& other)
        : items_(other.empty() ? nullptr : new std::vector<SlotError>(*other.items_)) {}
    /// Takes `other`'s entries; `other` is left empty.
    SlotErrorList(SlotErrorList&& other) noexcept : items_(other.items_) { other.items_ = nullptr; }
    /// A deep copy (strong guarantee). @throws std::bad_alloc.
    SlotErrorList& operator=(const SlotErrorList& other) {
        if (this != &other) {
            SlotErrorList copy(other);
            swap(copy);
        }
        return *this;
    }
    /// Takes `other`'s entries; `other` is left empty.
    SlotErrorList& operator=(SlotErrorList&& other) noexcept {
        SlotErrorList taken(std::move(other));
        swap(taken);
        return *this;
    }
    /// Frees the entries, if any.
    ~SlotErrorList() {
        if (!AUTHEVENTS_DETAIL_LIKELY(items_ == nullptr)) {
            free_items(items_); // out of line: an empty list's destruction is a load and a test
        }
    }

    /// True when the list holds no entry.
    [[nodiscard]] bool empty() const noexcept { return items_ == nullptr || items_->empty(); }
    /// How many entries the list holds.
    [[nodiscard]] size_type size() const noexcept { return items_ == nullptr ? 0 : items_->size(); }

    /// The entries in order, as a range of SlotError (pointers; null and null when empty).
    [[nodiscard]] SlotError* begin() noexcept {
        return items_ == nullptr ? nullptr : items_->data();
    }
    /// The end of the range begin() starts.
    [[nodiscard]] SlotError* end() noexcept { return begin() + size(); }
    /// The entries in order, as a range of const SlotError.
    [[nodiscard]] const SlotError* begin() const noexcept {
        return items_ == nullptr ? nullptr : items_->data();
    }
    /// The end of the range begin() starts.
    [[nodiscard]] const SlotError* end() const noexcept { return begin() + size(); }

    /// Entry `index`. @throws std::out_of_range when `index` is not below size().
    [[nodiscard]] SlotError& operator[](size_type index) { return at(index); }
    /// Entry `index`. @throws std::out_of_range when `index` is not below size().
    [[nodiscard]] const SlotError& operator[](size_type index) const { return at(index); }
    /// Entry `index`. @throws std::out_of_range when `index` is not below size().
    [[nodiscard]] SlotError& at(size_type index) {
        check_index(index);
        return (*items_)[index];
    }
    /// Entry `index`. @throws std::out_of_range when `index` is not below size().
    [[nodiscard]] const SlotError& at(size_type index) const {
        check_index(index);
        return (*items_)[index];
    }

    /// Appends `error` (the first entry allocates). @throws std::bad_alloc, and then the list
    /// holds what it held.
    void push_back(SlotError&& error) { items()->push_back(std::move(error)); }
    /// Appends a copy of `error`. @throws std::bad_alloc, and then the list holds what it held.
    void push_back(const SlotError& error) { items()->push_back(error); }

    /// Removes every entry and frees their memory.
    void clear() noexcept {
        std::vector<SlotError>* items = items_;
        items_ = nullptr;
        free_items(items);
    }

    /// Exchanges the entries of the two lists.
    void swap(SlotErrorList& other) noexcept { std::swap(items_, other.items_); }

    /// The entries as a std::vector, in order. @throws std::bad_alloc.
    [[nodiscard]] std::vector<SlotError> to_vector() const {
        return empty() ? std::vector<SlotError>() : *items_;
    }

private:
    std::vector<SlotError>* items() {
        if (items_ == nullptr) {
            items_ = new std::vector<SlotError>();
        }
        return items_;
    }

    void check_index(size_type index) const {
        if (index >= size()) {
            throw std::out_of_range("authevents::SlotErrorList: index " + std::to_string(index) +
                                    " is not below the size " + std::to_string(size()));
        }
    }

    AUTHEVENTS_DETAIL_NOINLINE static void free_items(std::vector<SlotError>* items) noexcept {
        delete items;
    }

    std::vector<SlotError>* items_ = nullptr; // null until the first entry
};

/// What one dispatch did: how many handlers ran and which of them threw, and which
/// observers threw.
struct DispatchReport {
    /// Handlers that ran, failing ones included (blocked and sender-filtered ones not).
    std::size_t handlers_called = 0;
    /// One entry per handler that threw, in the order they ran.
    std::vector<SlotError> failures;
    /// One entry per observer (EventDispatcher::observers()) that threw, in the order they ran,
    /// also when handlers are disabled: e.g. a bus publisher whose outbox append failed, so
    /// the event was not published. Not looked at by ok(). One pointer wide, empty without an
    /// allocation (see SlotErrorList).
    SlotErrorList observer_failures;

    /// True when no handler threw.
    [[nodiscard]] bool ok() const noexcept { return failures.empty(); }
};

/// Thrown by an observer (or derived from) to stop a dispatch before any handler runs:
/// EventDispatcher::dispatch() lets the other observers run, then rethrows the first one to
/// its caller instead of calling handlers (e.g. a bus publisher that could not append the
/// event and was configured to fail the dispatch). Thread-safe as any immutable value.
class DispatchAborted : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {
/// True when `error` holds a DispatchAborted (or derived) exception.
inline bool is_dispatch_aborted(const std::exception_ptr& error) noexcept {
    if (!error) {
        return false;
    }
    try {
        std::rethrow_exception(error);
    } catch (const DispatchAborted&) {
        return true;
    } catch (...) {
        return false;
    }
}
} // namespace detail

/// A snapshot of one event type's counters (see EventDispatcher::stats()).
struct EventStats {
    std::string_view name;              ///< The event's `name`.
    std::uint64_t dispatched = 0;       ///< Dispatches while enabled.
    std::uint64_t suppressed = 0;       ///< Dispatches while disabled (no handler called).
    std::uint64_t handlers_called = 0;  ///< Handler calls, failing ones included.
    std::uint64_t handler_failures = 0; ///< Handler calls that threw.
};
} // namespace authevents
