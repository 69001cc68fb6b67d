"""Real or AI? — Gradio app: is this portrait a real photo or AI-generated?

Tabs: Home, Insights (the model's own metrics and plots), Predict by upload, Predict by webcam (live),
Take-aways. Every action is a named API endpoint (`/predict`, `/predict_batch`, `/explain`, ...).
The UI only wires components to `realorai.service`; the model is loaded once, at start.

    python app.py [--model hf-hub:ORG/NAME | PATH] [--host 127.0.0.1] [--port 7860] [--share]
"""

import argparse
import contextlib
import functools
import html
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import matplotlib
from gradio.data_classes import FileData
from starlette.middleware import Middleware

from realorai import input_quality, insights, scratch
from realorai.config import BUNDLED_MODEL_DIR, EXAMPLES_DIR, MAX_FILE_MB, MAX_REQUEST_MB
from realorai.images import ImageLoadError
from realorai.model_card import generators_seen
from realorai.modeling import read_config
from realorai.predict import VERDICT_COLOUR, VERDICT_TEXT, Detector, side_by_side
from realorai.provenance import Evidence, describe
from realorai.reports import ReportRefused, save_report
from realorai.request_limit import RequestSizeLimit
from realorai.service import BATCH_COLUMNS, Service, batch_row, limit_heap_arenas, table
from realorai.sources import licence_summary, training_sources

log = logging.getLogger("real-or-ai")

# The page sends a camera frame this often; the server keeps only the newest one while it works, so the live
# rate is the slower of this cadence and a frame's work, and it never falls behind the camera. 0.1 s capped it
# at 10 frames/s: 9.6-10.0 analysed in Chromium on 2 Zen 5 cores, 10.4-11.1 at 0.09 s, and 9.2-9.5 at 0.05 s,
# whose extra uploads cost more than they bring (benchmarks/bench_webcam_browser.py).
WEBCAM_STREAM_EVERY_S = 0.09

INSIGHT_CHARTS = (  # heading, the plots (PLOT_FILES keys) side by side under it
    ("How well it generalises: each source left out of training", ("leave_one_out",)),
    ("Left out and re-shared: unseen sources' copies", ("held_out_reshare",)),
    ("After re-sharing (test split)", ("reshare",)),
    ("Per source and generator (test split)", ("per_group",)),
    ("Calibration and ranking (test split)", ("reliability", "roc")),
)

CSS = """
.verdict {border-radius: 10px; padding: 14px 18px; color: white; font-size: 1.35em; font-weight: 600}
.verdict small {display: block; font-size: 0.7em; font-weight: 400; opacity: 0.95}
"""

HOME = """
# Real or AI?

**Is this portrait a real photograph or made by an AI?** Upload a picture (or use your webcam) and the
detector finds every face, crops it the way it was trained, and gives each face a calibrated probability of
being AI-generated, a verdict — *Real photo*, *AI-generated* or *Uncertain* — and a heat map of the
regions that drove that verdict.

**How it works.** A face detector (MTCNN) finds faces; each face is cut as a square and passed to
{model_sentence}. The raw scores are then *calibrated* (temperature scaling), so "80 %" means right about
80 % of the time on our validation data, and the line between *Real* and *AI-generated* is drawn for real
photos first. {decision_rule}

See **Insights** for how well it works (per source, per generator, after JPEG and resizing) and
**Take-aways** for what it cannot do.
"""

