"""One run record for every sampling tab: a `Run`, built from the `Step` stream (diffusion/trajectory.py) here only.

A tab's handler checks its own inputs, makes a Run and hands `stream` a `start` that configures the process and
starts the chain (or the chains drawn side by side); `stream` records each Step (its frame, its export record and
what the tab's views keep of it) and yields the page's updates. A ValueError the package raises while starting or
stepping becomes the app's one-line error here, and nowhere else. The handler's last update sends the whole run to
the tab's player (`Run.value`), which plays it in the browser, and stores the Run in the tab's gr.State for export.
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
from visualize.player import has_padding, player_value
from visualize.plots import mean_distance
from visualize.tokens import MASK, PAD, grammar_note, render_step

from .common import CHECKPOINTS
from .inputs import as_user_error

Chains = Iterator[Step] | Sequence[Iterator[Step]]


@dataclass
class Run:
    """A recorded run: per recorded step one frame, with one HTML view per chain (most tabs draw one chain, the
    Clamping trick two side by side, under `heads`), and what the tab's views keep of each Step; then the final
    samples, the grammar's verdicts, the settings with the command that redraws them, and what the export writes.
    The tab's player (ui/player.py) receives `value()` once the run is recorded, and plays it in the browser.

    `style` holds render_step's options (held, row_label, legend) and what a frame shows besides the state:
    "preds" (continuous families: the words the network's x̂0 rounds to, with its distance to them), "guesses"
    (token families: the network's guess in each slot not yet written), "commit" (token families: the final
    sentence coloured by the step each word was written at)."""

    slug: str  # the export's file stem
    title: str  # the export's title
    num_steps: int
    marks: tuple[str, ...] = ()  # what a frame's title notes besides step and t: "clamped", "calls"
    style: dict[str, Any] = field(default_factory=dict)
    heads: tuple[str, ...] = ()  # a title over each chain's column (chains side by side)
    linked: tuple[str, ...] = ()  # elem_ids of the gr.Plot figures that follow the player
    frames: list[tuple[str, ...]] = field(default_factory=list)  # per recorded step: one view per chain
    indices: list[int] = field(default_factory=list)  # per recorded step: its index in the chain
    times: list[float] = field(default_factory=list)  # per recorded step: its t
    views: list[tuple[dict[str, Any], ...]] = field(default_factory=list)  # per recorded step and chain: kept
    records: list[list[dict[str, Any]]] = field(default_factory=list)  # per chain: each step as step_record
    samples: list[list[str]] = field(default_factory=list)  # per chain: the final texts
    verdicts: list[list[Validation]] | None = None  # per chain: the grammar's verdict on each (None: no grammar)
    settings: dict[str, Any] = field(default_factory=dict)  # family, checkpoint, the run's own, the command
    result: dict[str, Any] = field(default_factory=dict)  # the export's result beyond samples and verdicts
    extra: dict[str, Any] = field(default_factory=dict)  # what a tab's figures need beyond the frames
    last: list[Step] = field(default_factory=list, repr=False)  # the final Step of each chain
    tokenizers: list[Any] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.frames)

    def add(self, steps: Sequence[Step], tokenizers: Sequence[Any], keep: Callable[[Step], dict] | None) -> None:
        """Record one Step of each chain: its frame, its export record and what `keep` takes from it."""
        if not self.records:
            self.records = [[] for _ in steps]
        self.tokenizers = list(tokenizers)
        frame, views = [], []
        for chain, (step, tokenizer) in enumerate(zip(steps, tokenizers)):
            words = [tokenizer.tokens(row) for row in step.tokens]
            self.records[chain].append(step_record(step.index, step.t, words, step.confidence, step.changed,
                                                   step.calls))
            frame.append(self._draw(step, words, tokenizer))
            views.append(keep(step) if keep is not None else {})
        self.frames.append(tuple(frame))
        self.indices.append(steps[0].index)
        self.times.append(float(steps[0].t))
        self.views.append(tuple(views))
        self.last = list(steps)

    def _draw(self, step: Step, words: list[list[str]], tokenizer: Any, notes: list[str] | None = None,
              commit: list[list[int | None]] | None = None) -> str:
        options = {k: v for k, v in self.style.items() if k not in ("preds", "guesses", "commit")}
        preds = [tokenizer.tokens(row) for row in step.pred_tokens] if step.index > 0 else None
        distances = None
        if "clamp_distance" in step.extras:
            distances = [mean_distance(row) for row in step.extras["clamp_distance"]]
        return render_step(words, step.confidence, step.changed, index=step.index, t=step.t, num_steps=self.num_steps,
                           clamped=step.extras.get("clamped") if "clamped" in self.marks else None,
                           calls=step.calls if "calls" in self.marks else None, notes=notes,
                           preds=preds if self.style.get("preds") else None,
                           distances=distances if self.style.get("preds") and preds else None,
                           guesses=preds if self.style.get("guesses") else None,
                           tops=_tops(step, tokenizer), commit=commit, **options)

    def finish(self, samples: Sequence[Sequence[str]], verdicts: list[list[Validation]] | None = None,
               note: bool = False) -> None:
        """Keep each chain's final samples and the grammar's verdicts on them; the last frame says under each sample
        what the grammar makes of it (with `note`) and, for token families, when each word was written."""
        self.samples = [list(texts) for texts in samples]
        self.verdicts = verdicts
        notes = [grammar_notes(checks) for checks in verdicts] if note and verdicts is not None else None
        commit = self.style.get("commit")
        if notes is None and not commit:
            return
        self.frames[-1] = tuple(
            self._draw(step, records[-1]["tokens"], tokenizer, notes[c] if notes else None,
                       written_at(records) if commit else None)
            for c, (step, records, tokenizer) in enumerate(zip(self.last, self.records, self.tokenizers)))

    def labels(self) -> list[str]:
        return [f"step {i} of {self.num_steps} · t = {t:.3f}" for i, t in zip(self.indices, self.times)]

    def value(self, start: int | None = None) -> dict[str, Any]:
        """What the tab's player plays: every recorded frame, opening at `start` (default the last)."""
        return player_value(self.frames, self.labels(), heads=self.heads, start=start, linked=self.linked,
                            padding=any(has_padding(views) for views in self.frames[-1:]))

    def live(self) -> dict[str, Any]:
        """The newest frame alone, while the run is still being computed."""
        return player_value(self.frames[-1:], self.labels()[-1:], heads=self.heads, live=True)

    def series(self, key: str, chain: int = 0) -> tuple[list[int], list[Any]]:
        """(step indices, values) of what the views kept as `key`, over the recorded steps that have it."""
        pairs = [(i, views[chain][key]) for i, views in zip(self.indices, self.views) if key in views[chain]]
        return [i for i, _ in pairs], [value for _, value in pairs]

    def export(self) -> dict[str, Any]:
        """What the download buttons write: the first chain's steps, every chain's frames and labels, the settings,
        the result."""
        result = samples_result(self.samples[0], self.verdicts[0] if self.verdicts else None) if self.samples else {}
        return dict(slug=self.slug, title=self.title, settings=self.settings, steps=self.records[0],
                    frames=[list(views) for views in self.frames], labels=self.labels(), heads=list(self.heads),
                    result={**result, **self.result})


TOP_K = 5  # the likeliest words a frame keeps per position, for the player's bar chart


def _tops(step: Step, tokenizer: Any) -> list[list[list[tuple[str, float]] | None]] | None:
    """Per sample and position the network's likeliest words with their probabilities (None where it has said
    nothing yet), from the Step's top-k when the run asked for one."""
    if "top_k" not in step.extras:
        return None
    ids, probs = step.extras["top_k"]  # (B, L, k) each
    out = []
    for row_ids, row_p in zip(ids.tolist(), probs.tolist()):
        out.append([[(w, p) for w, p in zip(tokenizer.tokens(i), ps) if p > 0.005] or None
                    for i, ps in zip(row_ids, row_p)])
    return out


def written_at(records: Sequence[dict[str, Any]]) -> list[list[int | None]]:
    """Per sample and position, the step at which its final token was written: the first recorded step from which
    it held that token to the end (None for padding and what was never written)."""
    final = records[-1]["tokens"]
    out = []
    for b, row in enumerate(final):
        steps: list[int | None] = []
        for k, token in enumerate(row):
            at = None
            for record in reversed(records):
                if record["tokens"][b][k] != token:
                    break
                at = record["index"]
            steps.append(None if token in (PAD, MASK) or not at else at)
        out.append(steps)
    return out


def stream(run: Run, start: Callable[[], Chains], tokenizers: Any, hide: Sequence[Any] = (),
           keep: Callable[[Step], dict[str, Any]] | None = None) -> Iterator[tuple[Any, ...]]:
    """Start the chain(s), record every Step into `run`, and yield the page's updates: the player's newest frame,
    then `hide` on the first frame (the previous run's results, hidden while this one streams) and gr.skip() for
    those outputs after it. `tokenizers`: one, or one per chain. A ValueError from the package, raised while
    starting or stepping, becomes the app's one-line error here."""
    try:
        chains = start()
        chains = [chains] if isinstance(chains, Iterator) else list(chains)
        tokenizers = list(tokenizers) if isinstance(tokenizers, (list, tuple)) else [tokenizers] * len(chains)
        for steps in zip(*chains):
            run.add(steps, tokenizers, keep)
            yield (run.live(), *(hide if len(run) == 1 else [gr.skip()] * len(hide)))
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


def padding(ck: checkpoint.Checkpoint) -> str:
    """How a frame draws padding: a model that draws each sentence's length first never writes it (hidden); a
    fixed-canvas model writes it as a word (one compact marker with its count)."""
    return "hide" if getattr(ck.config, "length_model", None) == "prior" else "compact"


def grammar_checks(ck: checkpoint.Checkpoint, texts: Sequence[str]) -> list[Validation] | None:
    """The built-in grammar's verdict on each final sample, or None for a model of another corpus (no grammar)."""
    if ck.meta.get("corpus") != "builtin":
        return None
    return [validate(text) for text in texts]


def grammar_notes(checks: list[Validation] | None) -> list[str] | None:
    """The line drawn under each final sample: whether the grammar accepts it and, if so, the MR it says."""
    if checks is None:
        return None
    return [grammar_note(v.grammatical, linearise_mr(v.mr) if v.mr else None, reason(v)) for v in checks]


def reason(check: Validation) -> tuple[str, str] | None:
    """(kind, plain words) of the rule a rejected sample breaks, as the views draw it; None for a sentence."""
    return None if check.mistake is None else (check.mistake.kind, check.mistake.message)


def samples_result(texts: Sequence[str], checks: list[Validation] | None) -> dict[str, Any]:
    """An export's final samples, with the grammar's verdict on each when there is a grammar to ask."""
    out: dict[str, Any] = {"samples": list(texts)}
    if checks is not None:
        out["grammatical"] = [v.grammatical for v in checks]
    return out
