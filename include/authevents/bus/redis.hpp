/// @file
/// A small synchronous Redis client: one connection (TCP, Unix socket or TLS), commands as
/// argument vectors (binary-safe, never formatted into a string), replies as values, errors as
/// exceptions that name the command. The Redis protocol is hiredis's: its writer
/// (redisFormatCommandArgv) encodes commands and its reader (redisReader) parses replies; the
/// bytes travel over detail::Transport (plain or OpenSSL).
#pragma once

#include <authevents/bus/detail/redis_transport.hpp>
#include <authevents/bus/redis_endpoint.hpp>

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authevents::detail {

/// True when Redis's error `message` starts with the error code `code` (its first word).
inline bool has_error_code(std::string_view message, std::string_view code) noexcept {
    return message.substr(0, code.size()) == code &&
           (message.size() == code.size() || message[code.size()] == ' ');
}

} // namespace authevents::detail

namespace authevents::bus {

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
        return detail::has_error_code(message_, code);
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

struct ReaderDeleter {
    void operator()(redisReader* reader) const noexcept { redisReaderFree(reader); }
};
struct ReplyDeleter {
    void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

/// Appends `args` to `out` in the Redis protocol (hiredis's writer: binary-safe).
/// @throws std::invalid_argument for an empty command.
/// @throws std::bad_alloc if memory runs out.
inline void append_command(std::string& out, const std::vector<std::string>& args) {
    if (args.empty()) {
        throw std::invalid_argument("redis: a command needs at least its name");
    }
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const std::string& arg : args) {
        argv.push_back(arg.data());
        lengths.push_back(arg.size());
    }
    char* encoded = nullptr;
    const int length = redisFormatCommandArgv(&encoded, static_cast<int>(argv.size()), argv.data(),
                                              lengths.data());
    if (length < 0 || encoded == nullptr) {
        throw std::bad_alloc();
    }
    out.append(encoded, static_cast<std::size_t>(length));
    redisFreeCommand(encoded);
}

/// True for the error replies that mean this connection is not (or no longer) authenticated.
inline bool is_auth_error(std::string_view message) noexcept {
    return has_error_code(message, "NOAUTH") || has_error_code(message, "WRONGPASS");
}

/// Checks the settings that cannot work, before connecting.
/// @throws std::invalid_argument naming the setting.
inline void check_endpoint(const bus::RedisEndpoint& endpoint) {
    if (endpoint.unix_socket.empty() && (endpoint.port <= 0 || endpoint.port > 65535)) {
        throw std::invalid_argument("RedisEndpoint: port " + std::to_string(endpoint.port) +
                                    " is not in 1..65535");
    }
    if (endpoint.connect_timeout.count() <= 0 || endpoint.command_timeout.count() <= 0 ||
        endpoint.max_reply_bytes == 0) {
        throw std::invalid_argument(
            "RedisEndpoint: connect_timeout, command_timeout and max_reply_bytes must be > 0");
    }
    if (endpoint.tls) {
        if (!endpoint.unix_socket.empty()) {
            throw std::invalid_argument(
                "RedisEndpoint: TLS over a Unix socket is not supported (Redis serves TLS on "
                "its tls-port only)");
        }
        if (endpoint.tls->cert_file.empty() != endpoint.tls->key_file.empty()) {
            throw std::invalid_argument(
                "RedisEndpoint: tls.cert_file and tls.key_file must be given together");
        }
    }
}

} // namespace authevents::detail

namespace authevents::bus {

/// One synchronous connection to a Redis server.
///
/// Commands are argument vectors encoded by hiredis's binary-safe protocol writer, so values
/// never need quoting; replies are parsed by hiredis's reader. The bytes travel over TCP, a
/// Unix socket or TLS as the endpoint says (see RedisEndpoint, RedisTls). Every connection is
/// proven before use: `AUTH` when the endpoint has credentials, `PING` otherwise.
///
/// A connection failure (including TLS and timeouts) throws RedisConnectionError and leaves
/// the object disconnected: the next command connects again before it is sent. An error reply
/// throws RedisCommandError and leaves the connection usable, except `NOAUTH` and `WRONGPASS`
/// (not or no longer authenticated): they close the connection, so the next command connects
/// and authenticates again. A refused AUTH while connecting closes the socket at once: no
/// half-open connection stays behind.
///
/// Thread-safety: none; use one RedisConnection per thread. Movable, not copyable.
class RedisConnection {
public:
    /// Connects to `endpoint` (and authenticates if it has credentials).
    /// @throws std::invalid_argument for settings that cannot work (see RedisEndpoint).
    /// @throws RedisConnectionError naming the endpoint and what failed when it cannot connect
    ///         (refused, timed out, TLS handshake or certificate verification).
    /// @throws RedisCommandError when Redis refuses AUTH (e.g. `WRONGPASS`) or the PING (e.g.
    ///         `NOAUTH` when it needs credentials the endpoint lacks).
    explicit RedisConnection(RedisEndpoint endpoint) : endpoint_(std::move(endpoint)) { connect(); }

    /// The endpoint this connection talks to.
    [[nodiscard]] const RedisEndpoint& endpoint() const noexcept { return endpoint_; }

    /// True while the connection is believed usable (a failure disconnects it).
    [[nodiscard]] bool connected() const noexcept { return link_ != nullptr; }

    /// Drops the current connection, if any, and connects again.
    /// @throws as the constructor.
    void reconnect() {
        link_.reset();
        connect();
    }