TAKEAWAYS = """
# Take-aways

**What the numbers mean.** On our held-out test faces the detector separates real from AI portraits
very well (see Insights, all figures come from the model's own `metrics.json`). Those faces come from
the same *kinds* of sources it trained on. The harder question is a generator or a camera it has never
seen. {generalisation_sentence} That is the honest estimate for new generators: a *Real photo* verdict
on a picture from a new generator is weak evidence.

**Limits.**
- *Faces only.* The model judges face crops. Landscapes, objects, or AI edits outside the face are not seen.
- *Generator families seen:* {generators}. Others (Midjourney, Imagen, GPT-image, face swaps, video
  deepfakes) were not in training; treat verdicts on them with suspicion.
- *Caught as AI, by generator family* (our test split, at the real-photos-first threshold): {caught}. The
  faces the threshold does not reach are *Uncertain* or, fewer, *Real photo*: the threshold is set so real
  photos are almost never called AI, and GAN faces pay for that most.
- *Small or blurry faces* carry less evidence; the confidence drops, and so should yours.
- *Re-shared copies.* Downscaling and re-compression erase fine detail the model reads. Real photos' copies
  stay safe, but a re-shared picture from a generator the model has not seen ranks well below the same picture
  clean, so a *Real photo* verdict on it is weaker still. Under the verdict the app notes a compressed file
  (JPEG at quality {recompressed_quality} or lower, lossy WebP) and a face {small_face_px} pixels across or less.
- *Studio portraits.* Plain backdrop, even light, a frontal pose (passport and studio shots): none of the
  real photos it learnt from is one, and to the model they look most like AI faces. Of the five real studio
  portraits we tried, none is called *AI-generated*, but only three mostly read *Real photo*; two stay
  *Uncertain*, a re-compressed copy of one up to well above even odds (README: "Beyond the test split's crops").
- *No face found* (faces turned away or covered, or under ~2% of a big picture's long side) → the app judges
  the whole picture and says so; that verdict is much weaker.
- *Group photos.* Each face is judged on its own and the headline is the most AI-looking face, so among many
  faces one doubtful face makes the whole picture *Uncertain* (or *AI-generated*): read the face-by-face list
  under the headline.

**How to read "Uncertain".** When the calibrated probability falls inside the middle band, the model
does not have enough evidence either way. That is an answer, not a failure: do not round it up.

**Responsible use.** A verdict is one piece of evidence, never proof. Do not use it alone to accuse a
person of faking a picture, or to decide anything about a person. Webcam frames and snapshots are analysed
in memory and never written to disk; uploaded pictures and result CSVs are deleted within {keep_minutes}
minutes, and whenever the app starts or stops. The training data's licences ({licences}) allow non-commercial
research, and so does this model.
"""


def load_detector(reference: str | None) -> tuple[Detector, str]:
    """The requested model, or the bundled one if that fails; plus a note saying which model is live."""
    if reference:
        try:
            return Detector(reference), f"Live model: `{reference}`"
        except Exception as err:  # unreachable Hub, missing files: fall back, but say so
            log.warning("could not load %s: %s", reference, err)
            return Detector(BUNDLED_MODEL_DIR), (
                f"⚠️ Could not load `{reference}` ({type(err).__name__}); using the bundled model instead."
            )
    return Detector(BUNDLED_MODEL_DIR), "Live model: bundled with the app (`model/`)"


def example_pictures() -> list[tuple[Path, str]]:
    """The pictures that ship in examples/ (attribution in its README), with a caption saying what each is."""
    pictures = []
    for path in sorted(EXAMPLES_DIR.glob("*.jpg")):
        kind, _, rest = path.stem.partition("-")
        source, _, number = rest.rpartition("-")
        pictures.append((path, f"{'AI' if kind == 'ai' else 'Real'} · {source} {number}"))
    return pictures


