// A thread-safe Logger for tests that keeps every line it is given.
#pragma once

#include <authevents/dispatcher.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

class LogCapture {
public:
    struct Line {
        authevents::LogLevel level;
        std::string text;
    };

    // A Logger appending to this capture; the capture must outlive its use.
    authevents::Logger logger() {
        return [this](authevents::LogLevel level, std::string_view text) {
            std::lock_guard<std::mutex> lock(mutex_);
            lines_.push_back(Line{level, std::string(text)});
        };
    }

    std::vector<Line> lines() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return lines_;
    }

    // The texts of the lines at `level`, in order.
    std::vector<std::string> texts(authevents::LogLevel level) const {
        std::vector<std::string> result;
        for (const Line& line : lines()) {
            if (line.level == level) {
                result.push_back(line.text);
            }
        }
        return result;
    }

    std::size_t size() const { return lines().size(); }

    void clear() {
        std::lock_guard<std::mutex> lock(mutex_);
        lines_.clear();
    }

private:
    mutable std::mutex mutex_;
    std::vector<Line> lines_;
};
