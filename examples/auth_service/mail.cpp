#include "mail.hpp"

#include <stdexcept>
#include <utility>

namespace authsvc::mail {

void Outbox::add(Message message) {
    Listener listener;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        messages_.push_back(message);
        listener = listener_;
    }
    if (listener) {
        listener(message);
    }
}

std::vector<Message> Outbox::messages() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
}

std::vector<Message> Outbox::with_template(std::string_view template_name) const {
    std::vector<Message> found;
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Message& message : messages_) {
        if (message.template_name == template_name) {
            found.push_back(message);
        }
    }
    return found;
}

Message Outbox::last_to(std::string_view to) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
        if (it->to == to) {
            return *it;
        }
    }
    throw std::out_of_range("no message to " + std::string(to));
}

std::size_t Outbox::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_.size();
}

void Outbox::clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    messages_.clear();
}

void Outbox::set_listener(Listener listener) {
    std::lock_guard<std::mutex> lock(mutex_);
    listener_ = std::move(listener);
}

Outbox& outbox() {
    static Outbox box;
    return box;
}

void send(Message message) { outbox().add(std::move(message)); }

} // namespace authsvc::mail
