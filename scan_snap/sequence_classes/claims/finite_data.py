"""Sec. 9, finite data: a larger training set suppresses the common tokens that a small one makes
look distinct."""

import math

import numpy as np

from scan_snap.core import verdicts
from scan_snap.sequence_classes.claims import common


def _means_by_size(rows: list[dict], value: str) -> str:
  """The mean of `value` over the non-diverged runs of each N, in words."""
  sizes = sorted({r['train_set_size'] for r in rows if r['train_set_size']})
  means = [np.nanmean([r[value] for r in rows if r['train_set_size'] == n and not r['diverged']])
           for n in sizes]
  return 'mean by N: ' + ', '.join(f'{n}: {m:.3g}' for n, m in zip(sizes, means))


def spurious_tokens(rows: list[dict]) -> list[verdicts.Verdict]:
  """Sec. 9 on finite_data rows: as the training set grows, the attention on the common tokens
  that the set made look distinct (spurious_attention) and the correlation of their logit
  changes with that distinctness (correlation) fall. Per seed and line (num_last, T, η_Y, η_Z)
  the slope of each on ln N over the finite N; per seed the mean over lines; a one-sided t-test
  over seeds that it is below 0. Effects per unit of ln N."""
  num_diverged = sum(r['diverged'] for r in rows)
  checks = []
  for claim, value in (
      ('Sec. 9: attention on spurious common tokens falls as N grows (slope of Σ c̃ sign(d) '
       'over common tokens on ln N)', 'spurious_attention'),
      ('Sec. 9: the correlation of common-token logits with their distinctness in the '
       'training set falls as N grows (slope of r on ln N)', 'correlation')):
    slopes = common.seed_slopes(rows, value)
    undefined = sum(r['train_set_size'] > 0 and not r['diverged'] and not math.isfinite(r[value])
                    for r in rows)  # e.g. a class absent from a tiny set: no d to measure
    checks.append(common.contrast_verdict(claim, slopes, -1, _means_by_size(rows, value)).explained(
        common.left_out(num_diverged)).explained(
            f'{undefined} runs left out with no finite {value}' if undefined else ''))
  return checks


CLAIMS = {
    'spurious_tokens': verdicts.Claim(
        lambda results: spurious_tokens(results.finite_data), tables=('finite_data',),
        applies=lambda c: (c.train.dynamics == 'sampled' and c.train.trajectories
                           and sum(n > 0 for n in c.data.train_set_size) >= 2),
        applies_to='sampled training on two or more finite sets (data.train_set_size), with '
                   'train.trajectories'),
}
