/// @file
/// Backoff: the growing pauses between retries of the relay and the consumer.
#pragma once

#include <algorithm>
#include <chrono>
#include <random>
#include <stdexcept>

namespace authevents::bus {

/// Exponential backoff with jitter: each next() returns a pause between half and all of the
/// current step, then doubles the step, up to `max`. reset() after a success.
///
/// Jitter keeps many retrying processes (e.g. every consumer of a group after a Redis restart)
/// from reconnecting in lockstep. Not thread-safe: one object per retrying loop.
class Backoff {
public:
    /// Steps from `min` up to `max`. @throws std::invalid_argument unless 0 < min <= max.
    Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max)
        : min_(min), max_(max), step_(min), random_(std::random_device{}()) {
        if (min.count() <= 0 || max < min) {
            throw std::invalid_argument("Backoff: need 0 < min <= max");
        }
    }

    /// The next pause: uniform in [step/2, step]; then the step doubles (capped at max).
    std::chrono::milliseconds next() {
        const auto step = step_.count();
        std::uniform_int_distribution<long long> pick((step + 1) / 2, step);
        const std::chrono::milliseconds pause(pick(random_));
        step_ = std::min(max_, step_ * 2);
        return pause;
    }

    /// Back to the smallest step (call after a success). noexcept.
    void reset() noexcept { step_ = min_; }

    /// The step the next pause is drawn from (its upper bound).
    [[nodiscard]] std::chrono::milliseconds step() const noexcept { return step_; }

private:
    std::chrono::milliseconds min_;
    std::chrono::milliseconds max_;
    std::chrono::milliseconds step_;
    std::minstd_rand random_;
};

} // namespace authevents::bus
