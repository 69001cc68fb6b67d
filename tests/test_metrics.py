import numpy as np
import pytest

from realorai.metrics import binary_metrics, equal_error_rate, expected_calibration_error

# 4 real (0) and 4 AI (1) with hand-checkable scores.
Y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
P = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])


def test_against_hand_computation():
    m = binary_metrics(Y, P)
    # threshold 0.5: real -> 3 right (0.6 wrong); AI -> 3 right (0.4 wrong)
    assert m["confusion"] == {"tn": 3, "fp": 1, "fn": 1, "tp": 3}
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["balanced_accuracy"] == pytest.approx(0.75)
    # AUC: of 16 (AI, real) pairs only (0.4 vs 0.6) is mis-ordered -> 15/16
    assert m["roc_auc"] == pytest.approx(15 / 16)
    # AP: ranks 0.9,0.8,0.7 are AI (precision 1), then 0.6 real, then 0.4 AI at precision 4/5
    assert m["average_precision"] == pytest.approx((1 + 1 + 1 + 4 / 5) / 4)


def test_eer_where_errors_balance():
    # A threshold between 0.4 and 0.6 gives FPR = FNR = 1/4.
    assert equal_error_rate(Y, P) == pytest.approx(0.25)
    assert equal_error_rate(Y, np.where(Y == 1, 0.9, 0.1)) == pytest.approx(0.0)


def test_ece_hand_computation():
    # Two predictions at confidence 0.9 (one right, one wrong): |0.5 - 0.9| = 0.4 in that bin.
    assert expected_calibration_error(np.array([1, 0]), np.array([0.9, 0.9])) == pytest.approx(0.4)
    # Perfectly calibrated bin: 4 at 0.75 with 3 right.
    assert expected_calibration_error(np.array([1, 1, 1, 0]), np.full(4, 0.75)) == pytest.approx(0.0)


def test_one_class_subset_has_no_auc_but_has_recall():
    m = binary_metrics(np.array([1, 1, 1]), np.array([0.9, 0.2, 0.8]))
    assert m["roc_auc"] is None and m["ai_recall"] == pytest.approx(2 / 3)


def test_look_alike_aucs_score_each_real_source_against_each_generator_alone():
    from realorai.evaluation import look_alike_aucs
    from realorai.model_card import look_alike_table

    labels = np.array([0, 0, 0, 1, 1, 1])
    p_ai = np.array([0.1, 0.7, 0.2, 0.9, 0.6, 0.8])
    sources = ["ffhq", "ffhq", "utkface", "tpdne", "sdfd", "tpdne-b"]
    generators = ["camera", "camera", "camera", "stylegan2", "sd", "stylegan2"]
    table = look_alike_aucs(labels, p_ai, sources, generators)
    # ffhq (0.1, 0.7) vs sd (0.6): one of two pairs ranked right; vs stylegan2 (0.9, 0.8): all four.
    assert table == {"ffhq": {"sd": 0.5, "stylegan2": 1.0}, "utkface": {"sd": 1.0, "stylegan2": 1.0}}
    assert "| ffhq | 0.5000 | 1.0000 |" in look_alike_table({"real_source_vs_generator_auc": table})
