// A fixed-size thread pool with a bounded queue: the executor we ship for queued slots.
#pragma once

#include <authevents/detail/function.hpp>
#include <authevents/executor.hpp>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace authevents {

/// A snapshot of a ThreadPool's counters.
struct ThreadPoolStats {
    std::size_t queued = 0;    ///< accepted, not started yet
    std::size_t running = 0;   ///< running now
    std::size_t completed = 0; ///< returned normally
    std::size_t failed = 0;    ///< ended by throwing
};

/// Thrown when a task is submitted to a ThreadPool after shutdown() began.
class ThreadPoolShutDown : public std::runtime_error {
public:
    ThreadPoolShutDown()
        : std::runtime_error("authevents::ThreadPool: task submitted after shutdown(); the pool "
                             "accepts no more tasks") {}
};

/// A fixed number of worker threads taking tasks, in submission order, from a bounded queue.
/// A submission waits while the queue is full (tasks are never dropped). shutdown(), also run
/// by the destructor, stops accepting, runs every accepted task, and joins the workers.
/// A task that throws is counted in `failed` and never stops its worker. Thread-safe: every
/// member may be called from any thread; executors stay valid after the pool is gone (they
/// then throw ThreadPoolShutDown).
class ThreadPool {
public:
    /// Starts `threads` workers with room for `queue_capacity` waiting tasks.
    /// @throws std::invalid_argument if either is zero.
    ThreadPool(std::size_t threads, std::size_t queue_capacity)
        : state_(std::make_shared<State>(queue_capacity)) {
        if (threads == 0 || queue_capacity == 0) {
            throw std::invalid_argument(
                "authevents::ThreadPool: threads and queue_capacity must both be at least 1");
        }
        workers_.reserve(threads);
        try {
            for (std::size_t index = 0; index < threads; ++index) {
                workers_.emplace_back([state = state_] { state->work(); });
            }
        } catch (...) {
            shutdown();
            throw;
        }
    }

    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    /// shutdown(). Run by one of the pool's own tasks, it cannot join that worker, which then
    /// finishes the remaining tasks detached.
    ~ThreadPool() {
        shutdown();
        for (std::thread& worker : workers_) {
            if (worker.joinable()) {
                worker.detach(); // only the calling worker itself is left joinable
            }
        }
    }

    /// An executor submitting to this pool. Submitting blocks while the queue is full and
    /// throws ThreadPoolShutDown once shutdown() has begun (also after the pool is destroyed).
    [[nodiscard]] Executor executor() const {
        return [state = state_](std::function<void()> task) { state->submit(std::move(task)); };
    }

    /// Submits one task, as executor() does: blocks while the queue is full.
    /// @throws std::invalid_argument for an empty task.
    /// @throws ThreadPoolShutDown once shutdown() has begun.
    void submit(std::function<void()> task) { state_->submit(std::move(task)); }

    /// Stops accepting tasks, runs every accepted one, then joins the workers. Idempotent.
    /// Called from one of the pool's own tasks it only stops accepting (a thread cannot join
    /// itself); the destructor, on another thread, joins.
    void shutdown() {
        state_->close();
        std::lock_guard<std::mutex> lock(join_mutex_);
        for (std::thread& worker : workers_) {
            if (worker.joinable() && worker.get_id() != std::this_thread::get_id()) {
                worker.join();
            }
        }
    }

    /// Blocks until no task is queued or running (tasks submitted meanwhile are waited for
    /// too). The pool keeps accepting tasks. Must not be called from one of its own tasks.
    void wait_idle() const { state_->wait_idle(); }

    [[nodiscard]] ThreadPoolStats stats() const { return state_->stats(); }

private:
    class State {
    public:
        explicit State(std::size_t capacity) : capacity_(capacity) {}

        void submit(std::function<void()> task) {
            if (!task) {
                throw std::invalid_argument("authevents::ThreadPool: empty task submitted");
            }
            std::unique_lock<std::mutex> lock(mutex_);
            not_full_.wait(lock, [this] { return closed_ || tasks_.size() < capacity_; });
            if (closed_) {
                throw ThreadPoolShutDown();
            }
            tasks_.push_back(std::move(task));
            ++stats_.queued;
            lock.unlock();
            not_empty_.notify_one();
        }

        void close() {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                closed_ = true;
            }
            not_full_.notify_all();
            not_empty_.notify_all();
        }

        void work() {
            std::unique_lock<std::mutex> lock(mutex_);
            for (;;) {
                not_empty_.wait(lock, [this] { return closed_ || !tasks_.empty(); });
                if (tasks_.empty()) {
                    return; // closed and drained
                }
                std::function<void()> task = std::move(tasks_.front());
                tasks_.pop_front();
                --stats_.queued;
                ++stats_.running;
                lock.unlock();
                not_full_.notify_one();
                bool failed = false;
                try {
                    task();
                } catch (...) {
                    failed = true;
                }
                task = nullptr; // destroy captures outside the lock
                lock.lock();
                --stats_.running;
                ++(failed ? stats_.failed : stats_.completed);
                if (tasks_.empty() && stats_.running == 0) {
                    idle_.notify_all();
                }
            }
        }

        ThreadPoolStats stats() const {
            std::lock_guard<std::mutex> lock(mutex_);
            return stats_;
        }

        void wait_idle() const {
            std::unique_lock<std::mutex> lock(mutex_);
            idle_.wait(lock, [this] { return tasks_.empty() && stats_.running == 0; });
        }

    private:
        const std::size_t capacity_;
        mutable std::mutex mutex_;
        std::condition_variable not_empty_;
        std::condition_variable not_full_;
        mutable std::condition_variable idle_;
        std::deque<std::function<void()>> tasks_;
        ThreadPoolStats stats_;
        bool closed_ = false;
    };

    std::shared_ptr<State> state_;
    std::mutex join_mutex_;
    std::vector<std::thread> workers_;
};

} // namespace authevents
