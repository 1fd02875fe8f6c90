#include "validation.hpp"

#include "errors.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace authsvc {
namespace {

bool is_email_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) != 0 || c == '.' || c == '_' || c == '-' || c == '+';
}

std::string quoted(std::string_view text) {
    return "\"" + std::string(text.substr(0, 60)) + (text.size() > 60 ? "...\"" : "\"");
}

} // namespace

std::string normalize_email(std::string_view email) {
    const auto first = email.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
        return {};
    }
    const auto last = email.find_last_not_of(" \t\r\n");
    std::string result(email.substr(first, last - first + 1));
    std::transform(result.begin(), result.end(), result.begin(), [](char c) {
        return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    return result;
}

void validate_email(std::string_view email) {
    const auto at = email.find('@');
    const bool one_at = at != std::string_view::npos && email.find('@', at + 1) == email.npos;
    const std::string_view local = one_at ? email.substr(0, at) : std::string_view{};
    const std::string_view domain = one_at ? email.substr(at + 1) : std::string_view{};
    const auto dot = domain.rfind('.');
    const bool valid = one_at && email.size() <= 254 && !local.empty() && local.size() <= 64 &&
                       dot != std::string_view::npos && dot > 0 && dot + 3 <= domain.size() &&
                       std::all_of(local.begin(), local.end(), is_email_char) &&
                       std::all_of(domain.begin(), domain.end(), is_email_char) &&
                       domain.find("..") == std::string_view::npos;
    if (!valid) {
        throw ValidationError("email", quoted(email) + " is not a valid email address");
    }
}

void validate_password(std::string_view password, std::string_view email) {
    if (password.size() < 10 || password.size() > 128) {
        throw ValidationError("password", "must have 10 to 128 characters");
    }
    const auto has = [password](int (*test)(int)) {
        return std::any_of(password.begin(), password.end(),
                           [test](char c) { return test(static_cast<unsigned char>(c)) != 0; });
    };
    if (!has(std::isalpha) || !has(std::isdigit)) {
        throw ValidationError("password", "must contain at least one letter and one digit");
    }
    const std::string local = normalize_email(email.substr(0, email.find('@')));
    if (local.size() >= 3 && normalize_email(password).find(local) != std::string::npos) {
        throw ValidationError("password", "must not contain your email address");
    }
}

void validate_language(std::string_view language) {
    const bool valid =
        language.size() == 2 &&
        std::all_of(language.begin(), language.end(), [](char c) { return c >= 'a' && c <= 'z'; });
    if (!valid) {
        throw ValidationError("language", quoted(language) + " is not a two-letter language code");
    }
}

void validate_phone(std::string_view phone) {
    if (phone.empty()) {
        return;
    }
    std::size_t digits = 0;
    for (std::size_t i = 0; i < phone.size(); ++i) {
        const char c = phone[i];
        if (std::isdigit(static_cast<unsigned char>(c)) != 0) {
            ++digits;
        } else if (!(c == ' ' || (c == '+' && i == 0))) {
            throw ValidationError("phone",
                                  quoted(phone) + " may hold only digits, spaces and a leading +");
        }
    }
    if (digits < 7 || digits > 15) {
        throw ValidationError("phone", "must have 7 to 15 digits");
    }
}

void validate_text(std::string_view field, std::string_view text, std::size_t max_length) {
    if (text.size() > max_length) {
        throw ValidationError(std::string(field),
                              "must have at most " + std::to_string(max_length) + " characters");
    }
    const bool control = std::any_of(text.begin(), text.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u < 0x20 && c != '\n') || u == 0x7f;
    });
    if (control) {
        throw ValidationError(std::string(field), "must not contain control characters");
    }
}

void validate_names(std::string_view first_name, std::string_view last_name) {
    constexpr std::size_t max_name_length = 50;
    validate_text("first_name", first_name, max_name_length);
    validate_text("last_name", last_name, max_name_length);
}

} // namespace authsvc
