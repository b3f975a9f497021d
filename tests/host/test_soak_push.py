"""The 24-hour soak with DLMS push on (issue 18): the meter pushes its day's events to a recording sender,
ciphered under HLS keys, and the frames read back tell the day's story in order (host/soak.py checks them).

It runs at 128K, a margin: push on does not fit the smallest board's 96K yet (`--heap 200K --push all` gave
peak_heap_bytes 84320 off, 93632 plain, 103872 ciphered when this test was written; a run needs ~7 KB over
its peak)."""

from opsm.host import soak


def test_soak_pushes_the_days_events_ciphered(capfd):
    assert soak.main(["--heap", "128K", "--push", "ciphered"]) == 0
    out = capfd.readouterr().out
    assert "peak_heap_bytes=" in out and "FAILED" not in out
    pushed = [line for line in out.splitlines() if line.startswith("pushed=")]
    # power-up, relay closed (first recharge), low credit, relay open (credit out), relay closed (second recharge)
    assert len(pushed) == 1 and pushed[0].startswith("pushed=5 ")
    codes = [item.split(":")[1].split("/")[0] for item in pushed[0].split()[1:]]
    assert codes == ["1", "5", "8", "5", "5"]
    assert all("@" in item for item in pushed[0].split()[1:])  # ciphered: each with its invocation counter
