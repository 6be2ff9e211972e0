"""Diffusion-LM (Li et al. 2022): Gaussian diffusion on trainable word embeddings, on DDPM (Ho et al. 2020).

Time is the grid t_i = i / T. x_0 ~ q(x_0 | w) = N(EMB(w), sigma0^2 I) with sigma0^2 = 1 - alpha_bar_1 (as
Diffusion-LM's code), x_i ~ N(sqrt(alpha_bar_i) x_0, (1 - alpha_bar_i) I), and rounding p(w | x_0) is a
softmax over negative squared distances to the embeddings (tied, so rounding and clamping agree).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, Literal

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import Tensor, nn

from . import schedules
from .backbone import TimeEmbedding, build_backbone
from .config import ModelConfig
from .corpus.tokenizer import PAD_ID, SPECIAL_TOKENS, UNK_ID
from .discrete import LengthDrawnFirst, check_length_probs, draw_lengths, length_embedding, length_nll, spans
from .gaussian import (ban_pad, ddim_update, nearest, per_row, posterior, q_sample, rounding_logits,
                       sample_levels)
from .trajectory import Loss, StepOutput

if TYPE_CHECKING:
    from .control import Control

SAMPLERS = ("ddpm", "ddim")
NON_ROUNDING_IDS = tuple(range(1, len(SPECIAL_TOKENS)))  # unk, mask, sep, bos, eos: never a rounding target ...
# ... except [UNK] where config.round_unknown says so (a user corpus: the model learns to round to it, and a held-out
# sentence with an unseen word has a finite bound)
# the likelihood bound's levels: every level up to BOUND_EXACT_LEVELS, BOUND_STRATA strata above, BOUND_REPEATS draws
BOUND_EXACT_LEVELS, BOUND_STRATA, BOUND_REPEATS = 16, 16, 2
_BOUND_LEVELS = (f"self-conditioned: levels 1-{BOUND_EXACT_LEVELS} summed, {BOUND_STRATA} strata equal in log(level) "
                 f"above, one x_t each; the mean of {BOUND_REPEATS} independent draws per sequence")


# ---- the network ----------------------------------------------------------------------------------------------

class ContinuousModel(nn.Module, PyTorchModelHubMixin, library_name="text-diffusion-lab", tags=["diffusion-lm"]):
    """Embeddings EMB (V, d), a transformer denoiser on (B, L, d) latents, and the tied rounding."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        if isinstance(config, dict):  # from_pretrained hands the JSON back as a dict
            config = ModelConfig.from_dict(config)
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim)
        nn.init.normal_(self.embedding.weight)  # Diffusion-LM's init: unit variance per dimension
        self.in_proj = nn.Linear(2 * config.embed_dim, config.d_model)  # x_t and the previous x0 estimate
        self.time = TimeEmbedding(config.d_model)
        self.backbone = build_backbone(config)
        self.out_proj = nn.Linear(config.d_model, config.embed_dim)  # a point in embedding space: x0 or eps
        # length_model "prior": the sentence is the non-[PAD] positions, padding is hidden from attention and the
        # length joins the conditioning vector (as in TokenModel), so a batch can be cut to its longest row
        self.length = length_embedding(config)
        mask = torch.zeros(config.vocab_size, dtype=torch.bool)
        banned = [i for i in NON_ROUNDING_IDS if i < config.vocab_size and not (config.round_unknown and i == UNK_ID)]
        mask[banned] = True
        self.register_buffer("non_rounding", mask, persistent=False)

    def forward(self, xt: Tensor, t: Tensor, x0_prev: Tensor | None = None, content: Tensor | None = None) -> Tensor:
        """(B, L, d) latent, (B,) time, optional previous x0 estimate (self-conditioning, Chen et al. 2022) ->
        (B, L, d) network output. `content` (B, L) bool: by length, the sentence's positions."""
        xt = torch.cat([xt, torch.zeros_like(xt) if x0_prev is None else x0_prev], dim=-1)  # (B, L, 2d)
        h = self.in_proj(xt)  # (B, L, d_model)
        cond = self.time(t)  # (B, d_model)
        if self.length is None:
            return self.out_proj(self.backbone(h, cond))
        if content is None:
            content = torch.ones(xt.shape[:2], dtype=torch.bool, device=xt.device)
        # no mask at all when every position is a word (one sentence on a canvas cut to it): the same attention, less work
        key_mask = None if bool(content.all()) else content
        return self.out_proj(self.backbone(h, cond + self.length(content.sum(1)), key_mask))

    def round_logits(self, x: Tensor) -> Tensor:
        return rounding_logits(x, self.embedding.weight).masked_fill(self.non_rounding, -math.inf)


