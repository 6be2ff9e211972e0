"""Every public endpoint over HTTP with gradio_client, on the shipped checkpoints, as a visitor's browser calls them:
each session keeps its own state (the runs it recorded, the models it trained), and bad input is an error that
names what is accepted while the app keeps serving."""

from pathlib import Path

import pytest

import app
from conftest import serve_app
from ui import cache, common
from ui import train as train_tab

SENTENCE = "punter is a cafe in the riverside area not far from the lighthouse that is inexpensive and is adults only ."
MR = "name [zizzi] food [french] area [riverside]"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """The app on the shipped checkpoints, served on a free port; session models under a temporary root."""
    root = tmp_path_factory.mktemp("sessions")
    saved = common.SESSION_ROOT
    common.SESSION_ROOT = root
    app._load.cache_clear()
    with serve_app(app.build_demo()) as url:
        yield url
    common.SESSION_ROOT = saved
    app._load.cache_clear()


@pytest.fixture
def client(server: str):
    from gradio_client import Client

    return Client(server, verbose=False)


def _plot(value) -> bool:
    """A gr.Plot output as the client receives it: plotly JSON with at least one trace."""
    if isinstance(value, dict) and "__type__" in value:  # an update that also shows the plot
        value = value.get("value")
    return isinstance(value, dict) and '"data":[{' in str(value.get("plot", "")).replace(" ", "")


def _played(value, frames: int | None = None, chains: int = 1) -> list[list[str]]:
    """A player output as the client receives it (visualize/player.py player_value): a finished run (not live), one
    label per frame, `chains` HTML views per frame (and `frames` frames, if given). Returns the frames."""
    assert isinstance(value, dict) and not value.get("live"), str(value)[:300]
    shown = value["frames"]
    assert shown and len(value["labels"]) == len(shown), (len(shown), len(value["labels"]))
    assert all(len(views) == chains and all(isinstance(v, str) for v in views) for views in shown)
    if frames is not None:
        assert len(shown) == frames, len(shown)
    return shown


def _forward_opens_at_half(value) -> bool:
    """The Forward noising player asked to open at t = 0.5: 51 frames (t = 0, 0.02, ..., 1), opening on t = 0.50."""
    shown = _played(value, frames=51)
    return value["labels"][value["start"]] == "t = 0.50" and "t = 0.50" in shown[value["start"]][0]


def test_forward_views(client):
    value, figure, schedule = client.predict(SENTENCE, 0.5, 0, "shipped", None, api_name="/forward_view")
    assert _forward_opens_at_half(value) and _plot(figure) and _plot(schedule)
    frames = value["frames"]
    assert "t = 0.00" in frames[0][0] and "t = 1.00" in frames[-1][0] and "sqrt:" in frames[25][0]  # the model's own
    value, figure, schedule = client.predict(SENTENCE, 0.5, 0, "shipped", "cosine", api_name="/forward_view")
    assert _forward_opens_at_half(value) and "t = 0.50 · cosine:" in value["frames"][25][0] and _plot(figure)
    value, schedule = client.predict("absorb", SENTENCE, 0.5, 0, "shipped", api_name="/sedd_forward")
    frames = _played(value)
    assert value["labels"][value["start"]] == "t = 0.50" and "t = 0.50" in frames[value["start"]][0]
    assert "cafe" in frames[0][0] and "0 of " in frames[0][0]  # t = 0: the sentence itself; t = 1: every word masked
    assert 'class="mask"' in frames[-1][0] and "cafe" not in frames[-1][0]
    assert _plot(schedule)


def test_denoise_then_follow_a_word_in_one_session(server, client):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    value, distance, latent_map, follow = client.predict(0, 20, "ddpm", True, 1.0, 2, "shipped", api_name="/denoise")
    frames = _played(value, frames=21)
    assert "step 20 of 20" in frames[-1][0] and "step 0 of 20" in frames[0][0]
    assert value["start"] is None and _plot(distance) and _plot(latent_map)
    words = [c[1] if isinstance(c, (list, tuple)) else c for c in follow["choices"]]
    assert words[0] == "every position" and len(words) > 2 and follow["value"] in words
    assert _plot(client.predict(words[1], api_name="/follow_word"))  # the record lives in this session
    stranger = Client(server, verbose=False)  # another visitor's session has no run, so no such word to follow
    with pytest.raises(AppError, match="follow a word's path on the map must be one of 'every position', got"):
        stranger.predict(words[1], api_name="/follow_word")


