"""Config files: finding them, loading one with its variant, and overriding its values.

A config is named as on the command line, `configs/<name>.py[:variant]`: a path that exists
relative to the current directory is loaded from there; otherwise its file name is looked up
among the configs shipped with the package (scan_snap.configs, the repository's configs/), so
the same command works from any directory and from a non-editable install. A bare name
(`syn_medium`, `syn_medium:smoke`) is looked up there too.
"""

import ast
import difflib
import importlib.resources
import importlib.util
import pathlib
import sys
import traceback

from absl import flags
import ml_collections

from scan_snap.core import errors


class ConfigFileError(errors.InputError):
  """A config that cannot be found or loaded, or an override of a key it does not have."""


def packaged_dir() -> pathlib.Path:
  """The folder of the configs shipped with the package."""
  return pathlib.Path(str(importlib.resources.files('scan_snap.configs')))


def packaged_names() -> list[str]:
  """The names of the shipped configs (syn_medium, wikitext2, …)."""
  return sorted(p.stem for p in packaged_dir().glob('*.py') if p.stem != '__init__')


def split_spec(spec: str) -> tuple[str, str]:
  """'configs/x.py:smoke' → ('configs/x.py', 'smoke'); no colon → (spec, '')."""
  path, _, variant = str(spec).partition(':')
  return path, variant


def find(path: str | pathlib.Path) -> pathlib.Path:
  """The config file that `path` names: the path itself if it exists, else the shipped config of
  that file name (a bare name gets '.py'). Raises ConfigFileError naming the shipped configs."""
  given = pathlib.Path(path).expanduser()
  if given.is_file():
    return given.resolve()
  name = given.name if given.suffix == '.py' else f'{given.name}.py'
  shipped = packaged_dir() / name
  if shipped.is_file() and name != '__init__.py':
    return shipped
  raise ConfigFileError(f'no config file {str(path)!r}: not a file here, nor a shipped config; '
                        f'the shipped configs are {", ".join(packaged_names())}')


def run_name(spec: str) -> str:
  """The default work directory's name for a config: <name>[_<variant>]."""
  path, variant = split_spec(spec)
  stem = pathlib.Path(path).stem
  return f'{stem}_{variant}' if variant else stem


def display_name(spec: str) -> str:
  """A config's name as report.md shows it: <file name>[:<variant>]."""
  path, variant = split_spec(spec)
  name = pathlib.Path(path).name
  return f'{name}:{variant}' if variant else name


def load(spec: str | pathlib.Path, variant: str = '',
         overrides: dict | None = None) -> ml_collections.ConfigDict:
  """get_config(variant) of the config named by spec ('configs/x.py[:variant]', a path or a
  name), locked as the command line locks it, with `overrides` ({'optimizer.lr_z': 2.0, …})
  applied as `override` applies them."""
  path, spec_variant = split_spec(spec)
  if spec_variant and variant and spec_variant != variant:
    raise ConfigFileError(f'two variants given: {spec_variant!r} in {str(spec)!r} and {variant!r}')
  file = find(path)
  module_spec = importlib.util.spec_from_file_location(f'scan_snap_config_{file.stem}', file)
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
    c = module.get_config(spec_variant or variant)
  except errors.InputError:
    raise
  except Exception as error:  # A config file is code: report where it failed, in one line.
    frame = traceback.extract_tb(error.__traceback__)[-1]
    raise ConfigFileError(f'{file.name} failed: {type(error).__name__}: {error} '
                          f'({pathlib.Path(frame.filename).name}, line {frame.lineno})') from None
  c.lock()
  return override(c, overrides or {})


def override(c: ml_collections.ConfigDict, values: dict) -> ml_collections.ConfigDict:
  """Sets each dotted key of `values` in c and returns c. A scalar given to a tuple-valued key
  (a grid axis) becomes a one-value tuple, as on the command line; a key c does not have is a
  ConfigFileError naming the nearest one."""
  for dotted, value in values.items():
    node, leaf = _holder(c, dotted)
    if isinstance(node[leaf], tuple) and not isinstance(value, (tuple, list)):
      value = (value,)
    elif isinstance(node[leaf], tuple):
      value = tuple(value)
    try:
      node[leaf] = value
    except TypeError as error:
      raise ConfigFileError(f'config.{dotted} = {value!r}: {error}') from None
  return c


