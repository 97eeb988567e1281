#!/usr/bin/env python3
"""tutorial/excerpts.py: code excerpts in the chapters, cut from the source so they cannot go stale.

A chapter marks an excerpt like this (the lines between the markers are generated):

    <!-- excerpt file="train_gpt.cu" after="void gpt_forward(" from="for (int l = 0" to="    }" -->
    ```cpp
    ...
    ```
    <!-- /excerpt -->

file: the source, from the repository root; after: a string on the line where the search
starts (say, the function's first line; optional); from: the first line at or after it that
contains this string starts the excerpt; to: the first line from there on that *starts with*
this string ends it (inclusive). The lines are dedented by their common indentation.

    python3 tutorial/excerpts.py            checks that every excerpt equals its source (make test)
    python3 tutorial/excerpts.py --update   rewrites every excerpt from its source
    python3 tutorial/excerpts.py --self-test  a planted stale excerpt and a planted missing
                                              anchor must both be reported
"""
import glob
import os
import re
import sys
import tempfile
import textwrap

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BLOCK = re.compile(r'(<!-- excerpt ([^>]*?) -->\n)(.*?)(<!-- /excerpt -->)', re.S)
ATTR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def cut(root, attrs):
    """the excerpt's text, or raises ValueError saying what could not be found"""
    path = os.path.join(root, attrs["file"])
    if not os.path.isfile(path):
        raise ValueError(f'{attrs["file"]} does not exist')
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    if "after" in attrs:
        i = next((k for k, l in enumerate(lines) if attrs["after"] in l), None)
        if i is None:
            raise ValueError(f'no line of {attrs["file"]} contains after="{attrs["after"]}"')
    start = next((k for k in range(i, len(lines)) if attrs["from"] in lines[k]), None)
    if start is None:
        raise ValueError(f'no line of {attrs["file"]} from line {i + 1} on contains from="{attrs["from"]}"')
    end = next((k for k in range(start + 1, len(lines)) if lines[k].startswith(attrs["to"])), None)
    if end is None:
        raise ValueError(f'no line of {attrs["file"]} after line {start + 1} starts with to="{attrs["to"]}"')
    if end - start > 60:
        raise ValueError(f'{end - start + 1} lines from {attrs["file"]}: an excerpt should be short (at most 60)')
    return textwrap.dedent("\n".join(lines[start:end + 1])) + "\n"


def lang(file):
    return "cpp" if file.endswith((".cpp", ".cu", ".h")) else "python" if file.endswith(".py") else ""


def process(root, update):
    """checks (or rewrites) every excerpt under root/tutorial and root/*.md; returns the problems"""
    problems, count = [], 0
    files = sorted(glob.glob(os.path.join(root, "tutorial", "**", "*.md"), recursive=True) + glob.glob(os.path.join(root, "*.md")))
    for md in files:
        text = open(md, encoding="utf-8").read()
        rel = os.path.relpath(md, root)

        def replace(m):
            nonlocal count
            count += 1
            attrs = {k: v.replace('\\"', '"') for k, v in ATTR.findall(m.group(2))}
            line = text[:m.start()].count("\n") + 1
            missing = [k for k in ("file", "from", "to") if k not in attrs]
            if missing:
                problems.append(f"{rel}:{line}: the excerpt marker lacks {', '.join(missing)}")
                return m.group(0)
            try:
                body = f"```{lang(attrs['file'])}\n{cut(root, attrs)}```\n"
            except ValueError as e:
                problems.append(f"{rel}:{line}: {e}")
                return m.group(0)
            if body != m.group(3) and not update:
                problems.append(f"{rel}:{line}: the excerpt of {attrs['file']} differs from the source: "
                                f"run python3 tutorial/excerpts.py --update and read the change")
            return m.group(1) + body + m.group(4)

        new = BLOCK.sub(replace, text)
        if update and new != text:
            open(md, "w", encoding="utf-8").write(new)
            print(f"updated {rel}")
    return problems, count


def self_test():
    src = "int f(int x) {\n    int y = x;\n    for (int i = 0; i < 3; i++) {\n        y += i;\n    }\n    return y;\n}\n"
    good = ('<!-- excerpt file="a.cpp" after="int f(" from="for (int i" to="    }" -->\n'
            "```cpp\nfor (int i = 0; i < 3; i++) {\n    y += i;\n}\n```\n<!-- /excerpt -->\n")
    stale = good.replace("y += i;", "y -= i;")
    gone = good.replace('from="for (int i"', 'from="while ("')
    ok = True
    for name, md, want in (("a fresh excerpt", good, 0), ("a stale excerpt", stale, 1), ("a missing anchor", gone, 1)):
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "tutorial"))
            open(os.path.join(root, "a.cpp"), "w").write(src)
            open(os.path.join(root, "tutorial", "x.md"), "w").write(md)
            problems, _ = process(root, False)
        print(f"self-test, {name}: {len(problems)} problem(s), {want} expected" + "".join(f"\n    {p}" for p in problems))
        ok = ok and len(problems) == want
    return ok


def main():
    if sys.argv[1:] == ["--self-test"]:
        ok = self_test()
        print("self-test: " + ("the excerpt check catches a stale excerpt and a missing anchor" if ok else "BROKEN"))
        sys.exit(0 if ok else 1)
    update = sys.argv[1:] == ["--update"]
    problems, count = process(ROOT, update)
    for p in problems:
        print(p)
    print(f"excerpts: {count} in the chapters, {'all equal to their source' if not problems else f'{len(problems)} problem(s)'}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
