/// @file
/// EventDispatcher's storage: the signal and counters of each event type (a Channel), the
/// channels of the built-in events, and the base that gives EventDispatcher its named members
/// (BuiltinEntryPoints). Nothing here is named by users.
#pragma once

#include <authevents/detail/thread_counters.hpp>
#include <authevents/dispatch_report.hpp>
#include <authevents/events.hpp>
#include <authevents/signal.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <tuple>

namespace authevents {
namespace detail {

/// Counters of one event type: per-thread cells (no locked instruction per dispatch), summed
/// when read.
struct ChannelCounters {
    enum Counter : std::size_t { dispatched, suppressed, handlers_called, handler_failures };

    std::string_view name;
    ThreadCounters<4> counts;

    explicit ChannelCounters(std::string_view event_name) noexcept : name(event_name) {}

    AUTHEVENTS_DETAIL_INLINE void add(Counter which, std::uint64_t amount = 1) noexcept {
        counts.add(which, amount);
    }
    void add(Counter first, std::uint64_t first_amount, Counter second,
             std::uint64_t second_amount) noexcept {
        counts.add(first, first_amount, second, second_amount);
    }

    EventStats snapshot() const noexcept {
        return EventStats{name, counts.read(dispatched), counts.read(suppressed),
                          counts.read(handlers_called), counts.read(handler_failures)};
    }

    void reset() noexcept { counts.reset(); }
};

/// The signal and counters of one event type.
class ChannelBase {
public:
    explicit ChannelBase(std::string_view event_name) noexcept : counters(event_name) {}
    ChannelBase(const ChannelBase&) = delete;
    ChannelBase& operator=(const ChannelBase&) = delete;
    virtual ~ChannelBase() = default;

    ChannelCounters counters;
};

template <class E> class Channel final : public ChannelBase {
public:
    Channel() noexcept : ChannelBase(E::name) {}

    Signal<const E&> signal;
};

template <class Tuple> struct ChannelsOf;
template <class... Es> struct ChannelsOf<std::tuple<Es...>> {
    using type = std::tuple<Channel<Es>...>;
};

/// The channels of the built-in events, in BuiltinEvents order.
using BuiltinChannels = ChannelsOf<BuiltinEvents>::type;

/// Holds the built-in channels. EventDispatcher's first base, so that they exist before the
/// named members (BuiltinEntryPoints, its next base) are made to refer to them.
struct BuiltinChannelStore {
    BuiltinChannels builtins_;
};

template <class Events, template <class> class View> class BuiltinEntryPoints;

/// EventDispatcher's named members: one base DispatcherEntryPoints<E, View<E>> (declared next
/// to each event in events.hpp) per built-in event E, each holding the view `<name>` and the
/// method `dispatch_<name>`. `make_view(E*)` returns E's view.
template <class... Es, template <class> class View>
class BuiltinEntryPoints<std::tuple<Es...>, View> : public DispatcherEntryPoints<Es, View<Es>>... {
protected:
    template <class MakeView>
    explicit BuiltinEntryPoints(MakeView&& make_view) noexcept
        : DispatcherEntryPoints<Es, View<Es>>{make_view(static_cast<Es*>(nullptr))}... {}
};

} // namespace detail
} // namespace authevents
