"""The Start here tab: a guided lesson in nine short steps, from why text is hard for diffusion to training a model.

Each step is a few plain sentences, one small live run ("Show me": the default run of the tab the step belongs to,
the same run that tab's Run button makes, so both share the run cache), and a "Try it" button that opens that tab
with its controls set for this point of the story. The steps are wired after every tab is built (`wire`): a step
names the tab's components by elem_id and finds the tab's own run event by the player it writes to, so the lesson
never repeats a tab's wiring.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import gradio as gr

from visualize.tokens import MASK, render_tokens

from .common import LATEX
from .glossary import glossary_markdown, gloss
from .cache import RUNS
from .player import player


@dataclass(frozen=True)
class Step:
    slug: str
    title: str  # the step's tab label, after its number
    text: str  # markdown: two or three plain sentences, at most one equation
    tab: str  # the id of the tab "Try it" opens
    label: str  # that tab's name, on the button
    shows: str | None = None  # elem_id of the tab's player (or result) whose run "Show me" makes here
    settings: dict[str, Any] = field(default_factory=dict)  # elem_id -> value set by "Try it" (the rest: defaults)
    more: tuple[tuple[str, str], ...] = ()  # further (tab id, tab name) buttons


EXAMPLE = "mill is a family friendly italian restaurant by the riverside ."

STEPS = (
    Step("roads", "Two roads", r"""
**Why text is hard for diffusion.** Image diffusion adds a little Gaussian noise to every pixel, step after step,
and trains a network to undo one step at a time. But *a word plus a little noise* is not a word. Two roads round it:

- **Noise the embeddings**: turn each word into a vector (its {{embedding}}), diffuse the vectors as pixels, and at the
  end {{round|rounding}} each to the nearest word ({{Diffusion-LM}}).
- **Corrupt the tokens**: replace words by a {{[MASK]}} token, more of them as time goes on, and train the network
  to fill them in (masked diffusion: D3PM, {{SEDD}}, {{MDLM}}, {{LLaDA}}).

**Time** runs from $t = 0$ (the sentence) to $t = 1$ (all noise); generating runs back in $T$ steps, "step $i$ of
$T$" counting up from $t = 1$. **The data**: sentences written by a small built-in grammar about restaurants, so
every sample can be checked exactly, and a mistake named.
""", "forward", "Forward noising", more=(("embeddings", "Embeddings"),)),
    Step("noise", "Add noise", r"""
**The forward process, on embeddings.** The sentence's embeddings $x_0$ are mixed with Gaussian noise $\epsilon$:

$$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon$$

$\bar\alpha_t$ (the {{schedule}}) falls from 1 at $t = 0$ to about 0 at $t = 1$. To read a noisy $x_t$ as words, each
vector is *rounded* to its nearest word: early on every word survives, later the words turn to others, then to
noise. Press *Show me* and play it; the schedule decides how fast the words go.
""", "forward", "Forward noising", shows="fwd-tokens"),
    Step("denoise", "Denoise", r"""
**Generating: run time backwards.** Start from pure noise at $t = 1$. At each step the network looks at $x_t$ and
predicts the clean sentence, {{$\hat x_0$|x̂₀}}; the sampler moves $x_t$ a little towards that prediction, adding a little
fresh noise, and $t$ falls. Under each sample you see the words $x_t$ rounds to and, below, the words the network's
prediction $\hat x_0$ rounds to: vague at first, settling as $t$ falls.
""", "denoise", "Denoise", shows="denoise-text", more=(("embeddings", "Embeddings"),)),
    Step("clamp", "Clamp", r"""
**The clamping trick.** The prediction $\hat x_0$ is a vector that need not be any word's embedding. Diffusion-LM
{{clamps|clamping}} it: before each step, $\hat x_0$ is snapped to its nearest word's embedding, so every step commits to real
words. The same seed run with and without clamping shows what it buys: the same rounding you saw in *Add noise*,
applied inside the loop.
""", "clamp", "Clamping trick", shows="ct-view"),
    Step("mask", "Mask", r"""
**The other road: masking as noise.** Corrupt tokens instead of vectors: at time $t$, each word has been replaced by
[MASK] with a probability that grows with $t$ (a categorical corruption; [MASK] is the {{absorbing state}}: once masked,
a word stays masked). The network learns to guess the masked words, and its loss is a masked-language-model
cross-entropy, weighted by time (as in MDLM and LLaDA):

$$\mathcal L = \mathbb E_t\Big[\,w(t) \sum_{i\,:\,x_t^i = \text{[MASK]}} -\log p_\theta\big(x_0^i \mid x_t\big)\Big]$$

