"""How much memory this process may still allocate: reads that would exceed it are refused up front."""

from __future__ import annotations

from typing import Optional

__all__ = ["available_memory"]


def available_memory() -> Optional[int]:
    """Bytes this process may still allocate (available RAM, and the address-space limit if set)."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            avail = soft if avail is None else min(avail, soft)
    except (ImportError, OSError, ValueError):
        pass
    return avail
