"""WikiText through tensorflow-datasets, without TensorFlow: the builder, the vocabulary, batches.

The user gives a standard WikiText folder (`wiki.{train,valid,test}.tokens`, or the raw variant's
`wiki.*.raw`). `WikiTextFolder` prepares each split present there as array_record files, one
example per line, in the file's order (shuffling is disabled), under a cache directory keyed by
the folder's path and file sizes; `read_lines` reads them back with `tfds.data_source`.
Language-model handling (`words_of`): with the 'whitespace' tokenizer each line is split on
whitespace and ends with `<eos>`; with 'basic_english', the authors' (torchtext's of that name),
each line is lower-cased, its punctuation split off, and its words follow each other with no
`<eos>`, empty lines dropped. Words outside the vocabulary (built on the training split) become
`<unk>`.
"""

import codecs
import collections
import contextlib
import dataclasses
import hashlib
import io
import itertools
import pathlib
import re
from typing import Iterable, Iterator

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from scan_snap.core import errors

SPLITS = {'train': 'train', 'validation': 'valid', 'test': 'test'}  # TFDS split → file infix
HELDOUT = 'heldout'  # data.eval_split: the last data.heldout_tokens words of the training stream
VARIANTS = ('tokens', 'raw')  # the file suffix of each WikiText variant
EOS, UNK = '<eos>', '<unk>'
_HEADING = re.compile(r'^ = [^=].* = $', re.MULTILINE)  # ' = Title = ' lines of every article


class DataError(errors.InputError):
  """The WikiText folder is missing, incomplete or not in the WikiText format."""


def split_file(folder: pathlib.Path, split: str, variant: str) -> pathlib.Path:
  return folder / f'wiki.{SPLITS[split]}.{variant}'


def check_folder(folder: pathlib.Path, variant: str, splits: tuple[str, ...]) -> None:
  """Raises DataError, saying what is expected and where, unless `folder` holds the WikiText
  files of `splits` (UTF-8 text with ' = Title = ' article headings)."""
  expected = ', '.join(split_file(folder, s, variant).name for s in splits)
  hint = (f'expected a WikiText folder holding {expected} (the standard WikiText-2 or '
          f'WikiText-103 {variant!r} files); set --config.data.dir')
  if not folder.is_dir():
    raise DataError(f'data.dir = {str(folder)!r} is not a folder: {hint}')
  missing = [split_file(folder, s, variant).name for s in splits
             if not split_file(folder, s, variant).is_file()]
  if missing:
    found = sorted(p.name for p in folder.iterdir())[:12]
    raise DataError(f'{folder} lacks {", ".join(missing)} (it holds {found or "nothing"}): {hint}')
  for s in splits:
    path = split_file(folder, s, variant)
    head = _utf8_head(path, hint)
    if not _HEADING.search(head):
      raise DataError(f'{path} has no " = Title = " article headings in its first MiB, so it is '
                      f'not a WikiText file: {hint}')


def _utf8_head(path: pathlib.Path, hint: str, block: int = 1 << 24) -> str:
  """The first MiB of `path` as text, once the whole file is known to be UTF-8 (read in blocks);
  else a DataError naming the byte offset of the first invalid byte."""
  decoder = codecs.getincrementaldecoder('utf-8')(errors='strict')
  head, offset = '', 0
  with open(path, 'rb') as f:
    while True:
      chunk = f.read(block)
      try:
        text = decoder.decode(chunk, final=not chunk)
      except UnicodeDecodeError as error:
        pending = len(decoder.getstate()[0])  # bytes of an earlier block still undecoded
        raise DataError(f'{path} is not UTF-8 text: byte {chunk[error.start:error.start + 1]!r} '
                        f'at offset {offset - pending + error.start} cannot be decoded: {hint}'
                        ) from None
      if len(head) < 1 << 20:
        head += text[:(1 << 20) - len(head)]
      if not chunk:
        return head
      offset += len(chunk)


class WikiTextFolder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """WikiText read from a local folder (passed as the manual_dir), one example per line."""

  VERSION = tfds.core.Version('1.0.0')
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=v, description=f'the wiki.*.{v} files')
                     for v in VARIANTS]
  MANUAL_DOWNLOAD_INSTRUCTIONS = 'Give the WikiText folder as manual_dir (config.data.dir).'

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({'text': tfds.features.Text()}),
        disable_shuffling=True,  # Keeps every split in its file's line order.
        homepage='https://blog.salesforceairesearch.com/the-wikitext-long-term-dependency-'
                 'language-modeling-dataset/')

  def _split_generators(self, dl_manager):
    folder = pathlib.Path(dl_manager.manual_dir)
    return {split: self._generate_examples(split_file(folder, split, self.builder_config.name))
            for split in SPLITS if split_file(folder, split, self.builder_config.name).is_file()}

  def _generate_examples(self, path: pathlib.Path):
    with open(path, encoding='utf-8') as f:
      for index, line in enumerate(f):
        yield index, {'text': line.rstrip('\n')}


def _cache_key(folder: pathlib.Path, variant: str) -> str:
  """A name for the prepared copy of `folder`: its path, and its files' sizes and times."""
  stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns)
           for p in sorted(folder.glob(f'wiki.*.{variant}'))]
  digest = hashlib.sha256(repr((str(folder.resolve()), stats)).encode()).hexdigest()[:12]
  return f'{folder.resolve().name}_{digest}'


