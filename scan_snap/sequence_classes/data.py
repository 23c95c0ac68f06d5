"""Sequence classes of the paper (Sec. 3.2; docs/model.md) and their on-device samplers.

A class is one next token n with its query token m = ψ(n) and a distribution P(l|m,n) over
contextual tokens. Token ids, in order:

  global common | per-query common (num_last blocks) | distinct (K blocks) | query | next

Each class has the same support size S = num_common + num_common_per_last +
num_unique_per_next; its support is stored in that order, so the last num_unique_per_next
slots of every class are its distinct tokens. Shapes: K classes, S support slots, B samples.

A family of classes is an entry of FAMILIES, which config.data.family names: a frozen
dataclass built from the config.data keys named as its fields (the paper's five, and any field
with a default that a family adds, as SharedAcrossQueries adds num_shared_across). The rest of
the code reads a family through this interface alone (SequenceClasses implements it; a variant
usually subclasses it and overrides `probs`):

  num_last, num_next_per_last, num_unique_per_next   generator parameters
  num_classes (K), support_size (S), num_context_tokens (C), vocab_size (M)
  support()            [K, S] token ids of each class's support, distinct tokens last
  is_distinct()        [S] the support slots of distinct tokens
  probs()              [K, S] P(l|m,n)
  class_next()         [K] each class's next token
  top_distinct_slot()  the slot of class 1's most frequent distinct token (t₀ reads its logit)
  tables()             the device arrays the trainer reads (ClassTables)

A family's name is part of its runs' checkpoint fingerprints (core.checkpoints.described).
"""

import dataclasses
import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class SequenceClasses:
  """Generator parameters (docs/model.md); every derived table is computed from them."""

  num_last: int
  num_next_per_last: int
  num_common: int
  num_common_per_last: int
  num_unique_per_next: int

  @property
  def num_classes(self) -> int:
    """K = num_last × num_next_per_last."""
    return self.num_last * self.num_next_per_last

  @property
  def support_size(self) -> int:
    """S: tokens a class can draw (its common and its distinct tokens)."""
    return self.num_common + self.num_common_per_last + self.num_unique_per_next

  @property
  def first_distinct(self) -> int:
    return self.num_common + self.num_last * self.num_common_per_last

  @property
  def first_query(self) -> int:
    return self.first_distinct + self.num_classes * self.num_unique_per_next

  @property
  def first_next(self) -> int:
    return self.first_query + self.num_last

  @property
  def num_context_tokens(self) -> int:
    """C: contextual tokens (common and distinct) take the ids below C."""
    return self.first_query

  @property
  def vocab_size(self) -> int:
    """M: all token ids of the layout."""
    return self.first_next + self.num_classes

  def class_query(self) -> np.ndarray:
    """[K] query token m = ψ(n) of each class."""
    return self.first_query + np.arange(self.num_classes) // self.num_next_per_last

  def class_next(self) -> np.ndarray:
    """[K] next token n (the label) of each class."""
    return self.first_next + np.arange(self.num_classes)

  def support(self) -> np.ndarray:
    """[K, S] token ids of each class's support: common tokens first, distinct tokens last."""
    rows = []
    for k in range(self.num_classes):
      last = k // self.num_next_per_last
      per_query = self.num_common + last * self.num_common_per_last
      distinct = self.first_distinct + k * self.num_unique_per_next
      rows.append(np.concatenate([
          np.arange(self.num_common),
          np.arange(per_query, per_query + self.num_common_per_last),
          np.arange(distinct, distinct + self.num_unique_per_next),
      ]))
    return np.stack(rows).astype(np.int32)

  def is_distinct(self) -> np.ndarray:
    """[S] True on the support slots that hold distinct tokens (the same slots for every class)."""
    return np.arange(self.support_size) >= self.support_size - self.num_unique_per_next

  def top_distinct_slot(self) -> int:
    """The support slot of class 1's most frequent distinct token (the first of equals; the last
    slot in the paper's family)."""
    return int(np.argmax(np.where(self.is_distinct(), self.probs()[0], -1)))

  def probs(self) -> np.ndarray:
    """[K, S] P(l|m,n) on each class's support: the slots before the distinct tokens weigh 1,
    the distinct ones linspace(0.1, 1)."""
    weights = np.concatenate([
        np.ones(self.support_size - self.num_unique_per_next),
        np.linspace(0.1, 1.0, self.num_unique_per_next),
    ])
    return np.tile(weights / weights.sum(), (self.num_classes, 1))

  def tables(self) -> 'ClassTables':
    """The device arrays the sampler and the metrics read."""
    probs = self.probs()
    cdf = np.cumsum(probs, axis=-1)
    cdf[:, -1] = 1.0  # Exact top, so that every uniform in [0, 1) falls inside the support.
    return ClassTables(
        num_context_tokens=self.num_context_tokens,
        support=jnp.asarray(self.support()),
        probs=jnp.asarray(probs, jnp.float32),
        cdf=jnp.asarray(cdf, jnp.float32),
        query=jnp.asarray(self.class_query(), jnp.int32),
        next_token=jnp.asarray(self.class_next(), jnp.int32),
    )


