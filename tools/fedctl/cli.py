"""The root command: global options, and the error policy of every command (one line on
stderr, exit code 1, no traceback)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from client import FederationError
from tools.devstack.stack import StackError
from tools.fedctl.api import Settings
from tools.fedctl.context import SERVER_ENV
from tools.fedctl.errors import CliError
from tools.fedctl.quantities import QuantityError

DEBUG_ENV = "FEDCTL_DEBUG"


class FedctlGroup(click.Group):
    """Runs click without its standalone error printing and reports every failure as one
    line. Overriding `main` keeps the console script and click's CliRunner identical."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> NoReturn:
        try:
            result = super().main(args, prog_name or "fedctl", complete_var, False, **extra)
        except click.exceptions.Abort:
            _fail("interrupted", 130)
        except click.ClickException as error:
            _fail(error.format_message())
        except FederationError as error:
            _fail(f"{error.code.name}: {error.message}")
        except (CliError, QuantityError, StackError) as error:
            _fail(str(error))
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except Exception as error:
            if os.environ.get(DEBUG_ENV):
                raise
            _fail(f"unexpected {type(error).__name__}: {error} (set {DEBUG_ENV}=1 for details)")
        sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str, code: int = 1) -> NoReturn:
    line = " ".join(message.split())
    click.echo(f"error: {line}", err=True)
    sys.exit(code)


@click.group(cls=FedctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--server",
    "-s",
    envvar=SERVER_ENV,
    metavar="HOST:PORT[,...]",
    help=f"Proxy addresses (default: ${SERVER_ENV}, then the context of `fedctl dev up`).",
)
@click.option(
    "--request-timeout",
    type=click.FloatRange(min=0.1),
    default=15.0,
    show_default=True,
    metavar="SECONDS",
    help="Give up on an unreachable federation after this long.",
)
@click.version_option(package_name="fedproxy", prog_name="fedctl")
@click.pass_context
def cli(ctx: click.Context, server: str | None, request_timeout: float) -> None:
    """fedctl: place workloads on a fleet of Kubernetes clusters and run the one-machine
    stack."""
    ctx.obj = Settings(server=server, request_timeout_s=request_timeout)