def verdict_html(result: dict, band: tuple[float, float]) -> str:
    """The headline box: the verdict, P(AI) and the model's limit that gave that verdict (`band`: the
    uncertain band, real up to its low end, AI from its high end), so an "Uncertain" at 60% explains itself."""
    if result.get("verdict") not in VERDICT_TEXT:
        return f"<div class='verdict' style='background:#777'>{result.get('message', 'No result')}</div>"
    colour = "rgb({},{},{})".format(*VERDICT_COLOUR[result["verdict"]])
    p_ai, (real_up_to, ai_from) = result["p_ai"], band
    limit = {
        "ai": f"AI-generated from {ai_from:.1%}",
        "real": f"a real photo up to {real_up_to:.1%}",
        "uncertain": f"between a real photo (up to {real_up_to:.1%}) and AI-generated (from {ai_from:.1%}), "
        f"leaning {'AI' if p_ai >= 0.5 else 'real'}",
    }
    detail = f"P(AI) {percent(p_ai)} · {limit[result['verdict']]}"
    several = len(result["faces"]) > 1  # then each face is listed below, instead of the message counting them
    note = f"<small>{result['message']}</small>" if result.get("message") and not several else ""
    if result.get("verdict_reason", "pixels") != "pixels":  # the headline is not the pixels': say whose numbers these are
        detail = f"from the pixels alone: P(AI) {percent(p_ai)}"
        note += (
            f"<small>Headline from a {html.escape(result['verdict_reason'])}. "
            f"The pixels alone say: {VERDICT_TEXT[result['pixel_verdict']]}.</small>"
        )
    if several:
        detail += f" · {len(result['faces'])} faces (headline = most AI-looking face)"
        each = " · ".join(
            f"{i} {VERDICT_TEXT[face['verdict']]} ({percent(face['p_ai']).removeprefix('= ')})"
            for i, face in enumerate(result["faces"], start=1)
        )
        note += f"<small>Face by face, numbered as the boxes, P(AI): {each}</small>"
        if result.get("faces_not_judged"):
            left_out = result["faces_not_judged"]
            note += f"<small>{left_out} smaller faces not judged: at most {len(result['faces'])} a picture.</small>"
    for input_note in result.get("input_notes", []):  # what the file and face sizes say about the evidence
        note += f"<small class='input-note' data-kind='{input_note['kind']}'>{html.escape(input_note['text'])}</small>"
    return (
        f"<div class='verdict' id='verdict' data-verdict='{result['verdict']}' style='background:{colour}'>"
        f"{VERDICT_TEXT[result['verdict']]}<small>{detail}</small>{note}</div>"
    )


def provenance_html(result: dict) -> str:
    """The provenance panel: each declaration found in the file, or why finding none means little."""
    provenance = result.get("provenance")
    if not provenance:
        return ""
    if not provenance["found"]:
        items = f"<li>{html.escape(provenance['summary'])}</li>"
    else:
        items = "".join(
            f"<li data-kind='{e['kind']}'>{html.escape(describe(Evidence(**e)))}</li>" for e in provenance["evidence"]
        )
    return f"<div id='provenance'><b>Provenance (from the file itself)</b><ul>{items}</ul></div>"


def percent(p: float) -> str:
    """Calibrated, but never certain: 0.9996 reads '> 99.9%', not '= 100.0%'."""
    if p > 0.999:
        return "> 99.9%"
    if p < 0.001:
        return "< 0.1%"
    return f"= {p:.1%}"


def label_scores(result: dict) -> dict[str, float]:
    return {"AI-generated": result["p_ai"], "Real photo": round(1 - result["p_ai"], 4)} if "p_ai" in result else {}


def plain_words(fn):
    """Turn our plain-words errors into a visible gr.Error, never a stack trace."""

    @functools.wraps(fn)
    def wrapper(*args):
        try:
            return fn(*args)
        except ImageLoadError as err:
            raise gr.Error(f"Cannot use this picture: {err}") from err

    return wrapper


def uploaded(file: FileData | dict | None) -> str:
    """The server-side path of a file gradio_client uploaded."""
    path = (file or {}).get("path") if isinstance(file, dict) else getattr(file, "path", None)
    if not path:
        raise ImageLoadError("no file was sent.")
    return path


