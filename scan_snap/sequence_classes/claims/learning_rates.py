"""The learning-rate claims: Sec. 6 (η_Z sparsens, η_Y beyond η_Z densens), read on the entropy
and on the recall curves (Figs. 11–12), Figs. 4 and 5, and the phase diagram of the plane."""

import math

import numpy as np

from scan_snap.core import verdicts
from scan_snap.sequence_classes import results as results_lib
from scan_snap.sequence_classes.claims import common


# The η_Z of Syn-Medium's grid, where Sec. 6 finds attention denser beyond η_Y ≈ η_Z: the
# phase diagram tests that claim there.
PHASE_WINDOW_LR_Z = (0.5, 3.0)


# Sec. 6.

def learning_rates(rows: list[dict]) -> list[verdicts.Verdict]:
  """Sec. 6 on per-run rows, seeds paired (a seed shares its start and batches across rates).

  Sparser with η_Z: on each line (num_last, T, η_Y/η_Z), entropy at the largest η_Z minus at
  the smallest; denser beyond η_Z: on each line (num_last, T, η_Z), entropy at the largest
  η_Y/η_Z minus at the second largest. Per seed, the mean over lines; a one-sided t-test over
  seeds that it is below 0 (sparser) or above 0 (denser). Effects in nats.
  """
  sparser = common.seed_contrasts(rows, ('num_last', 'seq_len', 'lr_y_over_lr_z'), 'lr_z', 0, -1)
  denser = common.seed_contrasts(rows, ('num_last', 'seq_len', 'lr_z'), 'lr_y_over_lr_z', -2, -1)
  num_diverged = sum(row['diverged'] for row in rows)
  checks = []
  for claim, contrasts, sign in (
      ('Sec. 6: larger η_Z gives sparser final attention (entropy at the largest η_Z minus at '
       'the smallest is below 0)', sparser, -1),
      ('Sec. 6: at fixed η_Z, η_Y beyond η_Z makes attention denser (entropy at the largest '
       'η_Y/η_Z minus at the second largest is above 0)', denser, 1)):
    checks.append(common.contrast_verdict(claim, contrasts, sign, common.by_num_last(contrasts) if contrasts
                                   else '').explained(common.left_out(num_diverged)))
  return checks


# Figs. 11–12.

def recall_curves(rows: list[dict], lr_y: float, lr_z: float) -> list[verdicts.Verdict]:
  """Figs. 11–12 on per-run rows with 'recall_spread', r(θ_max) − r(θ_min): a sparser map
  starts lower and ends higher, so its spread is larger (nearer 0).

  At the figure's fixed η_Y, spread at the largest η_Z minus at the smallest is above 0
  (larger η_Z sparsens); at its fixed η_Z, spread at the largest η_Y minus at the smallest is
  below 0 (η_Y beyond η_Z makes attention denser). Per seed the mean over num_last, a
  one-sided t-test over seeds.
  """
  same = results_lib.same_rate
  checks = []
  for claim, fixed, line_keys, axis, sign in (
      (f'Figs. 11–12: at η_Y={lr_y:g}, larger η_Z gives a sparser map (recall starts lower '
       'and ends higher)', lambda r: same(r['lr_y'], lr_y), ('num_last', 'seq_len', 'lr_y'),
       'lr_z', 1),
      (f'Figs. 11–12: at η_Z={lr_z:g}, larger η_Y gives a denser map (recall starts higher '
       'and ends lower)', lambda r: same(r['lr_z'], lr_z), ('num_last', 'seq_len', 'lr_z'),
       'lr_y', -1)):
    chosen = [r for r in rows if fixed(r)]
    contrasts = common.seed_contrasts(chosen, line_keys, axis, 0, -1, value='recall_spread')
    checks.append(common.contrast_verdict(claim, contrasts, sign, common.by_num_last(contrasts) if contrasts
                                   else '').explained(
        common.left_out(sum(r['diverged'] for r in chosen))))
  return checks


def _recall_curves(results: results_lib.Results) -> list[verdicts.Verdict]:
  spreads = np.concatenate([r[:, np.argmax(th)] - r[:, np.argmin(th)] for r, th in
                            zip(results.run_recall, results.recall_thresholds)])
  rows = [{**row, 'recall_spread': float(x)} for row, x in zip(results.rows, spreads)]
  return recall_curves(rows, results.readings.recall_lr_y, results.readings.recall_lr_z)


# Figs. 4 and 5.

