"""The page's facts come from the live model's files: config.json and metrics.json, never typed in."""

import json

from realorai import insights
from realorai.config import BUNDLED_MODEL_DIR
from realorai.modeling import read_config


def test_home_and_takeaway_sentences_quote_the_models_own_report():
    metrics = json.loads((BUNDLED_MODEL_DIR / "metrics.json").read_text())
    summary = metrics["leave_one_out"]["summary"]
    sentence = insights.generalisation_sentence(metrics)
    for value in (f"{summary['ai_auc_mean']:.3f}", f"{summary['ai_auc_worst']:.3f}", f"{summary['real_false_ai_worst']:.1%}"):
        assert value in sentence, value
    described = insights.model_sentence(read_config(BUNDLED_MODEL_DIR), metrics)
    assert "CLIP ViT-B/16" in described and "frozen" in described
    assert "one linear classifier per kind of AI image (diffusion, gan; either can call a face AI)" in described
    for source in ("ffhq", "pixabay", "utkface", "yonsei"):  # the training split's real sources, from the counts
        assert source in described
    reshare = metrics["splits"]["test"]["reshare"]
    caught = min(r["ai_recall"] for name, r in reshare.items() if name != "clean")
    assert f"{caught:.0%} after the hardest re-share" in described  # the cost of the half-weight AI copies, stated
    assert "no leave-one-source-out" in insights.generalisation_sentence({})
    caught = insights.caught_by_generator(metrics)  # the Take-aways' per-family recall, from the same report
    generators = {n: m for n, m in metrics["splits"]["test"]["per_generator"].items() if m.get("n_ai")}
    assert len(generators) >= 4 and caught.count("%") == len(generators)
    for name, m in generators.items():
        assert f"{name.split(' (')[0]} {m['ai_recall']:.0%}" in caught


