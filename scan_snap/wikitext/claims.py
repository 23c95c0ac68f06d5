"""The paper's claims on WikiText (Sec. 8, Appendix G), measured on a trained grid, each with a
verdict (core.verdicts: an effect, its uncertainty, a test at level α).

CLAIMS is the registry that config.report.claims names; each entry gives the verdicts of its
claim on a results.Results:

  'entropy_falls_with_lr'  Fig. 10: the final attention entropy on the evaluation split falls
                           as the learning rate η grows
  'entropy_rises_with_lr_factor'  Sec. 6: the final attention entropy rises with the factor
                           of an axis group (η_Y/η_Z for the Y/Z model: η_Y ≫ η_Z denser)
  'attention_freezes'      Fig. 7: the first layer's attention freezes: the freezing measure
                           F_t = ‖A_t − A_{t−1}‖_F / ‖A_{t−1}‖_F falls and stays low
  'attended_words_freeze'  Fig. 7 as the theory states it, on words: the set of key words of
                           its context (its own position left out) that each frequent query
                           word attends to stops changing, for longer than it would were its
                           changes spread over training at random; one verdict per layer, the
                           first layer first
  'attention_turns_dense'  JoMA (Tian et al. 2023): a layer's attention turns sparse, then dense
                           again while the validation loss still falls (so not as overfitting);
                           one verdict per layer, the first layer first

The unit of every test is the seed: runs of one seed share their initialization and dropout
noise, so only seeds are independent samples. Diverged runs are left out and counted.
"""

import dataclasses
import math

import numpy as np

from scan_snap.core import verdicts
from scan_snap.wikitext import results as results_lib

ENTROPY_CLAIM = 'Fig. 10: the final attention entropy falls as η grows'
FACTOR_CLAIM = 'Sec. 6: the final attention entropy rises with the factor of {pattern}'
FREEZING_CLAIM = 'Fig. 7: first-layer attention freezes (F_t falls and stays low)'
WORDS_CLAIM = 'Fig. 7: the key words each query word attends to stop changing (layer {layer})'
TURN_CLAIM = ('JoMA: attention turns sparse, then dense again before the validation loss stops '
              'falling (layer {layer})')


def entropy_falls_with_lr(lr, seed, final_entropy, diverged, depth=None) -> verdicts.Verdict:
  """Fig. 10. For seed s, b_s is the least-squares slope of the final entropy H against ln η
  over the seed's non-diverged runs (with a depth axis, `depth`: within each depth, b_s the
  mean of the depths' slopes); the seed's effect is d_s = −b_s · ln(η_max/η_min), the fitted
  fall of H across the grid's rates, in nats. Pass when mean_s d_s > 0 by a one-sided t-test
  over seeds (verdicts.above).

  lr, seed, final_entropy, diverged, depth: [R] per run."""
  return _entropy_trend(ENTROPY_CLAIM, ('η', 'rates'), -1, lr, seed, final_entropy, diverged,
                        depth)


def entropy_rises_with_lr_factor(factor, seed, final_entropy, diverged, pattern: str,
                                 depth=None) -> verdicts.Verdict:
  """Sec. 6 (at fixed η_Z, a larger η_Y makes attention denser), for the group `pattern` whose
  factor × η is a grid axis (η_Y/η_Z for the Y/Z model's 'Y_'): as entropy_falls_with_lr with
  the factor in place of η and the sign turned, the seed's effect d_s = b_s · ln(f_max/f_min) is
  the fitted rise of H across the factors; pass when mean_s d_s > 0 (one-sided t-test).

  factor, seed, final_entropy, diverged, depth: [R] per run."""
  return _entropy_trend(FACTOR_CLAIM.format(pattern=pattern),
                        (f'factor of {pattern}', 'factors'), 1, factor, seed, final_entropy,
                        diverged, depth)


