"""apply: fold the confirmed writes of a plan into the state (S5, S8, S10).

`state_delta` computes only what changes (rows to add or replace, by key), so a store can
write a batch's outcome without rewriting whole tables; `apply` folds that into a state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import polars as pl

from talk_assets.engine import schemas as sch
from talk_assets.engine.mapping import parse_dynamic, render
from talk_assets.engine.plan import SyncPlan
from talk_assets.engine.state import SyncState
from talk_assets.systems.schema import FIELD_TYPES

SYNCED_KEY = ("flow", "source", "target", "property")
"""The key of a last synced value: a new row for the same key replaces the stored one."""


@dataclass(frozen=True)
class StateDelta:
    """What one batch's outcome changes in the state: `links` and `inserted` rows to add (none
    stored yet), `synced` rows that replace the stored rows with the same `SYNCED_KEY`, and
    `synced_new` rows that can have no stored row to replace: they name a record the batch
    inserted, which no state row named before (a store appends them without looking)."""

    links: pl.DataFrame
    synced: pl.DataFrame
    inserted: pl.DataFrame
    synced_new: pl.DataFrame = field(default_factory=lambda: sch.empty(sch.SYNCED))

    def fold_into(self, state: SyncState) -> SyncState:
        synced = pl.concat([self.synced, self.synced_new])
        kept = state.synced.join(synced, on=list(SYNCED_KEY), how="anti")
        return state.replace(
            links=pl.concat([state.links, self.links]),
            synced=pl.concat([kept, synced]),
            inserted=pl.concat([state.inserted, self.inserted]),
        )


def plan_records(plan: SyncPlan) -> pl.Series:
    """Every record key a plan's outcome can touch in the state: the ends of its pairs, merges
    and insert sources. `state_delta` needs only the state rows naming one of them."""
    keys = [
        plan.baselines["source"],
        plan.baselines["target"],
        plan.merges["source"],
        plan.merges["target"],
        plan.insert_sources["source"],
    ]
    return pl.concat([k.cast(pl.String) for k in keys]).drop_nulls().unique().rename("record")


WRITE_COLUMNS = ("write_id", "source_write", "target_write")
"""The baseline columns naming the writes a pair's synced value waits for."""


def batch_plan(plan: SyncPlan, write_ids: Iterable[str], *, standing: bool) -> SyncPlan:
    """The part of `plan` a batch's outcome can change in the state: `state_delta` of it
    equals `state_delta` of the whole plan for that batch, and reads the state of far fewer
    records (a commit costs in proportion to its batch, not to the plan).

    It keeps the baselines that wait for a write of the batch, the insert sources of every
    write those baselines wait for, and the batch's writes and updates (what its sync log and
    value history read). `standing`: also the merges and
    agreements (baselines that wait for no write), which every batch would record alike; the
    first commit of a run records them (a run cut before that is carried over by planning).
    """
    ids = pl.Series("write_id", list(write_ids), dtype=pl.String)
    waits_for_batch = pl.any_horizontal([pl.col(c).is_in(ids.implode()) for c in WRITE_COLUMNS])
    if standing:
        waits_for_none = pl.all_horizontal([pl.col(c).is_null() for c in WRITE_COLUMNS])
        baselines = plan.baselines.filter(waits_for_batch | waits_for_none)
    else:
        baselines = plan.baselines.filter(waits_for_batch)
    needed = pl.concat([ids, *(baselines[c].cast(pl.String) for c in WRITE_COLUMNS)])
    needed = needed.drop_nulls().unique().implode()
    return replace(
        plan,
        baselines=baselines,
        writes=plan.writes.filter(pl.col("write_id").is_in(ids.implode())),
        insert_sources=plan.insert_sources.filter(pl.col("write_id").is_in(needed)),
        updates=plan.updates.filter(pl.col("write_id").is_in(ids.implode())),
        merges=plan.merges if standing else plan.merges.clear(),
    )


