// auth_service_demo: a scripted session against the example AuthService, printing each call,
// the dispatcher's [EVENT] log line, and what every handler did; then it checks that each of
// the twelve events was dispatched and each use case had its effect, and exits non-zero if
// one did not. Built with authevents::audit, it also records the session's audit trail and
// prints a verified summary of it and of its read models.
//
// Usage: auth_service_demo [--data-dir DIR]
//   DIR keeps the audit trail (DIR/audit.db, DIR/read_models.db) for authevents-audit to
//   verify, query and tamper with; without it they go to a temporary directory, removed at
//   the end.
#include "auth_service.hpp"
#include "errors.hpp"
#include "handlers/analytics.hpp"
#include "handlers/crm_sync.hpp"
#include "handlers/email_automation.hpp"
#include "handlers/gamification.hpp"
#include "handlers/media.hpp"
#include "handlers/security_monitor.hpp"
#ifdef AUTHEVENTS_EXAMPLE_AUDIT
#include "audit_trail.hpp"
#endif

#include <authevents/receiver.hpp>
#include <authevents/redaction.hpp>
#include <authevents/thread_pool.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using namespace authsvc;
using namespace authevents;
#ifdef AUTHEVENTS_EXAMPLE_AUDIT
namespace audit = authevents::audit;
#endif
using namespace std::chrono_literals;

// Everything the demo prints passes through the library's redaction, line by line, as a
// production log would: e-mail local parts masked, IP addresses cut to their network.
template <class... Args> void show(fmt::format_string<Args...> format, Args&&... args) {
    const std::string text = fmt::format(format, std::forward<Args>(args)...);
    std::string shown;
    for (std::size_t start = 0; start < text.size();) {
        const std::size_t newline = std::min(text.find('\n', start), text.size());
        shown += redact_text(std::string_view(text).substr(start, newline - start),
                             RedactionPolicy{}, 4096);
        if (newline < text.size()) {
            shown += '\n';
        }
        start = newline + 1;
    }
    std::fputs(shown.c_str(), stdout);
}

// ---- transcript ---------------------------------------------------------------------------

void section(std::string_view title) { show("\n=== {} ===\n", title); }
void note(std::string_view text) { show("  ({})\n", text); }
void outcome(std::string_view text) { show("  = {}\n", text); }

// The self-checks: each expectation is printed at the end; any false one fails the demo.
class Checks {
public:
    void expect(bool ok, std::string what) { results_.emplace_back(std::move(what), ok); }

    // Prints every result and the final line; returns the process exit code.
    int finish() const {
        section("Checks");
        std::size_t failed = 0;
        for (const auto& [what, ok] : results_) {
            show("  [{}] {}\n", ok ? " ok " : "FAIL", what);
            failed += ok ? 0 : 1;
        }
        if (failed == 0) {
            show("\nauth_service_demo: all {} checks passed\n", results_.size());
            return 0;
        }
        show("\nauth_service_demo: {} of {} checks FAILED\n", failed, results_.size());
        return 1;
    }

private:
    std::vector<std::pair<std::string, bool>> results_;
};

// The text after `marker` in `text`, up to the next space or full stop.
std::string word_after(const std::string& text, std::string_view marker) {
    const auto start = text.find(marker);
    if (start == std::string::npos) {
        return {};
    }
    const auto begin = start + marker.size();
    return text.substr(begin, text.find_first_of(" .", begin) - begin);
}

// The body of the newest email made from `template_name` to `to`.
std::string latest_mail(const std::string& to, std::string_view template_name) {
    const auto messages = mail::outbox().with_template(template_name);
    for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
        if (it->to == to) {
            return it->body;
        }
    }
    throw std::runtime_error("no " + std::string(template_name) + " email to " + to);
}

// Total handlers connected over the twelve built-in signals.
std::size_t handler_count(EventDispatcher& dispatcher) {
    return std::apply(
        [&](const auto&... events) {
            return (dispatcher.signal<std::decay_t<decltype(events)>>().size() + ...);
        },
        BuiltinEvents{});
}

// ---- the scripted session -----------------------------------------------------------------

