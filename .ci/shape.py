#!/usr/bin/env python3
"""The shape rules of src/ (docs/design.md, "Rules of the code"): no file
over 500 lines before its tests, no function over 80 lines, a function
over 50 lines says why in a comment above it ("Over 50 lines: ..."), and
`unsafe` code only in src/sys.rs and src/pid1/ (raw system calls in one
place; clippy's undocumented_unsafe_blocks makes each say why it is sound)."""
import pathlib
import re
import sys

FN = re.compile(r'^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(unsafe\s+)?(extern\s+"C"\s+)?fn\s+(\w+)')


def code_only(text):
    """The text with comments and the insides of string and char literals
    blanked (newlines kept), so that braces can be counted."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        raw = re.match(r'r(#*)"', text[i:]) if c == "r" and (i == 0 or not text[i - 1].isalnum()) else None
        if raw:
            close = '"' + raw.group(1)
            j = text.find(close, i + len(raw.group(0)))
            j = n if j < 0 else j + len(close)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i:j + 1]))
            i = j + 1
            continue
        if c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]):
            j = text.index("'", i + 1 + (text[i + 1] == "\\"))
            out.append(" " * (j + 1 - i))
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def check(path):
    text = path.read_text()
    lines = text.splitlines()
    code_lines = code_only(text).splitlines()
    # A file of tests only (`#![cfg(test)]`) is all tests.
    end = next((i for i, l in enumerate(lines) if l.startswith(("#[cfg(test)]", "#![cfg(test)]"))), len(lines))
    problems = []
    if end > 500:
        problems.append(f"{path}: {end} lines before its tests (at most 500)")
    unsafe_allowed = path.as_posix() == "src/sys.rs" or path.as_posix().startswith("src/pid1/")
    for number, code in enumerate(code_lines[:end], 1):
        if not unsafe_allowed and re.search(r"\bunsafe\b", code):
            problems.append(f"{path}:{number}: unsafe outside src/sys.rs and src/pid1/: add a wrapper to sys.rs")
    i = 0
    while i < end:
        match = FN.match(lines[i])
        if not match or lines[i].rstrip().endswith(";"):
            i += 1
            continue
        depth, j, opened, body_start = 0, i, False, i
        while j < end:
            code = code_lines[j]
            if not opened and "{" in code:
                opened, body_start = True, j
            depth += code.count("{") - code.count("}")
            if opened and depth <= 0:
                break
            j += 1
        # The body: the lines between the signature's `{` and the closing `}`.
        length = j - body_start - 1
        name = match.group(6)
        above = []
        k = i - 1
        while k >= 0 and (lines[k].strip().startswith("//") or lines[k].strip().startswith("#[")):
            above.append(lines[k])
            k -= 1
        comment = " ".join(l.strip().lstrip("/").strip() for l in reversed(above))
        reason = "Over 50 lines" in comment
        if length > 80:
            problems.append(f"{path}:{i + 1}: fn {name} has {length} lines (at most 80)")
        elif length > 50 and not reason:
            problems.append(f"{path}:{i + 1}: fn {name} has {length} lines and no \"Over 50 lines:\" reason above it")
        i += 1
    return problems


problems = [p for f in sorted(pathlib.Path("src").rglob("*.rs")) for p in check(f)]
print("\n".join(problems) or "shape: every file and function within its limits")
sys.exit(1 if problems else 0)
