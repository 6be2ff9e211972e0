"""Hostile input, end to end: every public endpoint through gradio_client, what gradio_client cannot send (NaN,
infinity, lone surrogates, hostile session hashes, malformed bodies) as raw HTTP to 127.0.0.1, and the CLI. Every bad
value is refused with one line naming what is wrong and what is accepted; the app keeps serving; nothing is written
outside the session root. What Gradio itself fails on is probed on a server in its own process (GRADIO_GAPS)."""

import json
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

import app
from conftest import ROOT, cli, serve_app
from diffusion import checkpoint
from ui import common
from ui import compare as compare_tab
from ui import control as control_tab
from ui import embeddings as embeddings_tab
from ui import inputs
from ui import seq2seq as seq2seq_tab
from ui import train as train_tab
from ui.forward import EXAMPLES

SENTENCE = EXAMPLES[0]
MR = "name [zizzi] food [french] area [riverside]"
AR = "ar (left to right)"
BUILTIN, UPLOAD = train_tab.BUILTIN, train_tab.UPLOAD
ALL_FAMILIES = list(compare_tab.ENTRIES)
NAN, INF = float("nan"), float("inf")
REDOS = "name [" + " " * 3000  # the source that once made the MR parser backtrack for seconds
REDOS_UNDER_CAP = [  # the same shapes under the length cap: the parser itself must be linear
    pytest.param("name [" + " " * 990, "the value of 'name' has no closing ']' before the end",
                 id="open-bracket-spaces"),
    pytest.param("name [" * 160, "the value of 'name' has no closing ']' before the next [", id="open-brackets"),
    pytest.param("[" * 999, "cannot read the source at", id="brackets-only"),
    pytest.param("name " * 199, "cannot read the source at", id="slot-names-only"),
]
LONG, HUGE = "x" * 5_000, "x" * 100_000
TOO_LONG = "at most 1,000 are accepted"
GENERIC = ("raised an exception", "verbose error reporting")  # gradio_client's words for an unexplained exception
WORK_CAP = "network evaluations (steps x rows); this Space runs at most 4,096 per request"
CHECKPOINTS = ROOT / "assets" / "checkpoints"
SCHEDULES_ACCEPTED = "not in the list of choices: ['linear', 'cosine', 'sqrt']"
FAMILIES_ACCEPTED = ("families must be a list of 'continuous', 'seq2seq', 'sedd-absorb', 'sedd-uniform', 'ardm', "
                     "'ar', got")


def assert_clean_error(message: Any, fragment: str | tuple[str, ...]) -> None:
    """One line, not Gradio's generic text, no markup from the input, and naming what is wrong and what is accepted
    (`fragment`: one characteristic piece of the message, or several)."""
    assert isinstance(message, str) and message.strip(), f"no message: {message!r}"
    assert not any(g in message for g in GENERIC) and message.strip() != "Error", f"generic message: {message!r}"
    assert "\n" not in message.strip() and "Traceback" not in message, f"not one line: {message!r}"
    assert "<script" not in message.lower() and "<img" not in message.lower(), f"markup in the message: {message!r}"
    for piece in (fragment,) if isinstance(fragment, str) else fragment:
        assert piece in message, f"{piece!r} not in {message!r}"


def _tree(folder: Path) -> dict[str, float]:
    """Every path under `folder` with its modification time."""
    return {str(p): p.stat().st_mtime for p in folder.rglob("*")} if folder.exists() else {}


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long to exist
        return False


class Server:
    def __init__(self, base: str, root: Path) -> None:
        self.base, self.root = base, root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """The app on the shipped checkpoints on a free port of 127.0.0.1; session folders under a temporary root. At
    the end: the shipped checkpoints are untouched (no request writes outside the session root)."""
    root = tmp_path_factory.mktemp("sessions")
    shipped = set(_tree(CHECKPOINTS))
    saved = common.SESSION_ROOT
    common.SESSION_ROOT = root
    app._load.cache_clear()
    with serve_app(app.build_demo()) as url:
        yield Server(url, root)
    common.SESSION_ROOT = saved
    app._load.cache_clear()
    assert set(_tree(CHECKPOINTS)) == shipped, "a request wrote into the shipped checkpoints"


@pytest.fixture(scope="module")
def client(server: Server):
    from gradio_client import Client

    return Client(server.base, verbose=False)


