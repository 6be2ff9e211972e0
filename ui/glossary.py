"""The words the tabs use, each with a short plain definition: shown on hover where a tab's text first uses it (an
`<abbr title>`), and all together in the glossary every tab offers. No gradio here: the texts are plain strings."""

from __future__ import annotations

import html
import re

# The time convention, in the same words in every tab's "More" accordion.
TIME = r"""
**Time, in every tab.** {{$t$|t}} runs from 1 (pure noise, or every token masked) to 0 (the sentence). A run of {{$T$|T}}
sampling steps visits $t = 1, \tfrac{T-1}{T}, \dots, 0$, evenly spaced or close to it; "{{step}} $i$ of $T$" counts up
from 0 at $t = 1$ to $T$ at $t = 0$, and every frame shows both.
"""

# group -> {term: definition}. A definition is one or two short sentences of plain words: no formulas, no figures.
GROUPS: dict[str, dict[str, str]] = {
    "Time and steps": {
        "t": "Diffusion time, from 1 (pure noise, or every token masked) to 0 (the clean sentence). Every family and "
             "every tab uses this scale.",
        "T": "The number of sampling steps in a run: the chain goes from t = 1 to t = 0 in T steps.",
        "step": "One move of the reverse chain from a time t to a smaller one. 'Step i of T' counts up from 0 at "
                "t = 1 to T at t = 0.",
        "training grid": "The fixed noise levels a continuous model was trained on (its checkpoint says how many). A "
                         "run with fewer sampling steps skips through them evenly.",
        "network call": "One pass of the transformer over the sentences. A step that can change nothing skips it, "
                        "so calls and steps can differ.",
        "seed": "The number that fixes every random draw: the same seed and settings give the same run.",
        "temperature": "Divides the network's scores before a word is drawn: below 1 the draws are surer and less "
                       "varied, above 1 flatter.",
    },
    "Continuous diffusion (Diffusion-LM)": {
        "DDPM": "Denoising diffusion probabilistic models (Ho et al. 2020): add Gaussian noise little by little, "
                "train a network to undo it, and sample by undoing it from pure noise.",
        "Diffusion-LM": "Li et al. 2022: DDPM run on the word embeddings of a sentence, with the embeddings learned "
                        "and a rounding step back to words.",
        "embedding": "A vector the model learns for each word of its vocabulary. Diffusion-LM adds its noise to these "
                     "vectors, not to the words.",
        "x₀": "The clean sentence: its word embeddings (continuous families) or its tokens (discrete families).",
        "xₜ": "The sentence at time t: the embeddings mixed with noise (continuous), or some tokens masked or "
              "replaced (discrete).",
        "latent": "The vectors the continuous chain moves, one per position: xₜ at the current step.",
        "ε": "The noise: a draw from a standard Gaussian, one number per dimension, mixed into the embeddings.",
        "forward process": "The fixed recipe that corrupts a sentence as t grows: Gaussian noise on the embeddings, "
                           "or tokens masked or replaced.",
        "reverse chain": "Sampling: start from pure noise at t = 1 and let the network undo the corruption step by "
                         "step down to t = 0.",
        "schedule": "How fast the noise grows with t: the curve ᾱ(t). It decides how many steps are spent at each "
                    "noise level.",
        "ᾱ": "Alpha bar: the share of the signal left at time t, 1 at t = 0 and near 0 at t = 1; the noise's share is "
             "1 − ᾱ.",
        "SNR": "Signal-to-noise ratio, ᾱ / (1 − ᾱ): how much sentence there is against how much noise.",
        "x̂₀": "The network's guess of the clean sentence x₀, remade at every step from the noisy xₜ.",
        "x₀-parameterisation": "Training the network to output x̂₀ directly rather than the noise: Diffusion-LM's "
                               "choice for text.",
        "ε-prediction": "Training the network to output the noise ε, as DDPM does for images; x̂₀ is then worked "
                        "out from it.",
        "posterior": "Where the chain should go next if the clean sentence were known. The sampler plugs in the "
                     "network's guess x̂₀.",
        "rounding": "Turning a vector back into a word: the word whose embedding is nearest to it.",
        "clamping": "Replacing x̂₀ by the embedding of its nearest word before each step, so the chain always aims at "
                    "real words (Li et al. 2022).",
        "DDIM": "Denoising diffusion implicit models (Song et al. 2021): a sampler that adds no fresh noise, so fewer "
                "steps still land on words.",
        "noise scale": "A factor on the fresh noise of each DDPM step: below 1 the chain runs colder, keeping the "
                       "words it has formed.",
        "confidence": "How sure the model is of the word shown at a position: that word's probability there.",
        "top-k": "The k likeliest words at a position; point at a word in a frame to see them.",
        "PCA": "Principal component analysis: a flat projection onto the two directions the points vary most along. "
               "Distances on it are honest shadows of the real ones.",
        "UMAP": "A curved map to 2-D that keeps each point's neighbours near it (McInnes et al. 2018); distances "
                "between clusters mean little.",
        "[PAD]": "A filler token after a sentence's end, so sentences of different lengths share one grid.",
        "length first": "The model draws the sentence's length from the training sentences' lengths, then works only "
                        "on those positions; padding is never noised.",
    },
    "Discrete diffusion (SEDD, masked diffusion)": {
        "token": "One unit of text the model reads: here a word or a punctuation mark.",
        "categorical corruption": "Noising the tokens themselves: each one is kept or swapped for another with "
                                  "probabilities set by a transition matrix, instead of getting Gaussian noise.",
        "transition matrix": "A table Q that gives, for each token, the rate of turning into each other token. It "
                             "defines a discrete forward process, as the noise schedule does a Gaussian one.",
        "Markov chain": "A random process that jumps between states, each jump depending only on the current state. "
                        "SEDD's runs in continuous time, with jump rates from Q.",
        "[MASK]": "A special token that means 'unknown word here'. Absorbing noise turns words into it.",
        "absorbing state": "A state the forward process never leaves once in it: [MASK]. Noising only masks, and "
                           "sampling only unmasks.",
        "uniform noise": "Discrete noise that replaces a token with any token of the vocabulary, picked at random.",
        "masked LM": "A model trained to fill in masked words from the words around them (as BERT is), with a "
                     "cross-entropy loss on the masked positions.",
        "cross-entropy": "Minus the log of the probability the model gave the right word; lower is better.",
        "MDLM": "Masked diffusion language model (Sahoo et al. 2024): absorbing diffusion trained with a weighted "
                "masked-LM cross-entropy.",
        "LLaDA": "Large language diffusion model (Nie et al. 2025): a masked diffusion model trained at large "
                 "scale with the same weighted masked-LM loss.",
        "SEDD": "Score entropy discrete diffusion (Lou, Meng & Ermon 2024): discrete diffusion whose network "
                "learns the concrete score by score entropy.",
        "score": "In image diffusion, the direction in which the data gets likelier (the gradient of log density). "
                 "Text has no gradient, hence the concrete score.",
        "concrete score": "For a noisy sentence, how much likelier each one-token change of it is than the sentence "
                          "itself (a ratio of probabilities). SEDD's network predicts these ratios.",
        "score entropy": "SEDD's loss: compares the predicted ratios with the true ones, is zero when they match, and "
                         "bounds the NLL.",
        "Euler step": "The simplest sampler for a Markov chain: over a short time, each token jumps to a new one with "
                      "probability time × rate.",
        "Tweedie": "A sampler that takes the exact reverse of a whole step given the scores (Tweedie's formula), "
                   "rather than a first-order guess; it needs fewer steps.",
        "remasking": "Letting a sampling step mask a written word again so the network can rewrite it with more "
                     "context (ReMDM, Wang et al. 2025).",
        "ELBO": "Evidence lower bound: a quantity never above log p(x), used as a training objective. Negated, it is "
                "an upper bound on the NLL.",
    },
    "Order and decoding": {
        "autoregressive": "Writing a sentence one token at a time, each drawn given the tokens already written.",
        "order-agnostic": "Able to write a sentence's positions in any order, each given the ones already written "
                          "(ARDM, Hoogeboom et al. 2022).",
        "ARDM": "Autoregressive diffusion model (Hoogeboom et al. 2022): an order-agnostic model trained on random "
                "orders, which can also write several positions a step.",
        "plan": "ARDM's dynamic programme: for a budget of steps, how many positions each step writes together so "
                "that the least likelihood is lost.",
        "most probable first": "MaskGIT's rule (Chang et al. 2022): each step keeps the draws the network is surest "
                               "of, and the others wait.",
    },
    "Conditioning and control": {
        "DiffuSeq": "Gong et al. 2023: diffusion on a source and target side by side, noising only the target, for "
                    "sequence-to-sequence tasks.",
        "source": "What a seq2seq model is given (here a meaning representation); it stays clean.",
        "target": "What a seq2seq model writes (here a sentence); only it is noised.",
        "meaning representation": "The restaurant task's input: slot and value pairs such as name [mill] food "
                                  "[italian].",
        "anchoring": "Putting known vectors back at their positions after every step (the source, or the fixed words "
                     "of a template), so the chain treats them as given.",
        "MBR": "Minimum Bayes risk decoding: draw several candidates and return the one the others agree with most.",
        "BLEU": "A score from 0 to 100 of how many word sequences two sentences share.",
        "BPE": "Byte-pair encoding: a vocabulary of word pieces learned from the corpus, so any word, even one never "
               "seen, is written as a few pieces.",
        "plug-and-play": "Steering a frozen language model while it samples, without retraining it.",
        "infilling": "Writing the blanks of a template while its known words stay fixed.",
        "classifier guidance": "At every step, nudge the latent along the gradient of a classifier's log probability "
                               "of the wanted attribute.",
        "Adagrad": "A gradient optimiser that scales each coordinate's step by the size of its past gradients.",
    },
    "Measuring": {
        "NLL": "Negative log-likelihood: minus the log probability the model gives a sentence. Lower is better.",
        "bits per token": "NLL in base 2, divided by the number of tokens: how many yes-or-no questions the model "
                          "needs per word, on average.",
        "bound": "A number sure to be at least the true NLL. Diffusion models report bounds; a left-to-right model "
                 "its exact NLL.",
        "entropy": "The corpus's own NLL under its true distribution: the floor no model can go below.",
        "grammatical rate": "The share of samples the built-in grammar accepts as sentences.",
        "EMA": "Exponential moving average: a smoothed copy of the weights, used to sample.",
    },
}

