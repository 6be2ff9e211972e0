"""The Train tab: train a small model of any family in the browser, watch its loss, then use it in every other tab.

The model belongs to the visitor's session only: it is written under SESSION_ROOT/<digest of the session>/ and
named in the session's `models` state; it is deleted when the tab closes, or SESSION_TTL_SECONDS after it was made.
One training runs at a time on the whole Space (a 2-vCPU machine): a second visitor who presses Train meanwhile gets an
error saying how long to wait.
"""

from __future__ import annotations

import copy
import functools
import html
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import gradio as gr
import torch

from diffusion.config import preset
from diffusion.corpus.validator import is_grammatical, validate
from diffusion.corpus.loaders import load_builtin
from diffusion.families import get_family
from diffusion.sampling import sample
from diffusion.seq2seq import candidates_steps, check_source, decode_targets
from diffusion.rows import prepare, skipped_note
from diffusion.training import resolve_device, train
from visualize.tokens import verdict_mark
from visualize.train import Reference, Snapshot, loss_curve_figure, progression_html

from .common import MAX_SEED, TRAINING, explain, forget_models, session_dir, session_load
from .run import reason
from .glossary import TIME
from .inputs import Dropdown, Number, Slider, UserError, as_user_error, whole
from .upload import (BUILTIN, DEFAULT_TOKENIZER, TOKENIZERS, UPLOAD,
                     chosen_columns, fit_to_tab, lengths_note, preselect, read_corpus, read_header,
                     tokenizer_choice, uploaded)

# label -> (family, model overrides)
FAMILY_CHOICES: dict[str, tuple[str, dict[str, Any]]] = {
    "continuous (Diffusion-LM)": ("continuous", {}),
    "seq2seq (DiffuSeq)": ("seq2seq", {}),
    "sedd, absorbing": ("sedd", {"graph": "absorb"}),
    "sedd, uniform": ("sedd", {"graph": "uniform", "noise": "geometric"}),
    "ardm (order-agnostic)": ("ardm", {}),
    "ar (left to right)": ("ar", {}),
}
SIZES = ("tiny", "small")
MIN_SECONDS, MAX_SECONDS, DEFAULT_SECONDS = 5, 300, 60
PREVIEW = 3  # samples drawn from the new model when training ends
TIMELINE = 2  # samples drawn at each point of the progression, from the same noise each time
TIMELINE_AT = (0.0, 1 / 3, 2 / 3)  # fractions of the time cap where they are drawn; the finished model adds the last
REFERENCES = Path(__file__).resolve().parent.parent / "assets" / "train"  # recorded left-to-right curves, by size
UPDATE_SECONDS = 0.5  # at most two redraws of the curve a second
# The family and size whose samples turn most visibly from word salad into sentences in a minute on a 2-core CPU,
# compared at the steps such a minute reaches (the left-to-right model reads sooner: it is the contrast, drawn behind)
DEFAULT_FAMILY = "ardm (order-agnostic)"
DEFAULT_SIZE = "tiny"
REFERENCE_FAMILY = "ar (left to right)"  # the contrast drawn behind the loss curve
# families whose loss is nats per position, like the left-to-right model's (the continuous ones' is a squared distance)
NATS_PER_WORD = ("sedd", "ardm", "ar")
USED_IN = {"continuous": "Denoise, Forward noising, Clamping trick and Embeddings", "seq2seq": "Seq2seq",
           "sedd": "Discrete diffusion", "ardm": "Order-agnostic", "ar": "Compare"}

_lock = threading.Lock()  # one training on the Space at a time
# Keyed by the session folder's name (a digest of the session), never by the client's own string:
_running: dict[str, float] = {}  # while a training runs: its session and when its time cap ends
_stop: dict[str, threading.Event] = {}  # session -> its Stop button's flag
_discard: set[str] = set()  # sessions whose tab closed during their training: the model is deleted, not kept

INTRO = r"""
**Train** a small model of any family here, on the built-in corpus or your own file, and watch its loss fall. The
model is yours for this browser session: pick *trained here* in the other tabs to use it.
"""

