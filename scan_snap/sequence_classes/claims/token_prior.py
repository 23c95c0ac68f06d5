"""Sec. 7's learned token prior b, measured: Theorem 2 carried over to it (docs/model.md, "A
learned token prior")."""

import numpy as np

from scan_snap.core import verdicts
from scan_snap.sequence_classes import results as results_lib
from scan_snap.sequence_classes.claims import common
from scan_snap.sequence_classes.claims import theorems

CLAIM = "Sec. 7: every {kind} token's prior b {moves}"


def tokens_once(support_KxS: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The U distinct token ids of the supports, and the index into the flattened [K·S] of each
  one's first place (a common token lies on the supports of several classes)."""
  return np.unique(support_KxS, return_index=True)


def by_token(b_RxKxS: np.ndarray, support_KxS: np.ndarray, is_distinct_S: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, list[str]]:
  """b per contextual token rather than per class and slot (one b per token): ([R, 1, U] b,
  [U] is_distinct, U names) over the U distinct ids of the supports."""
  tokens, first = tokens_once(support_KxS)
  slot = first % support_KxS.shape[1]
  return (b_RxKxS.reshape(len(b_RxKxS), -1)[:, first][:, None], is_distinct_S[slot],
          [f'token {t}' for t in tokens])


def _token_prior(results: results_lib.Results) -> list[verdicts.Verdict]:
  return theorems.frequency_bias_by_cell(results, lambda group: by_token(
      group.metrics['prior/b'], group.run_config.data.support(),
      group.run_config.data.is_distinct()), CLAIM)


CLAIMS = {
    'token_prior': verdicts.Claim(
        _token_prior,
        applies=lambda c: c.model.token_prior and common.zero_start(c) and c.optimizer.name == 'sgd',
        applies_to="SGD from a zero start (model.init='zeros') with the token prior "
                   '(model.token_prior)'),
}