class Api:
    """The JSON endpoints for gradio_client (`gr.api`: no hidden components). Each takes uploaded files and
    returns plain data; pictures come back inline as data: URIs, so nothing derived is written to disk."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def predict(self, image: FileData) -> dict:
        """One picture -> verdict (pixels and provenance), calibrated P(AI), the faces with their boxes."""
        return plain_words(self.service.predict)(uploaded(image))

    def predict_batch(self, images: list[FileData]) -> tuple[list[dict], FileData]:
        """Up to 50 pictures -> one row each (a bad file gets its reason in its row) and the rows as a CSV."""
        if not images:
            raise gr.Error("Cannot use this picture: no files were sent.")
        rows = plain_words(self.service.predict_batch)([uploaded(i) for i in images])
        return rows, FileData(path=self.service.write_csv(rows), orig_name="real-or-ai-results.csv")

    def explain(self, image: FileData) -> dict:
        """One picture -> the result, the picture with face boxes and the Grad-CAM heat maps (inline JPEGs)."""
        return plain_words(self.service.explain_inline)(uploaded(image))

    def webcam_frame(self, frame: FileData) -> dict:
        """One webcam frame -> the verdict for its faces, as the live webcam tab computes it."""
        try:
            return self.service.classify_frame(uploaded(frame))
        except ImageLoadError as err:
            return {"verdict": "none", "message": f"Cannot use this frame: {err}"}

    def webcam_snapshot(self, frame: FileData) -> dict:
        """A webcam frame explained, as the snapshot button does."""
        return plain_words(functools.partial(self.service.explain_inline, live=True))(uploaded(frame))


def build_demo(service: Service, model_note: str) -> gr.Blocks:
    detector = service.detector
    band = detector.serving.uncertain_band

    @plain_words
    def explain(image):
        """One picture -> the picture with face boxes, Grad-CAM overlays per face, verdict and JSON."""
        if not image:
            raise ImageLoadError("no file was sent.")
        explained = service.explain(image)
        result = service.result(explained)
        heat = side_by_side(explained.heatmaps)
        return (explained.annotated, heat, verdict_html(result, band), label_scores(result), result)

    def analyse_upload(files: list[str] | None):
        """The Upload tab's button: the first picture explained in full, and a table + CSV for all of them."""
        if not files:
            raise gr.Error("Choose one or more pictures first.")
        name = Path(files[0]).name
        try:
            annotated, heat, verdict, label, result = explain(files[0])
            first = (annotated, heat, verdict, provenance_html(result), label, result)
            first_row = batch_row(name, result)
        except gr.Error as err:
            if len(files) == 1:
                raise
            # a bad first file must not cost the rest of the batch: report it in its row
            first = (None, None, f"<p>{name}: {err.message}</p>", "", {}, {"error": err.message})
            first_row = batch_row(name, error=err.message)
        rows = [first_row] + service.predict_batch(files[1:])
        return (*first, table(rows), service.write_csv(rows))

    def report_wrong_verdict(files, example, result, label, note, consent):
        """Keep the analysed picture under its correct label, only with the visitor's consent."""
        picture = (files or [None])[0] or example
        try:
            saved = save_report(picture, label, result or {}, consent is True, note or "")
        except ReportRefused as refused:
            return f"⚠️ {refused}"
        return f"Thank you: kept as `{saved.parent.parent.name}/{saved.parent.name}/{saved.name}` for the next training set."

    def frame_verdict(frame):
        try:
            result = service.classify_frame(frame)
        except ImageLoadError as err:
            result = {"verdict": "none", "message": f"Cannot use this frame: {err}"}
        return verdict_html(result, band), label_scores(result)

    @plain_words
    def webcam_snapshot_ui(frame):
        """Freeze the streamed frame and explain it: boxes and heat maps inline in HTML, never written to disk."""
        if frame is None:
            raise gr.Error("The camera has not sent a frame yet.")
        pictures, result = service.explain_frame(frame)
        return pictures, verdict_html(result, band)

    report = insights.report_folder(detector.reference)
    metrics = insights.load_metrics(report)
    plots = insights.plot_paths(report)
    samples = insights.sample_images()

    with gr.Blocks(title="Real or AI?", delete_cache=(300, scratch.MAX_AGE_S)) as demo:
        gr.Markdown(f"<small id='model-note'>{model_note}</small>")
        config = read_config(detector.reference)
        with gr.Tab("Home"):
            gr.Markdown(
                HOME.format(
                    model_sentence=insights.model_sentence(config, metrics),
                    decision_rule=f"The rule, from the model's report: {metrics['decision']['rule']}."
                    if metrics and metrics.get("decision", {}).get("rule")
                    else "",
                )
            )
        with gr.Tab("Insights"):
            # Charts first (each read in seconds, how to read it above it), every table folded below; all from the
            # model's own report. Generalisation first: it is the estimate for pictures unlike our data.
            captions = insights.chart_captions(metrics)
            for heading, keys in INSIGHT_CHARTS:
                shown = [key for key in keys if plots.get(key)]
                if shown:
                    gr.Markdown(f"## {heading}\n\n" + " ".join(captions.get(key, "") for key in shown))
                    with gr.Row():
                        for key in shown:  # the figure carries its own title: no label over it
                            gr.Image(plots[key], label=key.replace("_", " "), show_label=False, interactive=False)
            with gr.Accordion("The data", open=False):
                gr.Markdown(insights.dataset_table(metrics) if metrics else "_No dataset counts in this model's report._")
                if samples:
                    gr.Gallery(samples, label="Samples per source (from the local dataset)", columns=6, height=260)
            with gr.Accordion("All tables", open=False):
                gr.Markdown(insights.results_markdown(metrics, report))
        with gr.Tab("Predict — upload"):
            with gr.Row():
                with gr.Column(scale=1):
                    files = gr.File(
                        label="Pictures (one for details, several for a table)",
                        file_count="multiple",
                        file_types=["image"],
                        type="filepath",
                        elem_id="upload-files",
                    )
                    run = gr.Button("Analyse", variant="primary", elem_id="analyse")
                    # Thumbnails need an image component: a hidden one receives the example and runs the analysis.
                    example = gr.Image(type="filepath", visible=False, label="Example")
                    examples_slot = gr.Column()  # filled below, once the outputs exist
                with gr.Column(scale=2):
                    verdict = gr.HTML(elem_id="upload-verdict", label="Verdict")
                    provenance_panel = gr.HTML(elem_id="upload-provenance", label="Provenance")
                    scores = gr.Label(label="Calibrated probabilities", num_top_classes=2, show_heading=False)
                    annotated = gr.Image(label="Faces found", type="pil", interactive=False)
                    heatmaps = gr.Image(
                        label="What drove the verdict (Grad-CAM per face, numbered as the boxes; red = most influential)",
                        type="pil",
                        interactive=False,
                        height=260,
                    )
                    details = gr.JSON(label="Details", open=False)
                    results_table = gr.Dataframe(headers=BATCH_COLUMNS, label="All pictures")
                    csv_file = gr.File(label="All pictures (CSV)")
            with gr.Accordion("Report a wrong verdict", open=False, elem_id="report"):
                gr.Markdown(
                    "If the verdict on the first picture is wrong, tell us what it really is. With your consent "
                    "the picture and its result are kept on this server (nowhere else) to build the next training "
                    "set; without it nothing is stored."
                )
                report_label = gr.Radio([("Real photo", "real"), ("AI-generated", "ai")], label="What is it really?")
                report_note = gr.Textbox(label="Where is it from? (optional: generator, camera, website)", max_length=300)
                report_consent = gr.Checkbox(
                    label="I agree that this picture and its result are kept to improve the detector.", value=False
                )
                report_send = gr.Button("Send report", elem_id="report-send")
                report_status = gr.Markdown(elem_id="report-status", label="Report status")
            examples = example_pictures()
            if examples:
                with examples_slot:
                    gr.Examples(
                        [[str(path)] for path, _ in examples],
                        inputs=[example],
                        outputs=[annotated, heatmaps, verdict, provenance_panel, scores, details, results_table, csv_file],
                        fn=lambda path: analyse_upload([path]),
                        run_on_click=True,
                        cache_examples=False,
                        label="Try an example: real = Face Research Lab London Set (CC BY 4.0), "
                        "AI = SFHQ-T2I (MIT); attribution in examples/README.md",
                        examples_per_page=len(examples),
                        elem_id="examples",
                        api_name="analyse_example",
                    )
            report_send.click(
                report_wrong_verdict,
                [files, example, details, report_label, report_note, report_consent],
                report_status,
                api_name="report_wrong_verdict",
            )
            run.click(
                analyse_upload,
                files,
                [annotated, heatmaps, verdict, provenance_panel, scores, details, results_table, csv_file],
                api_name="analyse_upload",
            )
        with gr.Tab("Predict — webcam"):
            gr.Markdown("Live verdicts from your camera. Frames and snapshots are analysed in memory and never stored.")
            with gr.Row():
                with gr.Column():
                    camera = gr.Image(
                        sources=["webcam"],
                        streaming=True,
                        type="pil",
                        label="Camera",
                        webcam_options=gr.WebcamOptions(mirror=False),
                        elem_id="camera",
                    )
                    snap = gr.Button("Snapshot: explain this frame", elem_id="snapshot")
                with gr.Column():
                    live_verdict = gr.HTML(
                        "<p>Press <b>Record</b> under the camera to start live verdicts.</p>", elem_id="live-verdict"
                    )
                    live_scores = gr.Label(label="Live probabilities", num_top_classes=2, show_heading=False)
                    snapshot_verdict = gr.HTML()
                    snapshot_pictures = gr.HTML(elem_id="snapshot-pictures")  # inline images: never a file
            # The browser streams frames here; API users call /webcam_frame with one frame instead.
            camera.stream(
                frame_verdict,
                camera,
                [live_verdict, live_scores],
                stream_every=WEBCAM_STREAM_EVERY_S,
                time_limit=600,
                concurrency_limit=4,
                show_progress="hidden",
                api_name="webcam_stream",
                api_visibility="undocumented",
            )
            snap.click(
                webcam_snapshot_ui,
                camera,
                [snapshot_pictures, snapshot_verdict],
                api_name="webcam_snapshot_ui",
                api_visibility="undocumented",
            )
        with gr.Tab("Take-aways"):
            gr.Markdown(
                TAKEAWAYS.format(
                    generalisation_sentence=insights.generalisation_sentence(metrics),
                    generators=generators_seen(metrics or {}),
                    caught=insights.caught_by_generator(metrics),
                    keep_minutes=scratch.MAX_AGE_S // 60,
                    recompressed_quality=input_quality.RECOMPRESSED_JPEG_QUALITY,
                    small_face_px=input_quality.SMALL_FACE_PX,
                    licences=licence_summary(training_sources(metrics)) if metrics else "see the model card",
                )
            )

        # The page's first upload draws a Grad-CAM, which needs the float timm model (timm imported, the ViT
        # built: ~5 s on 2 slow cores): build it while the visitor picks a picture. API clients never load
        # the page and never need it.
        demo.load(service.detector.prepare_explanations, api_visibility="private")

        # JSON endpoints for gradio_client, on the same Service as the page.
        api = Api(service)
        for endpoint in (api.predict, api.predict_batch, api.explain, api.webcam_frame, api.webcam_snapshot):
            gr.api(endpoint, api_name=endpoint.__name__)
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        default=os.environ.get("MODEL_ID"),
        help="hf-hub:ORG/NAME, ORG/NAME or a local folder in Hub layout (default: $MODEL_ID, else the bundled model in model/)",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="interface to listen on (default: %(default)s; 0.0.0.0 for all)",
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=2,
        help="pictures decoded or analysed at once, over all endpoints; the rest wait in order",
    )
    return parser.parse_args(argv)


