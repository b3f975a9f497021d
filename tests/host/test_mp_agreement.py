"""MicroPython decodes every token type exactly as CPython does, within the heap budget."""

import json
import os
import random
import subprocess

from opsm.simulator.board import ROOT
from opsm.simulator.unix_port import micropython_command, micropython_env
from opsm.host.sts import tokens
from opsm.protocol import sts_decoder as sts
from tests.host.conftest import sts_vectors

DECODE_HEAP_BUDGET = 8 * 1024


def jobs():
    rng = random.Random(2026)
    out = []
    for ea, size in ((11, 16), (9, 8)):
        key = bytes(rng.randrange(256) for _ in range(size))
        new = bytes(rng.randrange(256) for _ in range(size))
        codes = []
        for _ in range(25):
            codes.append(tokens.amount_token(0, 0, rng.randrange(1 << 24), rng.randrange(18201625),
                                             rng.randrange(16), ea, key))
        for sub in (0, 1, 2, 5, 6, 7):
            codes.append(tokens.tid_token(2, sub, rng.randrange(1 << 24), rng.randrange(65536), 1, ea, key))
        codes.append(tokens.meter_test_token(0, 0, 0xFFFFFFFFF))
        codes.append(tokens.meter_test_token(1, 0, 0x1234567))
        codes.append("".join(rng.choice("0123456789") for _ in range(20)))
        codes.append(codes[0])  # replay
        codes += tokens.key_change_set(ea, key, new, 3, 2, 1, 200, False, 4095)
        codes.append(tokens.amount_token(0, 0, 77, 1234, 0, ea, new))
        out.append({"key": key.hex(), "ea": ea, "base_year": 2014, "codes": codes})
    for v in sts_vectors():
        if v.get("decoder_key_hex") and v.get("ea") in ("09", "11"):
            out.append({"key": v["decoder_key_hex"], "ea": int(v["ea"]), "base_year": 1993, "codes": [v["token"]]})
    return out


def cpython_results(job):
    meter = sts.StsDecoder(sts.StsState(bytes.fromhex(job["key"]), ea=job["ea"], base_year=job["base_year"]))
    for code in job["codes"]:
        result = meter.decode(code)
        if result.ok:
            meter.commit(result)
        yield {"ok": result.ok, "reason": result.reason, "kind": result.kind, "tid": result.tid,
               "value": result.value, "amount": result.amount, "key": meter.state.key.hex()}


def test_micropython_agrees_with_cpython_at_96k_heap():
    work = jobs()
    proc = subprocess.run(micropython_command() + ["-X", "heapsize=96K", os.path.join(ROOT, "tests", "mp_sts_decode.py")],
                          input="".join(json.dumps(j) + "\n" for j in work), capture_output=True, text=True,
                          env=micropython_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = [json.loads(line) for line in proc.stdout.splitlines()]
    expected = [r for job in work for r in cpython_results(job)]
    assert len(got) == len(expected) > 100
    for mp, cp in zip(got, expected):
        heap = mp.pop("heap")
        assert mp == cp
        assert heap <= DECODE_HEAP_BUDGET
    kinds = {r["kind"] for r in expected if r["ok"]}
    assert kinds >= {sts.CREDIT, sts.MAX_POWER, sts.CLEAR_CREDIT, sts.TARIFF, sts.CLEAR_TAMPER,
                     sts.PHASE_UNBALANCE, sts.TEST, sts.KEY_SECTION, sts.KEY_CHANGE}
    assert {r["reason"] for r in expected if not r["ok"]} >= {"USED", "FUNCTION", "CRC"}
