"""The virtual board: the same hardware layer as a real one, made of models.

AC output and load as sine waves turned into 12-bit ADC counts, a battery, a relay
that records its switchings, a keypad fed by a key script, a display that keeps
the last frame, a clock that only moves when told, a watchdog that counts feeds.
Runs under MicroPython (unix port) and CPython; the simulator grows it into a
physical model of the solar home system.
"""

import asyncio
import math

from calibration import Calibration
from hal import FRONT_END_I_GAIN_UA as I_GAIN_UA
from hal import FRONT_END_V_GAIN_UV as V_GAIN_UV
from hal import RESET_POWER_ON, Hal
from ticks import PERIOD

RTC_EPOCH_S = 662774400  # 2021-01-01: where a Pico's RTC starts at power-up

# The virtual board has the front end exactly as designed (no calibration error).
BATTERY_DIVIDER_MILLI = 16000
ADC_REF_MV = 2500


def xorshift32(x: int) -> int:
    """The next state of a xorshift generator: the same numbers under CPython and MicroPython
    (whose random module has no seeded generator objects)."""
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    return x ^ ((x << 5) & 0xFFFFFFFF)


class SimAc:
    """Inverter output and household load as the ADC sees them: the analogue sine waves sampled at
    the board's instants from a random point of the cycle (each burst starts at a seeded random
    phase, as a board's bursts do against the mains), plus the front end's bias error and a little
    seeded noise, quantised to 12 bits, as a real converter. Nothing else: amplitude and phase are
    exact floats, so the firmware's own maths sets the meter's accuracy."""

    def __init__(self, vrms_mv: int = 120000, irms_ma: float = 0, phase_deg: float = 0, freq_mhz: int = 60000,
                 noise_counts: int = 2, offset_counts: int = 3, seed: int = 1):
        self.vrms_mv = vrms_mv
        self.irms_ma = irms_ma       # a float after load(): the load's exact current
        self.phase_deg = phase_deg   # current lags the voltage by this angle (a float after load())
        self.freq_mhz = freq_mhz
        self.supplied = True         # False while the relay is open: no current flows
        self.noise_counts = noise_counts    # uniform noise of +-noise_counts, before quantisation
        self.offset_counts = offset_counts  # the bias is not exactly mid-scale
        self._state = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def _unit(self) -> float:
        """The next seeded number, uniform in (-1, 1)."""
        self._state = xorshift32(self._state)
        return self._state * _TWO_TO_MINUS_31 - 1.0

    def load(self, power_w: float, pf_milli: float = 1000) -> None:
        """Set the load from its real power and power factor (lagging)."""
        if self.vrms_mv <= 0 or power_w <= 0:
            self.irms_ma = 0
            return
        self.irms_ma = power_w * 1e9 / (self.vrms_mv * pf_milli)
        self.phase_deg = math.degrees(math.acos(pf_milli / 1000))

    def burst(self, vbuf, ibuf, n: int, period_us: int) -> None:
        v_peak = self.vrms_mv * _SQRT2_K / V_GAIN_UV                     # counts
        i_peak = (self.irms_ma if self.supplied else 0) * _SQRT2_K / I_GAIN_UA
        w = 2 * math.pi * self.freq_mhz * period_us / 1e9                # radians per sample
        start = (self._unit() + 1.0) * math.pi                           # the mains' phase at sample 0
        lag = math.radians(self.phase_deg)
        bias = self.offset_counts
        noise = self.noise_counts
        unit = self._unit
        sin = math.sin
        for k in range(n):
            angle = start + w * k
            vbuf[k] = _adc(v_peak * sin(angle) + bias + noise * unit())
            ibuf[k] = _adc(i_peak * sin(angle - lag) - bias + noise * unit())


_SQRT2_K = math.sqrt(2) * 1000       # RMS milli-units -> peak micro-units
_TWO_TO_MINUS_31 = 1 / 2147483648


