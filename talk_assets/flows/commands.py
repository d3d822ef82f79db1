"""`talk-assets flows import` and `flows render`.

Kept quick on purpose: only the flow model, the YAML spec format and the document parser are
imported here, never Dagster, polars or httpx.
"""

from __future__ import annotations

import argparse
import sys

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
