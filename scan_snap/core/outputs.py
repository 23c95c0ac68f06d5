"""Files of the work directory, each written atomically (a temporary file, then a rename), the
work directory's lock, and the figures (FigureSpec: an entry of an experiment's registry)."""

import contextlib
import csv
import dataclasses
import errno
import fcntl
import io
import json
import os
import pathlib
import re
import secrets
import shutil
from typing import Any, Callable, Iterator

import ml_collections
import numpy as np

from scan_snap.core import config as core_config
from scan_snap.core import errors


# atomic_path's temporary files, .<name>.<8 random characters><suffix>, as left by a killed run.
_TEMPORARY = re.compile(r'\..+\.[a-z0-9_]{8}(\.\w+)?')
_ORBAX_TEMPORARY = '.orbax-checkpoint-tmp'  # in the names of orbax's unfinished checkpoints


@contextlib.contextmanager
def atomic_path(path: pathlib.Path) -> Iterator[pathlib.Path]:
  """Yields a new empty file beside `path` (with the umask's permissions); if the block
  succeeds, flushes it to disk and renames it onto `path`."""
  path.parent.mkdir(parents=True, exist_ok=True)
  while True:
    tmp = path.with_name(f'.{path.name}.{secrets.token_hex(4)}{path.suffix}')
    try:
      os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
      break
    except FileExistsError:
      continue
  try:
    yield tmp
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent)  # the rename
  except Exception as error:  # pylint: disable=broad-except  # A writer may hide the OSError.
    full = disk_full(error)
    if full is None:
      raise
    raise OSError(full.errno, full.strerror, str(path)) from None
  finally:
    tmp.unlink(missing_ok=True)


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full(error: BaseException) -> OSError | None:
  """The full disk (or spent quota) behind `error`, as an OSError naming the file being written
  (orbax's unfinished checkpoint folder for its writes), or None. Found as an OSError anywhere in
  the chain of exceptions (matplotlib raises another while handling it) or in the text of
  orbax's RESOURCE_EXHAUSTED error, which carries the OS error code."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, OSError) and error.errno in _DISK_FULL:
      return error
    code = re.search(r"os_error_code='(\d+)'", str(error))
    if code and int(code[1]) in _DISK_FULL:
      written = re.search(r'Failed writing: "([^"]+)"', str(error))
      filename = written and re.sub(rf'({re.escape(_ORBAX_TEMPORARY)}).*', r'\1', written[1])
      return OSError(int(code[1]), os.strerror(int(code[1])), filename or None)
    error = error.__cause__ or error.__context__
  return None


def _fsync(path: pathlib.Path) -> None:
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def write_text(path: pathlib.Path, text: str) -> None:
  with atomic_path(path) as tmp:
    tmp.write_text(text)


def write_json(path: pathlib.Path, obj) -> None:
  write_text(path, json.dumps(obj, indent=2, sort_keys=True) + '\n')


def write_csv(path: pathlib.Path, rows: list[dict]) -> None:
  """A tidy CSV: one row per dict, the columns of the first row in order."""
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator='\n')
  writer.writeheader()
  writer.writerows(rows)
  write_text(path, buffer.getvalue())


def write_npz(path: pathlib.Path, arrays: dict[str, np.ndarray]) -> None:
  with atomic_path(path) as tmp:
    with open(tmp, 'wb') as f:
      np.savez_compressed(f, **arrays)


def markdown_table(rows: list[dict], float_format: str = '{:.4g}') -> str:
  """The rows as a Markdown table (also readable as plain text)."""
  cols = list(rows[0])
  fmt = lambda v: float_format.format(v) if isinstance(v, float) else str(v)
  lines = ['| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
  lines += ['| ' + ' | '.join(fmt(row[c]) for c in cols) + ' |' for row in rows]
  return '\n'.join(lines) + '\n'


class WorkdirError(errors.InputError):
  """The work directory holds the results of another config, or another run is using it."""


@contextlib.contextmanager
def workdir_lock(workdir: pathlib.Path) -> Iterator[None]:
  """Holds an exclusive flock on <workdir>/.lock during the block; the lock ends with the block
  or with the process, however it dies. Raises WorkdirError when another run holds it."""
  workdir.mkdir(parents=True, exist_ok=True)
  fd = os.open(workdir / '.lock', os.O_RDWR | os.O_CREAT, 0o666)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.pread(fd, 32, 0).decode(errors='replace').strip()
      raise WorkdirError(f'{workdir} is in use by another run'
                         + (f' (pid {holder})' if holder else '')) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
    yield
  finally:
    os.close(fd)


def remove_temporaries(workdir: pathlib.Path) -> None:
  """Deletes what killed runs left half-written under workdir: atomic_path's temporary files
  and orbax's unfinished checkpoint folders."""
  for path in sorted(workdir.rglob('*')):  # A folder comes before what it holds.
    if _ORBAX_TEMPORARY in path.name and path.is_dir():
      shutil.rmtree(path)
    elif _TEMPORARY.fullmatch(path.name) and path.is_file():
      path.unlink()


