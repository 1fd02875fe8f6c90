// Queued slots: a slot connected with an executor runs as one task per call, in call order,
// with its own copies of the arguments.
#pragma once

#include <authevents/detail/emission_frames.hpp>
#include <authevents/detail/function.hpp>
#include <authevents/detail/slot_entry.hpp>
#include <authevents/detail/slot_node.hpp>
#include <authevents/executor.hpp>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace authevents::detail {

/// The call being handed to an executor on this thread: if the executor runs it inline, its
/// exception reaches the send, which reports it; it is then not reported twice.
inline thread_local const void* this_thread_submitting = nullptr;

/// Returns once no queued call of `node` runs on a thread other than the calling one.
inline void wait_for_queued_calls(const SlotNode& node) {
    const auto own_calls = [&node] {
        std::uint32_t count = 0;
        for (const QueuedCallFrame* frame = this_thread_queued_calls; frame != nullptr;
             frame = frame->outer) {
            count += frame->node == &node ? 1U : 0U;
        }
        return count;
    }();
    const WaitingScope waiting(&node);
    PollBackoff backoff;
    while (node.running_calls.load(std::memory_order_seq_cst) > own_calls) {
        backoff.pause();
    }
}

/// True when every argument type can be copied into a task.
template <class... Args>
inline constexpr bool queueable_arguments = (std::is_copy_constructible_v<std::decay_t<Args>> &&
                                             ...);

class QueuedSlot;

/// A queued call's own copies of the arguments, type-erased: `tuple` points to them, `invoke`
/// calls a slot entry with them and `destroy` deletes them (QueuedArgumentsOf<Args...> makes
/// all three). The only part of a queued call compiled once per signature.
struct QueuedArguments {
    void* tuple = nullptr;
    void (*invoke)(void* tuple, const SlotEntry& target) = nullptr;
    void (*destroy)(void* tuple) noexcept = nullptr;
};

/// The arguments of a signal with parameters Args, copied (decayed) for a queued call.
template <class... Args> struct QueuedArgumentsOf {
    using Tuple = std::tuple<std::decay_t<Args>...>;

    /// @throws what copying an argument throws, or std::bad_alloc.
    static QueuedArguments copy(Args&... args) {
        return QueuedArguments{new Tuple(args...), &invoke, &destroy};
    }

    static void invoke(void* tuple, const SlotEntry& target) {
        std::apply([&target](auto&... arguments) { target.template call<Args...>(arguments...); },
                   *static_cast<Tuple*>(tuple));
    }

    static void destroy(void* tuple) noexcept { delete static_cast<Tuple*>(tuple); }
};

/// One queued call: its own copies of the arguments and its turn (given by
/// QueuedSlot::enqueue_call()). Destroyed without having run (refused, or dropped by the
/// executor), it gives up its turn so later calls are not held up. Not a template: one type for
/// every signature.
class QueuedCall {
public:
    explicit QueuedCall(QueuedArguments arguments) noexcept : arguments_(arguments) {}
    QueuedCall(const QueuedCall&) = delete;
    QueuedCall& operator=(const QueuedCall&) = delete;
    ~QueuedCall();

    void run();

private:
    friend class QueuedSlot;
    QueuedArguments arguments_;
    std::shared_ptr<QueuedSlot> slot_; // null until the call has its turn
    std::shared_ptr<SlotNode> node_;
    std::uint64_t ticket_ = 0;
    bool ran_ = false;
};

/// The callable of one queued slot, its executor, and the turn-taking that keeps its calls in
/// order: every call takes a ticket when queued and runs when the previous tickets are done.
/// The callable is already type-erased (a slot entry, and the node that owns the callable when
/// it does not fit the entry), and only the calls' arguments depend on the signature, so this
/// class is compiled once. Thread-safe.
class QueuedSlot final : public std::enable_shared_from_this<QueuedSlot> {
public:
    QueuedSlot(const SlotEntry& target, std::shared_ptr<SlotNode> owner, Executor executor)
        : target_(target), owner_(std::move(owner)), executor_(std::move(executor)) {}

    /// Copies the arguments and submits one task for them (see enqueue_call()).
    /// @throws what copying an argument throws, or what enqueue_call() throws.
    template <class... Args> void enqueue(Args&... args) {
        enqueue_call(QueuedArgumentsOf<Args...>::copy(args...));
    }

    /// Makes a call of `arguments` (which it owns from here on), gives it its turn and submits
    /// one task for it. Concurrent sends submit one at a time, so tickets reach the executor
    /// in ticket order (recursive: an inline executor may run a slot that sends again).
    /// @throws what the executor throws to refuse the task; the call is then withdrawn.
    /// @throws std::bad_alloc if memory runs out.
    AUTHEVENTS_DETAIL_NOINLINE void enqueue_call(QueuedArguments arguments) {
        std::shared_ptr<QueuedCall> call;
        try {
            call = std::make_shared<QueuedCall>(arguments);
        } catch (...) {
            arguments.destroy(arguments.tuple);
            throw;
        }
        const std::lock_guard<std::recursive_mutex> in_ticket_order(submit_mutex_);
        std::shared_ptr<QueuedSlot> self = shared_from_this();
        // The send holds the queue's node (see set_node()), so lock() succeeds.
        call->node_ = node_.lock();
        call->ticket_ = take_ticket();
        call->slot_ = std::move(self); // from here on, destroying the call gives its turn up
        submit(std::move(call));
    }

