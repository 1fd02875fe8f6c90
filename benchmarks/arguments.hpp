// A benchmark's command line: "--name value" options, read one at a time, each error naming the
// program and the option. Shared by the benchmarks that take settings.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

/// Reads the options of `argv` in order. Not thread-safe (one reader per command line).
/// Every error is a std::invalid_argument whose message starts with the program's name.
class Arguments {
public:
    Arguments(std::string program, int argc, char** argv)
        : program_(std::move(program)), argc_(argc), argv_(argv) {}

    /// Moves to the next option; false once all are read.
    bool next() {
        if (index_ + 1 >= argc_) {
            return false;
        }
        name_ = argv_[++index_];
        return true;
    }

    /// The option next() moved to, e.g. "--records".
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    /// The current option's value (the argument after it).
    /// @throws std::invalid_argument if the command line ends first.
    std::string value() {
        if (index_ + 1 >= argc_) {
            throw error(name_ + " needs a value");
        }
        return argv_[++index_];
    }

    /// The current option's value as a whole number of at least 1.
    /// @throws std::invalid_argument if it is missing, not a number, or below 1.
    std::int64_t positive() {
        const std::string text = value();
        std::size_t used = 0;
        long long number = 0;
        try {
            number = std::stoll(text, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || used != text.size() || number < 1) {
            throw error(name_ + " must be a positive number, not '" + text + "'");
        }
        return number;
    }

    /// The error for an option this program does not know; `usage` lists the ones it does.
    [[nodiscard]] std::invalid_argument unknown(const std::string& usage) const {
        return error("unknown argument '" + name_ + "' (" + usage + ")");
    }

    /// An error about the command line, prefixed with the program's name.
    [[nodiscard]] std::invalid_argument error(const std::string& what) const {
        return std::invalid_argument(program_ + ": " + what);
    }

private:
    std::string program_;
    int argc_;
    char** argv_;
    int index_ = 0;
    std::string name_;
};
