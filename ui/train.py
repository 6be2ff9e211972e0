"""The Train tab: train a small model of any family in the browser, watch its loss, then use it in every other tab.

The model belongs to the visitor's session only: it is written under SESSION_ROOT/<digest of the session>/ and
named in the session's `models` state; it is deleted when the tab closes, or SESSION_TTL_SECONDS after it was made.
One training runs at a time on the whole Space (a 2-vCPU machine): a second visitor who presses Train meanwhile gets an
error saying how long to wait.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr
import torch

from diffusion.config import preset
from diffusion.corpus.validator import is_grammatical
from diffusion.corpus.loaders import load_builtin, load_corpus
from diffusion.families import get_family
from diffusion.sampling import sample
from diffusion.seq2seq import candidates_steps, check_source, decode_targets
from diffusion.training import prepare, resolve_device, train
from visualize.train import loss_curve_figure

from .common import MAX_SEED, TRAINING, explain, forget_models, session_dir, session_load
from .inputs import Dropdown, Number, Slider, UserError, as_user_error, whole

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
BUILTIN, UPLOAD = "built-in restaurant grammar", "my file (.txt or .csv)"
MIN_SECONDS, MAX_SECONDS, DEFAULT_SECONDS = 5, 300, 60
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_LEN = 64  # tokens per row (source, [SEP] and target for seq2seq): what a small model trains on in minutes
MIN_ROWS = 10
MAX_ROWS = 20_000  # lines of an upload, counted before it is parsed: bounds what the tokenizer and encoder see
PREVIEW = 3  # samples drawn from the new model when training ends
UPDATE_SECONDS = 0.5  # at most two redraws of the curve a second
USED_IN = {"continuous": "Denoise, Forward noising, Clamping trick and Embeddings", "seq2seq": "Seq2seq",
           "sedd": "Discrete diffusion", "ardm": "Order-agnostic", "ar": "Compare"}

_lock = threading.Lock()  # one training on the Space at a time
# Keyed by the session folder's name (a digest of the session), never by the client's own string:
_running: dict[str, float] = {}  # while a training runs: its session and when its time cap ends
_stop: dict[str, threading.Event] = {}  # session -> its Stop button's flag
_discard: set[str] = set()  # sessions whose tab closed during their training: the model is deleted, not kept

INTRO = r"""
**Train a model here**, on the built-in corpus or your own file, and watch the loss fall: every family minimises
its own bound on $-\log p_\theta(x_0)$. The model is yours for this browser session: pick *trained here* in the
other tabs to use it.
"""

DETAILS = r"""
**What runs.** The same training loop as `python -m diffusion train` (the preset's optimiser, warm-up then cosine
decay, an EMA of the weights), on the *tiny* preset (2 layers, width 64: quick on a CPU) or *small* (the shipped
checkpoints' size: slower, better). The loss is the family's own:

- continuous / seq2seq: $\lVert f_\theta(x_t, t) - x_0 \rVert^2$ plus the rounding term $-\log p(w \mid x_0)$;
- sedd: the score entropy of the concrete score, weighted by $\sigma(t)$;
- ardm: $\frac{D}{D - t + 1} \sum_{k \notin \sigma(<t)} -\log p(x_k \mid x_{\sigma(<t)})$ over random orders;
- ar: $-\sum_i \log p(x_i \mid x_{<i})$.

**Your file.** A `.txt` with one sentence per line, or a `.csv` with a `text` column (`source` and `target`
columns for seq2seq); UTF-8, at most 2 MB, at least 10 rows, rows of at most 64 words. The vocabulary is built
from your file.

**Limits.** Training stops at the time cap or when you press Stop; either way the model is saved and usable.
One training runs at a time on this Space; your model is deleted when you close the page, and half an hour after
you trained it.
"""


def _family(label: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(label, str) or label not in FAMILY_CHOICES:
        raise UserError(f"family must be one of {', '.join(map(repr, FAMILY_CHOICES))}, got {label!r}")
    return FAMILY_CHOICES[label]


def _upload(choice: str, upload: str | None) -> Path | None:
    """The uploaded file to read (None for the built-in corpus), after the checks that read nothing of it."""
    if choice == BUILTIN:
        return None
    if choice != UPLOAD:
        raise UserError(f"corpus must be {BUILTIN!r} or {UPLOAD!r}, got {choice!r}")
    if not upload or not isinstance(upload, str):
        raise UserError("no file uploaded: add a .txt (one sentence per line) or a .csv with a 'text' column, "
                        "or pick the built-in grammar")
    path = Path(upload)
    if path.suffix.lower() not in (".txt", ".csv"):
        raise UserError(f"{path.name} is not a .txt or .csv file; upload one of those")
    try:
        size = path.stat().st_size
    except OSError:
        raise UserError(f"{path.name} is not an uploaded file; upload the file again") from None
    if size > MAX_UPLOAD_BYTES:
        raise UserError(f"{path.name} is {size / 2**20:.1f} MB; the Train tab takes files up to 2 MB")
    return path


def _corpus(path: Path | None, family: str):
    """The training corpus (rows counted before parsing), or a UserError naming what is wrong with the upload."""
    paired = get_family(family).paired
    if path is None:
        return load_builtin(paired=paired)
    try:
        corpus = load_corpus(str(path), paired=paired, max_rows=MAX_ROWS)
    except ValueError as e:  # not UTF-8, missing columns, a .txt for seq2seq: the loader's own words
        raise UserError(str(e).replace(str(path), path.name)) from None
    if corpus.rows < MIN_ROWS:
        raise UserError(f"{path.name} has {corpus.rows} usable row{'s' * (corpus.rows != 1)}; the Train tab needs at "
                        f"least {MIN_ROWS}")
    return corpus


def _out_dir(session: Path, family: str) -> Path:
    """A fresh folder for this run, beside the session's earlier models (they go once this one is done)."""
    return session / f"{family}-{time.time_ns()}"


def _drop_older(session: Path, family: str, keep: Path) -> None:
    """The session's earlier models of `family`, once a new one has replaced them."""
    for old in session.glob(f"{family}-*"):
        if old != keep:
            forget_models({family: str(old)})


def _status(step: int, seconds: float, cap: float, loss: float, stopping: bool = False) -> str:
    done = min(1.0, seconds / cap) if cap else 0.0
    bar = "█" * round(20 * done) + "░" * (20 - round(20 * done))
    note = " · stopping…" if stopping else ""
    return f"`{bar}` {100 * done:.0f}% · step {step} · {seconds:.0f} s of {cap:.0f} s · loss {loss:.4f}{note}"


def _preview(family: str, path: Path, corpus, seed: int) -> str:
    """A few samples of the new model at its default steps, rendered as the other tabs render tokens."""
    ck = session_load(str(path), family)
    gen = torch.Generator().manual_seed(seed)
    steps = ck.process.default_steps
    if get_family(family).paired:
        source = check_source(ck.tokenizer, ck.config, corpus.sources["validation"][0], corpus.builtin)
        last = list(candidates_steps(ck.process, ck.model, ck.tokenizer, source, PREVIEW, steps, gen, every=steps))[-1]
        texts = decode_targets(ck.tokenizer, ck.config, last.tokens)
        head = f"<p>Source: <code>{html.escape(source)}</code></p>"
    else:
        traj = sample(ck.process, ck.model, PREVIEW, steps, generator=gen, every=steps)
        texts = [ck.tokenizer.decode(row) for row in traj.final.tokens]
        head = ""
    def verdict(text: str) -> str:
        if not corpus.builtin:
            return ""
        return " <b>✓ grammatical</b>" if is_grammatical(text) else " <i>✗ not in the grammar</i>"

    rows = "".join(f"<li><code>{html.escape(t)}</code>{verdict(t)}</li>" for t in texts)
    intro = f"<p>{len(texts)} samples, seed {seed}, {steps} steps:</p>"
    return f"<div id='train-samples'>{head}{intro}<ol>{rows}</ol></div>"


def train_model(label: str, corpus_choice: str, upload: str | None, seconds: float, size: str, seed: float,
                models: dict[str, str] | None, request: gr.Request) -> Iterator[tuple[Any, Any, Any, Any]]:
    """Train for at most `seconds`, streaming the status line and the loss curve; at the end the new model joins
    the session's `models` and a few of its samples are shown."""
    family, overrides = _family(label)
    cap = whole(seconds, "time cap (seconds)", MIN_SECONDS, MAX_SECONDS)
    seed = whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    if size not in SIZES:
        raise UserError(f"model size must be one of {', '.join(SIZES)}, got {size!r}")
    upload_path = _upload(corpus_choice, upload)
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
        corpus = _corpus(upload_path, family)
        model_config, train_config = preset(size, family=family, **overrides)
        fitted, _ = prepare(model_config, corpus)
        if fitted.seq_len > MAX_LEN:
            raise UserError(f"your file has a row of {fitted.seq_len} tokens; the Train tab takes rows of at most "
                            f"{MAX_LEN} (split long lines, or train with `python -m diffusion train`)")
        out = _out_dir(session, family)
        TRAINING.add(out)
        # a GPU when the Space has one (the free tier's CPU otherwise); the model samples on the CPU either way
        train_config = replace(train_config, seed=seed, minutes=cap / 60, steps=None, log_every=5,
                               checkpoint_every_seconds=float(MAX_SECONDS), device="auto")
        command = f"app Train tab: {label}, {size}, {corpus.name if corpus.builtin else 'uploaded file'}, {cap} s"
        steps, losses, shown = [], [], 0.0
        yield _status(0, 0, cap, float("nan")), loss_curve_figure([], [], family=family), "", gr.skip()
        last = None
        for log in train(fitted, train_config, corpus, out, command=command,
                         seq_len_given=True, should_stop=stop.is_set):
            last = log
            if log.done:
                break
            if log.phase == "calibrating":  # the steps are done; ARDM measures its plan's L_t before saving
                yield (f"Trained {log.step} steps in {log.seconds:.0f} s; measuring the loss of each generation step "
                       f"on {train_config.calibration_sequences} held-out sentences, which plans parallel decoding…",
                       gr.skip(), gr.skip(), gr.skip())
                continue
            steps.append(log.step)
            losses.append(log.loss)
            if time.perf_counter() - shown >= UPDATE_SECONDS:
                shown = time.perf_counter()
                yield (_status(log.step, log.seconds, cap, log.loss, stop.is_set()),
                       loss_curve_figure(steps, losses, log.seconds, cap, family), gr.skip(), gr.skip())
        finished = last is not None and last.done and session.name not in _discard
    except ValueError as e:
        raise as_user_error(e) from None
    finally:
        # a run that did not finish (an error, a closed tab, a cancelled event) leaves nothing behind
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
    _drop_older(session, family, out)
    models = dict(models or {}, **{family: str(out)})
    why = "stopped" if stop.is_set() else "time cap reached"
    loss = losses[-1] if losses else float("nan")
    yield (f"Trained {last.step} steps in {last.seconds:.0f} s; drawing {PREVIEW} samples at "
           f"{session_load(str(out), family).process.default_steps} steps…", gr.skip(), gr.skip(), gr.skip())
    where = "on the CPU" if resolve_device("auto").type == "cpu" else f"on {torch.cuda.get_device_name()}"
    done = (f"**Done** ({why}): {last.step} steps in {last.seconds:.0f} s {where}, last loss {loss:.4f}. "
            f"Pick *trained here* in {USED_IN[family]} to use it.")
    yield (done, loss_curve_figure(steps, losses, last.seconds, cap, family), _preview(family, out, corpus, seed),
           models)


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
            family = Dropdown(list(FAMILY_CHOICES), value="continuous (Diffusion-LM)", label="family",
                                 elem_id="train-family")
            corpus = gr.Radio([BUILTIN, UPLOAD], value=BUILTIN, label="corpus", elem_id="train-corpus")
            upload = gr.File(label=".txt (a sentence per line) or .csv ('text', or 'source' and 'target'), ≤ 2 MB",
                             file_types=[".txt", ".csv"], type="filepath", visible=False, elem_id="train-upload")
            seconds = Slider(MIN_SECONDS, MAX_SECONDS, value=DEFAULT_SECONDS, step=5, label="time cap (seconds)",
                                elem_id="train-seconds")
            size = gr.Radio(list(SIZES), value="tiny", label="model size", elem_id="train-size",
                            info="tiny: fast, rough; small: the shipped models' size, needs minutes")
            seed = Number(value=0, label="seed", minimum=0, step=1, elem_id="train-seed")
            with gr.Row():
                run = gr.Button("Train", variant="primary", elem_id="train-run")
                stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
        with gr.Column(scale=3, min_width=300):
            status = gr.Markdown("Press Train: the loss curve appears here as the model learns.", elem_id="train-status")
            curve = gr.Plot(label="loss", elem_id="train-curve")
            samples = gr.HTML("", elem_id="train-preview")
    corpus.change(lambda c: gr.File(visible=c == UPLOAD), corpus, upload, api_visibility="private",
                  show_progress="hidden")
    run.click(train_model, [family, corpus, upload, seconds, size, seed, models], [status, curve, samples, models],
              show_progress="minimal", concurrency_limit=2, concurrency_id="training")
    stop.click(stop_training, None, status, show_progress="hidden")
