/// @file
/// Logging of the dispatcher and the bus: LogLevel, Logger, stderr_logger().
///
/// Standard headers only.
#pragma once

#include <authevents/detail/function.hpp>

#include <array>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

namespace authevents {

/// Severity of a dispatcher log line, as in Python's logging.
enum class LogLevel { debug, info, warning, error };

/// The lower-case name of `level` ("debug", "info", "warning", "error"); "unknown" for a value
/// that is not an enumerator. Like to_string(LoginFailureReason): returns a reference to a
/// string with static storage duration (converts to std::string or std::string_view without
/// dangling). Thread-safe. @throws std::bad_alloc only on the very first call.
inline const std::string& to_string(LogLevel level) {
    static const std::array<std::string, 5> words = {"debug", "info", "warning", "error",
                                                     "unknown"};
    const auto index = static_cast<std::size_t>(level);
    return index < words.size() - 1 ? words[index] : words.back();
}

/// Receives the dispatcher's log lines. Called on the dispatching thread, possibly from
/// several threads at once, so it must be thread-safe. Exceptions it throws are swallowed.
using Logger = std::function<void(LogLevel, std::string_view)>;

/// A Logger writing lines at `min_level` or above to stderr as `authevents <level>: <line>`,
/// one std::fwrite call (one write) per line. The default `min_level` is warning, like the
/// root logger of Python's logging: info lines such as `[EVENT] ...` are dropped.
/// The returned logger is thread-safe and never throws.
inline Logger stderr_logger(LogLevel min_level = LogLevel::warning) {
    return [min_level](LogLevel level, std::string_view line) {
        if (level < min_level) {
            return;
        }
        try {
            std::string text = "authevents ";
            text.append(to_string(level)).append(": ").append(line).append("\n");
            std::fwrite(text.data(), 1, text.size(), stderr);
        } catch (...) {
            // Out of memory: the line is lost; a logger has nowhere to report that.
        }
    };
}

namespace detail {

/// The text of the exception in `error`: what() or a note that it is not a std::exception.
inline std::string describe_exception(const std::exception_ptr& error) {
    try {
        if (error) {
            std::rethrow_exception(error);
        }
        return "no exception";
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "non-standard exception (not derived from std::exception)";
    }
}

} // namespace detail

} // namespace authevents
