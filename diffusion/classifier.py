"""A slot classifier on noisy Diffusion-LM latents, p(c | x_t, t), for plug-and-play control (Sec. 5.2 of Li et al. 2022).

It reads the latent sequence x_t (B, L, d) that the language model's own embeddings and schedule produce, with t as
input, and predicts for every slot of the built-in corpus's meaning representations either "absent" or one of its
values. The language model is frozen and never sees it: control needs no retraining of the LM. It lives in the LM's
checkpoint folder as `classifier.safetensors` + `classifier.json` (written atomically; loading never unpickles).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from torch import Tensor, nn

from . import schedules
from .backbone import TimeEmbedding, build_backbone
from .checkpoint import Checkpoint, atomic_write_bytes, atomic_write_json
from .config import ModelConfig
from .gaussian import q_sample
from .corpus import SLOTS, VALUES, builtin_split

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


def labels(mrs: list[dict[str, str]], slots: dict[str, list[str]]) -> dict[str, Tensor]:
    """{slot: (B,) class ids} of meaning representations (0 where the slot is absent)."""
    return {s: torch.tensor([1 + values.index(mr[s]) if s in mr else 0 for mr in mrs]) for s, values in slots.items()}


def noisy_latents(ck: Checkpoint, ids: Tensor, t: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """x_t ~ q(x_t | x_0) with x_0 ~ q(x_0 | w), from the frozen LM's embeddings: what the reverse chain holds."""
    with torch.no_grad():
        x0 = ck.process.embed(ck.model, ids, generator)  # (B, L, d)
        i = ck.process.index(t)
        return q_sample(x0, ck.process.alpha_bar[i], torch.randn(x0.shape, generator=generator))


@dataclass(frozen=True)
class ClassifierLog:
    step: int
    loss: float
    seconds: float


def check_trainable(ck: Checkpoint) -> None:
    if ck.config.family != "continuous":
        raise ValueError(f"a control classifier reads Diffusion-LM latents; this checkpoint is {ck.config.family!r}, "
                         "not 'continuous'")
    if ck.meta.get("corpus") != "builtin" or ck.config.level != "word":
        raise ValueError("the control classifier learns the built-in corpus's slot labels; this checkpoint was "
                         f"trained on {ck.meta.get('corpus')!r} ({ck.config.level} level), not the word-level builtin")


def train_classifier(ck: Checkpoint, minutes: float | None = None, steps: int | None = None, batch_size: int = 64,
                     lr: float = 2e-3, seed: int = 0, command: str = "",
                     should_stop: Callable[[], bool] | None = None) -> Iterator[ClassifierLog]:
    """Train a SlotClassifier on the built-in corpus noised by the checkpoint's LM; save it into the folder at the end
    (and every minute), with its accuracy by noise level in classifier.json."""
    check_trainable(ck)
    if minutes is None and steps is None:
        raise ValueError("give a budget: minutes, steps, or both")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    emb = ck.model.embedding.weight.detach()
    config = ClassifierConfig(embed_dim=ck.config.embed_dim, seq_len=ck.config.seq_len,
                              num_timesteps=ck.config.num_timesteps, schedule=ck.config.schedule,
                              data_var=float(emb.var()), content_only=ck.process.by_length)
    clf = SlotClassifier(config)
    opt = torch.optim.AdamW(clf.parameters(), lr=lr, weight_decay=0.01)
    train = builtin_split("train")
    ids_all = ck.tokenizer.batch([e.text for e in train], ck.config.seq_len)  # (N, L)
    y_all = labels([e.mr for e in train], config.slots)
    start, last_save, step = time.perf_counter(), time.perf_counter(), 0
    budget_s = None if minutes is None else 60.0 * minutes
    while True:
        elapsed = time.perf_counter() - start
        progress = max(step / steps if steps else 0.0, elapsed / budget_s if budget_s else 0.0)
        if progress >= 1.0 or (should_stop is not None and should_stop()):
            break
        for group in opt.param_groups:  # cosine decay to a tenth over the budget
            group["lr"] = lr * min(1.0, (step + 1) / 100) * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))
        rows = torch.randint(len(train), (batch_size,), generator=gen)
        t = torch.rand(batch_size, generator=gen, dtype=torch.float64)
        xt = noisy_latents(ck, ids_all[rows], t, gen)
        clf.train()
        logits = clf(xt, t.float(), ck.process.content(ids_all[rows]))
        loss = sum(F.cross_entropy(logits[s], y_all[s][rows]) for s in config.slots)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(clf.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 25 == 0:
            yield ClassifierLog(step, float(loss.detach()), time.perf_counter() - start)
        if time.perf_counter() - last_save > 60:
            save_classifier(ck.path, clf, {"command": command, "steps": step, "seconds": time.perf_counter() - start})
            last_save = time.perf_counter()
    seconds = time.perf_counter() - start
    meta = {"command": command, "steps": step, "seconds": round(seconds, 1), "batch_size": batch_size, "lr": lr,
            "seed": seed, "accuracy_by_t": accuracy_by_t(ck, clf)}
    save_classifier(ck.path, clf, meta)
    yield ClassifierLog(step, float("nan"), seconds)


@torch.no_grad()
def accuracy_by_t(ck: Checkpoint, clf: SlotClassifier, times: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0),
                  n: int = 512, seed: int = 1) -> dict[str, float]:
    """Per-slot accuracy (absent counts as a class), averaged over slots, on validation sentences noised to each t."""
    clf.eval()
    val = builtin_split("validation")[:n]
    ids = ck.tokenizer.batch([e.text for e in val], ck.config.seq_len)
    y = labels([e.mr for e in val], clf.config.slots)
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for t in times:
        tt = torch.full((len(val),), t, dtype=torch.float64)
        logits = clf(noisy_latents(ck, ids, tt, gen), tt.float(), ck.process.content(ids))
        out[f"{t:g}"] = round(sum(float((logits[s].argmax(-1) == y[s]).float().mean()) for s in y) / len(y), 4)
    return out


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