def _holder(c: ml_collections.ConfigDict, dotted: str) -> tuple[ml_collections.ConfigDict, str]:
  """The sub-config of c that holds the key `dotted` (a leaf or a whole section), and the key's
  last part; a ConfigFileError naming the nearest key when c has no such key."""
  *parents, leaf = dotted.split('.')
  node = c
  for part in parents:
    node = node[part] if isinstance(node, ml_collections.ConfigDict) and part in node else None
  if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
    raise ConfigFileError(unknown_key_message(dotted, c))
  return node, leaf


def _check_tuple(flag: str, value: str, current: tuple) -> None:
  """A ConfigFileError saying how to write it, for a tuple-valued key's command-line `value`
  that is neither one element nor a whole tuple: text that ml_collections' parser refuses, or
  reads as one name although it lists several."""
  names = bool(current) and all(isinstance(x, str) for x in current)
  try:
    ast.literal_eval(value)
    return
  except SyntaxError:
    malformed = ',' in value or ' ' in value  # Without either: one unquoted element.
  except ValueError:  # Not a literal: an unquoted string, which the config's checks judge.
    malformed = names and ',' in value
  if malformed:
    example = (f'one name ({flag}={current[0]}) or a tuple with each name quoted: '
               f'{flag}="(\'name1\', \'name2\')"' if names else
               f"one number ({flag}=2) or a whole tuple, quoted for the shell: {flag}='(1, 2.5)'")
    raise ConfigFileError(f'{flag}={value} is not a value of this tuple; write {example}')


def all_keys(c: ml_collections.ConfigDict, prefix: str = '') -> list[str]:
  """Every leaf key of c, dotted."""
  keys = []
  for name, value in c.items():
    if isinstance(value, ml_collections.ConfigDict):
      keys += all_keys(value, f'{prefix}{name}.')
    else:
      keys.append(f'{prefix}{name}')
  return keys


def unknown_key_message(dotted: str, c: ml_collections.ConfigDict) -> str:
  """'config.<dotted> does not exist', with the nearest existing key when one is close."""
  nearest = difflib.get_close_matches(dotted, all_keys(c), n=1, cutoff=0.6)
  hint = f'; did you mean config.{nearest[0]}?' if nearest else ''
  return f'config.{dotted} is not a key of this config{hint}'


def parse_command_line(argv: list[str], default_config: str | None = None) -> list[str]:
  """absl's flag parsing for an entry point with a `--config` flag (ml_collections'
  DEFINE_config_file): the config is named as `find` finds it (default_config when argv names
  none), and every mistake in the config or its overrides exits with one or two lines on
  stderr, without a traceback."""
  try:
    if default_config and not any(a.split('=', 1)[0] in ('--config', '-config') for a in argv):
      argv = [*argv[:1], f'--config={default_config}', *argv[1:]]
    return flags.FLAGS(_resolved_config_argument(argv))
  except (flags.Error, errors.InputError) as error:
    message = str(error).strip().splitlines()
    sys.exit('error: ' + (message[0] if message else type(error).__name__)
             + ('\nRun with --helpshort for the flags.' if isinstance(error, flags.Error) else ''))


def _resolved_config_argument(argv: list[str]) -> list[str]:
  """argv with the --config value replaced by the path of the file it names, once that config
  and its --config.<key> overrides are known to load (else a ConfigFileError)."""
  argv = list(argv)
  for i, arg in enumerate(argv):
    if arg in ('--config', '-config') and i + 1 < len(argv):
      arg = f'--config={argv[i + 1]}'
      argv[i:i + 2] = [arg]
    if arg.startswith(('--config=', '-config=')):
      path, variant = split_spec(arg.split('=', 1)[1])
      c = load(path, variant)  # Missing, failing or unknown variant: one line.
      for other in argv:
        if other.startswith(('--config.', '--noconfig.')):
          flag, _, value = other.partition('=')
          node, leaf = _holder(c, flag.split('.', 1)[1])  # An unknown key: one line.
          if isinstance(node[leaf], tuple):
            _check_tuple(flag, value, node[leaf])
      argv[i] = f'--config={find(path)}' + (f':{variant}' if variant else '')
      break
  return argv

