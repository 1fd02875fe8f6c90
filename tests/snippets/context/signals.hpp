// What the fragments of docs/signals.md use without declaring. Declarations only: the
// fragments are compiled, not linked. Objects that bodies use are also their locals.
#pragma once

#include <authevents/signal.hpp>

#include <memory>

namespace docs_signals {
struct User {};
struct Event {};
struct Session {
    void on(const Event& event);
};
void sync_to_crm(const Event& event);
} // namespace docs_signals

using namespace docs_signals;

#define AUTHEVENTS_SNIPPET_LOCALS                                                                  \
    [[maybe_unused]] authevents::Signal<const Event&> signal;                                      \
    [[maybe_unused]] std::shared_ptr<Session> session;
