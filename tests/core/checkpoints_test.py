"""A checkpoint's fingerprint: what it holds of a run config; and which of orbax's logs are left to
the one-line reports."""

import dataclasses
import errno
import json
import logging
import os
import sys
from unittest import mock

from absl.testing import absltest

from scan_snap.core import checkpoints
from scan_snap.core import runtime
from tests.testing import load_config


@dataclasses.dataclass(frozen=True)
class _Old:
  rate: float
  shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class _New:  # _Old with a field added since, whose default runs as before.
  rate: float
  shape: tuple[int, ...]
  decay: float = 0.0


@dataclasses.dataclass(frozen=True)
class _Variant(_New):  # the same fields, other numbers (a subclass overriding a method, say)
  pass


@dataclasses.dataclass(frozen=True)
class _Run:
  part: _New
  steps: int


class DescribedTest(absltest.TestCase):

  def test_a_field_added_at_its_default_keeps_the_fingerprint(self):
    old = checkpoints.fingerprint(run=checkpoints.described(_Old(0.5, (2, 3))))
    self.assertEqual(checkpoints.fingerprint(run=checkpoints.described(_New(0.5, (2, 3)))), old)
    self.assertNotEqual(
        checkpoints.fingerprint(run=checkpoints.described(_New(0.5, (2, 3), decay=0.1))), old)
    self.assertNotEqual(checkpoints.fingerprint(run=checkpoints.described(_Old(0.25, (2, 3)))),
                        old)

  def test_nested_dataclasses_are_described_field_by_field(self):
    self.assertEqual(checkpoints.described(_Run(_New(0.5, (2, 3), decay=0.1), steps=4)),
                     {'part': {'rate': 0.5, 'shape': [2, 3], 'decay': 0.1}, 'steps': 4})

  def test_a_subclass_in_a_field_is_named(self):
    variant = _Run(_Variant(0.5, (2, 3)), steps=4)  # say, another family of sequence classes
    self.assertEqual(checkpoints.described(variant)['part']['__class__'], f'{__name__}._Variant')
    self.assertNotIn('__class__', checkpoints.described(_Run(_New(0.5, (2, 3)), steps=4))['part'])
    self.assertNotEqual(checkpoints.fingerprint(run=checkpoints.described(variant)),
                        checkpoints.fingerprint(run=checkpoints.described(
                            _Run(_New(0.5, (2, 3)), steps=4))))

  def test_todays_run_configs_are_described_as_before(self):
    # The fingerprints of the checkpoints made before `described` were those of asdict, of the
    # fields the run config had then: a field added since, at its default, is left out.
    from scan_snap.sequence_classes import config  # pylint: disable=g-import-not-at-top
    run_config = config.run_config(load_config('syn_medium'), 5)
    self.assertFalse(run_config.model.token_prior)
    before = dataclasses.asdict(run_config)
    del before['model']['token_prior']  # added 2026-12-04
    self.assertEqual(json.dumps(checkpoints.described(run_config), sort_keys=True),
                     json.dumps(before, sort_keys=True))


def _orbax_log(failure: Exception | None, where: str = os.path.join(os.sep, 'lib', 'orbax', 'x.py')):
  """A log record of a file at `where`, with `failure` as its exception."""
  try:
    if failure is not None:
      raise failure
  except Exception:  # pylint: disable=broad-except
    exc_info = sys.exc_info()
  else:
    exc_info = None
  return logging.LogRecord('absl', logging.ERROR, where, 1, 'failed', (), exc_info)


class OrbaxLogTest(absltest.TestCase):

  def test_a_full_disk_and_a_lost_process_are_left_to_the_one_line_reports(self):
    keep = checkpoints._not_orbax_reporting_a_failure_we_report  # pylint: disable=protected-access
    try:
      raise TimeoutError('Timed out at the async_commit_complete barrier') from RuntimeError(
          'UNAVAILABLE: Failed to send RPC to coordination service')
    except TimeoutError as error:
      lost = error
    self.assertTrue(keep(_orbax_log(lost)))  # One process: no process to lose; kept in full.
    self.assertFalse(keep(_orbax_log(OSError(errno.ENOSPC, 'No space left on device'))))
    with mock.patch.object(runtime, 'in_a_job_of_several_processes', return_value=True):
      self.assertFalse(keep(_orbax_log(lost)))
      self.assertTrue(keep(_orbax_log(ValueError('another failure'))))  # logged in full
      self.assertTrue(keep(_orbax_log(None)))
      self.assertTrue(keep(_orbax_log(lost, where='scan_snap/core/checkpoints.py')))  # ours


if __name__ == '__main__':
  absltest.main()