class Demo {
public:
    Demo(const std::filesystem::path& data_dir, bool keep_data)
        : security_(clock_.clock(), {}, activity()), analytics_(activity()),
          crm_sync_(crm_, activity()), badges_(activity()), media_(activity()),
          auth_(dispatcher_, &mail::send, clock_.clock())
#ifdef AUTHEVENTS_EXAMPLE_AUDIT
          ,
          audit_(data_dir)
#endif
          ,
          keep_data_(keep_data) {
        (void)data_dir;
    }

    int run() {
        try {
            wire();
            registration();
            email_verification();
            login_failures();
            two_factor();
            brute_force();
            seller_applications();
            profile();
            summary();
            verify();
            audit_trail();
        } catch (const std::exception& e) {
            show("\nauth_service_demo: FAILED with an unexpected exception: {}\n", e.what());
            return 1;
        }
        return checks_.finish();
    }

private:
    handlers::Activity activity() {
        return [](std::string_view handler, std::string_view what) {
            show("      {:<13}{}\n", handler, what);
        };
    }

    // Waits for the background handlers of the last call, so the transcript shows what they
    // did under the call that caused it, then prints the call's outcome.
    void outcome(std::string_view text) {
        background_.wait_idle();
        ::outcome(text);
    }

    void call(std::string_view text) {
        clock_.advance(10s);
        show("\n> {}\n", text);
    }

    // Runs `request`, which must throw an AuthError; prints the refusal.
    template <class F> void refused(std::string_view text, F&& request) {
        call(text);
        try {
            request();
            outcome("accepted (unexpected)");
            checks_.expect(false, fmt::format("refused: {}", text));
        } catch (const AuthError& e) {
            outcome(fmt::format("refused: {}", e.what()));
        }
    }

    LoginResult login(const std::string& email, const std::string& password, const char* ip) {
        call(fmt::format("auth.login(\"{}\", password, ip={})", email, ip));
        const LoginResult result = auth_.login(email, password, std::string(ip));
        print(result);
        return result;
    }

    void print(const LoginResult& result) {
        switch (result.status) {
        case LoginStatus::success:
            ++logins_[result.user->id];
            outcome(fmt::format("signed in as #{} {} (session {}...)", result.user->id,
                                result.user->email, result.session_token.substr(0, 8)));
            break;
        case LoginStatus::two_factor_required:
            outcome("password ok; a sign-in code was emailed (two-factor login is on)");
            break;
        case LoginStatus::failed:
            outcome(fmt::format("login refused: {}", to_string(*result.failure)));
            failures_seen_.insert(*result.failure);
            break;
        }
    }

    User register_user(const Registration& request, const char* ip) {
        call(fmt::format("auth.register_user(\"{}\", {} {}, language={}, ip={})", request.email,
                         request.first_name, request.last_name, request.language, ip));
        const User user = auth_.register_user(request, std::string(ip));
        outcome(fmt::format("registered user #{} {}", user.id, user.email));
        return user;
    }

    void verify_email_of(const std::string& email, const char* ip) {
        const std::string token = word_after(latest_mail(email, "verify_email"), "token=");
        call(fmt::format("auth.verify_email(token from the link mailed to {}, ip={})", email, ip));
        const User user = auth_.verify_email(token, std::string(ip));
        outcome(fmt::format("{} is verified", user.email));
    }

