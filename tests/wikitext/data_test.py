"""WikiText through TFDS: the prepared splits, the word stream, the vocabulary, the batches, and
the errors for a folder that is not WikiText."""

import pathlib

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from scan_snap.wikitext import data
from tests.testing import WIKITEXT_DIR, needs_wikitext

_TINY = {  # A hand-made WikiText folder: article headings, blank lines, <unk>.
    'train': ' \n = Alpha = \n \n the cat sat on the mat . \n the dog sat . \n',
    'valid': ' \n = Beta = \n \n the bird sat on a mat . \n',
    'test': ' \n = Gamma = \n \n a <unk> ran . \n',
}


def _tiny_folder(root: pathlib.Path, variant: str = 'tokens') -> pathlib.Path:
  for infix, text in _TINY.items():
    (root / f'wiki.{infix}.{variant}').write_text(text)
  return root


class DataTest(parameterized.TestCase):

  @parameterized.parameters('tokens', 'raw')
  def test_builder_round_trips_every_line_in_order(self, variant):
    folder = _tiny_folder(pathlib.Path(self.create_tempdir().full_path), variant)
    builder = data.prepare(folder, variant, pathlib.Path(self.create_tempdir().full_path),
                           ('train', 'validation', 'test'))
    for split, infix in data.SPLITS.items():
      self.assertEqual(list(data.read_lines(builder, split)), _TINY[infix].split('\n')[:-1])

  @needs_wikitext
  def test_builder_keeps_the_word_order_of_the_shipped_files(self):
    builder = data.prepare(WIKITEXT_DIR, 'tokens', pathlib.Path(self.create_tempdir().full_path),
                           ('validation', 'test'))
    for split, name in (('validation', 'wiki.valid.tokens'), ('test', 'wiki.test.tokens')):
      text = (WIKITEXT_DIR / name).read_text(encoding='utf-8')
      self.assertEqual(list(data.read_lines(builder, split, block=1000)), text.split('\n')[:-1])

  def test_words_end_each_line_with_eos(self):
    self.assertEqual(list(data.words_of([' ', ' = A b = ', ' x , y '])),
                     ['<eos>', '=', 'A', 'b', '=', '<eos>', 'x', ',', 'y', '<eos>'])

  def test_basic_english_is_torchtext_s(self):
    # torchtext.data.utils.get_tokenizer('basic_english') on these lines, as the authors read
    # WikiText: lower case; ' . , ( ) ! ? split off; " ; : dropped; empty lines give nothing.
    lines = [' ', ' = Valkyria Chronicles = ', ' The game \'s "sequel" (2011) : it , was; fun! '
             'Really? <unk> 3 @.@ 5 ']
    self.assertEqual(list(data.words_of(lines, 'basic_english')),
                     ['=', 'valkyria', 'chronicles', '=', 'the', 'game', "'", 's', 'sequel', '(',
                      '2011', ')', 'it', ',', 'was', 'fun', '!', 'really', '?', '<unk>', '3',
                      '@', '.', '@', '5'])

  def test_vocabulary_by_count_then_first_appearance(self):
    words = list(data.words_of(_TINY['train'].split('\n')[:-1]))
    vocab = data.Vocabulary.build(words)
    self.assertEqual(vocab.words, ('<eos>', '<unk>', 'the', '=', 'sat', '.', 'Alpha', 'cat', 'on',
                                   'mat', 'dog'))
    valid = list(data.words_of(_TINY['valid'].split('\n')[:-1]))
    np.testing.assert_array_equal(vocab.encode(valid[6:]), [2, 1, 4, 8, 1, 9, 5, 0])
    self.assertEqual(data.Vocabulary.build(words, max_size=5).words,
                     ('<eos>', '<unk>', 'the', '=', 'sat'))

  def test_splits_joined_and_a_heldout_slice(self):
    folder = _tiny_folder(pathlib.Path(self.create_tempdir().full_path))
    builder = data.prepare(folder, 'tokens', pathlib.Path(self.create_tempdir().full_path),
                           ('validation', 'test'))
    words = [*data.words_of(_TINY['valid'].split('\n')[:-1]),
             *data.words_of(_TINY['test'].split('\n')[:-1])]  # 14 + 11
    vocab, train, held = data.encoded_splits(builder, 'validation+test', 'heldout', 'whitespace',
                                             heldout_tokens=4)
    self.assertEqual(vocab.words, data.Vocabulary.build(words[:-4]).words)
    self.assertNotIn('ran', vocab.words)  # a word of the held-out slice only
    np.testing.assert_array_equal(train, vocab.encode(words[:-4]))
    np.testing.assert_array_equal(held, vocab.encode(['<unk>', 'ran', '.', '<eos>']))
    self.assertEqual(held[1], vocab.words.index('<unk>'))
    # A split to evaluate on: the training stream is the joined splits whole.
    vocab, train, evaluated = data.encoded_splits(builder, 'validation', 'test', 'whitespace')
    np.testing.assert_array_equal(train, vocab.encode(words[:14]))
    np.testing.assert_array_equal(evaluated, vocab.encode(words[14:]))
    with self.assertRaisesRegex(data.DataError, 'data.heldout_tokens = 25 leaves nothing to '
                                r'train on: validation\+test has 25 words'):
      data.encoded_splits(builder, 'validation+test', 'heldout', 'whitespace', heldout_tokens=25)

  def test_batchify_and_windows(self):
    streams = data.batchify(np.arange(23), 3)  # Three streams of 7; two tokens dropped.
    np.testing.assert_array_equal(streams[1], np.arange(7, 14))
    self.assertEqual(data.num_windows(streams.shape[1], 3), 2)

  def test_missing_folder_or_file_is_a_clear_error(self):
    root = pathlib.Path(self.create_tempdir().full_path)
    with self.assertRaisesRegex(data.DataError, 'is not a folder: expected a WikiText folder '
                                'holding wiki.train.tokens'):
      data.check_folder(root / 'absent', 'tokens', ('train',))
    _tiny_folder(root)
    (root / 'wiki.test.tokens').unlink()
    with self.assertRaisesRegex(data.DataError, r'lacks wiki.test.tokens \(it holds'):
      data.check_folder(root, 'tokens', ('train', 'test'))
    with self.assertRaisesRegex(data.DataError, 'lacks wiki.train.raw'):
      data.check_folder(root, 'raw', ('train',))

  def test_wrong_format_is_a_clear_error(self):
    root = pathlib.Path(self.create_tempdir().full_path)
    (root / 'wiki.train.tokens').write_bytes(b'PAR1\x00\x15\xff\xfe')  # e.g. a parquet file
    with self.assertRaisesRegex(data.DataError, 'is not UTF-8 text'):
      data.check_folder(root, 'tokens', ('train',))
    (root / 'wiki.train.tokens').write_text('{"text": "a json line"}\n')
    with self.assertRaisesRegex(data.DataError, 'not a WikiText file'):
      data.check_folder(root, 'tokens', ('train',))


if __name__ == '__main__':
  absltest.main()