@dataclasses.dataclass(frozen=True)
class SharedAcrossQueries(SequenceClasses):
  """The paper's classes plus, for each class, num_shared_across tokens that it shares with the
  class in its place under every other query (class j of query q shares them with class j of
  every q'), weighing 1 each. Within its query's classes such a token is distinct, across them
  common: "locally distinct" in the sense of Sec. 7 (docs/model.md, "The residual"). Their
  num_next_per_last blocks sit between the per-query common and the distinct tokens, and on a
  class's support between its common and its distinct tokens:

    global common | per-query common | shared across queries (num_next_per_last blocks) | distinct
  """

  num_shared_across: int = 0

  @property
  def support_size(self) -> int:
    return super().support_size + self.num_shared_across

  @property
  def first_distinct(self) -> int:
    return super().first_distinct + self.num_next_per_last * self.num_shared_across

  def support(self) -> np.ndarray:
    common = self.num_common + self.num_common_per_last
    shared = super().first_distinct + (np.arange(self.num_classes) % self.num_next_per_last
                                       )[:, None] * self.num_shared_across
    rows = super().support()  # its distinct ids start at this family's first_distinct
    return np.concatenate([rows[:, :common], shared + np.arange(self.num_shared_across),
                           rows[:, common:]], axis=1).astype(np.int32)

  def slot_kinds(self) -> np.ndarray:
    """[S] what each support slot holds: 'common' (all classes), 'query common' (the classes of
    one query), 'shared across' (one class under each query) or 'distinct' (one class)."""
    counts = (self.num_common, self.num_common_per_last, self.num_shared_across,
              self.num_unique_per_next)
    return np.repeat(np.array(['common', 'query common', 'shared across', 'distinct']), counts)


# config.data.family → the family of classes (see the module docstring).
FAMILIES = {'paper': SequenceClasses, 'shared_across_queries': SharedAcrossQueries}


@functools.partial(jax.tree_util.register_dataclass,
                   data_fields=['support', 'probs', 'cdf', 'query', 'next_token'],
                   meta_fields=['num_context_tokens'])
@dataclasses.dataclass(frozen=True)
class ClassTables:
  """Device arrays of a SequenceClasses; num_context_tokens is static under jit."""

  num_context_tokens: int
  support: jax.Array  # [K, S] int32 token ids
  probs: jax.Array  # [K, S] P(l|m,n)
  cdf: jax.Array  # [K, S] cumulative P over the support, last entry exactly 1
  query: jax.Array  # [K] int32 query token m
  next_token: jax.Array  # [K] int32 next token n


@functools.partial(jax.tree_util.register_dataclass,
                   data_fields=['cls', 'query', 'tokens', 'counts', 'label'],
                   meta_fields=['num_counted'])
@dataclasses.dataclass(frozen=True)
class CountsBatch:
  """Samples in the counts form: n_l for the tokens l that each context can hold.

  Row b lists S distinct token ids (its class's support) and their counts; tokens not listed
  count zero. Every listed id is below num_counted (C: the ids that can be contextual), which
  is static under jit. Sequence classes' queries are ids ≥ C, which model.loss_read relies on.
  """

  num_counted: int
  cls: jax.Array  # [B] class index
  query: jax.Array  # [B] x_T
  tokens: jax.Array  # [B, S] int32 distinct token ids l
  counts: jax.Array  # [B, S] float n_l; each row sums to T − 1
  label: jax.Array  # [B] x_{T+1}


class SequenceBatch(NamedTuple):
  """Samples in the sequence form: the contextual tokens x_1 … x_{T−1} themselves."""

  cls: jax.Array  # [B]
  query: jax.Array  # [B]
  context: jax.Array  # [B, T − 1] token ids
  label: jax.Array  # [B]


def sample_counts(key: jax.Array, tables: ClassTables, batch_size: int,
                  seq_len: int) -> CountsBatch:
  """Draws a class per sample and the counts of its T − 1 i.i.d. contextual tokens.

  One [B, T] block of uniforms v (a single random draw, which keeps the compiled program
  small): v_{b,0} picks the class ⌊K v_{b,0}⌋ (uniform to within 2⁻²² per class, float32's
  grid), and v_{b,1…T−1} the tokens by inverse CDF: the number of tokens in slots ≤ s is
  #{t : v_t < cdf_s}, and the counts are its differences. No sequence is materialized, and
  the counts stay on the S support slots.
  """
  num_classes = tables.query.shape[0]
  v_BxT = jax.random.uniform(key, (batch_size, seq_len))
  cls_B = jnp.minimum(jnp.floor(v_BxT[:, 0] * num_classes).astype(jnp.int32), num_classes - 1)
  cdf_BxS = tables.cdf[cls_B]
  below_BxS = jnp.sum(v_BxT[:, 1:, None] < cdf_BxS[:, None, :], axis=1, dtype=jnp.int32)
  counts_BxS = jnp.diff(below_BxS, axis=-1, prepend=0)
  return _counts_batch(cls_B, counts_BxS, tables)