def _means_by_rate(rows: list[dict], key: str) -> str:
  """The mean of `key` over the non-diverged seeds of each (η_Z, η_Y) cell, in words."""
  cells: dict[float, dict[float, list]] = {}
  for row in rows:
    if not row['diverged']:
      cells.setdefault(row['lr_z'], {}).setdefault(row['lr_y'], []).append(row[key])
  return '; '.join(f'η_Z={z:g}: ' + ', '.join(f'η_Y={y:g} {np.mean(v):.3g}'
                                            for y, v in sorted(by_y.items()))
                   for z, by_y in sorted(cells.items()))


def convergence_vs_sparsity(rows: list[dict], loss_threshold: float) -> list[verdicts.Verdict]:
  """Fig. 4 on per-run rows, seeds paired: on each line (num_last, T, η_Z), the largest η_Y
  against the smallest. Faster: `steps_to_loss` (the first step with training loss ≤
  `loss_threshold`) at the largest η_Y minus at the smallest is below 0; a run that never
  reaches the threshold counts as its length `steps` — a censoring that may shrink a seed's
  contrast, even to 0, but never creates or reverses one. Less sparse: the final entropy at
  the largest η_Y minus at the smallest is above 0. Per seed the mean over lines; one-sided
  t-tests over seeds. Effects in steps and nats."""
  never = sum(math.isnan(row['steps_to_loss']) for row in rows if not row['diverged'])
  timed = [dict(row, steps_to_loss=row['steps'] if math.isnan(row['steps_to_loss'])
                else row['steps_to_loss']) for row in rows]
  num_diverged = sum(row['diverged'] for row in rows)
  checks = []
  for claim, value, sign, measured in (
      ('Fig. 4: at fixed η_Z, larger η_Y converges faster (steps to the loss threshold at the '
       'largest η_Y minus at the smallest is below 0)', 'steps_to_loss', -1,
       f'threshold {loss_threshold:g} nats; mean steps {_means_by_rate(timed, "steps_to_loss")}; '
       f'{never} runs never reached it (counted as the run length)'),
      ('Fig. 4: at fixed η_Z, larger η_Y gives less sparse attention (final entropy at the '
       'largest η_Y minus at the smallest is above 0)', 'entropy', 1,
       f'mean entropy (nats) {_means_by_rate(rows, "entropy")}')):
    contrasts = common.seed_contrasts(timed, ('num_last', 'seq_len', 'lr_z'), 'lr_y', 0, -1, value)
    checks.append(common.contrast_verdict(claim, contrasts, sign, measured).explained(
        common.left_out(num_diverged)))
  return checks


def adam_subsets(attended: np.ndarray, rate_names: list[str], token_ids: np.ndarray,
                 where: str = '') -> verdicts.Verdict:
  """Fig. 5: different learning rates end on different subsets of distinct tokens.
  attended [seeds, rates, K, U]: whether each distinct token ends attended (results.attended);
  token_ids [K, U]. The distance between two rates is the mean over tokens of the difference
  of their attended frequencies over seeds, averaged over pairs of rates; a permutation test
  with the rate labels permuted within each seed (verdicts.permutation, fixed key). `measured`
  lists per rate the tokens that more than half of the seeds attend."""
  majority = np.asarray(attended).mean(axis=0) > 0.5 if len(attended) else []
  subsets = '; '.join(f'{name}: {{{", ".join(str(t) for t in token_ids[m])}}}'
                      for name, m in zip(rate_names, majority))
  return verdicts.permutation(
      'Fig. 5: different learning rates end on different subsets of distinct tokens '
      '(mean difference of attended frequencies between rates)', attended,
      measured='; '.join(t for t in (where, subsets) if t))


def _adam_subsets(results: results_lib.Results) -> list[verdicts.Verdict]:
  """Per group, the seeds none of whose runs diverged, each at every learning-rate cell."""
  checks = []
  for group, attended in zip(results.groups, results.attended):
    cells = sorted(results_lib.cells_by_rate(group), key=lambda cell: cell[:0:-1])  # by (η_Z, η_Y)
    diverged = group.metrics['diverged']
    seeds = [s for s in np.unique(group.seed) if not diverged[group.seed == s].any()]
    index = np.array([[np.flatnonzero((group.seed == s) & (group.cell == cell))[0]
                       for cell, _, _ in cells] for s in seeds], int)
    index = index.reshape(len(seeds), len(cells))
    names = [f'η={y:g}' if y == z else f'η_Y={y:g}, η_Z={z:g}' for _, y, z in cells]
    spec = group.run_config.data
    token_ids = spec.support()[:, spec.is_distinct()]
    num_left_out = len(np.unique(group.seed)) - len(seeds)
    checks.append(adam_subsets(attended[index], names, token_ids, common.where(group)).explained(
        f'{num_left_out} seeds with a diverged run left out' if num_left_out else ''))
  return checks