Generating unmasks: each step writes some of the masked positions. Grey words are the network's guesses in the
slots it has not written yet.
""", "discrete", "Discrete diffusion", shows="sedd-text"),
    Step("order", "Order", r"""
**Which word first?** A masked model can write the positions in any order. An {{order-agnostic}} model ({{ARDM}}) is trained
for every order, so it can also write several positions in one step: fewer network calls, but words written in the
same step do not see each other. That is where parallel decoding goes wrong: a fact said twice, a fact left out.
The last frame colours each word by the step that wrote it.
""", "order", "Order-agnostic", shows="order-text", settings={"budget": 8}),
    Step("condition", "Condition", r"""
**Asking for something.** {{DiffuSeq}} writes a description *of a given meaning*: the source (the facts, such as
`name [zizzi] food [french]`) is kept fixed at every step ({{anchoring}}), while only the target is noised and denoised.
It draws several candidates and keeps the one that agrees most with the others ({{MBR}}, minimum Bayes risk). The
Control tab steers an unconditional model instead, with a classifier's gradient at every step ({{classifier guidance}}).
""", "seq2seq", "Seq2seq", shows="s2s-text", more=(("control", "Control"),)),
    Step("race", "Race", r"""
**Against the left-to-right model.** An ordinary language model writes one word per network call, left to right.
The diffusion families can spend fewer calls, or more. *Show me* runs every family on the same seed; each card says
how many calls it made, how long it took, and whether the grammar accepts its sentence (and if not, the rule it
breaks). The recorded figures below the cards compare them on many samples.
""", "compare", "Compare", shows="cmp-results"),
    Step("train", "Train your own", r"""
**Train one yourself.** Pick a family and press Train: a small model learns the grammar on this machine's CPU in
about a minute, its loss falls on the plot, and samples drawn along the way turn from word salad into sentences.
Then choose *trained here* in any tab to run your own model there.
""", "train", "Train"),
)


def _two_roads() -> str:
    """Step 1's picture: a sentence, and the same sentence on the token road at about half time (every other content
    word masked)."""
    words = EXAMPLE.split()
    masked = [MASK if k % 2 and w not in (".", "a", "is") else w for k, w in enumerate(words)]
    row = '<div style="margin:0.35em 0"><div style="font-size:0.9em;opacity:0.75">{}</div>{}</div>'
    return (row.format("the sentence, t = 0", render_tokens(words, [1.0] * len(words), pad="hide", titles=False))
            + row.format("the token road, about half way: some words replaced by [MASK]",
                         render_tokens(masked, [1.0] * len(masked), pad="hide", titles=False))
            + row.format("the embedding road: each word is a vector; Gaussian noise moves it off the word "
                         "(Show me in step 2)", ""))


@dataclass
class Built:
    """The lesson's buttons and outputs, wired by `wire` once every tab exists."""

    steps: gr.Tabs
    show: dict[str, tuple[gr.Button, Any]] = field(default_factory=dict)  # slug -> (button, output)
    tries: list[tuple[gr.Button, str, str | None]] = field(default_factory=list)  # (button, tab id, step or None)
    nexts: list[tuple[gr.Button, str]] = field(default_factory=list)  # (button, next step's slug)


def tab(models: gr.State) -> Built:
    """The Start here tab's layout; `wire` connects its buttons."""
    gr.Markdown("**A guided tour in nine steps**, from why text is hard for diffusion to training your own model. "
                "Each step: read it, press *Show me* for a live run, then *Try it* to open the tab it belongs to.")
    with gr.Tabs(elem_id="lesson-steps") as steps:
        built = Built(steps)
        for number, step in enumerate(STEPS, 1):
            with gr.Tab(f"{number} · {step.title}", id=step.slug, elem_id=f"lesson-{step.slug}"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=320):
                        gr.Markdown(gloss(step.text), latex_delimiters=LATEX, elem_classes=["lesson-text"])
                        with gr.Row():
                            if step.shows:
                                show = gr.Button("▶ Show me", variant="primary", size="sm",
                                                 elem_id=f"lesson-show-{step.slug}")
                            try_it = gr.Button(f"Try it in {step.label} →", size="sm",
                                               elem_id=f"lesson-try-{step.slug}")
                            built.tries.append((try_it, step.tab, step.slug))
                            for tab_id, name in step.more:
                                more = gr.Button(f"{name} →", size="sm", elem_id=f"lesson-try-{step.slug}-{tab_id}")
                                built.tries.append((more, tab_id, None))
                            if number < len(STEPS):
                                nxt = gr.Button("Next step", size="sm", elem_id=f"lesson-next-{step.slug}")
                                built.nexts.append((nxt, STEPS[number].slug))
                    with gr.Column(scale=3, min_width=360):
                        if step.slug == "roads":
                            gr.HTML(_two_roads(), elem_id="lesson-roads-figure")
                        elif step.shows == "cmp-results":
                            out = gr.HTML("<i>Press Show me: one sentence per family.</i>",
                                          elem_id=f"lesson-out-{step.slug}", min_height=120)
                            built.show[step.slug] = (show, out)
                        elif step.shows:
                            out = player(f"lesson-out-{step.slug}", "<i>Press Show me for a live run.</i>", 120)
                            built.show[step.slug] = (show, out)
    with gr.Accordion("Glossary: every term the lab uses, in plain words", open=False, elem_id="lesson-glossary"):
        gr.Markdown(glossary_markdown(), latex_delimiters=LATEX)
    return built


