"""OpenPAYGO Token (EnAccess, MIT; reference: PyPI openpaygo 0.6.3): code arithmetic, decoder.

A token is the starting code with the value's base put in (last 3 digits, 6 extended),
hashed forward `count` times, base put back: each value has its own chain. A code is a
list [high, low], low the base, high < 10**6: no int above 2**30 on 32-bit boards.
The decoder keeps, for a few bases, the chain codes at max_count and 64 counts below:
the next token costs a hash or two and any token at most 164, whatever the meter's
age (the reference walks the chain from count 0 on every entry).
"""

from . import token_result as R
from .siphash import SipHash24

ADD_TIME = "ADD_TIME"
SET_TIME = "SET_TIME"
DISABLE_PAYG = "DISABLE_PAYG"
COUNTER_SYNC = "COUNTER_SYNC"
KINDS = (ADD_TIME, SET_TIME, DISABLE_PAYG, COUNTER_SYNC)

MAX_VALUE = 995               # ADD_TIME / SET_TIME, standard tokens
MAX_VALUE_EXTENDED = 999999   # ADD_TIME / SET_TIME, extended tokens
DISABLE_VALUE = 998
SYNC_VALUE = 999
MAX_JUMP = 64                 # how far above max_count a new count may be
MAX_JUMP_SYNC = 100           # the same for COUNTER_SYNC
BACK = 64                     # COUNTER_SYNC is accepted above max_count - 64; the anchor sits there
OLDER = 16                    # an older ADD_TIME is accepted once above max_count - 16
CACHE_SIZE = 8                # cached bases, pinned ones included
MAX_STARTING_CODE = 999999999
_PACK_VERSION = 1


def kind_of(count: int, value: int) -> str:
    # Extended tokens too: the reference calls extended 998/999 SET_TIME (upstream #24).
    if not count & 1:
        return ADD_TIME
    if value == DISABLE_VALUE:
        return DISABLE_PAYG
    if value == SYNC_VALUE:
        return COUNTER_SYNC
    return SET_TIME


