// Input validation for the auth service. Each validate_* throws ValidationError with a
// message a user can act on; normalize_email() gives the form emails are stored in.
#pragma once

#include <string>
#include <string_view>

namespace authsvc {

/// `email` trimmed and lower-cased: the form the store keys users by.
std::string normalize_email(std::string_view email);

/// Throws unless `email` (normalized) looks like local@domain.tld, at most 254 characters.
void validate_email(std::string_view email);

/// Throws unless `password` has 10 to 128 characters, a letter and a digit, and does not
/// contain the local part of `email`.
void validate_password(std::string_view password, std::string_view email);

/// Throws unless `language` is a two-letter lower-case code such as "en" or "es".
void validate_language(std::string_view language);

/// Throws unless `phone` is empty or 7 to 15 digits, optionally with a leading '+' and spaces.
void validate_phone(std::string_view phone);

/// Throws unless `text` (the field `field`) has at most `max_length` characters and no control
/// characters other than newlines.
void validate_text(std::string_view field, std::string_view text, std::size_t max_length);

/// Throws unless the first and last names have at most 50 characters each and no control
/// characters.
void validate_names(std::string_view first_name, std::string_view last_name);

} // namespace authsvc
