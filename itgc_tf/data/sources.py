"""Sources: where encoded images come from, checked eagerly before any tf.data work
(`itgc_tf.data.resolve` picks the source of a configuration).

A `Source` is paired (one `Stream` whose elements hold A and B, or one side-by-side
``AB`` image) or unpaired (two independent streams, domain A then domain B). A
`Stream` yields dicts of encoded image bytes, or of file paths to read, in a fixed
order, and can be split into disjoint shards with exact example counts.
"""
import abc
import collections
import dataclasses
import logging
import posixpath

import tensorflow as tf

from itgc_tf.data import errors
from itgc_tf.data.config import DataConfig
from itgc_tf.data.images import read_header, require_folder, scan_folder, stem
from itgc_tf.data.preprocess import check_size
from itgc_tf.data.labels import check_label_ids


class Stream(abc.ABC):
    """An ordered stream of examples, each a dict ``key -> tf.string`` of encoded images.

    keys: ``("AB",)`` (side-by-side pair), ``("A", "B")`` (pair) or ``("image",)``
    (one domain of unpaired data). reads_files: values are file paths to read
    (cheap to shuffle whole) rather than encoded bytes.
    """

    keys: tuple[str, ...]
    num_examples: int
    reads_files: bool = False

    @abc.abstractmethod
    def shard(self, index: int, count: int) -> "Stream":
        """Shard ``index`` of ``count`` disjoint shards that together cover the stream."""

    @abc.abstractmethod
    def elements(self, training: bool, seed: int) -> tf.data.Dataset:
        """The examples; ``training`` may shuffle storage order (files) with ``seed``."""


class FileStream(Stream):
    """Examples that are image files; ``columns[k]`` lists the files of ``keys[k]``."""

    reads_files = True

    def __init__(self, keys: tuple[str, ...], columns: tuple[tuple[str, ...], ...]):
        self.keys, self.columns = keys, columns
        self.num_examples = len(columns[0])

    def shard(self, index: int, count: int) -> "FileStream":
        return FileStream(self.keys, tuple(c[index::count] for c in self.columns))

    def elements(self, training: bool, seed: int) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices(
            {k: list(c) for k, c in zip(self.keys, self.columns)})


@dataclasses.dataclass(frozen=True)
class Source:
    """Paired data: one stream; unpaired data: streams of domain A and domain B."""

    paired: bool
    layout: str
    description: str
    streams: tuple[Stream, ...]

    def shard(self, index: int, count: int) -> "Source":
        """The part of every stream that input pipeline ``index`` of ``count`` reads."""
        streams = tuple(s.shard(index, count) for s in self.streams)
        for full, part in zip(self.streams, streams):
            if part.num_examples == 0:
                raise errors.too_few_for_shards(full.num_examples, count, self.description)
        return dataclasses.replace(self, streams=streams)


def _detect_layout(root: str, split: str) -> str:
    def isdir(*parts):
        return tf.io.gfile.isdir(posixpath.join(root, *parts))

    if isdir(split + "A") and isdir(split + "B"):
        return "unpaired"
    if isdir(split, "labels") and isdir(split, "images"):
        return "labels"
    if isdir(split, "A") and isdir(split, "B"):
        return "folders"
    if isdir(split):
        return "aligned"
    raise errors.unknown_layout(root, split)


def _match_by_name(files_a: list[str], files_b: list[str]) -> tuple[tuple[str, ...], ...]:
    """Order the files of A and B so that equal names (any extension) line up."""
    by_name = []
    for files in (files_a, files_b):
        names = {}
        for f in files:
            names.setdefault(stem(f), []).append(f)
        clashes = [", ".join(v) for v in names.values() if len(v) > 1]
        if clashes:
            raise errors.duplicate_names(posixpath.dirname(files[0]), clashes)
        by_name.append({k: v[0] for k, v in names.items()})
    names_a, names_b = by_name
    if names_a.keys() != names_b.keys():
        raise errors.unmatched_pairs(posixpath.dirname(files_a[0]), posixpath.dirname(files_b[0]),
                                     sorted(names_a.keys() - names_b.keys()),
                                     sorted(names_b.keys() - names_a.keys()))
    common = sorted(names_a)
    return tuple(names_a[n] for n in common), tuple(names_b[n] for n in common)