def _adc(signal: float) -> int:
    """A 12-bit converter biased at mid-scale, saturating at its ends."""
    counts = 2048 + int(round(signal))
    return 0 if counts < 0 else (4095 if counts > 4095 else counts)


class SimBattery:
    def __init__(self, mv: int = 25600):
        self.mv = mv

    def read(self) -> int:
        counts = self.mv * 1000 * 4096 // (BATTERY_DIVIDER_MILLI * ADC_REF_MV)
        return counts if counts < 4096 else 4095


class SimRelay:
    def __init__(self, ac: SimAc):
        self.ac = ac
        self.closed = False
        self.switchings: list = []  # every command, in order

    def __call__(self, closed: bool) -> None:
        self.closed = bool(closed)
        self.ac.supplied = self.closed
        self.switchings.append(self.closed)


class ScriptKeypad:
    """Keys typed one per scan: type("*1234...*") queues them."""

    def __init__(self):
        self._queue: list = []

    def type(self, keys: str) -> None:
        self._queue.extend(keys)

    def scan(self):
        return self._queue.pop(0) if self._queue else None


class SimDisplay:
    """Counts the strips sent (the screen's content is checked through the text drawn)."""

    def __init__(self):
        self.frames = 0

    def show(self, fb_bytes, palette, y0: int = 0, y1=None) -> None:
        self.frames += 1


class SimClock:
    """Virtual time: seconds since 2000-01-01 UTC and a ticks_ms that wraps like a board's."""

    def __init__(self, now_s: int = 852076800):  # 2027-01-01 00:00 UTC
        self.start_s = now_s
        self.ms = 0
        self._wakes: list = []  # wake-up times of the tasks sleeping in sleep_ms

    async def sleep_ms(self, ms: int) -> None:
        """asyncio's sleep_ms in virtual time: the clock jumps to the earliest wake-up,
        so concurrent tasks share time and a day passes as fast as the CPU allows."""
        wake = self.ms + ms
        self._wakes.append(wake)
        while True:
            await asyncio.sleep(0)
            if wake <= min(self._wakes):
                break
        self._wakes.remove(wake)
        if wake > self.ms:
            self.ms = wake

    def advance_ms(self, ms: int) -> None:
        self.ms += ms

    def now_s(self) -> int:
        return self.start_s + self.ms // 1000

    def set_s(self, now_s: int) -> None:
        """Set the clock (a head-end's time sync); ticks run on undisturbed."""
        self.start_s = now_s - self.ms // 1000

    def lose_power(self, rtc_epoch_s: int = RTC_EPOCH_S) -> None:
        """The RTC lost its power with the board (no backup cell): it starts again from its epoch."""
        self.set_s(rtc_epoch_s)

    def ticks_ms(self) -> int:
        return self.ms % PERIOD  # the runtime's own period, as its ticks arithmetic expects


class SimWatchdog:
    def __init__(self):
        self.feeds = 0

    def feed(self) -> None:
        self.feeds += 1


class SimOptical:
    """The optical port's UART: what the probe sent waits in `inbox`; the meter's answers go to `sent`."""

    def __init__(self):
        self.inbox = b""
        self.sent = b""

    def read(self):
        data, self.inbox = self.inbox, b""
        return data or None

    def write(self, data) -> int:
        self.sent += bytes(data)
        return len(data)


def make_hal(storage_root: str = "/tmp/opsm-sim", clock=None, reset_cause: int = RESET_POWER_ON,
             opener=open, shadow=None, push=None) -> Hal:
    """push: the sender of a virtual board on a network (tcp_push.TcpSender in the simulator; a test's fake);
    none by default, as a board without one."""
    ac = SimAc()
    return Hal(ac, SimBattery(), SimRelay(ac), ScriptKeypad(), SimDisplay(), SimWatchdog(), storage_root,
               clock or SimClock(), reset_cause, Calibration(V_GAIN_UV, I_GAIN_UA), opener=opener, shadow=shadow,
               optical=SimOptical(), push=push,
               battery_divider_milli=BATTERY_DIVIDER_MILLI, adc_ref_mv=ADC_REF_MV)
