"""``engram.nn.datasets.imdb``: refused by rule (Keras's imdb.npz holds pickled object arrays;
engram never unpickles). `load_data`'s error says what to use instead."""

from __future__ import annotations

from typing import Any, NoReturn

from engram.nn.datasets._pickled import refuse


def load_data(*args: Any, **kwargs: Any) -> NoReturn:
    """Refused: Keras's ``imdb.npz`` stores the reviews as pickled object arrays.

    Raises:
        NotImplementedError: always, saying why and how to get the data as plain arrays.
    """
    refuse("imdb")
