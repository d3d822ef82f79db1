"""Sesam Talk dataflow documents (reStructuredText) to flow specifications and back.

The parser is line-based rather than built on docutils: docutils is not a dependency of the
project, and a document here is a fixed shape (title, `Generated:` line, introduction, one
section per flow made of known sentences and `list-table` directives), so a small scanner that
keeps every line number gives precise errors ("doc.rst:57: expected ...") that a general rST
parser would bury. Parsing is all or nothing: any defect raises `DocumentError`, so no flow is
ever half-read.

Deliberately lenient where real documents vary: heading underline lengths, the spelling of the
introduction heading ("Introduction."), CRLF line endings, tabs, blank lines and indentation
inside tables, extra table columns (columns are found by header text), and the Sesam phrasings
"If a matching ... already exists" and "A new Y will be created from a X if ..." (the latter
makes a conditional insert). Strict everywhere else: an unknown paragraph is an error, not
something silently dropped.

Paragraphs are read with their whitespace normalised (lines joined by one space), so a
condition is kept verbatim up to whitespace, without its leading "if"/"when"/"only if"/
"provided that" and its final period; `render_document` always writes "if".
"""

from talk_assets.flows.document_blocks import DocumentError
from talk_assets.flows.document_parser import import_file, parse_document
from talk_assets.flows.document_renderer import render_document

__all__ = ["DocumentError", "import_file", "parse_document", "render_document"]
