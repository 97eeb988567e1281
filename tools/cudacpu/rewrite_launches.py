#!/usr/bin/env python3
"""tools/cudacpu/rewrite_launches.py: a .cu file as host C++ for the CPU execution mode.

    python3 tools/cudacpu/rewrite_launches.py train_gpt.cu > build/cudacpu/train_gpt.cpp

The only source rewrite the CPU mode needs; everything else is done by cudacpu.h, which the
build force-includes. Two things change, and line numbers stay as they were (a #line
directive keeps __FILE__ too, so messages and the launch sites they name point at the .cu):

  kernel<<<grid, block, smem, stream>>>(a, b)
      -> cudacpu::launch(cudacpu::launch_config(grid, block, smem, stream), "kernel", __FILE__,
                         __LINE__, [&](auto&&... p) { kernel(p...); }, a, b)
     (the lambda calls the kernel as written, so template arguments deduce as before)

  extern __shared__ float a[];      ->  float* a = (float*)cudacpu::dynamic_shared_memory();

  __shared__ float s[32];           ->  __shared__ float s[32]; static const bool cudacpu_registered_s =
                                        cudacpu::register_shared((void*)&s, sizeof s);
     (__shared__ means static; the registration lets the scheduler refill s before each block)

An `#include "x.cu"` is replaced by x.cu itself, rewritten the same way. Comments, strings
and character literals are left alone. Not a C++ parser: a launch must be written
`name<<<...>>>(...)`, with `name` an identifier, possibly qualified or with template
arguments; anything else stops the script with a message naming the file and line.
"""
import os
import re
import sys


def fail(path, text, pos, what):
    line = text.count("\n", 0, pos) + 1
    sys.exit(f"rewrite_launches.py: {path}:{line}: {what}")


def code_spans(text):
    """Yields (start, end) of the stretches of text outside comments and literals."""
    i, start, n = 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("//", i):
            yield start, i
            i = text.find("\n", i)
            i = n if i < 0 else i
            start = i
        elif c == "/" and text.startswith("/*", i):
            yield start, i
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            start = i
        elif c in "\"'":
            # raw strings R"x(...)x" are rare in kernels; handled plainly as strings
            yield start, i
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            start = i
        else:
            i += 1
    yield start, n


def mask_non_code(text):
    """The text with comments and literals blanked (newlines kept): safe to search."""
    out = list(text)
    prev = 0
    for s, e in code_spans(text):
        for k in range(prev, s):
            if out[k] != "\n":
                out[k] = " "
        prev = e
    return "".join(out)


def matching(masked, pos, open_ch, close_ch):
    """Index just past the bracket that closes the one at pos."""
    depth = 0
    for k in range(pos, len(masked)):
        if masked[k] == open_ch:
            depth += 1
        elif masked[k] == close_ch:
            depth -= 1
            if depth == 0:
                return k + 1
    return -1


def kernel_name_start(masked, end):
    """Start of the kernel expression that ends at `end` (just before <<<)."""
    k = end
    while k > 0 and masked[k - 1].isspace():
        k -= 1
    if k > 0 and masked[k - 1] == ">":   # template arguments: walk back to the matching <
        depth = 0
        while k > 0:
            k -= 1
            if masked[k] == ">":
                depth += 1
            elif masked[k] == "<":
                depth -= 1
                if depth == 0:
                    break
    while k > 0 and (masked[k - 1].isalnum() or masked[k - 1] in "_:"):
        k -= 1
    return k


