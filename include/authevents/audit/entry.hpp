/// @file
/// Building AuditEntry values from events: the event's described fields as JSON, with every
/// personal value (FieldKind email, ip_address, free_text, nested User names and e-mail
/// included) sealed with the key of the subject's scope.
///
/// Building happens in two steps so that a dispatch never waits for (or fails because of) the
/// store: pending_entry() runs on the dispatching thread and touches no store; seal_entry()
/// runs on the audit log's writer thread and looks keys up in the store. make_entry() does both.
///
/// Part of authevents::audit (CMake target authevents::audit); uses nlohmann-json, libsodium.
#pragma once

#include <authevents/audit/owasp.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/audit/sealing.hpp>
#include <authevents/audit/verify.hpp>
#include <authevents/bus/codec.hpp>
#include <authevents/bus/ids.hpp>
#include <authevents/bus/time.hpp>
#include <authevents/describe.hpp>
#include <authevents/event_view.hpp>
#include <authevents/events.hpp>
#include <authevents/field_sink.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace authevents::audit {

/// An entry before sealing: what the dispatching thread builds. Holds personal values in
/// plaintext (in memory only) until seal_entry() seals them. A plain value type.
struct PendingEntry {
    /// Everything but `data`, `source_ip`, `ip_index` (and, for an e-mail subject, `subject`
    /// and `key_scope`), which seal_entry() fills.
    AuditEntry entry;
    nlohmann::json data = nlohmann::json::object(); ///< The fields, personal ones in plaintext.
    /// Where `data` holds a personal value (a string) that seal_entry() seals.
    std::vector<nlohmann::json::json_pointer> personal;
    std::optional<std::string> source_ip; ///< The plaintext source IP, if any.
    /// When the subject is an e-mail address (a failed login): the address, in plaintext. The
    /// subject and the key scope become "email:<blind index>".
    std::optional<std::string> subject_email;
};

/// `time` as RFC 3339 UTC with milliseconds. Thread-safe. @throws std::out_of_range outside
/// years 0000-9999; std::bad_alloc.
inline std::string format_audit_time(AuditTime time) {
    return bus::format_rfc3339(std::chrono::time_point_cast<std::chrono::milliseconds>(time));
}

namespace detail {

using JsonPointer = nlohmann::json::json_pointer;

/// The FieldSink that writes an audit record's data: the fields as JSON, noting where each
/// personal value (a string of a kind other than plain) sits so that seal_entry() can seal it,
/// and the first IP address as the record's source IP. `owner` is the id of the user whose
/// key seals the entry: personal values of any other nested User are left out (the record
/// keeps that user's id only). Absent optionals, also inside arrays, are left out. Not
/// thread-safe (one per entry). @throws std::bad_alloc.
class RecordDataSink final : public FieldSink {
public:
    RecordDataSink(PendingEntry& pending, std::optional<std::int64_t> owner)
        : pending_(pending), owner_(owner) {}

    void begin_object(ObjectKind kind, std::int64_t id) override {
        if (skipping()) {
            ++skip_depth_;
            return;
        }
        bool personal = stack_.empty() || stack_.back().personal_allowed;
        if (kind == ObjectKind::user) {
            personal = personal && owner_ && *owner_ == id;
        }
        open(nlohmann::json::object(), personal);
    }
    void field(const FieldInfo& info) override {
        if (skipping()) {
            return;
        }
        name_ = std::string(info.name);
        // Another person's value: the record keeps their id only.
        skip_next_ = info.kind != FieldKind::plain && !stack_.back().personal_allowed;
    }
    void end_object() override { close(); }
    void begin_array(std::size_t /*size*/) override {
        if (skipping()) {
            ++skip_depth_;
            return;
        }
        open(nlohmann::json::array(), stack_.back().personal_allowed);
    }
    void end_array() override { close(); }
    void null_value() override {
        if (skipping()) {
            consume_skipped();
        }
        // An absent optional element is left out.
    }
    void boolean(bool value) override { place(value); }
    void integer(std::int64_t value) override { place(value); }
    void unsigned_integer(std::uint64_t value) override { place(value); }
    void floating(double value) override { place(value); }
    void string(std::string_view value, FieldKind kind) override {
        const JsonPointer path = next_path();
        if (!place(std::string(value))) {
            return;
        }
        if (kind != FieldKind::plain) {
            pending_.personal.push_back(path);
            if (kind == FieldKind::ip_address && !pending_.source_ip) {
                pending_.source_ip = std::string(value);
            }
        }
    }
    void enumerator(std::string_view word, std::int64_t value,
                    std::string_view /*type_name*/) override {
        if (word.empty()) {
            place(value); // not an enumerator: its number
        } else {
            place(std::string(word));
        }
    }