    void wire() {
        show("authevents example: an in-process auth service whose handlers react to its "
             "events.\n"
             "Each call below is followed by the dispatcher's [EVENT] log line and by "
             "what each handler did.\n");
        // Every dispatch logs one info line; handler failures log an error line.
        dispatcher_.set_logger([this](LogLevel level, std::string_view line) {
            if (level == LogLevel::error) { // also from pool threads: queued handlers
                const std::lock_guard<std::mutex> lock(error_lines_mutex_);
                error_lines_.emplace_back(line);
                show("    ERROR {}\n", line);
            } else if (level >= LogLevel::info) {
                show("    {}\n", line);
            }
        });
        mail::outbox().set_listener([](const mail::Message& message) {
            show("      {:<13}-> {} [{}] {}\n", "mail", message.to, message.template_name,
                 message.subject);
        });

        section("Connecting handlers");
        const auto declarative = HandlerRegistry::global().connect_all(dispatcher_);
        show("  declarative: HandlerRegistry::global().connect_all(dispatcher): {} "
             "email automation handlers\n",
             declarative.size());
        show("  manual:      analytics, dispatcher.connect<Event>(...): {} handlers, "
             "priority {}\n",
             analytics_.connect(dispatcher_).size(), handlers::analytics_priority);
        show("  background:  welcome emails, dispatcher.connect<UserRegistered>(..., "
             "options.executor = pool): {} queued handlers\n",
             handlers::email::connect_welcome_emails(dispatcher_, background_.executor()).size());
        show("  background:  CRM sync, dispatcher.user_registered.connect(..., "
             "options.executor = pool): {} queued handlers\n",
             crm_sync_.connect(dispatcher_, background_.executor()).size());
        show("  manual:      security monitor, dispatcher.user_login_failed.connect(...): "
             "{} handlers, priority {}\n",
             security_.connect(dispatcher_).size(), handlers::security_priority);
        show("  receiver:    badges, receiver<ProfileUpdated>(dispatcher, ...): {} handler\n",
             badges_.connect(dispatcher_).size());
        show("  receiver:    media, receiver<ProfilePictureUploaded, ProfilePictureDeleted>"
             "(...): {} handlers\n",
             media_.connect(dispatcher_).size());
        const std::size_t connected = handler_count(dispatcher_);
        HandlerRegistry::global().connect_all(dispatcher_); // imported twice, as Django can
        crm_sync_.connect(dispatcher_, background_.executor());
        handlers::email::connect_welcome_emails(dispatcher_, background_.executor());
        const std::size_t after_reconnect = handler_count(dispatcher_);
        show("  {} handlers over 12 events; connecting again adds none (dispatch_uid): {}\n",
             connected, after_reconnect);
        checks_.expect(connected == after_reconnect && connected > 12,
                       "connecting handlers twice adds none (dispatch_uid deduplicates)");
#ifdef AUTHEVENTS_EXAMPLE_AUDIT
        audit_.attach(dispatcher_);
        show("  audit trail: audit::AuditLog(store).attach(dispatcher): every event to a "
             "hash-chained SQLite store; 3 read models fed from it\n");
#endif
    }

    void registration() {
        section("1. Registration: user_registered (welcome emails, CRM sync, analytics)");
        note("the CRM stand-in fails every 3rd request: watch for the ERROR line");
        const User grace = register_user(
            {"grace@shop.example", "admin-pass-2024", "Grace", "Hopper", "en"}, "10.0.0.2");
        auth_.grant_admin(grace.id);
        admin_id_ = grace.id;
        ana_ = register_user({"Ana@Example.com", "correct-horse-42", "Ana", "Silva", "en"},
                             "203.0.113.7");
        luis_ = register_user({"luis@example.es", "caballo-correcto-7", "Luis", "Garcia", "es"},
                              "203.0.113.9");
        const User carol = register_user(
            {"carol@example.com", "tulip-garden-88", "Carol", "King", "en"}, "203.0.113.11");
        dave_id_ = register_user({"dave@example.com", "river-stone-31", "Dave", "Brown", "en"},
                                 "203.0.113.12")
                       .id;
        carol_id_ = carol.id;

        const auto before = dispatcher_.stats<UserRegistered>().dispatched;
        refused("auth.register_user(\"not-an-email\", ...)", [&] {
            auth_.register_user({"not-an-email", "long-enough-1", "X", "Y", "en"});
        });
        refused("auth.register_user(\"eve@example.com\", password \"short1\")", [&] {
            auth_.register_user({"eve@example.com", "short1", "Eve", "Y", "en"});
        });
        refused("auth.register_user(\"eve@example.com\", password \"eve@example.com1\")", [&] {
            auth_.register_user({"eve@example.com", "eve@example.com1", "Eve", "Y", "en"});
        });
        refused("auth.register_user(\"ANA@example.com\", ...) again", [&] {
            auth_.register_user({"ANA@example.com", "another-pass-1", "Ana", "S", "en"});
        });
        checks_.expect(dispatcher_.stats<UserRegistered>().dispatched == before,
                       "refused registrations dispatch no user_registered");
    }

