"""Gradio app: watch text diffusion models noise and denoise. Gradio only: one module per tab in `ui/`, the math
in `diffusion/`, the figures in `visualize/`.

Run `python app.py`. The shipped checkpoints live in `assets/checkpoints/<name>/`, indexed by diffusion/shipped.py; the
environment variable DIFFUSION_CHECKPOINT names another continuous checkpoint, DIFFUSION_CHECKPOINT_<NAME> another for
that shipped name.
"""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr

from ui import clamp as clamp_tab
from ui import compare as compare_tab
from ui import control as control_tab
from ui import denoise as denoise_tab
from ui import discrete as discrete_tab
from ui import embeddings as embeddings_tab
from ui import forward as forward_tab
from ui import lesson
from ui import order as order_tab
from ui import seq2seq as seq2seq_tab
from ui import train as train_tab
from ui.common import (CHECKPOINTS, CHECKPOINT_ENV, DEFAULT_CHECKPOINT, SESSION_TTL_SECONDS, end_session, forget_models,
                       get_checkpoint, load, start_sweeper)
from ui.denoise import DEFAULT_STEPS, MAX_STEPS, MIN_STEPS, denoise
from ui.discrete import forward_view, sedd_denoise
from ui.order import order_agnostic
from ui.seq2seq import compose_mr, seq2seq_run
from visualize import tokens

_load = load  # the one cache of loaded checkpoints (tests clear it)

__all__ = ["CHECKPOINT_ENV", "CHECKPOINTS", "DEFAULT_CHECKPOINT", "DEFAULT_STEPS", "MAX_STEPS", "MIN_STEPS", "build_demo",
           "denoise", "compose_mr", "forward_view", "get_checkpoint", "order_agnostic", "sedd_denoise", "seq2seq_run"]


# The tabs after "Start here", in the lesson's order: (title, module with tab(models)); a tab's id is its module's name.
TABS = (("Forward noising", forward_tab), ("Denoise", denoise_tab), ("Embeddings", embeddings_tab),
        ("Clamping trick", clamp_tab), ("Discrete diffusion", discrete_tab), ("Order-agnostic", order_tab),
        ("Seq2seq", seq2seq_tab), ("Control", control_tab), ("Compare", compare_tab), ("Train", train_tab))


LAYOUT_CSS = Path(__file__).resolve().parent / "ui" / "layout.css"

# Events waiting at once, across every visitor: past it a visitor is told the Space is busy, rather than waiting on an
# ever longer queue. A class of thirty pressing Run together fits.
MAX_QUEUE = 64


def build_demo() -> gr.Blocks:
    """The whole app, queued: one tab per module; checkpoints load lazily, on a tab's first run. Gradio's uploads and
    downloads expire with the sessions (`delete_cache`), and a thread sweeps the session root."""
    with gr.Blocks(title="Text diffusion lab", delete_cache=(SESSION_TTL_SECONDS // 4, SESSION_TTL_SECONDS)) as demo:
        # every tab's token views, and the page's layout at a projector's size
        gr.HTML(f"<style>{tokens.css()}{LAYOUT_CSS.read_text(encoding='utf-8')}</style>", elem_id="token-css",
                padding=False)
        gr.Markdown("# Text diffusion lab")
        # This browser session's own models, {family: checkpoint folder}, made in the Train tab; gone with the session.
        models = gr.State({}, time_to_live=SESSION_TTL_SECONDS, delete_callback=forget_models)
        page_loads = []
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("Start here", id="start", elem_id="tab-start"):
                steps = lesson.tab(models)
            for name, module in TABS:
                slug = module.__name__.rsplit(".", 1)[-1]
                with gr.Tab(name, id=slug, elem_id=f"tab-{slug}"):
                    page_loads.append(module.tab(models))  # a tab may return an event to run on page load
        lesson.wire(demo, tabs, steps)  # the lesson's buttons run and open the other tabs' own components
        for load_event in filter(None, page_loads):
            demo.load(**load_event, api_visibility="private", show_progress="hidden")

        def close(request: gr.Request) -> None:
            """A closed tab: its training stops, its models and folders go, and its run records are freed now
            rather than after Gradio's hour of grace for a tab that might reopen."""
            train_tab.cancel_training(request)
            end_session(request)
            if request.session_hash:
                demo.state_holder.delete_state(request.session_hash)

        demo.unload(close)
    start_sweeper()
    demo.queue(max_size=MAX_QUEUE)
    _refuse_empty_sessions(demo._queue)
    return demo


def _refuse_empty_sessions(queue) -> None:
    """Turn away an event whose session hash is the empty string, before it is queued. Gradio's queue/join lets it in
    (it checks only for a missing hash); then, when the queue next broadcasts its estimates, the lookup of that
    session raises in the queue's own loop, which stops the queue for every visitor (each later event: 503)."""
    push = queue.push

    async def checked_push(body, request, username):
        if body.session_hash == "":
            return False, "session_hash must be a non-empty string (the browser's session id)", "error"
        return await push(body, request, username)

    queue.push = checked_push


if __name__ == "__main__":
    # Uploads (the Train tab) are capped at 2 MB by its handler, with a message; Gradio refuses anything past 10 MB.
    build_demo().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), max_file_size="10mb")
