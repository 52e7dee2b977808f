"""Where fedctl sends its calls: `--server`, else FEDCTL_SERVER, else the context file
that `fedctl dev up` writes to `$FEDCTL_HOME/context.json` (FEDCTL_HOME defaults to
~/.fedctl)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from tools.fedctl.errors import CliError

SERVER_ENV = "FEDCTL_SERVER"
HOME_ENV = "FEDCTL_HOME"
CONTEXT_FILE = "context.json"


@dataclass
class Context:
    servers: list[str]
    stack_dir: str = ""


def home() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".fedctl")


def context_path() -> Path:
    return home() / CONTEXT_FILE


def load() -> Context | None:
    path = context_path()
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        return Context(servers=[str(s) for s in raw["servers"]], stack_dir=raw.get("stack_dir", ""))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CliError(f"unreadable context file {path}: {error}") from error


def save(context: Context) -> Path:
    path = context_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(context), indent=2) + "\n")
        temporary.replace(path)
    except OSError as error:
        raise CliError(f"cannot write the context file {path}: {error}") from error
    return path


def forget(stack_dir: Path) -> bool:
    """Remove the context when it points at the stack in `stack_dir`."""
    current = load()
    if current is None or Path(current.stack_dir).resolve() != stack_dir.resolve():
        return False
    context_path().unlink(missing_ok=True)
    return True


def servers(override: str | None) -> list[str]:
    """The proxy addresses to use: the flag, the environment, then the context file."""
    for given in (override, os.environ.get(SERVER_ENV)):
        if given:
            return split_servers(given)
    current = load()
    if current is None or not current.servers:
        raise CliError(
            f"no server: run `fedctl dev up`, or pass --server or set {SERVER_ENV} "
            "(comma-separated host:port)"
        )
    return current.servers


def split_servers(text: str) -> list[str]:
    addresses = [part.strip() for part in text.split(",") if part.strip()]
    for address in addresses:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise CliError(f"bad server address {address!r}: expected host:port")
    if not addresses:
        raise CliError("no server address given")
    return addresses
