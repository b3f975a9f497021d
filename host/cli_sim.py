"""`opsm sim`: the meter on a virtual board, interactive, playing scenarios, or serving its ports."""

import json
import os
import sys

import click

from opsm.host.cli_common import CliError, reports_errors


@click.group(invoke_without_command=True)
@click.option("--speed", type=float, default=60.0, show_default=True,
              help="Virtual seconds per wall second between typed lines (0: only :advance moves time).")
@click.option("--dlms-port", type=int, default=None, help="Also serve the meter's DLMS/COSEM TCP wrapper (0: any).")
@click.option("--iec21-port", type=int, default=None, help="Also serve its IEC 62056-21 readout on TCP (0: any).")
@click.pass_context
def sim(ctx, speed, dlms_port, iec21_port):
    """The meter on a virtual board: interactive (no subcommand) or scenario files."""
    if ctx.invoked_subcommand is not None:
        return
    import tempfile

    from opsm.simulator.interactive import Console

    with tempfile.TemporaryDirectory() as flash:
        console = Console(flash, speed, click.echo)
        ports = {name: port for name, port in (("dlms", dlms_port), ("iec21", iec21_port)) if port is not None}
        if ports:
            click.echo("ports: %s" % json.dumps(console.serve(ports), sort_keys=True))
        click.echo("Keypad: 0-9 A-D * #, then Enter. :advance 30m, :load 800, :png FILE, :quit")
        console.draw()
        for line in sys.stdin:
            if not console.handle(line):
                break


@sim.command("scenarios")
def sim_scenarios():
    """List the scenarios that come with opsm (play one with `opsm sim run NAME`)."""
    from opsm.simulator import scenario

    for name in scenario.shipped():
        click.echo(name)


@sim.command("run")
@click.argument("files", nargs=-1, required=True, metavar="FILE|NAME...")
@click.option("--runtime", type=click.Choice(["cpython", "micropython"]), default="cpython", show_default=True,
              help="In-process under CPython, or the MicroPython unix port in a subprocess.")
@reports_errors
def sim_run(files, runtime):
    """Play scenario files, or shipped scenarios by name; one JSON summary per scenario; exit 1 if any
    expectation fails."""
    from opsm.simulator import scenario

    failed = 0
    for path in files:
        summary = scenario.run(scenario.find(path), runtime)
        failed += not summary["ok"]
        click.echo(json.dumps(summary, sort_keys=True))
    if failed:
        raise CliError("%d of %d scenarios failed" % (failed, len(files)))


def _port_options(f):
    """Options shared by `sim serve` and `sim fleet`: security, faults, trace, speed."""
    f = click.option("--speed", type=float, default=60.0, show_default=True,
                     help="Virtual seconds per wall second.")(f)
    f = click.option("--lls-password", default=None,
                     help="LLS secret of the management client (SAP 17); default: the meter's setting, OPSM-SP-230.")(f)
    f = click.option("--hls-keys", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="File with 'ek = HEX' and 'ak = HEX': enables client 1, HLS-GMAC, suite 0.")(f)
    f = click.option("--faults", default="", help="Faults on every connection, e.g. "
                     "latency=50,drop=0.1,corrupt=0.05,disconnect_after=3,hang_after=5,seed=7; hostile meters: "
                     "trickle=2.5 (a byte every 2.5 s), endless=blocks or endless=segments.")(f)
    f = click.option("--trace", "trace_dir", type=click.Path(file_okay=False), default=None,
                     help="Write a hex trace (RX/TX lines) per connection into this folder.")(f)
    f = click.option("--push-to", default=None, metavar="HOST:PORT",
                     help="Every meter's DLMS push destination: its events go there as DataNotifications "
                     "(TCP wrapper); also settable over DLMS (opsm dlms push-setup).")(f)
    return f


def _serve_options(faults, trace_dir, lls_password, hls_keys, meters, push_to):
    from opsm.protocol.push import parse_destination
    from opsm.simulator.serve import Faults

    spec = Faults.parse(faults) if faults else None
    if trace_dir:
        os.makedirs(trace_dir, exist_ok=True)
    if push_to:
        try:
            parse_destination(push_to)  # the meter's rule
        except ValueError as exc:
            raise CliError("--push-to: %s" % exc) from None
    return {"lls_password": lls_password.encode() if lls_password else None, "keys_file": hls_keys, "trace_dir": trace_dir,
            "faults": {n: spec for n in meters} if spec else {}, "push_to": push_to}


@sim.command("serve")
@click.option("--dlms-port", type=int, default=4059, show_default=True, help="DLMS/COSEM TCP wrapper port (0: any).")
@click.option("--hdlc-port", type=int, default=None, help="DLMS/COSEM over HDLC on TCP (0: any).")
@click.option("--iec21-port", type=int, default=None, help="IEC 62056-21 mode C readout on TCP (0: any).")
@click.option("--iec21-pty", is_flag=True, help="The optical port on a pseudo-terminal: mode C, and mode E to HDLC.")
@click.option("--modbus-port", type=int, default=None, help="Modbus TCP (0: any).")
@click.option("--modbus-rtu-pty", is_flag=True,
              help="Modbus RTU on a serial line: prints the path of its far end (a pseudo-terminal) to open.")
