"""One pipeline for every experiment, from a config to its work directory.

  plan(c)            the config checked once, and its figures and claims resolved by name: a
                     frozen Plan, or one ConfigError that names every bad key
  run(plan, workdir) the data loaded, the fits checked, the work directory locked and prepared,
                     the grid trained by the experiment's engine, its results measured, the
                     claims decided, then the experiment's files, report.md and claims.json

An experiment (sequence_classes/, wikitext/, hierarchical/experiment.py) supplies its parts as a
module with the names of `Experiment`; config.experiment names it (EXPERIMENTS). Config modules
are leaves: they declare and check values, and name figures and claims only as strings, which
the plan resolves.
"""

import contextlib
import dataclasses
import importlib
import pathlib
from typing import Any, Protocol

from absl import logging
import jax
import ml_collections

from scan_snap.core import config as core_config
from scan_snap.core import errors
from scan_snap.core import outputs
from scan_snap.core import runtime
from scan_snap.core import verdicts

# config.experiment → the module that supplies its parts; imported when used, so that a
# sequence-class job does not load the WikiText stack (flax, TFDS).
EXPERIMENTS = {'sequence_classes': 'scan_snap.sequence_classes.experiment',
               'wikitext': 'scan_snap.wikitext.experiment',
               'hierarchical': 'scan_snap.hierarchical.experiment'}


class Experiment(Protocol):
  """The parts an experiment module supplies, in the order the pipeline uses them."""

  OUTPUTS: tuple[str, ...]  # what --overwrite deletes from a work directory
  SECTIONS: tuple[str, ...]  # the sections of report.md and claims.json, in order
  FIGURES: dict[str, outputs.FigureSpec]  # config.figures.names: the figure registry
  CLAIMS: dict[str, verdicts.Claim]  # config.report.claims: the claim registry
  SIZE_KEYS: tuple[str, ...]  # the config keys that set the job's size, named when it is too big
  # the axes whose values are each trained and checkpointed apart (the depths): a config that
  # adds values to one resumes a work directory of the values before (outputs.config_differences)
  GROWING_AXES: tuple[str, ...]

  def declared_config(self) -> ml_collections.ConfigDict:
    """Every key of the experiment at its declared value."""

  def check_config(self, problems: core_config.Problems) -> None:
    """Records the config's out-of-range values in `problems`."""

  def grid(self, c: ml_collections.ConfigDict) -> Any:
    """The config expanded once: what the engine trains (run configs, seeds, rates)."""

  def load(self, plan: 'Plan') -> Any:
    """The data on device (None when the runs draw their own); bad data fails here."""

  def footprint(self, plan: 'Plan', data: Any) -> dict[str, int]:
    """The estimate that runtime.check_fits reads."""

  def train(self, plan: 'Plan', data: Any, workdir: pathlib.Path | None, writer: bool,
            tensorboard: bool) -> Any:
    """The grid trained (resumed from workdir's checkpoints, under a progress bar); the writer
    claims the work directory (config.json) once its checkpoints are known to be plan's."""

  def results(self, plan: 'Plan', data: Any, trained: Any) -> Any:
    """The results built once from the trained grid, with their `rows` (one per run) and
    `summary` (one per learning-rate cell); what the claims and figures read."""

  def write(self, plan: 'Plan', data: Any, trained: Any, results: Any, workdir: pathlib.Path,
            tensorboard: bool) -> None:
    """The experiment's files, figures and tables (report.md and claims.json are the
    pipeline's)."""

  def returned(self, plan: 'Plan', trained: Any) -> dict:
    """What run() returns beyond the rows, the summary and the claims."""


@dataclasses.dataclass(frozen=True)
class Plan:
  """A checked config with what it asks for resolved: the figures and claims by name, the
  tables and reference runs they need, the per-run columns, and the grid."""

  experiment: Any  # the Experiment module
  config: ml_collections.ConfigDict  # checked; locked
  figures: dict[str, outputs.FigureSpec]
  claims: dict[str, verdicts.Claim]
  grid: Any  # experiment.grid(config)
  name: str = ''  # the config's name (config_files.display_name), report.md's title

  @property
  def tables(self) -> set[str]:
    return {t for spec in (*self.figures.values(), *self.claims.values()) for t in spec.tables}

  @property
  def references(self) -> set[str]:
    return {r for spec in (*self.figures.values(), *self.claims.values())
            for r in spec.references}

  @property
  def columns(self) -> tuple[str, ...]:
    return tuple(dict.fromkeys(col for claim in self.claims.values() for col in claim.columns))


def experiment_module(c: ml_collections.ConfigDict) -> Experiment:
  """The module that runs c (see EXPERIMENTS); an InputError for an unknown experiment."""
  if c.get('experiment') not in EXPERIMENTS:
    raise errors.InputError(f"config.experiment = {c.get('experiment')!r}: expected one of "
                            f'{tuple(EXPERIMENTS)}')
  return importlib.import_module(EXPERIMENTS[c.experiment])