def test_every_family_tab_runs(client):
    value, *_ = client.predict(0, 20, "ddpm", 0.75, "shipped", api_name="/clamp_compare")
    left, right = _played(value, frames=21, chains=2)[-1]
    assert "step 20 of 20" in left and "step 20 of 20" in right
    assert "step 0 of 20" in value["frames"][0][0] and "step 0 of 20" in value["frames"][0][1]
    value, *_, accuracy = client.predict(0, 20, "ddpm", 1.0, "shipped", "prediction", api_name="/clamp_compare")
    left, right = _played(value, frames=21, chains=2)[-1]
    assert "step 20 of 20" in left and "step 20 of 20" in right and "ε" in value["heads"][1] and _plot(accuracy)

    value, quality = client.predict("absorb", 0, 16, "tweedie", 2, "shipped", api_name="/sedd_denoise")
    frames = _played(value, frames=17)
    assert "step 16 of 16" in frames[-1][0] and "step 0 of 16" in frames[0][0] and _plot(quality)

    value, plan, curve = client.predict(0, 10, 1.0, 1, "shipped", api_name="/order_agnostic")
    assert "step 10 of 10" in _played(value)[-1][0] and _plot(plan) and _plot(curve)
    value, *_ = client.predict(0, 10, 1.0, 1, "shipped", "confident", api_name="/order_agnostic")
    assert "step 10 of 10" in _played(value)[-1][0]

    value, candidates, heatmap = client.predict(MR, 0, 20, 3, "shipped", api_name="/seq2seq_run")
    assert "step 20 of 20" in _played(value, frames=21)[-1][0] and candidates.count("candidate") >= 3
    assert _plot(heatmap)

    value, _, verdicts = client.predict("Length", "", 10, "food", "italian", 0.01, 0.1, 3, 0, 10, 1, "shipped",
                                        api_name="/control_run")
    assert "step 10 of 10" in _played(value, frames=11)[-1][0] and "final sample" in verdicts

    figure, status = client.predict("continuous", "PCA", "shipped", api_name="/embedding_map")
    assert _plot(figure) and "PCA" in status

    cards = client.predict(0, 10, ["continuous", "ar"], MR, "shipped", api_name="/compare_run")
    assert "continuous" in cards and "ar" in cards


def _serves(url_or_client) -> bool:
    from gradio_client import Client

    c = Client(url_or_client, verbose=False) if isinstance(url_or_client, str) else url_or_client
    return _forward_opens_at_half(c.predict(SENTENCE, 0.5, 0, "shipped", None, api_name="/forward_view")[0])


@pytest.mark.parametrize("endpoint, args, message", [
    # Past a slider's range the slider refuses, naming the input and its range; inside it, the handler's checks.
    ("/denoise", (0, 5000, "ddpm", True, 1.0, 1, "shipped"), "steps must be a number from 10 to 1000, got 5000"),
    ("/denoise", (0, 20, "ddpm", True, 1.0, 1, "mine"), "not in the list of choices: \\['shipped', 'free-form English', 'trained here'\\]"),
    ("/seq2seq_run", ("name [zizzi] food [pizza]", 0, 20, 3, "shipped"), "pizza"),
    ("/forward_view", ("", 0.5, 0, "shipped", None), "sentence"),
    ("/forward_view", (SENTENCE, 0.5, 0, "shipped", "quadratic"),
     "not in the list of choices: \\['linear', 'cosine', 'sqrt'\\]"),
    ("/follow_word", ("1: mill",), "must be one of 'every position', got '1: mill'"),  # this session never ran
    ("/order_agnostic", (0, 10, 9.0, 1, "shipped"), "temperature must be a number from 0 to 2, got 9.0"),
    ("/clamp_compare", (0, 20, "ddpm", 25, "shipped"), "clamp from t must be a number from 0 to 1, got 25"),
])
def test_bad_input_is_an_error_and_the_app_goes_on(client, endpoint, args, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=endpoint)
    assert _serves(client)


def test_a_trained_model_belongs_to_its_session(server, client):
    """Train in one session: that session can run its model; another visitor's session cannot see it."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    status, curve, _timeline, samples = client.predict("ar (left to right)", train_tab.BUILTIN, None, 5, "tiny", 0,
                                                       api_name="/train_model")
    assert status.startswith("**Done**") and _plot(curve) and samples.count("<li>") == train_tab.PREVIEW
    cards = client.predict(0, 10, ["ar"], MR, "trained here", api_name="/compare_run")
    assert "done" in cards.lower() or "grammatical" in cards.lower()
    stranger = Client(server, verbose=False)
    with pytest.raises(AppError, match="not trained a continuous model in this session"):
        stranger.predict(0, 20, "ddpm", True, 1.0, 1, "trained here", api_name="/denoise")
    assert list(Path(common.SESSION_ROOT).glob("*/ar-*"))  # the model's folder, under its session


def test_a_full_queue_turns_visitors_away_with_a_message(monkeypatch, tmp_path):
    """Past MAX_WAITING runs waiting for a compute slot a new one is refused at once (here one waiting, behind the
    two computing), rather than waiting behind an ever longer line; the app then serves as before. (The sampling
    runs no longer wait in Gradio's queue, so that replays of recorded runs never wait: ui/cache.py holds the line.)"""
    from gradio_client import Client

    monkeypatch.setattr(cache, "MAX_WAITING", 1)
    monkeypatch.setattr(common, "SESSION_ROOT", tmp_path)
    with serve_app(app.build_demo()) as url:
        jobs = [Client(url, verbose=False).submit(k, 1000, "ddpm", True, 1.0, 4, "shipped", api_name="/denoise")
                for k in range(5)]
        outcomes = []
        for job in jobs:
            try:
                job.result(timeout=300)
                outcomes.append("done")
            except Exception as e:  # the client raises its own error types for a refused event
                outcomes.append(str(e))
        refused = [o for o in outcomes if o != "done"]
        assert outcomes.count("done") >= 3 and refused and all("the Space is busy" in o for o in refused), outcomes
        assert _serves(url)
