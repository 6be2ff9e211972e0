"""Checkpoint folders: config.json, model.safetensors, tokenizer.json, meta.json (+ projection.npz).

Every file is written to a temporary name and moved into place with os.replace, so a killed run leaves
either the previous complete file or the new one. Loading reads only JSON, safetensors and npz
(allow_pickle=False): nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import ModelConfig
from .corpus.tokenizer import TextTokenizer
from .families import get_family

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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a checkpoint is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def _move_in(src_dir: Path, dst_dir: Path, names: list[str]) -> None:
    for name in names:
        os.chmod(src_dir / name, 0o644)
        os.replace(src_dir / name, dst_dir / name)


def save(path: str | Path, model: torch.nn.Module, tokenizer: TextTokenizer, meta: dict[str, Any],
         training_state: dict[str, torch.Tensor] | None = None, training_json: dict[str, Any] | None = None) -> None:
    """Write a checkpoint folder; files land one by one with os.replace, meta.json last."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path, prefix=".save-") as tmp:
        tmp = Path(tmp)
        model.save_pretrained(tmp)  # huggingface_hub: config.json + model.safetensors (+ a model card)
        tokenizer.save(tmp / "tokenizer.json")
        names = ["config.json", "model.safetensors", "tokenizer.json"]
        if training_state is not None:
            save_file({k: v.contiguous() for k, v in training_state.items()}, tmp / TRAINING_STATE,
                      metadata={"json": json.dumps(training_json or {})})
            names.append(TRAINING_STATE)
        if (tmp / "README.md").exists():
            names.append("README.md")
        _move_in(tmp, path, names)
    atomic_write_json(path / "meta.json", meta)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"checkpoint file {path} is not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"checkpoint file {path} must hold a JSON object")
    return obj


def record_evaluation(path: str | Path, result: dict[str, Any]) -> None:
    """Merge an evaluation into meta.json (atomically), keyed by its step count and sampler settings."""
    path = Path(path)
    meta = _read_json(path / "meta.json")
    key = ",".join(f"{k}={result[k]}" for k in ("steps", "sampler", "clamp", "temperature", "mbr_candidates") if result.get(k) is not None)
    # settings at their defaults keep the keys recorded before the settings existed
    if result.get("noise_scale") not in (None, 1.0):
        key += f",noise_scale={result['noise_scale']}"
    if result.get("order") not in (None, "random"):
        key += f",order={result['order']}"
    if result.get("remask"):
        key += f",remask={result['remask']}"
    if result.get("control"):  # a controlled run never overwrites the unconditional figures
        key += ",control=" + json.dumps(result["control"], sort_keys=True)
    meta.setdefault("evaluation", {})[key] = {k: v for k, v in result.items() if k != "examples"}
    atomic_write_json(path / "meta.json", meta)


def record_process(path: str | Path, measured: dict[str, Any], info: dict[str, Any]) -> None:
    """Merge process settings measured after training (ARDM's L_t) and how they were measured into meta.json
    (atomically), as training writes them."""
    path = Path(path)
    meta = _read_json(path / "meta.json")
    meta["process"] = {**meta.get("process", {}), **measured}
    meta["calibration"] = info
    atomic_write_json(path / "meta.json", meta)


def has_checkpoint(path: str | Path) -> bool:
    return (Path(path) / "model.safetensors").is_file()


def load(path: str | Path, family: str | None = None) -> Checkpoint:
    """Load a checkpoint folder; a clear ValueError for missing or malformed files or another family."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"checkpoint {str(path)!r} is not a folder; expected one holding {', '.join(REQUIRED)}")
    missing = [n for n in REQUIRED if not (path / n).is_file()]
    if missing:
        raise ValueError(f"checkpoint {str(path)!r} lacks {', '.join(missing)}; a checkpoint holds {', '.join(REQUIRED)}")
    raw = _read_json(path / "config.json")
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
    meta = _read_json(path / "meta.json")
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
