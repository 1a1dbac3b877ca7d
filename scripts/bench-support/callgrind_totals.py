"""Totals from a callgrind output file, for scripts/cost-guard (standard library only).

instructions: the file's `totals:` (or `summary:`) line, every thread included.
allocations: calls into the C allocator (malloc, calloc, realloc, posix_memalign,
aligned_alloc, memalign and their glibc aliases) from code outside the allocator, so a
posix_memalign that glibc forwards to malloc counts once. Callgrind counts calls exactly,
so this is the number of heap blocks the process asked for.
alloc_callers: for the report, who asked: calls into the allocator or the Swift runtime's
allocating entry points (swift_allocObject, swift_slowAlloc, ...) by their caller outside
both, so a class instance shows up under the Swift function that created it.
function_costs(): inclusive and self instructions per function, from callgrind_annotate.

The access-log writer thread is left out by scripts/cost-guard itself (callgrind's
--toggle-collect on its loop, WRITER_LOOP): it wakes on the wall clock (every 20 ms today), so
what it does per request depends on how fast the machine runs the requests. read() counts the
calls made from the sink's loop or flush that were recorded ("writer_calls"): a handful (the
flush at shutdown) when the toggle took, hundreds when it did not (the loop was renamed, say).
"""

import re
import subprocess

ALLOCATORS = {
    "malloc", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc", "memalign", "valloc",
    "pvalloc", "__libc_malloc", "__libc_calloc", "__libc_realloc", "__libc_memalign", "__posix_memalign",
    "__libc_valloc", "__libc_pvalloc", "_mid_memalign", "_int_malloc", "_int_realloc", "_int_memalign",
    "tcache_init",
}
# The Swift runtime's ways into the allocator (callers of these are named in the report).
RUNTIME_ALLOCATORS = {
    "swift_allocObject", "swift_slowAlloc", "swift_allocBox", "swift_allocEmptyBox", "swift_initStackObject",
    "swift_slowAllocTyped", "swift::swift_slowAlloc", "swift_allocObject.cold",
}

# The access-log writer's loop, as a callgrind --toggle-collect pattern; what it calls.
WRITER_LOOP = "*AccessLogSinkC*drainLoop*"
WRITER = re.compile(r"AccessLogSinkC\d+(drainLoop|flush)")

# The Swift runtime's generic-metadata cache lookup: how far it probes depends on the
# addresses the metadata got at start-up, which vary with thread interleaving, so its cost per
# request moves from run to run (2,000-10,000 instructions per request on json). Reported apart.
PROBING = re.compile(r"ConcurrentReadableHashMap<swift::HashMapElementWrapper<swift::GenericCacheEntry>.*::find<"
                     r"|MetadataCacheKey::operator==")

_NAME = re.compile(r"^\((\d+)\)(?: (.*))?$")
_SUFFIX = re.compile(r"('\d+|\.(constprop|isra|part|cold)\.\d+)+$")


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
    return _SUFFIX.sub("", name)


def read(path):
    """{"instructions": int, "allocations": int, "alloc_callers": {caller: calls}, "writer_calls": int,
    "probing": int (self instructions of the metadata-cache lookup)}."""
    names = {}
    writer = 0
    probing_names = {}
    in_probe = after_call = False
    probing = 0
    total = None
    current = ""
    callee = ""
    allocations = 0
    callers = {}
    with open(path, errors="replace") as f:
        for line in f:
            first = line[:1]
            if first.isdigit() or first in "+-*":
                # A cost line: "position cost". Right after calls= it is the call's inclusive cost.
                if in_probe and not after_call:
                    probing += int(line.split()[-1])
                after_call = False
                continue
            if line.startswith("fn="):
                current = _base(_function(line[3:].rstrip("\n"), names))
                if current not in probing_names:
                    probing_names[current] = bool(PROBING.search(current))
                in_probe = probing_names[current]
            elif line.startswith("cfn="):
                callee = _base(_function(line[4:].rstrip("\n"), names))
            elif line.startswith("calls="):
                after_call = True
                count = int(line[6:].split()[0])
                if WRITER.search(current):
                    writer += count
                if callee in ALLOCATORS and current not in ALLOCATORS:
                    allocations += count
                if ((callee in ALLOCATORS or callee in RUNTIME_ALLOCATORS)
                        and current not in ALLOCATORS and current not in RUNTIME_ALLOCATORS):
                    callers[current] = callers.get(current, 0) + count
            elif line.startswith(("totals:", "summary:")):
                value = int(line.split(":", 1)[1].split()[0])
                if line.startswith("totals:") or total is None:
                    total = value
    if total is None:
        raise ValueError(f"{path}: no totals line (callgrind did not finish writing it?)")
    return {"instructions": total, "allocations": allocations, "alloc_callers": callers,
            "writer_calls": writer, "file": path, "probing": probing}


_ANNOTATED = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+(?:[^:\s]*:)?(.+?)(?: \[[^\]]*\])?$")


def function_costs(paths, inclusive):
    """{function: instructions} for every function (inclusive or self) over the given thread
    files, via callgrind_annotate. Recursion levels (`f'2`) are added to `f` for self cost and
    left out of inclusive cost (`f` already includes them)."""
    costs = {}
    for path in paths:
        _add_costs(costs, path, inclusive)
    return costs


def _add_costs(costs, path, inclusive):
    out = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100",
                          path], capture_output=True, text=True).stdout
    in_table = False
    for line in out.splitlines():
        if "file:function" in line:
            in_table = True
            continue
        if not in_table:
            continue
        m = _ANNOTATED.match(line)
        if m:
            if inclusive and _SUFFIX.search(m.group(2)):
                continue
            name = _base(m.group(2))
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