    void email_verification() {
        section("2. Email verification: user_email_verified (CRM marks the contact verified)");
        verify_email_of("grace@shop.example", "10.0.0.2");
        verify_email_of(ana_.email, "203.0.113.7");
        verify_email_of(luis_.email, "203.0.113.9");
        verify_email_of("carol@example.com", "203.0.113.11");
        refused("auth.verify_email(\"0000\")", [&] { auth_.verify_email("0000"); });
    }

    void login_failures() {
        section("3. Login: user_login_successful and user_login_failed (analytics, security)");
        login(ana_.email, "correct-horse-42", "203.0.113.7");
        login(ana_.email, "wrong-horse-42", "203.0.113.7");
        login("nobody@example.com", "whatever-123", "203.0.113.7");
        login("dave@example.com", "river-stone-31", "203.0.113.12");
        call("auth.deactivate_user(carol)  (support desk; no event)");
        auth_.deactivate_user(carol_id_);
        login("carol@example.com", "tulip-garden-88", "203.0.113.11");
    }

    void two_factor() {
        section("4. Two-factor login: user_2fa_enabled, invalid_2fa_code, user_2fa_disabled");
        call("auth.enable_2fa(ana)");
        auth_.enable_2fa(ana_.id);
        outcome("two-factor login is on");

        LoginResult step1 = login(ana_.email, "correct-horse-42", "203.0.113.7");
        call("auth.verify_2fa(challenge, \"000000\" (a wrong code))");
        print(auth_.verify_2fa(step1.challenge_id, "000000", std::string("203.0.113.7")));
        const std::string code =
            word_after(latest_mail(ana_.email, "sign_in_code"), "sign-in code is ");
        call(fmt::format("auth.verify_2fa(challenge, \"{}\" (the emailed code))", code));
        print(auth_.verify_2fa(step1.challenge_id, code, std::string("203.0.113.7")));

        note("Ana signs in from her phone, an IP address the security monitor has not seen");
        LoginResult step2 = login(ana_.email, "correct-horse-42", "198.51.100.77");
        const std::string code2 =
            word_after(latest_mail(ana_.email, "sign_in_code"), "sign-in code is ");
        call(fmt::format("auth.verify_2fa(challenge, \"{}\", ip=198.51.100.77)", code2));
        print(auth_.verify_2fa(step2.challenge_id, code2, std::string("198.51.100.77")));

        refused("auth.disable_2fa(ana, wrong password)",
                [&] { auth_.disable_2fa(ana_.id, "not-my-password-1"); });
        call("auth.disable_2fa(ana, password)");
        auth_.disable_2fa(ana_.id, "correct-horse-42");
        outcome("two-factor login is off");
    }

    void brute_force() {
        section("5. Brute force: more than 5 failures in 15 minutes raise an alert");
        clock_.advance(1h);
        note("one hour later: earlier failures have left the sliding window");
        note("a botnet tries Ana's password from six addresses, 20 seconds apart");
        for (int attempt = 1; attempt <= 6; ++attempt) {
            clock_.advance(10s);
            const auto alerts_before = security_.alerts().size();
            login(ana_.email, fmt::format("guess-{}-password", attempt),
                  fmt::format("192.0.2.{}", 10 + attempt).c_str());
            if (attempt == 5) {
                checks_.expect(security_.alerts().size() == alerts_before,
                               "no brute-force alert after the 5th failure");
            }
            if (attempt == 6) {
                checks_.expect(security_.alerts().size() == alerts_before + 1 &&
                                   security_.alerts().back().kind ==
                                       handlers::SecurityAlert::Kind::brute_force_email,
                               "brute-force alert for the email raised at the 6th failure");
            }
        }
        login(ana_.email, "guess-7-password", "192.0.2.17");
        login(ana_.email, "guess-8-password", "192.0.2.18");
        note("the service's own limit (8 failures in 15 minutes) now refuses every attempt");
        login(ana_.email, "correct-horse-42", "203.0.113.7");
        clock_.advance(16min);
        note("16 minutes later the failures have left the window");
        const LoginResult back = login(ana_.email, "correct-horse-42", "203.0.113.7");
        checks_.expect(back.ok(), "the rate limit lifts once failures leave the window");

        note("credential stuffing: one address tries six unknown accounts");
        for (int attempt = 1; attempt <= 6; ++attempt) {
            clock_.advance(5s);
            login(fmt::format("user{}@example.net", attempt), "Password123", "198.51.100.23");
        }
        const auto alerts = security_.alerts();
        checks_.expect(!alerts.empty() &&
                           alerts.back().kind == handlers::SecurityAlert::Kind::brute_force_ip &&
                           alerts.back().subject == "198.51.100.23",
                       "brute-force alert for the IP address raised at its 6th failure");
    }

