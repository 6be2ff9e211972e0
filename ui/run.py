"""One run record for every sampling tab: a `Run`, built from the `Step` stream (diffusion/trajectory.py) here only.

A tab's handler checks its own inputs, makes a Run and hands `stream` a `start` that configures the process and
starts the chain (or the chains drawn side by side); `stream` records each Step (its frame, its export record and
what the tab's views keep of it) and yields the page's updates. A ValueError the package raises while starting or
stepping becomes the app's one-line error here, and nowhere else. The handler's last update stores the Run in the
tab's gr.State; scrub, Play and export read it from there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from diffusion import checkpoint
from diffusion.corpus import Validation, linearise_mr, validate
from diffusion.settings import sample_command
from diffusion.trajectory import Step
from visualize.export import step_record
from visualize.tokens import grammar_note, render_step

from .common import CHECKPOINTS
from .inputs import Slider, as_user_error, frame_index

Chains = Iterator[Step] | Sequence[Iterator[Step]]


@dataclass
class Run:
    """A recorded run: per recorded step one frame, with one HTML view per chain (most tabs draw one chain, the
    Clamping trick two side by side), and what the tab's views keep of each Step; then the final samples, the
    grammar's verdicts, the settings with the command that redraws them, and what the export writes."""

    slug: str  # the export's file stem
    title: str  # the export's title
    num_steps: int
    marks: tuple[str, ...] = ()  # what a frame's title notes besides step and t: "clamped", "calls"
    style: dict[str, Any] = field(default_factory=dict)  # render_step's options: held, row_label, legend
    frames: list[tuple[str, ...]] = field(default_factory=list)  # per recorded step: one view per chain
    indices: list[int] = field(default_factory=list)  # per recorded step: its index in the chain
    views: list[tuple[dict[str, Any], ...]] = field(default_factory=list)  # per recorded step and chain: kept
    records: list[list[dict[str, Any]]] = field(default_factory=list)  # per chain: each step as step_record
    samples: list[list[str]] = field(default_factory=list)  # per chain: the final texts
    verdicts: list[list[Validation]] | None = None  # per chain: the grammar's verdict on each (None: no grammar)
    settings: dict[str, Any] = field(default_factory=dict)  # family, checkpoint, the run's own, the command
    result: dict[str, Any] = field(default_factory=dict)  # the export's result beyond samples and verdicts
    extra: dict[str, Any] = field(default_factory=dict)  # what a tab's figures need beyond the frames
    last: list[Step] = field(default_factory=list, repr=False)  # the final Step of each chain

    def __len__(self) -> int:
        return len(self.frames)

    def add(self, steps: Sequence[Step], tokenizers: Sequence[Any], keep: Callable[[Step], dict] | None) -> None:
        """Record one Step of each chain: its frame, its export record and what `keep` takes from it."""
        if not self.records:
            self.records = [[] for _ in steps]
        frame, views = [], []
        for chain, (step, tokenizer) in enumerate(zip(steps, tokenizers)):
            words = [tokenizer.tokens(row) for row in step.tokens]
            self.records[chain].append(step_record(step.index, step.t, words, step.confidence, step.changed,
                                                   step.calls))
            frame.append(self._draw(step, words))
            views.append(keep(step) if keep is not None else {})
        self.frames.append(tuple(frame))
        self.indices.append(steps[0].index)
        self.views.append(tuple(views))
        self.last = list(steps)

    def _draw(self, step: Step, words: list[list[str]], notes: list[str] | None = None) -> str:
        return render_step(words, step.confidence, step.changed, index=step.index, t=step.t, num_steps=self.num_steps,
                           clamped=step.extras.get("clamped") if "clamped" in self.marks else None,
                           calls=step.calls if "calls" in self.marks else None, notes=notes, **self.style)

    def finish(self, samples: Sequence[Sequence[str]], verdicts: list[list[Validation]] | None = None,
               note: bool = False) -> None:
        """Keep each chain's final samples and the grammar's verdicts on them; with `note`, the last frame says
        under each sample what the grammar makes of it."""
        self.samples = [list(texts) for texts in samples]
        self.verdicts = verdicts
        if note and verdicts is not None:
            self.frames[-1] = tuple(self._draw(step, records[-1]["tokens"], grammar_notes(checks))
                                    for step, records, checks in zip(self.last, self.records, verdicts))

    def index(self, frame: Any) -> int:
        """The recorded frame a scrub slider asks for, clamped to the run; a UserError for what is no number."""
        return frame_index(frame, len(self))

    def series(self, key: str, chain: int = 0) -> tuple[list[int], list[Any]]:
        """(step indices, values) of what the views kept as `key`, over the recorded steps that have it."""
        pairs = [(i, views[chain][key]) for i, views in zip(self.indices, self.views) if key in views[chain]]
        return [i for i, _ in pairs], [value for _, value in pairs]

    def scrubber(self) -> Any:
        """The scrub slider over the recorded frames, at the last one."""
        last = len(self) - 1
        return Slider(minimum=0, maximum=last, value=last, step=1, visible=True, interactive=True)

    def export(self) -> dict[str, Any]:
        """What the download buttons write: the first chain's steps, frames and labels, the settings, the result."""
        result = samples_result(self.samples[0], self.verdicts[0] if self.verdicts else None) if self.samples else {}
        return dict(slug=self.slug, title=self.title, settings=self.settings, steps=self.records[0],
                    frames=[views[0] for views in self.frames],
                    labels=[f"step {i} of {self.num_steps}" for i in self.indices], result={**result, **self.result})


