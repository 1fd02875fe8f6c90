// Shared pieces of the bus tests: temporary files, reading a stream back, a silent dispatcher,
// fast relay options, and an SQLite inbox whose database has a `credits` table.
#pragma once

#include "event_samples.hpp"
#include "redis_server.hpp"
#include "sqlite_test_helpers.hpp"
#include "text_helpers.hpp"

#include <authevents/bus/redis.hpp>
#include <authevents/bus/relay_options.hpp>
#include <authevents/bus/sqlite_inbox.hpp>
#include <authevents/dispatcher.hpp>

#include <sqlite3.h>

#include <chrono>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace test_bus {

template <class F, std::size_t... I> void for_each_sample(F& f, std::index_sequence<I...>) {
    (f(samples::sample<std::tuple_element_t<I, authevents::BuiltinEvents>>()), ...);
}

/// Calls `f` with the sample value (event_samples.hpp) of every built-in event, in table order.
template <class F> void for_each_sample(F f) {
    for_each_sample(f, std::make_index_sequence<std::tuple_size_v<authevents::BuiltinEvents>>{});
}

/// The what() of the exception `action` throws, or "<no exception>".
template <class Action> std::string error_of(Action&& action) {
    try {
        action();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "<no exception>";
}

using test_text::contains;

/// One entry read back with XRANGE: its id and its fields in order.
struct Entry {
    std::string id;
    std::vector<std::pair<std::string, std::string>> fields;

    [[nodiscard]] std::string field(const std::string& name) const {
        for (const auto& [key, value] : fields) {
            if (key == name) {
                return value;
            }
        }
        return "<missing field " + name + ">";
    }
};

/// Every entry of `stream`, oldest first.
inline std::vector<Entry> read_stream(authevents::bus::RedisConnection& redis,
                                      const std::string& stream) {
    std::vector<Entry> entries;
    const auto reply = redis.command({"XRANGE", stream, "-", "+"});
    for (const auto& item : reply.elements) {
        Entry entry{item.elements[0].text, {}};
        const auto& values = item.elements[1].elements;
        for (std::size_t i = 0; i + 1 < values.size(); i += 2) {
            entry.fields.emplace_back(values[i].text, values[i + 1].text);
        }
        entries.push_back(std::move(entry));
    }
    return entries;
}

/// XLEN of `stream` (0 when it does not exist).
inline long long stream_length(authevents::bus::RedisConnection& redis, const std::string& stream) {
    return redis.command({"XLEN", stream}).integer;
}

/// A dispatcher with no log output.
struct QuietDispatcher : authevents::EventDispatcher {
    QuietDispatcher() { set_logger({}); }
};

/// A path for an SQLite file inside a fresh temporary directory (removed with the object).
class TempDatabase {
public:
    explicit TempDatabase(const std::string& name = "outbox.db")
        : dir_("authevents-bus"), path_((dir_.path() / name).string()) {}
    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] std::string sibling(const std::string& name) const {
        return (dir_.path() / name).string();
    }

private:
    test_redis::TempDir dir_;
    std::string path_;
};

/// Relay options for tests: stream `stream`, `batch_size` records a batch, a 5 ms poll and a
/// 5 to 50 ms backoff, so a test waits little for the relay.
inline authevents::bus::RelayOptions fast_relay_options(std::size_t batch_size = 16,
                                                        const std::string& stream = "events") {
    authevents::bus::RelayOptions options;
    options.stream = stream;
    options.batch_size = batch_size;
    options.poll_interval = std::chrono::milliseconds(5);
    options.min_backoff = std::chrono::milliseconds(5);
    options.max_backoff = std::chrono::milliseconds(50);
    return options;
}

/// Runs `sql` on `db`. @throws std::runtime_error naming the statement and SQLite's message.
inline void exec_sql(sqlite3* db, const std::string& sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
        const std::string text = message != nullptr ? message : "?";
        sqlite3_free(message);
        throw std::runtime_error(sql + ": " + text);
    }
}

/// A SqliteInbox in a fresh temporary database that has the service's table
/// `credits (user_id INTEGER NOT NULL, amount INTEGER)`, a silent dispatcher for its handlers,
/// and a second connection to look at the table.
struct CreditsInbox {
    bus_test::TempDir dir;
    std::string path = dir.file("app.db");
    authevents::bus::SqliteInbox inbox{path};
    QuietDispatcher events;
    bus_test::Db check{path};

    CreditsInbox() {
        inbox.transaction([](authevents::bus::SqliteInbox::Transaction& tx) {
            exec_sql(tx.connection(),
                     "CREATE TABLE credits (user_id INTEGER NOT NULL, amount INTEGER)");
        });
    }

    /// Rows in `credits`, as committed.
    int credits() { return std::stoi(check.query_text("SELECT count(*) FROM credits")); }
};

} // namespace test_bus