def rewrite(path, out, seen):
    text = open(path, encoding="utf-8").read()
    masked = mask_non_code(text)
    pieces, pos = [], 0

    def emit(upto, replacement):
        nonlocal pos
        pieces.append(text[pos:upto[0]])
        pieces.append(replacement)
        pos = upto[1]

    events = []
    for m in re.finditer(r"<<<", masked):
        events.append((m.start(), "launch", m))
    for m in re.finditer(r"\bextern\s+__shared__\s+([^;]*?)\b(\w+)\s*\[\s*\]\s*;", masked):
        events.append((m.start(), "shared", m))
    # the type may carry an alignment, __align__(32) or alignas(32) (WMMA tiles need one)
    for m in re.finditer(r"(?<!extern )\b__shared__\s+((?:(?:__align__|alignas)\s*\([^();]*\)|[^;{}()])*?)\b(\w+)\s*"
                         r"((?:\[[^\];]*\]\s*)*);", masked):
        if not re.search(r"\bextern\s+$", masked[max(0, m.start() - 40):m.start()]):
            events.append((m.start(), "static_shared", m))
    for m in re.finditer(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+\.cu)"[^\n]*', text, re.M):
        if "#" in masked[m.start():m.end()]:   # (the file name itself is blanked in `masked`)
            events.append((m.start(), "include", m))
    for start, kind, m in sorted(events, key=lambda e: e[0]):
        if start < pos:
            continue
        if kind == "launch":
            name_start = kernel_name_start(masked, start)
            name = text[name_start:start].strip()
            if not re.match(r"^[A-Za-z_:][\w:]*(<.*>)?$", name, re.S):
                fail(path, text, start, f"cannot find the kernel name before <<< (found {name!r})")
            cfg_end = masked.find(">>>", start + 3)
            if cfg_end < 0:
                fail(path, text, start, "<<< without >>>")
            config = text[start + 3:cfg_end]
            k = cfg_end + 3
            while k < len(masked) and masked[k].isspace():
                k += 1
            if k >= len(masked) or masked[k] != "(":
                fail(path, text, start, "expected the kernel's argument list after >>>")
            args_end = matching(masked, k, "(", ")")
            if args_end < 0:
                fail(path, text, k, "unbalanced parentheses in the kernel's arguments")
            args = text[k + 1:args_end - 1]
            plain = re.sub(r"\s+", " ", name)
            call = (f'cudacpu::launch(cudacpu::launch_config({config}), "{plain}", __FILE__, __LINE__, '
                    f"[&](auto&&... cudacpu_p) {{ {name}(cudacpu_p...); }}")
            call += ("," + args if args.strip() else args) + ")"
            # keep the newlines of the original between the name and the config's end
            gap = text[name_start + len(text[name_start:start].rstrip()):start]
            emit((name_start, args_end), call + "\n" * gap.count("\n"))
        elif kind == "static_shared":
            var = m.group(2)
            if "," in m.group(0):
                fail(path, text, start, "declare one __shared__ variable per statement (the CPU mode registers each)")
            emit((m.end(), m.end()), f" [[maybe_unused]] static const bool cudacpu_registered_{var} = "
                                     f"cudacpu::register_shared((void*)&{var}, sizeof {var});")
        elif kind == "shared":
            decl_type = re.sub(r"__align__\s*\(\s*\d+\s*\)", "", m.group(1)).strip()
            var = m.group(2)
            emit((m.start(), m.end()), f"{decl_type}* {var} = ({decl_type}*)cudacpu::dynamic_shared_memory();")
        else:
            inc = m.group(1)
            here = os.path.dirname(path)
            candidates = [os.path.join(here, inc), inc]
            found = next((c for c in candidates if os.path.isfile(c)), None)
            if not found:
                fail(path, text, start, f'#include "{inc}": not found beside the file or in the current directory')
            line = text.count("\n", 0, m.start()) + 1
            sub = []
            rewrite(os.path.normpath(found), sub, seen)
            emit((m.start(), m.end()), "".join(sub) + f'\n#line {line + 1} "{path}"')
    pieces.append(text[pos:])
    out.append(f'#line 1 "{path}"\n')
    out.extend(pieces)
    if not pieces[-1].endswith("\n"):
        out.append("\n")
    seen.append(path)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: rewrite_launches.py FILE.cu > FILE.cpp")
    path = os.path.normpath(sys.argv[1])
    if not os.path.isfile(path):
        sys.exit(f"rewrite_launches.py: {path}: no such file")
    out = []
    rewrite(path, out, [])
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
