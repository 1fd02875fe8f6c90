// The errors AuthService throws for requests it refuses. Login failures are not errors:
// login() returns them as a LoginResult (and dispatches user_login_failed).
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace authsvc {

/// Base of every error the service throws on purpose; what() is a message for the caller.
class AuthError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// An input is malformed or too weak; field() names it ("email", "password", ...).
class ValidationError : public AuthError {
public:
    ValidationError(std::string field, const std::string& message)
        : AuthError(field + ": " + message), field_(std::move(field)) {}

    /// The request field that was rejected.
    [[nodiscard]] const std::string& field() const noexcept { return field_; }

private:
    std::string field_;
};

/// The user, application or token named does not exist.
class NotFoundError : public AuthError {
public:
    using AuthError::AuthError;
};

/// The request clashes with the current state (email taken, 2FA already on, ...).
class ConflictError : public AuthError {
public:
    using AuthError::AuthError;
};

/// The acting user may not do this (e.g. a non-admin approving an application).
class PermissionDeniedError : public AuthError {
public:
    using AuthError::AuthError;
};

} // namespace authsvc