GLOSSARY: dict[str, str] = {term: text for group in GROUPS.values() for term, text in group.items()}
_FOLDED = {term.casefold(): term for term in GLOSSARY}  # for a term written in another case ("t" and "T" both exist)
_MARK = re.compile(r"\{\{(.+?)(?:\|(.+?))?\}\}")  # {{shown}} or {{shown|term}}


def entry(term: str) -> str:
    """The glossary's own spelling of `term` (the exact one, else the same in another case); a KeyError naming the
    known terms when it has none."""
    term = term.strip()
    found = term if term in GLOSSARY else _FOLDED.get(term.casefold())
    if found is None:
        raise KeyError(f"{term!r} is not in the glossary; it has: {', '.join(GLOSSARY)}")
    return found


def definition(term: str) -> str:
    """The plain definition of `term`."""
    return GLOSSARY[entry(term)]


def define(term: str, shown: str | None = None) -> str:
    """`shown` (default `term`) with the definition of `term` on hover: an `<abbr title>` Gradio's Markdown keeps."""
    return f'<abbr title="{html.escape(definition(term), quote=True)}">{shown or term}</abbr>'


def gloss(text: str) -> str:
    """`text` with each `{{shown}}` or `{{shown|term}}` mark replaced by `shown`, defined on hover the first time its
    term appears (an unknown term fails when the page is built, not on hover)."""
    seen: set[str] = set()

    def one(match: re.Match[str]) -> str:
        shown, key = match.group(1), entry(match.group(2) or match.group(1))
        if key in seen:
            return shown
        seen.add(key)
        return define(key, shown)

    return _MARK.sub(one, text)


def terms(text: str) -> list[str]:
    """The terms `text` marks for definition, in order."""
    return [m.group(2) or m.group(1) for m in _MARK.finditer(text)]


def glossary_markdown() -> str:
    """Every term with its definition, grouped, as Markdown."""
    parts = []
    for group, entries in GROUPS.items():
        lines = "\n".join(f"- **{term}**: {text}" for term, text in entries.items())
        parts.append(f"**{group}**\n\n{lines}")
    return "\n\n".join(parts)
