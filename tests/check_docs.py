#!/usr/bin/env python3
"""tests/check_docs.py: the documentation's cross-references resolve.

What it checks, in every Markdown file the repository tracks:
  - every relative link [text](path) and image ![alt](path) names a file or folder that
    exists, and a #fragment names a heading of the target Markdown file (GitHub's anchors);
and in every tracked text file:
  - every citation "DESIGN.md §N" or "DESIGN.md section N" names a section "## N. ..." of
    DESIGN.md at the repository root (and §N inside DESIGN.md itself, too).
What it does not check: web links (no network in CI), links inside code.

    python3 tests/check_docs.py [ROOT]      prints each broken reference; exit 1 if any
    python3 tests/check_docs.py --self-test  the checker on a planted tree: one with a broken
                                             link and a citation of a missing section must
                                             fail with exactly those two, a clean one pass
Standard library only; takes well under a second.
"""
import os
import re
import subprocess
import sys
import tempfile

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CITATION = re.compile(r"DESIGN\.md(?:'s)?,?\s+(?:§\s*|section\s+)(\d+)")
LOCAL = re.compile(r"(?<![\w.])§\s*(\d+)")
SKIP_DIRS = {".git", "build", "data", "out", "node_modules", "__pycache__"}
TEXT_EXT = {".md", ".cpp", ".cu", ".h", ".py", ".sh", ".txt", ""}


def tracked_files(root):
    """the files git tracks under root (plus untracked, not ignored); a plain walk outside git"""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, text=True, check=True).stdout
        files = [f for f in out.splitlines() if f and os.path.isfile(os.path.join(root, f))]
        if files:
            return sorted(files)
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if x not in SKIP_DIRS]
        files += [os.path.relpath(os.path.join(d, n), root) for n in names]
    return sorted(files)


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens"""
    h = re.sub(r"`|\*\*|\*|_(?=\w)|(?<=\w)_", "", heading.strip().lower())
    h = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", h)
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")


def prose_lines(text):
    """(line number, line) outside fenced code blocks, with inline code spans blanked"""
    fence = None
    for i, line in enumerate(text.split("\n"), 1):
        m = re.match(r"\s*(```|~~~)", line)
        if m:
            fence = None if fence == m.group(1) else (fence or m.group(1))
            continue
        if fence is None:
            yield i, re.sub(r"`[^`]*`", "``", line)


def anchors(path, cache={}):
    if path not in cache:
        seen, out = {}, set()
        with open(path, encoding="utf-8") as f:
            for _, line in prose_lines(f.read()):
                m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
                if m:
                    s = slug(m.group(1))
                    n = seen.get(s, 0)
                    seen[s] = n + 1
                    out.add(s if n == 0 else f"{s}-{n}")
        cache[path] = out
    return cache[path]


def design_sections(root):
    path = os.path.join(root, "DESIGN.md")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return {int(m.group(1)) for m in re.finditer(r"^## (\d+)\. ", f.read(), re.M)}


def check(root):
    """returns (errors, counts)"""
    errors, n_links, n_cites = [], 0, 0
    sections = design_sections(root)
    files = tracked_files(root)
    for rel in files:
        path = os.path.join(root, rel)
        ext = os.path.splitext(rel)[1]
        if ext not in TEXT_EXT:
            continue
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (UnicodeDecodeError, OSError):
            continue
        if ext == ".md":
            for no, line in prose_lines(text):
                for m in LINK.finditer(line):
                    target = m.group(1)
                    if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):   # http:, mailto:, ...
                        continue
                    n_links += 1
                    file_part, _, frag = target.partition("#")
                    dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
                    if not os.path.exists(dest):
                        errors.append(f"{rel}:{no}: link to {target}: {file_part} does not exist")
                    elif frag and dest.endswith(".md") and frag.lower() not in anchors(dest):
                        errors.append(f"{rel}:{no}: link to {target}: no heading with the anchor #{frag} in "
                                      f"{os.path.relpath(dest, root)}")
        cites = [(no, int(m.group(1))) for no, line in enumerate(text.split("\n"), 1) for m in CITATION.finditer(line)]
        if rel == "DESIGN.md":
            cites += [(no, int(m.group(1))) for no, line in prose_lines(text) for m in LOCAL.finditer(line)]
        for no, n in cites:
            n_cites += 1
            if sections is None:
                errors.append(f"{rel}:{no}: cites DESIGN.md §{n}, but there is no DESIGN.md at the repository root")
            elif n not in sections:
                errors.append(f"{rel}:{no}: cites DESIGN.md §{n}, but DESIGN.md has no section '## {n}. ...' "
                              f"(it has {', '.join(map(str, sorted(sections)))})")
    return errors, (len(files), n_links, n_cites)


def self_test():
    design = "# Design\n\n## 1. Files\n\ntext\n\n## 2. Model\n\nsee §1\n"
    good = {"DESIGN.md": design,
            "README.md": "# Top\n\n[design](DESIGN.md#2-model), ![pic](doc/a.png), [web](https://example.org)\n"
                         "`[not a link](nowhere.md)`\n\n```\n[nor this](nowhere.md)\n```\n",
            "doc/a.png": "", "doc/notes.md": "Up: [readme](../README.md#top). Per DESIGN.md §2.\n",
            "code.cpp": "// the model of DESIGN.md section 2\n"}
    bad = dict(good)
    bad["doc/notes.md"] = "Up: [readme](../READ_ME.md). Per DESIGN.md §2.\n"      # planted: a broken link
    bad["code.cpp"] = "// the model of DESIGN.md section " + "9\n"                  # planted: no section 9
    ok = True
    for name, tree, want in (("clean tree", good, 0), ("planted tree", bad, 2)):
        with tempfile.TemporaryDirectory() as root:
            for rel, text in tree.items():
                os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
                with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
                    f.write(text)
            errors, _ = check(root)
        print(f"self-test, {name}: {len(errors)} broken reference(s), {want} expected")
        for e in errors:
            print("   ", e)
        ok = ok and len(errors) == want
    if ok:
        print("self-test: the checker passes the clean tree and catches both planted errors")
    return ok


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        sys.exit(0 if self_test() else 1)
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    root = os.path.abspath(root)
    errors, (files, links, cites) = check(root)
    for e in errors:
        print(e)
    print(f"check_docs: {files} files, {links} relative links, {cites} DESIGN.md citations: "
          f"{'all resolve' if not errors else f'{len(errors)} broken'}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
