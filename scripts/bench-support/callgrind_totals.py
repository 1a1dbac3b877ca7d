"""Totals from a callgrind output file, for scripts/cost-guard (standard library only).

instructions: the file's `totals:` (or `summary:`) line, every thread included.
allocations: calls into the C allocator (malloc, calloc, realloc, posix_memalign,
aligned_alloc, memalign and their glibc aliases) from code outside the allocator, so a
realloc(NULL, n) that glibc forwards to malloc counts once. Callgrind counts calls exactly,
so this is the number of heap blocks the process asked for.
"""

import re

ALLOCATORS = {
    "malloc", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc", "memalign", "valloc",
    "pvalloc", "__libc_malloc", "__libc_calloc", "__libc_realloc", "__libc_memalign", "__posix_memalign",
    "__libc_valloc", "__libc_pvalloc",
}

_NAME = re.compile(r"^\((\d+)\)(?: (.*))?$")
_RECURSION = re.compile(r"'\d+$")


def _function(value, names):
    """The function named by a compressed `fn=`/`cfn=` value: "(12) name" or "(12)"."""
    m = _NAME.match(value)
    if not m:
        return value
    if m.group(2) is not None:
        names[m.group(1)] = m.group(2)
        return m.group(2)
    return names.get(m.group(1), "")


def _base(name):
    return _RECURSION.sub("", name)


def read(path):
    """{"instructions": int, "allocations": int, "alloc_callers": {caller: calls}}."""
    names = {}
    total = None
    current = ""
    callee = ""
    allocations = 0
    callers = {}
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                current = _base(_function(line[3:].rstrip("\n"), names))
            elif line.startswith("cfn="):
                callee = _base(_function(line[4:].rstrip("\n"), names))
            elif line.startswith("calls="):
                if callee in ALLOCATORS and current not in ALLOCATORS:
                    count = int(line[6:].split()[0])
                    allocations += count
                    callers[current] = callers.get(current, 0) + count
            elif line.startswith(("totals:", "summary:")):
                value = int(line.split(":", 1)[1].split()[0])
                if line.startswith("totals:") or total is None:
                    total = value
    if total is None:
        raise ValueError(f"{path}: no totals line (callgrind did not finish writing it?)")
    return {"instructions": total, "allocations": allocations, "alloc_callers": callers}