    void seller_applications() {
        section("6. Seller applications: submitted, rejected, resubmitted, approved");
        call("auth.submit_seller_application(ana, \"individual\")");
        const SellerApplication application =
            auth_.submit_seller_application(ana_.id, "individual");
        outcome(fmt::format("application #{} is pending", application.id));
        refused("auth.approve_seller_application(#1, by luis, not an admin)",
                [&] { auth_.approve_seller_application(application.id, luis_.id); });
        call("auth.reject_seller_application(#1, by grace, \"Add a tax ID.\")");
        auth_.reject_seller_application(application.id, admin_id_, "Add a tax ID.");
        outcome("application #1 is rejected");
        call("auth.submit_seller_application(ana, \"business\")  (resubmission)");
        auth_.submit_seller_application(ana_.id, "business");
        outcome("application #1 is pending again");
        call("auth.approve_seller_application(#1, by grace)");
        auth_.approve_seller_application(application.id, admin_id_);
        outcome(fmt::format("Ana is a seller: {}", auth_.account(ana_.id).is_seller));
        refused("auth.submit_seller_application(dave, ...)  (email not verified)",
                [&] { auth_.submit_seller_application(dave_id_, "individual"); });
    }

    // Sets one profile field of Ana's and prints the new completion.
    void update(std::string_view text, std::optional<std::string> ProfileChanges::*field,
                std::string value) {
        call(text);
        ProfileChanges changes;
        changes.*field = std::move(value);
        const ProfileUpdateResult result = auth_.update_profile(ana_.id, changes);
        outcome(fmt::format("profile {}% complete", result.profile_completion));
    }

    void profile() {
        section("7. Profile: profile_updated, profile_picture_uploaded/deleted (badges, media)");
        note("completion counts first name, last name, phone, bio, city and picture");
        update("auth.update_profile(ana, phone)", &ProfileChanges::phone, "+34 600 123 456");
        update("auth.update_profile(ana, city)", &ProfileChanges::city, "Lisbon");
        call("auth.upload_profile_picture(ana, image/jpeg, 182 KiB)");
        const std::string key = auth_.upload_profile_picture(ana_.id, "image/jpeg", 182 * 1024);
        outcome(fmt::format("stored as {}", key));
        refused("auth.upload_profile_picture(ana, image/gif, 1 KiB)",
                [&] { auth_.upload_profile_picture(ana_.id, "image/gif", 1024); });
        update("auth.update_profile(ana, bio)", &ProfileChanges::bio,
               "Ceramics and prints from Lisbon.");
        update("auth.update_profile(ana, bio again)  (already 100%: no second badge)",
               &ProfileChanges::bio, "Handmade ceramics and prints from Lisbon.");
        refused("auth.update_profile(ana, phone \"call me\")", [&] {
            ProfileChanges bad;
            bad.phone = "call me";
            auth_.update_profile(ana_.id, bad);
        });
        call("auth.delete_profile_picture(ana)");
        auth_.delete_profile_picture(ana_.id);
        outcome(fmt::format("profile {}% complete", auth_.account(ana_.id).profile_completion));
    }