    /// The data written (the whole object once the walk is done).
    nlohmann::json take() noexcept { return std::move(root_); }

private:
    struct Frame {
        nlohmann::json* node;
        JsonPointer path;
        bool personal_allowed;
    };

    bool skipping() const noexcept { return skip_next_ || skip_depth_ > 0; }

    /// A value of the skipped field (or inside it) ends.
    void consume_skipped() noexcept {
        if (skip_depth_ == 0) {
            skip_next_ = false;
        }
    }

    JsonPointer next_path() const {
        if (stack_.empty()) {
            return JsonPointer();
        }
        const Frame& top = stack_.back();
        return top.node->is_object() ? top.path / name_ : top.path / top.node->size();
    }

    /// Places a scalar; false when it belongs to a skipped field.
    bool place(nlohmann::json value) {
        if (skipping()) {
            consume_skipped();
            return false;
        }
        put(std::move(value));
        return true;
    }

    nlohmann::json& put(nlohmann::json value) {
        if (stack_.empty()) {
            root_ = std::move(value);
            return root_;
        }
        nlohmann::json& top = *stack_.back().node;
        if (top.is_object()) {
            return top[name_] = std::move(value);
        }
        top.push_back(std::move(value));
        return top.back();
    }

    void open(nlohmann::json container, bool personal_allowed) {
        JsonPointer path = next_path();
        nlohmann::json& node = put(std::move(container));
        stack_.push_back(Frame{&node, std::move(path), personal_allowed});
    }

    void close() {
        if (skip_depth_ > 0) {
            --skip_depth_;
            if (skip_depth_ == 0) {
                skip_next_ = false;
            }
            return;
        }
        stack_.pop_back();
    }

    PendingEntry& pending_;
    std::optional<std::int64_t> owner_;
    nlohmann::json root_;
    std::vector<Frame> stack_;
    std::string name_;
    bool skip_next_ = false;
    int skip_depth_ = 0;
};

/// The user id in a reference "user:<id>", if it is one.
inline std::optional<std::int64_t> user_id_of(std::string_view ref) {
    if (ref.substr(0, 5) != "user:" || ref.size() == 5 || ref.size() > 25) {
        return std::nullopt;
    }
    std::int64_t id = 0;
    std::size_t i = 5;
    const bool negative = ref[i] == '-';
    i += negative ? 1 : 0;
    if (i == ref.size()) {
        return std::nullopt;
    }
    for (; i < ref.size(); ++i) {
        if (ref[i] < '0' || ref[i] > '9' || id > (INT64_MAX - 9) / 10) {
            return std::nullopt;
        }
        id = id * 10 + (ref[i] - '0');
    }
    return negative ? -id : id;
}

template <class Event> int event_version() {
    if constexpr (authevents::detail::has_event_codec<Event>::value) {
        return bus::EventCodec<Event>::version;
    } else {
        return 1;
    }
}

} // namespace detail

