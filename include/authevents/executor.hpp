// The executor concept shared by queued slots and ThreadPool.
#pragma once

#include <authevents/detail/function.hpp>

namespace authevents {

/// Runs a task somewhere: on a thread pool, an event loop, or inline. Any callable accepting a
/// `std::function<void()>` fits, e.g. `[&io](auto task) { boost::asio::post(io, task); }`.
/// It may throw to refuse a task (then the send that queued it sees the exception as the
/// slot's failure); an exception thrown by the task itself is the executor's to handle.
using Executor = std::function<void(std::function<void()>)>;

} // namespace authevents
