// Paired measurement: a baseline and a candidate timed in alternating short batches within
// one benchmark, so that their ratio does not depend on when each ran.
//
// Why: a shared machine changes speed over seconds (its neighbours come and go; on some hosts
// the same loop runs at 3.7 ns per send for a while, then at 7.5 ns). Two separate benchmark
// cases run seconds apart, and their ratio then measures the machine as much as the code. Two
// batches run a few tens of microseconds apart see the same machine: the ratio of each pair is
// what the code costs, and the median over the pairs drops the pairs a preemption or a phase
// change cut through.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace paired {

/// A batch lasts about this long by default: long enough that reading the clock around it
/// costs nothing that matters, short enough that the machine rarely changes speed within a
/// pair.
constexpr double batch_seconds = 50e-6;

/// The stack offsets a pair can run at: 16-byte steps over this many bytes (see run_pairs()).
constexpr std::size_t stack_span = 128;

/// How many operations make a batch of `run_batch` (which returns its seconds) last about
/// batch_seconds.
template <class Batch> std::uint64_t calibrate(Batch& run_batch) {
    std::uint64_t ops = 16;
    while (ops < (std::uint64_t{1} << 30)) {
        if (run_batch(ops) >= batch_seconds) {
            break;
        }
        ops *= 2;
    }
    return ops;
}

inline double median(std::vector<double> values) {
    if (values.empty()) {
        return 0;
    }
    const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
    std::nth_element(values.begin(), middle, values.end());
    return *middle;
}

/// Returns `run()` called with the stack `offset` bytes deeper than at the call (a multiple of
/// 16; g++ and clang only, elsewhere at no offset). Out of line, so that the offset moves
/// every frame `run` makes.
#if defined(__GNUC__) || defined(__clang__)
template <class Run>
__attribute__((noinline)) double at_stack_offset(std::size_t offset, Run& run) {
    // A variable-length stack allocation, written to so that the compiler keeps it.
    volatile char* pad = static_cast<volatile char*>(__builtin_alloca(offset + 16));
    pad[0] = 0;
    return run();
}
#else
template <class Run> double at_stack_offset(std::size_t, Run& run) { return run(); }
#endif

/// Runs one pair per benchmark iteration: a batch of `baseline` and one of `candidate`, each
/// `double(std::uint64_t ops)` returning the seconds its batch took (per thread, see
/// Companion), in alternating order (baseline first on even pairs). Reports `ratio`, the median
/// over the pairs of candidate / baseline, and `baseline_ns` and `candidate_ns`, each side's
/// median ns per operation; the iteration's manual time is the candidate's batch time, so
/// Google Benchmark's own figure is the candidate's (divided by `ops_per_iteration`).
///
/// Both batches of a pair run at one stack offset, and successive pairs step through
/// stack_span bytes of offsets: on some CPUs the same loop's speed depends on where its stack
/// frames fall (by a quarter or more on an AMD EPYC of ours, for the floor as for authevents),
/// and a process runs at one offset only, chosen by the address-space layout. The median over
/// the pairs then covers the offsets a caller's stack can take instead of one drawn at random.
template <class Baseline, class Candidate>
void run_pairs(benchmark::State& state, Baseline&& baseline, Candidate&& candidate,
               std::uint64_t ops) {
    std::vector<double> ratios;
    std::vector<double> baseline_ns;
    std::vector<double> candidate_ns;
    bool baseline_first = true;
    std::size_t pair = 0;
    auto run_baseline = [&] { return baseline(ops); };
    auto run_candidate = [&] { return candidate(ops); };
    for (auto _ : state) {
        const std::size_t offset = 16 * (pair++ % (stack_span / 16));
        double base = 0;
        double cand = 0;
        if (baseline_first) {
            base = at_stack_offset(offset, run_baseline);
            cand = at_stack_offset(offset, run_candidate);
        } else {
            cand = at_stack_offset(offset, run_candidate);
            base = at_stack_offset(offset, run_baseline);
        }
        baseline_first = !baseline_first;
        state.SetIterationTime(cand);
        if (base > 0 && cand > 0) {
            ratios.push_back(cand / base);
            baseline_ns.push_back(1e9 * base / static_cast<double>(ops));
            candidate_ns.push_back(1e9 * cand / static_cast<double>(ops));
        }
    }
    state.counters["ratio"] = median(ratios);
    state.counters["baseline_ns"] = median(baseline_ns);
    state.counters["candidate_ns"] = median(candidate_ns);
    state.counters["ops_per_iteration"] = static_cast<double>(ops);
}

/// A second thread that runs a job beside the calling thread's batch, and sleeps (blocked on a
/// condition variable, using no CPU) between jobs, so that a one-thread batch timed while it
/// sleeps really has the machine to itself. Not thread-safe: one thread drives it.
class Companion {
public:
    Companion() : thread_([this] { serve(); }) {}
    Companion(const Companion&) = delete;
    Companion& operator=(const Companion&) = delete;
    ~Companion() {
        {
            const std::lock_guard<std::mutex> lock(mutex_);
            quit_ = true;
        }
        wake_.notify_one();
        thread_.join();
    }

    /// Runs `job()` on the companion and `batch()` here, started together (the companion is
    /// spinning on the start flag before `batch` begins), then waits for `job` to return.
    /// Returns what `batch` returned.
    template <class Batch> auto beside(std::function<void()> job, Batch&& batch) {
        ready_.store(false, std::memory_order_relaxed);
        go_.store(false, std::memory_order_relaxed);
        {
            const std::lock_guard<std::mutex> lock(mutex_);
            job_ = std::move(job);
            finished_ = false;
        }
        wake_.notify_one();
        while (!ready_.load(std::memory_order_acquire)) {
        }
        go_.store(true, std::memory_order_release);
        auto result = batch();
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [this] { return finished_; });
        return result;
    }

private:
    void serve() {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            wake_.wait(lock, [this] { return quit_ || job_ != nullptr; });
            if (quit_) {
                return;
            }
            const std::function<void()> job = std::move(job_);
            job_ = nullptr;
            lock.unlock();
            ready_.store(true, std::memory_order_release);
            while (!go_.load(std::memory_order_acquire)) {
            }
            // The companion's stack steps through the offsets too (see run_pairs()).
            auto run_job = [&] {
                job();
                return 0.0;
            };
            at_stack_offset(16 * (jobs_++ % (stack_span / 16)), run_job);
            lock.lock();
            finished_ = true;
            done_.notify_one();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    std::function<void()> job_;
    std::size_t jobs_ = 0; // jobs run so far (the companion's own)
    bool finished_ = false;
    bool quit_ = false;
    alignas(64) std::atomic<bool> ready_{false};
    alignas(64) std::atomic<bool> go_{false};
    std::thread thread_; // last: starts once every member above is built
};

} // namespace paired
