"""`opsm`: the command line of the OPSM-SP-230 open prepaid meter tools. Each command group lives in its own
module (host/cli_*.py); this one joins them under one root and ends every error the same way."""

import sys

import click

from opsm.host.cli_common import missing_extra
from opsm.host.cli_console import vend
from opsm.host.cli_dlms import dlms
from opsm.host.cli_export import customers, export, report
from opsm.host.cli_fw import demo, fw
from opsm.host.cli_harvest import harvest_command
from opsm.host.cli_headend import headend
from opsm.host.cli_openpaygo import openpaygo_decode, openpaygo_issue
from opsm.host.cli_portal import portal
from opsm.host.cli_sim import sim
from opsm.host.cli_token import keys, meter, token


class OpsmGroup(click.Group):
    """Every error exits with status 1 and a message, usage errors included."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            exc.show()
            sys.exit(1)
        except ModuleNotFoundError as exc:
            error = missing_extra(exc)
            if error is None:
                raise
            error.show()
            sys.exit(1)
        if standalone_mode:
            sys.exit(code if isinstance(code, int) else 0)
        return code


@click.group(cls=OpsmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "-V", "--version", package_name="opsm")
def cli():
    """Tools for the OPSM-SP-230 open prepaid meter: tokens, meters, keys, demo."""


for _command in (token, meter, keys, sim, fw, demo, dlms, harvest_command, customers, export, report, vend,
                 portal, headend):
    cli.add_command(_command)
token.add_command(openpaygo_issue)
token.add_command(openpaygo_decode)


def main() -> None:
    cli.main(prog_name="opsm")


if __name__ == "__main__":
    main()
