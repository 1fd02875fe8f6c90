/// @file
/// The byte stream under RedisConnection: a TCP or Unix-domain socket, optionally TLS over
/// OpenSSL, every wait bounded by a deadline. It knows nothing of the Redis protocol (hiredis's
/// writer and reader do that in redis.hpp).
///
/// TLS runs over two memory BIOs: OpenSSL encrypts into one and decrypts from the other, and
/// all socket I/O is ours (non-blocking, poll() with the deadline, send() with MSG_NOSIGNAL),
/// so plain and TLS connections share one code path and a closed socket never raises SIGPIPE.
#pragma once

#include <authevents/bus/redis_endpoint.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace authevents::detail {

using Deadline = std::chrono::steady_clock::time_point;

/// A failure of the transport; RedisConnection turns it into a RedisConnectionError naming
/// the endpoint and the command.
class TransportError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// errno's text (thread-safe, unlike strerror()).
inline std::string errno_text(int error) {
    return std::error_code(error, std::generic_category()).message();
}

/// The errors OpenSSL queued on this thread, joined with "; " (and the queue cleared).
inline std::string openssl_errors() {
    std::string text;
    while (const unsigned long code = ERR_get_error()) {
        char buffer[256];
        ERR_error_string_n(code, buffer, sizeof(buffer));
        if (!text.empty()) {
            text += "; ";
        }
        text += buffer;
    }
    return text.empty() ? "no OpenSSL error reported" : text;
}

/// Owns a file descriptor; closes it on destruction.
class FileDescriptor {
public:
    FileDescriptor() = default;
    explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
    FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    FileDescriptor& operator=(FileDescriptor&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() { reset(); }

    [[nodiscard]] int get() const noexcept { return fd_; }
    void reset() noexcept {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

private:
    int fd_ = -1;
};

/// Waits until `fd` is ready for `events` (POLLIN or POLLOUT; an error or hang-up counts as
/// ready: the next call reports it). @throws TransportError "<what> timed out" at the deadline.
inline void wait_ready(int fd, short events, Deadline deadline, const char* what) {
    for (;;) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            throw TransportError(std::string(what) + " timed out");
        }
        pollfd ready{fd, events, 0};
        const int result =
            ::poll(&ready, 1, static_cast<int>(std::min<long long>(left.count(), INT_MAX)));
        if (result > 0) {
            return;
        }
        if (result < 0 && errno != EINTR) {
            throw TransportError(std::string(what) + ": poll failed: " + errno_text(errno));
        }
    }
}

/// A connected, non-blocking stream socket (TCP or Unix-domain).
class Socket {
public:
    /// Connects to `endpoint` (its Unix socket when set, else host and port) before
    /// `deadline`. @throws TransportError naming the failure.
    Socket(const bus::RedisEndpoint& endpoint, Deadline deadline) {
        if (!endpoint.unix_socket.empty()) {
            connect_unix(endpoint.unix_socket, deadline);
        } else {
            connect_tcp(endpoint.host, endpoint.port, deadline);
        }
    }

    [[nodiscard]] int fd() const noexcept { return fd_.get(); }

    /// Sends all of `data`; `what` names the step in errors.
    /// @throws TransportError on failure or at the deadline.
    void send_all(std::string_view data, Deadline deadline, const char* what = "sending") {
        while (!data.empty()) {
            const ssize_t sent = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
            if (sent > 0) {
                data.remove_prefix(static_cast<std::size_t>(sent));
            } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                wait_ready(fd_.get(), POLLOUT, deadline, what);
            } else if (sent < 0 && errno != EINTR) {
                throw TransportError(std::string(what) + " failed: " + errno_text(errno));
            }
        }
    }

    /// Receives between 1 and `size` bytes into `buffer`; 0 means the peer closed the
    /// connection; `what` names the step in errors.
    /// @throws TransportError on failure or at the deadline.
    std::size_t receive(char* buffer, std::size_t size, Deadline deadline,
                        const char* what = "waiting for the reply") {
        for (;;) {
            const ssize_t got = ::recv(fd_.get(), buffer, size, 0);
            if (got >= 0) {
                return static_cast<std::size_t>(got);
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                wait_ready(fd_.get(), POLLIN, deadline, what);
            } else if (errno != EINTR) {
                throw TransportError(std::string(what) + " failed: " + errno_text(errno));
            }
        }
    }

    /// What has already arrived, without waiting (at most `size` bytes); 0 when nothing.
    std::size_t receive_pending(char* buffer, std::size_t size) noexcept {
        const ssize_t got = ::recv(fd_.get(), buffer, size, MSG_DONTWAIT);
        return got > 0 ? static_cast<std::size_t>(got) : 0;
    }

