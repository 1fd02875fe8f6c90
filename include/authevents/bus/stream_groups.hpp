/// @file
/// What Redis knows of a stream's consumer groups: StreamGroupStats and read_group_stats(),
/// which OutboxRelay uses to trim only what every group has acknowledged; and the stream
/// entry ids (`<ms>-<seq>`) it compares.
#pragma once

#include <authevents/bus/redis.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace authevents::bus {

/// One consumer group of a stream, as Redis reports it (see read_group_stats()).
struct StreamGroupStats {
    std::string name;              ///< The group's name.
    std::uint64_t consumers = 0;   ///< Members it has.
    std::uint64_t pending = 0;     ///< Entries delivered to it and not acknowledged yet.
    std::string last_delivered_id; ///< The last entry id delivered to it.
    std::string oldest_pending_id; ///< The oldest pending entry's id; empty when none.
    /// Entries in the stream not delivered to it yet (Redis 7 `lag`); empty when Redis cannot
    /// tell (Redis before 7, or entries deleted from the middle of the stream with XDEL).
    std::optional<std::uint64_t> lag;
};

} // namespace authevents::bus

namespace authevents::detail {

using bus::RedisReply;

/// A stream entry id `<ms>-<seq>`.
struct StreamId {
    std::uint64_t ms = 0;
    std::uint64_t seq = 0;

    friend bool operator<(const StreamId& a, const StreamId& b) noexcept {
        return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq);
    }
};

/// Parses `<ms>-<seq>`.
/// @throws std::runtime_error naming `text` when it is not one.
inline StreamId parse_stream_id(std::string_view text) {
    const auto fail = [&] {
        return std::runtime_error("redis: malformed stream id '" + std::string(text.substr(0, 64)) +
                                  "'");
    };
    const std::size_t dash = text.find('-');
    if (dash == std::string_view::npos) {
        throw fail();
    }
    const auto number = [&](std::string_view digits) {
        if (digits.empty() || digits.size() > 20) {
            throw fail();
        }
        std::uint64_t value = 0;
        for (const char c : digits) {
            if (c < '0' || c > '9') {
                throw fail();
            }
            const auto digit = static_cast<std::uint64_t>(c - '0');
            if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
                throw fail();
            }
            value = value * 10 + digit;
        }
        return value;
    };
    return StreamId{number(text.substr(0, dash)), number(text.substr(dash + 1))};
}

inline std::string to_string(const StreamId& id) {
    return std::to_string(id.ms) + "-" + std::to_string(id.seq);
}

/// The smallest id after `id`.
inline StreamId successor(StreamId id) noexcept {
    if (id.seq == std::numeric_limits<std::uint64_t>::max()) {
        return StreamId{id.ms + 1, 0};
    }
    return StreamId{id.ms, id.seq + 1};
}

inline std::uint64_t to_count(const RedisReply& reply) noexcept {
    return reply.kind == RedisReply::Kind::integer && reply.integer > 0
               ? static_cast<std::uint64_t>(reply.integer)
               : 0;
}

} // namespace authevents::detail

namespace authevents::bus {

/// The consumer groups of `stream`, with their pending counts and lag (`XINFO GROUPS`, then
/// one `XPENDING` per group, pipelined); empty when the stream does not exist. Needs Redis
/// 6.2 or later (lag: 7.0). Thread-safety: that of `redis` (one thread at a time).
/// @throws RedisConnectionError when Redis is unreachable.
/// @throws RedisCommandError when Redis refuses a command.
/// @throws std::runtime_error when a reply does not have the documented shape.
inline std::vector<StreamGroupStats> read_group_stats(RedisConnection& redis,
                                                      const std::string& stream) {
    std::vector<StreamGroupStats> groups;
    RedisReply info;
    try {
        info = redis.command({"XINFO", "GROUPS", stream});
    } catch (const RedisCommandError& e) {
        if (e.message().find("no such key") != std::string::npos) {
            return groups;
        }
        throw;
    }
    const auto bad_shape = [](const char* what) {
        return std::runtime_error(std::string("redis ") + what + ": unexpected reply shape");
    };
    if (!info.is_array()) {
        throw bad_shape("XINFO GROUPS");
    }
    for (const RedisReply& group : info.elements) {
        if (!group.is_array() || group.elements.size() % 2 != 0) {
            throw bad_shape("XINFO GROUPS");
        }
        StreamGroupStats stats;
        for (std::size_t i = 0; i + 1 < group.elements.size(); i += 2) {
            const std::string& key = group.elements[i].text;
            const RedisReply& value = group.elements[i + 1];
            if (key == "name") {
                stats.name = value.text;
            } else if (key == "consumers") {
                stats.consumers = detail::to_count(value);
            } else if (key == "pending") {
                stats.pending = detail::to_count(value);
            } else if (key == "last-delivered-id") {
                stats.last_delivered_id = value.text;
            } else if (key == "lag" && value.kind == RedisReply::Kind::integer) {
                stats.lag = detail::to_count(value);
            }
        }
        if (stats.name.empty() || stats.last_delivered_id.empty()) {
            throw bad_shape("XINFO GROUPS");
        }
        groups.push_back(std::move(stats));
    }
    std::vector<std::vector<std::string>> commands;
    for (const StreamGroupStats& group : groups) {
        commands.push_back({"XPENDING", stream, group.name});
    }
    const std::vector<RedisReply> replies = redis.pipeline(commands);
    for (std::size_t i = 0; i < groups.size(); ++i) {
        // [count, oldest id, newest id, [[consumer, count]...]], ids nil when none pending.
        const RedisReply& reply = replies[i];
        if (reply.is_error()) {
            throw RedisCommandError("XPENDING", reply.text);
        }
        if (!reply.is_array() || reply.elements.size() < 2) {
            throw bad_shape("XPENDING");
        }
        groups[i].pending = detail::to_count(reply.elements[0]);
        groups[i].oldest_pending_id =
            reply.elements[1].kind == RedisReply::Kind::string ? reply.elements[1].text : "";
    }
    return groups;
}

} // namespace authevents::bus
