// extract_snippets: turns the C++ blocks of one Markdown file into sources the tests build.
//
//   extract_snippets <markdown> <display name> <stem> <out dir> [<context header>]
//
// Every ```cpp (or c++, cxx, cc, hpp) block must follow, on the line right before its fence, a
// marker saying what the fragment needs around it (see docs/contributing.md):
//
//   <!-- snippet: program -->    a whole program: own translation unit, built, linked and run
//   <!-- snippet: global -->     namespace-scope code compiled at global scope
//   <!-- snippet: namespace -->  namespace-scope code compiled in a namespace of its own
//   <!-- snippet: body -->       statements compiled as the body of a function of its own,
//                                after the context's AUTHEVENTS_SNIPPET_LOCALS (if defined)
//   <!-- snippet: output -->     (before any fence) what the program above prints
//
// Writes <out dir>/<stem>_fragments.cpp (the context header, then every global, namespace and
// body fragment in document order, each with #line pointing into the Markdown), and for the
// k-th program <stem>_program_<k>.cpp and <stem>_program_<k>.expected (its shown output, empty
// when none is shown). Files are rewritten only when their content changes. Exits 1 with
// "<file>:<line>: <problem>" for an unmarked C++ block, an unknown marker, a marker not right
// before a fence, an output block not following a program, or an unterminated fence.
#include <cctype>
#include <cstddef>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Block {
    std::string kind;              // program, global, namespace, body, output
    std::size_t first_line = 0;    // 1-based line of the first code line
    std::vector<std::string> code; // without the fences
};

std::string trim_left(const std::string& text) {
    std::size_t start = 0;
    while (start < text.size() && (text[start] == ' ' || text[start] == '\t')) {
        ++start;
    }
    return text.substr(start);
}

std::string trim(const std::string& text) {
    std::string result = trim_left(text);
    while (!result.empty() && std::isspace(static_cast<unsigned char>(result.back())) != 0) {
        result.pop_back();
    }
    return result;
}

std::string lower(std::string text) {
    for (char& c : text) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return text;
}

bool is_cpp_language(const std::string& info) {
    const std::string language = lower(trim(info).substr(0, trim(info).find(' ')));
    return language == "cpp" || language == "c++" || language == "cxx" || language == "cc" ||
           language == "hpp";
}

// True for a line that closes a fence opened with `ticks` backticks: only backticks, at least
// as many.
bool closes_fence(const std::string& line, std::size_t ticks) {
    const std::string text = trim(line);
    return text.size() >= ticks && text.find_first_not_of('`') == std::string::npos;
}

// The kind named by a marker line, or "" when the line is no marker.
std::string marker_kind(const std::string& line, const std::string& where) {
    const std::string text = trim(line);
    const std::string open = "<!-- snippet:";
    if (text.compare(0, open.size(), open) != 0) {
        return "";
    }
    const std::string close = "-->";
    if (text.size() < open.size() + close.size() ||
        text.compare(text.size() - close.size(), close.size(), close) != 0) {
        throw Failure(where + ": a snippet marker must fit on one line: <!-- snippet: KIND -->");
    }
    const std::string kind =
        trim(text.substr(open.size(), text.size() - open.size() - close.size()));
    if (kind != "program" && kind != "global" && kind != "namespace" && kind != "body" &&
        kind != "output") {
        throw Failure(where + ": unknown snippet kind '" + kind +
                      "' (program, global, namespace, body or output)");
    }
    return kind;
}

std::vector<Block> parse(const std::vector<std::string>& lines, const std::string& name) {
    std::vector<Block> blocks;
    std::string pending;          // kind of a marker seen on the previous line
    std::size_t pending_line = 0; // its line
    bool program_open = false;    // a program was seen and no output block yet
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const std::string where = name + ":" + std::to_string(i + 1);
        const std::string stripped = trim_left(lines[i]);
        const std::string kind = marker_kind(lines[i], where);
        if (!kind.empty()) {
            if (!pending.empty()) {
                throw Failure(name + ":" + std::to_string(pending_line) +
                              ": a snippet marker must be right before a fence");
            }
            pending = kind;
            pending_line = i + 1;
            continue;
        }
        if (stripped.compare(0, 3, "```") != 0) {
            if (!pending.empty()) {
                throw Failure(name + ":" + std::to_string(pending_line) +
                              ": a snippet marker must be right before a fence");
            }
            continue;
        }
        // A fence: collect its body (indentation of the fence removed from each line).
        const std::size_t indent = lines[i].size() - stripped.size();
        const std::size_t ticks = stripped.find_first_not_of('`') == std::string::npos
                                      ? stripped.size()
                                      : stripped.find_first_not_of('`');
        const bool cpp = is_cpp_language(stripped.substr(ticks));
        Block block;
        block.kind = pending;
        block.first_line = i + 2;
        std::size_t j = i + 1;
        for (; j < lines.size() && !closes_fence(lines[j], ticks); ++j) {
            block.code.push_back(lines[j].size() >= indent ? lines[j].substr(indent) : "");
        }
        if (j == lines.size()) {
            throw Failure(where + ": this fence is never closed");
        }
        if (cpp && pending.empty()) {
            throw Failure(where + ": every C++ block needs a marker on the line before its fence, "
                                  "e.g. <!-- snippet: body --> (see docs/contributing.md)");
        }
        if (!cpp && !pending.empty() && pending != "output") {
            throw Failure(where + ": a '" + pending + "' marker must precede a ```cpp fence");
        }
        if (pending == "output") {
            if (!program_open) {
                throw Failure(where + ": an output block must follow a program snippet");
            }
            program_open = false;
        } else if (!pending.empty()) {
            program_open = pending == "program";
        }
        if (!pending.empty()) {
            blocks.push_back(std::move(block));
        }
        pending.clear();
        i = j;
    }
    if (!pending.empty()) {
        throw Failure(name + ":" + std::to_string(pending_line) +
                      ": a snippet marker must be right before a fence");
    }
    return blocks;
}

