"""The meter: metering, credit, relay, keypad, screen and persistence wired together.

Every input is a method call that carries the time, so the same object runs on a
board (app.py drives it from asyncio tasks) and in the simulator (virtual time).
Times: now_s is the clock in seconds since 2000-01-01 UTC, now_ms a ticks_ms value.
The wall clock only dates things and decides months and hours; lock-outs and the
relay's anti-chatter count the meter's running time (meterclock), which no clock
change moves. The clock itself changes only through set_clock().
"""

import gc
from array import array

from protocol import token_result as R
from protocol.lockout import Lockout, unpack_lockout

from protocol import civil, events
import hal as hal_module
import keypad_fsm as kf
import screens
import calibration
from eventlog import EventLog
import loadprofile
import metering
from meterclock import MeterClock
from recharge import Outcome, Recharger
from records import RecordStore
from relay_policy import RelayPolicy, RelaySettings
from settings import Settings, unpack_settings
from ticks import ticks_add, ticks_diff

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

_SAVE_EVERY_WH = const(50)          # consumption that forces a save (bounds the loss at a power cut)
_SAVE_EVERY_MS = const(15 * 60000)  # and at least every 15 minutes (energy, running time, the clock's floor)
_REFRESH_MS = const(30 * 60000)     # the screen redraws on its own every 30 minutes
_RESULT_MS = const(8000)            # how long a code's result stays on screen
# What an ADMIN event changed (its payload a; protocol/event_names.ADMIN_CHANGES names them;
# a setting saved by the admin menu's SALIR: events.ADMIN_SETTINGS by its key)
_ADMIN_PASSWORD = const(6)
_ADMIN_CALIBRATION = const(8)
_ADMIN_REMOTE = const(9)
BY_KEYPAD = const(1)    # who changed the clock or a secret (event_names.BY)
BY_DLMS = const(2)
_STEP_BACK = const(0x100)
_ADMIN_MAGIC = const(0xAD)  # the admin record: magic, version, lock-out in running time, password
_ADMIN_VERSION = const(2)