def _entropy_trend(claim: str, names: tuple[str, str], sign: int, x, seed, final_entropy,
                   diverged, depth=None) -> verdicts.Verdict:
  """The fitted change of the final entropy across the values of x (names: x's and its values'
  words), its sign turned by `sign` (−1: a fall is the effect), per seed (the mean of its fits
  within each depth, with `depth`); tested > 0 over seeds."""
  name, plural = names
  x, seed = np.asarray(x, float), np.asarray(seed)
  depth = np.zeros(len(seed), int) if depth is None else np.asarray(depth)
  final_entropy, diverged = np.asarray(final_entropy, float), np.asarray(diverged, bool)
  kept = ~diverged & np.isfinite(final_entropy)
  values = np.unique(x)
  left_out = f'{int(diverged.sum())} diverged runs left out'
  if len(values) < 2:
    return verdicts.above(claim, [], measured=f'the grid has a single {name} ({values[0]:g}): '
                          f'no trend in {name} to measure; {left_out}')
  span = float(np.log(values[-1] / values[0]))
  changes, seeds = [], np.unique(seed)
  for s in seeds:
    fits = []
    for d in np.unique(depth):
      sel = kept & (seed == s) & (depth == d)
      if len(np.unique(x[sel])) >= 2:
        fits.append(sign * float(np.polyfit(np.log(x[sel]), final_entropy[sel], 1)[0]) * span)
    if fits:
      changes.append(float(np.mean(fits)))
  by_value = ', '.join(f'{v:g}: {final_entropy[kept & (x == v)].mean():.3f}' for v in values
                       if (kept & (x == v)).any())
  measured = (f'fitted {"fall" if sign < 0 else "rise"} of H from {name}={values[0]:g} to '
              f'{name}={values[-1]:g} per seed {np.array2string(np.array(changes), precision=3)}'
              f' nats ({len(seeds) - len(changes)} seeds without 2 non-diverged {plural}); '
              f'mean final H by {name}: {by_value}; {left_out}')
  return verdicts.above(claim, changes, measured=measured)