# Beyond the paper: the phase diagram of the learning-rate plane.

def ray_index(axes) -> np.ndarray | None:
  """[len(lr_z), len(lr_y)] the ray η_Y/η_Z = const of each cell of the axes (a config.Grid,
  or config.optimizer: lr_z, lr_y, lr_y_relative), as an index ≥ 0: i_y on a grid of relative
  rates, i_y − i_z + len(lr_z) − 1 on a grid whose two axes hold the same log-spaced rates;
  None on other grids, which have no rays through several cells."""
  lr_z, lr_y = tuple(axes.lr_z), tuple(axes.lr_y)
  i_z, i_y = np.meshgrid(np.arange(len(lr_z)), np.arange(len(lr_y)), indexing='ij')
  if axes.lr_y_relative:
    return i_y
  same_axes = lr_z == lr_y and len(lr_z) > 2 and np.allclose(
      np.diff(np.log(lr_z)), np.log(lr_z[1] / lr_z[0]), rtol=1e-3)
  return i_y - i_z + len(lr_z) - 1 if same_axes else None


def _ranges(rates: list[float]) -> str:
  """Runs of consecutive grid rates, as 'a–b' (or 'a'), joined by commas."""
  return ', '.join(f'{r[0]:g}–{r[-1]:g}' if len(r) > 1 else f'{r[0]:g}' for r in rates) or 'none'


def signs_by_line(slopes: dict[int, dict[int, float]], rates: np.ndarray) -> str:
  """Where the per-line slopes are above or below 0 (one-sided t-tests over seeds, α)."""
  runs = {verdicts.PASS: [], verdicts.FAIL: []}
  previous = None
  for line in sorted(slopes):
    verdict = verdicts.above('', list(slopes[line].values())).verdict
    if verdict in runs:
      if previous == (verdict, line - 1):
        runs[verdict][-1].append(float(rates[line]))
      else:
        runs[verdict].append([float(rates[line])])
    previous = (verdict, line)
  return f'above 0 at {_ranges(runs[verdicts.PASS])}; below 0 at {_ranges(runs[verdicts.FAIL])}'


