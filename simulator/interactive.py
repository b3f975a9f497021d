"""`opsm sim`: one meter on the virtual board in the terminal.

Type keypad keys (0-9, A-D, *, #) and press Enter; the screen is drawn as text after
each line. Commands start with ':' —
  :advance 30m     move virtual time on (s, m, h, d), the solar home model running
  :load 800        set the household load in W (replaces the model's appliances)
  :png FILE        save the screen as a PNG
  :quit
Between two lines, virtual time also moves on by the wall time that passed times
--speed (60: a wall second is a virtual minute; 0: only :advance moves it).
"""

import time

from opsm.simulator import board
from opsm.simulator.screenshot import FrameBuffer, GS4_HMSB, save_png
from opsm.simulator.serve import DEMO_METER, DEMO_SYSTEM

_scenario_run = board.module("simulator.scenario_run")
Run, ScenarioError, duration_ms = _scenario_run.Run, _scenario_run.ScenarioError, _scenario_run.duration_ms
watts = board.module("metering").watts
PALETTE = board.module("screens").PALETTE

KEYS = set("0123456789ABCD*#")


class Console:
    def __init__(self, flash_dir: str, speed: float, echo):
        self.run = Run({"name": "interactive", "meter": dict(DEMO_METER), "system": dict(DEMO_SYSTEM)}, flash_dir)
        self.speed = speed
        self.echo = echo
        self.frame = bytearray(160 * 240)
        self._wall = time.monotonic()

    def serve(self, base_ports: dict) -> dict:
        """Serve this meter's ports from a background thread (time moves with the console); {protocol: port}."""
        import asyncio
        import threading

        from opsm.simulator.serve import MeterPorts

        ready = threading.Event()
        ports: dict = {}

        def main() -> None:
            asyncio.run(MeterPorts([self.run], speed=0).serve(
                base_ports, started=lambda p: (ports.update({k: v[0] for k, v in p.items()}), ready.set())))

        threading.Thread(target=main, daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("the meter's ports did not start")
        return ports

    def draw(self) -> None:
        r = self.run
        shown = r.meter.render(FrameBuffer(self.frame, 320, 240, GS4_HMSB), r.clock.ticks_ms())
        width = max([len(line) for line in shown] + [30])
        self.echo("+" + "-" * (width + 2) + "+")
        for line in shown:
            self.echo("| " + line.ljust(width) + " |")
        self.echo("+" + "-" * (width + 2) + "+")
        reading = r.meter.reading
        self.echo("t=%.2f h  relay %s  credit %.3f kWh  energy %.3f kWh  battery %d mV  load %s W" % (
            r.clock.ms / 3600000, "closed" if r.hal.relay.closed else "OPEN", r.meter.available_wh() / 1000,
            r.meter.energy.import_wh / 1000, r.hal.battery.mv, watts(reading.p_mw) if reading else 0))

    def handle(self, line: str) -> bool:
        """One line typed; False when the session ends."""
        now = time.monotonic()
        if self.speed > 0:
            self.run.advance(int((now - self._wall) * self.speed * 1000))
        self._wall = now
        line = line.strip()
        if line.startswith(":"):
            parts = line[1:].split()
            command = parts[0] if parts else ""
            if command == "quit":
                return False
            try:
                if command == "advance" and len(parts) == 2:
                    self.run.advance(duration_ms(parts[1]))
                elif command == "load" and len(parts) == 2:
                    self.run.home = None  # the typed load replaces the model's appliances
                    self.run.hal.ac.load(int(parts[1]))
                elif command == "png" and len(parts) == 2:
                    self.draw_png(parts[1])
                else:
                    self.echo("commands: :advance 30m | :load 800 | :png FILE | :quit")
            except (ScenarioError, ValueError) as exc:
                self.echo("error: %s" % exc)
        else:
            bad = [k for k in line if k not in KEYS]
            if bad:
                self.echo("error: keys are 0-9, A-D, * and #; not %r" % "".join(bad))
            else:
                self.run.type(line)
        self.draw()
        return True

    def draw_png(self, path: str) -> None:
        self.run.meter.render(FrameBuffer(self.frame, 320, 240, GS4_HMSB), self.run.clock.ticks_ms())
        save_png(self.frame, PALETTE, path)
        self.echo("saved %s" % path)
