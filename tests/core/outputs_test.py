"""Work-directory files: metrics.jsonl and its TensorBoard mirror, figures."""

import json
import pathlib
import struct
import sys
from unittest import mock

from absl.testing import absltest
import matplotlib
from matplotlib import pyplot as plt
from tensorboardX.proto import event_pb2

from scan_snap.core import errors
from scan_snap.core import outputs

matplotlib.use('Agg')


def _scalars(folder: pathlib.Path) -> list[tuple[int, str, float]]:
  """(step, tag, value) of every scalar in the folder's event files (TFRecord framing)."""
  found = []
  for path in sorted(folder.glob('events.out.tfevents.*')):
    data, i = path.read_bytes(), 0
    while i < len(data):
      (length,) = struct.unpack('<Q', data[i:i + 8])
      event = event_pb2.Event.FromString(data[i + 12:i + 12 + length])
      found += [(event.step, v.tag, v.simple_value) for v in event.summary.value]
      i += 12 + length + 4
  return found


class MetricsLogTest(absltest.TestCase):

  def test_jsonl_and_tensorboard_scalars_per_run(self):
    workdir = pathlib.Path(self.create_tempdir().full_path)
    log = outputs.MetricsLog(workdir / 'metrics.jsonl', ('seed', 'lr'), workdir / 'tensorboard')
    first = [{'step': 0, 'seed': 1, 'lr': 0.5, 'val_loss': 2.0, 'diverged': False},
             {'step': 0, 'seed': 2, 'lr': 0.5, 'val_loss': 3.0, 'diverged': False}]
    log.write(first)
    log.write(first + [{'step': 10, 'seed': 1, 'lr': 0.5, 'val_loss': 1.5, 'freezing': None,
                        'diverged': False}])
    log.close()
    lines = [json.loads(l) for l in (workdir / 'metrics.jsonl').read_text().splitlines()]
    self.assertLen(lines, 3)
    self.assertEqual(lines[2]['val_loss'], 1.5)
    runs = sorted(p.name for p in (workdir / 'tensorboard').iterdir())
    self.assertEqual(runs, ['seed=1,lr=0.5', 'seed=2,lr=0.5'])
    # Each line once (the second write forwards only the new one); bools and None are skipped.
    self.assertEqual(_scalars(workdir / 'tensorboard' / 'seed=1,lr=0.5'),
                     [(0, 'val_loss', 2.0), (10, 'val_loss', 1.5)])
    self.assertEqual(_scalars(workdir / 'tensorboard' / 'seed=2,lr=0.5'), [(0, 'val_loss', 3.0)])

  def test_a_slash_in_a_run_key_does_not_nest_folders(self):
    workdir = pathlib.Path(self.create_tempdir().full_path)
    log = outputs.MetricsLog(workdir / 'metrics.jsonl', ('seed', 'lr_factor[blocks/0]'),
                             workdir / 'tensorboard')
    log.write([{'step': 0, 'seed': 1, 'lr_factor[blocks/0]': 2.0, 'val_loss': 2.0}])
    log.close()
    self.assertEqual([p.name for p in (workdir / 'tensorboard').iterdir()],
                     ['seed=1,lr_factor[blocks_0]=2.0'])

  def test_tensorboard_without_tensorboardx_is_a_clear_error(self):
    workdir = pathlib.Path(self.create_tempdir().full_path)
    with mock.patch.dict(sys.modules, {'tensorboardX': None}):  # import fails
      with self.assertRaisesRegex(errors.InputError,
                                  '--tensorboard needs tensorboardX: pip install tensorboardX'):
        outputs.MetricsLog(workdir / 'metrics.jsonl', ('group',), workdir / 'tensorboard')

  def test_without_tensorboard_only_the_jsonl(self):
    workdir = pathlib.Path(self.create_tempdir().full_path)
    log = outputs.MetricsLog(workdir / 'metrics.jsonl', ('group',))
    log.write([{'step': 0, 'group': 'a', 'loss': 1.0}])
    self.assertEqual(sorted(p.name for p in workdir.iterdir()), ['metrics.jsonl'])


class FigureTest(absltest.TestCase):

  def test_the_same_figure_gives_the_same_bytes_at_another_time(self):
    folder = pathlib.Path(self.create_tempdir().full_path)
    saved = []
    for moment in (0, 86400):  # a day apart: a date in the PDF would differ
      fig, ax = plt.subplots()
      ax.plot([0, 1], [1, 0])
      with mock.patch('time.time', return_value=1.8e9 + moment):
        saved.append([p.read_bytes() for p in outputs.save_figure(fig, folder / f'f{moment}')])
      plt.close(fig)
    self.assertTrue(saved[0][1].startswith(b'%PDF'))
    self.assertEqual(saved[0], saved[1])


class ConfigDifferencesTest(absltest.TestCase):

  def test_a_growing_axis_may_gain_values_and_nothing_else(self):
    declared = {'model': {'depths': [], 'd_model': 8}}
    saved = {'model': {'depths': [1, 2], 'd_model': 8}}
    differ = lambda depths, growing=('model.depths',): outputs.config_differences(
        saved, {'model': {'depths': depths, 'd_model': 8}}, declared, growing)
    self.assertEqual(differ([1, 2, 4]), [])  # depth 4 is trained, depths 1 and 2 resume
    self.assertEqual(differ([4, 2, 1]), [])
    self.assertEqual(differ([1, 4]), ['config.model.depths = [1, 2] there, [1, 4] here'])
    self.assertEqual(differ([1, 2, 4], growing=()),
                     ['config.model.depths = [1, 2] there, [1, 2, 4] here'])
    no_axis = {'model': {'depths': [], 'd_model': 8}}  # Checkpoints laid out without depths.
    self.assertEqual(outputs.config_differences(no_axis, saved, declared, ('model.depths',)),
                     ['config.model.depths = [] there, [1, 2] here'])


if __name__ == '__main__':
  absltest.main()