private:
    // Starts a non-blocking connect of a new socket to `address`; returns "" when connected,
    // otherwise why not.
    std::string try_connect(int family, const sockaddr* address, socklen_t length,
                            Deadline deadline) {
        FileDescriptor fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (fd.get() < 0) {
            return "socket() failed: " + errno_text(errno);
        }
        if (::connect(fd.get(), address, length) != 0) {
            if (errno != EINPROGRESS && errno != EAGAIN) {
                return errno_text(errno);
            }
            wait_ready(fd.get(), POLLOUT, deadline, "connecting");
            int error = 0;
            socklen_t size = sizeof(error);
            if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &size) != 0) {
                return "getsockopt() failed: " + errno_text(errno);
            }
            if (error != 0) {
                return errno_text(error);
            }
        }
        fd_ = std::move(fd);
        return {};
    }

    void connect_tcp(const std::string& host, int port, Deadline deadline) {
        if (port <= 0 || port > 65535) {
            throw TransportError("invalid port " + std::to_string(port));
        }
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        const int status =
            ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
        if (status != 0) {
            throw TransportError("cannot resolve '" + host + "': " + ::gai_strerror(status));
        }
        const std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, ::freeaddrinfo);
        std::string failure = "no address";
        for (const addrinfo* address = found; address != nullptr; address = address->ai_next) {
            failure =
                try_connect(address->ai_family, address->ai_addr, address->ai_addrlen, deadline);
            if (failure.empty()) {
                const int on = 1;
                ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
                return;
            }
        }
        throw TransportError(failure);
    }

    void connect_unix(const std::string& path, Deadline deadline) {
        sockaddr_un address{};
        if (path.size() >= sizeof(address.sun_path)) {
            throw TransportError("Unix socket path longer than " +
                                 std::to_string(sizeof(address.sun_path) - 1) + " bytes");
        }
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
        const std::string failure =
            try_connect(AF_UNIX, reinterpret_cast<const sockaddr*>(&address),
                        static_cast<socklen_t>(sizeof(address)), deadline);
        if (!failure.empty()) {
            throw TransportError(failure);
        }
    }

    FileDescriptor fd_;
};

struct SslContextDeleter {
    void operator()(SSL_CTX* context) const noexcept { SSL_CTX_free(context); }
};
struct SslDeleter {
    void operator()(SSL* ssl) const noexcept { SSL_free(ssl); }
};

/// True when `name` is a literal IPv4 or IPv6 address.
inline bool is_ip_address(const std::string& name) {
    unsigned char bytes[sizeof(in6_addr)];
    return ::inet_pton(AF_INET, name.c_str(), bytes) == 1 ||
           ::inet_pton(AF_INET6, name.c_str(), bytes) == 1;
}

