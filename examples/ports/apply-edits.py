#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Applies a port's scripted edits to another project's source tree.

The ports never commit the program's source: they fetch it (debian-source.sh), copy it, and make
the smallest edits to its files with this script. An edits file is a list of edits:

    @@ FILE src/ae.c
    @@ WHY  pick the demi_* event loop backend when built for libdemikernel
    <<<<
    exact text to find (one or more lines)
    ====
    the text that replaces it
    >>>>

Lines starting with '#' between edits are comments. The text to find must occur exactly once in
the file, as it is after the edits before it: if upstream changed and it occurs zero times or
more than once, nothing is written and the message names the edit (its number, file and WHY),
so whoever moves the port to a new upstream version knows which edit to redo.

usage: apply-edits.py EDITS_FILE TREE [--check]   (--check: verify only, write nothing)
exit 0 applied (or would apply), 1 an edit does not apply, 2 a malformed edits file
"""
import sys


class EditError(Exception):
    pass


def parse(path):
    edits, cur, block, lines = [], None, None, []
    with open(path, encoding="utf-8") as f:
        for no, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if block is not None:
                if line in ("====", ">>>>"):
                    cur[block] = "\n".join(lines) + ("\n" if lines else "")
                    lines = []
                    block = "new" if line == "====" else None
                    if line == ">>>>":
                        edits.append(cur)
                        cur = None
                else:
                    lines.append(line)
                continue
            if line.startswith("@@ FILE "):
                cur = {"file": line[8:].strip(), "why": "", "line": no}
            elif line.startswith("@@ WHY ") and cur is not None:
                cur["why"] = line[7:].strip()
            elif line == "<<<<" and cur is not None and "old" not in cur:
                block = "old"
            elif line.strip() == "" or line.startswith("#"):
                continue
            else:
                raise EditError(f"{path}:{no}: unexpected line: {line!r}")
    if block is not None or cur is not None:
        raise EditError(f"{path}: the last edit is not closed with >>>>")
    for e in edits:
        if not e.get("old"):
            raise EditError(f"{path}:{e['line']}: an edit with nothing to find")
        if "new" not in e:
            raise EditError(f"{path}:{e['line']}: an edit without ==== and its replacement")
    return edits


def apply(edits, tree, check):
    files = {}
    for i, e in enumerate(edits, 1):
        name = f"edit {i} ({e['file']}: {e['why'] or 'no WHY given'})"
        path = f"{tree}/{e['file']}"
        if path not in files:
            try:
                with open(path, encoding="utf-8") as f:
                    files[path] = f.read()
            except OSError as err:
                raise EditError(f"{name}: cannot read the file: {err.strerror}")
        n = files[path].count(e["old"])
        if n != 1:
            what = "is not there" if n == 0 else f"occurs {n} times"
            raise EditError(f"{name}: the text to replace {what}; the upstream source "
                            "changed: redo this edit against it")
        files[path] = files[path].replace(e["old"], e["new"], 1)
    if not check:
        for path, text in files.items():
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    return len(edits)


def main(argv):
    if len(argv) not in (3, 4) or (len(argv) == 4 and argv[3] != "--check"):
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    try:
        edits = parse(argv[1])
    except (EditError, OSError) as err:
        print(f"apply-edits: {err}", file=sys.stderr)
        return 2
    try:
        n = apply(edits, argv[2], len(argv) == 4)
    except EditError as err:
        print(f"apply-edits: {argv[1]}: {err}", file=sys.stderr)
        return 1
    print(f"apply-edits: {argv[1]}: {n} edits {'apply' if len(argv) == 4 else 'applied'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