def phase_diagram(entropy: np.ndarray, t0: np.ndarray, lr_z: np.ndarray, lr_y: np.ndarray,
                  rays: np.ndarray, window_lr_z: tuple[float, float], predicted_t0: np.ndarray,
                  steps: int) -> list[verdicts.Verdict]:
  """The learning-rate plane on [seeds, len(lr_z), len(lr_y)] arrays of final entropy and t₀
  (NaN: diverged, or no t₀), the cells' rates, rays (ray_index) and the theory's t₀ = 2K ln M
  (1 − β)/η_Y (β: the momentum), all [len(lr_z), len(lr_y)]. Slopes in nats per e-fold.

  Sparser along rays: per seed and ray η_Y/η_Z = const, the slope of entropy on ln η_Z; per
  seed the mean over rays; below 0 by a one-sided t-test over seeds. Denser beyond η_Y ≈ η_Z:
  per seed and η_Z in `window_lr_z`, the slope of entropy on ln η_Y over 1 ≤ η_Y/η_Z ≤ 10;
  per seed the mean over η_Z; above 0 likewise (`measured`: where each η_Z of the grid has it
  above or below 0). t₀ on the cells where Theorem 4 applies and t₀ can be resolved: η_Y/η_Z ≥
  10 and 4 start-up intervals ≤ the theory's t₀ ≤ `steps`; per seed the coefficient b of
  ln t₀ = a + b ln η_Y + c ln η_Z; over seeds, t₀ falls with η_Y (b's (1 − α) t-interval below
  0) and falls as 1/η_Y (the interval contains −1 and excludes 0).
  """
  seeds = len(entropy)
  flat = lambda x: x.reshape(seeds, -1)
  ratio = (lr_y / lr_z).ravel()
  column = np.broadcast_to(np.arange(lr_z.shape[0])[:, None], lr_z.shape).ravel()
  written_ratio, written_lr_z = results_lib.as_written(ratio), results_lib.as_written(lr_z.ravel())
  near = (written_ratio >= 1) & (written_ratio <= 10)
  in_window = near & (written_lr_z >= window_lr_z[0]) & (written_lr_z <= window_lr_z[1])
  sparser = common.line_slopes(flat(entropy), np.log(lr_z).ravel(), rays.ravel())
  denser = common.line_slopes(flat(entropy), np.log(lr_y).ravel(), np.where(in_window, column, -1))
  everywhere = common.line_slopes(flat(entropy), np.log(lr_y).ravel(), np.where(near, column, -1))
  checks = [
      common.contrast_verdict('Beyond the paper: along each ray η_Y/η_Z = const, final entropy falls '
                       'with η_Z (slope of entropy on ln η_Z, mean over rays, is below 0)',
                       sparser, -1),
      common.contrast_verdict(f'Sec. 6 on the plane: at fixed η_Z in [{window_lr_z[0]:g}, '
                       f'{window_lr_z[1]:g}], entropy rises with η_Y over 1 ≤ η_Y/η_Z ≤ 10 '
                       '(slope on ln η_Y, mean over η_Z, is above 0)', denser, 1,
                       'per η_Z of the grid, that slope is '
                       + signs_by_line(everywhere, lr_z[:, 0]))]
  shortest = common.SNAPPING_MIN_STARTUPS * results_lib.STARTUP
  read = ((written_ratio >= common.DECODER_FASTER) & (predicted_t0.ravel() >= shortest)
          & (predicted_t0.ravel() <= steps))
  fits, used = [], 0
  for seed in range(seeds):
    keep = read & np.isfinite(flat(t0)[seed])
    design = np.c_[np.ones(keep.sum()), np.log(lr_y.ravel()[keep]), np.log(lr_z.ravel()[keep])]
    if keep.sum() > 3 and len(np.unique(design[:, 1])) > 1 and len(np.unique(design[:, 2])) > 1:
      fits.append(verdicts.least_squares(design, np.log(flat(t0)[seed][keep]))[0][1])
      used += int(keep.sum())
  found = np.isfinite(flat(t0)[:, read])
  measured = (f'{used} runs with a t₀ over {len(fits)} seeds in {int(read.sum())} cells '
              f'(η_Y/η_Z ≥ 10, theory\'s t₀ from {shortest} to {steps} steps; t₀ found in '
              f'{found.mean():.0%} of their runs)' if read.any() else 'no cell read')
  ones, fits = np.ones((len(fits), 1)), np.asarray(fits)
  checks += [
      verdicts.coefficient('Beyond the paper: t₀ falls with η_Y (per seed, the slope of ln t₀ on '
                           'ln η_Y at fixed ln η_Z, mean over seeds, is below 0)', ones, fits, 0,
                           sign=-1, measured=measured),
      verdicts.coefficient('Thm 4 on the plane: t₀ ∝ 1/η_Y (that slope is −1)', ones, fits, 0,
                           predicted=-1.0, measured=measured)]
  return checks


def _phase_diagram(results: results_lib.Results) -> list[verdicts.Verdict]:
  lr_z, lr_y = results.grid.cell_rates()
  rays = ray_index(results.grid)
  checks = []
  for group, t0 in zip(results.groups, results.t0):
    run_config, spec = group.run_config, group.run_config.data
    predicted = (2 * spec.num_classes * math.log(spec.vocab_size)
                 * (1 - run_config.optimizer.momentum) / lr_y)
    entropy = results.kept_cells(group, group.metrics['attn/entropy'][:, -1])
    checks += [v.explained(common.where(group)).explained(
                   common.left_out(int(group.metrics['diverged'].sum())))
               for v in phase_diagram(entropy, results.kept_cells(group, t0), lr_z, lr_y, rays,
                                      PHASE_WINDOW_LR_Z, predicted, run_config.steps)]
  return checks


CLAIMS = {
    'learning_rates': verdicts.Claim(lambda results: learning_rates(results.rows)),
    'recall': verdicts.Claim(_recall_curves),
    'convergence_vs_sparsity': verdicts.Claim(
        lambda results: convergence_vs_sparsity(results.rows, results.readings.loss_threshold),
        columns=('steps_to_loss',), applies=lambda c: len(set(c.optimizer.lr_y)) > 1,
        applies_to='several η_Y at a fixed η_Z (two or more values of optimizer.lr_y)'),
    'adam_subsets': verdicts.Claim(_adam_subsets, applies=lambda c: c.optimizer.name == 'adam',
                                   applies_to="Adam (optimizer.name='adam'), as Fig. 5"),
    'phase_diagram': verdicts.Claim(_phase_diagram, columns=('t0',), tables=('phase_diagram',),
                                    applies=lambda c: (ray_index(c.optimizer) is not None
                                                       and c.optimizer.name == 'sgd'),
                                    applies_to='SGD on a grid with rays: relative rates, or the '
                                               'same log-spaced rates on both axes'),
}