def plan(c: ml_collections.ConfigDict, name: str = '') -> Plan:
  """c checked (its values, then the figures and claims it names and what each needs of it),
  as a Plan named `name`; a ConfigError naming every bad key otherwise."""
  experiment = experiment_module(c)
  problems = core_config.Problems(c)
  experiment.check_config(problems)
  figures = _resolve(problems, 'figures.names', c.figures.names, experiment.FIGURES)
  claims = _resolve(problems, 'report.claims', c.report.claims, experiment.CLAIMS)
  for claim_name, claim in claims.items():
    problems.need(claim.applies(c), 'report.claims', f'{claim_name!r} is a claim about '
                  f'{claim.applies_to}')
  for spec in figures.values():
    spec.check(c, problems)
  problems.raise_if_any()
  c = ml_collections.ConfigDict(c.to_dict())  # A copy that later overrides of c do not reach.
  c.lock()
  return Plan(experiment, c, figures, claims, experiment.grid(c), name)


def _resolve(problems: core_config.Problems, key: str, names: tuple[str, ...],
             registry: dict) -> dict:
  """The entries of `registry` that `names` name, in that order; an unknown name is recorded as
  a problem of config.<key>."""
  problems.need(all(name in registry for name in names), key,
                f'must be names from {tuple(registry)}')
  return {name: registry[name] for name in names if name in registry}


def run(p: Plan, workdir: pathlib.Path | None = None, overwrite: bool = False,
        tensorboard: bool = False, force: bool = False) -> dict:
  """Trains the plan's grid and, with a workdir, writes it (see each experiment's module for
  its files; with `tensorboard`, also the metrics as TensorBoard scalars); with no workdir,
  trains in memory and writes nothing.

  A work directory that holds this config's checkpoints resumes from them, to the results of
  an uninterrupted run. One that holds another config's run is an error that names the keys
  that differ, unless `overwrite`, which deletes that run's files first; so is a checkpoint of
  another config or code version, while a damaged one is reported and computed again. The work
  directory is locked for the whole run. A grid too large for the machine's memory or disk is
  an error unless `force` (runtime.check_fits). A Ctrl-C stops the run at the next checkpoint,
  from which the same call resumes; so does a disk that fills, which raises one OSError (ENOSPC)
  naming the file it was writing, with the checkpoints finished before it kept.

  Returns {'results': one row per run, 'summary': one row per learning-rate cell, 'claims': the
  verdicts of config.report.claims as in claims.json, each with its 'section'}, and what the
  experiment adds (Experiment.returned).
  """
  try:
    return _run(p, workdir, overwrite, tensorboard, force)
  except Exception as error:  # pylint: disable=broad-except
    full = outputs.disk_full(error)  # orbax reports a full disk in a ValueError of 400 lines.
    if full is None:
      raise
    raise full from None


def _run(p: Plan, workdir: pathlib.Path | None, overwrite: bool, tensorboard: bool,
         force: bool) -> dict:
  experiment = p.experiment
  if workdir is not None:
    outputs.check_workdir_path(workdir)
  if tensorboard:
    outputs.require_tensorboardx()  # Before anything is loaded or compiled.
  data = experiment.load(p)  # Bad data fails before the work directory is touched.
  runtime.check_fits(experiment.footprint(p, data), workdir, force, experiment.SIZE_KEYS)
  # In a multi-process job, process 0 writes the files and holds the lock.
  writer = workdir is not None and jax.process_index() == 0
  with outputs.workdir_lock(workdir) if writer else contextlib.nullcontext():
    if workdir is not None:
      outputs.prepare_workdir(p.config.to_dict(), experiment.declared_config().to_dict(),
                              workdir, experiment.OUTPUTS, overwrite, writer,
                              experiment.GROWING_AXES)
      runtime.barrier('work directory prepared')  # No process looks for checkpoints before.
    trained = experiment.train(p, data, workdir, writer, tensorboard)
    results = experiment.results(p, data, trained)
    sections = {section: [] for section in experiment.SECTIONS}
    for claim_name, claim in p.claims.items():
      sections[claim.section] += [dataclasses.replace(v, name=claim_name)
                                  for v in claim.checks(results)]
    if writer:
      experiment.write(p, data, trained, results, workdir, tensorboard)
      if any(sections.values()):
        outputs.write_text(workdir / 'report.md', verdicts.report_markdown(
            f'Claims checked on {p.name}' if p.name else 'Claims checked', sections))
        outputs.write_json(workdir / 'claims.json', verdicts.to_json(sections))
      else:  # No claims asked for: none of an earlier run of other claims stays.
        for name in ('report.md', 'claims.json'):
          (workdir / name).unlink(missing_ok=True)
      logging.info('wrote %s', workdir)
  checks = [{'section': section, **v.to_dict()} for section, found in sections.items()
            for v in found]
  for check in checks:
    logging.info('%s: %s — %s', check['verdict'], check['claim'], check['measured'])
  return {'results': results.rows, 'summary': results.summary, 'claims': checks,
          **experiment.returned(p, trained)}