def check_workdir_path(workdir: pathlib.Path) -> None:
  """A WorkdirError when `workdir`, or the nearest of its parents that exists, is not a folder."""
  path = pathlib.Path(workdir).expanduser().absolute()
  while not path.exists() and path != path.parent:
    path = path.parent
  if not path.is_dir():
    named = 'is a file' if path == pathlib.Path(workdir).expanduser().absolute() else \
        f'lies under the file {path}'
    raise WorkdirError(f'the work directory {workdir} {named}: name a folder (new or existing) '
                       'with --workdir')


def prepare_workdir(resolved_config: dict, declared: dict, workdir: pathlib.Path,
                    output_names: tuple[str, ...], overwrite: bool, writer: bool,
                    growing: tuple[str, ...] = ()) -> None:
  """Checks that the run found in workdir (if any) is of this config by its config.json (see
  config_differences; `declared` is the experiment's keys at their declared values, `growing`
  its axes that may gain values), or with
  overwrite, deletes the `output_names` found there, whatever made them. The writer also deletes
  the temporary files of killed runs (see remove_temporaries). config.json is the caller's to
  write, once the checkpoints found are known to be this config's."""
  saved = workdir / 'config.json'
  if writer:
    remove_temporaries(workdir)
  if overwrite:
    for path in (workdir / name for name in output_names):
      if writer and path.is_dir():
        shutil.rmtree(path)
      elif writer and path.exists():
        path.unlink()
  elif saved.exists():
    differences = config_differences(json.loads(saved.read_text()), resolved_config, declared,
                                     growing)
    if differences:
      shown = '; '.join(differences[:_SHOWN_DIFFERENCES]) + (
          f'; and {len(differences) - _SHOWN_DIFFERENCES} more'
          if len(differences) > _SHOWN_DIFFERENCES else '')
      raise WorkdirError(f'{workdir} holds a run of another config ({shown}): pass --overwrite '
                         'to replace it, or choose another --workdir')


_SHOWN_DIFFERENCES = 5  # keys named in the message of a config that differs


# The config sections that choose what is reported of the runs, not the runs: a work directory
# whose config differs from this one only there is this config's (its outputs are written anew).
REPORTING_SECTIONS = ('figures', 'report')


