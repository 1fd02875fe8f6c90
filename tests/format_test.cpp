// Tests for authevents/format.hpp: fmt formatters of the events and their parts.
#include <authevents/format.hpp>

#include "catch_compat.hpp"
#include "event_samples.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <iomanip> // std::quoted in scope: the writers must not call it by argument-dependent lookup
#include <limits>
#include <string>

using namespace authevents;

TEST_CASE("User, SellerApplication and LoginFailureReason format compactly", "[format]") {
    CHECK(fmt::format("{}", samples::ana()) == "42 <ana@example.com>");
    CHECK(fmt::format("{}", samples::application()) ==
          "7 seller_type=individual applicant=42 <ana@example.com>");
    CHECK(fmt::format("{}", LoginFailureReason::invalid_2fa_code) == "invalid_2fa_code");
}

TEST_CASE("every event formats as its name and key fields", "[format]") {
    CHECK(fmt::format("{}", samples::user_registered()) ==
          "user_registered user=42 <ana@example.com> email_sent=true ip_address=203.0.113.7");
    CHECK(fmt::format("{}", samples::user_email_verified()) ==
          "user_email_verified user=42 <ana@example.com> ip_address=203.0.113.8");
    CHECK(fmt::format("{}", samples::user_login_successful()) ==
          "user_login_successful user=42 <ana@example.com> ip_address=203.0.113.9 "
          "required_2fa=true");
    CHECK(fmt::format("{}", samples::user_login_failed()) ==
          "user_login_failed email=ana@example.com reason=wrong_password "
          "ip_address=198.51.100.1");
    CHECK(fmt::format("{}", samples::user_2fa_enabled()) ==
          "user_2fa_enabled user=42 <ana@example.com>");
    CHECK(fmt::format("{}", samples::user_2fa_disabled()) ==
          "user_2fa_disabled user=42 <ana@example.com>");
    CHECK(fmt::format("{}", samples::seller_application_submitted()) ==
          "seller_application_submitted application=7 seller_type=individual "
          "applicant=42 <ana@example.com> is_resubmission=true");
    CHECK(fmt::format("{}", samples::seller_application_approved()) ==
          "seller_application_approved application=7 seller_type=individual "
          "applicant=42 <ana@example.com> admin_user=1 <admin@example.com> "
          "new_seller=42 <ana@example.com>");
    CHECK(fmt::format("{}", samples::seller_application_rejected()) ==
          "seller_application_rejected application=7 seller_type=individual "
          "applicant=42 <ana@example.com> admin_user=1 <admin@example.com> "
          "reason=\"Missing tax documents\"");
    CHECK(fmt::format("{}", samples::profile_updated()) ==
          "profile_updated user=42 <ana@example.com> updated_fields=[first_name,language] "
          "profile_completion=80");
    CHECK(fmt::format("{}", samples::profile_picture_uploaded()) ==
          "profile_picture_uploaded user=42 <ana@example.com> file_key=avatars/42.png");
    CHECK(fmt::format("{}", samples::profile_picture_deleted()) ==
          "profile_picture_deleted user=42 <ana@example.com>");
}

TEST_CASE("absent optional fields are left out", "[format]") {
    CHECK(fmt::format("{}", UserRegistered{samples::ana(), false, std::nullopt}) ==
          "user_registered user=42 <ana@example.com> email_sent=false");
    CHECK(fmt::format("{}", UserLoginSuccessful{samples::ana(), std::nullopt, false}) ==
          "user_login_successful user=42 <ana@example.com> required_2fa=false");
    CHECK(fmt::format("{}", UserLoginFailed{"x@example.com", LoginFailureReason::rate_limited,
                                            std::nullopt}) ==
          "user_login_failed email=x@example.com reason=rate_limited");
    CHECK(fmt::format("{}", ProfileUpdated{samples::ana(), {}, 0}) ==
          "profile_updated user=42 <ana@example.com> updated_fields=[] profile_completion=0");
}

TEST_CASE("user-supplied text is quoted and escaped so a log line stays one line", "[format]") {
    const UserLoginFailed hostile{"evil@example.com\n[EVENT] forged",
                                  LoginFailureReason::user_not_found, std::nullopt};
    const std::string text = fmt::format("{}", hostile);
    CHECK(text == "user_login_failed email=\"evil@example.com\\n[EVENT] forged\" "
                  "reason=user_not_found");
    CHECK(text.find('\n') == std::string::npos);

    CHECK(fmt::format("{}", User{3, "", "", "", ""}) == "3 <\"\">");
    CHECK(fmt::format("{}", User{3, "a\"b", "", "", ""}) == "3 <\"a\\\"b\">");
    CHECK(fmt::format("{}", ProfilePictureUploaded{samples::ana(), "my photo.png"}) ==
          "profile_picture_uploaded user=42 <ana@example.com> file_key=\"my photo.png\"");
}

namespace {
struct Extremes {
    std::int64_t lowest = 0;
    std::uint64_t highest = 0;
    std::int8_t small = 0;
    unsigned zero = 0;
    int negative = 0;

    static constexpr auto fields =
        std::make_tuple(field("lowest", &Extremes::lowest), field("highest", &Extremes::highest),
                        field("small", &Extremes::small), field("zero", &Extremes::zero),
                        field("negative", &Extremes::negative));
};
} // namespace

TEST_CASE("integer fields format in decimal up to their extremes", "[format]") {
    const Extremes extremes{std::numeric_limits<std::int64_t>::min(),
                            std::numeric_limits<std::uint64_t>::max(),
                            std::numeric_limits<std::int8_t>::min(), 0U, -7};
    CHECK(fmt::format("{}", extremes) ==
          "{lowest=-9223372036854775808 highest=18446744073709551615 small=-128 zero=0 "
          "negative=-7}");
}

TEST_CASE("a non-empty format spec is rejected", "[format]") {
    const auto format_with_spec = [](const auto& value) {
        return fmt::format(fmt::runtime("{:>40}"), value);
    };
    CHECK_THROWS_AS(format_with_spec(samples::ana()), fmt::format_error);
    CHECK_THROWS_AS(format_with_spec(samples::user_registered()), fmt::format_error);
    CHECK_THROWS_AS(format_with_spec(LoginFailureReason::rate_limited), fmt::format_error);
}
