// A minimal mail API with an in-memory backend, like Django's django.core.mail with the
// locmem backend: everything "sent" lands in mail::outbox(), which the demo prints and the
// tests inspect. The service sends its own transactional mail (verification links, sign-in
// codes) through it; handlers send the rest (welcome, onboarding, alerts).
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace authsvc::mail {

/// One email.
struct Message {
    std::string to;            ///< Recipient address.
    std::string subject;       ///< Subject line.
    std::string body;          ///< Plain-text body.
    std::string template_name; ///< Which template made it, e.g. "welcome_es"; for tests.
};

/// Every message sent, in order. Thread-safe.
class Outbox {
public:
    /// Called for each message as it is sent (the demo prints it). Set before sending starts.
    using Listener = std::function<void(const Message&)>;

    /// Stores `message` and shows it to the listener.
    void add(Message message);
    /// A copy of every message, in sending order.
    [[nodiscard]] std::vector<Message> messages() const;
    /// The messages whose template_name is `template_name`.
    [[nodiscard]] std::vector<Message> with_template(std::string_view template_name) const;
    /// The newest message sent to `to`; throws std::out_of_range if there is none.
    [[nodiscard]] Message last_to(std::string_view to) const;
    /// The number of messages.
    [[nodiscard]] std::size_t size() const;
    /// Forgets every message (between tests).
    void clear();
    /// Replaces the listener; an empty one shows nothing.
    void set_listener(Listener listener);

private:
    mutable std::mutex mutex_;
    std::vector<Message> messages_;
    Listener listener_;
};

/// The process-wide outbox (Django's `mail.outbox`).
Outbox& outbox();

/// Sends `message`: adds it to outbox().
void send(Message message);

} // namespace authsvc::mail
