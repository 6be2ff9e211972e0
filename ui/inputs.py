"""What a client sends, checked before anything reads it: input components that refuse a wrong type or range, free
text with a length cap, the work one request may ask for, and the one error type every tab raises.
A client may send anything, not only what the page's widgets can produce."""

from __future__ import annotations

import html
import math
from typing import Any

import gradio as gr

from diffusion.limits import check_length

# Network evaluations times rows that one request may ask for: a default run is well under it, and at the cap a run
# holds its sampling slot for seconds on the Space's 2 vCPUs, not minutes.
MAX_WORK = 4096


class UserError(gr.Error):
    """A gr.Error whose message is shown as text: the popup renders HTML, and messages quote what a visitor typed."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(html.escape(str(message), quote=False), **kwargs)


# ---- input components that check what a client sends before Gradio reads it ---------------------------------------
# Gradio compares a slider's value with its bounds before the handler runs, so a string or None from a client became
# its generic "raised an exception". These check the type first and say, in one line, what the input accepts.
# `is_template`: the browser draws them as the Gradio component they extend.
def _label(component: gr.components.Component) -> str:
    return component.label or component.elem_id or "value"


def _shown(value: Any, limit: int = 80) -> str:
    """What a refusal quotes of a client's value: its repr (which escapes what UTF-8 cannot carry), cut short."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


class Slider(gr.Slider):
    """gr.Slider whose value must be a finite number within its bounds."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        if (isinstance(payload, bool) or not isinstance(payload, (int, float)) or not math.isfinite(payload)
                or not self.minimum <= payload <= self.maximum):
            raise UserError(f"{_label(self)} must be a number from {self.minimum:g} to {self.maximum:g}, "
                            f"got {_shown(payload)}")
        return super().preprocess(payload)


class Number(gr.Number):
    """gr.Number whose value must be a finite number (or empty: the handler says what an empty box means)."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        low, high = self.minimum, self.maximum
        accepted = "a number" + (f" from {low:g}" if low is not None else "") + (f" to {high:g}" if high is not None
                                                                                  else "")
        if payload is not None and (isinstance(payload, bool) or not isinstance(payload, (int, float))
                                    or not math.isfinite(payload) or (low is not None and payload < low)
                                    or (high is not None and payload > high)):
            raise UserError(f"{_label(self)} must be {accepted}, got {_shown(payload)}")
        return super().preprocess(payload)


class Checkbox(gr.Checkbox):
    """gr.Checkbox whose value must be true or false."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        if not isinstance(payload, bool):
            raise UserError(f"{_label(self)} must be true or false, got {_shown(payload)}")
        return super().preprocess(payload)


class CheckboxGroup(gr.CheckboxGroup):
    """gr.CheckboxGroup whose value must be a list of its choices."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        names = [value for _, value in self.choices]
        if not isinstance(payload, list) or any(not isinstance(v, str) or v not in names for v in payload):
            raise UserError(f"{_label(self)} must be a list of {', '.join(map(repr, names))}, got {_shown(payload)}")
        return super().preprocess(payload)


class Dropdown(gr.Dropdown):
    """gr.Dropdown whose value must be one of its choices, refused in one line that quotes the value safely: Gradio's
    own refusal quoted it raw, and a value UTF-8 cannot carry (a lone surrogate) then broke the reply itself. Where
    custom values are allowed, the handler checks the text."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        if payload is None or self.allow_custom_value:  # free text: its handler checks it (ui.inputs.text_input)
            return super().preprocess(payload)
        names = [value for _, value in self.choices]
        if not isinstance(payload, str) or payload not in names:
            listed = ", ".join(map(repr, names[:12])) + (", ..." if len(names) > 12 else "")
            raise UserError(f"{_label(self)} must be one of {listed}, got {_shown(payload)}")
        return super().preprocess(payload)


def as_user_error(e: ValueError) -> gr.Error:
    """A package's ValueError as the popup shows it; a gr.Error (itself a ValueError) passes through as it is."""
    return e if isinstance(e, gr.Error) else UserError(str(e))


def text_input(value: Any, what: str, limit: int) -> str:
    """A free-text input checked before anything parses it: text (None is empty) of at most `limit` characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UserError(f"the {what} must be text, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate, which JSON can carry and no tokenizer reads
        raise UserError(f"the {what} has a character that is not valid text at position {e.start}; "
                        "type it again") from None
    try:
        check_length(value, what, limit)
    except ValueError as e:
        raise as_user_error(e) from None
    return value


def check_work(steps: int, rows: int, what: str) -> None:
    """A UserError when a run would ask for more than MAX_WORK network evaluations times rows."""
    if steps * rows > MAX_WORK:
        raise UserError(f"{what} asks for {steps * rows:,} network evaluations (steps x rows); this Space runs at most "
                        f"{MAX_WORK:,} per request: lower the steps or the number of samples")


def whole(value: Any, name: str, low: int, high: int, high_text: str | None = None) -> int:
    """An integer in [low, high] from a UI number, or a gr.Error naming what is accepted."""
    message = f"{name} must be a whole number from {low} to {high_text or high}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(message)
    if isinstance(value, float) and not value.is_integer():
        raise UserError(message)
    if not low <= value <= high:
        raise UserError(message)
    return int(value)