    void summary() {
        background_.wait_idle();
        section("Summary");
        const auto messages = mail::outbox().messages();
        show("  outbox ({} emails):\n", messages.size());
        for (const mail::Message& message : messages) {
            show("    {:<22} {:<28} {}\n", message.to, message.template_name, message.subject);
        }
        show("  analytics: {} events tracked\n", analytics_.events().size());
        show("  CRM: {} requests, failed for: {}\n", crm_.requests(),
             fmt::join(crm_.failed_emails(), ", "));
        show("  security alerts:\n");
        for (const handlers::SecurityAlert& alert : security_.alerts()) {
            show("    {:<18} {}\n", handlers::to_string(alert.kind), alert.subject);
        }
        show("  badges:\n");
        for (const auto& [user_id, badge] : badges_.awards()) {
            show("    user #{} {}\n", user_id, badge);
        }
        show("  events (dispatcher.all_stats()):\n");
        show("    {:<30} {:>10} {:>8} {:>8}\n", "event", "dispatched", "handlers", "failures");
        for (const EventStats& stats : dispatcher_.all_stats()) {
            show("    {:<30} {:>10} {:>8} {:>8}\n", stats.name, stats.dispatched,
                 stats.handlers_called, stats.handler_failures);
        }
    }

    std::size_t sent(std::string_view template_name) const {
        return mail::outbox().with_template(template_name).size();
    }

    void verify() {
        for (const EventStats& stats : dispatcher_.all_stats()) {
            checks_.expect(stats.dispatched > 0, fmt::format("{} was dispatched", stats.name));
            checks_.expect(analytics_.count(stats.name) == stats.dispatched,
                           fmt::format("analytics tracked every {}", stats.name));
        }
        for (const LoginFailureReason reason : login_failure_reasons) {
            checks_.expect(failures_seen_.count(reason) == 1,
                           fmt::format("a login failed with reason {}", to_string(reason)));
        }
        // Email automation (declarative handlers), including the conditional Spanish one.
        const auto welcome_es = mail::outbox().with_template("welcome_es");
        checks_.expect(sent("welcome") == 4 && welcome_es.size() == 1 &&
                           welcome_es.front().to == luis_.email,
                       "welcome emails: English for 4 users, Spanish only for Luis");
        checks_.expect(sent("two_factor_enabled") == 1 && sent("two_factor_disabled") == 1,
                       "2FA on/off notices emailed");
        checks_.expect(sent("seller_application_received") == 2 &&
                           sent("admin_new_application") == 1,
                       "application confirmations sent twice, admins notified once");
        checks_.expect(sent("seller_rejected") == 1 &&
                           mail::outbox()
                                   .with_template("seller_rejected")
                                   .front()
                                   .body.find("Add a tax ID.") != std::string::npos,
                       "rejection email carries the reason");
        checks_.expect(sent("seller_approved") == 1 && sent("seller_onboarding") == 1,
                       "approval email and onboarding series sent");
        // CRM: failures were logged by the dispatcher and did not break registration.
        const auto failed = crm_.failed_emails();
        bool failed_users_exist = !failed.empty();
        for (const std::string& email : failed) {
            failed_users_exist = failed_users_exist && auth_.find_account(email).has_value();
        }
        bool logged = false;
        for (const std::string& line : error_lines_) {
            logged = logged || line.find("'crm.") != std::string::npos;
        }
        checks_.expect(failed_users_exist && logged,
                       "CRM failures were logged by the dispatcher; those users still exist");
        checks_.expect(crm_.contact(ana_.email).has_value() || !failed.empty(),
                       "CRM holds synced contacts");
        // Security monitoring.
        checks_.expect(sent("security_alert") == 2, "two brute-force alerts mailed to security");
        checks_.expect(sent("new_sign_in") == 1, "new sign-in IP notice mailed to Ana");
        // Gamification: each badge once.
        const auto awards = badges_.awards();
        checks_.expect(awards.size() == 2 && badges_.has_badge(ana_.id, "profile_50") &&
                           badges_.has_badge(ana_.id, "profile_100") && sent("badge_earned") == 2,
                       "badges profile_50 and profile_100 awarded once each");
        // Media.
        checks_.expect(media_.thumbnails_of(ana_.id).empty() && media_.purged().size() == 2,
                       "thumbnails made on upload, purged on delete");
    }

#ifdef AUTHEVENTS_EXAMPLE_AUDIT
    struct ReadModels {
        std::vector<std::pair<std::int64_t, std::size_t>> logins;
        std::vector<std::pair<std::string, std::int64_t>> failures;
        std::vector<std::tuple<std::string, std::int64_t, std::int64_t, std::int64_t, std::int64_t>>
            funnel;
        bool operator==(const ReadModels& other) const {
            return logins == other.logins && failures == other.failures && funnel == other.funnel;
        }
    };

