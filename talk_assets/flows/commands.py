"""`talk-assets flows import` and `flows render`.

Kept quick on purpose: only the flow model, the YAML spec format and the document parser are
imported here, never Dagster, polars or httpx.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from talk_assets.flows.document import DocumentError, import_file, render_document
from talk_assets.flows.spec import SpecError, committed_documents, dump_document, load_spec_file


def import_command(args: argparse.Namespace) -> int:
    """Print the flow specification (YAML) of the dataflow document `args.file`."""
    try:
        doc = import_file(args.file)
    except DocumentError as exc:
        print(exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    sys.stdout.write(dump_document(doc))
    return 0


def render_command(args: argparse.Namespace) -> int:
    """Print the spec file `args.spec`, or every committed spec, as dataflow documents."""
    try:
        docs = [load_spec_file(args.spec)] if args.spec else committed_documents()
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{args.spec}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    # Each rendered document ends with a blank line, which separates it from the next.
    sys.stdout.write("".join(render_document(doc) for doc in docs))
    return 0


def list_command(args: argparse.Namespace) -> int:
    """Print the active flows, where each comes from and what does not resolve; exit 1 when
    a flow does not resolve."""
    from talk_assets.commands.environment import load_environment
    from talk_assets.flows.catalog import ACTIVE, ERROR, OFF, catalog

    load_environment()
    entries = catalog(getattr(args, "flows", None))
    width = max([len("flow"), *(len(e.flow.name) for e in entries)])
    print(f"{'status':<7} {'flow':<{width}} file")
    for e in entries:
        print(f"{e.status:<7} {e.flow.name:<{width}} {_shown(e.origin)}")
        for problem in e.problems:
            print(f"        {problem}")
        for absent in e.not_in_api:
            print(f"        not in the API: {absent}")
        if e.off_reason and not e.problems:
            print(f"        {e.off_reason}")
    counts = {s: sum(e.status == s for e in entries) for s in (ACTIVE, OFF, ERROR)}
    print(
        f"\n{len(entries)} flows: {counts[ACTIVE]} active, {counts[OFF]} off, "
        f"{counts[ERROR]} that do not resolve"
    )
    return 1 if counts[ERROR] else 0


def _shown(path: Path) -> str:
    """`path` relative to the working folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
