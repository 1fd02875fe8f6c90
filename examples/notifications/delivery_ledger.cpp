#include "delivery_ledger.hpp"

#include <stdexcept>

namespace notifications {

DeliveryLedger::DeliveryLedger(authevents::EventDispatcher& dispatcher)
    : observer_(dispatcher.observers().connect(
          [this](const authevents::EventView& view) { record(view); })) {}

LedgerSnapshot DeliveryLedger::snapshot() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return totals_;
}

std::string DeliveryLedger::key_of(const authevents::EventView& view) const {
    const std::optional<authevents::bus::CloudEvent> event = registry_.encode(view);
    if (!event) {
        throw std::invalid_argument("delivery ledger: no CloudEvent type for " +
                                    std::string(view.name()));
    }
    return event->type + " " + event->data.dump();
}

void DeliveryLedger::record(const authevents::EventView& view) {
    std::string key = key_of(view);
    const std::lock_guard<std::mutex> lock(mutex_);
    const int runs = ++runs_[key];
    ++totals_.runs;
    if (runs == 1) {
        ++totals_.distinct;
    } else {
        ++totals_.repeated;
        if (totals_.first_repeat.empty()) {
            totals_.first_repeat = std::move(key);
        }
    }
}

} // namespace notifications
