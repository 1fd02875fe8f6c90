#include "audit_trail.hpp"

#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/verify.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

namespace authsvc {

namespace audit = authevents::audit;

namespace {

audit::ProjectionRunnerOptions runner_options(audit::AuditStore& store) {
    audit::ProjectionRunnerOptions options;
    options.source = &store; // a batch the live feed missed is read back from the log
    return options;
}

} // namespace

AuditTrail::AuditTrail(const std::filesystem::path& dir)
    : store_((dir / "audit.db").string()),
      runner_((dir / "read_models.db").string(), runner_options(store_)), log_(store_),
      reader_(log_.keys()) {
    runner_.emplace<audit::LoginHistory>();
    runner_.emplace<audit::FailedLoginsPerIpHour>();
    runner_.emplace<audit::SellerFunnel>();
    // The read models follow the log: each batch the log commits is applied on its writer
    // thread, state and checkpoint in one read-model transaction.
    feed_ = log_.committed().connect(
        [this](const std::vector<audit::AuditRecord>& records) { runner_.apply(records); });
}

void AuditTrail::attach(authevents::EventDispatcher& dispatcher) { log_.attach(dispatcher); }

AuditSummary AuditTrail::summary(const std::vector<std::int64_t>& users,
                                 const std::vector<std::string>& ips) {
    if (!log_.flush(std::chrono::seconds(30))) {
        throw std::runtime_error("audit trail: the log did not write its queue within 30 s");
    }
    AuditSummary summary;
    const audit::VerifyReport report = audit::verify(store_);
    summary.chain_ok = report.ok;
    summary.verify_text =
        report.ok ? "chain ok: " + std::to_string(report.records_checked) + " records verified"
                  : "chain BROKEN: " + report.first_break->message;
    summary.records = store_.count();
    const audit::ChainHead head = store_.head();
    summary.head = std::to_string(head.sequence) + ":" + audit::to_hex(head.hash);

    audit::ReadModelReader models(runner_.path());
    for (const std::int64_t user : users) {
        summary.logins_per_user.emplace_back(
            user, audit::LoginHistory::for_user(models, user, 10000).size());
    }
    for (const audit::BruteForceSuspect& suspect :
         audit::FailedLoginsPerIpHour::suspects(models, audit::audit_now(), 1)) {
        // The read model keeps the blind index only: name the addresses the demo knows.
        std::string ip = "(index " + suspect.ip_index.substr(0, 12) + "...)";
        for (const std::string& known : ips) {
            if (log_.keys()->ip_index(known) == suspect.ip_index) {
                ip = known;
            }
        }
        summary.failures_per_ip.emplace_back(ip, std::llround(suspect.failures));
    }
    summary.funnel = audit::SellerFunnel::summary(models);
    return summary;
}

void AuditTrail::rebuild() {
    if (!log_.flush(std::chrono::seconds(30))) {
        throw std::runtime_error("audit trail: the log did not write its queue within 30 s");
    }
    runner_.rebuild(store_);
}

std::size_t AuditTrail::erase_user(std::int64_t user_id, const std::vector<std::string>& emails) {
    if (!log_.flush(std::chrono::seconds(30))) {
        throw std::runtime_error("audit trail: the log did not write its queue within 30 s");
    }
    const audit::ErasureReport report = reader_.erase_user(user_id, emails);
    return (report.user_key ? 1 : 0) + report.email_keys;
}

audit::OpenedPage AuditTrail::records_of(std::int64_t user_id, std::size_t limit) {
    audit::ReaderQuery query;
    query.user_id = user_id;
    query.limit = limit;
    return reader_.query(query);
}

} // namespace authsvc
