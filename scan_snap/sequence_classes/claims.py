"""The theorem report of an experiment: config.report.claims names the checks to run.

  'frequency_bias'       Thm 2 on every run (logits of common tokens fall, distinct ones rise)
  'scanning'             Thm 3 on every run (needs a zero start)
  'snapping'             Thm 4: t₀ of every run's growth curve, and its trend in η_Y
  'decoder_reduction'    the decoder logit gap ξ(t) of docs/model.md against its closed form
  'learning_rates'       Sec. 6 on the summary table (η_Z sharpens, large η_Y/η_Z blurs)
  'long_sequence_limit'  Lemma 2: as T grows, the seed-mean c̃ trajectory of sampled training
                         approaches the population (T → ∞) trajectory

The names are declared in config.CLAIMS. A per-run claim passes when it holds in at least 90%
of the runs that did not diverge; on sampled training it needs at least 10 runs, and with fewer
it is inconclusive.
"""

import dataclasses

import jax
import numpy as np

from scan_snap.sequence_classes import config
from scan_snap.sequence_classes import data
from scan_snap.sequence_classes import sweep
from scan_snap.sequence_classes import theory
from scan_snap.sequence_classes import train

_PASS_FRACTION = 0.9
# Below this many runs, a per-run claim on sampled training (noisy batches) is inconclusive:
# the pass fraction of fewer runs cannot tell a claim that holds from one hit by noise.
_MIN_SAMPLED_RUNS = 10


def dominant_growth(group: sweep.GroupResult) -> np.ndarray:
  """[R, L+1] z_{m,l*}(t) − z_{m,l*}(0) for the most frequent distinct token l* of class 1."""
  logits = group.metrics['attn/logits'][:, :, 0, group.run.data.top_distinct_slot()]
  return logits - logits[:, :1]


def snapping_times(group: sweep.GroupResult) -> np.ndarray:
  """[R] t₀ of each run (NaN: no transition found), see theory.transition_time."""
  steps = train.logged_steps(group.run)
  return np.array([theory.transition_time(steps, g) for g in dominant_growth(group)])


def _per_run(check, group: sweep.GroupResult) -> dict:
  """Runs a per-run check on every non-diverged run of a group and aggregates the verdicts."""
  spec = group.run.data
  kept = np.flatnonzero(~group.metrics['diverged'])
  results = [check(group.metrics, r, spec) for r in kept]
  passed = sum(r['holds'] for r in results)
  verdict = {'claim': results[0]['claim'] if results else check.__name__,
             'measured': f'num_last={spec.num_last}: holds in {passed} of {len(results)} runs; '
                         f"first run: {results[0]['measured'] if results else '-'}",
             'holds': bool(results) and passed >= _PASS_FRACTION * len(results)}
  if group.run.dynamics == 'sampled' and len(results) < _MIN_SAMPLED_RUNS:
    verdict['inconclusive'] = (f'{len(results)} runs of sampled training: at least '
                               f'{_MIN_SAMPLED_RUNS} are needed for a {_PASS_FRACTION:.0%} rule '
                               'to allow for sampling noise')
  return verdict


def _frequency_bias(m, r, spec):
  return theory.check_frequency_discriminative_bias(m['attn/logits'][r, 0], m['attn/logits'][r, -1],
                                                    spec.is_distinct())


def _scanning(m, r, spec):
  return theory.check_scanning(m['attn/ctilde'][r], spec.probs(), spec.is_distinct())


def decoder_reduction(lr_y: float = 1.0, steps: int = 200) -> dict:
  """Trains Y alone (η_Z = 0, zero start) by gradient flow on classes whose features f are
  orthonormal (one distinct token each, no common token), and compares the gap ξ between the
  right next-token logit and each wrong one with (M − 1)ξ + e^ξ − 1 = η_Y M t / K.

  By symmetry every class has the same gap, and its loss is ln(1 + (M − 1)e^{−ξ}), so ξ is
  read off the training loss: ξ = −ln(expm1(loss) / (M − 1)).
  """
  spec = data.SequenceClasses(num_last=2, num_next_per_last=2, num_common=0,
                              num_common_per_last=0, num_unique_per_next=1)
  c = config.sequence_classes_config()
  c.model.init, c.optimizer.momentum = 'zeros', 0.0
  run = dataclasses.replace(config.run_config(c, spec.num_last), data=spec, steps=steps,
                            log_every=1, dynamics='flow', flow_rtol=1e-8)
  _, metrics = jax.jit(train.make_train(run))(jax.random.key(0), lr_y, 0.0)
  loss = np.asarray(metrics['train/loss'], np.float64)
  measured = -np.log(np.expm1(loss) / (spec.vocab_size - 1))
  want = theory.decoder_gap_closed_form(train.logged_steps(run)[1:], lr_y, spec.vocab_size,
                                        spec.num_classes)
  error = np.abs(measured - want).max() / want[-1]
  return {'claim': 'Decoder reduction (a solver check): (M−1)ξ + e^ξ − 1 = η_Y M t / K',
          'measured': f'ξ({steps}) = {measured[-1]:.4f} vs closed form {want[-1]:.4f}; largest '
                      f'difference over 0 < t ≤ {steps}: {error:.1e} of ξ({steps})',
          'holds': bool(error < 1e-3)}