def test_the_cli_report_card_and_insights_share_one_renderer(tmp_path):
    import subprocess
    import sys

    from realorai.model_card import leave_one_out_table, reshare_table

    metrics = json.loads((BUNDLED_MODEL_DIR / "metrics.json").read_text())
    tables = [leave_one_out_table(metrics["leave_one_out"]), reshare_table(metrics["splits"]["test"]["reshare"])]
    run = subprocess.run([sys.executable, "-m", "realorai", "report"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == insights.results_markdown(metrics, BUNDLED_MODEL_DIR).strip()
    card = (BUNDLED_MODEL_DIR / "README.md").read_text()
    assert all(table in run.stdout and table in card for table in tables)
    missing = subprocess.run([sys.executable, "-m", "realorai", "report", str(tmp_path)], capture_output=True, text=True)
    assert missing.returncode == 2 and "no metrics.json" in missing.stderr


def test_the_bundled_plots_are_what_its_report_draws_and_the_insights_captions_quote_it(tmp_path, capsys):
    """`realorai report --plots` redraws a folder's plots from its own report (no evaluation): the bundled
    model's committed plots must be exactly that, so a plotting change cannot ship with stale pictures."""
    import shutil

    from realorai.cli import main
    from realorai.config import PLOT_FILES

    folder = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL_DIR, folder)
    for name in PLOT_FILES.values():
        (folder / name).unlink(missing_ok=True)
    assert main(["report", str(folder), "--plots"]) == 0
    for key in ("leave_one_out", "held_out_reshare", "reshare", "per_group", "reliability", "roc"):
        assert (folder / PLOT_FILES[key]).read_bytes() == (BUNDLED_MODEL_DIR / PLOT_FILES[key]).read_bytes(), key
    (folder / "test_predictions.json").unlink()
    assert main(["report", str(folder), "--plots"]) == 2
    assert "lacks metrics.json or test_predictions.json" in capsys.readouterr().err
    # each Insights chart is introduced by what it shows, in the report's own numbers
    metrics = json.loads((BUNDLED_MODEL_DIR / "metrics.json").read_text())
    captions = insights.chart_captions(metrics)
    reshare = metrics["splits"]["test"]["reshare"]
    worst_drop = max(r["auc_drop"] for name, r in reshare.items() if name != "clean")
    assert f"falls by {worst_drop:.3f} at most" in captions["reshare"] and "goal ≤ 0.02" in captions["reshare"]
    assert captions["leave_one_out"].startswith(insights.generalisation_sentence(metrics))
    assert f"{metrics['uncertain_band'][1]:.4f}" in captions["per_group"]
    assert f"{metrics['splits']['test']['overall']['ece']:.3f} after" in captions["reliability"]
    assert insights.chart_captions(None) == {} and "no re-share table" in insights.reshare_sentence({})


def test_the_card_says_how_the_head_was_fitted_and_which_groups_count_other_than_equally():
    """--head and --group-weights change what the head learns from, so the card must say them: the bundled
    model's heads per kind of AI image in words, and a group weighted down named, nothing more when all are equal."""
    from realorai.model_card import training_text

    metrics = json.loads((BUNDLED_MODEL_DIR / "metrics.json").read_text())
    config = read_config(BUNDLED_MODEL_DIR)
    card = (BUNDLED_MODEL_DIR / "README.md").read_text().replace("\n", " ")
    assert metrics["training"]["config"]["head"] == "kinds" and config["label_names"] == ["real", "ai-diffusion", "ai-gan"]
    for text in (training_text(metrics, config).replace("\n", " "), card):
        assert "One logistic-regression head per kind of AI image" in text and "the gan head then lowered 3 logits" in text
        assert "tuned (on the real photos and the diffusion faces only)" in text
    assert "count equally. Temperature" in card
    metrics["training"]["config"]["group_weights"] = "ai/stylegan2=0.1"
    weighted = training_text(metrics, config).replace("\n", " ")
    assert "count equally, except ai/stylegan2 at 0.1 times an equal share" in weighted
    metrics["training"]["config"]["head"] = "binary"
    assert "A logistic-regression head (C = " in training_text(metrics, config)


def test_the_bundled_card_is_what_its_report_renders():
    """The card is rendered from metrics.json and config.json; the committed one must be exactly that, so a
    change to the card's wording cannot ship with a stale card (as the plots test does for the charts)."""
    from realorai.model_card import render_model_card, weakest_source

    metrics = json.loads((BUNDLED_MODEL_DIR / "metrics.json").read_text())
    assert (BUNDLED_MODEL_DIR / "README.md").read_text() == render_model_card(metrics, BUNDLED_MODEL_DIR)
    # the weakest source in counts: an AI face not called AI is mostly *uncertain*, not "called real"
    test = metrics["splits"]["test"]
    name, worst = min(test["per_source"].items(), key=lambda item: item[1]["accuracy"])
    line = weakest_source(test)
    counted = (
        f"{worst['confusion']['tp']} of its {worst['n_ai']} AI faces are called AI, the rest *uncertain* or called real"
        if worst["n_ai"]
        else f"{worst['confusion']['fp']} of its {worst['n']} real photos are called AI"
    )
    assert f"**{name}**" in line and counted in line


def test_held_out_sources_re_shared_are_charted_and_captioned_from_the_report(tmp_path):
    """A report whose folds scored their held-out sources re-shared gets a chart and a caption quoting it, the
    bundled one included; a report made before folds recorded them shows neither, and says so instead of
    inventing one."""
    from realorai.config import PLOT_FILES
    from realorai.generalisation import leave_one_out
    from realorai.plots import held_out_reshare_plot
    from realorai.reshare import RESHARE
    from tests.test_probe import synthetic

    train, validation, test = synthetic(150, 0), synthetic(60, 1), synthetic(60, 2)
    chain = list(RESHARE)[0]
    test.views[chain] = test.views["clean"] + [0, 4, 0, 0]  # every face pushed towards family y
    folds = leave_one_out(train, validation, test)
    metrics = json.loads((BUNDLED_MODEL_DIR / "metrics.json").read_text()) | {"leave_one_out": folds}
    held_out_reshare_plot(folds, tmp_path / PLOT_FILES["held_out_reshare"])  # train.py's write_plots: test_train_probe
    assert (tmp_path / PLOT_FILES["held_out_reshare"]).stat().st_size > 10_000
    caption = insights.chart_captions(metrics)["held_out_reshare"]
    summary = folds["summary"]
    assert f"ROC-AUC {summary['reshared_ai_auc_worst']:.3f} after a re-share" in caption
    assert f"at most {summary['reshared_real_false_ai_worst']:.1%} of its copies called AI" in caption
    bundled = json.loads((BUNDLED_MODEL_DIR / "metrics.json").read_text())
    worst = bundled["leave_one_out"]["summary"]["reshared_ai_auc_worst"]
    assert f"ROC-AUC {worst:.3f} after a re-share" in insights.chart_captions(bundled)["held_out_reshare"]
    assert (BUNDLED_MODEL_DIR / PLOT_FILES["held_out_reshare"]).stat().st_size > 10_000
    before_reshare = {key: value for key, value in bundled["leave_one_out"]["summary"].items() if not key.startswith("reshared")}
    bundled["leave_one_out"]["summary"] = before_reshare  # as a report made before folds scored re-shared copies
    assert "no re-shared copies" in insights.chart_captions(bundled)["held_out_reshare"]
