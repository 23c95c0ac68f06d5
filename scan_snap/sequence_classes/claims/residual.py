"""Sec. 7's residual connection, measured: Theorem 2 within each query's classes (docs/model.md,
"The residual connection")."""

import numpy as np

from scan_snap.core import verdicts
from scan_snap.sequence_classes import data
from scan_snap.sequence_classes import results as results_lib
from scan_snap.sequence_classes import sweep
from scan_snap.sequence_classes.claims import common
from scan_snap.sequence_classes.claims import theorems

LOCALLY_DISTINCT = 'locally distinct'  # shared, but with classes of other queries only
LOCALLY_COMMON = 'locally common'  # shared with another class of the same query
DISTINCT = 'distinct'  # on no other class's support


def local_kinds(spec: data.SequenceClasses) -> np.ndarray:
  """[K, S] each support slot's kind within its class's query: LOCALLY_COMMON where another class
  of the same query draws the token, LOCALLY_DISTINCT where only classes of other queries do,
  DISTINCT where no other class does."""
  support, query = spec.support(), spec.class_query()
  on = support[:, :, None, None] == support[None, None, :, :]  # [K, S, K', S']
  on = on.any(axis=-1) & ~np.eye(len(support), dtype=bool)[:, None, :]  # [K, S, K'] other class
  same_query = (query[:, None] == query[None, :])[:, None, :]
  return np.where((on & same_query).any(-1), LOCALLY_COMMON,
                  np.where(on.any(-1), LOCALLY_DISTINCT, DISTINCT))


def _names(kinds: np.ndarray, kind: str) -> list[str]:
  return [f'class {k}, slot {s}' for k, s in zip(*np.nonzero(kinds == kind))]


def residual(changes_on: np.ndarray, changes_off: np.ndarray, kinds: np.ndarray,
             deterministic: bool, where: str = '') -> list[verdicts.Verdict]:
  """Sec. 7 on one cell: z(end) − z(0) [R, K, S] with the residual and, run for run, without it
  (same seeds, so the same batches); kinds [K, S] (local_kinds).

  With the residual, Theorem 2 holds within each query's classes: every locally distinct
  token's logit rises and every locally common token's falls, and every distinct token's, which
  is distinct within its query's classes too, rises. The residual's own effect, paired run by
  run: it raises the change of every locally distinct token and lowers that of every locally
  common one. Each is every_token_above: exact on deterministic dynamics, else a t-test over
  seeds per token (a kind the classes lack gives no verdict).
  """
  checks = []
  for kind, sign, paired in ((LOCALLY_DISTINCT, 1, True), (LOCALLY_COMMON, -1, True),
                             (DISTINCT, 1, False)):
    slots = kinds == kind
    if not slots.any():
      continue
    moved = 'rise' if sign > 0 else 'fall'
    names = _names(kinds, kind)
    checks.append(common.every_token_above(
        f"Sec. 7, with the residual: every {kind} token's logit {moved}s",
        sign * changes_on[:, slots], names, deterministic, moved, where))
    if paired:
      checks.append(common.every_token_above(
          f"Sec. 7: the residual {'raises' if sign > 0 else 'lowers'} every {kind} token's logit "
          'change (paired with the same run without it)',
          sign * (changes_on - changes_off)[:, slots], names, deterministic, moved, where))
  return checks


def without_residual(results: results_lib.Results,
                     group: sweep.GroupResult) -> sweep.GroupResult:
  """The runs paired with the group's, trained without the residual (the reference
  'without_residual'): the same seeds and cells, in the same order."""
  off = results.references['without_residual'][sweep.group_name(group.run_config)]
  if not (np.array_equal(off.seed, group.seed) and np.array_equal(off.cell, group.cell)):
    raise ValueError('the runs without the residual are not those of the group')
  return off


def _residual(results: results_lib.Results) -> list[verdicts.Verdict]:
  checks = []
  for group in results.groups:
    off = without_residual(results, group)
    on_changes, off_changes = (theorems.logit_changes(g.metrics['attn/logits'])
                               for g in (group, off))
    kinds = local_kinds(group.run_config.data)

    def test(runs, num_diverged, where, exact):
      kept = runs & ~off.metrics['diverged']  # A pair counts only when neither run diverged.
      left_out = common.left_out(num_diverged + int((runs & ~kept).sum()))
      return [v.explained(left_out) for v in residual(
          on_changes[kept], off_changes[kept], kinds, exact, where)]

    checks += common.by_cell(group, test)
  return checks


CLAIMS = {
    'residual': verdicts.Claim(
        _residual, references=('without_residual',),
        applies=lambda c: (c.model.residual and common.zero_start(c) and c.optimizer.name == 'sgd'
                           and c.train.trajectories),
        applies_to="SGD from a zero start (model.init='zeros') with the residual "
                   '(model.residual), with train.trajectories'),
}