def stream(run: Run, start: Callable[[], Chains], tokenizers: Any, hide: Sequence[Any] = (),
           keep: Callable[[Step], dict[str, Any]] | None = None) -> Iterator[tuple[Any, ...]]:
    """Start the chain(s), record every Step into `run`, and yield the page's updates: each chain's frame, then
    `hide` on the first frame (the previous run's results, hidden while this one streams) and gr.skip() for those
    outputs after it. `tokenizers`: one, or one per chain. A ValueError from the package, raised while starting or
    stepping, becomes the app's one-line error here."""
    try:
        chains = start()
        chains = [chains] if isinstance(chains, Iterator) else list(chains)
        tokenizers = list(tokenizers) if isinstance(tokenizers, (list, tuple)) else [tokenizers] * len(chains)
        for steps in zip(*chains):
            run.add(steps, tokenizers, keep)
            yield (*run.frames[-1], *(hide if len(run) == 1 else [gr.skip()] * len(hide)))
    except ValueError as e:
        raise as_user_error(e) from None


# ---- what a run says about itself: its settings and command, the grammar's verdicts --------------------------------
def describe(ck: checkpoint.Checkpoint, redraw: dict[str, Any] | None = None, **settings: Any) -> dict[str, Any]:
    """The settings an export records: the family, which checkpoint, the run's own settings and, for a shipped
    checkpoint, the command that draws the same final samples. `redraw`: what the package's `sample_command` takes
    besides the checkpoint (the configured process, steps, seed, num_samples, the run's conditioning); None where
    the command line cannot say the run."""
    root = CHECKPOINTS.parent.parent
    path = Path(ck.path).resolve()
    shipped = path.is_relative_to(root)
    where = str(path.relative_to(root)) if shipped else "a model trained in the app (kept for that session only)"
    out = {"family": ck.config.family, "checkpoint": where, **settings}
    if shipped and redraw is not None:
        out["command"] = sample_command(where, **redraw)
    return out


def grammar_checks(ck: checkpoint.Checkpoint, texts: Sequence[str]) -> list[Validation] | None:
    """The built-in grammar's verdict on each final sample, or None for a model of another corpus (no grammar)."""
    if ck.meta.get("corpus") != "builtin":
        return None
    return [validate(text) for text in texts]


def grammar_notes(checks: list[Validation] | None) -> list[str] | None:
    """The line drawn under each final sample: whether the grammar accepts it and, if so, the MR it says."""
    if checks is None:
        return None
    return [grammar_note(v.grammatical, linearise_mr(v.mr) if v.mr else None) for v in checks]


def samples_result(texts: Sequence[str], checks: list[Validation] | None) -> dict[str, Any]:
    """An export's final samples, with the grammar's verdict on each when there is a grammar to ask."""
    out: dict[str, Any] = {"samples": list(texts)}
    if checks is not None:
        out["grammatical"] = [v.grammatical for v in checks]
    return out