class Meter:
    def __init__(self, hal, profile, code_lengths=(20,), burst_samples: int = 64, period_us: int = 521,
                 provisioned=None, settings=None):
        """provisioned: credentials.Credentials from provision.json, taken the first time they are needed;
        settings: its settings.Settings, used until the meter has a settings record of its own."""
        self.hal = hal
        self.profile = profile
        self._code_lengths = code_lengths  # the keypad's, once booted (fsm.code_lengths)
        self.burst_samples = burst_samples
        self.period_us = period_us
        self.provisioned = provisioned
        self.settings = settings  # provisioned, or made at boot when there is no record either
        self._dlms: object = None  # credentials.DlmsAccess, loaded when a port or the menu needs it
        self._vbuf = array("H", bytes(2 * burst_samples))
        self._ibuf = array("H", bytes(2 * burst_samples))
        self.reading: metering.Reading | None = None
        self.result: Outcome | None = None  # Outcome of the last code, shown until _result_until
        self._result_until = 0
        self._calibration_low: tuple | None = None  # (raw, true) of the first calibration point
        self.dirty = True             # the screen must be redrawn

    # --- start-up -------------------------------------------------------------

    def boot(self, now_s: int, now_ms: int) -> None:
        """Start from flash. now_s is the RTC's time as the board came up: an RTC behind the last
        persisted time (it lost power) is moved to it first."""
        root = self.hal.storage_root.rstrip("/") + "/"
        data = self.record("settings").load()
        if data is not None:
            self.settings = unpack_settings(data)
        elif self.settings is None:
            self.settings = Settings()
        data = self.record("calibration").load()
        cal = calibration.unpack_calibration(data) if data is not None else self.hal.calibration
        self.power = metering.PowerMeter(cal)
        table = metering.LIFEPO4_8S if self.settings.get("battery") == "lifepo4" else metering.LEAD_ACID_24V
        self.battery = metering.BatteryMonitor(self.hal.battery_divider_milli, self.hal.adc_ref_mv, table,
                                               gain_ppm=cal.bat_gain_ppm)
        self.battery.add_sample(self.hal.battery.read())
        store = RecordStore(root + "state", self.hal.opener)
        state: object = store
        if self.hal.shadow is not None:
            from shadow import MirroredStore  # only boards with a raw-flash region

            state = MirroredStore(store, self.hal.shadow)
        self.clock = MeterClock(self.hal.clock)
        self.recharger = Recharger(state, self.profile, metering.EnergyRegister(), self.clock)
        self._billed_wh = self.recharger.energy.import_wh  # consumption charged up to the saved energy
        self.log = EventLog(root + "events", opener=self.hal.opener)
        self.log.load()
        self._push_setup()  # before the clock resumes: a notifier made now notes when the power went
        behind = self.clock.resume()
        now_s = self.hal.clock.now_s()
        # Load profiles: 15 minutes for 7 days, hours for 35 days, as the register map lays them out.
        self.profiles = loadprofile.meter_profiles(root, self.hal.opener)
        for profile in self.profiles:
            profile.load()
        record, admin_lockout = self._load_admin()
        self.fsm = kf.KeypadFsm(record, admin_lockout, self._code_lengths, self.settings)  # the menu reads them
        self.log.append(now_s, events.WATCHDOG_RESET if self.hal.reset_cause == hal_module.RESET_WATCHDOG else events.POWER_UP)
        if behind:
            self.log.append(now_s, events.CLOCK_RESUMED, min(behind // 60, 0xFFFFFF))
        self._grant_advance(now_s)  # one SALIR saved before a power cut reached the ledger
        self.relay = RelayPolicy(self._relay_settings())
        self.relay.remote_open = self.settings.get("remote_open") == 1
        self._new_month(now_s)
        closed = self.relay.boot(self.clock.run_s, self._hour(now_s), self.available_wh(), self.ledger.unlimited,
                                 self.battery.voltage_mv())
        self.hal.relay(closed)
        self.log.append(now_s, events.RELAY, 1 if closed else 0, 1)
        self._low_credit = self.relay.low_credit(self.available_wh(), self.ledger.unlimited)
        self._last_ms = now_ms
        self._saved_ms = now_ms
        self._unsaved_wh = 0
        self._drawn_ms = now_ms
        gc.collect()  # what reading the flash left behind, before the app's tasks take their places

    def record(self, name: str, loaded: bool = False) -> RecordStore:
        """A record store made when needed, not kept: three of them cost ~1 KB of a board's heap."""
        store = RecordStore(self.hal.storage_root.rstrip("/") + "/" + name, self.hal.opener)
        if loaded:
            store.load()  # finds the slot to write next
        return store

    def _relay_settings(self) -> RelaySettings:
        s = self.settings
        return RelaySettings(s.get("battery_cut_mv"), s.get("battery_restore_mv"), s.get("min_switch_s"),
                             s.get("friendly_start_h"), s.get("friendly_end_h"), s.get("low_credit_wh"))

    def set_setting(self, name: str, value) -> None:
        """Change one setting (admin menu or a port), save it and apply it at once."""
        self.settings.set(name, value)
        self.record("settings", True).save(self.settings.pack())
        self.relay.settings = self._relay_settings()
        self.dirty = True
        if name == "push_to":
            self._push_setup()

    def _push_setup(self) -> None:
        """Push on (a destination, and a board that can send) or off: the notifier (notifier.Notifier), its code
        and its queue are in the heap only while it is on. It is the event log's listener, not an attribute of
        the Meter: one more grows the meter's dict at boot by more than the soak's heap can give in one piece."""
        if self.settings.get("push_to") and self.hal.push is not None:
            if self.log.listener is None:
                from notifier import Notifier

                self.log.listener = Notifier(self)
        else:
            self.log.listener = None

    def _load_admin(self):
        """(password record, packed, lock-out) of the admin record. One without the magic is older: its
        lock counted wall time, so its failures stay and the lock does not. The password record is
        checked here and kept packed: password.py's code is in the heap only while the admin menu is."""
        import password

        data = self.record("admin").load()
        if data is None:
            record, lockout = password.factory_record().pack(), Lockout()
        elif data[0] == _ADMIN_MAGIC and data[1] == _ADMIN_VERSION:
            record, lockout = bytes(data[9:]), unpack_lockout(data[2:9])
        else:
            record, lockout = bytes(data[7:]), unpack_lockout(data[0:7])
            lockout.until = 0
        password.unpack_password(record)  # one this firmware cannot read stops it here, at boot
        hal_module.release(("password",))
        return record, lockout

    def _save_admin(self) -> None:
        self.record("admin", True).save(bytes((_ADMIN_MAGIC, _ADMIN_VERSION)) + self.fsm.lockout.pack()
                                        + self.fsm.record)

    def dlms_access(self):
        """The DLMS secrets and their lock-out (credentials.DlmsAccess), loaded the first time asked."""
        access = self._dlms
        if access is None:
            from credentials import DlmsAccess

            access = self._dlms = DlmsAccess(self, self.provisioned)
            self.provisioned = None  # in the record now, or ignored because one was there
        return access

    # --- state the screen, the ports and the tests read ---------------------------

    @property
    def ledger(self):
        return self.recharger.ledger

    @property
    def energy(self):
        return self.recharger.energy

    def available_wh(self) -> int:
        return self.ledger.available_wh()

    def snapshot(self) -> dict:
        """The values protocol/registers.py names, in integer milli-units or whole Wh."""
        r, e = self.reading, self.energy
        return {"serial": self.settings.get("serial") or "0", "import_wh": e.import_wh, "export_wh": e.export_wh,
                "import_varh": e.import_varh, "export_varh": e.export_varh,
                "power_w": metering.watts(r.p_mw) if r else 0, "voltage_mv": r.vrms_mv if r else 0,
                "current_ma": r.irms_ma if r else 0, "freq_mhz": r.freq_mhz if r else 0,
                "pf_milli": r.pf_milli if r else 1000, "battery_mv": self.battery.voltage_mv(),
                "credit_wh": self.available_wh(), "relay": 1 if self.relay.closed else 0}

    def value(self, key: str):
        """A register's value now (a key of protocol/registers.py): snapshot()[key], without building the
        whole snapshot for the keys the load profiles capture."""
        if key in ("import_wh", "export_wh", "import_varh", "export_varh"):
            return getattr(self.energy, key)
        if key == "voltage_mv":
            return self.reading.vrms_mv if self.reading else 0
        if key == "battery_mv":
            return self.battery.voltage_mv()
        if key == "credit_wh":
            return self.available_wh()
        return self.snapshot()[key]

    def _hour(self, now_s: int) -> int:
        return civil.date(now_s + self.settings.get("utc_offset_min") * 60)[3]

    # --- metering -------------------------------------------------------------

    def measure(self) -> None:
        """One burst of simultaneous v and i samples (a board: ~30 a second)."""
        self.hal.ac.burst(self._vbuf, self._ibuf, self.burst_samples, self.period_us)
        self.power.add_burst(self._vbuf, self._ibuf, self.burst_samples, self.period_us)

    def second(self, now_s: int, now_ms: int) -> None:
        """Close a reading: energy, credit, month, relay, persistence (a board: every second)."""
        reading = self.power.reading()
        self.reading = reading
        self.clock.tick(now_ms)
        dt = ticks_diff(now_ms, self._last_ms)
        self._last_ms = now_ms
        self.energy.add(reading.p_mw, reading.q_mvar, dt if dt > 0 else 0)
        self.battery.add_sample(self.hal.battery.read())
        used = self.energy.import_wh - self._billed_wh
        if used > 0:
            self._billed_wh += used
            self._unsaved_wh += used
            self.ledger.consume(used)
        self._new_month(now_s)
        if self.relay.fault:  # a reading went through: metering works again
            self.relay.fault = False
            self.dirty = True
        self._update_relay(now_s)
        low = self.relay.low_credit(self.available_wh(), self.ledger.unlimited)
        if low and not self._low_credit:
            self.log.append(now_s, events.LOW_CREDIT, self.available_wh())
            self.dirty = True
        self._low_credit = low
        if self._unsaved_wh >= _SAVE_EVERY_WH or ticks_diff(now_ms, self._saved_ms) >= _SAVE_EVERY_MS:
            self.save(now_ms)
        for profile in self.profiles:  # once per boundary, however often second() is called
            time_s = profile.due(now_s)
            if time_s:
                profile.capture(time_s, [self.value(key) for key in profile.columns])

    def save(self, now_ms: int) -> None:
        self.clock.tick(now_ms)
        self.recharger.save()
        self._saved_ms = now_ms
        self._unsaved_wh = 0

    def _new_month(self, now_s: int) -> None:
        month = civil.month_id(now_s + self.settings.get("utc_offset_min") * 60)
        if self.ledger.new_month(month, self.settings.get("subsidio_wh")):
            self.log.append(now_s, events.MONTH, self.settings.get("subsidio_wh"))
            self.recharger.save()
            self.dirty = True

    def _update_relay(self, now_s: int) -> None:
        cause = self.relay.update(self.clock.run_s, self._hour(now_s), self.available_wh(), self.ledger.unlimited,
                                  self.battery.voltage_mv())
        if cause:
            self.hal.relay(self.relay.closed)
            self.log.append(now_s, events.RELAY, 1 if self.relay.closed else 0, cause)
            self.dirty = True

    def metering_failed(self, now_s: int) -> None:
        """The metering task failed (the app restarts it): no supply the meter cannot meter and
        charge, so the relay opens now; the next good reading lets the usual rules close it."""
        self.relay.fault = True
        self._update_relay(now_s)
        self.dirty = True

    def remote_switch(self, reconnect: bool, now_s: int) -> bool:
        """A head-end's disconnect/reconnect (DLMS disconnect control): a reconnect only lifts the
        remote cut, so credit, battery and the anti-chatter rule still decide. Saved at once."""
        if self.relay.remote_open == (not reconnect):
            return True
        self.relay.remote_open = not reconnect
        self.set_setting("remote_open", 0 if reconnect else 1)
        self.log.append(now_s, events.ADMIN, _ADMIN_REMOTE, 0 if reconnect else 1)
        self._update_relay(now_s)
        return True

    # --- clock and credentials ---------------------------------------------------

    def set_clock(self, new_s: int, now_ms: int, source: int) -> bool:
        """Move the wall clock (admin menu or a management association); the rules are meterclock's.
        Logged either way; a change that is made is persisted at once."""
        old = self.hal.clock.now_s()
        self.clock.tick(now_ms)
        why = self.clock.set(new_s)
        if why:
            self.log.append(old, events.CLOCK_REFUSED, why, source)
            return False
        step = new_s - old
        self.log.append(new_s, events.CLOCK_SET, min(abs(step) // 60, 0xFFFFFF),
                        source | (_STEP_BACK if step < 0 else 0))
        self._new_month(new_s)
        self.save(now_ms)
        self._update_relay(new_s)
        self.dirty = True
        return True

    # --- keypad and codes -------------------------------------------------------

    def key(self, k: str, now_s: int, now_ms: int) -> None:
        self.dirty = True
        if self.result is not None:  # any key clears a code's result
            self.result = None
        run_s = self.clock.tick(now_ms)
        if self.fsm.mode == kf.MENU:
            self._menu_state()  # an item opened now starts from what it shows
        for action in self.fsm.key(k, now_ms, run_s):
            if action[0] == "token":  # called from here, the recharge has one frame less in the heap
                self.enter_code(action[1], now_s, now_ms)
            else:
                self._act(action, now_s, now_ms)

    def tick(self, now_ms: int) -> None:
        if self.fsm.tick(now_ms):
            self.dirty = True
        if self.result is not None and ticks_diff(now_ms, self._result_until) >= 0:
            self.result = None
            self.dirty = True

    def enter_code(self, code: str, now_s: int, now_ms: int):
        """A recharge code from the keypad or a port; returns the Outcome."""
        gc.collect()  # decode and the atomic save need the most heap of anything: give them all of it
        outcome = self.recharger.enter(code, self.clock.tick(now_ms))
        if outcome.ok:
            self.log.append(now_s, events.RECHARGE, outcome.credit_wh, outcome.repaid_wh // 100)
        else:
            self.log.append(now_s, events.REJECTED, R.REASONS.index(outcome.reason), outcome.lock_s)
        self._saved_ms = now_ms
        self._unsaved_wh = 0  # the pipeline's save carried the consumption too
        self.result = outcome
        self._result_until = ticks_add(now_ms, _RESULT_MS)
        self.dirty = True
        self._update_relay(now_s)
        return outcome

    def _act(self, action, now_s: int, now_ms: int) -> None:
        name = action[0]
        if name == "settings":
            self._save_settings(action[1], now_s)
        elif name == "clock":
            digits = action[1]
            local = civil.seconds(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]), int(digits[8:10]),
                                  int(digits[10:12]))
            if not self.set_clock(local - self.settings.get("utc_offset_min") * 60, now_ms, BY_KEYPAD):
                self.fsm.report("HORA: rechazada (atras max 5 min, 1 vez al dia)", "invalid")
        elif name == "lls_secret":
            self.dlms_access().change_lls(action[1].encode(), BY_KEYPAD)
        elif name == "calibrate":
            self._calibrate(action[1], action[2], now_s)
        elif name in ("password", "lockout"):
            self._save_admin()
            if name == "password":
                self.log.append(now_s, events.ADMIN, _ADMIN_PASSWORD)
            elif action[1]:
                self.log.append(now_s, events.ADMIN_LOCKOUT, action[1])

    def _save_settings(self, changes, now_s: int) -> None:
        """SALIR: every setting the admin edited, (key, value) in the setting's unit, in one write of
        the settings record, so a power cut keeps all old or all new. An advance (credito_wh) rides in
        it as the ledger's next grant and reaches the ledger just after, or at the next boot if the
        power fails in between. Each change is logged by its key's code (events.ADMIN_SETTINGS)."""
        new = Settings(self.settings.values)
        try:
            for key, value in changes:
                if key == "credito_wh":  # not a standing setting: an advance to grant
                    if not self.ledger.room_for(value):
                        raise ValueError(R.MESSAGES[R.OVERFLOW])
                    new.set("credito_grant", (self.ledger.grants + 1) & 0xFFFF)
                new.set(key, value)
        except ValueError as e:  # nothing saved: the admin reads why
            self.fsm.report(str(e), "invalid")
            return
        self.record("settings", True).save(new.pack())
        self.settings = self.fsm.settings = new
        self.relay.settings = self._relay_settings()
        for key, _ in changes:
            if key != "credito_wh":  # logged as the ADVANCE it grants
                self.log.append(now_s, events.ADMIN, events.ADMIN_SETTINGS[key])
        self._grant_advance(now_s)
        self._update_relay(now_s)

    def _grant_advance(self, now_s: int) -> None:
        """The advance the settings hold, if the ledger has not had it yet: credit now, owed by
        the next recharge. Saved with the ledger at once and logged."""
        s = self.settings
        if self.ledger.advance(s.get("credito_wh"), s.get("credito_grant")):
            self.recharger.save()
            self.log.append(now_s, events.ADVANCE, s.get("credito_wh"), self.ledger.owed_wh // 100)
            self.dirty = True

    def _calibrate(self, point: str, true_dv: int, now_s: int) -> None:
        """Two-point voltage calibration against the technician's true-RMS meter."""
        if point == "low":
            self._calibration_low = (self.reading.v_mcounts, true_dv * 100) if self.reading else None
            return
        low, self._calibration_low = self._calibration_low, None
        old = self.power.calibration
        try:
            if low is None or self.reading is None:
                raise ValueError("CALIBRACION: sin lectura, repita")
            gain, offset = calibration.voltage_points(low[0], low[1], self.reading.v_mcounts, true_dv * 100,
                                                      self.hal.calibration.v_gain_uv)
            new = calibration.Calibration(gain, old.i_gain_ua, offset, old.i_offset_ma, old.phase_ns,
                                          old.bat_gain_ppm)
        except ValueError as e:  # the old calibration stays; the technician reads why
            self.fsm.report(str(e), "invalid")
            return
        self.record("calibration", True).save(new.pack())
        self.power.calibration = new
        self.log.append(now_s, events.ADMIN, _ADMIN_CALIBRATION)

    # --- screen -----------------------------------------------------------------

    def needs_redraw(self, now_ms: int) -> bool:
        return self.dirty or ticks_diff(now_ms, self._drawn_ms) >= _REFRESH_MS

    def _menu_state(self) -> None:
        """What the menu shows that is no saved setting, as it is now (KeypadFsm.live)."""
        local = self.hal.clock.now_s() + self.settings.get("utc_offset_min") * 60
        year, month, day, hour = civil.date(local)
        minute = local % 3600 // 60
        live = self.fsm.live
        live["clock"] = "%04d%02d%02d%02d%02d" % (year, month, day, hour, minute)
        live["lls_secret"] = self.dlms_access().credentials.lls is not None
        live["credito_wh"] = self.ledger.owed_wh  # the advance still owed

    def render(self, fb, now_ms: int) -> list:
        """Draw the screen the meter is on into fb; returns the text drawn."""
        self.dirty = False
        self._drawn_ms = now_ms
        if self.fsm.mode == kf.MENU:
            self._menu_state()
        view = self.fsm.view()
        if self.result is not None:
            outcome = self.result
            if outcome.ok and outcome.credit_wh > 0:
                return screens.draw_token_accepted(fb, outcome.credit_wh, self.available_wh(), outcome.repaid_wh)
            if outcome.ok:  # key sections, management and test codes say what they did
                return screens.draw_prompt(fb, "CODIGO ACEPTADO", outcome.message(), "")
            return screens.draw_token_rejected(fb, R.MESSAGES[outcome.reason], _advice(outcome.reason))
        if view.mode == kf.TOKEN:
            return screens.draw_token_entry(fb, view.entry.replace(" ", ""), max(self.fsm.code_lengths), view.message)
        if view.mode in (kf.MENU, kf.EDIT):
            edit = view.entry if view.mode == kf.EDIT else None
            return screens.draw_admin_menu(fb, view.items, view.selected, view.lines, edit, view.message)
        if view.mode != kf.MAIN:
            return screens.draw_prompt(fb, view.title, view.lines[0] if view.lines else "", view.entry,
                                       view.message)
        return self._draw_main(fb, view.message)

    def _draw_main(self, fb, message: str) -> list:
        r = self.reading
        battery_mv = self.battery.voltage_mv()
        if self.relay.fault:
            return screens.draw_alarm(fb, screens.METER_FAULT, self.available_wh(), battery_mv, message)
        if not self.relay.closed and not self.relay.battery_ok:
            return screens.draw_alarm(fb, screens.BATTERY_LOW, self.available_wh(), battery_mv, message,
                                      self.relay.settings.battery_restore_mv)
        if not self.relay.closed and self.available_wh() <= 0 and not self.ledger.unlimited:
            return screens.draw_alarm(fb, screens.CREDIT_OUT, 0, battery_mv, message)
        alarm = screens.ALARM_LINES[screens.LOW_CREDIT] if self._low_credit else ""
        if self.available_wh() <= 0 and not self.ledger.unlimited:  # friendly hours hold the supply
            alarm = "Sin credito: sin corte hasta las %d h" % self.relay.settings.friendly_end_h
        return screens.draw_main(fb, self.settings.get("entity"), metering.watts(r.p_mw) if r else 0, battery_mv,
                                 self.battery.soc_percent(), r.vrms_mv if r else 0, self.available_wh(),
                                 self.relay.closed, alarm, message)


def _advice(reason) -> str:
    """What to do about a rejected code, by its reason."""
    if reason == R.LOCKED:
        return "Intente de nuevo mas tarde"
    if reason in (R.FORMAT, R.CRC, R.INVALID):
        return "Revise el codigo e intente otra vez"
    if reason in (R.USED, R.OLD):
        return "Pida un codigo nuevo a su vendedor"
    return "Consulte a su vendedor"