def merged_plans(parts: Sequence[SyncPlan]) -> SyncPlan:
    """`batch_plan`s of several batches of one plan as one, whose `state_delta` records the
    batches together (a group commit) as one after the other would. The first part's other
    frames are kept (every part has the plan's own); a baseline or insert source that several
    batches wait for is kept once."""
    if len(parts) == 1:
        return parts[0]

    def joined(name: str) -> pl.DataFrame:
        frames = [getattr(part, name) for part in parts]
        return pl.concat(frames, how="vertical_relaxed").unique(maintain_order=True)

    names = ("writes", "updates", "baselines", "insert_sources", "merges")
    return replace(parts[0], **{name: joined(name) for name in names})


def apply(
    state: SyncState,
    plan: SyncPlan,
    results: pl.DataFrame,
    confirmed_earlier: Iterable[str] = (),
) -> SyncState:
    """New state after the sinks executed `plan.writes` and answered `results` (RESULTS)."""
    return state_delta(state, plan, results, confirmed_earlier).fold_into(state)


def state_delta(
    state: SyncState,
    plan: SyncPlan,
    results: pl.DataFrame,
    confirmed_earlier: Iterable[str] = (),
) -> StateDelta:
    """The state rows that change after the sinks executed `plan.writes` and answered
    `results` (RESULTS). `state` needs only the links and insert tracking that name one of
    `plan_records(plan)`; its synced values are not read.

    Only confirmed writes (ok) change links, insert tracking and synced values for what they
    wrote (S10); a failed write leaves its pair's synced value as it was, so the difference is
    planned again. A pair's synced value advances only once every write it depends on (one per
    side that did not hold the value) is confirmed: in `results`, or in an earlier batch of the
    same plan (`confirmed_earlier`, write ids). Merges found by criteria and agreements that
    needed no write are recorded as well. The synced value of a written property is the value
    the system stored (S5).
    """
    res = (
        sch.conform(results, sch.RESULTS)
        .filter(pl.col("ok").fill_null(False))
        .rename({"record": "stored_json"})
    )
    writes = plan.writes.join(res, on="write_id", how="inner")

    # Inserts: the new record key, linked to every (flow, source) it serves.
    new_keys = writes.filter((pl.col("op") == "insert") & pl.col("new_id").is_not_null()).select(
        "write_id", new_key=pl.concat_str([pl.col("datatype"), pl.lit(":"), pl.col("new_id")])
    )
    served = plan.insert_sources.join(new_keys, on="write_id")
    inserted = served.select("flow", "source", target="new_key")
    insert_links = served.select("source", target="new_key", origin=pl.lit("insert"), flow="flow")

    # Synced values: agreements, and rows whose writes were all confirmed (stored value if
    # echoed). apply runs once per sink batch: inserts confirmed by an earlier batch are known
    # from insert tracking; a row is recorded in the batch that confirms its last write.
    stored = _stored_values(writes, plan.baselines)
    now = pl.concat([res.select("write_id"), new_keys.select("write_id")]).unique()["write_id"]
    earlier = (
        plan.insert_sources.join(state.inserted, on=["flow", "source"])
        .select("write_id", new_key="target")
        .join(new_keys, on="write_id", how="anti")
        .unique(subset=["write_id"], keep="first", maintain_order=True)
    )
    keys = pl.concat([new_keys, earlier])
    earlier_updates = pl.Series("write_id", list(confirmed_earlier), dtype=pl.String)
    known = pl.concat([now, keys["write_id"], earlier_updates]).implode()
    base = sch.conform(plan.baselines, sch.BASELINES).with_columns(
        target_write=pl.when(
            pl.col("target").is_null()
            & pl.col("target_write").is_null()
            & pl.col("source_write").is_null()
        )
        .then("write_id")
        .otherwise("target_write")
    )
    writes_of = [pl.col(c) for c in ("write_id", "source_write", "target_write")]
    base = base.filter(
        pl.all_horizontal([w.is_null() | w.is_in(known) for w in writes_of])
        & (
            pl.all_horizontal([w.is_null() for w in writes_of])
            | pl.any_horizontal([w.is_in(now.implode()) for w in writes_of])
        )
    )
    for side, col in (("source", "source_write"), ("target", "target_write")):
        base = base.join(
            keys.rename({"write_id": col, "new_key": f"{side}_key"}), on=col, how="left"
        ).with_columns(pl.coalesce(side, f"{side}_key").alias(side))
    base = base.filter(pl.col("source").is_not_null() & pl.col("target").is_not_null())
    base = base.join(
        stored, left_on=["write_id", "written_path"], right_on=["write_id", "path"], how="left"
    ).with_columns(
        value=pl.coalesce(parse_dynamic(pl.col("stored"), pl.col("type")), pl.col("value"))
    )
    new_synced = base.select(list(sch.SYNCED)).unique(
        subset=list(SYNCED_KEY), keep="last", maintain_order=True
    )

    # Links: insert tracking, criteria merges, and pairs that agreed through their cluster.
    pair_links = base.select("source", "target", origin=pl.lit("confirmed"), flow="flow").unique(
        subset=["source", "target"], maintain_order=True
    )
    merge_links = plan.merges.select("source", "target", origin=pl.lit("merge"), flow="flow")
    links = state.links
    added = [sch.empty(sch.LINKS)]
    for new in (insert_links, merge_links, pair_links):
        new = sch.conform(new, sch.LINKS)
        new = new.join(links.select("source", "target"), on=["source", "target"], how="anti")
        new = new.join(
            links.select(source="target", target="source"), on=["source", "target"], how="anti"
        )
        new = new.unique(subset=["source", "target"], maintain_order=True)
        links = pl.concat([links, new])
        added.append(new)

    inserted = (
        sch.conform(inserted, sch.INSERTED)
        .unique(maintain_order=True)
        .join(state.inserted, on=list(sch.INSERTED), how="anti", nulls_equal=True)
    )
    new_synced = sch.conform(new_synced, sch.SYNCED)
    created = new_keys["new_key"].implode()
    names_created = pl.col("source").is_in(created) | pl.col("target").is_in(created)
    return StateDelta(
        links=pl.concat(added),
        synced=new_synced.filter(~names_created),
        inserted=inserted,
        synced_new=new_synced.filter(names_created),
    )


