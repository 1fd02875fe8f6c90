/// @file
/// DataWriter: the FieldSink that writes a described event as CloudEvent `data` (the inverse
/// of DataReader), and finds the subject the data implies. The codec every described event
/// gets (codec.hpp) and the publisher's encoding of events it was never told about
/// (EventTypeRegistry::encode(const EventView&)) both write through it, so the two agree.
///
/// Part of authevents::bus (CMake target authevents::bus); uses nlohmann-json.
#pragma once

#include <authevents/bus/detail/json.hpp>
#include <authevents/bus/envelope.hpp>
#include <authevents/field_sink.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authevents::detail {

/// @throws bus::CloudEventError(path, "<value> is out of range for <range_name> (min..max)").
[[noreturn]] inline void throw_out_of_range(const std::string& path, const std::string& value,
                                            std::int64_t min, std::int64_t max,
                                            std::string_view range_name) {
    throw bus::CloudEventError(path, value + " is out of range for " + std::string(range_name) +
                                         " (" + std::to_string(min) + ".." + std::to_string(max) +
                                         ")");
}

} // namespace authevents::detail

namespace authevents::bus {

/// The FieldSink that finds the CloudEvents subject a described event's data implies:
/// `user/<id>` or `seller_application/<id>` for its first top-level, non-optional field
/// holding a User or a SellerApplication. The derived codec's subject() and DataWriter both
/// apply this rule through it. Not thread-safe (one per walk). @throws std::bad_alloc.
class SubjectFinder final : public StructureSink {
public:
    /// The subject found, or std::nullopt.
    [[nodiscard]] const std::optional<std::string>& subject() const noexcept { return subject_; }

    /// @copydoc FieldSink::begin_object
    void begin_object(ObjectKind kind, std::int64_t id) override {
        if (kind != ObjectKind::plain && !subject_ && depth_ == 1 && !field_optional_) {
            subject_ =
                (kind == ObjectKind::user ? "user/" : "seller_application/") + std::to_string(id);
        }
        ++depth_;
    }
    /// @copydoc FieldSink::field
    void field(const FieldInfo& info) override { field_optional_ = info.optional; }
    /// @copydoc FieldSink::end_object
    void end_object() override { --depth_; }
    /// @copydoc FieldSink::begin_array
    void begin_array(std::size_t /*size*/) override { ++depth_; }
    /// @copydoc FieldSink::end_array
    void end_array() override { --depth_; }

private:
    int depth_ = 0; // containers open: 1 inside the event's own object
    bool field_optional_ = false;
    std::optional<std::string> subject_;
};

/// Writes the fields a FieldSink receives as a CloudEvent data object: one member per
/// present field, in description order, named as the field; nested described types as
/// objects, vectors as arrays (an absent optional element as null), enums as their words.
/// Checks each bounded field's range and that each enum value is an enumerator.
///
/// It also derives the CloudEvents subject, by SubjectFinder's rule.
///
/// Not thread-safe: one writer per value being written. @throws CloudEventError naming the
/// field (`data.profile_completion`) for a value out of its field's range or an enum value
/// that is not an enumerator; std::bad_alloc.
class DataWriter final : public FieldSink {
public:
    /// A writer whose error messages name fields under `path` ("data" gives "data.user.id";
    /// "" gives "user.id").
    explicit DataWriter(std::string path = "data") : path_(std::move(path)) {}

    /// The JSON written so far (the whole object once the walk is done); leaves null behind.
    [[nodiscard]] nlohmann::json take() noexcept { return std::move(root_); }

    /// The subject the data implies (see the class), or std::nullopt.
    [[nodiscard]] const std::optional<std::string>& subject() const noexcept {
        return subject_.subject();
    }

    /// @copydoc FieldSink::begin_object
    void begin_object(ObjectKind kind, std::int64_t id) override {
        subject_.begin_object(kind, id);
        open(nlohmann::json::object());
    }
    /// @copydoc FieldSink::field
    void field(const FieldInfo& info) override {
        field_ = info;
        subject_.field(info);
    }
    /// @copydoc FieldSink::end_object
    void end_object() override {
        subject_.end_object();
        close();
    }
    /// @copydoc FieldSink::begin_array
    void begin_array(std::size_t size) override {
        subject_.begin_array(size);
        open(nlohmann::json::array());
    }
    /// @copydoc FieldSink::end_array
    void end_array() override {
        subject_.end_array();
        close();
    }
    /// @copydoc FieldSink::null_value
    void null_value() override { place(nullptr); }
    /// @copydoc FieldSink::boolean
    void boolean(bool value) override { place(value); }
    /// @copydoc FieldSink::integer
    void integer(std::int64_t value) override {
        if (in_field() && field_.bounded && (value < field_.min || value > field_.max)) {
            detail::throw_out_of_range(value_path(), std::to_string(value), field_.min, field_.max,
                                       field_.range_name);
        }
        place(value);
    }
    /// @copydoc FieldSink::unsigned_integer
    void unsigned_integer(std::uint64_t value) override {
        if (in_field() && field_.bounded &&
            (field_.max < 0 || value > static_cast<std::uint64_t>(field_.max) ||
             (field_.min > 0 && value < static_cast<std::uint64_t>(field_.min)))) {
            detail::throw_out_of_range(value_path(), std::to_string(value), field_.min, field_.max,
                                       field_.range_name);
        }
        place(value);
    }
    /// @copydoc FieldSink::floating
    void floating(double value) override { place(value); }
    /// @copydoc FieldSink::string
    void string(std::string_view value, FieldKind /*kind*/) override { place(std::string(value)); }
    /// @copydoc FieldSink::enumerator
    void enumerator(std::string_view word, std::int64_t value,
                    std::string_view type_name) override {
        if (word.empty()) {
            throw CloudEventError(value_path(), "not a " + std::string(type_name) +
                                                    " enumerator (value " + std::to_string(value) +
                                                    ")");
        }
        place(std::string(word));
    }

private:
    /// True when the next value is a field's own (not an array element).
    bool in_field() const noexcept { return !stack_.empty() && stack_.back().node->is_object(); }

    /// The path of the value about to be placed.
    std::string value_path() const {
        if (stack_.empty()) {
            return path_;
        }
        const nlohmann::json& top = *stack_.back().node;
        if (top.is_object()) {
            return detail::join_path(stack_.back().path, field_.name);
        }
        return stack_.back().path + "[" + std::to_string(top.size()) + "]";
    }

    nlohmann::json& place(nlohmann::json value) {
        if (stack_.empty()) {
            root_ = std::move(value);
            return root_;
        }
        nlohmann::json& top = *stack_.back().node;
        if (top.is_object()) {
            return top[std::string(field_.name)] = std::move(value);
        }
        top.push_back(std::move(value));
        return top.back();
    }

    void open(nlohmann::json container) {
        std::string path = value_path();
        nlohmann::json& node = place(std::move(container));
        stack_.push_back(Frame{&node, std::move(path)});
    }

    void close() noexcept {
        if (!stack_.empty()) {
            stack_.pop_back();
        }
    }

    struct Frame {
        nlohmann::json* node;
        std::string path;
    };

    std::string path_;
    nlohmann::json root_;
    std::vector<Frame> stack_;
    FieldInfo field_;
    SubjectFinder subject_;
};

} // namespace authevents::bus
