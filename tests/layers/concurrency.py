"""Calling one layer from several threads at once, for the tests of kernels
that keep buffers per thread."""

from __future__ import annotations

import threading

import numpy as np


def assert_threads_agree_with_calls_alone(layer, inputs: list, most_rows: int, calls: int) -> None:
    """Call ``layer`` from one thread per array of ``inputs`` at once, each
    ``calls`` times on a random number of its first rows (1 to
    ``most_rows``), and compare every result with the same call made alone
    beforehand.

    A buffer shared between threads by mistake shows as another thread's
    values (off by O(1)). Not bit for bit: how BLAS splits a product over
    its own threads when several callers run at once is its business (rtol
    and atol 1e-5).
    """
    alone = [{rows: layer(x[:rows]) for rows in range(1, most_rows + 1)} for x in inputs]
    failures = []
    # All start together: a shared buffer then collides on the first calls.
    together = threading.Barrier(len(inputs))

    def work(index):
        draw = np.random.default_rng(index)
        try:
            together.wait()
            for _ in range(calls):
                rows = int(draw.integers(1, most_rows + 1))
                if not np.allclose(layer(inputs[index][:rows]), alone[index][rows], rtol=1e-5, atol=1e-5):
                    failures.append((index, rows))
        except Exception as error:  # a thread's exception would otherwise pass unseen
            failures.append((index, repr(error)))

    threads = [threading.Thread(target=work, args=(index,)) for index in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
