/// @file
/// A small synchronous Redis client over hiredis: one connection, commands as argument
/// vectors (binary-safe, never formatted into a string), replies as values, errors as
/// exceptions that name the command.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/time.h>
#include <utility>
#include <vector>

namespace authevents::bus {

/// Where a Redis server listens, and how long to wait for it.
struct RedisEndpoint {
    std::string host = "127.0.0.1";                    ///< Host name or IP address.
    int port = 6379;                                   ///< TCP port.
    std::chrono::milliseconds connect_timeout{2000};   ///< Limit for establishing a connection.
    std::chrono::milliseconds command_timeout{10'000}; ///< Limit for one reply to arrive.
    std::string password;                              ///< Sent with AUTH when not empty.
};

/// The connection is unusable: Redis is unreachable, it closed the connection, or a reply
/// timed out. Whether a command sent before the failure was applied is unknown.
class RedisConnectionError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Redis answered a command with an error reply (e.g. `NOGROUP ...`, `WRONGTYPE ...`). The
/// connection is still usable. what() is `redis <COMMAND>: <Redis's message>`.
class RedisCommandError : public std::runtime_error {
public:
    /// An error reply `message` to the command named `command`.
    RedisCommandError(std::string command, std::string message)
        : std::runtime_error("redis " + command + ": " + message), command_(std::move(command)),
          message_(std::move(message)) {}

    /// The command's name, e.g. "XGROUP".
    [[nodiscard]] const std::string& command() const noexcept { return command_; }
    /// Redis's error text, e.g. "BUSYGROUP Consumer Group name already exists".
    [[nodiscard]] const std::string& message() const noexcept { return message_; }
    /// True when Redis's error code (its first word) is `code`, e.g. "BUSYGROUP".
    [[nodiscard]] bool is(std::string_view code) const noexcept {
        return std::string_view(message_).substr(0, code.size()) == code &&
               (message_.size() == code.size() || message_[code.size()] == ' ');
    }

private:
    std::string command_;
    std::string message_;
};

/// One Redis reply as a value: nil, a status or bulk string, an integer, an error (only
/// inside pipeline() results and EXEC arrays) or an array of replies.
struct RedisReply {
    /// What the reply holds.
    enum class Kind { nil, string, status, integer, error, array };

    Kind kind = Kind::nil;            ///< The reply's kind.
    std::string text;                 ///< For string, status and error replies.
    long long integer = 0;            ///< For integer replies.
    std::vector<RedisReply> elements; ///< For array replies.

    /// True for a nil reply.
    [[nodiscard]] bool is_nil() const noexcept { return kind == Kind::nil; }
    /// True for an error reply.
    [[nodiscard]] bool is_error() const noexcept { return kind == Kind::error; }
    /// True for an array reply.
    [[nodiscard]] bool is_array() const noexcept { return kind == Kind::array; }
};

} // namespace authevents::bus

namespace authevents::detail {

using bus::RedisReply;

/// Converts hiredis's reply tree into RedisReply values.
inline RedisReply to_reply(const redisReply& raw) {
    RedisReply reply;
    switch (raw.type) {
    case REDIS_REPLY_STRING:
        reply.kind = RedisReply::Kind::string;
        reply.text.assign(raw.str, raw.len);
        break;
    case REDIS_REPLY_STATUS:
        reply.kind = RedisReply::Kind::status;
        reply.text.assign(raw.str, raw.len);
        break;
    case REDIS_REPLY_ERROR:
        reply.kind = RedisReply::Kind::error;
        reply.text.assign(raw.str, raw.len);
        break;
    case REDIS_REPLY_INTEGER:
        reply.kind = RedisReply::Kind::integer;
        reply.integer = raw.integer;
        break;
    case REDIS_REPLY_ARRAY:
        reply.kind = RedisReply::Kind::array;
        reply.elements.reserve(raw.elements);
        for (std::size_t i = 0; i < raw.elements; ++i) {
            reply.elements.push_back(to_reply(*raw.element[i]));
        }
        break;
    default: // REDIS_REPLY_NIL
        break;
    }
    return reply;
}

struct ContextDeleter {
    void operator()(redisContext* context) const noexcept { redisFree(context); }
};
struct ReplyDeleter {
    void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

inline timeval to_timeval(std::chrono::milliseconds duration) noexcept {
    timeval tv{};
    tv.tv_sec = static_cast<decltype(tv.tv_sec)>(duration.count() / 1000);
    tv.tv_usec = static_cast<decltype(tv.tv_usec)>((duration.count() % 1000) * 1000);
    return tv;
}

} // namespace authevents::detail

namespace authevents::bus {

/// One synchronous connection to a Redis server.
///
/// Commands are argument vectors sent with hiredis's binary-safe protocol writer, so values
/// never need quoting. A connection failure throws RedisConnectionError and leaves the
/// object disconnected: the next command reconnects once before it is sent. An error reply
/// throws RedisCommandError and leaves the connection usable.
///
/// Thread-safety: none; use one RedisConnection per thread. Movable, not copyable.
class RedisConnection {
public:
    /// Connects to `endpoint` (and authenticates if it has a password).
    /// @throws RedisConnectionError naming the endpoint when it cannot connect.
    explicit RedisConnection(RedisEndpoint endpoint) : endpoint_(std::move(endpoint)) { connect(); }