/// The client side of a TLS session over a Socket: TLS 1.2+, the server's certificate
/// verified against the CA and its name, optional client certificate.
class TlsSession {
public:
    /// Sets up OpenSSL for `tls` and performs the handshake with `socket` before `deadline`.
    /// @throws TransportError naming what failed: a file that cannot be loaded, the handshake,
    ///         or the verification of the server's certificate (with OpenSSL's reason, e.g.
    ///         "certificate has expired", and the expected name for a name mismatch).
    TlsSession(Socket& socket, const bus::RedisTls& tls, const std::string& host, Deadline deadline)
        : socket_(socket) {
        ERR_clear_error();
        context_.reset(SSL_CTX_new(TLS_client_method()));
        if (!context_ || SSL_CTX_set_min_proto_version(context_.get(), TLS1_2_VERSION) != 1) {
            throw TransportError("cannot set up TLS: " + openssl_errors());
        }
        SSL_CTX_set_verify(context_.get(), SSL_VERIFY_PEER, nullptr);
        if (!tls.ca_file.empty()) {
            if (SSL_CTX_load_verify_locations(context_.get(), tls.ca_file.c_str(), nullptr) != 1) {
                throw TransportError("cannot load the CA file '" + tls.ca_file +
                                     "': " + openssl_errors());
            }
        } else if (SSL_CTX_set_default_verify_paths(context_.get()) != 1) {
            throw TransportError("cannot load the system's CA certificates: " + openssl_errors());
        }
        if (!tls.cert_file.empty()) {
            // An encrypted key fails to load instead of prompting on the terminal.
            SSL_CTX_set_default_passwd_cb(context_.get(), &refuse_passphrase);
            if (SSL_CTX_use_certificate_chain_file(context_.get(), tls.cert_file.c_str()) != 1) {
                throw TransportError("cannot load the client certificate '" + tls.cert_file +
                                     "': " + openssl_errors());
            }
            if (SSL_CTX_use_PrivateKey_file(context_.get(), tls.key_file.c_str(),
                                            SSL_FILETYPE_PEM) != 1 ||
                SSL_CTX_check_private_key(context_.get()) != 1) {
                throw TransportError(
                    "cannot load the client key '" + tls.key_file +
                    "' (or it does not match the certificate): " + openssl_errors());
            }
        }
        ssl_.reset(SSL_new(context_.get()));
        BIO* network_in = BIO_new(BIO_s_mem());
        BIO* network_out = BIO_new(BIO_s_mem());
        if (!ssl_ || network_in == nullptr || network_out == nullptr) {
            BIO_free(network_in);
            BIO_free(network_out);
            throw TransportError("cannot set up TLS: " + openssl_errors());
        }
        SSL_set_bio(ssl_.get(), network_in, network_out); // owned by ssl_ from here
        network_in_ = network_in;
        network_out_ = network_out;

        expected_name_ = tls.server_name.empty() ? host : tls.server_name;
        X509_VERIFY_PARAM* parameters = SSL_get0_param(ssl_.get());
        X509_VERIFY_PARAM_set_hostflags(parameters, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        const bool named =
            is_ip_address(expected_name_)
                ? X509_VERIFY_PARAM_set1_ip_asc(parameters, expected_name_.c_str()) == 1
                : SSL_set1_host(ssl_.get(), expected_name_.c_str()) == 1 && set_sni(expected_name_);
        if (!named) {
            throw TransportError("cannot use '" + expected_name_ +
                                 "' as the TLS server name: " + openssl_errors());
        }
        handshake(deadline);
    }

    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;

    /// Encrypts and sends all of `data`. @throws TransportError.
    void write_all(std::string_view data, Deadline deadline) {
        while (!data.empty()) {
            const int chunk = static_cast<int>(std::min<std::size_t>(data.size(), INT_MAX));
            const int written = drive([&] { return SSL_write(ssl_.get(), data.data(), chunk); },
                                      deadline, "TLS write");
            if (written <= 0) {
                throw TransportError("TLS write failed: the server closed the connection");
            }
            data.remove_prefix(static_cast<std::size_t>(written));
        }
    }

    /// Receives and decrypts between 1 and `size` bytes into `buffer`; 0 means the server
    /// closed the connection. @throws TransportError.
    std::size_t read_some(char* buffer, std::size_t size, Deadline deadline) {
        const int chunk = static_cast<int>(std::min<std::size_t>(size, INT_MAX));
        return static_cast<std::size_t>(
            drive([&] { return SSL_read(ssl_.get(), buffer, chunk); }, deadline, "TLS read"));
    }

private:
    static int refuse_passphrase(char*, int, int, void*) noexcept { return 0; }

    // SSL_set_tlsext_host_name() without the macro's C cast.
    bool set_sni(const std::string& name) {
        return SSL_ctrl(ssl_.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                        const_cast<char*>(name.c_str())) == 1;
    }

    void handshake(Deadline deadline) {
        try {
            if (drive([this] { return SSL_connect(ssl_.get()); }, deadline, "TLS handshake") <= 0) {
                throw TransportError("TLS handshake failed: the server closed the connection");
            }
        } catch (const TransportError& e) {
            const long verdict = SSL_get_verify_result(ssl_.get());
            if (verdict == X509_V_OK) {
                throw;
            }
            std::string reason = std::string("TLS handshake failed: the server's certificate "
                                             "was refused: ") +
                                 X509_verify_cert_error_string(verdict);
            if (verdict == X509_V_ERR_HOSTNAME_MISMATCH ||
                verdict == X509_V_ERR_IP_ADDRESS_MISMATCH) {
                reason += " (expected '" + expected_name_ + "')";
            }
            throw TransportError(reason);
        }
    }

    // Runs `operation` (an SSL call) until it succeeds, moving bytes between the memory BIOs
    // and the socket as OpenSSL asks; returns its positive result, or 0 when the server closed
    // the connection.
    template <typename Operation>
    int drive(Operation operation, Deadline deadline, const char* what) {
        for (;;) {
            ERR_clear_error();
            const int result = operation();
            const int error = result > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), result);
            const std::string queued = error == SSL_ERROR_SSL ? openssl_errors() : std::string();
            try {
                flush(deadline, what); // handshake records, alerts, written data
            } catch (const TransportError&) {
                // The server may have sent an alert (e.g. refusing our certificate, which TLS
                // 1.3 does after the handshake) before closing: report that instead.
                if (const std::string alert = pending_alert(); !alert.empty()) {
                    throw TransportError(std::string(what) + " failed: " + alert);
                }
                throw;
            }
            switch (error) {
            case SSL_ERROR_NONE:
                return result;
            case SSL_ERROR_WANT_READ:
                if (!fill(deadline, what)) {
                    return 0;
                }
                break;
            case SSL_ERROR_ZERO_RETURN:
                return 0;
            case SSL_ERROR_SSL:
                throw TransportError(std::string(what) + " failed: " + queued);
            default:
                throw TransportError(std::string(what) + " failed: OpenSSL error " +
                                     std::to_string(error));
            }
        }
    }

    // Sends what OpenSSL has written to the outgoing memory BIO.
    void flush(Deadline deadline, const char* what) {
        char buffer[16 * 1024];
        while (BIO_ctrl_pending(network_out_) > 0) {
            const int got = BIO_read(network_out_, buffer, sizeof(buffer));
            if (got <= 0) {
                break;
            }
            socket_.send_all(std::string_view(buffer, static_cast<std::size_t>(got)), deadline,
                             what);
        }
    }

    // OpenSSL's reading of what the server sent before the connection failed (an alert), or
    // "" when there is nothing to read or it is not an error.
    std::string pending_alert() {
        char buffer[16 * 1024];
        const std::size_t got = socket_.receive_pending(buffer, sizeof(buffer));
        if (got == 0 || BIO_write(network_in_, buffer, static_cast<int>(got)) <= 0) {
            return {};
        }
        ERR_clear_error();
        char ignored[256];
        const int result = SSL_read(ssl_.get(), ignored, sizeof(ignored));
        if (result > 0 || SSL_get_error(ssl_.get(), result) != SSL_ERROR_SSL) {
            return {};
        }
        return openssl_errors();
    }

    // Feeds bytes from the socket to the incoming memory BIO; false when the server closed.
    bool fill(Deadline deadline, const char* what) {
        char buffer[16 * 1024];
        const std::size_t got = socket_.receive(buffer, sizeof(buffer), deadline, what);
        if (got == 0) {
            return false;
        }
        if (BIO_write(network_in_, buffer, static_cast<int>(got)) != static_cast<int>(got)) {
            throw TransportError("TLS: cannot buffer received bytes: " + openssl_errors());
        }
        return true;
    }

    Socket& socket_;
    std::unique_ptr<SSL_CTX, SslContextDeleter> context_;
    std::unique_ptr<SSL, SslDeleter> ssl_;
    BIO* network_in_ = nullptr;  // owned by ssl_
    BIO* network_out_ = nullptr; // owned by ssl_
    std::string expected_name_;
};

