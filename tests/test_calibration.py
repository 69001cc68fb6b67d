import numpy as np

from realorai.calibration import fit_temperature, softmax
from realorai.metrics import expected_calibration_error


def simulated_logits(scale: float, n: int = 4000, seed: int = 0):
    """Logits whose true probability is sigmoid(z) but which are reported as scale * z."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.0, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    logits = np.stack([np.zeros(n), scale * z], axis=1)
    return logits, labels


def test_overconfident_logits_get_a_temperature_above_one_and_lower_ece():
    logits, labels = simulated_logits(scale=3.0)
    temperature = fit_temperature(logits, labels)
    assert 2.5 < temperature < 3.5  # recovers the injected over-confidence
    before = expected_calibration_error(labels, softmax(logits)[:, 1])
    after = expected_calibration_error(labels, softmax(logits, temperature)[:, 1])
    assert before > 0.08 and after < before / 3


def test_underconfident_logits_get_a_temperature_below_one():
    logits, labels = simulated_logits(scale=0.4)
    assert 0.3 < fit_temperature(logits, labels) < 0.5


def test_temperature_keeps_the_ranking():
    logits, _ = simulated_logits(scale=3.0, n=50)
    assert np.array_equal(np.argsort(softmax(logits)[:, 1]), np.argsort(softmax(logits, 2.7)[:, 1]))


def test_temperature_divides_the_logits():
    """softmax(z, T) is softmax(z / T): a model that multiplied instead would fail here, whatever fit returns."""
    z = np.array([[0.0, 2.0]])
    assert np.allclose(softmax(z, 2.0), softmax(z / 2.0)) and softmax(z, 2.0)[0, 1] < softmax(z)[0, 1]
