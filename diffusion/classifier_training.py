"""Training the control classifier (classifier.py) on the latents of a frozen Diffusion-LM checkpoint: the built-in
corpus's sentences embedded and noised by the LM's own process, labelled by their meaning representations."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .checkpoint import Checkpoint
from .classifier import ClassifierConfig, SlotClassifier, save_classifier
from .corpus import builtin_split
from .gaussian import q_sample


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
