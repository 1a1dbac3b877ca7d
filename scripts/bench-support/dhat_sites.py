"""Allocation sites from a dhat output file (valgrind --tool=dhat), for scripts/cost-guard.

read() gives the total blocks and bytes allocated over the run and, per site, the blocks and
bytes. A site is the first few frames of the allocating stack that are not the allocator,
the Swift runtime or the Swift standard library (whose mangled names start with `$ss`), so
an array growth or a string append is charged to the Sluice or NIO code that asked for it.
"""

import json
import re

SITE_FRAMES = 3
# "0x4C2FB0F: malloc (in /usr/libexec/valgrind/...)" or "0x1234: $s4main3fooyyF (in /path/sluice)"
_FRAME = re.compile(r"^0x[0-9A-Fa-f]+: (.+?)(?: \((?:in )?[^()]*\))?$")
_SKIP = re.compile(
    r"^(\$ss|\$sS[a-zA-Z]|malloc|calloc|realloc|posix_memalign|aligned_alloc|memalign|operator new|"
    r"swift_|swift::|_swift|__swift|\?\?\?|0x)"
)


def _function(frame):
    m = _FRAME.match(frame)
    return m.group(1) if m else frame


def read(path):
    """{"blocks": int, "bytes": int, "sites": {(frame, ...): (blocks, bytes)}}."""
    with open(path) as f:
        data = json.load(f)
    names = [_function(frame) for frame in data["ftbl"]]
    sites = {}
    blocks = total_bytes = 0
    for pp in data["pps"]:
        blocks += pp["tbk"]
        total_bytes += pp["tb"]
        frames = [names[i] for i in pp["fs"]]
        kept = [name for name in frames if not _SKIP.match(name)][:SITE_FRAMES]
        key = tuple(kept) if kept else tuple(frames[:SITE_FRAMES])
        old = sites.get(key, (0, 0))
        sites[key] = (old[0] + pp["tbk"], old[1] + pp["tb"])
    return {"blocks": blocks, "bytes": total_bytes, "sites": sites}
