"""Solver checks: the decoder reduction against its closed form, and gradient descent against the
flow it discretizes."""

import math

import numpy as np

from scan_snap.core import verdicts
from scan_snap.sequence_classes import sweep
from scan_snap.sequence_classes import train


def decoder_gap_closed_form(t: np.ndarray, lr_y: float, vocab_size: int,
                            num_classes: int) -> np.ndarray:
  """ξ(t) solving (M − 1)ξ + e^ξ − 1 = η_Y M t / K (docs/model.md), by Newton's method."""
  rhs = lr_y * vocab_size * np.asarray(t, float) / num_classes
  xi = np.log1p(rhs)  # Below the root: the left side is convex and increasing.
  for _ in range(100):
    xi = xi - ((vocab_size - 1) * xi + np.expm1(xi) - rhs) / (vocab_size - 1 + np.exp(xi))
  return xi


def decoder_reduction(reference: sweep.GroupResult) -> verdicts.Verdict:
  """Y alone by gradient flow on orthonormal classes (sweep.decoder_reduction_run) against the
  closed form: the gap ξ between the right next-token logit and each wrong one solves
  (M − 1)ξ + e^ξ − 1 = η_Y M t / K.

  By symmetry every class has the same gap, and its loss is ln(1 + (M − 1)e^{−ξ}), so ξ is
  read off the training loss: ξ = −ln(expm1(loss) / (M − 1)). Passes when the largest
  difference is below 10⁻³ of ξ at the end.
  """
  spec, steps = reference.run_config.data, reference.run_config.steps
  loss = np.asarray(reference.metrics['train/loss'][0], np.float64)
  measured = -np.log(np.expm1(loss) / (spec.vocab_size - 1))
  want = decoder_gap_closed_form(train.logged_steps(reference.run_config)[1:],
                                 float(reference.lr_y[0]), spec.vocab_size, spec.num_classes)
  error = np.abs(measured - want).max() / want[-1]
  return verdicts.exact(
      'Decoder reduction: (M−1)ξ + e^ξ − 1 = η_Y M t / K', error, bool(error < 1e-3),
      f'exact: the largest difference over 0 < t ≤ {steps} is below 10⁻³ of ξ({steps})',
      measured=f'ξ({steps}) = {measured[-1]:.4f} vs closed form {want[-1]:.4f}')


def flow_vs_steps(runs: dict[str, np.ndarray]) -> verdicts.Verdict:
  """The gradient-flow solver against gradient descent (sweep.flow_vs_steps_runs): descent is
  the Euler method of the flow, so its error in z falls like the step h. Passes when the
  largest error over t ≤ `steps` with h = 1 is 2 ± 0.2 times that with h = 1/2."""
  errors = [float(np.abs(runs[h] - runs['flow']).max()) for h in ('h=1', 'h=1/2')]
  ratio = errors[0] / errors[1] if errors[1] > 0 else math.inf
  return verdicts.exact(
      'Gradient flow against descent: the error of descent in z falls like its step h', ratio,
      bool(1.8 <= ratio <= 2.2), 'exact: error(h = 1) / error(h = 1/2) within 2 ± 0.2',
      measured=f'largest |z_descent − z_flow| {errors[0]:.2e} (h = 1), {errors[1]:.2e} '
               f'(h = 1/2); flow solved to rtol 1e-8')


CLAIMS = {
    'decoder_reduction': verdicts.Claim(
        lambda results: [decoder_reduction(results.references['decoder_reduction'])],
        section=verdicts.SOLVER, references=('decoder_reduction',)),
    'flow_vs_steps': verdicts.Claim(
        lambda results: [flow_vs_steps(results.references['flow_vs_steps'])],
        section=verdicts.SOLVER, references=('flow_vs_steps',)),
}
