"""Datatypes that are not endpoints but objects embedded in another datatype's records
(PowerOffice `Address`: the `MailAddress` of each supplier)."""

from __future__ import annotations

import polars as pl

from talk_assets.systems.schema import Datatype


def derive_records(derived: Datatype, parent: Datatype, parent_frame: pl.DataFrame) -> pl.DataFrame:
    """One record per embedded object that has an id; the parent's id and last-changed time
    become the record's owner and last-changed time (an address changes with its supplier)."""
    prefix = f"{derived.embedded_as}."
    columns = []
    for f in derived.fields:
        if f.path == derived.parent:
            source = parent.id_field
        elif f.path == derived.last_changed_field:
            source = parent.last_changed_field
        else:
            source = prefix + f.path
        expr = pl.col(source) if source in parent_frame.columns else pl.lit(None)
        columns.append(expr.cast(f.polars_type).alias(f.path))
    return (
        parent_frame.select(columns)
        .filter(pl.col(derived.id_field).is_not_null())
        .unique(subset=[derived.id_field], keep="last", maintain_order=True)
    )
