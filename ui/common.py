"""What every tab shares: the shipped checkpoints (loaded once, read-only), the session's own models and folders,
LaTeX, concurrency and export. The player is ui/player.py; what a client sends is checked in `inputs.py`."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from diffusion import checkpoint, shipped
from diffusion.limits import MAX_SEED  # noqa: F401 (the tabs import it from here)
from visualize.export import animated_html, trajectory_json

from .glossary import glossary_markdown, gloss
from .inputs import UserError

if TYPE_CHECKING:
    from .run import Run

CHECKPOINT_ENV = "DIFFUSION_CHECKPOINT"  # the continuous model; other families: DIFFUSION_CHECKPOINT_<FAMILY>
CHECKPOINTS = shipped.ROOT  # the shipped checkpoints, indexed by diffusion/shipped.py
DEFAULT_CHECKPOINT = shipped.folder("continuous")
SESSION_ROOT = Path(tempfile.gettempdir()) / "text-diffusion-lab"  # models trained in the app, one folder per session
# How long a session's things live: its State (run records, the models it trained) after they were last set, and its
# folders after they were last written; a closed tab's go at once.
SESSION_TTL_SECONDS = 30 * 60
SWEEP_SECONDS = 5 * 60  # how often the session root is swept
# Two computations at once keep a 2-vCPU Space responsive. The sampling tabs' runs go through ui/cache.py, which holds
# this limit itself so that a replay of a recorded run (nothing to compute) waits for no slot; a heavy handler that
# is not cached carries SAMPLING, Gradio's limit of its own.
COMPUTE_LIMIT = 2
SAMPLING = dict(concurrency_limit=COMPUTE_LIMIT, concurrency_id="sampling")
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


@functools.lru_cache(maxsize=16)
def load(path: str, family: str = "continuous") -> checkpoint.Checkpoint:
    """Load a checkpoint once per path; the model is shared read-only by every session."""
    return checkpoint.load(path, family=family)


def env_name(name: str) -> str:
    """The environment variable naming another checkpoint for a shipped folder name (`sedd-absorb` ->
    DIFFUSION_CHECKPOINT_SEDD_ABSORB); the continuous model keeps the plain DIFFUSION_CHECKPOINT."""
    return CHECKPOINT_ENV if name == "continuous" else f"{CHECKPOINT_ENV}_{name.upper().replace('-', '_')}"


def checkpoint_path(name: str = "continuous") -> str:
    """The folder of the shipped checkpoint `name`, or the one its environment variable names instead."""
    return os.environ.get(env_name(name)) or str(shipped.folder(name))


def explain(intro: str, details: str) -> None:
    """A tab's opening: plain words and at most one equation, then a closed accordion with the equation that matters,
    the paper's details, how to read the view and the glossary; each text's first use of a term is defined on hover
    (ui/glossary.py)."""
    gr.Markdown(gloss(intro), latex_delimiters=LATEX, elem_classes="tab-intro")
    with gr.Accordion("More: the equations, the paper, a glossary", open=False):
        gr.Markdown(gloss(details), latex_delimiters=LATEX)
        with gr.Accordion("Glossary", open=False, elem_classes="glossary"):
            gr.Markdown(glossary_markdown(), latex_delimiters=LATEX)


def get_checkpoint(family: str = "continuous", name: str | None = None, how: str = "") -> checkpoint.Checkpoint:
    """The shipped (or environment-named) checkpoint `name` (default: the family's own folder); a gr.Error saying
    how to make one if it is absent or of another family."""
    name = name or family
    try:
        return load(checkpoint_path(name), family)
    except ValueError as e:
        raise UserError(f"{e}. Set {env_name(name)} to a folder made by "
                       f"`python -m diffusion train --family {family}{how}`.") from None


# ---- models trained in this browser session (the Train tab) ------------------------------------------------------
# `models` is one gr.State per browser session, built in app.py and handed to every tab: {family: checkpoint folder}.
# A tab offers "shipped" or "trained here"; nothing a visitor trains is ever shown to another visitor.
SHIPPED, TRAINED = "shipped", "trained here"
FREE_FORM = "free-form English"  # the family's checkpoint trained on the shipped paired corpus (shipped.REAL_TEXT)
MODEL_CHOICES = (SHIPPED, FREE_FORM, TRAINED)


def model_radio(elem_id: str, family: str | None = None) -> gr.Radio:
    """The per-tab choice between the shipped checkpoint and the one trained in this session; with `family`, also
    the family's checkpoint trained on free-form English when one ships."""
    free = family in shipped.REAL_TEXT and shipped.REAL_TEXT[family].folder.is_dir()
    info = "'trained here': the model you trained in the Train tab (this browser session only)"
    if free:
        info = ("'free-form English': trained on descriptions of places to stay (assets/corpora); " + info)
    return gr.Radio([SHIPPED, FREE_FORM, TRAINED] if free else [SHIPPED, TRAINED], value=SHIPPED, label="model",
                    elem_id=elem_id, info=info)


def pick_checkpoint(family: str, choice: str | None = SHIPPED, models: dict[str, str] | None = None,
                    name: str | None = None, how: str = "") -> checkpoint.Checkpoint:
    """The checkpoint a tab runs: the session's own model of `family` when `choice` is "trained here", the one
    trained on free-form English for FREE_FORM, else the shipped one (`name`: the shipped folder, default the
    family's). A gr.Error when the choice cannot be met."""
    if choice in (None, SHIPPED):
        return get_checkpoint(family, name, how)
    if choice == FREE_FORM:
        entry = shipped.REAL_TEXT.get(family)
        if entry is None or not entry.folder.is_dir() or (name is not None and entry.variant
                                                          and not name.endswith(entry.variant)):
            raise UserError(f"no {name or family} model trained on free-form English ships; pick the shipped model")
        return load(str(entry.folder), family)
    if choice != TRAINED:
        raise UserError(f"model must be one of {', '.join(map(repr, MODEL_CHOICES))}, got {choice!r}")
    path = (models or {}).get(family)
    if not path:
        raise UserError(f"you have not trained a {family} model in this session yet: train one in the Train tab, "
                       "or pick the shipped model")
    try:
        return session_load(str(path), family)
    except ValueError as e:
        raise UserError(f"your {family} model cannot be loaded ({e}); train it again in the Train tab") from None


_session_models: dict[str, checkpoint.Checkpoint] = {}  # path -> a model trained in the app, until its session ends
TRAINING: set[Path] = set()  # session folders a training is writing into now: never swept


def session_dir(session_hash: str | None) -> Path:
    """This session's folder under SESSION_ROOT, named by a digest of the session (a client may send any string as
    its session hash: it never becomes part of a path), and checked to lie inside the root."""
    digest = hashlib.sha256((session_hash or "local").encode("utf-8", "surrogatepass")).hexdigest()[:32]
    root = SESSION_ROOT.resolve()
    path = (root / digest).resolve()
    if path.parent != root:
        raise UserError("the session folder would lie outside the app's session root; nothing was written")
    return path


def session_load(path: str, family: str) -> checkpoint.Checkpoint:
    """A model trained in the app, loaded once; kept apart from the shipped models' cache so it can be dropped."""
    if path not in _session_models:
        _session_models[path] = checkpoint.load(path, family=family)
    return _session_models[path]


def _remove(path: Path) -> None:
    """Delete a folder under SESSION_ROOT and drop the models loaded from it; anything else is left alone."""
    path = Path(path).resolve()
    root = SESSION_ROOT.resolve()
    if path == root or not path.is_relative_to(root):
        return
    for loaded in [p for p in _session_models if Path(p).resolve().is_relative_to(path)]:
        _session_models.pop(loaded, None)
    shutil.rmtree(path, ignore_errors=True)


def forget_models(models: dict[str, str] | None) -> None:
    """When a session's models State expires: drop its models from memory and delete their folders."""
    for path in (models or {}).values():
        _remove(Path(path))


def end_session(request: gr.Request) -> None:
    """When a tab closes (Gradio's unload): delete the session's folder and models at once, not after Gradio's hour
    of grace, and free its run records."""
    if request is None or not request.session_hash:
        return
    _remove(session_dir(request.session_hash))


def sweep_sessions(max_age: float = SESSION_TTL_SECONDS) -> list[Path]:
    """Remove session and export folders not written for `max_age` seconds (sessions that never said goodbye, a
    restart's leftovers), except those a training is writing; returns what was removed."""
    removed = []
    if not SESSION_ROOT.is_dir():
        return removed
    now = time.time()
    folders = [p for p in SESSION_ROOT.iterdir() if p.name != "exports"]
    exports = SESSION_ROOT / "exports"
    folders += list(exports.iterdir()) if exports.is_dir() else []
    busy = {p.resolve() for p in TRAINING}
    for path in folders:
        try:
            newest = max([path.stat().st_mtime, *(f.stat().st_mtime for f in path.rglob("*"))])
        except OSError:
            continue  # removed meanwhile
        if now - newest > max_age and not any(b.is_relative_to(path.resolve()) for b in busy):
            _remove(path)
            removed.append(path)
    return removed


_sweeper: list[threading.Thread] = []


def start_sweeper() -> None:
    """Sweep the session root now (leftovers of an earlier run) and every SWEEP_SECONDS, in one daemon thread."""
    if _sweeper and _sweeper[0].is_alive():
        return

    def loop() -> None:
        while True:
            sweep_sessions()
            time.sleep(SWEEP_SECONDS)

    _sweeper[:] = [threading.Thread(target=loop, name="session-sweeper", daemon=True)]
    _sweeper[0].start()


def model_setting(family: str, key: str, default: Any) -> Any:
    """One setting of a family's checkpoint from its config.json alone (a control's range or default), without
    loading the model."""
    try:
        raw = json.loads((Path(checkpoint_path(family)) / "config.json").read_text(encoding="utf-8"))
        config = raw.get("config", raw)
        flat = {**config, **{k: v for part in config.values() if isinstance(part, dict) for k, v in part.items()}}
        return flat[key] if flat.get(key) is not None else default
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return default  # no usable checkpoint yet: the handler will say so when run


def model_length(family: str, default: int = 64) -> int:
    """The model length of a family's checkpoint from its config.json alone (sliders' ranges), without loading it."""
    value = model_setting(family, "seq_len", default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


# ---- export: every sampling tab offers its last run as JSON and as an animated HTML page ---------------------------
def export_buttons(prefix: str) -> tuple[gr.DownloadButton, gr.DownloadButton]:
    """Two download buttons, hidden until a run has finished."""
    with gr.Row():
        as_json = gr.DownloadButton("Download trajectory (JSON)", visible=False, size="sm", elem_id=f"{prefix}-json")
        as_html = gr.DownloadButton("Download animation (HTML)", visible=False, size="sm", elem_id=f"{prefix}-html")
    return as_json, as_html


def export_files(run: Run | None) -> tuple[Any, Any]:
    """Write a recorded run (ui/run.py's `Run.export`: title, settings, steps, frames, labels, result) to two files
    the buttons serve; before any run, the buttons stay hidden."""
    if not run:
        return gr.DownloadButton(visible=False), gr.DownloadButton(visible=False)
    ex = run.export()
    folder = Path(tempfile.mkdtemp(prefix="export-", dir=_exports_dir()))
    stem = f"{ex['slug']}-seed{ex['settings'].get('seed', 0)}"
    json_path, html_path = folder / f"{stem}.json", folder / f"{stem}.html"
    json_path.write_text(trajectory_json(ex["settings"], ex["steps"], ex["result"]), encoding="utf-8")
    html_path.write_text(animated_html(ex["title"], ex["settings"], ex["frames"], ex["labels"], ex["heads"]),
                         encoding="utf-8")
    return gr.DownloadButton(value=str(json_path), visible=True), gr.DownloadButton(value=str(html_path), visible=True)


def _exports_dir() -> Path:
    """Where export files wait to be downloaded (the sweep removes them with the sessions' folders)."""
    path = SESSION_ROOT / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def wire_export(event: Any, record: gr.State, buttons: tuple[gr.DownloadButton, gr.DownloadButton]) -> None:
    """After a run's event ends, fill the buttons from its Run."""
    event.then(export_files, record, list(buttons), api_visibility="private", show_progress="hidden")
