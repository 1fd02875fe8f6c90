// CommandLine: the `--flag value` and `--switch` parsing shared by the two bus example
// programs (examples/auth_service/publisher.cpp, examples/notifications/main.cpp).
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <utility>

namespace bus_example {

/// Walks a command line flag by flag. Any mistake prints `<program>: <problem>` and the usage
/// text to stderr and exits with status 2.
class CommandLine {
public:
    CommandLine(int argc, char** argv, std::string_view program, std::string usage)
        : argc_(argc), argv_(argv), program_(program), usage_(std::move(usage)) {}

    /// Moves to the next flag; false when none is left.
    bool next() {
        if (index_ + 1 >= argc_) {
            return false;
        }
        flag_ = argv_[++index_];
        return true;
    }

    /// The current flag, e.g. "--redis-port".
    [[nodiscard]] std::string_view flag() const noexcept { return flag_; }

    /// The argument after the current flag (consumed).
    std::string value() {
        if (index_ + 1 >= argc_) {
            fail(fmt::format("{} needs a value", flag_));
        }
        return argv_[++index_];
    }

    /// value() as a whole number in [min, max].
    long number(long min, long max) {
        const std::string text = value();
        std::size_t used = 0;
        long parsed = 0;
        try {
            parsed = std::stol(text, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || used != text.size() || parsed < min || parsed > max) {
            fail(fmt::format("{} wants a number from {} to {}, not '{}'", flag_, min, max, text));
        }
        return parsed;
    }

    /// Reports the current flag as unknown.
    [[noreturn]] void unknown() const { fail(fmt::format("unknown option {}", flag_)); }

    /// Prints `problem` and the usage, then exits with status 2.
    [[noreturn]] void fail(const std::string& problem) const {
        fmt::print(stderr, "{}: {}\n{}", program_, problem, usage_);
        std::exit(2);
    }

private:
    int argc_;
    char** argv_;
    int index_ = 0;
    std::string_view flag_;
    std::string_view program_;
    std::string usage_;
};

} // namespace bus_example