def long_sequence_distances(groups: list[sweep.GroupResult]) -> tuple[list[dict], dict]:
  """For each group and learning-rate pair: the largest distance over the logged steps between
  the seed-mean c̃ and the population c̃, d = max_t mean_n ‖E_seeds c̃_n(t) − c̃_n^pop(t)‖₁.

  Returns the rows (num_last, seq_len, lr_y, lr_z, distance) and, per (num_last, lr_y, lr_z),
  the population trajectory of c̃ [L+1, K, S] (zero start: it is deterministic).
  """
  rows, population = [], {}
  for group in groups:
    run = dataclasses.replace(group.run, dynamics='population')
    for lr_y, lr_z in sorted(set(zip(group.lr_y.tolist(), group.lr_z.tolist()))):
      key = (run.data.num_last, lr_y, lr_z)
      if key not in population:
        _, m = jax.jit(train.make_train(run))(jax.random.key(0), lr_y, lr_z)
        population[key] = np.asarray(m['attn/ctilde'])
      runs = (group.lr_y == lr_y) & (group.lr_z == lr_z) & ~group.metrics['diverged']
      mean = group.metrics['attn/ctilde'][runs].mean(axis=0)
      distance = np.abs(mean - population[key]).sum(-1).mean(-1).max()
      rows.append({'num_last': run.data.num_last, 'seq_len': group.run.seq_len, 'lr_y': lr_y,
                   'lr_z': lr_z, 'num_runs': int(runs.sum()), 'distance': float(distance)})
  return rows, population


def _long_sequence_limit(rows: list[dict]) -> list[dict]:
  """Holds when, for every (num_last, η_Y, η_Z), the distance falls at each larger T."""
  lines: dict[tuple, list[dict]] = {}
  for row in rows:
    lines.setdefault((row['num_last'], row['lr_y'], row['lr_z']), []).append(row)
  checks = []
  for (num_last, lr_y, lr_z), line in lines.items():
    line.sort(key=lambda r: r['seq_len'])
    distances = np.array([r['distance'] for r in line])
    checks.append({
        'claim': 'Lemma 2: sampled training tends to the population dynamics as T grows',
        'measured': f'num_last={num_last}, η_Y={lr_y:g}, η_Z={lr_z:g}: distance by T '
                    + ', '.join(f"{r['seq_len']}: {r['distance']:.4f}" for r in line),
        'holds': bool(len(distances) > 1 and np.all(np.diff(distances) < 0)),
    })
  return checks


def evaluate(c, groups: list[sweep.GroupResult], summary: list[dict],
             distances: tuple[list[dict], dict] | None = None,
             snapping: list[np.ndarray] | None = None) -> list[dict]:
  """The checks named in c.report.claims, in that order, each with its 'verdict' (pass, fail or
  inconclusive, see theory.verdict) and the number of diverged runs it left out
  ('num_diverged', also said in 'measured'); `distances` is what
  long_sequence_distances(groups) returned and `snapping` the snapping_times of each group,
  when the caller has them already."""
  checks = []  # (check, runs it left out as diverged)
  num_diverged = [int(g.metrics['diverged'].sum()) for g in groups]
  for claim in c.report.claims:
    if claim == 'frequency_bias':
      checks += [(_per_run(_frequency_bias, g), n) for g, n in zip(groups, num_diverged)]
    elif claim == 'scanning':
      checks += [(_per_run(_scanning, g), n) for g, n in zip(groups, num_diverged)]
    elif claim == 'snapping':
      for g, t0, n in zip(groups, snapping or [snapping_times(g) for g in groups], num_diverged):
        kept = ~g.metrics['diverged']
        check = theory.check_snapping(g.lr_y[kept], g.lr_z[kept], t0[kept])
        check['measured'] = f'num_last={g.run.data.num_last}: ' + check['measured']
        checks.append((check, n))
    elif claim == 'decoder_reduction':
      checks.append((decoder_reduction(), 0))
    elif claim == 'learning_rates':
      dropped = sum(row['num_diverged'] for row in summary)
      checks += [(check, dropped) for check in theory.check_learning_rates(summary)]
    elif claim == 'long_sequence_limit':
      checks += [(check, sum(num_diverged)) for check in
                 _long_sequence_limit((distances or long_sequence_distances(groups))[0])]
  return [{**check, 'measured': check['measured'] + (
              f'; {n} diverged runs left out' if n else ''),
           'num_diverged': n, 'verdict': theory.verdict(check)} for check, n in checks]
