/// @file
/// DeadLetters: list, replay and delete the entries a StreamConsumer moved to its dead-letter
/// stream. The command-line tool `authevents-dead-letters` is a thin wrapper around it.
#pragma once

#include <authevents/bus/redis.hpp>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authevents::bus {

/// One entry of a dead-letter stream, as StreamConsumer wrote it. A plain value.
struct DeadLetter {
    std::string id;       ///< Its id in the dead-letter stream.
    std::string reason;   ///< Why it was dead-lettered (escaped, capped).
    std::string stream;   ///< The stream it was read from.
    std::string group;    ///< The consumer group that gave up on it.
    std::string consumer; ///< The member that moved it.
    std::string entry_id; ///< Its id in `stream`.
    /// The original entry's fields (e.g. `id`, `type`, `event`), in order.
    std::vector<std::pair<std::string, std::string>> fields;
};

/// Operations on one dead-letter stream (default name: "<stream>.dead").
///
/// Replaying adds the original fields as a new entry of the original stream (so every group
/// of that stream reads it again; groups that handled the event before skip it through their
/// inbox), then deletes the dead letter. The add comes first: a failure in between leaves the
/// dead letter in place, and replaying it again is harmless for the same reason.
///
/// Thread-safety: none (one connection); use one object per thread. Every call throws
/// RedisConnectionError or RedisCommandError when Redis fails.
class DeadLetters {
public:
    /// Dead letters of `dead_letter_stream` on `endpoint` (connected lazily).
    /// @throws std::invalid_argument for an empty stream name.
    DeadLetters(RedisEndpoint endpoint, std::string dead_letter_stream)
        : endpoint_(std::move(endpoint)), dead_letter_stream_(std::move(dead_letter_stream)) {
        if (dead_letter_stream_.empty()) {
            throw std::invalid_argument("DeadLetters: the dead-letter stream name is empty");
        }
    }

    /// How many dead letters there are (`XLEN`).
    [[nodiscard]] std::size_t size() {
        return static_cast<std::size_t>(redis().command({"XLEN", dead_letter_stream_}).integer);
    }

    /// Up to `count` dead letters after `after` ("-": from the oldest), oldest first.
    /// @throws std::invalid_argument for a count of 0.
    [[nodiscard]] std::vector<DeadLetter> list(std::size_t count = 100,
                                               std::string_view after = "-") {
        if (count == 0) {
            throw std::invalid_argument("DeadLetters::list: count must be > 0");
        }
        const std::string start = after == "-" ? std::string("-") : "(" + std::string(after);
        return parse(redis().command(
            {"XRANGE", dead_letter_stream_, start, "+", "COUNT", std::to_string(count)}));
    }

    /// The dead letter `id`, or std::nullopt.
    [[nodiscard]] std::optional<DeadLetter> get(std::string_view id) {
        std::vector<DeadLetter> found =
            parse(redis().command({"XRANGE", dead_letter_stream_, id, id}));
        if (found.empty()) {
            return std::nullopt;
        }
        return std::move(found.front());
    }

    /// Adds dead letter `id`'s original fields back to its stream (or to `target_stream` when
    /// not empty), then deletes the dead letter. Returns the new entry's id in that stream,
    /// or std::nullopt if there is no dead letter `id`.
    /// @throws std::runtime_error for a dead letter without fields or stream (not written by
    ///         a StreamConsumer).
    std::optional<std::string> replay(std::string_view id, std::string_view target_stream = {}) {
        const std::optional<DeadLetter> letter = get(id);
        if (!letter) {
            return std::nullopt;
        }
        return replay(*letter, target_stream);
    }

    /// replay() of every dead letter, oldest first; returns how many were replayed.
    std::size_t replay_all(std::string_view target_stream = {}) {
        std::size_t count = 0;
        for (;;) {
            const std::vector<DeadLetter> batch = list(100);
            if (batch.empty()) {
                return count;
            }
            for (const DeadLetter& letter : batch) {
                replay(letter, target_stream);
                ++count;
            }
        }
    }

    /// Deletes dead letter `id`; true if it existed.
    bool remove(std::string_view id) {
        return redis().command({"XDEL", dead_letter_stream_, id}).integer == 1;
    }

    /// Deletes every dead letter (the stream itself); returns how many there were.
    std::size_t remove_all() {
        const std::size_t count = size();
        redis().command({"DEL", dead_letter_stream_});
        return count;
    }

    /// The dead-letter stream's name.
    [[nodiscard]] const std::string& stream() const noexcept { return dead_letter_stream_; }

private:
    std::string replay(const DeadLetter& letter, std::string_view target_stream) {
        const std::string target =
            target_stream.empty() ? letter.stream : std::string(target_stream);
        if (target.empty() || letter.fields.empty()) {
            throw std::runtime_error("DeadLetters: " + letter.id +
                                     " has no original stream or fields to replay");
        }
        std::vector<std::string> add = {"XADD", target, "*"};
        for (const auto& [key, value] : letter.fields) {
            add.push_back(key);
            add.push_back(value);
        }
        std::string new_id = redis().command(add).text;
        redis().command({"XDEL", dead_letter_stream_, letter.id});
        return new_id;
    }

    static std::vector<DeadLetter> parse(const RedisReply& reply) {
        std::vector<DeadLetter> letters;
        for (const RedisReply& item : reply.elements) {
            if (!item.is_array() || item.elements.size() != 2) {
                throw std::runtime_error("redis XRANGE: unexpected entry shape");
            }
            DeadLetter letter;
            letter.id = item.elements[0].text;
            const std::vector<RedisReply>& values = item.elements[1].elements;
            for (std::size_t i = 0; i + 1 < values.size(); i += 2) {
                const std::string& key = values[i].text;
                const std::string& value = values[i + 1].text;
                if (key.rfind("field.", 0) == 0) {
                    letter.fields.emplace_back(key.substr(6), value);
                } else if (key == "reason") {
                    letter.reason = value;
                } else if (key == "stream") {
                    letter.stream = value;
                } else if (key == "group") {
                    letter.group = value;
                } else if (key == "consumer") {
                    letter.consumer = value;
                } else if (key == "entry_id") {
                    letter.entry_id = value;
                }
            }
            letters.push_back(std::move(letter));
        }
        return letters;
    }

    RedisConnection& redis() {
        if (!connection_) {
            connection_.emplace(endpoint_);
        }
        return *connection_;
    }

    RedisEndpoint endpoint_;
    std::string dead_letter_stream_;
    std::optional<RedisConnection> connection_;
};

} // namespace authevents::bus