@click.option("--modbus-unit", type=click.IntRange(1, 247), default=1, show_default=True, help="Modbus RTU unit id.")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Play this scenario's steps first, then serve the meter as they left it.")
@_port_options
@reports_errors
def sim_serve(dlms_port, hdlc_port, iec21_port, iec21_pty, modbus_port, modbus_rtu_pty, modbus_unit, scenario, speed,
              lls_password, hls_keys, faults, trace_dir, push_to):
    """Serve one live virtual meter on 127.0.0.1 until Ctrl-C; prints its ports as one JSON line."""
    import asyncio
    import tempfile

    from opsm.simulator import board, serve
    from opsm.simulator.scenario import load

    scenario_run = board.module("simulator.scenario_run")

    ports = {name: port for name, port in (("dlms", dlms_port), ("hdlc", hdlc_port), ("iec21", iec21_port),
                                           ("modbus", modbus_port)) if port is not None}
    with tempfile.TemporaryDirectory() as folder:
        if scenario:
            run = scenario_run.steps(load(scenario), folder)[0]
        else:
            run = scenario_run.Run({"name": "serve", "meter": dict(serve.DEMO_METER), "system": dict(serve.DEMO_SYSTEM)}, folder)
        if not run.meter.settings.get("serial"):
            run.meter.set_setting("serial", "OPS00000001")
        meters = serve.MeterPorts([run], speed, **_serve_options(faults, trace_dir, lls_password, hls_keys, [0],
                                                                        push_to))

        def started(mapping):
            click.echo(json.dumps({name: values[0] for name, values in mapping.items()}, sort_keys=True))
            sys.stdout.flush()

        try:
            asyncio.run(meters.serve(ports, started=started, optical_pty=iec21_pty, modbus_rtu_pty=modbus_rtu_pty,
                                     modbus_unit=modbus_unit))
        except KeyboardInterrupt:
            pass


@sim.command("fleet")
@click.option("--count", type=int, default=1, show_default=True, help="Meters, each with its own serial.")
@click.option("--base-port", type=int, default=7001, show_default=True,
              help="Port of each site's first meter for the first protocol; the others follow (0: any free ports).")
@click.option("--protocol", "protocols", default="dlms", show_default=True,
              help="Comma-separated: dlms, hdlc, iec21, modbus; each protocol takes the next block of ports "
                   "(as many as a site's meters).")
@click.option("--sites", type=int, default=1, show_default=True,
              help="Contiguous blocks of meters, site k on address 127.0.0.(k+1), each from --base-port on.")
@click.option("--processes", type=int, default=0,
              help="Processes serving the meters, each a contiguous slice (default: one per 2500 meters).")
@click.option("--inventory", type=click.Path(dir_okay=False), default=None,
              help="Write the meters as a harvester inventory (CSV) once they listen, before the JSON line.")
@click.option("--stats", is_flag=True, help="Add start_s, rss_bytes and rss_bytes_per_meter to the JSON line.")
@click.option("--fault-meters", default="", help="Comma-separated meter numbers (0-based) the --faults apply to "
              "(default: all).")
@click.option("--history", default="", help="Recharge every meter and let it live this long first (e.g. 1d): "
              "profiles and events to harvest.")
@_port_options
@reports_errors
def sim_fleet(count, base_port, protocols, sites, processes, inventory, stats, fault_meters, history, speed,
              lls_password, hls_keys, faults, trace_dir, push_to):
    """Serve N virtual meters on loopback until Ctrl-C or SIGTERM; prints the ports (per protocol, in meter
    order) and each meter's address ("hosts") as one JSON line."""
    from opsm.simulator import board
    from opsm.simulator.fleet_processes import FleetError, Plan, run_fleet

    duration_ms = board.module("simulator.scenario_run").duration_ms

    history_ms = duration_ms(history) if history else 0
    plan = Plan(count, [p.strip() for p in protocols.split(",") if p.strip()], base_port, sites, processes)
    try:
        meters = [int(n) for n in fault_meters.split(",") if n.strip()] or range(count)
    except ValueError:
        raise CliError("--fault-meters: write meter numbers separated by commas") from None

    def started(mapping):
        click.echo(json.dumps(mapping, sort_keys=True))
        sys.stdout.flush()

    try:
        run_fleet(plan, speed, started, history_ms, inventory, stats,
                  **_serve_options(faults, trace_dir, lls_password, hls_keys, meters, push_to))
    except KeyboardInterrupt:
        pass
    except FleetError as exc:
        raise CliError(str(exc)) from None