def config_differences(saved: dict, resolved: dict, declared: dict,
                       growing: tuple[str, ...] = ()) -> list[str]:
  """The keys in which a work directory's config.json (`saved`) and this config (`resolved`)
  differ, each as 'config.<key> = <saved> there, <this> here' (values as JSON has them), those
  of the REPORTING_SECTIONS left out. A key that this config has and the saved one lacks, set
  to its `declared` value, is no difference: a key added to the code since the run was made,
  left at its default, runs as before. Nor is a `growing` key (an axis whose values are each
  trained and checkpointed apart, as the depths are) whose saved values, at least one, are all
  among this config's: the runs found are this config's, and the values added are trained."""
  as_json = lambda tree: json.loads(json.dumps(tree))
  saved, resolved, declared = as_json(saved), as_json(resolved), as_json(declared)
  missing = object()
  found = []

  def compare(old, new, default, prefix):
    if isinstance(new, dict) and (isinstance(old, dict) or old is missing):
      old = {} if old is missing else old  # A section added since: its keys one by one.
      for key in [*new, *(k for k in old if k not in new)]:
        compare(old.get(key, missing), new.get(key, missing),
                default.get(key, missing) if isinstance(default, dict) else missing,
                f'{prefix}{key}.')
    elif old is missing and new == default:
      pass
    elif (prefix[:-1] in growing and isinstance(old, list) and isinstance(new, list) and old
          and all(value in new for value in old)):
      pass
    elif old != new:
      show = lambda v: 'absent' if v is missing else json.dumps(v, ensure_ascii=False)
      found.append(f'config.{prefix[:-1]} = {show(old)} there, {show(new)} here')

  compare(saved, resolved, declared, '')
  return [f for f in found if not f.startswith(tuple(f'config.{s}.' for s in REPORTING_SECTIONS))]


def require_tensorboardx():
  """The tensorboardX module, or an InputError that says how to install it."""
  try:
    import tensorboardX  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise errors.InputError('--tensorboard needs tensorboardX: pip install tensorboardX') from None
  return tensorboardX


def finite_or_none(x) -> float | None:
  """A metrics line's number: JSON's null for NaN and ±∞, which JSON cannot write."""
  return float(x) if np.isfinite(x) else None


class MetricsLog:
  """metrics.jsonl, rewritten atomically with every update, and optionally mirrored into
  TensorBoard event files: one folder per run under `tensorboard_dir`, named by its `run_keys`
  values, with one scalar per other numeric key at the line's `step`."""

  def __init__(self, path: pathlib.Path, run_keys: tuple[str, ...],
               tensorboard_dir: pathlib.Path | None = None):
    self.path, self.run_keys = path, run_keys
    self._sent = 0  # Lines already forwarded to TensorBoard by this process.
    self._writers = {}
    self._new_writer = None
    if tensorboard_dir is not None:
      tensorboardx = require_tensorboardx()
      self._new_writer = lambda run: tensorboardx.SummaryWriter(str(tensorboard_dir / run))

  def write(self, lines: list[dict]) -> None:
    """Replaces metrics.jsonl with `lines`; the lines not seen before go to TensorBoard."""
    write_text(self.path, ''.join(json.dumps(line) + '\n' for line in lines))
    if self._new_writer is None:
      return
    for line in lines[self._sent:]:
      # One folder per run: a '/' in a value (a parameter pattern's) would nest folders.
      run = ','.join(f'{k}={line[k]}' for k in self.run_keys).replace('/', '_')
      if run not in self._writers:
        self._writers[run] = self._new_writer(run)
      for key, value in line.items():
        if key not in (*self.run_keys, 'step') and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
          self._writers[run].add_scalar(key, value, line['step'])
      self._writers[run].flush()
    self._sent = len(lines)

  def close(self) -> None:
    for writer in self._writers.values():
      writer.close()


def save_figure(fig, stem: pathlib.Path) -> list[pathlib.Path]:
  """Writes a matplotlib figure to stem.png and stem.pdf atomically, with no date in them (the
  same figure gives the same bytes); returns their paths."""
  paths = []
  for ext in ('png', 'pdf'):
    path = stem.with_suffix(f'.{ext}')
    with atomic_path(path) as tmp:
      fig.savefig(tmp, format=ext, dpi=150, bbox_inches='tight',
                  metadata={'CreationDate': None} if ext == 'pdf' else None)
    paths.append(path)
  return paths


@dataclasses.dataclass(frozen=True)
class FigureSpec:
  """An entry of an experiment's figure registry: `draw(results, figures folder)`; `tables`
  (names of the results' tables) are written beside it as <name>.csv, `references` (reference
  runs of the sweep) trained first, and `check(c, problems)` validates the config keys it alone
  reads."""

  draw: Callable[[Any, pathlib.Path], None]
  tables: tuple[str, ...] = ()
  references: tuple[str, ...] = ()
  check: Callable[[ml_collections.ConfigDict, core_config.Problems], None] = lambda c, p: None
