/// @file
/// RFC 3339 time stamps for CloudEvents: format_rfc3339(), rfc3339_now(), parse_rfc3339()
/// and is_rfc3339(). Standard headers only.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace authevents::bus {

/// A time point with millisecond resolution, as read and written by the RFC 3339 helpers.
using SysMilliseconds =
    std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

} // namespace authevents::bus

namespace authevents::detail {

/// Days from 0000-01-01 to the first day of `year` (proleptic Gregorian, year >= 0).
constexpr std::int64_t days_before_year(std::int64_t year) noexcept {
    // Leap years in [0, year): multiples of 4, minus multiples of 100, plus multiples of 400.
    return 365 * year + (year + 3) / 4 - (year + 99) / 100 + (year + 399) / 400;
}

constexpr bool is_leap_year(std::int64_t year) noexcept {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

constexpr int days_in_month(std::int64_t year, int month) noexcept {
    constexpr std::array<int, 12> lengths = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && is_leap_year(year)) {
        return 29;
    }
    return lengths[static_cast<std::size_t>(month - 1)];
}

/// Days from 1970-01-01 to year-month-day (month 1-12, day valid; year >= 0).
constexpr std::int64_t days_since_epoch(std::int64_t year, int month, int day) noexcept {
    std::int64_t days = days_before_year(year) - days_before_year(1970);
    for (int m = 1; m < month; ++m) {
        days += days_in_month(year, m);
    }
    return days + day - 1;
}

/// Appends `value` (non-negative) in decimal, zero-padded to `width` digits.
inline void append_padded(std::string& out, std::int64_t value, int width) {
    std::array<char, 20> digits{};
    std::size_t count = 0;
    for (; count == 0 || (value > 0 && count < digits.size()); ++count) {
        digits[count] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    for (auto i = static_cast<int>(count); i < width; ++i) {
        out += '0';
    }
    for (; count > 0; --count) {
        out += digits[count - 1];
    }
}

/// Reads `count` ASCII digits of `text` at `pos` into `value`; false if any is not a digit.
constexpr bool read_digits(std::string_view text, std::size_t pos, std::size_t count,
                           int& value) noexcept {
    if (pos + count > text.size()) {
        return false;
    }
    value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        value = value * 10 + (text[i] - '0');
    }
    return true;
}
} // namespace authevents::detail

