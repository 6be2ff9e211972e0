"""Checkpoint folders: config.json, model.safetensors, tokenizer.json, meta.json (+ projection.npz).

A checkpoint is written whole or not at all: its files are built in a fresh `.save-*` folder inside the checkpoint's,
which is renamed `.incoming` once complete (the commit point); its files then replace the old ones, and whoever opens
the folder next finishes that move if a crash cut it short. Every crash so leaves the previous complete checkpoint or
the new one. Loading reads only JSON, safetensors and npz (allow_pickle=False): nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import ModelConfig
from .corpus.tokenizer import TextTokenizer
from .families import get_family
from .files import atomic_write_json, fsync_dir, read_json
from .settings import evaluation_key

REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", "meta.json")
TRAINING_STATE = "training_state.safetensors"


@dataclass
class Checkpoint:
    path: Path
    config: ModelConfig
    model: torch.nn.Module
    process: Any
    tokenizer: TextTokenizer
    meta: dict[str, Any]


INCOMING = ".incoming"  # a complete new checkpoint whose files are being moved into place
SAVE_PREFIX = ".save-"  # a checkpoint being built; left behind only by a killed save
STALE_SECONDS = 600  # a reader removes `.save-*` folders older than this (a writer may be busy with a newer one)


def _install(path: Path) -> None:
    """Move a committed `.incoming` checkpoint's files into `path`, each with os.replace; safe to repeat after a
    crash, and when another process finishes the move first."""
    incoming = path / INCOMING
    for f in sorted(incoming.iterdir()):
        try:
            os.replace(f, path / f.name)
        except FileNotFoundError:
            pass  # another reader moved it first
    try:
        os.rmdir(incoming)
    except FileNotFoundError:
        pass
    fsync_dir(path)


def recover(path: str | Path, stale_seconds: float = STALE_SECONDS) -> None:
    """Finish a save a crash interrupted after its commit point, and remove the folders of saves killed before it
    (those older than `stale_seconds`)."""
    path = Path(path)
    if not path.is_dir():
        return
    if (path / INCOMING).is_dir():
        try:
            _install(path)
        except PermissionError as e:
            raise ValueError(f"checkpoint {str(path)!r} holds a save that was cut short, and the folder is read-only "
                             f"({e.strerror}); make it writable once, or copy it") from None
    for stale in path.glob(f"{SAVE_PREFIX}*"):
        try:
            if time.time() - stale.stat().st_mtime >= stale_seconds:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass  # removed meanwhile


def save(path: str | Path, model: torch.nn.Module, tokenizer: TextTokenizer, meta: dict[str, Any],
         training_state: dict[str, torch.Tensor] | None = None, training_json: dict[str, Any] | None = None) -> None:
    """Write a checkpoint folder whole or not at all (see the module's docstring)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    recover(path, stale_seconds=0)  # one writer per folder: every `.save-*` here is a killed save's
    tmp = Path(tempfile.mkdtemp(dir=path, prefix=SAVE_PREFIX))
    try:
        # huggingface_hub: config.json (our three-part form, not its flat dataclass dump) + model.safetensors + card
        model.save_pretrained(tmp, config=model.config.to_dict())
        tokenizer.save(tmp / "tokenizer.json")
        if training_state is not None:
            save_file({k: v.contiguous() for k, v in training_state.items()}, tmp / TRAINING_STATE,
                      metadata={"json": json.dumps(training_json or {})})
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        for f in tmp.iterdir():
            os.chmod(f, 0o644)  # a checkpoint is meant to be shared
            with open(f, "rb") as handle:
                os.fsync(handle.fileno())  # on disk before the commit point names it complete
        fsync_dir(tmp)
        os.rename(tmp, path / INCOMING)  # the commit point
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _install(path)


def check_writable(path: str | Path, need_bytes: int) -> None:
    """A ValueError, before any work is spent, when `path` cannot hold a checkpoint of about `need_bytes`: a file in
    the way, a folder that cannot be written, or too little free disk."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{str(path)!r} is a file; give a folder (a new one, or a run folder to resume)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ValueError(f"cannot write into {str(path)!r} ({e.strerror}); give a folder this user can write") from None
    free = shutil.disk_usage(path).free
    if free < need_bytes:
        raise ValueError(f"{str(path)!r} has {free / 2**20:.0f} MB of free disk; saving this model needs about "
                         f"{need_bytes / 2**20:.0f} MB: free some space or give another folder")


def record_evaluation(path: str | Path, result: dict[str, Any]) -> None:
    """Merge an evaluation into meta.json (atomically), keyed by its step count and sampler settings."""
    path = Path(path)
    meta = read_json(path / "meta.json")
    key = evaluation_key(result)
    meta.setdefault("evaluation", {})[key] = {k: v for k, v in result.items() if k != "examples"}
    atomic_write_json(path / "meta.json", meta)


def record_process(path: str | Path, measured: dict[str, Any], info: dict[str, Any]) -> None:
    """Merge process settings measured after training (ARDM's L_t) and how they were measured into meta.json
    (atomically), as training writes them."""
    path = Path(path)
    meta = read_json(path / "meta.json")
    meta["process"] = {**meta.get("process", {}), **measured}
    meta["calibration"] = info
    atomic_write_json(path / "meta.json", meta)


def has_checkpoint(path: str | Path) -> bool:
    """Whether `path` holds a complete checkpoint (after finishing a save a crash cut short); a folder with only
    some of the files is no checkpoint yet."""
    path = Path(path)
    recover(path)
    return all((path / n).is_file() for n in REQUIRED)


def load(path: str | Path, family: str | None = None) -> Checkpoint:
    """Load a checkpoint folder; a clear ValueError for missing or malformed files or another family."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"checkpoint {str(path)!r} is not a folder; expected one holding {', '.join(REQUIRED)}")
    recover(path)
    missing = [n for n in REQUIRED if not (path / n).is_file()]
    if missing:
        raise ValueError(f"checkpoint {str(path)!r} lacks {', '.join(missing)}; a checkpoint holds {', '.join(REQUIRED)}")
    raw = read_json(path / "config.json")
    raw = raw.get("config", raw)  # the hub mixin nests a dataclass argument under its name
    try:
        config = ModelConfig.from_dict(raw)
    except (TypeError, ValueError) as e:
        raise ValueError(f"checkpoint {str(path)!r} has a malformed config.json: {e}") from None
    if family is not None and config.family != family:
        raise ValueError(f"checkpoint {str(path)!r} is of family {config.family!r}, not {family!r}")
    fam = get_family(config.family)
    model = fam.model_cls(config)
    try:
        state = load_file(path / "model.safetensors")
        model.load_state_dict(state)
    except (SafetensorError, RuntimeError, OSError) as e:
        raise ValueError(f"checkpoint {str(path)!r} has a malformed model.safetensors: {str(e).splitlines()[0]}") from None
    model.eval()
    try:
        tokenizer = TextTokenizer.load(path / "tokenizer.json", config.level)
    except Exception as e:  # tokenizers raises its own Exception subclass for malformed files
        raise ValueError(f"checkpoint {str(path)!r} has a malformed tokenizer.json: {e}") from None
    if tokenizer.vocab_size != config.vocab_size:
        raise ValueError(f"checkpoint {str(path)!r}: tokenizer has {tokenizer.vocab_size} tokens but the model "
                         f"expects {config.vocab_size}")
    meta = read_json(path / "meta.json")
    process = fam.process_cls(config)
    measured = meta.get("process", {})  # settings measured after training (ARDM's L_t), applied to the process
    if measured:
        try:
            process = process.configure(**measured)
        except (TypeError, ValueError) as e:
            raise ValueError(f"checkpoint {str(path)!r} has malformed process settings in meta.json: {e}") from None
    return Checkpoint(path, config, model, process, tokenizer, meta)


def load_training_state(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import safe_open

    f = Path(path) / TRAINING_STATE
    with safe_open(str(f), framework="pt") as handle:
        meta = json.loads(handle.metadata().get("json", "{}"))
    return load_file(f), meta


def copy_for_shipping(src: str | Path, dst: str | Path) -> None:
    """The files a Space needs (no optimiser state, no logs)."""
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for name in (*REQUIRED, "projection.npz", "README.md", "classifier.safetensors", "classifier.json"):
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
