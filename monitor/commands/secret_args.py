"""How a command reads a secret: from standard input, an environment variable or a file, never from its
arguments (they show in `ps`). Every command that reads a secret offers the same three forms:
`--X-stdin`, `--X-env VAR`, `--X-file PATH`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from monitor.config.values import TooLarge, read_bounded
from monitor.registry import MAX_TOKEN_LENGTH, RegistryError, check_app_secret, check_token_string


def add_secret_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    flag: str,
    what: str,
    *,
    required: bool = True,
) -> argparse._MutuallyExclusiveGroup:
    """`--{flag}-stdin | --{flag}-env VAR | --{flag}-file PATH`, one of them (`required`)."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument(f"--{flag}-stdin", action="store_true", help=f"read {what} from standard input")
    group.add_argument(f"--{flag}-env", metavar="VAR", help=f"read {what} from environment variable VAR")
    group.add_argument(f"--{flag}-file", metavar="PATH", help=f"read {what} from a file")
    return group


def given(args: argparse.Namespace, flag: str) -> bool:
    """Whether one of the three forms of `flag` was used."""
    dest = flag.replace("-", "_")
    return bool(
        getattr(args, f"{dest}_stdin", False)
        or getattr(args, f"{dest}_env", None)
        or getattr(args, f"{dest}_file", None)
    )


def read_secret(args: argparse.Namespace, flag: str, what: str) -> str | None:
    """The secret given with one of the three forms of `flag`, stripped and checked; None if none was."""
    dest = flag.replace("-", "_")
    env, path = getattr(args, f"{dest}_env", None), getattr(args, f"{dest}_file", None)
    if env:
        value = read_env(env, what)
    elif path:
        value = read_file(path, what)
    elif getattr(args, f"{dest}_stdin", False):
        value = sys.stdin.read(MAX_TOKEN_LENGTH + 2)  # bounded: more than this is refused as too long
    else:
        return None
    # An app secret keys every callback's HMAC and is compared as given: padding is refused, not stripped.
    return check_app_secret(value) if flag == "app-secret" else check_token_string(value, what)


def read_env(var: str, what: str) -> str:
    value = os.environ.get(var)
    if value is None:
        raise RegistryError(f"environment variable {var} (the {what}) is not set")
    return value


def read_file(path: str, what: str) -> str:
    """The file's text, read bounded (a device such as /dev/zero or a FIFO never hangs the command)."""
    try:
        return read_bounded(Path(path), MAX_TOKEN_LENGTH + 2).decode("utf-8")
    except TooLarge:
        raise RegistryError(f"cannot read {what} file {path}: larger than a secret can be") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise RegistryError(f"cannot read {what} file {path}: {reason}") from None


def one_stdin(args: argparse.Namespace, *flags: str) -> None:
    """Refuse two secrets from standard input: the first would swallow the second."""
    if sum(bool(getattr(args, f"{f.replace('-', '_')}_stdin", False)) for f in flags) > 1:
        raise RegistryError("only one secret can come from standard input; give the other with -env or -file")