    /// Names the node this queue belongs to (once, before the slot is connected).
    void set_node(const std::shared_ptr<SlotNode>& node) noexcept { node_ = node; }

private:
    friend class QueuedCall;

    /// Hands `call` to the executor; the caller holds submit_mutex_.
    void submit(std::shared_ptr<QueuedCall> call) {
        const QueuedCall* const submitting = call.get();
        const void* const outer = std::exchange(this_thread_submitting, submitting);
        try {
            executor_([call = std::move(call)] { call->run(); });
        } catch (...) {
            this_thread_submitting = outer;
            throw; // the call, destroyed unrun, gives its turn up
        }
        this_thread_submitting = outer;
    }

    std::uint64_t take_ticket() {
        std::lock_guard<std::mutex> lock(mutex_);
        return next_ticket_++;
    }

    /// Marks `ticket` done and lets the next call in line run.
    void finish(std::uint64_t ticket) noexcept {
        std::unique_lock<std::mutex> lock(mutex_);
        if (ticket != serving_) {
            try {
                done_early_.push_back(ticket);
                return;
            } catch (...) {
                // Out of memory: wait for the turn instead of recording it.
                turn_.wait(lock, [&] { return serving_ == ticket; });
            }
        }
        ++serving_;
        // Tickets done early, in any order (few: at most one per call running at once).
        for (std::size_t index = 0; index < done_early_.size();) {
            if (done_early_[index] == serving_) {
                done_early_[index] = done_early_.back();
                done_early_.pop_back();
                ++serving_;
                index = 0;
            } else {
                ++index;
            }
        }
        lock.unlock();
        turn_.notify_all();
    }

    bool running_on_this_thread() const noexcept {
        for (const QueuedCallFrame* frame = this_thread_queued_calls; frame != nullptr;
             frame = frame->outer) {
            if (frame->queue == this) {
                return true;
            }
        }
        return false;
    }

    void run(QueuedCall& call) {
        SlotNode& node = *call.node_;
        if (!running_on_this_thread()) { // a nested call (inline executor) cannot wait for us
            std::unique_lock<std::mutex> lock(mutex_);
            turn_.wait(lock, [&] { return serving_ == call.ticket_; });
        }
        struct Turn {
            QueuedSlot& slot;
            std::uint64_t ticket;
            SlotNode& node;
            QueuedCallFrame frame;
            ~Turn() {
                this_thread_queued_calls = frame.outer;
                node.running_calls.fetch_sub(1, std::memory_order_release);
                slot.finish(ticket);
            }
        };
        // seq_cst increment then seq_cst state load: pairs with disconnect then
        // wait_for_queued_calls(), so either this call sees the disconnect or the waiter sees
        // this call running.
        node.running_calls.fetch_add(1, std::memory_order_seq_cst);
        const Turn turn{*this, call.ticket_, node,
                        QueuedCallFrame{&node, this, this_thread_queued_calls}};
        this_thread_queued_calls = &turn.frame;

        const std::uint32_t state = node.state.load(std::memory_order_seq_cst);
        if ((state & slot_state::skip) != 0) {
            return; // disconnected, blocked or expired since it was queued
        }
        std::shared_ptr<const void> keep_alive;
        if ((state & slot_state::tracked) != 0) {
            keep_alive = node.track().lock();
            if (keep_alive.use_count() == 0) { // ownership, not the pointer (may be null)
                node.state.fetch_or(slot_state::expired, std::memory_order_acq_rel);
                if (auto owner = node.owner.lock()) {
                    owner->remove_inactive();
                }
                return;
            }
        }
        try {
            call.arguments_.invoke(call.arguments_.tuple, target_);
        } catch (...) {
            if (this_thread_submitting != &call) {
                if (auto owner = node.owner.lock()) {
                    owner->report_queued_failure(call.node_, std::current_exception());
                }
            }
            throw; // the executor sees the failure too (ThreadPool counts it)
        }
    }

    SlotEntry target_;
    std::shared_ptr<SlotNode> owner_; // owns the callable target_ calls, if not inline
    std::weak_ptr<SlotNode> node_;    // the queued node (which owns this queue)
    Executor executor_;
    std::recursive_mutex submit_mutex_;
    std::mutex mutex_;
    std::condition_variable turn_;
    std::uint64_t next_ticket_ = 0;
    std::uint64_t serving_ = 0;
    std::vector<std::uint64_t> done_early_; // tickets done before their turn
};

inline QueuedCall::~QueuedCall() {
    arguments_.destroy(arguments_.tuple);
    if (slot_ != nullptr && !ran_) {
        slot_->finish(ticket_);
    }
}

inline void QueuedCall::run() {
    ran_ = true;
    slot_->run(*this);
}

/// A node owning a queued slot.
template <class QueueType> class QueuedNode final : public SlotNode {
public:
    using Queue = QueueType;

    QueuedNode(std::shared_ptr<Queue> queue, std::string dispatch_uid, FunctionId function_id,
               const void* sender_key, int slot_priority, std::weak_ptr<const void> tracked_object,
               bool is_tracked) noexcept
        : SlotNode(std::move(dispatch_uid), function_id, sender_key, slot_priority,
                   std::move(tracked_object), is_tracked, true),
          queue_(std::move(queue)) {}

    void release_callable() noexcept override { queue_.reset(); }

    [[nodiscard]] Queue* queue() const noexcept { return queue_.get(); }

private:
    std::shared_ptr<Queue> queue_;
};

} // namespace authevents::detail
