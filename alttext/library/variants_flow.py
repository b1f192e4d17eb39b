"""``Library.variants``: which captions to ask about, one durable job each, and what to tell a person.

Runs the jobs now (an explicit request); whatever fails stays queued in the index for the next run or
the daemon (``alttext.index.variant_jobs``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alttext.index.db import Index
from alttext.index.queries import CaptionedFile, captioned_files, captions_with_variants
from alttext.library.results import Progress, VariantsItem, VariantsReport
from alttext.variants import DryRunPlan, VariantClient, normalise_style, plan_dry_run


def _captions_to_ask(index: Index, paths: Iterable[str], n: int, style: str, force: bool
                     ) -> tuple[list[CaptionedFile], list[tuple[str, str]], dict[int, str], set[int]]:
    """(files named, problems, caption id -> text still to ask about, caption ids that have N already)."""
    targets, problems = captioned_files(index, list(paths))
    captions: dict[int, str] = {}
    for target in targets:
        captions.setdefault(target.caption_id, target.caption)
    done = set() if force else captions_with_variants(index, list(captions), n, style)
    todo = {caption_id: text for caption_id, text in captions.items() if caption_id not in done}
    return targets, problems, todo, done


def plan_variants(index: Index, paths: Iterable[str], *, n: int, style: str, force: bool
                  ) -> tuple[DryRunPlan, list[tuple[str, str]]]:
    style = normalise_style(style)
    _, problems, todo, _ = _captions_to_ask(index, paths, n, style, force)
    return plan_dry_run(list(todo.values()), n, style), problems


def ask_for_variants(index: Index, client: VariantClient, paths: Iterable[str], *, n: int, style: str, force: bool,
                     progress: Progress | None = None) -> VariantsReport:
    from alttext.index.variant_jobs import queue_variants, run_variant_jobs, stored_variants

    style = normalise_style(style)
    targets, problems, todo, done = _captions_to_ask(index, paths, n, style, force)
    job_of = queue_variants(index, list(todo), n, style, explicit=True)
    advance = progress("variants", len(job_of)) if progress and job_of else None
    counts = run_variant_jobs(index, client, job_ids=list(job_of.values()), on_job=advance)
    outcomes = {outcome.job_id: outcome for outcome in counts.outcomes}
    errors: dict[int, str | None] = dict.fromkeys(done)
    for caption_id, job_id in job_of.items():
        errors[caption_id] = _variants_error(outcomes.get(job_id))
    stored = stored_variants(index, list(errors), style)
    items = [VariantsItem(t.path, t.caption, stored[t.caption_id], errors[t.caption_id]) for t in targets]
    new = sum(1 for caption_id in job_of if errors[caption_id] is None)
    return VariantsReport(items, problems, len(done), new, len(job_of), style, client.model, client.requests_made)


def _variants_error(outcome: Any) -> str | None:
    """What a person needs to know about one variants job's outcome (None: variants stored)."""
    if outcome is None:  # never reached: the request cap stopped the run first
        return "request cap reached; queued for the next run"
    if outcome.status == "done":
        return None
    if outcome.status == "capped":
        return f"{outcome.error}; queued for the next run"
    if outcome.status == "retrying":
        return f"{outcome.error} (queued; retried by the next run)"
    if outcome.status == "dropped":
        return "the caption changed meanwhile; run again"
    return f"{outcome.error} (run again to retry)"