# The step past every training step (steps are int32): fold_in(data_key, HELD_OUT) gives the keys
# of a run's training set, its epochs' orders and its fresh evaluation samples, which today's
# per-step draws fold_in(data_key, t), t < steps, never reach.
HELD_OUT = 2**31 - 1


def held_out_keys(data_key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(set key, order key, evaluation key) of a seed's data key: keys no training step uses."""
  set_key, order_key, eval_key = jax.random.split(jax.random.fold_in(data_key, HELD_OUT), 3)
  return set_key, order_key, eval_key


def training_batches(data_key: jax.Array, tables: ClassTables, batch_size: int, seq_len: int,
                     set_size: int, steps: int) -> Callable[[jax.Array], CountsBatch]:
  """The batch of step t < steps, as a function of t.

  set_size 0 (N = ∞): fresh samples, sample_counts(fold_in(data_key, t)). Otherwise a fixed
  training set of N = set_size samples, drawn once from the set key; epoch e reads it in the
  order of a permutation drawn from fold_in(order key, e), E = ⌊N/B⌋ batches of B rows per
  epoch: step t reads rows perm_e[iB : iB + B] with e = ⌊t/E⌋, i = t mod E. The N − EB rows
  that each epoch's permutation puts last are left out of that epoch.
  """
  if set_size == 0:
    return lambda t: sample_counts(jax.random.fold_in(data_key, t), tables, batch_size, seq_len)
  set_key, order_key, _ = held_out_keys(data_key)
  train_set = sample_counts(set_key, tables, set_size, seq_len)
  rows = epoch_rows(order_key, set_size, batch_size, steps)
  return lambda t: jax.tree.map(lambda x: x[rows[t]], train_set)


def epoch_rows(order_key: jax.Array, set_size: int, batch_size: int, steps: int) -> jax.Array:
  """[steps, B] the rows of the training set that each step reads (see training_batches); each
  epoch's permutation is drawn once."""
  per_epoch = set_size // batch_size
  epochs = -(-steps // per_epoch)
  orders = jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(order_key, e), set_size))(
      jnp.arange(epochs))
  return orders[:, :per_epoch * batch_size].reshape(epochs * per_epoch, batch_size)[:steps]


def sample_sequences(key: jax.Array, tables: ClassTables, batch_size: int,
                     seq_len: int) -> SequenceBatch:
  """Reference sampler: draws the class with `jax.random.randint` and each contextual token
  with `jax.random.categorical`."""
  key_cls, key_tok = jax.random.split(key)
  cls_B = jax.random.randint(key_cls, (batch_size,), 0, tables.query.shape[0])
  logp_BxS = jnp.log(tables.probs[cls_B])
  slot_BxT = jax.random.categorical(key_tok, logp_BxS[:, None, :], axis=-1,
                                    shape=(batch_size, seq_len - 1))
  context_BxT = jnp.take_along_axis(tables.support[cls_B], slot_BxT, axis=-1)
  return SequenceBatch(cls=cls_B, query=tables.query[cls_B], context=context_BxT,
                       label=tables.next_token[cls_B])


def counts_of_sequences(batch: SequenceBatch, tables: ClassTables) -> CountsBatch:
  """The counts form of sequence samples: n_l = #{t < T : x_t = l} on each class's support."""
  counts_BxS = jnp.sum(batch.context[:, :, None] == tables.support[batch.cls][:, None, :], axis=1)
  return _counts_batch(batch.cls, counts_BxS, tables)


def population_batch(tables: ClassTables) -> CountsBatch:
  """The long-sequence limit (docs/model.md): one row per class with n_l replaced by P(l|m,n), so
  that u = c̃_n; its mean loss over the rows is the expected loss over uniform classes."""
  return _counts_batch(jnp.arange(tables.query.shape[0]), tables.probs, tables)


def _counts_batch(cls_B: jax.Array, counts_BxS: jax.Array, tables: ClassTables) -> CountsBatch:
  """The counts on each class's support slots, with the slots' token ids."""
  return CountsBatch(num_counted=tables.num_context_tokens, cls=cls_B, query=tables.query[cls_B],
                     tokens=tables.support[cls_B], counts=counts_BxS.astype(jnp.float32),
                     label=tables.next_token[cls_B])