def attention_freezes(seed, freezing_ExR, diverged) -> verdicts.Verdict:
  """Fig. 7. F_e is the freezing measure between evaluations e − 1 and e (e = 1 … E − 1;
  freezing_ExR[0] is NaN); the early window is its first k = max(1, ⌊(E − 1)/3⌋) evaluations,
  the late window its last k. A run's effect is ln(mean_early F) − ln(max_late F): positive when
  every late F_e lies below the early mean, i.e. F fell and did not rise back. The seed's effect
  is the mean over its non-diverged runs; pass when its mean over seeds is > 0 by a one-sided
  t-test (verdicts.above).

  seed, diverged: [R] per run; freezing_ExR: [E, R] the first layer's F at each evaluation."""
  seed, diverged = np.asarray(seed), np.asarray(diverged, bool)
  f = np.asarray(freezing_ExR, float)[1:]
  left_out = f'{int(diverged.sum())} diverged runs left out'
  if len(f) < 2:
    return verdicts.above(FREEZING_CLAIM, [], measured=f'{len(f)} evaluations after step 0: at '
                          f'least 2 are needed for an early and a late window; {left_out}')
  k = max(1, len(f) // 3)
  early, late = f[:k].mean(axis=0), f[-k:].max(axis=0)
  tiny = np.finfo(float).tiny  # F = 0 (maps unchanged) stays finite on the log scale.
  fall = np.log(np.maximum(early, tiny)) - np.log(np.maximum(late, tiny))
  kept = ~diverged & np.isfinite(fall)
  falls = [float(fall[kept & (seed == s)].mean()) for s in np.unique(seed[kept])]
  measured = (f'F over evaluations 1…{len(f)}: early window (first {k}) mean '
              f'{early[kept].mean():.3g}, late window (last {k}) max {late[kept].mean():.3g} '
              f'(means over {int(kept.sum())} runs); ln(early mean / late max) per seed '
              f'{np.array2string(np.array(falls), precision=3)}; {left_out}')
  return verdicts.above(FREEZING_CLAIM, falls, measured=measured)


def attended_words_freeze(seed, frozen_RxQ, null_RxQ, occurs_Q, freeze_step_RxQ, own_RxQ,
                          diverged, layer: int) -> verdicts.Verdict:
  """Fig. 7 on words, for one layer. φ(a) is the fraction of training over which query word a's
  attended set stayed its final one (metrics.frozen_fraction) and φ₀(a) its expected value were
  a's changes spread over training in a random order (the null: a set that changes at a steady
  rate, however often, never settles). A run's effect is the mean over the query words that
  occur of φ(a) − φ₀(a): > 0 when the changes come early and then stop, 0 in expectation under
  the null, < 0 when they come late. The seed's effect is the mean over its non-diverged runs;
  pass when its mean over seeds is > 0 by a one-sided t-test (verdicts.above).

  seed, diverged: [R]; frozen_RxQ, null_RxQ, freeze_step_RxQ, own_RxQ (the share of the
  attention on the query's own position, at the end): [R, Q]; occurs_Q: [Q] bool."""
  seed, diverged = np.asarray(seed), np.asarray(diverged, bool)
  occurs = np.asarray(occurs_Q, bool)
  frozen, null = np.asarray(frozen_RxQ, float)[:, occurs], np.asarray(null_RxQ, float)[:, occurs]
  gain = (frozen - null).mean(axis=1)
  kept = ~diverged & np.isfinite(gain)
  gains = [float(gain[kept & (seed == s)].mean()) for s in np.unique(seed[kept])]
  steps = np.asarray(freeze_step_RxQ, float)[kept][:, occurs]
  own = np.asarray(own_RxQ, float)[kept][:, occurs]
  measured = (f'{int(occurs.sum())} query words; φ, the fraction of training their attended sets '
              f'stayed final: {frozen[kept].mean():.3f} against {null[kept].mean():.3f} with '
              f'their changes in random order; words whose set froze for the last half or more: '
              f'{(frozen[kept] >= 0.5).mean():.0%}; median freeze step '
              f'{np.median(steps) if steps.size else math.nan:g}; attention on the query\'s own '
              f'position at the end: {own.mean() if own.size else math.nan:.0%}; φ − φ₀ per seed '
              f'{np.array2string(np.array(gains), precision=3)}; '
              f'{int(diverged.sum())} diverged runs left out')
  return verdicts.above(WORDS_CLAIM.format(layer=layer), gains, measured=measured)


def attention_turns_dense(seed, entropy_ExR, val_loss_ExR, step_E, diverged,
                          layer: int) -> verdicts.Verdict:
  """JoMA, for one layer. A run's evaluations after step 0 are split in pairs (e, e + 1), e odd:
  its turn e* is the e of least attention entropy H, and v* the e of least validation loss; its
  fall is H(0) − H(e* + 1), its rise H(max(e*, v*) + 1) − H(e* + 1) (0 when the validation loss
  stops falling first, as in overfitting), and its effect the lesser of the two, in nats: the
  depth of the valley its entropy crossed before the validation minimum. Locating the turn on
  the odd evaluations and measuring on the even ones keeps the noise that chose the turn out of
  the measure, so that a layer whose entropy falls and then stays flat, or only rises, has
  effects of mean ≤ 0, and seeds stay independent samples. The seed's effect is the mean over
  its runs; pass when its mean over seeds is > 0 by a one-sided t-test (verdicts.above).

  seed, diverged: [R]; entropy_ExR, val_loss_ExR: [E, R] (this layer's H; NaN in a run that
  lacks the layer); step_E: [E]."""
  seed, diverged = np.asarray(seed), np.asarray(diverged, bool)
  entropy, loss = np.asarray(entropy_ExR, float), np.asarray(val_loss_ExR, float)
  step = np.asarray(step_E)
  has_layer = np.isfinite(entropy[0])
  kept = ~diverged & has_layer & np.isfinite(entropy).all(axis=0) & np.isfinite(loss).all(axis=0)
  located = np.arange(1, len(step) - 1, 2)  # e: the first of each pair (e, e + 1)
  left_out = (f'{int(diverged.sum())} diverged runs and {int((~has_layer).sum())} without '
              f'layer {layer} left out')
  if not len(located) or not kept.any():
    return verdicts.above(TURN_CLAIM.format(layer=layer), [], measured=(
        f'{len(step)} evaluations: at least 3 are needed, step 0 and a pair; ' if not len(located)
        else 'no run to measure; ') + left_out)
  runs = np.arange(len(seed))
  turn = located[entropy[located].argmin(axis=0)]  # [R]
  least_loss = located[loss[located].argmin(axis=0)]
  end = np.maximum(turn, least_loss)
  at_turn = entropy[turn + 1, runs]
  fall, rise = entropy[0] - at_turn, entropy[end + 1, runs] - at_turn
  effect = np.minimum(fall, rise)
  effects = [float(effect[kept & (seed == s)].mean()) for s in np.unique(seed[kept])]
  pair = lambda e: f'{np.median(step[e[kept]]):g}–{np.median(step[e[kept] + 1]):g}'
  measured = (f'over {int(kept.sum())} runs, each located on an evaluation and read on the next:'
              f' the turn (least H) at median steps {pair(turn)}, the validation minimum at '
              f'{pair(least_loss)} (before the turn in {int((least_loss < turn)[kept].sum())} '
              f'runs); mean H {entropy[0, kept].mean():.3f} nats at step 0, '
              f'{at_turn[kept].mean():.3f} after the turn, '
              f'{entropy[end + 1, runs][kept].mean():.3f} after the validation minimum (or the '
              f'turn, if later), {entropy[-1, kept].mean():.3f} at the last step {step[-1]}; '
              f"lesser of fall and rise per seed [{', '.join(f'{x:.3g}' for x in effects)}] nats; "
              + left_out)
  return verdicts.above(TURN_CLAIM.format(layer=layer), effects, measured=measured)


def overfitting(val_loss_ExR, diverged) -> str:
  """In words: in how many non-diverged runs the validation loss ends above its minimum (the
  runs overfit, or train unstably)."""
  loss = np.asarray(val_loss_ExR, float)[:, ~np.asarray(diverged, bool)]
  rise = loss[-1] - loss.min(axis=0)
  rising = rise > 0
  if not rising.any():
    return f'the validation loss ends at its minimum in all {loss.shape[1]} runs'
  return (f'the validation loss ends above its minimum in {int(rising.sum())} of '
          f'{loss.shape[1]} runs (by {rise[rising].mean():.3g} nats on average)')


def _runs(results: results_lib.Results) -> dict[str, np.ndarray]:
  """Per run: 'seed', 'lr' (η), 'diverged', and 'depth' (None without a depth axis)."""
  return {'seed': np.array([r['seed'] for r in results.runs]),
          'lr': np.array([r['lr'] for r in results.runs]),
          'diverged': np.array([row['diverged'] for row in results.rows]),
          'depth': np.array([r['num_layers'] for r in results.runs])
                   if results.readings.depth_axis else None}


def _entropy_explained(results: results_lib.Results, verdict: verdicts.Verdict,
                       diverged: np.ndarray) -> verdicts.Verdict:
  history = results.history
  layers = ("each run's layers" if results.readings.depth_axis
            else f'{history["attn/entropy"].shape[-1]} layers')
  return verdict.explained(
      f'H: mean over {layers} at step {history["step"][-1]} '
      f'(uniform attention: {results.uniform_entropy:.3f}); '
      + overfitting(history['eval/loss'], diverged))


def _final_entropy(results: results_lib.Results) -> np.ndarray:
  """[R] each run's final attention entropy, the mean over its layers."""
  final, has = results.history['attn/entropy'][-1], results.has_layer
  # Divided in the entropy's own dtype, as its mean over every layer would be.
  return np.where(has, final, 0).sum(axis=-1) / has.sum(axis=-1).astype(final.dtype)


def _entropy(results: results_lib.Results) -> list[verdicts.Verdict]:
  runs, final = _runs(results), _final_entropy(results)
  return [_entropy_explained(results, entropy_falls_with_lr(
      runs['lr'], runs['seed'], final, runs['diverged'], runs['depth']), runs['diverged'])]


def _entropy_by_factor(results: results_lib.Results) -> list[verdicts.Verdict]:
  """One verdict per axis group; without one, one inconclusive verdict that says so."""
  runs, final = _runs(results), _final_entropy(results)
  axes = results.readings.axis_patterns
  if not axes:
    return [verdicts.above(FACTOR_CLAIM.format(pattern='a group'), [], measured=(
        'no group of optimizer.lr_groups has a tuple of factors (a grid axis): no trend to '
        'measure'))]
  return [_entropy_explained(results, entropy_rises_with_lr_factor(
      [run[key] for run in results.runs], runs['seed'], final, runs['diverged'], pattern,
      runs['depth']), runs['diverged']) for pattern, key in zip(axes, results.readings.axis_keys)]


def _freezing(results: results_lib.Results) -> list[verdicts.Verdict]:
  runs = _runs(results)
  verdict = attention_freezes(runs['seed'], results.freezing[:, :, 0], runs['diverged'])
  return [dataclasses.replace(verdict, layer=0).explained(
      overfitting(results.history['eval/loss'], runs['diverged']))]


def _attended_words(results: results_lib.Results) -> list[verdicts.Verdict]:
  runs, attended = _runs(results), results.attended
  return [dataclasses.replace(attended_words_freeze(
      runs['seed'], attended.frozen[:, layer], attended.null[:, layer], attended.occurs,
      attended.freeze_step[:, layer], attended.own[:, layer], runs['diverged'], layer),
                              layer=layer).explained(
                                  overfitting(results.history['eval/loss'], runs['diverged']))
          for layer in range(attended.frozen.shape[1])]


def _turns(results: results_lib.Results) -> list[verdicts.Verdict]:
  runs, history = _runs(results), results.history
  return [dataclasses.replace(attention_turns_dense(
      runs['seed'], history['attn/entropy'][:, :, layer], history['eval/loss'], history['step'],
      runs['diverged'], layer), layer=layer).explained(
          overfitting(history['eval/loss'], runs['diverged']))
          for layer in range(history['attn/entropy'].shape[2])]


CLAIMS = {
    'entropy_falls_with_lr': verdicts.Claim(_entropy),
    'entropy_rises_with_lr_factor': verdicts.Claim(_entropy_by_factor),
    'attention_freezes': verdicts.Claim(_freezing),
    'attended_words_freeze': verdicts.Claim(_attended_words),
    'attention_turns_dense': verdicts.Claim(_turns),
}