@dataclass(frozen=True)
class LatentState:
    """The reverse chain's state with self-conditioning or a length drawn first: the latent, the last x0 estimate,
    and by length which positions hold the sentence."""

    latent: Tensor  # (B, L, d)
    x0_hat: Tensor  # (B, L, d)
    content: Tensor | None = None  # (B, L) bool; by length the rest is padding, held on [PAD]'s own noisy path


# ---- the process ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ContinuousProcess(LengthDrawnFirst):
    """Forward noising, the training loss, and the reverse step of Diffusion-LM. Sampling settings are fields.

    With length_model "prior" a sentence of L words is drawn as L ~ p(L) (the training set's lengths) and the network
    sees only its L positions; the padding after it is known, never a rounding target, and kept on the noisy path of
    [PAD]'s embedding (as an anchored word is), so the chain's padding looks as it did in training.
    """

    config: ModelConfig
    sampler: Literal["ddpm", "ddim"] = "ddpm"
    clamp: bool = True
    clamp_from: float = 1.0  # clamp at every step whose starting time t <= clamp_from (1.0: every step)
    noise_scale: float = 1.0  # DDPM: the fresh noise of each step times this (1: the posterior's own variance)
    control: Control | None = None  # plug-and-play control (control.py): anchored words, classifier guidance
    length_probs: tuple[float, ...] | None = None  # length_model "prior": p(L) for L = 1..D, from the training set
    name: str = "continuous"
    NLL_METHOD: ClassVar[str] = f"variational bound with rounding, {_BOUND_LEVELS}"
    NLL_METHOD_BY_LENGTH: ClassVar[str] = (f"variational bound with rounding over the L words, {_BOUND_LEVELS}, plus "
                                           "-log p(L) from the training lengths")

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if not 0.0 <= self.clamp_from <= 1.0:
            raise ValueError(f"clamp_from must be a time in [0, 1], got {self.clamp_from}")
        if not 0.0 <= self.noise_scale <= 1.0:
            raise ValueError(f"noise_scale must be from 0 to 1 (1 = the DDPM posterior's own noise), "
                             f"got {self.noise_scale}")
        if self.sampler == "ddim" and self.noise_scale != 1.0:
            raise ValueError("noise_scale applies to the ddpm sampler only; ddim adds no noise")
        object.__setattr__(self, "length_probs", check_length_probs(self.length_probs, self.config.seq_len))

    @cached_property
    def alpha_bar(self) -> Tensor:
        """(T + 1,) the training chain's alpha_bar on its grid of levels."""
        return schedules.alpha_bar(self.config.schedule, self.config.num_timesteps).float()

    @property
    def T(self) -> int:
        return self.config.num_timesteps

    @property
    def default_steps(self) -> int:
        return min(200, self.T)

    @property
    def sigma0(self) -> float:
        return float((1 - self.alpha_bar[1]).sqrt())

    def index(self, t: Tensor | float) -> Tensor:
        """Times in [0, 1] -> integer levels on the grid."""
        return (torch.as_tensor(t, dtype=torch.float64) * self.T).round().long().clamp(0, self.T)

    def level(self, t: float) -> int:
        """One time in [0, 1] -> its level on the grid, as `index` (both round half to even) but in Python: the
        sampler's times are floats, and a step's schedule arithmetic is then no tensor op at all."""
        return min(max(round(float(t) * self.T), 0), self.T)

    # forward
    def add_noise(self, x0: Tensor, t: Tensor | float, generator: torch.Generator | None = None) -> Tensor:
        """A sample of q(x_t | x_0) for latents x0 (B, L, d) at times t (B,) or a float."""
        i = self.index(t).expand(x0.shape[0]) if self.index(t).dim() == 0 else self.index(t)
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        return q_sample(x0, self.alpha_bar[i], noise)

    def embed(self, model: ContinuousModel, ids: Tensor, generator: torch.Generator | None = None,
              noisy: bool = True) -> Tensor:
        """EMB(w), or a sample of q(x_0 | w) = N(EMB(w), sigma0^2 I) when `noisy`."""
        mean = model.embedding(ids)  # (B, L, d)
        if not noisy:
            return mean
        return mean + self.sigma0 * torch.randn(mean.shape, generator=generator).to(mean.device)

    def predict_x0(self, model: ContinuousModel, xt: Tensor, i: Tensor, x0_prev: Tensor | None = None,
                   content: Tensor | None = None) -> Tensor:
        """x0_hat from the network: through eps, or around the best linear estimate (x0, EDM-preconditioned).
        `content`: by length, the sentence's positions."""
        x0_hat, _ = self._predict(model, xt, i, x0_prev, content)
        return x0_hat

    def _predict(self, model: ContinuousModel, xt: Tensor, i: Tensor | int, x0_prev: Tensor | None,
                 content: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(x0_hat, raw network output); levels i (B,), or one int for every row (sampling)."""
        if isinstance(i, Tensor):
            ab, t = per_row(self.alpha_bar[i], xt), (i.float() / self.T).to(xt.device)
        else:
            ab, t = float(self.alpha_bar[i]), torch.full((xt.shape[0],), i / self.T, device=xt.device)
        if self.config.parameterisation == "eps":
            out = model(xt, t, x0_prev, content)
            return (xt - (1 - ab) ** 0.5 * out) / ab**0.5, out
        # EDM preconditioning in VP form: x0_hat = c_skip x_t + c_out F(c_in x_t). c_skip x_t is the best
        # linear estimate of x0 for data of variance sd2, so at low noise the network starts near the answer.
        sd2 = float(model.embedding.weight.detach().var())
        var_t = ab * sd2 + (1 - ab)  # variance of x_t
        c_skip, c_out, c_in = ab**0.5 * sd2 / var_t, (sd2 * (1 - ab) / var_t) ** 0.5, var_t**-0.5
        out = model(c_in * xt, t, x0_prev, content)
        return c_skip * xt + c_out * out, out

    # training
    def loss(self, model: ContinuousModel, batch: Tensor, generator: torch.Generator | None = None) -> Loss:
        """The end-to-end objective of Li et al. 2022 (Eq. 2, simplified as in their code): MSE + rounding + prior."""
        return self.denoising_loss(model, batch, None, generator)

    def denoising_loss(self, model: ContinuousModel, ids: Tensor, held: Tensor | None,
                       generator: torch.Generator | None = None) -> Loss:
        """The objective on ids (B, L); `held` (B, L) bool marks positions kept at their clean embeddings in x_t
        and left out of every term (DiffuSeq's partial noising: the source is never noised, Gong et al. 2023)."""
        B = ids.shape[0]
        i = sample_levels(B, self.T, self.config.time_sampling, generator)  # (B,) levels 1..T
        x0_mean = self.embed(model, ids, noisy=False)  # (B, L, d)
        # drawn by the (CPU) generator and moved: the same seed gives the same draws on any device
        x0 = x0_mean + self.sigma0 * torch.randn(x0_mean.shape, generator=generator).to(ids.device)
        noise = torch.randn(x0.shape, generator=generator).to(ids.device)
        xt = q_sample(x0, self.alpha_bar[i], noise)
        free = torch.ones(ids.shape, dtype=torch.bool, device=ids.device) if held is None else ~held  # (B, L)
        content = self.content(ids)  # by length the padding is hidden from the network and out of every term
        if content is not None:
            free = free & content
        if held is not None:
            xt = torch.where(held[..., None], x0_mean, xt)
        x0_prev = None
        if torch.rand((), generator=generator) < 0.5:
            # Self-conditioning (Chen et al. 2022): half the batches first predict x0 without gradient and
            # then condition on that guess, so at sampling time the previous step's estimate can be fed back.
            with torch.no_grad():
                x0_prev = self.predict_x0(model, xt, i, content=content)
                if held is not None:  # the estimate at held positions is what sampling feeds back: the clean words
                    x0_prev = torch.where(held[..., None], x0_mean, x0_prev)
        x0_hat, out = self._predict(model, xt, i, x0_prev, content)
        n_free = free.sum().clamp(min=1)

        def mean_free(per_position: Tensor) -> Tensor:  # (B, L) -> mean over the positions that are noised
            # where, not a product: a held [SEP] is no rounding target, so its cross-entropy is inf there
            return per_position.where(free, 0.0).sum() / n_free

        if self.config.parameterisation == "eps":
            mse = mean_free((out - noise).pow(2).mean(-1))
        else:
            mse = mean_free((x0_hat - x0).pow(2).mean(-1))
        rounding = mean_free(F.cross_entropy(ban_pad(model.round_logits(x0), content).transpose(1, 2), ids,
                                             reduction="none"))
        prior = mean_free((self.alpha_bar[-1] * x0_mean**2).mean(-1))  # ||mu_T||^2: keeps embeddings from growing
        total = mse + rounding + prior
        parts = {"mse": mse.item(), "rounding": rounding.item(), "prior": prior.item()}
        if self.config.parameterisation == "x0":
            # Rounding the *predicted* x0 (as Difformer and CDCD do) ties the denoiser to the words it must
            # land on; with eps-prediction the division by sqrt(alpha_bar) makes it explode, so it is skipped.
            x0_round = mean_free(F.cross_entropy(ban_pad(model.round_logits(x0_hat), content).transpose(1, 2),
                                                 ids, reduction="none"))
            total = total + x0_round
            parts["x0_rounding"] = x0_round.item()
        parts["total"] = total.item()
        return Loss(total, parts)

    def content(self, ids: Tensor) -> Tensor | None:
        """(B, L) bool: by length the positions holding words (the rest is padding); None when every position is
        generated, [PAD] a word like any other."""
        return ids != PAD_ID if self.by_length else None

    # sampling
    def prior(self, batch_size: int, length: int, generator: torch.Generator | None = None) -> Tensor | LatentState:
        """x_T ~ N(0, I) (B, L, d); by length also each row's sentence positions: L ~ p(L), or the length a control
        fixes (its template's, or the asked one)."""
        noise = torch.randn(batch_size, length, self.config.embed_dim, generator=generator)  # (B, L, d)
        if not self.by_length:
            return noise
        if length != self.config.seq_len:
            raise ValueError(f"this model draws each sentence's length; it takes the model's length "
                             f"{self.config.seq_len}, got {length}")
        anchor = self.control.anchor if self.control is not None else None
        if anchor is not None:  # the anchor's [PAD]s (after a template, after the asked length) are the padding
            content = (~(anchor.known & (anchor.ids == PAD_ID))).expand(batch_size, -1)
        else:
            lengths = draw_lengths(self.length_probs, batch_size, generator)  # (B,)
            content = torch.arange(length) < lengths[:, None]  # (B, L)
        return LatentState(noise, torch.zeros_like(noise), content)

    def timesteps(self, num_steps: int) -> Tensor:
        """num_steps + 1 times from 1 to 0 on the training grid (respaced when num_steps < T)."""
        if not isinstance(num_steps, int) or num_steps <= 0:
            raise ValueError(f"steps must be a positive integer, got {num_steps!r}")
        if num_steps > self.T:
            raise ValueError(f"steps must be at most the model's {self.T} training timesteps, got {num_steps}")
        i = torch.linspace(self.T, 0, num_steps + 1).round().long()
        return i.double() / self.T

    def hold(self, model: ContinuousModel, x: Tensor) -> Tensor:
        """Latents (B, L, d) with the positions the chain keeps fixed put back (none here; the source in seq2seq)."""
        return x

    def round_logits(self, model: ContinuousModel, x: Tensor) -> Tensor:
        """(B, L, V) rounding logits of latents, restricted where a control forbids words."""
        logits = model.round_logits(x)
        anchor = self.control.anchor if self.control is not None else None
        return logits if anchor is None else anchor.restrict(logits)

    def readable(self, model: ContinuousModel, x: Tensor | LatentState, t: float) -> Tensor:
        """Words a latent at time t rounds to, after undoing the sqrt(alpha_bar) shrinkage (anchored words as given;
        by length [PAD] after the sentence, never inside it)."""
        content = x.content if isinstance(x, LatentState) else None
        x = x.latent if isinstance(x, LatentState) else x
        ab = float(self.alpha_bar[self.level(t)])
        tokens = ban_pad(self.round_logits(model, x * ab**-0.5), content).argmax(-1)
        if content is not None:
            tokens = tokens.masked_fill(~content, PAD_ID)
        anchor = self.control.anchor if self.control is not None else None
        return tokens if anchor is None else anchor.put(tokens)

    def _denoise(self, model: ContinuousModel, x: Tensor, i: Tensor | int, x0_prev: Tensor | None,
                 content: Tensor | None) -> tuple[Tensor, Tensor]:
        """`_predict` on the whole canvas; by length on the positions up to the last word of any row only (the network
        cannot see the padding anyway), the padding after it given back as [PAD] for certain."""
        n = x.shape[1] if content is None else int(spans(content).max())
        if n == x.shape[1]:
            return self._predict(model, x, i, x0_prev, content)
        cut = slice(0, n)
        x0_hat, out = self._predict(model, x[:, cut], i, None if x0_prev is None else x0_prev[:, cut], content[:, cut])
        B, L = content.shape
        x0_hat = torch.cat([x0_hat, model.embedding.weight[PAD_ID].expand(B, L - n, -1)], 1)
        return x0_hat, out

    def step(self, model: ContinuousModel, x: Tensor | LatentState, t: float, t_next: float,
             generator: torch.Generator | None = None) -> StepOutput:
        """One reverse update x_t -> x_s: predict x0, clamp it to the nearest word, then DDPM or DDIM; a control
        anchors known words in x0 and guides x_s towards its classifier's labels."""
        content = x.content if isinstance(x, LatentState) else None  # (B, L) by length
        x, x0_prev = (x.latent, x.x0_hat) if isinstance(x, LatentState) else (x, None)
        x = self.hold(model, x)
        i, s = self.level(t), self.level(t_next)  # ints: the schedule's arithmetic below is on Python floats
        emb = model.embedding.weight
        anchor = self.control.anchor if self.control is not None else None
        guidance = self.control.guidance if self.control is not None else None
        x0_hat, out = self._denoise(model, x, i, x0_prev, content)  # (B, L, d)
        logits = self.round_logits(model, x0_hat)  # (B, L, V)
        logits = ban_pad(logits, content)  # by length, never [PAD] inside the sentence
        pred, dist = nearest(x0_hat, emb, logits)
        probs = logits.softmax(-1)  # (B, L, V) the rounding softmax of x0_hat: what the network says each word is
        confidence = probs.gather(-1, pred[..., None])[..., 0]  # (B, L)
        if content is not None:  # the padding is known: [PAD] for certain, its x0 exactly [PAD]'s embedding
            x0_hat = torch.where(content[..., None], x0_hat, emb[PAD_ID])
            pred, dist = pred.masked_fill(~content, PAD_ID), dist.where(content, 0.0)
            confidence = confidence.where(content, 1.0)
        clamped = self.clamp and t <= self.clamp_from + 1e-9
        if clamped:
            x0_hat = emb[pred]
        x0_hat = self.hold(model, x0_hat)  # the held words are known exactly: the update and self-conditioning use them
        if anchor is not None:  # known words enter the update as themselves, whatever the network guessed
            x0_hat, pred = anchor.put_embeddings(x0_hat, emb), anchor.put(pred)
            confidence = torch.where(anchor.known, 1.0, confidence)
        ab_t, ab_s = float(self.alpha_bar[i]), float(self.alpha_bar[s])
        mean, var = posterior(x0_hat, x, ab_t, ab_s)  # var: one float
        if self.sampler == "ddim" or s == 0:  # s == 0: no noise at the last step
            x_next = ddim_update(x0_hat, x, ab_t, ab_s) if s > 0 else x0_hat
        else:
            # noise_scale < 1 samples a colder chain: less fresh noise each step, fewer words knocked off course
            x_next = mean + self.noise_scale * var**0.5 * torch.randn(x.shape, generator=generator)
        extras = {"clamp_distance": dist, "clamped": clamped}
        if guidance is not None:
            if s > 0:  # the last step lands on the clamped words: no Gaussian to stay close to, nothing to move
                # DDIM has no variance of its own; the DDPM one keeps the fluency term on the same scale
                x_next, prob = guidance.apply(x_next, x_next if self.sampler == "ddim" else mean, var, float(t_next),
                                              content)
            else:
                prob = guidance.probability(x_next, float(t_next), content)
            extras["control_prob"] = prob  # (B,) the classifier's probability of the asked values at x_s
        x_next = self.hold(model, x_next)
        state = LatentState(x_next, x0_hat, content)
        tokens = self.readable(model, state, float(t_next))
        return StepOutput(x=state, tokens=tokens, pred_tokens=pred, confidence=confidence, latent=x_next,
                          extras=extras, probs=probs, fresh=content)

    # likelihood
    @torch.no_grad()
    def nll_bound(self, model: ContinuousModel, ids: Tensor, generator: torch.Generator | None = None,
                  num_levels: int = BOUND_STRATA, exact_levels: int = BOUND_EXACT_LEVELS) -> Tensor:
        """(B,) upper bound on -log p(w) in nats (Li et al. 2022, Eq. 2): `nll_terms`' estimate."""
        return self.nll_terms(model, ids, generator, num_levels, exact_levels).total

    @torch.no_grad()
    def nll_terms(self, model: ContinuousModel, ids: Tensor, generator: torch.Generator | None = None,
                  num_levels: int = BOUND_STRATA, exact_levels: int = BOUND_EXACT_LEVELS,
                  repeats: int = BOUND_REPEATS, self_condition: bool = True) -> BoundTerms:
        """The bound with rounding (Li et al. 2022, Eq. 2) per sequence: its parts and the variance of their sum.

        Each of `repeats` independent draws (its own x0 ~ q(x0|w), x_t and levels) sums L_T, the x_1 -> x_0 decoder
        against q(x0|w), rounding -log p(w|x0) and KL(q(x_{i-1}|x_i,x0) || p(x_{i-1}|x_i)) at every level
        i = 2..`exact_levels` (most of the bound sits at the lowest levels), and estimates the KLs above on
        `num_levels` strata equal in log(level), one level each. The draws' mean is the estimate, their spread its
        variance: every term is random through x0 and x_t, the levels summed exactly too. With `self_condition`
        x0_hat is made as training makes it, a first estimate fed back as x0_prev from the same x_t, so
        p(x_{i-1}|x_i) stays a function of x_i. By length every term runs over the L words only, plus -log p(L).
        """
        if self.NLL_METHOD is None:
            raise ValueError(f"the {self.name} family reports no NLL bound")
        for name, value, low in (("num_levels", num_levels, 1), ("exact_levels", exact_levels, 1),
                                 ("repeats", repeats, 2)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer of at least {low}, got {value!r}")
        B = ids.shape[0]
        # the repeats as rows of one batch: each row draws its own x0, x_t and levels
        exact, sampled = self._bound_draw(model, ids.repeat(repeats, 1), generator, num_levels, exact_levels,
                                          self_condition)
        exact, sampled = exact.view(repeats, B), sampled.view(repeats, B)  # (R, B)
        return BoundTerms(exact.mean(0), sampled.mean(0), (exact + sampled).var(0) / repeats)

    def _bound_draw(self, model: ContinuousModel, ids: Tensor, generator: torch.Generator | None, num_levels: int,
                    exact_levels: int, self_condition: bool) -> tuple[Tensor, Tensor]:
        """One draw of the bound per row of ids (B, L): the terms summed over their levels, and the stratified
        estimate of the levels above, each (B,)."""
        B = ids.shape[0]
        content = self.content(ids)
        if content is not None:  # the network sees only the words: cut the batch after its longest sentence
            n = max(int(spans(content).max()), 1)
            ids, content = ids[:, :n], content[:, :n]
        m = torch.ones(ids.shape, dtype=torch.float64) if content is None else content.double()  # (B, L)
        ab = self.alpha_bar.double()
        s2 = self.sigma0**2
        x0_mean = self.embed(model, ids, noisy=False).double()  # (B, L, d)
        x0 = x0_mean + self.sigma0 * torch.randn(x0_mean.shape, generator=generator, dtype=torch.float64)
        d = x0.shape[-1]
        # prior KL(N(sqrt(ab_T) x0, 1 - ab_T) || N(0, 1)) per dimension, its mean over x0 ~ q(x0|w) in closed form
        abT = ab[-1]
        exact = (0.5 * (abT * (x0_mean**2 + s2) + (1 - abT) - 1 - torch.log(1 - abT)).sum(2) * m).sum(1)  # (B,)
        # decoder -log N(x0; x0_hat, sigma0^2) less the entropy of q(x0|w), which is d/2 + the same log-normaliser
        one = torch.ones(B, dtype=torch.long)
        x1 = q_sample(x0, ab[one], torch.randn(x0.shape, generator=generator, dtype=torch.float64))
        x0_hat = self._bound_x0(model, x1, one, content, self_condition)
        exact = exact + (((x0 - x0_hat) ** 2).sum(2) / (2 * s2) - d / 2).mul(m).sum(1)
        # rounding ([UNK] a word like any other: a sentence with an unknown word has a finite bound)
        logp = ban_pad(model.round_logits(x0.float()), content).log_softmax(-1).double()  # (B, L, V)
        exact = exact - logp.gather(-1, ids[..., None])[..., 0].where(m > 0, 0.0).sum(1)  # where: -inf at padding
        if content is not None:
            exact = exact + length_nll(self.length_probs, content.sum(1))
        for level in range(2, min(exact_levels, self.T) + 1):
            exact = exact + self._reverse_kl(model, x0, torch.full((B,), level), m, content, self_condition, generator)
        # the levels above: one per stratum, uniform in it, weighted by its number of levels
        sampled = torch.zeros(B, dtype=torch.float64)
        edges = log_strata(exact_levels + 1, self.T, num_levels).tolist()  # (K + 1,)
        for lo, hi in zip(edges[:-1], edges[1:]):
            i = lo + (torch.rand(B, generator=generator, dtype=torch.float64) * (hi - lo)).long()  # (B,) lo..hi-1
            sampled = sampled + (hi - lo) * self._reverse_kl(model, x0, i, m, content, self_condition, generator)
        return exact, sampled

    def _bound_x0(self, model: ContinuousModel, xt: Tensor, i: Tensor, content: Tensor | None,
                  self_condition: bool) -> Tensor:
        """(B, L, d) float64 x0_hat at levels i (B,) as training makes it: first without x0_prev, then fed it back."""
        x0_hat = self.predict_x0(model, xt.float(), i, content=content)
        if self_condition:
            x0_hat = self.predict_x0(model, xt.float(), i, x0_hat, content=content)
        return x0_hat.double()

    def _reverse_kl(self, model: ContinuousModel, x0: Tensor, i: Tensor, m: Tensor, content: Tensor | None,
                    self_condition: bool, generator: torch.Generator | None) -> Tensor:
        """(B,) KL(q(x_{i-1}|x_i,x0) || p(x_{i-1}|x_i)) at levels i (B,) on one x_i ~ q(x_i|x0), over the positions
        m (B, L) (Eq. 5 of Ho et al. 2020)."""
        ab = self.alpha_bar.double()
        xt = q_sample(x0, ab[i], torch.randn(x0.shape, generator=generator, dtype=torch.float64))  # (B, L, d)
        x0_hat = self._bound_x0(model, xt, i, content, self_condition)
        mean_q, var = posterior(x0, xt, ab[i], ab[i - 1])
        mean_p, _ = posterior(x0_hat, xt, ab[i], ab[i - 1])
        return (((mean_q - mean_p) ** 2 / (2 * var)).sum(2) * m).sum(1)


@dataclass(frozen=True)
class BoundTerms:
    """The continuous bound per sequence in nats: the terms summed over their levels (`exact`), the stratified
    estimate of the levels above (`sampled`), each a mean over independent draws, and `variance`, the estimated
    variance of their sum `total`."""

    exact: Tensor  # (B,)
    sampled: Tensor  # (B,)
    variance: Tensor  # (B,)

    @property
    def total(self) -> Tensor:
        """(B,) the bound's estimate per sequence."""
        return self.exact + self.sampled

    @property
    def standard_error(self) -> float:
        """Standard error of the batch's mean bound, `total.mean()` (the sequences draw independently)."""
        return float(self.variance.sum().sqrt()) / len(self.variance)


def log_strata(first: int, last: int, k: int) -> Tensor:
    """(K + 1,) edges of K <= k strata [edges[j], edges[j + 1]) covering the levels first..last, about equal in
    log(level) and one level wide at least: the reverse KLs fall steeply with the level."""
    if last < first:
        return torch.tensor([first])
    k = min(k, last - first + 1)
    edges = torch.linspace(math.log(first), math.log(last + 1), k + 1).exp().round().long()  # (k + 1,)
    edges[0], edges[-1] = first, last + 1
    for j in range(1, k):  # one level wide at least: pushed up from below, then down from the top
        edges[j] = max(int(edges[j]), int(edges[j - 1]) + 1)
    for j in range(k - 1, 0, -1):
        edges[j] = min(int(edges[j]), int(edges[j + 1]) - 1)
    return edges
