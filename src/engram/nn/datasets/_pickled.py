"""Keras's datasets whose files engram refuses to read: their sequences are pickled."""

from __future__ import annotations

from typing import NoReturn

#: the ragged datasets Keras ships as ``.npz`` files of object arrays, and their source
SOURCES = {
    "imdb": "the raw reviews, aclImdb_v1.tar.gz from https://ai.stanford.edu/~amaas/data/sentiment/",
    "reuters": "the Reuters-21578 collection from the UCI Machine Learning Repository",
}


def refuse(name: str) -> NoReturn:
    """Refuse ``datasets.<name>.load_data``: why, and what to use instead."""
    raise NotImplementedError(
        f"engram.nn.datasets.{name}.load_data is not supported: Keras's {name}.npz stores the "
        "word-index sequences as NumPy object arrays, which only a pickle stream can hold, and "
        "engram never unpickles (a pickle can run code). Instead: turn the sequences into "
        "plain integer arrays once, where you trust the file (e.g. in Keras: "
        f"keras.datasets.{name}.load_data(num_words=10000), then "
        "keras.utils.pad_sequences(x, maxlen=200) and np.savez('" + name + "_padded.npz', "
        "x_train=..., y_train=..., x_test=..., y_test=...)), and read them with "
        "np.load(path, allow_pickle=False); or start from " + SOURCES[name] + "."
    )