void write_if_changed(const std::string& path, const std::string& content) {
    {
        std::ifstream in(path, std::ios::binary);
        if (in) {
            std::ostringstream old;
            old << in.rdbuf(); // (istreambuf_iterator trips g++ 12's -Wnull-dereference at -O2)
            if (old.str() == content) {
                return;
            }
        }
    }
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) {
        throw Failure("cannot write " + path);
    }
}

std::string line_directive(std::size_t line, const std::string& name) {
    return "#line " + std::to_string(line) + " \"" + name + "\"\n";
}

std::string joined(const std::vector<std::string>& code) {
    std::string text;
    for (const std::string& line : code) {
        text += line;
        text += '\n';
    }
    return text;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 5 && argc != 6) {
        std::cerr << "usage: extract_snippets <markdown> <display name> <stem> <out dir> "
                     "[<context header>]\n";
        return 2;
    }
    const std::string markdown = argv[1];
    const std::string name = argv[2];
    const std::string stem = argv[3];
    const std::string out_dir = argv[4];
    const std::string context = argc == 6 ? argv[5] : "";
    try {
        std::ifstream in(markdown);
        if (!in) {
            throw Failure("cannot read " + markdown);
        }
        std::vector<std::string> lines;
        for (std::string line; std::getline(in, line);) {
            lines.push_back(line);
        }
        const std::vector<Block> blocks = parse(lines, name);

        std::ostringstream fragments;
        fragments << "// Generated from " << name << " by extract_snippets: do not edit.\n";
        if (!context.empty()) {
            fragments << "#include \"" << context << "\"\n";
        }
        std::size_t programs = 0;
        for (std::size_t b = 0; b < blocks.size(); ++b) {
            const Block& block = blocks[b];
            const std::string id = "snippet_" + stem + "_" + std::to_string(block.first_line);
            if (block.kind == "program") {
                ++programs;
                const std::string base =
                    out_dir + "/" + stem + "_program_" + std::to_string(programs);
                write_if_changed(base + ".cpp", "// Generated from " + name + ": do not edit.\n" +
                                                    line_directive(block.first_line, name) +
                                                    joined(block.code));
                const bool shown = b + 1 < blocks.size() && blocks[b + 1].kind == "output";
                write_if_changed(base + ".expected", shown ? joined(blocks[b + 1].code) : "");
            } else if (block.kind == "global") {
                fragments << line_directive(block.first_line, name) << joined(block.code);
            } else if (block.kind == "namespace") {
                fragments << "namespace " << id << " {\n"
                          << line_directive(block.first_line, name) << joined(block.code)
                          << "} // namespace " << id << '\n';
            } else if (block.kind == "body") {
                // The context's locals (if it defines AUTHEVENTS_SNIPPET_LOCALS) are locals of
                // the function, so a lambda that forgets to capture one does not compile.
                fragments << "namespace " << id << " {\n[[maybe_unused]] void run() {\n"
                          << "#ifdef AUTHEVENTS_SNIPPET_LOCALS\n#line 1 \"(context locals)\"\n"
                          << "AUTHEVENTS_SNIPPET_LOCALS\n"
                          << "#endif\n{\n"
                          << line_directive(block.first_line, name) << joined(block.code)
                          << "}\n}\n} // namespace " << id << '\n';
            }
        }
        write_if_changed(out_dir + "/" + stem + "_fragments.cpp", fragments.str());
        write_if_changed(out_dir + "/" + stem + ".programs", std::to_string(programs) + "\n");
    } catch (const std::exception& error) {
        std::cerr << error.what() << '\n';
        return 1;
    }
    return 0;
}
