"""Hierarchical latent-tree classes: sequences made by expanding a class down a tree of latent
variables to the tokens at its leaves.

Tokens 0 … M − 2 are the real tokens; M − 1 pads. Level l = 0 … n − 1 holds num_latents[l]
latent variables, the top level the classes. Each variable of level l is a distinct set of
num_combinations[l] variables of the level below; below level 0 lie the M − 1 real tokens. A
sample draws a class uniformly, expands it down the tree, and writes the union of the tokens it
reaches in increasing order (the authors write Python's set order, the same but for some small
unions) at the end of a sequence of length L, the rest padding. Its label
is the class; `active` marks, per level, the variables its expansion went through. As the
authors draw them, a class always expands to the same tokens: the data are one sequence per
class. With child_prob < 1 (beyond the authors), each active variable activates each of its
children independently with that probability, so that the variables below the classes vary
within a class.

  LatentTree(...)                      the family's sizes
  draw_tree(spec, seed) -> tree        per level the membership matrix [n_l, n_{l−1}], 0/1
  sample(spec, tree, key, batch)       a batch on device: tokens, labels, active variables

The tree is drawn on the host from the run's seed (numpy's Generator), by rejection as the
authors do (facebookresearch/luckmatters, ssl/real-dataset/decoder_only_hier.py), so every
variable of a level has its own combination; the batches are drawn on device from a jax key.
"""

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Tree = tuple[np.ndarray, ...]  # level l: [num_latents[l], size of level l − 1] 0/1 memberships


@dataclasses.dataclass(frozen=True)
class LatentTree:
  """The sizes of a family of hierarchical classes (the authors' defaults)."""

  vocab_size: int = 20  # M: the real tokens 0 … M − 2, and M − 1, the padding
  seq_len: int = 20  # L
  num_latents: tuple[int, ...] = (20, 10)  # variables per level, bottom first; the last: classes
  num_combinations: tuple[int, ...] = (3, 3)  # variables of the level below in each variable
  child_prob: float = 1.0  # each child of an active variable active with this probability

  @property
  def num_levels(self) -> int:
    return len(self.num_latents)

  @property
  def num_classes(self) -> int:
    return self.num_latents[-1]

  @property
  def pad(self) -> int:
    return self.vocab_size - 1

  def below(self, level: int) -> int:
    """The number of variables of the level below `level` (the real tokens below level 0)."""
    return self.vocab_size - 1 if level == 0 else self.num_latents[level - 1]

  def max_tokens(self) -> int:
    """The most tokens a sample can hold: every expansion disjoint, at most M − 1."""
    return min(math.prod(self.num_combinations), self.vocab_size - 1)

  def problems(self) -> list[str]:
    """What makes the sizes impossible, in words (none: an empty list)."""
    found = []
    for l, (n, p) in enumerate(zip(self.num_latents, self.num_combinations)):
      if not 1 <= p <= self.below(l):
        found.append(f'level {l}: {p} combinations of {self.below(l)} variables below')
      elif math.comb(self.below(l), p) < n:
        found.append(f'level {l}: {n} variables, but only {math.comb(self.below(l), p)} distinct '
                     f'sets of {p} of the {self.below(l)} below')
    if self.max_tokens() > self.seq_len:
      found.append(f'a sample can hold {self.max_tokens()} tokens, more than seq_len = '
                   f'{self.seq_len}')
    return found


class Sample(NamedTuple):
  tokens: jax.Array  # [B, L] int32, padded at the front with M − 1
  label: jax.Array  # [B] int32, the class
  active: tuple[jax.Array, ...]  # level l: [B, num_latents[l]] float32, 1 where the sample used it


def draw_tree(spec: LatentTree, seed: int) -> Tree:
  """Per level, each variable a distinct random set of num_combinations[l] variables of the
  level below (redrawn while it repeats one drawn before), as 0/1 rows."""
  rng = np.random.default_rng(seed)
  tree = []
  for l, (n, p) in enumerate(zip(spec.num_latents, spec.num_combinations)):
    drawn: set[tuple[int, ...]] = set()
    member = np.zeros((n, spec.below(l)), np.float32)
    for i in range(n):
      while (combination := tuple(sorted(rng.choice(spec.below(l), p, replace=False)))) in drawn:
        pass
      drawn.add(combination)
      member[i, list(combination)] = 1
    tree.append(member)
  return tuple(tree)


def expand(tree: Tree, label: jax.Array, child_prob: float = 1.0,
           key: jax.Array | None = None) -> tuple[tuple[jax.Array, ...], jax.Array]:
  """The variables the classes `label` [B] go through, per level ([B, n_l] 0/1), and the real
  tokens they reach ([B, M − 1] 0/1). With child_prob < 1, an active variable activates each of
  its children independently with that probability (edges drawn from `key`)."""
  keys = jax.random.split(key, len(tree)) if child_prob < 1 else [None] * len(tree)

  def below(active_BxN: jax.Array, member: jax.Array, edge_key) -> jax.Array:
    if edge_key is None:
      return (active_BxN @ member > 0).astype(jnp.float32)
    kept = jax.random.bernoulli(edge_key, child_prob, (active_BxN.shape[0], *member.shape))
    return (jnp.einsum('bi,bij->bj', active_BxN, member[None] * kept) > 0).astype(jnp.float32)

  active = [jax.nn.one_hot(label, tree[-1].shape[0])]
  for level in range(len(tree) - 1, 0, -1):  # From the classes down to level 0.
    active.insert(0, below(active[0], tree[level], keys[level]))
  return tuple(active), below(active[0], tree[0], keys[0])


def sample(spec: LatentTree, tree: Tree, key: jax.Array, batch: int) -> Sample:
  """`batch` samples of classes drawn uniformly from `key` (see the module docstring)."""
  label = jax.random.randint(key, (batch,), 0, spec.num_classes)
  active, reached = expand(tree, label, spec.child_prob, jax.random.fold_in(key, 1))
  # The reached tokens first, in increasing order, then the others.
  order = jnp.argsort(1 - reached, axis=-1, stable=True)
  count = reached.sum(-1).astype(jnp.int32)
  # [B, L]: the position's index among the reached tokens, negative at the padding.
  index = jnp.arange(spec.seq_len)[None, :] - (spec.seq_len - count[:, None])
  tokens = jnp.where(index >= 0, jnp.take_along_axis(order, jnp.maximum(index, 0), axis=-1),
                     spec.pad)
  return Sample(tokens.astype(jnp.int32), label.astype(jnp.int32), active)