class Http:
    """Raw requests to the app, for what gradio_client cannot send; every wait is bounded."""

    def __init__(self, base: str) -> None:
        self.base = base
        config = json.loads(self.request("GET", "config")[1])
        kinds = {c["id"]: c["type"] for c in config["components"]}
        # api name -> (fn_index, positions of the gr.State inputs, which a browser sends as null)
        self.fns = {d["api_name"]: (d["id"], [i for i, c in enumerate(d["inputs"]) if kinds[c] == "state"])
                    for d in config["dependencies"] if d.get("api_name")}

    def request(self, method: str, path: str, body: bytes | None = None, timeout: float = 10) -> tuple[int, str]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def body(self, api: str, args: tuple, session_hash: str) -> bytes:
        """A browser's queue/join body; json.dumps writes NaN and Infinity, and a lone surrogate as an escape."""
        fn, states = self.fns[api]
        data = list(args)
        for i in states:
            data.insert(i, None)
        return json.dumps({"data": data, "fn_index": fn, "session_hash": session_hash, "event_data": None,
                           "trigger_id": None}).encode("ascii")

    def call(self, api: str, args: tuple, session_hash: str | None = None, timeout: float = 30) -> dict[str, Any]:
        """Join the queue as a browser does and read the event stream (SSE) until this event completes."""
        session_hash = uuid.uuid4().hex if session_hash is None else session_hash
        status, text = self.request("POST", "gradio_api/queue/join", self.body(api, args, session_hash))
        assert status == 200, (status, text[:300])
        event = json.loads(text)["event_id"]
        url = self.base + "gradio_api/queue/data?session_hash=" + urllib.parse.quote(session_hash, safe="")
        deadline = time.monotonic() + timeout
        with urllib.request.urlopen(url, timeout=timeout) as stream:
            for line in stream:  # each read waits at most `timeout`; Gradio sends heartbeats meanwhile
                assert time.monotonic() < deadline, f"/{api}: no result within {timeout} s"
                if not line.startswith(b"data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed" and msg.get("event_id") == event:
                    return msg
                if msg.get("msg") == "close_stream":
                    break
        raise AssertionError(f"/{api}: the event stream ended without this event's result")


def error_of(msg: dict[str, Any]) -> Any:
    assert msg["success"] is False, f"accepted: {str(msg.get('output'))[:300]}"
    return msg["output"].get("error")


@pytest.fixture(scope="module")
def http(server: Server) -> Http:
    return Http(server.base)


def submit_denoise(client: Any, seed: int) -> Any:
    """A default Denoise run, submitted without waiting for it."""
    return client.submit(seed, 200, "ddpm", True, 1.0, 2, "shipped", api_name="/denoise")


def still_serves(server: Server, client: Any) -> None:
    """The page loads, and the Forward noising tab draws its player: 51 frames, opening at t = 0.50 as asked."""
    with urllib.request.urlopen(server.base, timeout=10) as r:
        assert r.status == 200
    value = client.predict(*fwd()[1], api_name="/forward_view")[0]
    assert len(value["frames"]) == 51 and value["labels"][value["start"]] == "t = 0.50"
    assert "t = 0.50" in value["frames"][value["start"]][0]


# ---- 1. every public endpoint, through gradio_client --------------------------------------------------------------
# Builders with valid, cheap defaults (a case that is wrongly accepted costs a second, not a minute).
def fwd(sentence: Any = SENTENCE, t: Any = 0.5, seed: Any = 0, choice: Any = "shipped", schedule: Any = None):
    return "/forward_view", (sentence, t, seed, choice, schedule)


def sedd_fwd(graph: Any = "absorb", sentence: Any = SENTENCE, t: Any = 0.5, seed: Any = 0, choice: Any = "shipped"):
    return "/sedd_forward", (graph, sentence, t, seed, choice)


def denoise(seed: Any = 0, steps: Any = 10, sampler: Any = "ddpm", clamp: Any = True, clamp_from: Any = 1.0,
            num: Any = 1, choice: Any = "shipped", noise_scale: Any = 1.0):
    return "/denoise", (seed, steps, sampler, clamp, clamp_from, num, choice, noise_scale)


def clamp(seed: Any = 0, steps: Any = 10, sampler: Any = "ddpm", clamp_from: Any = 1.0, choice: Any = "shipped",
          compare: Any = "clamping"):
    return "/clamp_compare", (seed, steps, sampler, clamp_from, choice, compare)


def sedd(graph: Any = "absorb", seed: Any = 0, steps: Any = 4, sampler: Any = "tweedie", num: Any = 1,
         choice: Any = "shipped", remask: Any = 0.0, order: Any = "random"):
    return "/sedd_denoise", (graph, seed, steps, sampler, num, choice, remask, order)


def order(seed: Any = 0, budget: Any = 2, temperature: Any = 1.0, num: Any = 1, choice: Any = "shipped",
          order: Any = "random", network: Any = "ardm"):
    return "/order_agnostic", (seed, budget, temperature, num, choice, order, network)


def s2s(source: Any = MR, seed: Any = 0, steps: Any = 10, candidates: Any = 1, choice: Any = "shipped"):
    return "/seq2seq_run", (source, seed, steps, candidates, choice)


def control(mode: Any = "Length", template: Any = "", length: Any = 10, slot: Any = "food", value: Any = "italian",
            weight: Any = 0.01, step_size: Any = 0.1, updates: Any = 3, seed: Any = 0, steps: Any = 10, num: Any = 1,
            choice: Any = "shipped"):
    return "/control_run", (mode, template, length, slot, value, weight, step_size, updates, seed, steps, num, choice)


def cmp(seed: Any = 0, budget: Any = 1, families: Any = ("ar",), source: Any = MR, choice: Any = "shipped"):
    return "/compare_run", (seed, budget, list(families) if isinstance(families, tuple) else families, source,
                            choice)


def emb(family: Any = "continuous", projection: Any = "PCA", choice: Any = "shipped"):
    return "/embedding_map", (family, projection, choice)


def train(label: Any = AR, corpus: Any = BUILTIN, upload: Any = None, seconds: Any = 5, size: Any = "tiny",
          seed: Any = 0):
    return "/train_model", (label, corpus, upload, seconds, size, seed, None, None, None, "word")


class Upload:
    """A file the test writes and uploads through gradio_client (resolved in the test)."""

    def __init__(self, name: str) -> None:
        self.name = name


def case(id: str, call: tuple[str, tuple], fragment: str | tuple[str, ...]) -> Any:
    endpoint, args = call
    return pytest.param(endpoint, args, fragment, id=id)


CASES = [
    # Forward noising: (sentence, t, seed, model, schedule); t is a hidden number, the frame the player opens at
    case("forward-sentence-5k", fwd(sentence=LONG), TOO_LONG),
    case("forward-sentence-100k", fwd(sentence=HUGE), TOO_LONG),
    case("forward-sentence-redos", fwd(sentence=REDOS), TOO_LONG),
    case("forward-sentence-list", fwd(sentence=["mill", "is"]), "the sentence must be text, got list"),
    case("forward-sentence-dict", fwd(sentence={"a": 1}), "the sentence must be text, got dict"),
    case("forward-sentence-empty", fwd(sentence="   "),
         ("the sentence is empty", "type one in words of the model's corpus")),
    case("forward-sentence-script", fwd(sentence="mill is <script>alert(1)</script>"),
         ("&lt;script&gt;", "use words of its training corpus")),
    case("forward-sentence-nul", fwd(sentence="mill is a \x00 place"),
         ("never saw", "use words of its training corpus")),
    case("forward-sentence-rtl", fwd(sentence="mill \u202e is \u200f a"),
         ("never saw", "use words of its training corpus")),
    case("forward-sentence-too-many-tokens", fwd(sentence=" ".join(["mill"] * 200)), "but this model takes at most 40"),
    case("forward-t-string", fwd(t="abc"), "t must be a number from 0 to 1, got 'abc'"),
    case("forward-t-none", fwd(t=None), "t must be a number from 0 to 1, got None"),
    case("forward-t-2", fwd(t=2), "t must be a number from 0 to 1, got 2"),
    case("forward-t-negative", fwd(t=-0.5), "t must be a number from 0 to 1, got -0.5"),
    case("forward-seed-string", fwd(seed="abc"),
         "seed (fixes ε: the same noise at every t) must be a number from 0, got 'abc'"),
    case("forward-seed-none", fwd(seed=None), "seed must be a whole number from 0 to 2^63 - 1, got None"),
    case("forward-seed-fraction", fwd(seed=0.5), "seed must be a whole number from 0 to 2^63 - 1, got 0.5"),
    case("forward-seed-1e30", fwd(seed=1e30), "seed must be a whole number from 0 to 2^63 - 1"),
    case("forward-seed-minus-1e30", fwd(seed=-1e30), "must be a number from 0, got -1e+30"),
    case("forward-model-unknown", fwd(choice="evil"), "not in the list of choices: ['shipped', 'trained here']"),
    case("forward-model-trained-here", fwd(choice="trained here"),
         ("you have not trained a continuous model", "or pick the shipped model")),
    case("forward-schedule-unknown", fwd(schedule="quadratic"), SCHEDULES_ACCEPTED),
    case("forward-schedule-upper-case", fwd(schedule="SQRT"), SCHEDULES_ACCEPTED),
    case("forward-schedule-empty", fwd(schedule=""), SCHEDULES_ACCEPTED),
    case("forward-schedule-number", fwd(schedule=5), ("Value: 5 ", SCHEDULES_ACCEPTED)),
    case("forward-schedule-bool", fwd(schedule=True), ("Value: True ", SCHEDULES_ACCEPTED)),
    case("forward-schedule-list", fwd(schedule=["sqrt"]), SCHEDULES_ACCEPTED),
    case("forward-schedule-dict", fwd(schedule={"a": 1}), SCHEDULES_ACCEPTED),
    case("forward-schedule-100k", fwd(schedule=HUGE), SCHEDULES_ACCEPTED),
    # Discrete diffusion, forward: (graph, sentence, t, seed, model)
    case("sedd-forward-redos", sedd_fwd(sentence=REDOS), TOO_LONG),
    case("sedd-forward-100k", sedd_fwd(sentence=HUGE), TOO_LONG),
    case("sedd-forward-empty", sedd_fwd(sentence=""), "type a sentence to noise (words of the built-in corpus"),
    case("sedd-forward-graph", sedd_fwd(graph="bogus"), "not in the list of choices: ['absorb', 'uniform']"),
    case("sedd-forward-t-huge", sedd_fwd(t=1e30), "t must be a number from 0 to 1, got 1e+30"),
    case("sedd-forward-seed-2^64", sedd_fwd(seed=2**64), "seed must be a whole number from 0 to 2^63 - 1"),
    # Denoise: (seed, steps, sampler, clamp, clamp from, samples, model, noise scale)
    case("denoise-steps-string", denoise(steps="abc"), "steps must be a number from 10 to 1000, got 'abc'"),
    case("denoise-steps-list", denoise(steps=[20]), "steps must be a number from 10 to 1000, got [20]"),
    case("denoise-steps-none", denoise(steps=None), "steps must be a number from 10 to 1000, got None"),
    case("denoise-steps-5000", denoise(steps=5000), "steps must be a number from 10 to 1000, got 5000"),
    case("denoise-steps-fraction", denoise(steps=20.5), "steps must be a whole number from 10 to 1000, got 20.5"),
    case("denoise-steps-negative", denoise(steps=-20), "steps must be a number from 10 to 1000, got -20"),
    case("denoise-seed-negative", denoise(seed=-5), "seed must be a number from 0, got -5"),
    case("denoise-seed-2^64", denoise(seed=2**64), "seed must be a whole number from 0 to 2^63 - 1"),
    case("denoise-sampler-dict", denoise(sampler={"a": 1}), "not in the list of choices: ['ddpm', 'ddim']"),
    case("denoise-sampler-unknown", denoise(sampler="evil"), "not in the list of choices: ['ddpm', 'ddim']"),
    case("denoise-clamp-string", denoise(clamp="yes"), "clamping must be true or false, got 'yes'"),
    case("denoise-clamp-from-past-one", denoise(clamp_from=25), "clamp from t must be a number from 0 to 1, got 25"),
    case("denoise-samples-99", denoise(num=99), "number of samples must be a number from 1 to 4, got 99"),
    case("denoise-samples-zero", denoise(num=0), "number of samples must be a number from 1 to 4, got 0"),
    case("denoise-model-list", denoise(choice=["shipped"]), "not in the list of choices: ['shipped', 'free-form English', 'trained here']"),
    case("denoise-noise-scale-ddim", denoise(sampler="ddim", noise_scale=0.5),
         ("applies to the ddpm sampler only", "set it to 1 or pick ddpm")),
    case("denoise-noise-scale-huge", denoise(noise_scale=1e30),
         "noise scale (ddpm) must be a number from 0 to 1, got 1e+30"),
    # Clamping trick: (seed, steps, sampler, clamp from, model, compare)
    case("clamp-compare-unknown", clamp(compare="evil"), "not in the list of choices: ['clamping', 'prediction']"),
    case("clamp-prediction-trained", clamp(choice="trained here", compare="prediction"),
         ("compares the two shipped models", "pick the shipped model")),
    case("clamp-steps-1e30", clamp(steps=1e30), "steps must be a number from 10 to 1000, got 1e+30"),
    case("clamp-from-negative", clamp(clamp_from=-1), "clamp from t must be a number from 0 to 1, got -1"),
    # Discrete diffusion, reverse: (graph, seed, steps, sampler, samples, model, remask, order)
    case("sedd-sampler-unknown", sedd(sampler="evil"), "not in the list of choices: ['tweedie', 'euler', 'any-order']"),
    case("sedd-order-unknown", sedd(order="evil"), "not in the list of choices: ['random', 'left-to-right'"),
    case("sedd-remask-0.5", sedd(remask=0.5),
         "remasking η (absorbing, tweedie) must be a number from 0 to 0.1, got 0.5"),
    case("sedd-any-order-past-length", sedd(steps=41, sampler="any-order"), "steps must be from 1 to the model's "
                                                                            "length 40"),
    case("sedd-steps-negative", sedd(steps=-1), "steps must be a number from 1 to 1024, got -1"),
    case("sedd-graph-none", sedd(graph=None), "graph must be one of absorb, uniform, got None"),
    # Order-agnostic: (seed, budget, temperature, samples, model, order, network)
    case("order-network-unknown", order(network="evil"), "not in the list of choices: ['ardm', 'sedd-absorb']"),
    case("order-temperature-sedd", order(temperature=0.5, network="sedd-absorb"),
         ("the temperature applies to ARDM", "draws at temperature 1")),
    case("order-budget-1e9", order(budget=1e9), "steps (budget) must be a number from 1 to 40, got 1000000000.0"),
    case("order-temperature-negative", order(temperature=-3), "temperature must be a number from 0 to 2, got -3"),
    case("order-order-unknown", order(order="sideways"), "not in the list of choices: ['random', 'left-to-right'"),
    # Seq2seq: (source, seed, steps, candidates, model)
    case("s2s-source-redos", s2s(source=REDOS), TOO_LONG),
    case("s2s-source-100k", s2s(source=HUGE), TOO_LONG),
    case("s2s-source-dict", s2s(source={"a": 1}), "write each slot as 'slot [value]'"),  # the Textbox's str() of it
    case("s2s-source-script", s2s(source="<script>alert(1)</script>"),
         ("&lt;script&gt;", "write each slot as 'slot [value]'")),
    case("s2s-source-unknown-value", s2s(source="name [zizzi] food [pizza]"),
         ("unknown food value 'pizza'", "accepted: ")),
    case("s2s-candidates-zero", s2s(candidates=0), "candidates (k, for MBR) must be a number from 1 to 8, got 0"),
    case("s2s-candidates-99", s2s(candidates=99), "candidates (k, for MBR) must be a number from 1 to 8, got 99"),
    # Control: (mode, template, length, slot, value, weight, step size, updates, seed, steps, samples, model)
    case("control-template-5k", control(mode="Infilling", template=LONG), TOO_LONG),
    case("control-template-100k", control(mode="Infilling", template=HUGE), TOO_LONG),
    case("control-template-markup", control(mode="Infilling", template="<b>bold</b> ___ ."),
         ("&lt;b&gt;bold&lt;/b&gt;", "use words of its training corpus and ___ for each word")),
    case("control-template-no-blank", control(mode="Infilling", template="mill is a pub ."),
         ("has no blank", "mark each word to generate with ___")),
    case("control-mode-unknown", control(mode="evil"), "not in the list of choices: ['Infilling', 'Length'"),
    case("control-slot-unknown", control(mode="Classifier guidance", slot="evil"),
         "slot must be one of 'name', 'eatType'"),
    case("control-length-zero", control(length=0), "length (words) must be a number from 1 to 40, got 0"),
    case("control-updates-99", control(mode="Classifier guidance", updates=99),
         "updates per step must be a number from 0 to 10, got 99"),
    case("control-weight-negative", control(mode="Classifier guidance", weight=-1),
         "λ: fluency weight must be a number from 0 to 1, got -1"),
    # Compare: (seed, budget, families, source, model)
    case("compare-family-unknown", cmp(families=["evil"]), (FAMILIES_ACCEPTED, "got ['evil']")),
    case("compare-families-string", cmp(families="ar"), (FAMILIES_ACCEPTED, "got 'ar'")),
    case("compare-families-empty", cmp(families=[]), "families must be one or more of continuous, seq2seq"),
    case("compare-families-none", cmp(families=None), (FAMILIES_ACCEPTED, "got None")),
    case("compare-source-5k", cmp(families=["seq2seq"], source=LONG), TOO_LONG),
    case("compare-source-redos", cmp(families=["seq2seq"], source=REDOS), TOO_LONG),
    case("compare-source-unknown-value", cmp(families=["seq2seq"], source="name [pizza]"),
         "seq2seq source: unknown name value 'pizza'; accepted: "),
    case("compare-budget-1e6", cmp(budget=1e6), "step budget must be a number from 1 to 1000, got 1000000.0"),
    case("compare-budget-zero", cmp(budget=0), "step budget must be a number from 1 to 1000, got 0"),
    # Embeddings: (family, map, model)
    case("embeddings-family-unknown", emb(family="evil"), "family must be one of 'continuous', 'seq2seq', got 'evil'"),
    case("embeddings-projection-unknown", emb(projection="evil"), "not in the list of choices: ['UMAP', 'PCA']"),
    case("embeddings-model-unknown", emb(choice="evil"), "not in the list of choices: ['shipped', 'free-form English', 'trained here']"),
    # Train (refused before any training): (family, corpus, upload, seconds, size, seed)
    case("train-family-unknown", train(label="evil"), "family must be one of 'continuous (Diffusion-LM)'"),
    case("train-corpus-unknown", train(corpus="evil"), "not in the list of choices: ['built-in restaurant grammar'"),
    case("train-size-unknown", train(size="huge"), "not in the list of choices: ['tiny', 'small']"),
    case("train-seconds-4", train(seconds=4), "time cap (seconds) must be a number from 5 to 300, got 4"),
    case("train-seconds-1e9", train(seconds=1e9),
         "time cap (seconds) must be a number from 5 to 300, got 1000000000.0"),
    case("train-seconds-fraction", train(seconds=5.5), "time cap (seconds) must be a whole number from 5 to 300"),
    case("train-seed-negative", train(seed=-1), "seed must be a number from 0, got -1"),
    case("train-no-upload", train(corpus=UPLOAD), ("no file uploaded", "or pick the built-in grammar")),
    case("train-upload-exe", train(corpus=UPLOAD, upload=Upload("evil.exe")),
         "one of these formats: ['.txt', '.csv']"),
    case("train-upload-3mb", train(corpus=UPLOAD, upload=Upload("big.csv")), "the Train tab takes files up to 2 MB"),
    case("train-upload-latin1", train(corpus=UPLOAD, upload=Upload("latin.txt")),
         ("is not UTF-8 text", "save it as UTF-8")),
    case("train-upload-header-only", train(corpus=UPLOAD, upload=Upload("header.csv")),
         "has a header ('text') but no rows under it"),
]


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("uploads")
    (folder / "evil.exe").write_bytes(b"MZ\x90\x00")
    (folder / "big.csv").write_text("text\n" + "the cat sat on the mat .\n" * 130_000, encoding="utf-8")
    (folder / "latin.txt").write_bytes("café au lait .\n".encode("latin-1") * 20)
    (folder / "header.csv").write_text("text\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("endpoint, args, fragment", CASES)
def test_hostile_input_is_refused_in_one_line(client, uploads, endpoint, args, fragment):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    args = tuple(handle_file(str(uploads / a.name)) if isinstance(a, Upload) else a for a in args)
    with pytest.raises(AppError) as e:
        client.predict(*args, api_name=endpoint)
    assert_clean_error(str(e.value), fragment)


@pytest.mark.parametrize("sentence", ["<img src=x onerror=alert(1)>", "</div><script>alert(1)</script>", {"a": 1}],
                         ids=["img", "script", "dict"])
def test_unknown_text_in_sedd_forward_is_shown_as_unk(client, sentence):
    """SEDD's forward view shows words it does not know as [UNK] (a dict reaches it as the Textbox's str() of it): no
    error, and none of the markup on the page."""
    value, _ = client.predict("absorb", sentence, 0.5, 0, "shipped", api_name="/sedd_forward")
    html = "".join(view for views in value["frames"] for view in views)
    assert len(value["frames"]) > 1 and "[UNK]" in value["frames"][0][0]
    assert "<img" not in html and "<script" not in html


# Values gradio_client cannot send (its JSON encoder refuses NaN and infinity, its UTF-8 encoder lone surrogates):
# raw queue/join bodies, each in a session of its own.
RAW_CASES = [
    pytest.param("forward_view", fwd(t=NAN)[1], "t must be a number from 0 to 1, got nan",
                 id="forward-t-nan"),
    pytest.param("forward_view", fwd(seed=NAN)[1],
                 "seed (fixes ε: the same noise at every t) must be a number from 0, got nan",
                 id="forward-seed-nan"),
    pytest.param("forward_view", fwd(seed=INF)[1], "got inf", id="forward-seed-inf"),
    pytest.param("forward_view", fwd(t=-INF)[1], "t must be a number from 0 to 1, got -inf",
                 id="forward-t-minus-inf"),
    pytest.param("forward_view", fwd(t=INF)[1], "t must be a number from 0 to 1, got inf", id="forward-t-inf"),
    pytest.param("forward_view", fwd(schedule=NAN)[1], ("Value: nan ", SCHEDULES_ACCEPTED),
                 id="forward-schedule-nan"),
    pytest.param("forward_view", fwd(schedule="sqrt\ud800")[1], SCHEDULES_ACCEPTED, id="forward-schedule-surrogate"),
    pytest.param("sedd_forward", sedd_fwd(t=NAN)[1], "t must be a number from 0 to 1, got nan",
                 id="sedd-forward-t-nan"),
    pytest.param("denoise", denoise(steps=NAN)[1], "steps must be a number from 10 to 1000, got nan",
                 id="denoise-steps-nan"),
    pytest.param("denoise", denoise(noise_scale=NAN)[1], "noise scale (ddpm) must be a number from 0 to 1, got nan",
                 id="denoise-noise-scale-nan"),
    pytest.param("denoise", denoise(clamp_from=NAN)[1], "clamp from t must be a number from 0 to 1, got nan",
                 id="denoise-clamp-from-nan"),
    pytest.param("denoise", denoise(num=INF)[1], "number of samples must be a number from 1 to 4, got inf",
                 id="denoise-samples-inf"),
    pytest.param("clamp_compare", clamp(steps=NAN)[1], "steps must be a number from 10 to 1000, got nan",
                 id="clamp-steps-nan"),
    pytest.param("sedd_denoise", sedd(remask=NAN)[1],
                 "remasking η (absorbing, tweedie) must be a number from 0 to 0.1, got nan",
                 id="sedd-remask-nan"),
    pytest.param("sedd_denoise", sedd(steps=INF)[1], "steps must be a number from 1 to 1024, got inf",
                 id="sedd-steps-inf"),
    pytest.param("order_agnostic", order(temperature=NAN)[1], "temperature must be a number from 0 to 2, got nan",
                 id="order-temperature-nan"),
    pytest.param("order_agnostic", order(temperature=INF)[1], "temperature must be a number from 0 to 2, got inf",
                 id="order-temperature-inf"),
    pytest.param("seq2seq_run", s2s(steps=INF)[1], "steps must be a number from 10 to 1000, got inf",
                 id="s2s-steps-inf"),
    pytest.param("seq2seq_run", s2s(candidates=NAN)[1], "candidates (k, for MBR) must be a number from 1 to 8, got nan",
                 id="s2s-candidates-nan"),
    pytest.param("control_run", control(mode="Classifier guidance", weight=NAN)[1],
                 "λ: fluency weight must be a number from 0 to 1, got nan", id="control-weight-nan"),
    pytest.param("control_run", control(mode="Classifier guidance", step_size=INF)[1],
                 "step size (Adagrad) must be a number from 0 to 1, got inf", id="control-step-inf"),
    pytest.param("control_run", control(length=NAN)[1], "length (words) must be a number from 1 to 40, got nan",
                 id="control-length-nan"),
    pytest.param("control_run", control(mode="Classifier guidance", updates=NAN)[1],
                 "updates per step must be a number from 0 to 10, got nan", id="control-updates-nan"),
    pytest.param("compare_run", cmp(seed=NAN)[1], "seed must be a number from 0, got nan",
                 id="compare-seed-nan"),
    pytest.param("compare_run", cmp(budget=NAN)[1], "step budget must be a number from 1 to 1000, got nan",
                 id="compare-budget-nan"),
    pytest.param("train_model", train(seconds=NAN)[1], "time cap (seconds) must be a number from 5 to 300, got nan",
                 id="train-seconds-nan"),
    pytest.param("train_model", train(seed=INF)[1], "seed must be a number from 0, got inf",
                 id="train-seed-inf"),
    pytest.param("seq2seq_run", s2s(source="name [zi\ud800zzi]")[1],
                 "the source has a character that is not valid text at position 8; type it again",
                 id="s2s-source-surrogate"),
    pytest.param("forward_view", fwd(sentence="mill \ud800 is")[1],
                 "the sentence has a character that is not valid text at position 5; type it again",
                 id="forward-surrogate"),
    pytest.param("sedd_forward", sedd_fwd(sentence="mill \ud800 is")[1],
                 "the sentence has a character that is not valid text at position 5; type it again",
                 id="sedd-forward-surrogate"),
    pytest.param("control_run", control(mode="Infilling", template="mill \udfff ___ .")[1],
                 "the template has a character that is not valid text at position 5; type it again",
                 id="control-template-surrogate"),
]


@pytest.mark.parametrize("api, args, fragment", RAW_CASES)
def test_non_finite_and_unencodable_values_over_http(http, api, args, fragment):
    assert_clean_error(error_of(http.call(api, args)), fragment)


# ---- the Denoise tab's "follow a word's path" dropdown: a hostile word before any run, and after one ---------------
# Its choices are the session's: "every position" until a run, then that and the run's words ("1: there", ...).
EVERY = "every position"


@pytest.fixture(scope="module")
def fresh(server: Server):
    """A session that never runs anything: its follow dropdown offers only "every position"."""
    from gradio_client import Client

    return Client(server.base, verbose=False)


@pytest.fixture(scope="module")
def ran(server: Server) -> tuple[Any, list[str]]:
    """A session that ran Denoise once, briefly; with the follow dropdown's choices the run set."""
    from gradio_client import Client

    c = Client(server.base, verbose=False)
    follow = c.predict(*denoise()[1], api_name="/denoise")[-1]
    words = [w[1] if isinstance(w, (list, tuple)) else w for w in follow["choices"]]
    assert words[0] == EVERY and len(words) > 1 and all(re.fullmatch(r"\d+: \S+", w) for w in words[1:]), words
    assert isinstance(c.predict(words[1], api_name="/follow_word"), dict)  # a run's word is followed: the map
    return c, words


FOLLOW_CASES = [pytest.param(word, id=name) for name, word in (
    ("unknown", "1: zzz"), ("100k", HUGE), ("number", 5), ("nested-list", [[EVERY]]), ("list", [EVERY]),
    ("dict", {"a": 1}))]
FOLLOW = "follow a word's path on the map must be one of "


def _one_of(words: list[str]) -> str:
    """How ui.inputs.Dropdown names its choices (the first twelve)."""
    return FOLLOW + ", ".join(map(repr, words[:12])) + (", ..." if len(words) > 12 else "")


def _follow_refusal(session: Any, word: Any) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as e:
        session.predict(word, api_name="/follow_word")
    return str(e.value)


@pytest.mark.parametrize("word", FOLLOW_CASES)
def test_follow_before_a_run_refuses_a_hostile_word(fresh, word):
    assert_clean_error(_follow_refusal(fresh, word), _one_of([EVERY]))


@pytest.mark.parametrize("word", FOLLOW_CASES)
def test_follow_after_a_run_refuses_a_hostile_word(ran, word):
    """The session's dropdown has the choices its run set: the refusal names them."""
    session, words = ran
    assert_clean_error(_follow_refusal(session, word), _one_of(words))


@pytest.mark.parametrize("word", [None], ids=["none"])
def test_follow_after_a_run_refuses_what_the_dropdown_lets_through(ran, word):
    """None (an emptied box) passes the dropdown's own check: the handler refuses it, naming an example."""
    session, words = ran
    assert_clean_error(_follow_refusal(session, word),
                       f"follow must be {EVERY!r} or one of the sample's positions, e.g. {words[1]!r}")


def test_follow_after_a_run_refuses_nan_over_http(ran, http):
    session, words = ran
    message = error_of(http.call("follow_word", (NAN,), session_hash=session.session_hash))
    assert_clean_error(message, _one_of(words))


# ---- work caps: the sampler is replaced, so a request the cap misses fails in milliseconds, not minutes ------------
def _sampling_started(*args: Any, **kwargs: Any) -> Any:
    raise ValueError("SAMPLING STARTED: the work cap let this request through")


REACHED = "REACHED SAMPLING: the work cap accepted this request"


def _sampling_reached(*args: Any, **kwargs: Any) -> Any:
    raise common.UserError(REACHED)


@pytest.mark.parametrize("call, module, name", [
    pytest.param(s2s(steps=1000, candidates=8), seq2seq_tab, "candidates_steps", id="seq2seq-1000-steps-x-8"),
    pytest.param(s2s(steps=513, candidates=8), seq2seq_tab, "candidates_steps", id="seq2seq-513-steps-x-8-just-over"),
    pytest.param(control(mode="Classifier guidance", updates=10, steps=1000, num=4), control_tab, "sample_steps",
                 id="control-1000-steps-x-11-calls-x-4"),
])
def test_work_cap_refuses_before_sampling(client, monkeypatch, call, module, name):
    from gradio_client.exceptions import AppError

    monkeypatch.setattr(module, name, _sampling_started)
    endpoint, args = call
    with pytest.raises(AppError) as e:
        client.predict(*args, api_name=endpoint)
    assert_clean_error(str(e.value), WORK_CAP)


@pytest.mark.parametrize("call, module, name", [
    # The largest comparison the inputs allow: 1000 steps for each of continuous, seq2seq, sedd-absorb and
    # sedd-uniform, 40 for ardm and 40 for ar = 4,080, under the cap (the owner's call: 7.4 s on a quiet machine).
    pytest.param(cmp(budget=1000, families=ALL_FAMILIES), compare_tab, "_sample", id="compare-1000-all-families"),
    pytest.param(s2s(steps=512, candidates=8), seq2seq_tab, "candidates_steps", id="seq2seq-512-steps-x-8-at-the-cap"),
])
def test_work_cap_accepts_a_request_within_it(client, monkeypatch, call, module, name):
    """A request at or under MAX_WORK passes the cap and reaches the sampler (stubbed: it stops there at once)."""
    from gradio_client.exceptions import AppError

    monkeypatch.setattr(module, name, _sampling_reached)
    endpoint, args = call
    with pytest.raises(AppError) as e:
        client.predict(*args, api_name=endpoint)
    assert WORK_CAP not in str(e.value)
    assert_clean_error(str(e.value), REACHED)


def test_work_cap_refuses_a_comparison_just_over_it(client, monkeypatch):
    """The inputs cannot ask compare for more than 4,080 steps, so the cap is lowered to one below that: compare_run
    counts every family's steps together and refuses the request before any sampling."""
    from gradio_client.exceptions import AppError

    monkeypatch.setattr(compare_tab, "_sample", _sampling_started)
    monkeypatch.setattr(inputs, "MAX_WORK", 4079)
    endpoint, args = cmp(budget=1000, families=ALL_FAMILIES)
    with pytest.raises(AppError) as e:
        client.predict(*args, api_name=endpoint)
    assert_clean_error(str(e.value), "this comparison (the families' steps together) asks for 4,080 network "
                                     "evaluations (steps x rows); this Space runs at most 4,079 per request")


@pytest.mark.parametrize("word", [LONG, HUGE], ids=["5k", "100k"])
def test_highlighted_word_is_capped(word):
    """The highlighted word reaches embedding_map through a gr.State, which no API call can set: the handler itself."""
    with pytest.raises(common.UserError) as e:
        list(embeddings_tab.embedding_map("continuous", "PCA", word, "shipped", {}))
    assert_clean_error(e.value.message, "at most 100 are accepted")


@pytest.mark.parametrize("source, fragment", REDOS_UNDER_CAP)
@pytest.mark.parametrize("endpoint", ["seq2seq", "compare"])
def test_a_backtracking_source_under_the_cap_is_refused_at_once(client, endpoint, source, fragment):
    from gradio_client.exceptions import AppError

    api, args = s2s(source=source) if endpoint == "seq2seq" else cmp(families=["seq2seq"], source=source)
    start = time.monotonic()
    with pytest.raises(AppError) as e:
        client.predict(*args, api_name=api)
    assert time.monotonic() - start < 5, "the MR parser took seconds"
    assert_clean_error(str(e.value), (fragment, "write each slot as 'slot [value]'"))


def test_the_app_still_serves_after_hostile_calls(server, client):
    still_serves(server, client)


# ---- 2. raw HTTP: hostile session hashes, malformed bodies -------------------------------------------------------
def _targets(root: Path, session_hash: str, uniq: str) -> set[Path]:
    """Where a session hash used as a path would land (under the root, the repository, the temp folder), for the
    hashes that name a fresh `uniq` path; plus that name in the temp folder and the repository."""
    out = {Path(tempfile.gettempdir()) / uniq, ROOT / uniq, Path(tempfile.gettempdir()) / f"{uniq}-absolute"}
    for base in (root, root / "session", ROOT, Path(tempfile.gettempdir()), Path.cwd()):
        try:
            out.add((base / session_hash.replace("\x00", "")).resolve())
        except (OSError, ValueError):
            pass
    return {p for p in out if uniq in str(p)}


def _assert_digest_folder(root: Path, session_hash: str) -> Path:
    folder = common.session_dir(session_hash)
    assert folder.parent == root.resolve() and re.fullmatch(r"[0-9a-f]{32}", folder.name), folder
    return folder


def test_a_hostile_session_hash_trains_under_the_session_root(server, http):
    """One real 5-second training, by a client whose session hash climbs out of the root: the model lands in the
    session's digest folder under the root, and nothing at the path the hash names."""
    uniq = f"evil-{uuid.uuid4().hex[:10]}"
    session_hash = f"../../../{uniq}/evil"
    targets = _targets(server.root, session_hash, uniq)
    before = set(_tree(server.root))
    msg = http.call("train_model", train(seconds=5)[1], session_hash=session_hash, timeout=240)
    assert msg["success"], msg.get("output")
    assert msg["output"]["data"][0].startswith("**Done**")
    folder = _assert_digest_folder(server.root, session_hash)
    new = {Path(p) for p in set(_tree(server.root)) - before}
    assert any(p.parent == folder and p.name.startswith("ar-") for p in new), sorted(map(str, new))
    assert all(p.resolve().is_relative_to(server.root.resolve()) for p in new)
    assert not [t for t in targets if _exists(t)]


HOSTILE_HASHES = [
    pytest.param("/tmp/{uniq}-absolute", id="absolute"),
    pytest.param("x" * 10_000, id="10kB"),
    pytest.param("..", id="dotdot"),
    pytest.param(".", id="dot"),
    pytest.param("/", id="slash"),
    pytest.param("../../../../../../../../../../tmp/{uniq}", id="deep-climb"),
    pytest.param("a/../../{uniq}", id="climb-inside"),
    pytest.param("%2e%2e%2f{uniq}", id="url-encoded"),
    pytest.param("..\\..\\{uniq}", id="backslashes"),
    pytest.param("~/{uniq}", id="home"),
    pytest.param("{uniq}\x00/../../x", id="nul"),
]


@pytest.mark.parametrize("template", HOSTILE_HASHES)
def test_a_hostile_session_hash_names_no_path(server, http, template):
    """While another training holds the Space's one slot, a training request is refused after its session folder is
    worked out: the hash is accepted as a name, and nothing is created anywhere."""
    uniq = f"evil-{uuid.uuid4().hex[:10]}"
    session_hash = template.format(uniq=uniq)
    targets = _targets(server.root, session_hash, uniq)
    before = _tree(server.root)
    assert train_tab._lock.acquire(timeout=60), "a training is still running"
    try:
        msg = http.call("train_model", train(seconds=5)[1], session_hash=session_hash)
    finally:
        train_tab._lock.release()
    assert_clean_error(error_of(msg), "one training runs at a time on this 2-CPU Space: try again in about")
    assert _tree(server.root) == before
    _assert_digest_folder(server.root, session_hash)
    assert not [t for t in targets if _exists(t)]


@pytest.mark.parametrize("session_hash", ["../../../tmp", "/", "x" * 10_000, "..\\.."],
                         ids=["climb", "slash", "10kB", "backslashes"])
def test_stop_training_with_a_hostile_session_hash_names_no_path(server, http, session_hash):
    before = _tree(server.root)
    msg = http.call("stop_training", (), session_hash=session_hash)
    assert msg["success"], msg.get("output")
    assert msg["output"]["data"] == ["Nothing is training in this session."]
    assert _tree(server.root) == before


JOIN = "gradio_api/queue/join"
FORWARD = object()  # the forward_view fn_index, filled in by the test
MALFORMED = [
    pytest.param("POST", JOIN, b"{not json", id="not-json"),
    pytest.param("POST", JOIN, b"hello", id="plain-text"),
    pytest.param("POST", JOIN, {"session_hash": "s", "fn_index": FORWARD}, id="no-data"),
    pytest.param("POST", JOIN, {"data": "abc", "fn_index": FORWARD, "session_hash": "s"}, id="data-a-string"),
    pytest.param("POST", JOIN, {"data": None, "fn_index": FORWARD, "session_hash": "s"}, id="data-null"),
    pytest.param("POST", JOIN, {"data": [], "fn_index": "abc", "session_hash": "s"}, id="fn-index-a-string"),
    pytest.param("POST", JOIN, {"data": [], "fn_index": FORWARD, "session_hash": 5}, id="session-hash-a-number"),
    pytest.param("POST", JOIN, {"data": [SENTENCE, 0.5, 0, "shipped", None, None], "fn_index": FORWARD},
                 id="no-session-hash"),
    pytest.param("POST", JOIN, b'{"data": ' + b"[" * 5000 + b"]" * 5000 + b', "fn_index": 0, "session_hash": "s"}',
                 id="nested-5000-deep"),
    pytest.param("POST", "gradio_api/call/forward_view", b"{", id="call-not-json"),
    pytest.param("GET", "gradio_api/queue/data", None, id="queue-data-no-session-hash"),
]


@pytest.mark.parametrize("method, path, body", MALFORMED)
def test_a_malformed_request_is_a_4xx(http, method, path, body):
    if isinstance(body, dict):
        body = json.dumps({k: http.fns["forward_view"][0] if v is FORWARD else v for k, v in body.items()}).encode()
    status, text = http.request(method, path, body)
    assert 400 <= status < 500, (status, text[:300])


# Requests Gradio 6.31 itself fails on, answering 500 (or an error with no message) and printing a traceback. They run
# against `python app.py` in a process of its own: in this process, that traceback's formatting (Python 3.11 parses
# the source for its carets) could race pytest's own parsing and crash the run. Where each fails, in Gradio:
# an unknown or negative fn_index: route_utils.get_fn looks it up unchecked (KeyError from queueing.Queue.push); an
# unknown api name: get_fn's FnIndexInferError, uncaught in routes.simple_predict_post; too few inputs:
# blocks.Blocks.validate_inputs' ValueError reaches the client with no message. (A plain path string sent for the
# Train tab's file fails pydantic's FileData check in blocks.Blocks.preprocess_data the same way: never reaching us.)
GRADIO_GAPS = [
    pytest.param(JOIN, {"data": [], "fn_index": 99_999, "session_hash": "s"}, id="fn-index-unknown"),
    pytest.param(JOIN, {"data": [], "fn_index": -1, "session_hash": "s"}, id="fn-index-negative"),
    pytest.param("gradio_api/call/no_such_endpoint", {"data": []}, id="call-unknown-api-name"),
    pytest.param(JOIN, {"data": [SENTENCE], "fn_index": FORWARD, "session_hash": "too-few-inputs"},
                 id="too-few-inputs"),
]


@pytest.fixture(scope="module")
def app_process():
    """`python app.py` on a free port of 127.0.0.1, in its own process."""
    from bench.common import free_port
    from bench.latency import start_app

    port = free_port()
    process, _ = start_app(port)
    try:
        yield Http(f"http://127.0.0.1:{port}/")
    finally:
        process.terminate()
        process.wait(30)


@pytest.mark.parametrize("path, body", GRADIO_GAPS)
def test_requests_gradio_fails_on_leave_the_app_serving(app_process, path, body):
    body = json.dumps({k: app_process.fns["forward_view"][0] if v is FORWARD else v for k, v in body.items()})
    status, _ = app_process.request("POST", path, body.encode())
    assert status in (200, 400, 404, 422, 500)  # an answer, whatever Gradio's; 200: the event failed in the queue
    with urllib.request.urlopen(app_process.base, timeout=10) as r:
        assert r.status == 200
    served, _ = app_process.request("POST", "gradio_api/call/forward_view",
                                    json.dumps({"data": [SENTENCE, 0.5, 0, "shipped", None, None]}).encode())
    assert served == 200


# A lone surrogate in a dropdown's value: Gradio's own refusal quoted it raw, and the message could then not be
# encoded for the event stream (no reply at all); ui.inputs.Dropdown refuses it first, quoting it by repr. In the app's
# own process, as GRADIO_GAPS.
DROPDOWN_SURROGATES = [
    pytest.param("follow_word", ("1: \ud800",), FOLLOW + "'every position', got '1: \\ud800'", id="follow-word"),
    pytest.param("control_run", control(mode="Classifier guidance", slot="food\ud800")[1],
                 "slot must be one of 'name', 'eatType'", id="control-slot"),
    pytest.param("embedding_map", emb(family="continuous\ud800")[1], "family must be one of 'continuous', 'seq2seq'",
                 id="embeddings-family"),
]


@pytest.mark.parametrize("api, args, fragment", DROPDOWN_SURROGATES)
def test_a_lone_surrogate_in_a_dropdown_is_refused_in_one_line(app_process, api, args, fragment):
    assert_clean_error(error_of(app_process.call(api, args)), fragment)


def test_the_app_process_still_serves_after_the_surrogates(app_process):
    with urllib.request.urlopen(app_process.base, timeout=10) as r:
        assert r.status == 200
    msg = app_process.call("forward_view", fwd()[1])
    assert msg["success"], msg.get("output")
    assert msg["output"]["data"][0]["labels"][msg["output"]["data"][0]["start"]] == "t = 0.50"


def test_an_empty_session_hash_cannot_stop_the_queue(http, server, client):
    """Gradio queues an event with session_hash "" and, at its next broadcast of estimates, fails on it inside the
    queue's loop, which stops the queue for everyone (a 503 for every later event). The app refuses it first."""
    body = http.body("forward_view", fwd()[1], "")
    blocker = [submit_denoise(client, k) for k in range(3)]  # events waiting, so that estimates are broadcast
    status, text = http.request("POST", JOIN, body)
    assert status == 400 and "session_hash must be a non-empty string" in text
    for job in blocker:
        job.result(timeout=120)
    still_serves(server, client)


def test_the_app_still_serves_after_raw_requests(server, client):
    still_serves(server, client)


# ---- 3. the CLI ---------------------------------------------------------------------------------------------------
def assert_cli_refused(result: Any, fragment: str) -> None:
    """A non-zero exit whose last stderr line is the error (argparse's usage lines may come before its own), one line
    naming what is accepted, and no traceback."""
    assert result.returncode != 0, result.stdout[-500:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert lines, "nothing on stderr"
    last = lines[-1]
    if last.startswith("error: "):
        assert len(lines) == 1, f"more than the error line: {result.stderr[-1000:]!r}"
    else:
        assert re.match(r"python -m diffusion [\w-]+: error: argument --[\w-]+: ", last), last
    assert fragment in last, f"{fragment!r} not in {last!r}"


TRAIN = ["train", "--family", "ar", "--preset", "tiny", "--out", "{out}"]
SAMPLE = ["sample", "--checkpoint", "assets/checkpoints/continuous"]
NONFINITE = "(NaN and infinity are refused)"
FLAG_CASES = [
    pytest.param([*TRAIN, "--minutes", "nan"], NONFINITE, id="train-minutes-nan"),
    pytest.param([*TRAIN, "--minutes", "inf"], NONFINITE, id="train-minutes-inf"),
    pytest.param([*TRAIN, "--minutes", "-1"], "expected a number above 0 and at most 10080, got -1",
                 id="train-minutes-negative"),
    pytest.param([*TRAIN, "--minutes", "1e30"], "at most 10080, got 1e30", id="train-minutes-1e30"),
    pytest.param([*TRAIN, "--minutes", "0"], "above 0", id="train-minutes-zero"),
    pytest.param([*TRAIN, "--steps", "nan"], "expected a whole number from 1 to 1,000,000,000", id="train-steps-nan"),
    pytest.param([*TRAIN, "--steps", "-5"], "expected a whole number from 1 to 1,000,000,000, got -5",
                 id="train-steps-negative"),
    pytest.param([*TRAIN, "--steps", "1e30"], "expected a whole number from 1 to 1,000,000,000",
                 id="train-steps-1e30"),
    pytest.param([*TRAIN, "--steps", "1", "--seed", "-1"],
                 "expected a whole number from 0 to 9,223,372,036,854,775,807", id="train-seed-negative"),
    pytest.param([*TRAIN, "--steps", "1", "--seed", "nan"], "expected a whole number from 0 to", id="train-seed-nan"),
    pytest.param([*TRAIN, "--steps", "1", "--seed", str(2**64)], "expected a whole number from 0 to",
                 id="train-seed-2^64"),
    pytest.param([*TRAIN, "--steps", "1", "--batch-size", "0"], "expected a whole number from 1 to 65,536",
                 id="train-batch-zero"),
    pytest.param([*TRAIN, "--steps", "1", "--batch-size", "nan"], "expected a whole number from 1 to 65,536",
                 id="train-batch-nan"),
    pytest.param([*TRAIN, "--steps", "1", "--batch-size", "1000000000"], "expected a whole number from 1 to 65,536",
                 id="train-batch-huge"),
    pytest.param([*TRAIN, "--steps", "1", "--seq-len", "-3"], "expected a whole number from 2 to 4,096",
                 id="train-seq-len-negative"),
    pytest.param([*SAMPLE, "--steps", "1000000000"], "expected a whole number from 1 to 10,000",
                 id="sample-steps-1e9"),
    pytest.param([*SAMPLE, "--steps", "nan"], "expected a whole number from 1 to 10,000", id="sample-steps-nan"),
    pytest.param([*SAMPLE, "--steps", "-1"], "expected a whole number from 1 to 10,000", id="sample-steps-negative"),
    pytest.param([*SAMPLE, "--temperature", "nan"], NONFINITE, id="sample-temperature-nan"),
    pytest.param([*SAMPLE, "--temperature", "inf"], NONFINITE, id="sample-temperature-inf"),
    pytest.param([*SAMPLE, "--temperature", "-1"], "expected a number from 0 to 100", id="sample-temperature-negative"),
    pytest.param([*SAMPLE, "--noise-scale", "2"], "expected a number from 0 to 1, got 2", id="sample-noise-scale-2"),
    pytest.param([*SAMPLE, "--noise-scale", "nan"], NONFINITE, id="sample-noise-scale-nan"),
    pytest.param([*SAMPLE, "--noise-scale=-inf"], NONFINITE, id="sample-noise-scale-minus-inf"),
    pytest.param([*SAMPLE, "--clamp-from", "nan"], NONFINITE, id="sample-clamp-from-nan"),
    pytest.param([*SAMPLE, "--clamp-from", "-0.5"], "expected a number from 0 to 1", id="sample-clamp-from-negative"),
    pytest.param([*SAMPLE, "--clamp-from", "1e30"], "expected a number from 0 to 1", id="sample-clamp-from-1e30"),
    pytest.param([*SAMPLE, "--remask", "nan"], NONFINITE, id="sample-remask-nan"),
    pytest.param([*SAMPLE, "--remask", "5"], "expected a number from 0 to 1, got 5", id="sample-remask-5"),
    pytest.param([*SAMPLE, "--num-samples", "0"], "expected a whole number from 1 to 1,000", id="sample-num-zero"),
    pytest.param([*SAMPLE, "--num-samples", "nan"], "expected a whole number from 1 to 1,000", id="sample-num-nan"),
    pytest.param([*SAMPLE, "--num-samples", "1000000000"], "expected a whole number from 1 to 1,000", id="sample-num-1e9"),
    pytest.param([*SAMPLE, "--seed", "nan"], "expected a whole number from 0 to", id="sample-seed-nan"),
    pytest.param(["evaluate", "--checkpoint", "assets/checkpoints/continuous", "--guidance-weight", "nan"], NONFINITE,
                 id="evaluate-guidance-weight-nan"),
    pytest.param([*SAMPLE, "--guidance-weight", "-1"], "expected a number from 0 to 1e+06",
                 id="sample-guidance-weight-negative"),
    pytest.param([*TRAIN, "--steps", "1", "--columns", "a,b,c"], "--columns takes one column name",
                 id="train-columns-three"),
    pytest.param([*TRAIN, "--steps", "1", "--columns", ","], "--columns takes one column name", id="train-columns-empty"),
    pytest.param([*SAMPLE, "--infill", LONG], "the template is 5,000 characters long; " + TOO_LONG,
                 id="sample-infill-5k"),
    pytest.param(["sample", "--checkpoint", "assets/checkpoints/seq2seq", "--source", REDOS],
                 "the source is 3,006 characters long; " + TOO_LONG, id="sample-source-redos"),
    pytest.param(["sample", "--checkpoint", "assets/checkpoints/seq2seq", "--source", HUGE], TOO_LONG,
                 id="sample-source-100k"),
    pytest.param(["sample", "--checkpoint", "assets/checkpoints/seq2seq", "--source", "name [" + " " * 990],
                 "the value of 'name' has no closing ']' before the end", id="sample-source-redos-under-cap"),
    pytest.param(["evaluate", "--checkpoint", "assets/checkpoints/continuous", "--num-samples", "nan"],
                 "expected a whole number from 1 to 1,000", id="evaluate-num-samples-nan"),
    pytest.param(["train-classifier", "--checkpoint", "assets/checkpoints/continuous", "--minutes", "nan"], NONFINITE,
                 id="train-classifier-minutes-nan"),
]


@pytest.mark.parametrize("argv, fragment", FLAG_CASES)
def test_cli_refuses_a_hostile_value(tmp_path, argv, fragment):
    out = tmp_path / "out"
    assert_cli_refused(cli(*(a.format(out=out) for a in argv)), fragment)
    assert not out.exists()


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint as copy_for_shipping writes it (the shipped ar model: the same files as a tiny one, no training)."""
    out = tmp_path_factory.mktemp("copied") / "ar"
    checkpoint.copy_for_shipping(CHECKPOINTS / "ar", out)
    return out


def _set(**fields: Any):
    """An edit of config.json putting each field in its part: common, "backbone", or the family's own."""
    from diffusion.config import BACKBONE, COMMON

    def edit(raw: dict[str, Any]) -> None:
        for name, value in fields.items():
            part = raw if name in COMMON else raw.setdefault("backbone" if name in BACKBONE else raw["family"], {})
            part[name] = value
    edit.family = "continuous" if {"embed_dim", "num_timesteps"} & set(fields) else "ar"
    return edit


@pytest.mark.parametrize("edit, fragment", [
    pytest.param(_set(seq_len=-5), "seq_len must be a whole number from 1 to 4,096, got -5", id="seq-len-negative"),
    pytest.param(_set(d_model=10**9), "d_model must be a whole number from 1 to 16,384", id="d-model-1e9"),
    pytest.param(_set(vocab_size=10**12), "vocab_size must be a whole number from 0 to 1,000,000", id="vocab-1e12"),
    pytest.param(_set(n_layers=1e30), "n_layers must be a whole number from 1 to 128", id="layers-1e30"),
    pytest.param(_set(num_timesteps=float("nan")), "num_timesteps must be a whole number from 1 to 100,000, got nan "
                                                   + NONFINITE, id="timesteps-nan"),
    pytest.param(_set(seq_len="abc"), "seq_len must be a whole number from 1 to 4,096, got 'abc'", id="seq-len-string"),
    pytest.param(_set(n_heads=0), "n_heads must be a whole number from 1 to", id="heads-zero"),
    pytest.param(_set(d_ff=-1), "d_ff must be a whole number from 1 to 16,384, got -1", id="d-ff-negative"),
    pytest.param(_set(embed_dim=10**7), "embed_dim must be a whole number from 1 to 16,384", id="embed-dim-1e7"),
    pytest.param(_set(d_model=16384, d_ff=16384, n_layers=128, embed_dim=16384), "weights; at most 1e+09 are accepted",
                 id="weights-past-the-cap"),
    pytest.param("[1, 2]", "must hold a JSON object", id="config-a-list"),
    pytest.param("{", "is not valid JSON", id="config-not-json"),
])
def test_cli_refuses_an_absurd_checkpoint_config(shipped_copy, tmp_path, edit, fragment):
    folder = tmp_path / "ck"
    family = getattr(edit, "family", "ar")  # the continuous model for its own fields, else the small ar one
    checkpoint.copy_for_shipping(shipped_copy if family == "ar" else CHECKPOINTS / "continuous", folder)
    if isinstance(edit, str):
        (folder / "config.json").write_text(edit, encoding="utf-8")
    else:
        raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        edit(raw)
        (folder / "config.json").write_text(json.dumps(raw), encoding="utf-8")
    assert_cli_refused(cli("sample", "--checkpoint", str(folder), "--num-samples", "1", "--steps", "2"), fragment)


def test_cli_refuses_an_out_folder_that_is_a_file(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("keep me", encoding="utf-8")
    result = cli("train", "--family", "ar", "--preset", "tiny", "--steps", "1", "--out", str(target))
    assert_cli_refused(result, "is a file; give a folder")
    assert target.read_text(encoding="utf-8") == "keep me"


def test_cli_refuses_an_out_folder_under_a_file(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("keep me", encoding="utf-8")
    result = cli("train", "--family", "ar", "--preset", "tiny", "--steps", "1", "--out", str(target / "run"))
    assert_cli_refused(result, "give a folder")
    assert target.read_text(encoding="utf-8") == "keep me"


def _rows(n: int, words: int = 6) -> str:
    return "".join(" ".join(f"w{(i + k) % 17}" for k in range(words)) + " .\n" for i in range(n))


@pytest.mark.parametrize("name, content, fragment", [
    pytest.param("field.csv", "text\n" + "a" * (140 * 1024) + "\nhello world .\n",
                 "each field must be text of at most 128 kB", id="field-past-128kB"),
    pytest.param("header.csv", "text\n", "has a header ('text') but no rows under it", id="header-only"),
    pytest.param("empty.csv", "", "a CSV needs a header line naming its columns", id="empty"),
    pytest.param("latin.csv", "text\ncafé .\n".encode("latin-1"), "save it as UTF-8", id="not-utf8"),
    pytest.param("columns.csv", "sentence\n" + _rows(20), "has no column 'text'; its columns are 'sentence'",
                 id="no-text-column"),
    pytest.param("corpus.json", "{}", "accepted: .txt (one sequence per line), .csv", id="wrong-suffix"),
])
def test_cli_refuses_a_hostile_corpus(tmp_path, name, content, fragment):
    corpus = tmp_path / name
    if isinstance(content, bytes):
        corpus.write_bytes(content)
    else:
        corpus.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    result = cli("train", "--family", "ar", "--preset", "tiny", "--steps", "1", "--corpus", str(corpus),
                 "--out", str(out))
    assert_cli_refused(result, fragment)
    assert not checkpoint.has_checkpoint(out)


@pytest.mark.parametrize("content", [
    pytest.param("\ufefftext\n".encode("utf-8") + _rows(30).encode("utf-8"), id="byte-order-mark"),  # as Excel writes
    pytest.param(("text\n" + "".join(f"w{i}\n" for i in range(30))).encode("utf-8"), id="one-word-rows"),
])
def test_cli_accepts_an_unusual_but_valid_corpus(tmp_path, content):
    """A UTF-8 byte-order mark before the header (the header is still 'text'), rows of one word (a model of length
    2: the word, then [PAD]): one optimiser step trains and saves a checkpoint."""
    corpus = tmp_path / "corpus.csv"
    corpus.write_bytes(content)
    out = tmp_path / "out"
    result = cli("train", "--family", "ar", "--preset", "tiny", "--steps", "1", "--corpus", str(corpus),
                 "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert checkpoint.has_checkpoint(out)