def _stop_like_ctrl_c(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not interrupt the shutdown itself
    raise KeyboardInterrupt  # Gradio's launch loop closes the server on it; `serve` then empties the folder


def _built(detector: Detector, note: str, port: int, concurrency: int) -> tuple[gr.Blocks, Path]:
    """The app's page and queue around `detector`, with its scratch folder emptied and Gradio pointed at it."""
    limit_heap_arenas()
    # A server draws no windows. Left to choose, matplotlib resolves its backend on Gradio's first event (which
    # asks for it around every call): pyplot imported and GUI toolkits tried, ~0.5 s of the first request.
    matplotlib.use("agg")
    folder = scratch.prepare(scratch.scratch_dir(port))
    service = Service(detector, work_slots=concurrency, results_dir=folder / "results")
    demo = build_demo(service, note)
    # Every event may queue (256 waiting at most); the Service's slots bound the work actually in flight.
    demo.queue(default_concurrency_limit=concurrency, max_size=256)
    return demo, folder


def _launch(demo: gr.Blocks, host: str, port: int, share: bool, block: bool, quiet: bool) -> None:
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        theme=gr.themes.Soft(),
        css=CSS,
        max_file_size=f"{MAX_FILE_MB}mb",
        app_kwargs={"middleware": [Middleware(RequestSizeLimit, max_bytes=MAX_REQUEST_MB * 1_000_000)]},
        prevent_thread_lock=not block,
        quiet=quiet,
        show_error=True,
    )


