/// @file
/// ProjectionRunner's parsing of a record's data (audit/projection_runner.hpp): bounded
/// (RecordDataLimits) before the JSON parser runs, parsed at most once per batch however many
/// projections handle the record, and turned into a rejection reason when it cannot be used.
/// Nothing here is public API.
///
/// Part of authevents::audit (nlohmann-json). Not thread-safe: a ParsedRecordData belongs to
/// the batch that parses it.
#pragma once

#include <authevents/audit/read_model.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/bus/detail/json.hpp>
#include <authevents/bus/envelope.hpp>

#include <nlohmann/json.hpp>

#include <string>

namespace authevents::audit::detail {

/// A record's data, parsed once per batch for every projection that handles it.
struct ParsedRecordData {
    bool done = false;   ///< parse_record_data() ran.
    nlohmann::json json; ///< The data, a JSON object when `error` is empty.
    std::string error;   ///< Non-empty: why the record is rejected.
};

/// Parses `record`'s data into `parsed` unless that was done already; returns `parsed`.
/// Data over `limits`, malformed JSON or JSON that is not an object leaves an `error` naming
/// the record, never an exception (other than std::bad_alloc).
inline const ParsedRecordData& parse_record_data(const AuditRecord& record,
                                                 const RecordDataLimits& limits,
                                                 ParsedRecordData& parsed) {
    if (parsed.done) {
        return parsed;
    }
    parsed.done = true;
    const std::string prefix = "record " + std::to_string(record.sequence) + " (" +
                               authevents::detail::quote_for_message(record.event_type) +
                               "): data ";
    try {
        const bus::CloudEventLimits bounds{limits.max_bytes, limits.max_string_bytes,
                                           limits.max_depth};
        authevents::detail::check_cloud_event_limits(record.data, bounds);
        parsed.json = nlohmann::json::parse(record.data);
        if (!parsed.json.is_object()) {
            parsed.error = prefix + "is " + authevents::detail::describe_json_type(parsed.json) +
                           ", expected a JSON object";
        }
    } catch (const bus::CloudEventError& error) {
        // The limits are the runner's: name its option, not the CloudEvent one.
        std::string what = error.what();
        const auto name = what.find("CloudEventLimits::");
        if (name != std::string::npos) {
            what.replace(name, 16, "RecordDataLimits");
        }
        parsed.error = prefix + "is over a limit: " + what;
    } catch (const nlohmann::json::exception& error) {
        parsed.error = prefix + "is not valid JSON: " + error.what();
    }
    return parsed;
}

} // namespace authevents::audit::detail