    /// Sends one command and returns its reply, connecting first if disconnected.
    /// @throws std::invalid_argument for an empty command (nothing is sent).
    /// @throws RedisConnectionError on a connection failure or timeout.
    /// @throws RedisCommandError when Redis replies with an error.
    RedisReply command(const std::vector<std::string>& args) {
        std::string request;
        detail::append_command(request, args);
        ensure_connected();
        send(request, args.front());
        RedisReply reply = receive(args.front());
        if (reply.is_error()) {
            if (detail::is_auth_error(reply.text)) {
                link_.reset(); // not authenticated: connect and authenticate again next time
            }
            throw RedisCommandError(args.front(), std::move(reply.text));
        }
        return reply;
    }

    /// command() with the arguments given inline: `redis.command({"XACK", stream, group, id})`.
    RedisReply command(std::initializer_list<std::string_view> args) {
        return command(std::vector<std::string>(args.begin(), args.end()));
    }

    /// Sends every command at once (one round trip) and returns their replies in order. An
    /// error reply to one command is returned as a RedisReply of kind error, not thrown (a
    /// `NOAUTH` or `WRONGPASS` among them closes the connection after all were read).
    /// @throws std::invalid_argument for an empty command (nothing is sent).
    /// @throws RedisConnectionError on a connection failure (replies received so far are lost:
    ///         which commands were applied is unknown).
    std::vector<RedisReply> pipeline(const std::vector<std::vector<std::string>>& commands) {
        std::string request;
        for (const auto& args : commands) {
            detail::append_command(request, args);
        }
        if (commands.empty()) {
            return {};
        }
        ensure_connected();
        send(request, commands.front().front());
        std::vector<RedisReply> replies;
        replies.reserve(commands.size());
        bool unauthenticated = false;
        for (const auto& args : commands) {
            replies.push_back(receive(args.front()));
            unauthenticated = unauthenticated || (replies.back().is_error() &&
                                                  detail::is_auth_error(replies.back().text));
        }
        if (unauthenticated) {
            link_.reset();
        }
        return replies;
    }

private:
    // An open connection: the byte stream and hiredis's reader of the replies on it.
    struct Link {
        explicit Link(const RedisEndpoint& endpoint)
            : transport(endpoint), reader(redisReaderCreate()) {
            if (!reader) {
                throw std::bad_alloc();
            }
        }
        detail::Transport transport;
        std::unique_ptr<redisReader, detail::ReaderDeleter> reader;
    };

    void connect() {
        detail::check_endpoint(endpoint_);
        try {
            link_ = std::make_unique<Link>(endpoint_);
        } catch (const detail::TransportError& e) {
            throw RedisConnectionError("redis: cannot connect to " + where() + ": " + e.what());
        }
        try {
            if (!endpoint_.user.empty()) {
                command({"AUTH", endpoint_.user, endpoint_.password});
            } else if (!endpoint_.password.empty()) {
                command({"AUTH", endpoint_.password});
            } else {
                command({"PING"});
            }
        } catch (...) {
            link_.reset(); // not usable unauthenticated: close it, the next command connects
            throw;
        }
    }

    void ensure_connected() {
        if (link_ == nullptr) {
            connect();
        }
    }

    void send(const std::string& request, const std::string& command_name) {
        try {
            link_->transport.write_all(request, deadline());
        } catch (const detail::TransportError& e) {
            fail(command_name, e.what());
        }
    }

    // Reads one reply (parsed by hiredis's reader), at most max_reply_bytes of input for it.
    RedisReply receive(const std::string& command_name) {
        const detail::Deadline until = deadline();
        std::size_t read = 0;
        for (;;) {
            void* raw = nullptr;
            if (redisReaderGetReply(link_->reader.get(), &raw) != REDIS_OK) {
                fail(command_name, std::string("malformed reply: ") + link_->reader->errstr);
            }
            if (raw != nullptr) {
                const detail::ReplyPtr owned(static_cast<redisReply*>(raw));
                return detail::to_reply(*owned);
            }
            char buffer[16 * 1024];
            std::size_t got = 0;
            try {
                got = link_->transport.read_some(buffer, sizeof(buffer), until);
            } catch (const detail::TransportError& e) {
                fail(command_name, e.what());
            }
            read += got;
            if (read > endpoint_.max_reply_bytes) {
                fail(command_name, "reply larger than max_reply_bytes (" +
                                       std::to_string(endpoint_.max_reply_bytes) + ")");
            }
            if (redisReaderFeed(link_->reader.get(), buffer, got) != REDIS_OK) {
                fail(command_name, std::string("malformed reply: ") + link_->reader->errstr);
            }
        }
    }

    [[nodiscard]] detail::Deadline deadline() const {
        return std::chrono::steady_clock::now() + endpoint_.command_timeout;
    }

    [[noreturn]] void fail(const std::string& command_name, const std::string& reason) {
        link_.reset();
        throw RedisConnectionError("redis " + command_name + " on " + where() + ": " + reason);
    }

    [[nodiscard]] std::string where() const {
        std::string place = endpoint_.unix_socket.empty()
                                ? endpoint_.host + ":" + std::to_string(endpoint_.port)
                                : "unix:" + endpoint_.unix_socket;
        return endpoint_.tls ? place + " (TLS)" : place;
    }

    RedisEndpoint endpoint_;
    std::unique_ptr<Link> link_;
};

} // namespace authevents::bus
