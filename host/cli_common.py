"""What the `opsm` command groups share: the end of a command on bad input (a message naming the field and
the rule, exit status 1), where the vending registry and key file live, and how a result is printed."""

import functools
import json
import os
import sys

import click

from opsm.host.registry import Registry

DEFAULT_HOME = os.path.join(os.path.expanduser("~"), ".local", "share", "opsm")


class CliError(click.ClickException):
    """Bad input: message on stderr, exit status 1."""

    exit_code = 1


# Import name -> the extra of pyproject.toml that installs it (the base install is the technician's).
EXTRA_OF = {"PIL": "sim", "pymodbus": "sim", "starlette": "console", "jinja2": "console", "multipart": "console",
            "python_multipart": "console", "uvicorn": "console", "reportlab": "console", "openpyxl": "console",
            "xlrd": "console", "pg8000": "headend", "xlwt": "headend", "xlsxwriter": "headend",
            "jsonschema": "headend", "celery": "headend", "pyproj": "portal", "simplekml": "portal"}


def missing_extra(exc: ModuleNotFoundError) -> CliError | None:
    """A command that needs a library an extra brings, told how to install it; None for any other module."""
    name = (exc.name or "").partition(".")[0]
    extra = EXTRA_OF.get(name)
    if extra is None:
        return None
    return CliError("%s: not installed; this command needs opsm's %r extra: pip install 'opsm[%s]'"
                    % (name, extra, extra))


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
                            help="Meter registry: a SQLite file path, sqlite:///PATH or "
                                 "postgresql://user:password@host/db.")(function)
    function = click.option("--keyfile", envvar="OPSM_KEYFILE", show_envvar=True,
                            default=lambda: os.path.join(DEFAULT_HOME, "vending-keys.json"),
                            help="Encrypted vending key file.")(function)
    return function


def open_registry(db: str) -> Registry:
    """--db: a SQLite file (its folder is made), sqlite:///PATH, or a postgresql:// URL."""
    path = db[len("sqlite:///"):] if db.startswith("sqlite:///") else db
    if "://" not in path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return Registry(db)


def emit(obj: dict, as_json: bool, text: str) -> None:
    """A command's result: one JSON object with --json, else the text for people."""
    click.echo(json.dumps(obj, sort_keys=True) if as_json else text)


def read_passphrase(confirm: bool = False) -> str:
    """The key file's passphrase from OPSM_PASSPHRASE, or asked at the terminal.

    confirm: a new passphrase (asked twice at a terminal), which must be long enough for a new key file
    (host.keystore.MIN_PASSPHRASE characters); a shorter one is asked again at a terminal, refused from
    the environment. An existing key file is opened with whatever passphrase it was made under."""
    from opsm.host.keystore import KeyStoreError, check_new_passphrase

    value = os.environ.get("OPSM_PASSPHRASE")
    if value is not None:
        if confirm:
            check_new_passphrase(value, "OPSM_PASSPHRASE")
        return value
    if not sys.stdin.isatty():
        raise ValueError("passphrase: set OPSM_PASSPHRASE or run from a terminal")
    if not confirm:
        return click.prompt("Vending key passphrase", hide_input=True)

    def long_enough(text: str) -> str:
        try:
            check_new_passphrase(text)
        except KeyStoreError as exc:
            raise click.BadParameter(str(exc)) from None
        return text

    return click.prompt("New vending key passphrase", hide_input=True, confirmation_prompt=True,
                        value_proc=long_enough)


DB_HELP = ("Operations database (harvested readings, customers, sales): a file path, sqlite:///PATH or "
           "postgresql://user:password@host/db.")


def db_option(function):
    """--db of every command on the operations database (`opsm harvest` has the same default and variable:
    harvest, then export or report, with no --db, meet in one file)."""
    return click.option("--db", envvar="OPSM_HARVEST_DB", show_envvar=True, default="harvest.sqlite",
                        show_default=True, help=DB_HELP)(function)
