"""Training and evaluation of one WikiText run: windows, the evaluation's metrics, and steps that
do not depend on the evaluation interval."""

from absl.testing import absltest
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from scan_snap.wikitext import model
from scan_snap.wikitext import train
from tests.testing import tiny_text_run, tiny_tokens


class TrainTest(absltest.TestCase):

  def test_window_and_its_targets(self):
    streams = jnp.arange(21).reshape(3, 7)
    inputs, targets = train.window(streams, 1, 3)
    np.testing.assert_array_equal(inputs, [[3, 4, 5], [10, 11, 12], [17, 18, 19]])
    np.testing.assert_array_equal(targets, inputs + 1)

  def test_evaluation_matches_a_direct_computation(self):
    run, tokens = tiny_text_run(), tiny_tokens()
    init, _, evaluate = train.make_functions(run)
    state = init(jnp.asarray(3))
    got = evaluate(state.params, tokens)
    graphdef, _ = nnx.split(model.Transformer(run.model, rngs=nnx.Rngs(0)))
    net = nnx.merge(graphdef, state.params)
    losses, entropies = [], []
    mass = np.zeros((run.model.num_layers, run.query_tokens, run.key_tokens + 2))
    for start in range(0, tokens.eval_ExN.shape[1] - run.model.max_len, run.model.max_len):
      inputs = tokens.eval_ExN[:, start:start + run.model.max_len]
      logits, attns = net(inputs)
      log_p = jax.nn.log_softmax(logits)
      targets = tokens.eval_ExN[:, start + 1:start + 1 + run.model.max_len]
      picked = np.take_along_axis(np.asarray(log_p), np.asarray(targets)[..., None], axis=-1)
      losses.append(-picked.mean())
      entropies.append([model.attention_entropy(a).mean() for a in attns])
      ids = np.asarray(inputs)
      for layer, a in enumerate(attns):  # the attention of each query word to each key word
        a = np.asarray(a).mean(axis=1)
        for b, i, j in np.ndindex(a.shape):  # the own position last
          if ids[b, i] < run.query_tokens:
            key = run.key_tokens + 1 if i == j else min(ids[b, j], run.key_tokens)
            mass[layer, ids[b, i], key] += a[b, i, j]
    np.testing.assert_allclose(got['eval/loss'], np.mean(losses), rtol=1e-5)
    np.testing.assert_allclose(got['attn/entropy'], np.mean(entropies, axis=0), rtol=1e-5)
    np.testing.assert_allclose(got['attn/token_mass'], mass, rtol=1e-5, atol=1e-6)
    counts = [(np.asarray(tokens.eval_ExN[:, s:s + run.model.max_len]) == q).sum()
              for q in range(run.query_tokens)
              for s in range(0, tokens.eval_ExN.shape[1] - run.model.max_len, run.model.max_len)]
    np.testing.assert_allclose(got['attn/token_mass'].sum(axis=-1),  # a row: its query's count
                               np.broadcast_to(np.reshape(counts, (run.query_tokens, -1)).sum(1),
                                               mass.shape[:2]), rtol=1e-5)
    _, probe_attns = net(tokens.probe_PxL)
    np.testing.assert_allclose(got['attn/maps'], np.stack(probe_attns), rtol=1e-5, atol=1e-7)

  def test_result_does_not_depend_on_the_evaluation_interval(self):
    tokens, params = tiny_tokens(), []
    for eval_every in (3, 6):
      init, train_interval, _ = train.make_functions(tiny_text_run(eval_every=eval_every))
      state, interval = init(jnp.asarray(4)), jax.jit(train_interval)
      for first_step in range(0, 12, eval_every):
        state, _ = interval(state, tokens, jnp.asarray(4), 2.0, jnp.zeros(0), first_step)
      params.append(state.params)
    jax.tree_util.tree_map(np.testing.assert_array_equal, *params)

  def test_rate_groups_reach_training(self):
    tokens = tiny_tokens()

    def trained(lr, lr_groups, factors=()):
      init, train_interval, _ = train.make_functions(tiny_text_run(lr_groups=lr_groups))
      state, _ = jax.jit(train_interval)(init(jnp.asarray(4)), tokens, jnp.asarray(4), lr,
                                         jnp.asarray(factors, jnp.float32), 0)
      return state.params

    start = train.make_functions(tiny_text_run())[0](jnp.asarray(4)).params
    # Every parameter in one group at factor 2 trains as every one at 2η, bit for bit.
    jax.tree_util.tree_map(np.testing.assert_array_equal, trained(1.0, (('', 2.0),)),
                           trained(2.0, ()))
    # A group at a tiny factor barely moves, the rest as without groups.
    frozen, plain = trained(1.0, (('ff1', 1e-30),)), trained(1.0, ())
    for layer in (0, 1):
      np.testing.assert_array_equal(frozen['blocks'][layer]['ff1']['kernel'][...],
                                    start['blocks'][layer]['ff1']['kernel'][...])
      self.assertFalse(np.array_equal(plain['blocks'][layer]['ff1']['kernel'][...],
                                      start['blocks'][layer]['ff1']['kernel'][...]))
    self.assertFalse(np.array_equal(frozen['decoder']['kernel'][...],
                                    start['decoder']['kernel'][...]))
    # A group whose factor is an axis trains at the run's factor, as that factor given alone.
    jax.tree_util.tree_map(np.testing.assert_array_equal,
                           trained(1.0, (('ff1', (0.5, 3.0)), ('ff2', 2.0)), [3.0]),
                           trained(1.0, (('ff1', 3.0), ('ff2', 2.0))))


if __name__ == '__main__':
  absltest.main()
