/// @file
/// Where a Redis server is and how to reach it: TCP or a Unix-domain socket, optional TLS
/// (server verified against a CA, optional client certificate), optional ACL user and password,
/// and the time limits; plus RedisConnectionError, thrown when the connection is unusable.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>

namespace authevents::bus {

/// TLS settings of a RedisEndpoint. The server's certificate is always verified: its chain
/// against `ca_file` (the system's trust store when empty) and its name against `server_name`
/// (the endpoint's host when empty). TLS 1.2 or later only.
struct RedisTls {
    /// PEM file of the certificate authorities that may sign the server's certificate; empty
    /// means the system's default trust store.
    std::string ca_file;
    /// PEM file of this client's certificate (chain), for servers that require mutual TLS
    /// (Redis's `tls-auth-clients yes`, the default). Needs `key_file`; empty sends none.
    std::string cert_file;
    /// PEM file of the private key of `cert_file` (unencrypted). Needs `cert_file`.
    std::string key_file;
    /// The name the server's certificate must carry (DNS name, or an IP address matched
    /// against its IP SANs), also sent as SNI when it is a name. Empty: RedisEndpoint::host.
    std::string server_name;
};

/// Where a Redis server listens, how to authenticate, and how long to wait for it.
struct RedisEndpoint {
    std::string host = "127.0.0.1"; ///< Host name or IP address (TCP).
    int port = 6379;                ///< TCP port.
    /// Path of a Unix-domain socket; when not empty it is used instead of host and port.
    std::string unix_socket;
    /// Limit for establishing a connection: TCP or Unix connect plus the TLS handshake. (Host
    /// name resolution with getaddrinfo() is not covered: use an IP address or a local
    /// resolver when that matters.)
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds command_timeout{10'000}; ///< Limit for one reply to arrive.
    /// ACL user name: sent as `AUTH user password` when not empty. Empty with a password
    /// sends `AUTH password` (the `default` user, or `requirepass`).
    std::string user;
    std::string password; ///< Sent with AUTH when not empty (or when `user` is set).
    /// TLS settings; when set, the connection is TLS (Redis's `tls-port`), otherwise plain.
    std::optional<RedisTls> tls;
    /// Largest reply accepted (bytes read for one reply); a larger one drops the connection
    /// with RedisConnectionError. Default 512 MiB, Redis's own `proto-max-bulk-len`.
    std::size_t max_reply_bytes = std::size_t{512} * 1024 * 1024;
};

/// The connection is unusable: Redis is unreachable, it closed the connection, a reply timed
/// out, or TLS failed (handshake, certificate verification). Whether a command sent before the
/// failure was applied is unknown. The message names the endpoint and what failed.
class RedisConnectionError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

} // namespace authevents::bus
