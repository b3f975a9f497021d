"""An inventory split into shards by site: a site is a meter's address (one NAT/PAT address, many ports; for a
serial meter its device path), and a site's meters always share a shard, so one worker talks to a site's modem
or router and no two workers crowd the same link.

Sites go, largest first, to the shard with the fewest meters so far; ties between sites of one size are broken by
a hash of the address and ties between shards by their number, so the same inventory always gives the same
shards, whichever order its rows come in.
"""

import zlib


def split(rows: list, shards: int) -> list:
    """Inventory rows (inventory.Meter.row()) in at most `shards` lists (none empty), each site whole; rows keep
    their inventory order in a shard. ValueError when shards < 1."""
    if shards < 1:
        raise ValueError("--shards: must be at least 1, got %d" % shards)
    sites: dict = {}
    for row in rows:
        sites.setdefault(row["host"], []).append(row)
    load = [0] * shards
    chosen: dict = {}
    for site in sorted(sites, key=lambda s: (-len(sites[s]), zlib.crc32(s.encode()), s)):
        shard = min(range(shards), key=lambda k: (load[k], k))
        chosen[site] = shard
        load[shard] += len(sites[site])
    out: list = [[] for _ in range(shards)]
    for row in rows:
        out[chosen[row["host"]]].append(row)
    return [shard for shard in out if shard]
