#include "notifier.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <utility>

namespace notifications {

void Notifier::send(Notification notification) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (print_) {
        fmt::print("  -> {:<5} {}: {}\n", notification.channel, notification.to,
                   notification.subject);
        std::fflush(stdout);
    }
    sent_.push_back(std::move(notification));
}

std::size_t Notifier::size() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return sent_.size();
}

std::map<std::string, std::size_t> Notifier::count_by_template() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    std::map<std::string, std::size_t> counts;
    for (const Notification& notification : sent_) {
        ++counts[notification.template_name];
    }
    return counts;
}

std::vector<Notification> Notifier::sent() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return sent_;
}

} // namespace notifications
