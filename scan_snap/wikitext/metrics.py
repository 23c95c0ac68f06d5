"""Measures of a WikiText run's attention over training, from its evaluations (numpy).

Two readings of freezing (paper Fig. 7; docs/reference.md):
  F_t                 the relative change of the probe sequences' attention maps between two
                      evaluations, ‖A_t − A_{t−1}‖_F / ‖A_{t−1}‖_F: a measure on positions
  attended words      the theory's: each frequent query word attends to some key words. P_t(a, ·)
                      is the attention of query word a over key words, grouped by identity,
                      averaged over its occurrences in the evaluation windows; S_t(a), its
                      attended set, the fewest key words holding `mass` of it. The set freezes at
                      t*(a), the first evaluation from which S_t(a) stays S_T(a), the final set;
                      φ(a) = (T − t*(a)) / T is the fraction of training it stayed frozen, and
                      φ₀(a) its value were a's changes spread over training at random
"""

import numpy as np


def freezing(maps_before: np.ndarray, maps_after: np.ndarray) -> np.ndarray:
  """‖A_after − A_before‖_F / ‖A_before‖_F over the last four axes of attention maps
  (…, P, H, L, L): probe sequence, head, query, key."""
  axes = (-4, -3, -2, -1)
  return (np.sqrt(((maps_after - maps_before) ** 2).sum(axis=axes))
          / np.sqrt((maps_before ** 2).sum(axis=axes)))


def freezing_of(history: dict[str, np.ndarray]) -> np.ndarray:
  """(evaluations, R, layers): the freezing measure of the probe maps since the last
  evaluation; NaN at the first."""
  maps = history['attn/maps']
  first = np.full((1, *maps.shape[1:3]), np.nan)
  return np.concatenate([first, freezing(maps[:-1], maps[1:])]) if len(maps) > 1 else first


def attended_sets(token_mass: np.ndarray, mass: float) -> np.ndarray:
  """S(a) as a mask over the key groups (…, Q, K + 1): for each query word a, the fewest key
  groups whose share of P(a, ·) reaches `mass` (the largest first; ties by group order). A query
  word that never occurs (a row of zeros) attends to nothing."""
  total = token_mass.sum(axis=-1, keepdims=True)
  share = np.divide(token_mass, total, out=np.zeros_like(token_mass, float), where=total > 0)
  order = np.argsort(-share, axis=-1, kind='stable')
  ranked = np.take_along_axis(share, order, axis=-1)
  before = np.cumsum(ranked, axis=-1) - ranked  # the share of the larger groups before each
  sets = np.zeros(share.shape, bool)
  np.put_along_axis(sets, order, (before < mass) & (ranked > 0), axis=-1)
  return sets


def changed(sets_ExQxK: np.ndarray) -> np.ndarray:
  """[E − 1, …, Q]: whether a's set changed between consecutive evaluations."""
  return (sets_ExQxK[1:] != sets_ExQxK[:-1]).any(axis=-1)


def frozen_fraction(sets_ExQxK: np.ndarray) -> np.ndarray:
  """φ(a) for sets [E, …, Q, K + 1] of E ≥ 2 evaluations: the fraction of the E − 1 intervals
  after t*(a), the first evaluation from which a's set stays the final one (0: it changed at the
  last evaluation; 1: it never changed)."""
  unchanged_since = np.cumprod(~changed(sets_ExQxK)[::-1], axis=0)  # from the last one back
  return unchanged_since.sum(axis=0) / (len(sets_ExQxK) - 1)


def freeze_step(sets_ExQxK: np.ndarray, steps_E: np.ndarray) -> np.ndarray:
  """The step of t*(a) for sets [E, …, Q, K + 1] evaluated at steps_E."""
  intervals = len(sets_ExQxK) - 1
  t_star = np.rint(intervals * (1 - frozen_fraction(sets_ExQxK))).astype(int)
  return np.asarray(steps_E)[t_star]


def shuffled_frozen_fraction(sets_ExQxK: np.ndarray) -> np.ndarray:
  """φ₀(a): φ(a)'s expected value when a's n(a) changes fall on its m = E − 1 intervals in a
  random order, (m − n) / ((n + 1) m) (the expected run of unchanged intervals after the last of
  n changes placed at random among m): the null of the claim `attended_words_freeze`. It holds
  for a set that changes at a steady rate however often, and φ > φ₀ where the changes come
  early and then stop."""
  intervals = len(sets_ExQxK) - 1
  n = changed(sets_ExQxK).sum(axis=0)
  return (intervals - n) / ((n + 1) * intervals)