DETAILS = r"""
**The one equation.** Every family minimises its own bound on the {{NLL}} of the training sentences,
$$\mathcal L(\theta) \;\ge\; -\log p_\theta(x_0),$$
so a falling loss means the model gives the corpus more probability. Each family's loss:
- continuous / seq2seq: $\lVert f_\theta(x_t, t) - x_0 \rVert^2$ plus the {{rounding}} term $-\log p(w \mid x_0)$
  (see *Embeddings*);
- sedd: the {{score entropy}} of the {{concrete score}}, weighted by $\sigma(t)$ (see *Discrete diffusion*);
- ardm: $\frac{D}{D - j + 1} \sum_{k \notin \sigma(<j)} -\log p(x_k \mid x_{\sigma(<j)})$ over random orders
  (see *Order-agnostic*);
- ar: $-\sum_i \log p(x_i \mid x_{<i})$, the left-to-right model's exact NLL.
""" + TIME + r"""
**What runs.** The same training loop as `python -m diffusion train` (the preset's optimiser, warm-up then cosine
decay, an {{EMA}} of the weights), on the *tiny* preset (2 layers, width 64: quick on a CPU) or *small* (the shipped
checkpoints' size: slower, better). For the diffusion families each training step noises every sentence of the
batch at a random time $t$ and asks the network to undo it; the left-to-right model just predicts each next word.

**Your file.** A `.txt` with one sentence per line, or a `.csv` with a header line: pick the column to train on
(for seq2seq, the source column and the target column) from the names in its header. UTF-8, at most 2 MB, at least
10 rows. The vocabulary is built from your file, as *word*s (punctuation apart; a word seen only once reads as
`[UNK]`) or as *subword (BPE)* pieces, which spell out any word. The model's length is fitted to most of your rows
and is at most 64 tokens (source, separator and target for seq2seq); rows longer than it are skipped, and the
status line says how many and which was the longest.

**Limits.** Training stops at the time cap or when you press Stop; either way the model is saved and usable.
One training runs at a time on this Space; your model is deleted when you close the page, and half an hour after
you trained it.

**Reading the view.** The curve is the training loss, step by step (each family's own). For sedd, ardm and ar
it is in nats per word, so a dashed curve recorded from the left-to-right model on the same corpus and size is drawn
behind it; the continuous families' squared distance is in other units and has no such contrast. Under the curve, a
few sentences the model writes as it learns (at the start, a third and two thirds of the time, and the end; the same
noise each time), then a few more from the finished model. A new training replaces your earlier model of the same
family only when it finishes: the other tabs keep using the earlier one meanwhile.
"""


