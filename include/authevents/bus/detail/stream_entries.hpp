/// @file
/// Stream entries as a StreamConsumer reads them: StreamEntry, parse_entries() of an XREADGROUP,
/// XRANGE or XCLAIM reply, Delivery, and the default consumer name. Used by consumer.hpp.
#pragma once

#include <authevents/bus/redis.hpp>

#include <unistd.h>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authevents::detail {

using bus::RedisReply;

inline std::string default_consumer_name() {
    char host[256] = {};
    if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
        return "consumer";
    }
    return host;
}

/// One stream entry: its id and its field/value pairs (absent when the stream trimmed it).
struct StreamEntry {
    std::string id;
    std::optional<std::vector<std::pair<std::string, std::string>>> fields;

    [[nodiscard]] const std::string* field(std::string_view name) const {
        if (fields) {
            for (const auto& [key, value] : *fields) {
                if (key == name) {
                    return &value;
                }
            }
        }
        return nullptr;
    }
};

/// Entries of an `[[id, [field, value, ...] | nil], ...]` reply.
inline std::vector<StreamEntry> parse_entries(const RedisReply& list) {
    std::vector<StreamEntry> entries;
    for (const RedisReply& item : list.elements) {
        if (!item.is_array() || item.elements.size() != 2) {
            throw std::runtime_error("redis: unexpected stream entry shape");
        }
        StreamEntry entry{item.elements[0].text, std::nullopt};
        const RedisReply& values = item.elements[1];
        if (values.is_array()) {
            entry.fields.emplace();
            for (std::size_t i = 0; i + 1 < values.elements.size(); i += 2) {
                entry.fields->emplace_back(values.elements[i].text, values.elements[i + 1].text);
            }
        }
        entries.push_back(std::move(entry));
    }
    return entries;
}

/// One entry to handle and how often Redis has delivered it (this delivery included).
struct Delivery {
    StreamEntry entry;
    long long deliveries = 1;
};

} // namespace authevents::detail
