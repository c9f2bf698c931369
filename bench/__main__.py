"""`python -m bench <subcommand> [options]`: one entry point; each subcommand is a module of bench/.

Add one by writing `bench/<name>.py` with `add_arguments(parser)` and `run(args)`, and listing it in
SUBCOMMANDS.
"""

from __future__ import annotations

import argparse
import importlib

SUBCOMMANDS = {
    "anonymize": "bench.anonymize",
    "pipeline": "bench.pipeline",
    "subset": "bench.subset",
    "faithful": "bench.faithful",
    "validation": "bench.validation",
    "small": "bench.small",
    "executors": "bench.executors",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=(module.__doc__ or "").splitlines()[0]))
    args = parser.parse_args(argv)
    modules[args.command].run(args)


if __name__ == "__main__":
    main()
