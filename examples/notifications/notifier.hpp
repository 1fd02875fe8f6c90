// The notifications service's stand-in for a mail and SMS gateway: every notification a
// handler sends lands in an in-memory outbox and is printed as one short line. Nothing leaves
// the process.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace notifications {

/// One notification to one recipient.
struct Notification {
    std::string channel;       ///< How it is delivered: "email" or "sms".
    std::string to;            ///< Recipient address or phone number.
    std::string subject;       ///< What the recipient reads first.
    std::string template_name; ///< Which template made it, e.g. "welcome_es".
};

/// Collects sent notifications in memory and prints each one (unless quiet). Thread-safe.
class Notifier {
public:
    /// An empty outbox; `print` says whether send() prints a line per notification.
    explicit Notifier(bool print = true) : print_(print) {}

    /// "Sends" `notification`: stores it and prints `  -> <channel> <to>: <subject>`.
    void send(Notification notification);

    /// How many notifications were sent.
    [[nodiscard]] std::size_t size() const;

    /// How many notifications each template made, by template name.
    [[nodiscard]] std::map<std::string, std::size_t> count_by_template() const;

    /// A copy of every notification sent, in order.
    [[nodiscard]] std::vector<Notification> sent() const;

private:
    bool print_;
    mutable std::mutex mutex_;
    std::vector<Notification> sent_;
};

} // namespace notifications
