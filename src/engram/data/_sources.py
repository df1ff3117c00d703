"""Where MNIST and Fashion-MNIST come from and the SHA-256 sums their files must match.

How each pinned sum was confirmed:

* MNIST ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``: the sums published by
  TensorFlow Datasets (``tensorflow_datasets/url_checksums/mnist.txt``, also pinned by
  torchvision's mirrors and many projects) are equal to the sums of the files in the shared
  test-data folder, whose MD5s equal torchvision's pinned MD5s. Content sums (uncompressed
  IDX bytes) computed from those files.
* MNIST ``train-images-idx3-ubyte.gz`` and ``train-labels-idx1-ubyte.gz``: the sums published
  by TensorFlow Datasets, pinned identically by several independent projects (each of which
  also pins the two t10k sums confirmed above). Not checked against a file (the training
  split was not available), and no content sum is pinned, so only the canonical ``.gz``
  archives of the training split can be verified.
* Fashion-MNIST, all four files: (a) canonical ``.gz`` sums published by TensorFlow Datasets
  (``url_checksums/fashion_mnist.txt``, the Zalando S3 files); (b) sums of the ``.gz`` files
  installed by the Debian package ``dataset-fashion-mnist`` 0.0~git20200523.55506a9-1,
  computed here and matching the package's own recorded MD5s; (c) content sums of the
  decompressed Debian files. The Debian ``.gz`` files are not byte-identical to Zalando's:
  each is exactly as much shorter as its stored file name (23 or 24 bytes) and carries the
  package's build time as gzip mtime, i.e. only the gzip header was rewritten (Debian's
  strip-nondeterminism), so the content sums stand for the canonical data too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class FileChecksum:
    """Pinned SHA-256 sums of one dataset file.

    Args:
        shape: the array shape the file holds, e.g. ``(10000, 28, 28)``.
        file_sha256: sums of known distributions of the file as stored (``.gz`` archives).
        content_sha256: sum of the uncompressed IDX bytes, or None where it is not known.
    """

    shape: tuple[int, ...]
    file_sha256: frozenset[str]
    content_sha256: str | None = None

    @property
    def content_bytes(self) -> int:
        """Size of the uncompressed IDX file (header and uint8 payload)."""
        return 4 + 4 * len(self.shape) + math.prod(self.shape)


def _sums(*sums: str) -> frozenset[str]:
    return frozenset(sums)


CHECKSUMS: dict[str, dict[str, FileChecksum]] = {
    "mnist": {
        "train-images-idx3-ubyte": FileChecksum(
            (60000, 28, 28),
            _sums("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        ),
        "train-labels-idx1-ubyte": FileChecksum(
            (60000,),
            _sums("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        ),
        "t10k-images-idx3-ubyte": FileChecksum(
            (10000, 28, 28),
            _sums("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        "t10k-labels-idx1-ubyte": FileChecksum(
            (10000,),
            _sums("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": FileChecksum(
            (60000, 28, 28),
            _sums(
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",  # Zalando
                "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",  # Debian
            ),
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        "train-labels-idx1-ubyte": FileChecksum(
            (60000,),
            _sums(
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
            ),
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        "t10k-images-idx3-ubyte": FileChecksum(
            (10000, 28, 28),
            _sums(
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
            ),
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        "t10k-labels-idx1-ubyte": FileChecksum(
            (10000,),
            _sums(
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
            ),
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    },
}


@dataclass(frozen=True)
class Source:
    """Where a dataset comes from: its folder name, mirrors and extra install advice."""

    name: str
    title: str
    mirrors: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    install_hint: str = ""


SOURCES = {
    "mnist": Source(
        "mnist",
        "MNIST",
        (
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
        ),
    ),
    "fashion-mnist": Source(
        "fashion-mnist",
        "Fashion-MNIST",
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ),
        ("/usr/share/datasets/fashion-mnist",),
        "install the Debian package (apt-get install dataset-fashion-mnist, which puts the "
        "files in /usr/share/datasets/fashion-mnist), or ",
    ),
}
