#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""kmig's QAPI generator: schema -> C types, visitors, commands, events and
introspection data.

Usage: main.py -o OUTDIR SCHEMA.json
Stages: parser.py (text -> expressions) -> schema.py (checked model) ->
the gen_*.py back ends, each writing its files only when they change.
Errors print as 'file:line: message' and exit 1.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gen_commands  # noqa: E402
import gen_events  # noqa: E402
import gen_introspect  # noqa: E402
import gen_types  # noqa: E402
import gen_visit  # noqa: E402
from error import QAPIError  # noqa: E402
from parser import Parser  # noqa: E402
from schema import Schema  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output-dir", default=".")
    ap.add_argument("--check-only", action="store_true", help="parse and check, write nothing")
    ap.add_argument("schema")
    args = ap.parse_args(argv)
    try:
        schema = Schema(Parser(args.schema).exprs)
    except QAPIError as e:
        print(e, file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{args.schema}: {e.strerror}", file=sys.stderr)
        return 1
    if args.check_only:
        return 0
    os.makedirs(args.output_dir, exist_ok=True)
    src = os.path.basename(args.schema)
    for backend in (gen_types, gen_visit, gen_commands, gen_events, gen_introspect):
        backend.gen(schema, src, args.output_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