def prepare(folder: pathlib.Path, variant: str, cache_dir: pathlib.Path,
            splits: tuple[str, ...]) -> WikiTextFolder:
  """Checks the folder and prepares its splits as array_record files (once per folder)."""
  if variant not in VARIANTS:
    raise DataError(f'data.variant = {variant!r}: expected one of {VARIANTS}')
  folder = pathlib.Path(folder).expanduser()
  check_folder(folder, variant, splits)
  builder = WikiTextFolder(config=variant, file_format='array_record',
                           data_dir=str(pathlib.Path(cache_dir).expanduser()
                                        / _cache_key(folder, variant)))
  tfds.disable_progress_bar()
  with contextlib.redirect_stdout(io.StringIO()):  # TFDS prints its own bold notices there.
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=epath.Path(folder), try_download_gcs=False))
  return builder


def read_lines(builder: WikiTextFolder, split: str, block: int = 10_000) -> Iterator[str]:
  """The lines of one prepared split, in the file's order, read `block` lines at a time."""
  source = builder.as_data_source(split=split)
  for start in range(0, len(source), block):
    for example in source.__getitems__(range(start, min(start + block, len(source)))):
      text = example['text']
      yield text.decode('utf-8') if isinstance(text, bytes) else text


TOKENIZERS = ('whitespace', 'basic_english')
# torchtext's basic_english, in its order: (pattern, replacement), then a split on whitespace.
_BASIC_ENGLISH = [(re.compile(p), r) for p, r in (
    (r"\'", " '  "), (r'\"', ''), (r'\.', ' . '), (r'<br \/>', ' '), (r',', ' , '),
    (r'\(', ' ( '), (r'\)', ' ) '), (r'\!', ' ! '), (r'\?', ' ? '), (r'\;', ' '), (r'\:', ' '),
    (r'\s+', ' '))]


def basic_english(line: str) -> list[str]:
  """torchtext's basic_english tokenizer: lower case, each of ' . , ( ) ! ? its own word, " ; :
  dropped."""
  line = line.lower()
  for pattern, replacement in _BASIC_ENGLISH:
    line = pattern.sub(replacement, line)
  return line.split()


def words_of(lines: Iterable[str], tokenizer: str = 'whitespace') -> Iterator[str]:
  """The word stream of a language model: 'whitespace', each line's words, then <eos>;
  'basic_english', each line's basic_english words, with no <eos> (so an empty line adds
  nothing)."""
  for line in lines:
    if tokenizer == 'basic_english':
      yield from basic_english(line)
    else:
      yield from line.split()
      yield EOS


@dataclasses.dataclass(frozen=True)
class Vocabulary:
  """Word ↔ id; ids ordered by decreasing count in the training split (ties: first seen)."""

  words: tuple[str, ...]

  @classmethod
  def build(cls, train_words: Iterable[str], max_size: int = 0) -> 'Vocabulary':
    """Every training word (or the max_size − 2 most frequent), plus <eos> and <unk>."""
    counts = collections.Counter(train_words)
    counts.pop(EOS, None), counts.pop(UNK, None)
    kept = [w for w, _ in counts.most_common(max_size - 2 if max_size else None)]
    return cls(words=(EOS, UNK, *kept))

  def __len__(self) -> int:
    return len(self.words)

  def encode(self, words: Iterable[str]) -> np.ndarray:
    """int32 ids of the words; a word outside the vocabulary gets the id of <unk>."""
    index = {w: i for i, w in enumerate(self.words)}
    unk = index[UNK]
    return np.fromiter((index.get(w, unk) for w in words), dtype=np.int32)


def splits_of(train_split: str) -> tuple[str, ...]:
  """The splits a data.train_split names: one, or several joined by '+' ('validation+test')."""
  return tuple(train_split.split('+'))


def encoded_splits(builder: WikiTextFolder, train_split: str, eval_split: str, tokenizer: str,
                   max_vocab: int = 0, heldout_tokens: int = 0
                   ) -> tuple[Vocabulary, np.ndarray, np.ndarray]:
  """The vocabulary and the ids of the training and evaluation streams. The training stream is
  the words of train_split's splits, one after the other; with eval_split = HELDOUT its last
  heldout_tokens words are the evaluation stream instead, and the vocabulary is built on the
  rest. Streamed: the words are read again for each pass, never all held as strings."""
  def train_words():
    lines = itertools.chain.from_iterable(read_lines(builder, s) for s in splits_of(train_split))
    return words_of(lines, tokenizer)

  if eval_split != HELDOUT:
    vocab = Vocabulary.build(train_words(), max_vocab)
    return (vocab, vocab.encode(train_words()),
            vocab.encode(words_of(read_lines(builder, eval_split), tokenizer)))
  kept = sum(1 for _ in train_words()) - heldout_tokens
  if kept < 1:
    raise DataError(f'data.heldout_tokens = {heldout_tokens} leaves nothing to train on: '
                    f'{train_split} has {kept + heldout_tokens} words')
  vocab = Vocabulary.build(itertools.islice(train_words(), kept), max_vocab)
  ids = vocab.encode(train_words())
  return vocab, ids[:kept], ids[kept:]


def batchify(ids_N: np.ndarray, batch_size: int) -> np.ndarray:
  """The stream cut into batch_size parallel streams: (B, N // B), stream b = ids[b·L:(b+1)·L]."""
  length = len(ids_N) // batch_size
  if length < 2:
    raise DataError(f'{len(ids_N)} tokens cannot fill {batch_size} streams of ≥ 2 tokens')
  return ids_N[:batch_size * length].reshape(batch_size, length)


def num_windows(stream_length: int, bptt: int) -> int:
  """Whole (input, target) windows of bptt tokens in a stream of that length."""
  return (stream_length - 1) // bptt