/// The pending entry of `event`: type, version (its codec's, 1 without one), OWASP name, actor
/// and subject (AuditTraits), the described fields as JSON. Touches no store. A failed login's
/// subject is its e-mail address (sealed scope "email:<blind index>", filled by seal_entry()).
/// An event without a subject user gets its own scope "event:<cloud_event_id or a new id>".
/// Thread-safe. @throws std::bad_alloc; what a custom AuditTraits throws.
template <class Event>
PendingEntry pending_entry(const Event& event, AuditTime time,
                           std::optional<std::string> cloud_event_id = std::nullopt) {
    static_assert(is_described_v<Event>,
                  "authevents::audit::pending_entry<Event>: Event has no description (add "
                  "`static constexpr auto fields = std::make_tuple(authevents::field(...), ...)`, "
                  "see describe.hpp)");
    PendingEntry pending;
    AuditEntry& entry = pending.entry;
    entry.time = time;
    entry.event_type = std::string(Event::name);
    entry.event_version = detail::event_version<Event>();
    entry.owasp = owasp_name(event);
    entry.actor = actor_of(event);
    if (cloud_event_id && !cloud_event_id->empty()) {
        entry.cloud_event_id = std::move(cloud_event_id);
    }
    std::optional<std::int64_t> owner;
    if constexpr (std::is_same_v<Event, UserLoginFailed>) {
        pending.subject_email = event.email;
    } else {
        entry.subject = subject_of(event);
        owner = detail::user_id_of(entry.subject);
        entry.key_scope =
            owner ? entry.subject
                  : "event:" + (entry.cloud_event_id ? *entry.cloud_event_id : bus::new_event_id());
    }
    detail::RecordDataSink sink(pending, owner);
    write_fields(event, sink);
    pending.data = sink.take();
    return pending;
}

/// The pending entry of the viewed event, from its description alone (for a described event
/// the audit log was never told about; view.has_fields() must be true): type and version from
/// the view, no OWASP name, subject the first User in the fields (depth first, outside arrays;
/// "system" when there is none), actor the subject; the fields as pending_entry() writes them.
/// An AuditTraits specialisation is not seen here: add the event to the AuditLog for that.
/// Thread-safe. @throws std::logic_error when the view has no fields; std::bad_alloc.
inline PendingEntry pending_entry(const EventView& view, AuditTime time) {
    PendingEntry pending;
    AuditEntry& entry = pending.entry;
    entry.time = time;
    entry.event_type = std::string(view.name());
    entry.event_version = view.version();
    detail::FirstUserSink first_user;
    view.write_fields(first_user);
    const std::optional<std::int64_t> owner = first_user.id();
    entry.subject = owner ? user_ref(*owner) : std::string(system_actor);
    entry.actor = entry.subject;
    entry.key_scope = owner ? entry.subject : "event:" + bus::new_event_id();
    detail::RecordDataSink sink(pending, owner);
    view.write_fields(sink);
    pending.data = sink.take();
    return pending;
}

/// Caches scope keys for one batch of seal_entry() calls (a batch needs each key once).
/// Not thread-safe: one per batch. Wipes the keys when destroyed.
class ScopeKeys {
public:
    /// Keys from `ring`, created when missing.
    explicit ScopeKeys(KeyRing& ring) : ring_(ring) {}
    ScopeKeys(const ScopeKeys&) = delete;
    ScopeKeys& operator=(const ScopeKeys&) = delete;
    ~ScopeKeys() {
        for (auto& entry : keys_) {
            detail::wipe(entry.second);
        }
    }

    /// The key ring.
    [[nodiscard]] KeyRing& ring() const noexcept { return ring_; }

    /// The key of `scope` (created when missing). @throws as KeyRing::find_or_create().
    const std::string& key(const std::string& scope) {
        auto found = keys_.find(scope);
        if (found == keys_.end()) {
            found = keys_.emplace(scope, ring_.find_or_create(scope)).first;
        }
        return found->second;
    }

private:
    KeyRing& ring_;
    std::map<std::string, std::string> keys_;
};

/// The entry of `pending`, its personal values sealed with the key of its scope (created when
/// missing), the source IP sealed and blind-indexed, the data serialised. An entry with no
/// personal value gets an empty key_scope. Runs on the writer thread (it reads the store).
/// @throws AuditStoreError; std::runtime_error for an unreadable stored key; std::bad_alloc.
inline AuditEntry seal_entry(PendingEntry pending, ScopeKeys& keys) {
    AuditEntry entry = std::move(pending.entry);
    if (pending.subject_email) {
        entry.key_scope = keys.ring().email_scope(*pending.subject_email);
        if (entry.subject.empty()) {
            entry.subject = entry.key_scope;
        }
    }
    const bool sealing = !pending.personal.empty() || pending.source_ip.has_value();
    if (sealing) {
        const std::string& key = keys.key(entry.key_scope);
        for (const auto& path : pending.personal) {
            nlohmann::json& value = pending.data[path];
            if (value.is_string()) {
                value = seal(value.get_ref<const std::string&>(), key);
            }
        }
        if (pending.source_ip) {
            entry.ip_index = keys.ring().ip_index(*pending.source_ip);
            entry.source_ip = seal(*pending.source_ip, key);
        }
    } else {
        entry.key_scope.clear();
    }
    entry.data = pending.data.dump();
    return entry;
}