    static ReadModels read_models(const AuditSummary& summary) {
        ReadModels models{summary.logins_per_user, summary.failures_per_ip, {}};
        for (const audit::FunnelStage& stage : summary.funnel) {
            models.funnel.emplace_back(stage.seller_type, stage.submitted, stage.resubmitted,
                                       stage.approved, stage.rejected);
        }
        return models;
    }

    void audit_trail() {
        section("Audit trail (authevents::audit): verified, with its read models");
        const std::vector<std::int64_t> users{ana_.id, luis_.id, dave_id_};
        const std::vector<std::string> ips{"203.0.113.7", "198.51.100.23", "198.51.100.77",
                                           "192.0.2.11",  "192.0.2.12",    "192.0.2.13",
                                           "192.0.2.14",  "192.0.2.15",    "192.0.2.16",
                                           "192.0.2.17",  "192.0.2.18",    "203.0.113.11"};
        const AuditSummary summary = audit_.summary(users, ips);
        std::uint64_t dispatched = 0;
        for (const EventStats& stats : dispatcher_.all_stats()) {
            dispatched += stats.dispatched;
        }
        show("  database: {}\n", audit_.database());
        show("  {}; head {}\n", summary.verify_text, summary.head);
        show("  successful logins per user (read model login_history):\n");
        for (const auto& [user, count] : summary.logins_per_user) {
            show("    user #{:<3} {}\n", user, count);
        }
        show("  failed logins per IP address in the last hour (read model "
             "failed_logins_ip_hour):\n");
        std::size_t single = 0;
        for (const auto& [ip, failures] : summary.failures_per_ip) {
            if (failures >= 2) {
                show("    {:>3}  {}\n", failures, ip);
            } else {
                ++single;
            }
        }
        show("    and {} addresses with one failure each\n", single);
        show("  seller funnel (read model seller_funnel):\n");
        show("    {:<12} {:>9} {:>11} {:>8} {:>8}\n", "type", "submitted", "resubmitted",
             "approved", "rejected");
        std::int64_t submissions = 0;
        std::int64_t approved = 0;
        std::int64_t rejected = 0;
        for (const audit::FunnelStage& stage : summary.funnel) {
            show("    {:<12} {:>9} {:>11} {:>8} {:>8}\n", stage.seller_type, stage.submitted,
                 stage.resubmitted, stage.approved, stage.rejected);
            submissions += stage.submitted + stage.resubmitted;
            approved += stage.approved;
            rejected += stage.rejected;
        }

        checks_.expect(summary.chain_ok, "the audit trail's hash chain verifies");
        checks_.expect(summary.records == static_cast<std::int64_t>(dispatched) &&
                           audit_.stats().dropped == 0,
                       fmt::format("every dispatched event recorded once ({} events, {} records)",
                                   dispatched, summary.records));
        bool logins_match = true;
        for (const auto& [user, count] : summary.logins_per_user) {
            const auto seen = logins_.find(user);
            logins_match = logins_match && count == (seen == logins_.end() ? 0 : seen->second);
        }
        checks_.expect(logins_match, "login history read model: each user's successful logins");
        const auto stuffing =
            std::find_if(summary.failures_per_ip.begin(), summary.failures_per_ip.end(),
                         [](const auto& entry) { return entry.first == "198.51.100.23"; });
        checks_.expect(stuffing != summary.failures_per_ip.end() && stuffing->second == 6,
                       "failed-logins-per-IP read model: 6 failures from the stuffing address");
        checks_.expect(submissions == 2 && approved == 1 && rejected == 1,
                       "seller funnel read model: 2 submissions, 1 rejection, 1 approval");

        audit_.rebuild();
        const AuditSummary rebuilt = audit_.summary(users, ips);
        show("  read models rebuilt by replaying the {} records: {}\n", rebuilt.records,
             read_models(rebuilt) == read_models(summary) ? "same state" : "DIFFERENT state");
        checks_.expect(read_models(rebuilt) == read_models(summary),
                       "read models rebuilt from the audit log equal their live state");

        // A GDPR erasure request from Carol: her key is deleted, her records stay.
        const std::size_t erased = audit_.erase_user(carol_id_, {"carol@example.com"});
        const audit::OpenedPage carols = audit_.records_of(carol_id_, 100);
        bool unreadable = !carols.records.empty();
        for (const audit::OpenedRecord& record : carols.records) {
            unreadable = unreadable && record.erased &&
                         record.data.dump().find("carol@") == std::string::npos;
        }
        const AuditSummary after = audit_.summary(users, ips);
        show("  erase_user(carol): {} key(s) erased; her {} records read as [erased]; {}\n", erased,
             carols.records.size(), after.verify_text);
        checks_.expect(erased >= 1 && unreadable && after.chain_ok,
                       "erasing a user leaves nothing of theirs readable and the chain verified");
        if (keep_data_) {
            show("  kept for you: authevents-audit --db {} verify (or query, export, ...)\n",
                 audit_.database());
        } else {
            show("  (run auth_service_demo --data-dir DIR to keep the databases for "
                 "authevents-audit)\n");
        }
    }
#else
    void audit_trail() const { (void)keep_data_; } // built without authevents::audit
#endif