namespace authevents::bus {

/// Formats `time` as RFC 3339 UTC with milliseconds, e.g. "2026-11-24T10:54:10.123Z"
/// (rounded down to the millisecond). Years must be 0000-9999. Thread-safe, pure.
/// @throws std::out_of_range for a year outside 0000-9999.
inline std::string format_rfc3339(SysMilliseconds time) {
    const std::int64_t ms_per_day = 86'400'000;
    const std::int64_t total_ms = time.time_since_epoch().count();
    std::int64_t days = total_ms / ms_per_day;
    std::int64_t ms_of_day = total_ms % ms_per_day;
    if (ms_of_day < 0) {
        ms_of_day += ms_per_day;
        --days;
    }
    const std::int64_t epoch_days = detail::days_before_year(1970);
    std::int64_t year = 1970 + days / 365; // within a year or two of the right one
    while (detail::days_before_year(year) - epoch_days > days) {
        --year;
    }
    while (detail::days_before_year(year + 1) - epoch_days <= days) {
        ++year;
    }
    if (year < 0 || year > 9999) {
        throw std::out_of_range("authevents::bus::format_rfc3339: year outside 0000-9999");
    }
    std::int64_t day_of_year = days - (detail::days_before_year(year) - epoch_days);
    int month = 1;
    while (day_of_year >= detail::days_in_month(year, month)) {
        day_of_year -= detail::days_in_month(year, month);
        ++month;
    }
    std::string out;
    out.reserve(24);
    detail::append_padded(out, year, 4);
    out += '-';
    detail::append_padded(out, month, 2);
    out += '-';
    detail::append_padded(out, day_of_year + 1, 2);
    out += 'T';
    detail::append_padded(out, ms_of_day / 3'600'000, 2);
    out += ':';
    detail::append_padded(out, ms_of_day / 60'000 % 60, 2);
    out += ':';
    detail::append_padded(out, ms_of_day / 1000 % 60, 2);
    out += '.';
    detail::append_padded(out, ms_of_day % 1000, 3);
    out += 'Z';
    return out;
}

/// Formats a system_clock time point as format_rfc3339(SysMilliseconds) does (rounded down
/// to the millisecond). Thread-safe, pure.
/// @throws std::out_of_range outside years 0000-9999.
inline std::string format_rfc3339(std::chrono::system_clock::time_point time) {
    return format_rfc3339(std::chrono::floor<std::chrono::milliseconds>(time));
}

/// The current UTC time as RFC 3339 with milliseconds, e.g. "2026-11-24T10:54:10.123Z".
/// Thread-safe. @throws std::bad_alloc only.
inline std::string rfc3339_now() { return format_rfc3339(std::chrono::system_clock::now()); }

/// Parses a strict RFC 3339 timestamp `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` (the
/// `T` and `Z` may be lower case, as RFC 3339 allows) into a UTC time point, the fraction
/// rounded down to the millisecond; std::nullopt for anything else. Ranges are checked: month
/// 1-12, day valid for the month (leap years included), hour < 24, minute < 60, second <= 60
/// (a leap second counts as the next minute's first), offset hour < 24 and minute < 60.
/// Thread-safe, pure, does not throw.
inline std::optional<SysMilliseconds> parse_rfc3339(std::string_view text) noexcept {
    int year = 0;
    int month = 0;
    int day = 0;
    int hour = 0;
    int minute = 0;
    int second = 0;
    if (!detail::read_digits(text, 0, 4, year) || text.size() < 19 || text[4] != '-' ||
        !detail::read_digits(text, 5, 2, month) || text[7] != '-' ||
        !detail::read_digits(text, 8, 2, day) || (text[10] != 'T' && text[10] != 't') ||
        !detail::read_digits(text, 11, 2, hour) || text[13] != ':' ||
        !detail::read_digits(text, 14, 2, minute) || text[16] != ':' ||
        !detail::read_digits(text, 17, 2, second)) {
        return std::nullopt;
    }
    if (month < 1 || month > 12 || day < 1 || day > detail::days_in_month(year, month) ||
        hour > 23 || minute > 59 || second > 60) {
        return std::nullopt;
    }
    std::size_t pos = 19;
    int millis = 0;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        const std::size_t first = pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            if (pos - first < 3) {
                millis = millis * 10 + (text[pos] - '0');
            }
            ++pos;
        }
        if (pos == first) {
            return std::nullopt; // a '.' needs at least one digit
        }
        for (std::size_t digits = pos - first; digits < 3; ++digits) {
            millis *= 10;
        }
    }
    if (pos >= text.size()) {
        return std::nullopt; // the zone is required
    }
    int offset_minutes = 0;
    if (text[pos] == 'Z' || text[pos] == 'z') {
        ++pos;
    } else if (text[pos] == '+' || text[pos] == '-') {
        int offset_hour = 0;
        int offset_minute = 0;
        if (!detail::read_digits(text, pos + 1, 2, offset_hour) || pos + 3 >= text.size() ||
            text[pos + 3] != ':' || !detail::read_digits(text, pos + 4, 2, offset_minute) ||
            offset_hour > 23 || offset_minute > 59) {
            return std::nullopt;
        }
        offset_minutes = (text[pos] == '-' ? -1 : 1) * (offset_hour * 60 + offset_minute);
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != text.size()) {
        return std::nullopt;
    }
    const std::int64_t local_seconds = detail::days_since_epoch(year, month, day) * 86'400 +
                                       std::int64_t{hour} * 3600 + std::int64_t{minute} * 60 +
                                       second;
    const std::int64_t utc_seconds = local_seconds - std::int64_t{offset_minutes} * 60;
    return SysMilliseconds(std::chrono::milliseconds(utc_seconds * 1000 + millis));
}

/// True when `text` is a valid RFC 3339 timestamp as parse_rfc3339() accepts it, e.g.
/// "2026-11-24T10:54:10.123Z" or "2026-11-24T11:54:10+01:00". Thread-safe, pure, noexcept.
inline bool is_rfc3339(std::string_view text) noexcept { return parse_rfc3339(text).has_value(); }

} // namespace authevents::bus
