#!/usr/bin/env python3
"""Every contract reference in the repository resolves inside it.

The code cites the contract as `format.md §2.4`, `cache.md §2, §3`,
`format.md §1.2–1.3`, `remote.md "Publication"`. Each such reference must name a
page of docs/spec/ that has a heading for that section: `## §2.4 …` for a number,
a heading containing the quoted words for a name. A reference written with a
`docs/` path (not `docs/spec/`) points at docs/<page> instead. Mentions of the
out-of-repository contract (`shared/spec/`, `shared/design/`) fail too.

Usage: spec_refs_test.py [REPO_ROOT]   (default: the parent of this file's directory)
Exit status 0 when everything resolves, 1 otherwise (each failure on stderr as
path:line: what, so an editor can jump to it). Python 3 standard library only.
"""
import os
import re
import sys
import tempfile

SCANNED = ["src", "server", "tools", "include", "bench", "tests", "fuzz", "examples", "scripts", "docs",
           "README.md", "CMakeLists.txt"]
SKIPPED_DIRS = {"build", "node_modules", ".git", "__pycache__"}
TEXT_SUFFIXES = {".cc", ".h", ".c", ".hpp", ".cpp", ".md", ".txt", ".cmake", ".py", ".mjs", ".js", ".json",
                 ".toml", ".sh", ".in", ""}

# Pages whose named sections (`remote.md "Publication"`) are checked.
CONTRACT_PAGES = {"format.md", "cache.md", "engine.md", "remote.md", "deviations.md"}

SECTION = r"§\d+(?:\.\d+)*(?:[–-]\d+(?:\.\d+)*)?"
# An optional path, a page name, then one or more § sections (comma-separated) or a quoted heading name.
REF = re.compile(
    r"(?P<path>(?:[\w.-]+/)*)(?P<page>[a-z][\w-]*\.md)"
    r"(?:(?P<sections>\s+" + SECTION + r"(?:\s*,\s*" + SECTION + r")*)|\s+\"(?P<name>[^\"\n]+)\")")
OUTSIDE = re.compile(r"shared/(?:spec|design)/")


def headings(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if re.match(r"#{1,6}\s", line)]


def section_numbers(sections):
    """'§2, §3' → ['2', '3']; '§1.2–1.3' → ['1.2', '1.3'] (both ends of a range)."""
    out = []
    for s in re.findall(SECTION, sections):
        for part in re.split(r"[–-]", s.lstrip("§")):
            out.append(part)
    return out


def has_section(heads, number):
    pat = re.compile(r"#{1,6}\s+§" + re.escape(number) + r"(?=\s|$)")
    return any(pat.match(h) for h in heads)


def has_name(heads, name):
    return any(name.lower() in h.lower() for h in heads)


def target_page(root, path, page):
    norm = path.replace("\\", "/")
    if norm.endswith("docs/") and not norm.endswith("spec/docs/"):
        return os.path.join(root, "docs", page)
    return os.path.join(root, "docs", "spec", page)


def files_under(root):
    for entry in SCANNED:
        top = os.path.join(root, entry)
        if os.path.isfile(top):
            yield top
            continue
        for d, dirs, names in os.walk(top):
            dirs[:] = sorted(x for x in dirs if x not in SKIPPED_DIRS and not x.startswith("build"))
            for n in sorted(names):
                if os.path.splitext(n)[1] in TEXT_SUFFIXES:
                    yield os.path.join(d, n)


def check(root):
    """Returns (references checked, [failure messages])."""
    failures = []
    checked = 0
    cache = {}
    this = os.path.abspath(__file__)
    for path in files_under(root):
        if os.path.abspath(path) == this:
            continue  # its docstring shows the forms, not references
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (UnicodeDecodeError, OSError):
            continue
        rel = os.path.relpath(path, root)
        for no, line in enumerate(lines, 1):
            if OUTSIDE.search(line):
                failures.append(f"{rel}:{no}: refers to the contract outside the repository "
                                f"({OUTSIDE.search(line).group(0)}); cite docs/spec/ instead")
            for m in REF.finditer(line):
                page_path = target_page(root, m.group("path"), m.group("page"))
                spec = os.path.basename(os.path.dirname(page_path)) == "spec"
                named = m.group("name") is not None
                if named and not (spec and m.group("page") in CONTRACT_PAGES and os.path.isfile(page_path)):
                    # A named section of an operator page (docs/api-server.md "Limits"), or a file
                    # name followed by a quoted word (a shell script's `figures.md "$out"`).
                    continue
                checked += 1
                shown = os.path.relpath(page_path, root)
                if not os.path.isfile(page_path):
                    failures.append(f"{rel}:{no}: {m.group(0).strip()}: {shown} does not exist")
                    continue
                if page_path not in cache:
                    cache[page_path] = headings(page_path)
                heads = cache[page_path]
                if m.group("name") is not None:
                    if not has_name(heads, m.group("name")):
                        failures.append(f"{rel}:{no}: {m.group(0).strip()}: no heading containing "
                                        f"\"{m.group('name')}\" in {shown}")
                    continue
                for number in section_numbers(m.group("sections")):
                    if not has_section(heads, number):
                        failures.append(f"{rel}:{no}: {m.group(0).strip()}: no heading \"§{number}\" in {shown}")
    return checked, failures


def self_test():
    """The checker must catch what it is for: a dangling number, a dangling name, a missing page."""
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "docs", "spec"))
        os.makedirs(os.path.join(root, "src"))
        with open(os.path.join(root, "docs", "spec", "format.md"), "w", encoding="utf-8") as f:
            f.write("# format\n## §1 Keys\n### §1.1 Table\n## §2 File\n## §3 Publication\n")
        with open(os.path.join(root, "src", "a.cc"), "w", encoding="utf-8") as f:
            f.write("// format.md §1, §1.1 and format.md §1–2; format.md \"Publication\"\n"  # resolve
                    "// format.md §1.2\n"                 # dangling number
                    "// format.md §2, §4\n"               # second of a list dangling
                    "// format.md §1.1–1.3\n"             # end of a range dangling
                    "// format.md \"Reading\"\n"          # dangling name
                    "// engine.md §1\n"                   # missing page
                    "// see ../shared/spec/format.md\n")  # outside the repository
        checked, failures = check(root)
        expected = ["a.cc:2:", "a.cc:3:", "a.cc:4:", "a.cc:5:", "a.cc:6:", "a.cc:7:"]
        got = sorted({f.split(" ", 1)[0].replace(os.path.join("src", ""), "") for f in failures})
        if got != expected or any("a.cc:1:" in f for f in failures):
            sys.stderr.write("spec_refs self-test failed: expected failures on " + ", ".join(expected) +
                             ", got:\n  " + "\n  ".join(failures) + "\n")
            return False
    return True


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    if not self_test():
        return 1
    checked, failures = check(root)
    for f in failures:
        sys.stderr.write(f + "\n")
    if failures:
        sys.stderr.write(f"spec_refs: {len(failures)} of the contract references do not resolve in docs/spec/ "
                         "(add the section heading, or fix the reference)\n")
        return 1
    if checked == 0:
        sys.stderr.write(f"spec_refs: no references found under {root}: wrong root?\n")
        return 1
    print(f"spec_refs: {checked} references resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
