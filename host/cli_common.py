"""What the `opsm` command groups share: the end of a command on bad input (a message naming the field and
the rule, exit status 1), and where the vending registry and key file live."""

import functools
import os
import sys

import click

DEFAULT_HOME = os.path.join(os.path.expanduser("~"), ".local", "share", "opsm")


class CliError(click.ClickException):
    """Bad input: message on stderr, exit status 1."""

    exit_code = 1


def reports_errors(command):
    """Turn ValueError (our validation errors name the field) into a clean exit 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ValueError as exc:
            raise CliError(str(exc)) from None

    return wrapper


def home_option(function):
    function = click.option("--db", envvar="OPSM_DB", show_envvar=True,
                            default=lambda: os.path.join(DEFAULT_HOME, "registry.sqlite"),
                            help="SQLite meter registry.")(function)
    function = click.option("--keyfile", envvar="OPSM_KEYFILE", show_envvar=True,
                            default=lambda: os.path.join(DEFAULT_HOME, "vending-keys.json"),
                            help="Encrypted vending key file.")(function)
    return function


def read_passphrase(confirm: bool = False) -> str:
    value = os.environ.get("OPSM_PASSPHRASE")
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise ValueError("passphrase: set OPSM_PASSPHRASE or run from a terminal")
    return click.prompt("Vending key passphrase", hide_input=True, confirmation_prompt=confirm)


DB_HELP = ("Operations database (harvested readings, customers, sales): a file path, sqlite:///PATH or "
           "postgresql://user:password@host/db.")


def db_option(function):
    return click.option("--db", envvar="OPSM_HARVEST_DB", show_envvar=True, default="harvest.sqlite",
                        help=DB_HELP)(function)
