#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes one manual page (section 3) per demi_* function from the Doxygen comments of the
public headers, so the pages and the headers have one source and cannot drift apart.

usage: gen-man.py --list HEADER...            print the function names
       gen-man.py OUTDIR VERSION HEADER...    write OUTDIR/<name>.3 for every function
"""
import os
import re
import sys

DOC_DECL = re.compile(r"/\*\*(.*?)\*/\s*((?:ATTR_\w+(?:\([^)]*\))?\s*)*)((?:extern\s+)?[^;{}]*?"
                      r"\b(demi_\w+)\s*\(([^;]*?)\)\s*;)", re.S)
SAL = re.compile(r"\b_(?:In|Out|In_opt|In_z|Deref_pre_z)_\s+|"
                 r"\b_(?:In_reads|In_reads_bytes|Out_writes_to)_\([^()]*(?:\([^()]*\))?[^()]*\)\s*")


def functions(headers):
    for h in headers:
        text = open(h, encoding="utf-8").read()
        for m in DOC_DECL.finditer(text):
            yield os.path.basename(h), m.group(4), m.group(1), m.group(3)


def parse_doc(raw):
    lines = [re.sub(r"^\s*\*\s?", "", l) for l in raw.strip("\n").splitlines()]
    brief, desc, params, ret, cur = "", [], [], [], None
    for line in lines:
        s = line.strip()
        if s.startswith("@brief"):
            brief, cur = s[6:].strip(), "brief"
        elif s.startswith("@param"):
            name, _, text = s[6:].strip().partition(" ")
            params.append([name, text.strip()])
            cur = "param"
        elif s.startswith("@return"):
            ret, cur = [s[7:].strip()], "return"
        elif not s:
            cur = "desc" if cur in ("brief", "desc") else None
            if desc and desc[-1] != "":
                desc.append("")
        elif cur == "brief":
            brief += " " + s
        elif cur == "param":
            params[-1][1] += " " + s
        elif cur == "return":
            ret.append(s)
        else:
            desc.append(s)
            cur = "desc"
    return brief.strip(), "\n".join(desc).strip(), params, " ".join(ret).strip()


def roff(s):
    s = s.replace("\\", "\\e")
    return "\n".join(("\\&" + l) if l.startswith((".", "'")) else l for l in s.splitlines())


def page(header, name, raw, decl, version, all_names):
    brief, desc, params, ret = parse_doc(raw)
    proto = " ".join(SAL.sub("", re.sub(r"\bextern\s+", "", decl)).split())
    out = [f'.TH {name.upper()} 3 "" "libdemikernel {version}" "libdemikernel"',
           ".SH NAME", f"{name} \\- {roff(brief) if brief else name}",
           ".SH SYNOPSIS", f".B #include <demi/{header}>", ".PP", ".nf",
           roff(proto), ".fi"]
    if desc:
        out += [".SH DESCRIPTION"]
        for para in desc.split("\n\n"):
            out += [roff(" ".join(para.split())), ".PP"]
        out.pop()
    if params:
        out += [".SH PARAMETERS"]
        for p, text in params:
            out += [".TP", f".I {p}", roff(text)]
    out += [".SH RETURN VALUE", roff(ret or "See the description.")]
    out += [".SH SEE ALSO", ",\n".join(f".BR {n} (3)" for n in sorted(all_names) if n != name)
            + "\n.PP\nThe semantics in full: docs/api.md in the libdemikernel sources."]
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) >= 3 and argv[1] == "--list":
        for _, name, _, _ in functions(argv[2:]):
            print(name)
        return 0
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    outdir, version, headers = argv[1], argv[2], argv[3:]
    funcs = list(functions(headers))
    names = [f[1] for f in funcs]
    os.makedirs(outdir, exist_ok=True)
    for header, name, raw, decl in funcs:
        with open(os.path.join(outdir, name + ".3"), "w", encoding="utf-8") as f:
            f.write(page(header, name, raw, decl, version, names))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