/// pending_entry() then seal_entry() with a one-entry key cache: the entry of `event`, sealed.
/// @throws as both.
template <class Event>
AuditEntry make_entry(const Event& event, KeyRing& keys, AuditTime time = audit_now(),
                      std::optional<std::string> cloud_event_id = std::nullopt) {
    ScopeKeys cache(keys);
    return seal_entry(pending_entry(event, time, std::move(cloud_event_id)), cache);
}

/// The pending entry of an event whose type the audit log does not know (dispatched but never
/// add()ed): its name only, data `{"recorded_fields": false}`, actor and subject "unknown".
/// Thread-safe. @throws std::bad_alloc.
inline PendingEntry unknown_pending_entry(std::string_view name, AuditTime time) {
    PendingEntry pending;
    pending.entry.time = time;
    pending.entry.event_type = std::string(name);
    pending.entry.actor = "unknown";
    pending.entry.subject = "unknown";
    pending.data = {{"recorded_fields", false}};
    return pending;
}

/// The pending entry of a CloudEvent the audit log cannot decode (unknown type, or data its
/// codec rejects): event_type and version from the type "<prefix>.<name>.v<N>" when it has
/// that form (else the whole type, version 1), the data kept whole but sealed (it may hold
/// anything) as data `{"cloud_event_type", "subject"?, "undecoded": <sealed JSON text>,
/// "error"?}`. Its scope is "user:<id>" for a subject "user/<id>", else "event:<id>".
/// Thread-safe. @throws std::bad_alloc.
inline PendingEntry undecoded_pending_entry(const bus::CloudEvent& event, AuditTime time,
                                            const std::optional<std::string>& error) {
    PendingEntry pending;
    AuditEntry& entry = pending.entry;
    entry.time = time;
    entry.event_type = event.type;
    if (const auto parts = bus::parse_cloud_event_type(event.type)) {
        entry.event_type = std::string(parts->name);
        entry.event_version = parts->version;
    }
    if (!event.id.empty()) {
        entry.cloud_event_id = event.id;
    }
    std::optional<std::int64_t> owner;
    if (event.subject && event.subject->rfind("user/", 0) == 0) {
        owner = detail::user_id_of("user:" + event.subject->substr(5));
    }
    entry.subject = owner ? user_ref(*owner) : "unknown";
    entry.actor = entry.subject;
    entry.key_scope =
        owner ? entry.subject : "event:" + (event.id.empty() ? bus::new_event_id() : event.id);
    pending.data = {{"cloud_event_type", event.type}, {"undecoded", event.data.dump()}};
    if (error) {
        // A codec's message quotes the offending value: it may be personal.
        pending.data["error"] = *error;
        pending.personal.emplace_back("/error");
    }
    pending.personal.emplace_back("/undecoded");
    return pending;
}

/// The pending entry of an audit gap: `lost` events dropped between `first` and `last`
/// (event type "audit_gap", OWASP sys_monitor_disabled, actor "system", subject "audit_log",
/// data `{"lost", "first", "last"}` with RFC 3339 times). Thread-safe. @throws std::bad_alloc.
inline PendingEntry gap_pending_entry(std::uint64_t lost, AuditTime first, AuditTime last,
                                      AuditTime now) {
    PendingEntry pending;
    pending.entry.time = now;
    pending.entry.event_type = std::string(audit_gap_event_type);
    pending.entry.owasp = std::string(owasp::sys_monitor_disabled);
    pending.entry.actor = std::string(system_actor);
    pending.entry.subject = "audit_log";
    pending.data = {
        {"lost", lost}, {"first", format_audit_time(first)}, {"last", format_audit_time(last)}};
    return pending;
}

} // namespace authevents::audit