    /// The endpoint this connection talks to.
    [[nodiscard]] const RedisEndpoint& endpoint() const noexcept { return endpoint_; }

    /// True while the connection is believed usable (a failure disconnects it).
    [[nodiscard]] bool connected() const noexcept { return context_ != nullptr; }

    /// Drops the current connection, if any, and connects again.
    /// @throws RedisConnectionError when it cannot connect.
    void reconnect() {
        context_.reset();
        connect();
    }

    /// Sends one command and returns its reply, reconnecting first if disconnected.
    /// @throws RedisConnectionError on a connection failure or timeout;
    ///         RedisCommandError when Redis replies with an error.
    RedisReply command(const std::vector<std::string>& args) {
        if (args.empty()) {
            throw std::invalid_argument("redis: a command needs at least its name");
        }
        ensure_connected();
        std::vector<const char*> argv;
        std::vector<std::size_t> lengths;
        split(args, argv, lengths);
        auto* raw = static_cast<redisReply*>(redisCommandArgv(
            context_.get(), static_cast<int>(argv.size()), argv.data(), lengths.data()));
        if (raw == nullptr) {
            fail(args.front());
        }
        const detail::ReplyPtr owned(raw);
        RedisReply reply = detail::to_reply(*raw);
        if (reply.is_error()) {
            throw RedisCommandError(args.front(), std::move(reply.text));
        }
        return reply;
    }

    /// command() with the arguments given inline: `redis.command({"XACK", stream, group, id})`.
    RedisReply command(std::initializer_list<std::string_view> args) {
        return command(std::vector<std::string>(args.begin(), args.end()));
    }

    /// Sends every command at once (one round trip) and returns their replies in order. An
    /// error reply to one command is returned as a RedisReply of kind error, not thrown.
    /// @throws RedisConnectionError on a connection failure (replies received so far are lost:
    ///         which commands were applied is unknown).
    std::vector<RedisReply> pipeline(const std::vector<std::vector<std::string>>& commands) {
        ensure_connected();
        std::vector<const char*> argv;
        std::vector<std::size_t> lengths;
        for (const auto& args : commands) {
            if (args.empty()) {
                throw std::invalid_argument("redis: a pipelined command needs its name");
            }
            split(args, argv, lengths);
            if (redisAppendCommandArgv(context_.get(), static_cast<int>(argv.size()), argv.data(),
                                       lengths.data()) != REDIS_OK) {
                fail(args.front());
            }
        }
        std::vector<RedisReply> replies;
        replies.reserve(commands.size());
        for (const auto& args : commands) {
            void* raw = nullptr;
            if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) {
                fail(args.front());
            }
            const detail::ReplyPtr owned(static_cast<redisReply*>(raw));
            replies.push_back(detail::to_reply(*owned));
        }
        return replies;
    }

private:
    void connect() {
        const timeval connect_timeout = detail::to_timeval(endpoint_.connect_timeout);
        std::unique_ptr<redisContext, detail::ContextDeleter> context(
            redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, connect_timeout));
        if (context == nullptr) {
            throw RedisConnectionError("redis: cannot connect to " + where() + ": out of memory");
        }
        if (context->err != 0) {
            throw RedisConnectionError("redis: cannot connect to " + where() + ": " +
                                       context->errstr);
        }
        if (redisSetTimeout(context.get(), detail::to_timeval(endpoint_.command_timeout)) !=
            REDIS_OK) {
            throw RedisConnectionError("redis: cannot set the timeout on " + where() + ": " +
                                       context->errstr);
        }
        context_ = std::move(context);
        if (!endpoint_.password.empty()) {
            try {
                command({"AUTH", endpoint_.password});
            } catch (...) {
                context_.reset(); // not usable unauthenticated: the next command connects again
                throw;
            }
        }
    }

    void ensure_connected() {
        if (context_ == nullptr) {
            connect();
        }
    }

    [[noreturn]] void fail(const std::string& command_name) {
        std::string reason = context_ && context_->err != 0 ? context_->errstr : "no reply";
        context_.reset();
        throw RedisConnectionError("redis " + command_name + " on " + where() + ": " + reason);
    }

    [[nodiscard]] std::string where() const {
        return endpoint_.host + ":" + std::to_string(endpoint_.port);
    }

    static void split(const std::vector<std::string>& args, std::vector<const char*>& argv,
                      std::vector<std::size_t>& lengths) {
        argv.clear();
        lengths.clear();
        for (const std::string& arg : args) {
            argv.push_back(arg.data());
            lengths.push_back(arg.size());
        }
    }

    RedisEndpoint endpoint_;
    std::unique_ptr<redisContext, detail::ContextDeleter> context_;
};

} // namespace authevents::bus