def folder_source(root: str, split: str, config: DataConfig) -> Source:
    """Images under ``root`` in the aligned, folders or unpaired layout; every file is
    checked (fully decodable, even width if aligned, large enough for the crop).

    The description ends with the pre-check summary: images checked and files of
    unsupported types ignored (also logged, as a warning when there are any).
    """
    root = root.rstrip("/") or "/"
    require_folder(root)
    layout = _detect_layout(root, split) if config.layout == "auto" else config.layout
    ignored = collections.Counter()

    def images_in(*parts):
        scan = scan_folder(posixpath.join(root, *parts))
        ignored.update(scan.ignored)
        return scan.images

    if layout == "aligned":
        files = images_in(split)
        for path in files:
            header = read_header(path)
            if header.width % 2:
                raise errors.odd_aligned_width(path, header.width)
            check_size(header.height, header.width // 2, path, config)
        paired, streams = True, (FileStream(("AB",), (tuple(files),)),)
    elif layout == "folders":
        files_a, files_b = _match_by_name(images_in(split, "A"), images_in(split, "B"))
        for path_a, path_b in zip(files_a, files_b):
            a, b = read_header(path_a), read_header(path_b)
            size_a = check_size(a.height, a.width, path_a, config)
            size_b = check_size(b.height, b.width, path_b, config)
            if size_a != size_b:
                raise errors.pair_size_mismatch(path_a, path_b, (a.height, a.width),
                                                (b.height, b.width), config.preprocess)
        paired, streams = True, (FileStream(("A", "B"), (files_a, files_b)),)
    elif layout == "labels":
        paired, streams = True, (_label_stream(root, split, config, images_in),)
    else:
        streams = []
        for domain in "AB":
            files = images_in(split + domain)
            for path in files:
                header = read_header(path)
                check_size(header.height, header.width, path, config)
            streams.append(FileStream(("image",), (tuple(files),)))
        paired, streams = False, tuple(streams)
    summary = _summary(sum(len(c) for s in streams for c in s.columns), ignored)
    (logging.warning if ignored else logging.info)("Pre-check of %s (split %s): %s.", root,
                                                     split, summary)
    return Source(paired, layout, f"{root} ({layout}, split {split}; {summary})", streams)


def _summary(checked: int, ignored: collections.Counter) -> str:
    """"N images checked" and, when any, "ignored: .tiff x2, sub-folders x1"."""
    text = f"{checked} images checked"
    if ignored:
        text += ("; ignored (unsupported types): "
                 + ", ".join(f"{kind} x{n}" for kind, n in sorted(ignored.items())))
    return text


def _label_stream(root: str, split: str, config: DataConfig, images_in) -> FileStream:
    """``split/labels`` + ``split/images`` (+ ``split/instances`` unless no_instance),
    matched by name; every example's files share one size, label ids are < label_nc.
    ``images_in(*parts)`` lists a folder's images (counting ignored files)."""
    if not config.label_nc:
        raise errors.labels_need_label_nc(root)
    folder = posixpath.join(root, split)
    labels, images = _match_by_name(images_in(split, "labels"), images_in(split, "images"))
    keys, columns = ("label", "image"), [labels, images]
    if not config.no_instance:
        instances_dir = posixpath.join(folder, "instances")
        if not tf.io.gfile.isdir(instances_dir):
            raise errors.missing_instances(instances_dir)
        columns[0], instances = _match_by_name(labels, images_in(split, "instances"))
        keys, columns = keys + ("instance",), columns + [instances]
    for files in zip(*columns):
        headers = [read_header(f) for f in files]
        sizes = [(h.height, h.width) for h in headers]
        for path, size in zip(files[1:], sizes[1:]):
            if size != sizes[0]:
                raise errors.label_size_mismatch(files[0], path, sizes[0], size)
        check_size(*sizes[0], files[0], config)
        check_label_ids(files[0], config)
    return FileStream(keys, tuple(columns))
