// Seller applications: a receipt to the applicant and a queue notice to the seller team on
// submission, and the decision (with the reason on a rejection) to the applicant.
#include "handlers.hpp"

#include <fmt/format.h>

namespace notifications::handlers {

std::vector<authevents::Connection>
connect_seller_decisions(authevents::EventDispatcher& dispatcher, Notifier& notifier) {
    return {
        dispatcher.seller_application_submitted.connect(
            [&notifier](const authevents::SellerApplicationSubmitted& event) {
                const authevents::SellerApplication& application = event.application;
                notifier.send({"email", application.applicant.email,
                               event.is_resubmission ? "We received your updated seller application"
                                                     : "We received your seller application",
                               "seller_application_received"});
                notifier.send(
                    {"email", seller_team,
                     fmt::format("Application #{} ({}) from {} is waiting{}", application.id,
                                 application.seller_type, application.applicant.email,
                                 event.is_resubmission ? " again" : ""),
                     "seller_queue"});
            },
            uid("seller_submitted")),
        dispatcher.seller_application_approved.connect(
            [&notifier](const authevents::SellerApplicationApproved& event) {
                notifier.send(
                    {"email", event.new_seller.email,
                     fmt::format("You are now a seller (application #{})", event.application.id),
                     "seller_approved"});
            },
            uid("seller_approved")),
        dispatcher.seller_application_rejected.connect(
            [&notifier](const authevents::SellerApplicationRejected& event) {
                notifier.send(
                    {"email", event.application.applicant.email,
                     fmt::format("Your seller application needs changes: {}", event.reason),
                     "seller_rejected"});
            },
            uid("seller_rejected")),
    };
}

} // namespace notifications::handlers
