"""How every `opsm` command ends on bad input: a message naming the field and the rule, exit status 1."""

import functools

import click


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
