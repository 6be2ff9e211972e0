"""Every public endpoint over HTTP with gradio_client, on the shipped checkpoints, as a visitor's browser calls them:
each session keeps its own state (the scrubbers' records, the models it trained), and bad input is an error that
names what is accepted while the app keeps serving."""

from pathlib import Path

import pytest

import app
from conftest import serve_app
from ui import common
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


def test_forward_views(client):
    html, figure, schedule = client.predict(SENTENCE, 0.5, 0, "shipped", api_name="/forward_view")
    assert "t = 0.50" in html and _plot(figure) and _plot(schedule)
    html, schedule = client.predict("absorb", SENTENCE, 0.5, 0, "shipped", api_name="/sedd_forward")
    assert "punter" in html or "[MASK]" in html
    assert _plot(schedule)


def test_denoise_then_scrub_in_one_session(client):
    text, slider, distance, latent_map = client.predict(0, 20, "ddpm", True, 1.0, 2, "shipped", api_name="/denoise")
    assert "step 20 / 20" in text and _plot(distance) and _plot(latent_map)
    text, distance, latent_map = client.predict(0, api_name="/scrub")  # the record lives in this session
    assert "step 0 / 20" in text and _plot(latent_map)


def test_every_family_tab_runs(client):
    left, right, *_ = client.predict(0, 20, "ddpm", 0.75, "shipped", api_name="/clamp_compare")
    assert "step 20 / 20" in left and "step 20 / 20" in right
    assert "step 0 / 20" in client.predict(0, api_name="/clamp_scrub")[0]
    left, right, *_, heading_left, heading_right, accuracy = client.predict(0, 20, "ddpm", 1.0, "shipped", "prediction",
                                                                            api_name="/clamp_compare")
    assert "step 20 / 20" in left and "step 20 / 20" in right and "ε" in heading_right and _plot(accuracy)

    text, _, quality = client.predict("absorb", 0, 16, "tweedie", 2, "shipped", api_name="/sedd_denoise")
    assert "step 16 / 16" in text and _plot(quality)
    assert "step 0 / 16" in client.predict(0, api_name="/sedd_scrub")

    text, plan, curve = client.predict(0, 10, 1.0, 1, "shipped", api_name="/order_agnostic")
    assert "step 10 / 10" in text and _plot(plan) and _plot(curve)
    text, *_ = client.predict(0, 10, 1.0, 1, "shipped", "confident", api_name="/order_agnostic")
    assert "step 10 / 10" in text

    text, _, candidates, heatmap = client.predict(MR, 0, 20, 3, "shipped", api_name="/seq2seq_run")
    assert "step 20 / 20" in text and candidates.count("candidate") >= 3 and _plot(heatmap)

    figure, status = client.predict("continuous", "PCA", "shipped", api_name="/embedding_map")
    assert _plot(figure) and "PCA" in status

    cards = client.predict(0, 10, ["continuous", "ar"], MR, "shipped", api_name="/compare_run")
    assert "continuous" in cards and "ar" in cards


@pytest.mark.parametrize("endpoint, args, message", [
    # Past a slider's range the slider refuses, naming the input and its range; inside it, the handler's checks.
    ("/denoise", (0, 5000, "ddpm", True, 1.0, 1, "shipped"), "steps must be a number from 10 to 1000, got 5000"),
    ("/denoise", (0, 20, "ddpm", True, 1.0, 1, "mine"), "not in the list of choices: \\['shipped', 'trained here'\\]"),
    ("/seq2seq_run", ("name [zizzi] food [pizza]", 0, 20, 3, "shipped"), "pizza"),
    ("/forward_view", ("", 0.5, 0, "shipped"), "sentence"),
    ("/order_agnostic", (0, 10, 9.0, 1, "shipped"), "temperature must be a number from 0 to 2, got 9.0"),
    ("/clamp_compare", (0, 20, "ddpm", 25, "shipped"), "clamp from t must be a number from 0 to 1, got 25"),
])
def test_bad_input_is_an_error_and_the_app_goes_on(client, endpoint, args, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=endpoint)
    assert "t = 0.50" in client.predict(SENTENCE, 0.5, 0, "shipped", api_name="/forward_view")[0]


def test_a_trained_model_belongs_to_its_session(server, client):
    """Train in one session: that session can run its model; another visitor's session cannot see it."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    status, curve, samples = client.predict("ar (left to right)", train_tab.BUILTIN, None, 5, "tiny", 0,
                                            api_name="/train_model")
    assert status.startswith("**Done**") and _plot(curve) and samples.count("<li>") == train_tab.PREVIEW
    cards = client.predict(0, 10, ["ar"], MR, "trained here", api_name="/compare_run")
    assert "done" in cards.lower() or "grammatical" in cards.lower()
    stranger = Client(server, verbose=False)
    with pytest.raises(AppError, match="not trained a continuous model in this session"):
        stranger.predict(0, 20, "ddpm", True, 1.0, 1, "trained here", api_name="/denoise")
    assert list(Path(common.SESSION_ROOT).glob("*/ar-*"))  # the model's folder, under its session


def test_a_full_queue_turns_visitors_away_with_a_message(monkeypatch, tmp_path):
    """Past MAX_QUEUE waiting events a new one is refused at once (here a queue of one, behind the two sampling
    slots), rather than waiting behind an ever longer queue; the app then serves as before."""
    from gradio_client import Client

    monkeypatch.setattr(app, "MAX_QUEUE", 1)
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
        assert outcomes.count("done") >= 3 and refused and all("Queue is full" in o for o in refused), outcomes
        assert "t = 0.50" in Client(url, verbose=False).predict(SENTENCE, 0.5, 0, "shipped",
                                                                   api_name="/forward_view")[0]
