"""A slot classifier on noisy Diffusion-LM latents, p(c | x_t, t), for plug-and-play control (Sec. 5.2 of Li et al. 2022).

It reads the latent sequence x_t (B, L, d) that the language model's own embeddings and schedule produce, with t as
input, and predicts for every slot of the built-in corpus's meaning representations either "absent" or one of its
values. The language model is frozen and never sees it: control needs no retraining of the LM. It lives in the LM's
checkpoint folder as `classifier.safetensors` + `classifier.json` (written atomically; loading never unpickles).
Training it on a checkpoint's latents is `classifier_training.py`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from torch import Tensor, nn

from . import schedules
from .backbone import TimeEmbedding, build_backbone
from .config import ModelConfig
from .files import atomic_write_bytes, atomic_write_json
from .corpus import SLOTS, VALUES

WEIGHTS, CONFIG = "classifier.safetensors", "classifier.json"
ABSENT = "(absent)"  # class 0 of every head


@dataclass
class ClassifierConfig:
    embed_dim: int
    seq_len: int
    num_timesteps: int
    schedule: str
    data_var: float  # variance of the LM's embeddings, for the input scaling
    slots: dict[str, list[str]] = field(default_factory=lambda: {s: list(VALUES[s]) for s in SLOTS})
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 128
    # by length (the LM draws each sentence's length first): attention and pooling over the sentence's positions
    # only, so the padding after it, which the LM keeps on [PAD]'s path, is neither read nor pushed by guidance
    content_only: bool = False

    def backbone_config(self) -> ModelConfig:
        return ModelConfig(family="classifier", seq_len=self.seq_len, d_model=self.d_model, n_layers=self.n_layers,
                           n_heads=self.n_heads, d_ff=self.d_ff, positions="rotary")


class SlotClassifier(nn.Module):
    """(B, L, d) latents and (B,) times -> {slot: (B, 1 + number of values) logits}, class 0 = slot absent."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.in_proj = nn.Linear(config.embed_dim, config.d_model)
        self.time = TimeEmbedding(config.d_model)
        self.backbone = build_backbone(config.backbone_config())
        self.heads = nn.ModuleDict({s: nn.Linear(config.d_model, 1 + len(v)) for s, v in config.slots.items()})
        ab = schedules.alpha_bar(config.schedule, config.num_timesteps).float()
        self.register_buffer("alpha_bar", ab, persistent=False)  # (T + 1,)

    def forward(self, xt: Tensor, t: Tensor, content: Tensor | None = None) -> dict[str, Tensor]:
        """`content` (B, L) bool, read when the classifier is content-only: the sentence's positions (None: all)."""
        i = (t.double() * self.config.num_timesteps).round().long().clamp(0, self.config.num_timesteps)
        ab = self.alpha_bar[i].view(-1, 1, 1)
        xt = xt * (ab * self.config.data_var + 1 - ab).rsqrt()  # unit variance at every t, as EDM's c_in
        if not self.config.content_only or content is None or bool(content.all()):
            h = self.backbone(self.in_proj(xt), self.time(t)).mean(1)  # (B, d_model)
        else:
            h = self.backbone(self.in_proj(xt), self.time(t), content)  # (B, L, d_model)
            h = (h * content[..., None]).sum(1) / content.sum(1, keepdim=True).clamp(min=1)
        return {s: head(h) for s, head in self.heads.items()}

    def target_index(self, slot: str, value: str) -> int:
        """The class of slot=value in its head; a ValueError naming the accepted slots or values."""
        return self.classes(slot).index(check_value(self.config.slots, slot, value))

    def classes(self, slot: str) -> list[str]:
        if slot not in self.config.slots:
            raise ValueError(f"unknown slot {slot!r}; the classifier knows {', '.join(self.config.slots)}")
        return [ABSENT, *self.config.slots[slot]]

    def log_prob(self, xt: Tensor, t: Tensor, targets: dict[str, int], content: Tensor | None = None) -> Tensor:
        """(B,) sum over the asked slots of log p(slot = value | x_t, t)."""
        logits = self(xt, t, content)
        return sum(logits[s].log_softmax(-1)[:, k] for s, k in targets.items())


def check_value(slots: dict[str, list[str]], slot: str, value: str) -> str:
    if slot not in slots:
        raise ValueError(f"unknown slot {slot!r}; control accepts {', '.join(slots)}")
    if value not in slots[slot]:
        raise ValueError(f"unknown value {value!r} for {slot}; accepted: {', '.join(slots[slot])}")
    return value


def save_classifier(folder: str | Path, clf: SlotClassifier, meta: dict[str, Any]) -> None:
    """classifier.safetensors then classifier.json, each written atomically."""
    folder = Path(folder)
    state = {k: v.detach().contiguous() for k, v in clf.state_dict().items()}
    atomic_write_bytes(folder / WEIGHTS, save_bytes(state))
    atomic_write_json(folder / CONFIG, {"config": asdict(clf.config), "meta": meta})


def has_classifier(folder: str | Path) -> bool:
    return (Path(folder) / WEIGHTS).is_file() and (Path(folder) / CONFIG).is_file()


def load_classifier(folder: str | Path) -> tuple[SlotClassifier, dict[str, Any]]:
    """The classifier saved with a checkpoint and its meta; a ValueError saying how to train one when absent."""
    folder = Path(folder)
    if not has_classifier(folder):
        raise ValueError(f"checkpoint {str(folder)!r} has no control classifier; train one with "
                         f"python -m diffusion train-classifier --checkpoint {folder}")
    try:
        raw = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        clf = SlotClassifier(ClassifierConfig(**raw["config"]))
        clf.load_state_dict(load_bytes((folder / WEIGHTS).read_bytes()))
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, SafetensorError, RuntimeError) as e:
        raise ValueError(f"checkpoint {str(folder)!r} has a malformed control classifier: {str(e).splitlines()[0]}; "
                         f"train it again with python -m diffusion train-classifier --checkpoint {folder}") from None
    clf.eval()
    for p in clf.parameters():
        p.requires_grad_(False)  # only the latent is optimised during guidance
    return clf, raw.get("meta", {})