def _family(label: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(label, str) or label not in FAMILY_CHOICES:
        raise UserError(f"family must be one of {', '.join(map(repr, FAMILY_CHOICES))}, got {label!r}")
    return FAMILY_CHOICES[label]


def _paired(label: Any) -> bool:
    return isinstance(label, str) and label in FAMILY_CHOICES and get_family(FAMILY_CHOICES[label][0]).paired


def column_pickers(label: str, corpus_choice: str, upload: str | None, text: str | None, source: str | None,
                   target: str | None) -> tuple[gr.Dropdown, gr.Dropdown, gr.Dropdown]:
    """The column pickers for the chosen family and file: a .csv upload's header names in each (a name picked before
    is kept while the header has it), the text column shown for the unpaired families, source and target for
    seq2seq; all hidden for a .txt or the built-in corpus."""
    header = read_header(upload) if corpus_choice == UPLOAD else []
    paired = _paired(label)
    text, source, target = (v if v in header else d for v, d in zip((text, source, target), preselect(header)))
    return (gr.Dropdown(choices=header, value=text, visible=bool(header) and not paired),
            gr.Dropdown(choices=header, value=source, visible=bool(header) and paired),
            gr.Dropdown(choices=header, value=target, visible=bool(header) and paired))


def _out_dir(session: Path, family: str) -> Path:
    """A fresh folder for this run, beside the session's earlier models (they go once this one is done)."""
    return session / f"{family}-{time.time_ns()}"


def _drop_older(session: Path, family: str, keep: Path) -> None:
    """The session's earlier models of `family`, once a new one has replaced them (not one a training writes now)."""
    for old in session.glob(f"{family}-*"):
        if old != keep and old not in TRAINING:
            forget_models({family: str(old)})


def _status(step: int, seconds: float, cap: float, loss: float, stopping: bool = False, skipped: str = "") -> str:
    done = min(1.0, seconds / cap) if cap else 0.0
    bar = "█" * round(20 * done) + "░" * (20 - round(20 * done))
    note = (f" · {skipped}" if skipped else "") + (" · stopping…" if stopping else "")
    return f"`{bar}` {100 * done:.0f}% · step {step} · {seconds:.0f} s of {cap:.0f} s · loss {loss:.4f}{note}"


def _draw(family: str, process, model: torch.nn.Module, tokenizer, corpus, count: int,
          seed: int) -> tuple[str | None, list[str]]:
    """`count` samples at the process's default steps, from the seed's noise; for a paired family, targets for the
    first held-out source, returned with it."""
    gen = torch.Generator().manual_seed(seed)
    steps = process.default_steps
    if get_family(family).paired:
        source = check_source(tokenizer, model.config, corpus.sources["validation"][0], corpus.builtin)
        last = list(candidates_steps(process, model, tokenizer, source, count, steps, gen, every=steps))[-1]
        return source, decode_targets(tokenizer, model.config, last.tokens)
    traj = sample(process, model, count, steps, generator=gen, every=steps)
    return None, [tokenizer.decode(row) for row in traj.final.tokens]


def _snapshot(family: str, step: int, process, model: torch.nn.Module, tokenizer, corpus, seed: int,
              note: str = "") -> tuple[Snapshot, str | None]:
    """One point of the progression: TIMELINE samples of the model as it is after `step` steps."""
    source, texts = _draw(family, process, model, tokenizer, corpus, TIMELINE, seed)
    marks = [is_grammatical(t) for t in texts] if corpus.builtin else None
    return Snapshot(step, texts, marks, note), source


def _timeline(snapshots: list[Snapshot], source: str | None, seed: int) -> str:
    where = f" for the source {source!r}" if source else ""
    return progression_html(snapshots, f"What the model writes as it learns: {TIMELINE} samples{where}, drawn from "
                                       f"the same noise (seed {seed}) each time, so only the training differs.")


@functools.lru_cache(maxsize=len(SIZES))
def _recorded(size: str) -> Reference | None:
    """The left-to-right model's loss curve recorded by `record_reference` at this size, if there is one."""
    try:
        data = json.loads((REFERENCES / f"ar-{size}.json").read_text(encoding="utf-8"))
        return Reference(data["log_steps"], data["losses"], f"left to right, recorded ({data['steps']} steps)")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _reference(size: str, family: str, corpus) -> Reference | None:
    """The recorded contrast for the loss curve: on the built-in corpus, where it was recorded, and for the
    families whose loss is in the same units as the left-to-right model's."""
    return _recorded(size) if corpus.builtin and family in NATS_PER_WORD else None


def _preview(family: str, path: Path, corpus, seed: int) -> str:
    """A few samples of the new model at its default steps, rendered as the other tabs render tokens."""
    ck = session_load(str(path), family)
    steps = ck.process.default_steps
    source, texts = _draw(family, ck.process, ck.model, ck.tokenizer, corpus, PREVIEW, seed)
    head = f"<p>Source: <code>{html.escape(source)}</code></p>" if source is not None else ""
    def verdict(text: str) -> str:
        if not corpus.builtin:
            return ""
        check = validate(text)
        return " " + verdict_mark(check.grammatical, reason(check))

    rows = "".join(f"<li><code>{html.escape(t)}</code>{verdict(t)}</li>" for t in texts)
    intro = f"<p>{len(texts)} samples, seed {seed}, {steps} steps:</p>"
    return f"<div id='train-samples'>{head}{intro}<ol>{rows}</ol></div>"


def train_model(label: str, corpus_choice: str, upload: str | None, seconds: float, size: str, seed: float,
                models: dict[str, str] | None, text_column: str | None = None, source_column: str | None = None,
                target_column: str | None = None, tokenizer_kind: str | None = DEFAULT_TOKENIZER,
                request: gr.Request | None = None) -> Iterator[tuple[Any, Any, Any, Any, Any]]:
    """Train for at most `seconds` into a new folder, streaming the status line, the loss curve and samples drawn
    along the way; only once it ends with a model does that model replace the family's earlier one in the
    session's `models` (which the other tabs keep using meanwhile), and a few of its samples are shown. A .csv
    upload is read from the chosen columns; an upload is tokenized as `tokenizer_kind` says ("word" or "bpe")."""
    family, overrides = _family(label)
    cap = whole(seconds, "time cap (seconds)", MIN_SECONDS, MAX_SECONDS)
    seed = whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    if size not in SIZES:
        raise UserError(f"model size must be one of {', '.join(SIZES)}, got {size!r}")
    upload_path = uploaded(corpus_choice, upload)
    columns = chosen_columns(upload_path, family, text_column, source_column, target_column)
    choice = tokenizer_choice(corpus_choice, tokenizer_kind)
    session = session_dir(request.session_hash if request is not None else None)
    if not _lock.acquire(blocking=False):
        wait = max(0.0, max(_running.values(), default=time.time()) - time.time())
        raise UserError(f"another visitor is training a model; one training runs at a time on this 2-CPU Space: "
                        f"try again in about {wait + 10:.0f} s")
    out, finished = None, False
    stop = _stop.setdefault(session.name, threading.Event())
    stop.clear()
    _discard.discard(session.name)
    try:
        _running[session.name] = time.time() + cap
        # the upload is read under the lock: one visitor's file costs at most one training's worth of the machine
        corpus = read_corpus(upload_path, family, columns)
        name = corpus.name if upload_path is None else upload_path.name
        model_config, train_config = preset(size, family=family, **overrides)
        fitted, tokenizer = prepare(model_config, corpus, choice=choice)
        fitted = fit_to_tab(fitted, tokenizer, corpus, name)
        # the built-in grammar's length holds its longest sentence: nothing to skip, and nothing to count
        skipped = "" if corpus.builtin else lengths_note(fitted, tokenizer, corpus, name)
        out = _out_dir(session, family)
        TRAINING.add(out)
        # a GPU when the Space has one (the free tier's CPU otherwise); the model samples on the CPU either way
        train_config = replace(train_config, seed=seed, minutes=cap / 60, steps=None, log_every=5,
                               checkpoint_every_seconds=float(MAX_SECONDS), device="auto")
        command = f"app Train tab: {label}, {size}, {corpus.name if corpus.builtin else 'uploaded file'}, {cap} s"
        reference = _reference(size, family, corpus)
        steps, losses, shown = [], [], 0.0
        snapshots: list[Snapshot] = []
        source, due = None, [cap * f for f in TIMELINE_AT]
        yield (_status(0, 0, cap, float("nan"), skipped=skipped),
               gr.Plot(loss_curve_figure([], [], family=family, reference=reference), visible=True), "", "",
               gr.skip())
        last = None
        for log in train(fitted, train_config, corpus, out, command=command,
                         seq_len_given=True, should_stop=stop.is_set, tokenizer_choice=choice):
            last = log
            if log.done:
                break
            if log.phase == "calibrating":  # the steps are done; ARDM measures its plan's L_t before saving
                yield (f"Trained {log.step} steps in {log.seconds:.0f} s; measuring the loss of each generation step "
                       f"on {train_config.calibration_sequences} held-out sentences, which plans parallel decoding…",
                       gr.skip(), gr.skip(), gr.skip(), gr.skip())
                continue
            steps.append(log.step)
            losses.append(log.loss)
            timeline = None
            if due and log.seconds >= due[0] and log.model is not None:
                while due and log.seconds >= due[0]:
                    due.pop(0)
                # a CPU copy: the loop's averaged weights stay where they train, untouched by sampling
                snap, source = _snapshot(family, log.step, log.process, copy.deepcopy(log.model).cpu(), tokenizer,
                                         corpus, seed)
                snapshots.append(snap)
                timeline = _timeline(snapshots, source, seed)
            if timeline is not None or time.perf_counter() - shown >= UPDATE_SECONDS:
                shown = time.perf_counter()
                yield (_status(log.step, log.seconds, cap, log.loss, stop.is_set(), skipped),
                       loss_curve_figure(steps, losses, log.seconds, cap, family, reference),
                       gr.skip() if timeline is None else timeline, gr.skip(), gr.skip())
        finished = last is not None and last.done and session.name not in _discard
    except ValueError as e:  # the package's own words, about the file by its name (never the server's path to it)
        if upload_path is not None and not isinstance(e, gr.Error):
            e = ValueError(str(e).replace(str(upload_path), upload_path.name))
        raise as_user_error(e) from None
    finally:
        # a run that did not finish (an error, a closed tab, a cancelled event) leaves nothing behind, and the
        # session's earlier model where it was
        if out is not None:
            TRAINING.discard(out)
            if not finished:
                forget_models({family: str(out)})
        _running.pop(session.name, None)
        _stop.pop(session.name, None)
        _discard.discard(session.name)
        _lock.release()
    if not finished:
        return
    why = "stopped" if stop.is_set() else "time cap reached"
    loss = losses[-1] if losses else float("nan")
    try:
        ck = session_load(str(out), family)
        skipped = skipped_note(ck.meta.get("lengths", {}))
        yield (f"Trained {last.step} steps in {last.seconds:.0f} s; drawing {PREVIEW} samples at "
               f"{ck.process.default_steps} steps…", gr.skip(), gr.skip(), gr.skip(), gr.skip())
        snap, source = _snapshot(family, last.step, ck.process, ck.model, ck.tokenizer, corpus, seed, note="the end")
        snapshots.append(snap)
        preview = _preview(family, out, corpus, seed)
    except BaseException:  # cancelled or failed before the session got it: the earlier model stays
        forget_models({family: str(out)})
        raise
    # the new model is whole and sampled: now it replaces the session's earlier one
    _drop_older(session, family, out)
    models = dict(models or {}, **{family: str(out)})
    where = "on the CPU" if resolve_device("auto").type == "cpu" else f"on {torch.cuda.get_device_name()}"
    note = f" · {skipped}" if skipped else ""
    done = (f"**Done** ({why}): {last.step} steps in {last.seconds:.0f} s {where}, last loss {loss:.4f}{note}. "
            f"Pick *trained here* in {USED_IN[family]} to use it.")
    yield (done, loss_curve_figure(steps, losses, last.seconds, cap, family, reference),
           _timeline(snapshots, source, seed), preview, models)


def record_reference(size: str, steps: int) -> Path:
    """Record the left-to-right model's loss curve on the built-in corpus with the Train tab's settings for `size`,
    trained for `steps` steps, as the contrast the tab's loss plot draws (assets/train/ar-<size>.json)."""
    import tempfile

    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    family, overrides = FAMILY_CHOICES[REFERENCE_FAMILY]
    corpus = load_builtin()
    model_config, train_config = preset(size, family=family, **overrides)
    fitted, _ = prepare(model_config, corpus)
    train_config = replace(train_config, seed=0, steps=steps, minutes=None, log_every=10,
                           checkpoint_every_seconds=1e9)
    log_steps, losses = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for log in train(fitted, train_config, corpus, tmp, seq_len_given=True):
            if not log.done and log.phase == "training":
                log_steps.append(log.step)
                losses.append(round(log.loss, 4))
    path = REFERENCES / f"ar-{size}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    command = f".venv/bin/python -c \"from ui.train import record_reference; record_reference({size!r}, {steps})\""
    why = f"steps: what the Train tab's {DEFAULT_SECONDS} s reach at this size on a 2-core CPU, the same time"
    record = dict(command=command, why=why, family=family, size=size, corpus=corpus.name, steps=steps,
                  train_config=asdict(train_config), log_steps=log_steps, losses=losses)
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    _recorded.cache_clear()
    return path


def cancel_training(request: gr.Request) -> None:
    """When a tab closes (Gradio's unload): its training, if any, stops after the current step and is deleted."""
    if request is None or not request.session_hash:
        return
    key = session_dir(request.session_hash).name
    if key in _running:
        _discard.add(key)
        _stop.setdefault(key, threading.Event()).set()


def stop_training(request: gr.Request) -> str:
    """The Stop button: the loop ends after its current step and saves the model as usual."""
    key = session_dir(request.session_hash if request is not None else None).name
    if key not in _running:
        return "Nothing is training in this session."
    _stop.setdefault(key, threading.Event()).set()
    return "Stopping after the current step…"


def tab(models: gr.State) -> None:
    """The Train tab."""
    explain(INTRO, DETAILS)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            family = Dropdown(list(FAMILY_CHOICES), value=DEFAULT_FAMILY, label="family",
                                 elem_id="train-family")
            corpus = gr.Radio([BUILTIN, UPLOAD], value=BUILTIN, label="corpus", elem_id="train-corpus")
            upload = gr.File(label=".txt (a sentence per line) or .csv with a header line, ≤ 2 MB",
                             file_types=[".txt", ".csv"], type="filepath", visible=False, elem_id="train-upload")
            # a .csv upload's columns, from its header (shown once one is uploaded), and how an upload is tokenized;
            # not in a Row: a hidden one takes no room here
            text_column = Dropdown([], value=None, label="text column", visible=False, elem_id="train-text-column")
            source_column = Dropdown([], value=None, label="source column", visible=False,
                                     elem_id="train-source-column")
            target_column = Dropdown([], value=None, label="target column", visible=False,
                                     elem_id="train-target-column")
            tokenizer = gr.Radio(list(TOKENIZERS.items()), value=DEFAULT_TOKENIZER, label="tokenizer", visible=False,
                                 elem_id="train-tokenizer")
            seconds = Slider(MIN_SECONDS, MAX_SECONDS, value=DEFAULT_SECONDS, step=5, label="time cap (seconds)",
                                elem_id="train-seconds")
            size = gr.Radio(list(SIZES), value=DEFAULT_SIZE, label="model size", elem_id="train-size",
                            info="tiny: fast, rough; small: the shipped models' size, needs minutes")
            seed = Number(value=0, label="seed", minimum=0, step=1, elem_id="train-seed")
            with gr.Row(elem_id="train-buttons"):
                run = gr.Button("Train", variant="primary", elem_id="train-run", min_width=100)
                stop = gr.Button("Stop", variant="stop", elem_id="train-stop", min_width=100)
        with gr.Column(scale=3, min_width=300):
            status = gr.Markdown("Press Train: the loss curve appears here as the model learns.", elem_id="train-status")
            curve = gr.Plot(label="loss", elem_id="train-curve", visible=False)  # shown when a training starts
            timeline = gr.HTML("", elem_id="train-progress")
            samples = gr.HTML("", elem_id="train-preview")
    corpus.change(lambda c: (gr.File(visible=c == UPLOAD), gr.Radio(visible=c == UPLOAD)), corpus,
                  [upload, tokenizer], api_visibility="private", show_progress="hidden")
    pickers = [text_column, source_column, target_column]
    gr.on([family.change, corpus.change, upload.change], column_pickers, [family, corpus, upload, *pickers], pickers,
          api_visibility="private", show_progress="hidden")
    run.click(train_model, [family, corpus, upload, seconds, size, seed, models, *pickers, tokenizer],
              [status, curve, timeline, samples, models],
              show_progress="minimal", concurrency_limit=2, concurrency_id="training")
    stop.click(stop_training, None, status, show_progress="hidden")