def _stored_values(writes: pl.DataFrame, baselines: pl.DataFrame) -> pl.DataFrame:
    """(write_id, path, stored) from the records the systems answered, as canonical strings.

    Only the fields the plan's baselines read back (`written_path`) are decoded, in their
    field's type (`written_type`): the plan says what each write wrote, so no datatype is
    looked up (a plan reloaded from its stored frames works alike).
    """
    parts = [pl.DataFrame(schema={"write_id": pl.String, "path": pl.String, "stored": pl.String})]
    written = (
        baselines.filter(pl.col("write_id").is_not_null() & pl.col("written_path").is_not_null())
        .select("write_id", path="written_path", field_type="written_type")
        .unique()
    )
    with_record = (
        writes.filter(pl.col("stored_json").is_not_null())
        .select("write_id", "stored_json")
        .join(written, on="write_id")
    )
    fields = with_record.select("path", "field_type").unique().sort("path", "field_type")
    for path, field_type in fields.iter_rows():
        rows = with_record.filter((pl.col("path") == path) & (pl.col("field_type") == field_type))
        value = pl.col("stored_json").str.json_decode(pl.Struct({path: FIELD_TYPES[field_type]}))
        parts.append(
            rows.select("write_id", "path", stored=render(value.struct.field(path), field_type))
        )
    return pl.concat(parts).filter(pl.col("stored").is_not_null())
