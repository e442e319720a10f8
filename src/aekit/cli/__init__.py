"""The ``aekit`` command. Thin: it parses, then calls the public Python API.

Heavy modules (torch, the models) are imported inside the commands, so ``aekit --help``
starts without importing torch.

- ``parser``: the subcommands and their flags (``build_parser``);
- ``options``: the family flags (``model_flags``, from the config fields), the training flag
  table, the YAML config and ``resolve_train_options``;
- ``fit``: ``aekit train`` (new runs and ``--resume``) and the run directory checks;
- ``commands``: every other subcommand.
"""

from __future__ import annotations

import logging
import sys

from .options import TRAIN_FLAGS, model_flags, resolve_train_options
from .parser import build_parser

__all__ = ["TRAIN_FLAGS", "build_parser", "main", "model_flags", "resolve_train_options"]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    quiet = bool(getattr(args, "quiet", False))
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    from ..errors import AekitError

    try:
        if getattr(args, "plugin", None):
            from ..nets.registry import load_plugins

            load_plugins(args.plugin)
        return int(args.func(args) or 0)
    except AekitError as e:
        print(f"aekit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aekit: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("aekit: error: out of memory; lower --batch-size or use a smaller model", file=sys.stderr)
        return 1
    except RuntimeError as e:  # torch reports failed allocations as RuntimeError
        if "memory" not in str(e).lower():
            raise
        print("aekit: error: out of memory; lower --batch-size or use a smaller model", file=sys.stderr)
        return 1