def _by_id(demo: gr.Blocks) -> dict[str, Any]:
    return {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}


def _run_of(demo: gr.Blocks, target: Any) -> Any:
    """The event that writes the run shown in `target` (a tab's player or result): its first writer."""
    for fn in demo.fns.values():
        if any(o is target for o in fn.outputs) and fn.inputs:
            return fn
    raise LookupError(f"no event writes {target.elem_id!r}")


def _shown(value: Any) -> Any:
    """The first output of a tab's update, for a lesson view: the player's value without figures to follow (the
    tab's own figures are not on the lesson's page)."""
    out = value[0] if isinstance(value, tuple) else value
    if isinstance(out, dict) and "frames" in out:
        out = {**out, "linked": []}
    return out


_END = object()  # a generator's end, from a worker thread


def _settings(inputs: list[Any], settings: dict[str, Any]) -> list[Any]:
    """The tab's run inputs at their defaults, with this step's `settings` (by elem_id) over them."""
    return [settings.get(getattr(c, "elem_id", None), c.value) for c in inputs]


def _show(fn: Any, inputs: list[Any], settings: dict[str, Any]) -> Any:
    """A lesson handler: the tab's own run with the tab's default inputs and the step's settings (a State's
    default: no session models, so always the shipped ones)."""
    args = [{} if isinstance(c, gr.State) else v for c, v in zip(inputs, _settings(inputs, settings))]

    async def show() -> AsyncIterator[Any]:
        # the tabs' runs are async (ui/cache.py: a generator, or a coroutine for a plain handler); any other handler
        # runs in a worker thread
        if inspect.isasyncgenfunction(fn):
            result = fn(*args)
        elif inspect.iscoroutinefunction(fn):
            result = await fn(*args)
        else:
            result = await anyio.to_thread.run_sync(lambda: fn(*args))
        if inspect.isasyncgen(result):
            async for value in result:
                yield _shown(value)
        elif inspect.isgenerator(result):
            while (value := await anyio.to_thread.run_sync(next, result, _END)) is not _END:
                yield _shown(value)
        else:
            yield _shown(result)
    return show


def wire(demo: gr.Blocks, tabs: gr.Tabs, built: Built) -> None:
    """Connect the lesson's buttons, now that every tab exists: Show me runs the tab's default run (with the step's
    settings) into the step's view; Try it opens the tab with the controls of its run set the same way; Next opens
    the next step."""
    by_id = _by_id(demo)
    steps = {s.slug: s for s in STEPS}
    missing = [k for s in STEPS for k in s.settings if k not in by_id]
    if missing:
        raise LookupError(f"the lesson sets {missing}, which no component of the app is")
    for slug, (button, out) in built.show.items():
        step = steps[slug]
        run = _run_of(demo, by_id[step.shows])
        button.click(_show(run.fn, list(run.inputs), step.settings), None, out, show_progress="minimal",
                     api_visibility="private", **RUNS)
    for button, tab_id, slug in built.tries:
        step = steps.get(slug)
        controls: list[Any] = []
        if step is not None and step.shows:
            controls = [c for c in _run_of(demo, by_id[step.shows]).inputs if not isinstance(c, gr.State)]
        controls += [by_id[k] for k in (step.settings if step else {}) if by_id[k] not in controls]
        values = _settings(controls, step.settings if step else {})
        button.click(lambda t=tab_id, v=values: (gr.Tabs(selected=t), *v) if v else gr.Tabs(selected=t), None,
                     [tabs, *controls],
                     api_visibility="private", show_progress="hidden", queue=False)
    for button, slug in built.nexts:
        button.click(lambda s=slug: gr.Tabs(selected=s), None, built.steps, api_visibility="private",
                     show_progress="hidden", queue=False)
