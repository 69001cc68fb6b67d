"""Temperature scaling: one scalar that turns over-confident logits into honest probabilities; P(AI) from a
model's logits (one AI class or one per kind of AI image); and the probability <-> log-odds maps the
thresholds and ensembles work in."""

from __future__ import annotations

import numpy as np
import torch

from .config import AI_INDEX, REAL_INDEX


def fit_temperature(logits: np.ndarray, labels: np.ndarray, real_index: int = REAL_INDEX) -> float:
    """Temperature T > 0 minimising the negative log-likelihood of P(AI) = 1 - softmax(logits / T)[real] on
    held-out data (`labels`: the dataset's real/AI). With two classes that is softmax's own cross-entropy;
    with a class per kind of AI image, the kinds' probabilities are summed first, as the app reads them."""
    logits_t = torch.as_tensor(logits, dtype=torch.float64)
    is_ai = torch.as_tensor(np.asarray(labels) == AI_INDEX, dtype=torch.float64)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)  # optimise log T so T stays positive
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        # P(AI) = sigmoid(its log-odds), since P(AI) + P(real) = 1: the NLL is the binary cross-entropy
        loss = torch.nn.functional.binary_cross_entropy_with_logits(ai_log_odds(logits_t / log_t.exp(), real_index), is_ai)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp().clamp(0.05, 20.0))


def ai_log_odds(logits: torch.Tensor, real_index: int = REAL_INDEX) -> torch.Tensor:
    """log P(AI) - log P(real) per row, from logits with one AI class or one per kind of AI image: what the
    temperature is fitted on and what Grad-CAM follows."""
    ai = [c for c in range(logits.shape[1]) if c != real_index]
    return torch.logsumexp(logits[:, ai], dim=1) - logits[:, real_index]


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def ai_probability(logits: np.ndarray, temperature: float = 1.0, real_index: int = REAL_INDEX) -> np.ndarray:
    """P(AI) of each row: the summed probability of every class but "real" (the AI class, or each kind of
    AI image), summed rather than 1 - P(real) so that tiny values keep their order."""
    p = softmax(logits, temperature)
    return np.delete(p, real_index, axis=1).sum(axis=1)


def logit(p) -> np.ndarray:
    """Log-odds of probabilities, clipped away from 0 and 1 so they stay finite."""
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def sigmoid(x) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(x, np.float64)))