def _divide(d: list, n: int, split: int, code: list) -> None:
    # code = divmod(number, split), number as n 10-bit digits d, most significant first:
    # long division in base 1024 keeps every intermediate below 2**30 (split <= 10**6).
    q = 0
    r = 0
    for i in range(n):
        x = (r << 10) | d[i]
        q = (q << 10) | (x // split)
        r = x % split
    code[0] = q
    code[1] = r


class Chain:
    # The hash chain of one key, standard (9 digits) or extended (12). put_base_in_token
    # is code[1] = base, get_token_base is code[1].

    def __init__(self, key, extended: bool = False):
        self.extended = extended
        self.split = 1000000 if extended else 1000
        self.digits = 12 if extended else 9
        self.restricted_digits = 20 if extended else 15   # 2 bits per key 1..4
        self.max_value = MAX_VALUE_EXTENDED if extended else MAX_VALUE
        self._key = bytes(key)
        self._hash = SipHash24(self._key)
        self._s = self.split // 1000    # see next()
        self._m = [0] * 4
        self._d = [0] * 4

    def default_start(self) -> int:
        # SipHash(key, key) folded to 9 digits, in both modes.
        self._hash.digest(self._key)
        code = [0, 0]
        self._to_code(self._hash.out, False, code)
        return code[0] * 1000 + code[1]

    def base(self, starting_code: int, value: int) -> int:
        return (starting_code % self.split + value) % self.split

    def value(self, starting_code: int, base: int) -> int:
        return (base - starting_code % self.split) % self.split

    def start(self, starting_code: int, base: int, code: list) -> None:
        # Count 0 of the chain of base.
        code[0] = starting_code // self.split
        code[1] = base

    def advance(self, code: list, n: int) -> None:
        for _ in range(n):
            self.next(code)

    def next(self, code: list) -> None:
        # Hash of the whole code, base included. 16-bit limbs x0, x1, x2 of its value
        # high * split + low (< 2**40), as u * s + low % s with u = high * 1000 + low // s
        # (< 10**9) and s = 1 or 1000: every product stays below 2**26.
        s = self._s
        u = code[0] * 1000 + code[1] // s
        t = (u & 0xFFFF) * s + code[1] % s
        x0 = t & 0xFFFF
        t = (u >> 16) * s + (t >> 16)
        x1 = t & 0xFFFF
        m = self._m   # big-endian bytes read little-endian: limbs byte-swapped
        if self.extended:   # the code as 8 bytes
            m[0] = 0
            m[1] = (t >> 16) << 8   # x2 < 256: swapping its bytes is a shift
        else:               # the code as 4 bytes, twice
            m[0] = ((x1 & 0xFF) << 8) | (x1 >> 8)
            m[1] = ((x0 & 0xFF) << 8) | (x0 >> 8)
        m[2] = ((x1 & 0xFF) << 8) | (x1 >> 8)
        m[3] = ((x0 & 0xFF) << 8) | (x0 >> 8)
        self._to_code(self._hash.hash_word(m), self.extended, code)

    def _to_code(self, o: list, extended: bool, code: list) -> None:
        d = self._d
        if extended:    # bits 24..63 of the hash
            a = o[3]
            b = o[2]
            d[3] = ((b & 3) << 8) | (o[1] >> 8)
            n = 4
            split = 1000000
        else:           # bits 2..31 of the 32-bit fold hi ^ lo
            a = o[3] ^ o[1]
            b = o[2] ^ o[0]
            n = 3
            split = 1000
        d[0] = a >> 6
        d[1] = ((a & 0x3F) << 4) | (b >> 12)
        d[2] = (b >> 2) & 0x3FF
        _divide(d, n, split, code)
        if code[0] >= 1000000:   # above 10**digits - 1: subtract 2**bits - 10**digits + 1
            if extended:
                code[0] -= 99511
                code[1] -= 627777
            else:
                code[0] -= 73741
                code[1] -= 825
            if code[1] < 0:
                code[1] += split
                code[0] -= 1

    def parse(self, text, restricted: bool, code: list) -> bool:
        # False unless text is a well-formed token of this mode.
        if not isinstance(text, str):
            return False
        if not restricted:
            if len(text) != self.digits:
                return False
            for ch in text:
                if ch not in "0123456789":   # int() would also take signs, '_' and spaces
                    return False
            code[0] = int(text[:6])
            code[1] = int(text[6:])
            return True
        if len(text) != self.restricted_digits:
            return False
        d = self._d
        n = len(text) // 5          # 5 keys = one 10-bit digit
        for i in range(n):
            x = 0
            for j in range(5 * i, 5 * i + 5):
                k = "1234".find(text[j])
                if k < 0:
                    return False
                x = (x << 2) | k
            d[i] = x
        _divide(d, n, self.split, code)
        return code[0] < 1000000    # larger is no 9 or 12-digit code


class OpenPaygoState:
    # What the decoder remembers across power cycles. used: bit i set when count
    # max_count - 1 - i is used or invalidated (max_count always is). Chain cache: for
    # bases[i], anchors[i] is its code at anchor() and heads[i] its code at max_count;
    # the first `pinned` entries stay, the others are kept most recently used first.

    def __init__(self, max_count: int = 0, used: int = 0):
        self.max_count = max_count
        self.used = used & 0xFFFF
        self.pinned = 0
        self.bases = []  # type: list
        self.anchors = []  # type: list
        self.heads = []  # type: list

    def anchor(self) -> int:
        return self.max_count - BACK if self.max_count > BACK else 0

    def find(self, base: int) -> int:
        for i in range(len(self.bases)):
            if self.bases[i] == base:
                return i
        return -1

    def accepts(self, count: int, kind: str) -> bool:
        # The reference's count rules; count is inside the search window.
        m = self.max_count
        if kind == COUNTER_SYNC:
            return count > m - BACK
        if count > m:
            return True
        if kind != ADD_TIME or count <= m - OLDER or count == m:
            return False
        return not (self.used >> (m - 1 - count)) & 1

    def mark(self, count: int, kind: str) -> None:
        # Anything but ADD_TIME invalidates every older count.
        m = self.max_count
        if kind != ADD_TIME:
            self.used = 0xFFFF
        elif count > m:
            d = count - m   # shift the window; the old max_count becomes bit d - 1
            if d > 16:
                self.used = 0
            else:   # mask before shifting: 16-bit values keep ints small
                self.used = (((self.used & (0xFFFF >> d)) << d) | (1 << (d - 1))) & 0xFFFF
        else:
            self.used |= 1 << (m - 1 - count)
        if count > m:
            self.max_count = count

    def remember(self, base: int, anchor: list, head: list, size: int) -> None:
        # Cache base as most recently used, adopting its code lists.
        i = self.find(base)
        if 0 <= i < self.pinned:
            return
        if i < 0 and len(self.bases) >= size and len(self.bases) > self.pinned:
            i = len(self.bases) - 1   # evict the least recently used
        if i >= 0:
            self.bases.pop(i)
            self.anchors.pop(i)
            self.heads.pop(i)
        self.bases.insert(self.pinned, base)
        self.anchors.insert(self.pinned, anchor)
        self.heads.insert(self.pinned, head)

    def pack(self) -> bytes:
        # version | max_count (4) | used (2) | pinned | n | n x 5 x 3 bytes:
        # base, anchor code, head code
        out = bytearray((_PACK_VERSION,))
        out += self.max_count.to_bytes(4, "big")
        out += self.used.to_bytes(2, "big")
        out.append(self.pinned)
        out.append(len(self.bases))
        for i in range(len(self.bases)):
            for v in (self.bases[i], self.anchors[i][0], self.anchors[i][1], self.heads[i][0],
                      self.heads[i][1]):
                out += v.to_bytes(3, "big")
        return bytes(out)


def unpack_state(data) -> OpenPaygoState:
    # Inverse of OpenPaygoState.pack(); ValueError on a record it cannot read.
    if len(data) < 9 or data[0] != _PACK_VERSION:
        raise ValueError("openpaygo state: unknown record version")
    n = data[8]
    if len(data) != 9 + 15 * n or data[7] > n:
        raise ValueError("openpaygo state: record length does not match its content")
    state = OpenPaygoState(int.from_bytes(data[1:5], "big"), int.from_bytes(data[5:7], "big"))
    state.pinned = data[7]
    v = [int.from_bytes(data[p:p + 3], "big") for p in range(9, len(data), 3)]
    for i in range(0, len(v), 5):
        if max(v[i:i + 5]) >= 1000000:
            raise ValueError("openpaygo state: cached code out of range")
        state.bases.append(v[i])
        state.anchors.append([v[i + 1], v[i + 2]])
        state.heads.append([v[i + 3], v[i + 4]])
    return state


class OpenPaygoResult:
    # ok is False with a reason from protocol.token_result.

    def __init__(self, reason=None, kind=None, value=None, count=None):
        self.ok = reason is None
        self.reason = reason
        self.kind = kind
        self.value = value      # raw token value; the application applies the divider
        self.count = count
        self._base = 0
        self._anchor = []       # chain codes for the cache
        self._head = []
        self._max = 0           # state the result was decoded against
        self._used = 0


class OpenPaygoDecoder:
    # One meter: decode() reads, commit() applies.

    def __init__(self, key, starting_code=None, extended: bool = False, restricted: bool = False,
                 divider: int = 1, preferred_values=(), state=None, cache_size: int = CACHE_SIZE):
        self.chain = Chain(key, extended)
        if starting_code is None:
            starting_code = self.chain.default_start()
        elif not isinstance(starting_code, int) or not 0 <= starting_code <= MAX_STARTING_CODE:
            raise ValueError("starting_code: must be an integer 0..999999999")
        if not isinstance(divider, int) or divider < 1:
            raise ValueError("divider: must be a positive integer")
        self.starting_code = starting_code
        self.restricted = restricted
        self.divider = divider      # for the application: credit = value / divider
        self.cache_size = cache_size
        self.state = OpenPaygoState() if state is None else state
        self._tok = [0, 0]
        self._cur = [0, 0]
        self._refused = False
        if not self.state.bases:
            self._seed(preferred_values)

    def _seed(self, preferred_values) -> None:
        # Pin the bases of DISABLE_PAYG, COUNTER_SYNC and the preferred (raw) values.
        values = [DISABLE_VALUE, SYNC_VALUE]
        for v in preferred_values:
            if not isinstance(v, int) or not 0 <= v <= self.chain.max_value:
                raise ValueError("preferred_values: %r is not a token value" % (v,))
            if v not in values:
                values.append(v)
        if len(values) >= self.cache_size:
            raise ValueError("preferred_values: at most %d with cache_size %d"
                             % (self.cache_size - 3, self.cache_size))
        st = self.state
        for v in values:
            base = self.chain.base(self.starting_code, v)
            if st.find(base) < 0:
                st.bases.append(base)
                st.anchors.append([0, 0])
                st.heads.append([0, 0])
                self._walk(base, st.anchors[-1], st.heads[-1])   # free on a new meter
        st.pinned = len(st.bases)

    def _walk(self, base: int, anchor: list, head: list) -> None:
        # Codes of base at anchor() and max_count, from count 0: O(count).
        st = self.state
        self.chain.start(self.starting_code, base, anchor)
        self.chain.advance(anchor, st.anchor())
        head[0] = anchor[0]
        head[1] = anchor[1]
        self.chain.advance(head, st.max_count - st.anchor())

    def decode(self, code) -> OpenPaygoResult:
        # Changes nothing, never raises.
        chain = self.chain
        tok = self._tok
        if not chain.parse(code, self.restricted, tok):
            return OpenPaygoResult(R.FORMAT)
        st = self.state
        m = st.max_count
        base = tok[1]
        value = chain.value(self.starting_code, base)
        i = st.find(base)
        if i < 0:
            anchor = [0, 0]
            head = [0, 0]
            self._walk(base, anchor, head)   # once: commit caches the base
        else:
            anchor = list(st.anchors[i])
            head = list(st.heads[i])
        # New counts first, so the next token costs a hash or two at any age; then the
        # last 64 counts: older ADD_TIME, syncs, or USED.
        self._refused = False
        cur = self._cur
        cur[0] = head[0]
        cur[1] = head[1]
        chain.next(cur)
        count = self._scan(cur, m + 1, m + (MAX_JUMP_SYNC if value == SYNC_VALUE else MAX_JUMP),
                           value)
        if count < 0:
            cur[0] = anchor[0]
            cur[1] = anchor[1]
            count = self._scan(cur, st.anchor(), m, value)
        if count < 0:
            return OpenPaygoResult(R.USED if self._refused else R.INVALID)
        result = OpenPaygoResult(None, kind_of(count, value), value, count)
        result._base = base
        result._anchor = anchor
        result._head = head
        result._max = m
        result._used = st.used
        return result

    def _scan(self, cur: list, count: int, last: int, value: int) -> int:
        # cur is the code at count; checks up to count last. The accepted count, or -1.
        st = self.state
        high = self._tok[0]
        while True:
            if cur[0] == high:   # same base too: the whole token matches
                kind = kind_of(count, value)
                if kind == COUNTER_SYNC or count <= st.max_count + MAX_JUMP:
                    if st.accepts(count, kind):
                        return count
                    self._refused = True
            if count == last:
                return -1
            self.chain.next(cur)
            count += 1

    def commit(self, result: OpenPaygoResult) -> None:
        st = self.state
        if not result.ok:
            raise ValueError("commit: the result is a rejection (%s)" % result.reason)
        if result._max != st.max_count or result._used != st.used:
            raise ValueError("commit: the state changed since this result was decoded")
        anchor = st.anchor()
        m = st.max_count
        st.remember(result._base, result._anchor, result._head, self.cache_size)
        st.mark(result.count, result.kind)
        da = st.anchor() - anchor
        dm = st.max_count - m
        for i in range(len(st.bases)):   # 2 x K x delta hashes, whatever the meter's age
            self.chain.advance(st.anchors[i], da)
            self.chain.advance(st.heads[i], dm)