/// A connection's byte stream: a socket, with TLS when the endpoint asks for it. Not
/// thread-safe; not movable (the TLS session refers to the socket).
class Transport {
public:
    /// Connects to `endpoint` and, for TLS, completes the handshake, within its
    /// connect_timeout. @throws TransportError naming what failed.
    explicit Transport(const bus::RedisEndpoint& endpoint)
        : Transport(endpoint, std::chrono::steady_clock::now() + endpoint.connect_timeout) {}

    Transport(const Transport&) = delete;
    Transport& operator=(const Transport&) = delete;

    /// Sends all of `data` before `deadline`. @throws TransportError.
    void write_all(std::string_view data, Deadline deadline) {
        if (tls_) {
            tls_->write_all(data, deadline);
        } else {
            socket_.send_all(data, deadline);
        }
    }

    /// Receives between 1 and `size` bytes before `deadline`.
    /// @throws TransportError, also when the server closed the connection.
    std::size_t read_some(char* buffer, std::size_t size, Deadline deadline) {
        const std::size_t got = tls_ ? tls_->read_some(buffer, size, deadline)
                                     : socket_.receive(buffer, size, deadline);
        if (got == 0) {
            throw TransportError("the server closed the connection");
        }
        return got;
    }

private:
    Transport(const bus::RedisEndpoint& endpoint, Deadline deadline) : socket_(endpoint, deadline) {
        if (endpoint.tls) {
            tls_ = std::make_unique<TlsSession>(socket_, *endpoint.tls, endpoint.host, deadline);
        }
    }

    Socket socket_;
    std::unique_ptr<TlsSession> tls_;
};

} // namespace authevents::detail