def serve(
    detector: Detector,
    note: str,
    host: str = "127.0.0.1",
    port: int = 7860,
    concurrency: int = 2,
    share: bool = False,
) -> None:
    """Run the app until Ctrl-C or SIGTERM (`python app.py`).

    Everything of a user's lives in one scratch folder (emptied now, swept while running, emptied on
    SIGTERM/SIGINT); `concurrency` pictures are decoded or analysed at once, whichever endpoints they came by.
    """
    demo, folder = _built(detector, note, port, concurrency)
    # docker stop sends SIGTERM: leave through the same path as Ctrl-C, so the folder is emptied.
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    try:
        with scratch.Sweeper(folder):  # built after the page, so the files the page put there are kept
            _launch(demo, host, port, share, block=True, quiet=False)
    finally:
        scratch.empty(folder)  # once the sweeper has stopped, so the two never remove the same files


@contextlib.contextmanager
def serving(detector: Detector, note: str, port: int, concurrency: int = 2) -> Iterator[tuple[gr.Blocks, Path]]:
    """The same app on 127.0.0.1:`port` in this process while the block runs (the tests and benchmarks).

    Yields the page and its scratch folder. After, in this order: the server closed, the sweeper stopped, the
    folder emptied, and Gradio's process-wide upload folder given back, so that an app started beside another
    does not leave that one refusing its own uploads ("not uploaded by a user").
    """
    with contextlib.ExitStack() as undo:  # undoes in the reverse order of the steps below, whatever fails
        undo.callback(_restore_env, "GRADIO_TEMP_DIR", os.environ.get("GRADIO_TEMP_DIR"))
        demo, folder = _built(detector, note, port, concurrency)
        undo.callback(scratch.empty, folder)
        undo.enter_context(scratch.Sweeper(folder))
        undo.callback(demo.close)  # a no-op where the launch failed
        _launch(demo, "127.0.0.1", port, share=False, block=False, quiet=True)
        yield demo, folder


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    detector, note = load_detector(args.model)
    serve(detector, note, args.host, args.port, args.concurrency, args.share)


if __name__ == "__main__":
    main()