    ManualClock clock_;
    EventDispatcher dispatcher_;
    handlers::FakeCrmClient crm_{3};
    handlers::SecurityMonitor security_;
    handlers::AnalyticsTracker analytics_;
    handlers::CrmSync crm_sync_;
    handlers::BadgeAwards badges_;
    handlers::MediaPipeline media_;
    AuthService auth_;
#ifdef AUTHEVENTS_EXAMPLE_AUDIT
    AuditTrail audit_; // after the dispatcher: destroyed (and detached) before it
#endif
    Checks checks_;

    User ana_;
    User luis_;
    std::int64_t admin_id_ = 0;
    std::int64_t carol_id_ = 0;
    std::int64_t dave_id_ = 0;
    std::set<LoginFailureReason> failures_seen_;
    std::map<std::int64_t, std::size_t> logins_; // successful logins per user id
    bool keep_data_ = false;                     // the audit trail stays in the data dir
    std::mutex error_lines_mutex_;
    std::vector<std::string> error_lines_;
    // Background handlers (welcome emails, CRM sync) run here. Declared last, so destroyed
    // first: the pool finishes its tasks while the handlers and the dispatcher still exist.
    authevents::ThreadPool background_{2, 64};
};

} // namespace

// The demo's data directory: --data-dir DIR (kept), else a temporary one (removed).
class DataDir {
public:
    DataDir(int argc, char** argv) {
        if (argc == 3 && std::string_view(argv[1]) == "--data-dir") {
            path_ = argv[2];
            std::filesystem::create_directories(path_);
            // A new session starts a new audit trail.
            for (const char* name : {"audit.db", "audit.db-wal", "audit.db-shm", "read_models.db",
                                     "read_models.db-wal", "read_models.db-shm"}) {
                std::filesystem::remove(path_ / name);
            }
            return;
        }
        if (argc != 1) {
            throw std::invalid_argument("usage: auth_service_demo [--data-dir DIR]");
        }
        std::string pattern =
            (std::filesystem::temp_directory_path() / "auth_service_demo-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("cannot create a temporary directory");
        }
        path_ = pattern;
        remove_ = true;
    }
    DataDir(const DataDir&) = delete;
    DataDir& operator=(const DataDir&) = delete;
    ~DataDir() {
        if (remove_) {
            std::error_code ignored;
            std::filesystem::remove_all(path_, ignored);
        }
    }
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    [[nodiscard]] bool kept() const noexcept { return !remove_; }

private:
    std::filesystem::path path_;
    bool remove_ = false;
};

int main(int argc, char** argv) {
    try {
        const DataDir data(argc, argv);
        int status = 0;
        {
            Demo demo(data.path(), data.kept());
            status = demo.run();
        }
        return status;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "auth_service_demo: FAILED: %s\n", e.what());
        return 1;
    }
}
