"""Batches split across threads (layerspec/parallel.py): the same results
as one thread, errors placed in the whole batch, warnings still silenced."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import layerspec
from layerspec import parallel
from layerspec.errors import ValueAtIndexError
from tests.conftest import SPECS


@pytest.mark.parametrize("rows, macs, recurrent, available, expected", [
    (1, 10**9, False, 2, 1),           # batch 1: never
    (31, 10**9, False, 2, 1),          # fewer than two slices of 16 rows
    (32, 10**9, False, 2, 2),
    (1024, 10**9, False, 1, 1),        # one core
    (1024, None, False, 2, 1),         # unknown cost
    (64, 600_000, False, 2, 1),        # 19.2M MACs a slice: not worth a thread
    (64, 640_000, False, 2, 2),        # 20.5M
    (1024, 10**6, False, 4, 4),
    (511, 10**9, True, 2, 1),          # recurrent: 255 rows a slice is too few
    (512, 10**9, True, 2, 2),
])
def test_workers_for(rows, macs, recurrent, available, expected):
    assert parallel.workers_for(rows, macs, recurrent, available) == expected


@pytest.mark.parametrize("elements, recurrent, expected", [(10_000, False, 2), (3_000, False, 1), (3_000, True, 2)])
def test_a_model_of_matrix_products_is_left_to_blas(elements, recurrent, expected):
    # 10^6 MACs per row: over 300 per output element with 3,000 elements.
    assert parallel.workers_for(1024, 10**6, recurrent, 2, elements=elements) == expected


def model_of(path, **build):
    model = layerspec.load(str(path), **build)
    model.init(seed=0)
    return model


def both_ways(model, inputs):
    model.parallel = False
    alone = model.predict(inputs)
    model.parallel = True
    return alone, model.predict(inputs)


@pytest.mark.parametrize("spec, shape", [("lenet5.yaml", (256, 28, 28, 1)), ("conv_transpose_decoder.yaml", (512, 32)),
                                         ("conv_autoencoder.yaml", (256, 28, 28, 1))])
def test_slices_give_what_one_thread_gives(spec, shape, monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    model = model_of(SPECS / spec)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    assert model._workers_for([x]) == 2
    alone, split = both_ways(model, x)
    np.testing.assert_allclose(split, alone, rtol=1e-5, atol=1e-6)  # BLAS may round another row count otherwise


def test_a_masked_recurrent_model_splits_long_batches(monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    model = model_of(SPECS / "bilstm_tagger.yaml")
    ids = np.random.default_rng(1).integers(0, 2000, (600, 9))
    ids[::3, 5:] = 0  # padding, so the mask matters
    assert model._workers_for([ids]) == 2
    alone, split = both_ways(model, ids)
    np.testing.assert_allclose(split, alone, rtol=1e-5, atol=1e-6)


def test_an_error_in_a_later_slice_names_its_row_in_the_whole_batch(monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    model = model_of(SPECS / "text_lstm.yaml", input_shape=(20,))
    ids = np.ones((1024, 20), dtype=np.int64)
    ids[700, 3] = -5
    with pytest.raises(ValueAtIndexError) as caught:
        model.forward(ids)
    assert "index -5 at index (700, 3)" in str(caught.value)


def test_worker_threads_keep_numpy_quiet(monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    model = model_of(SPECS / "lenet5.yaml")
    x = np.full((512, 28, 28, 1), 3e38, dtype=np.float32)  # overflows to inf, then NaN in the softmax
    assert model._workers_for([x]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = model.predict(x)
    assert result.shape == (512, 10)


def test_a_model_told_not_to_split_runs_on_one_thread(monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    model = model_of(SPECS / "lenet5.yaml")
    batch = np.zeros((1024, 28, 28, 1), np.float32)
    assert model._workers_for([batch]) == 2
    model.parallel = False
    assert model._workers_for([batch]) == 1


def test_a_stack_of_matrix_products_is_not_split(monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    model = model_of(SPECS / "mnist_mlp.yaml")
    assert model._workers_for([np.zeros((1024, 784), np.float32)]) == 1


def test_blas_is_held_to_one_thread_inside_and_put_back_after():
    libraries = parallel._blas_libraries()
    if not libraries:
        pytest.skip("NumPy reports no BLAS library")
    before = [library.num_threads for library in libraries]
    with parallel.one_blas_thread():
        with parallel.one_blas_thread():  # nested: the inner one puts back one thread
            pass
        inside = [library.num_threads for library in libraries]
    assert inside == [1] * len(libraries)
    assert [library.num_threads for library in libraries] == before
    with pytest.raises(KeyError), parallel.one_blas_thread():
        raise KeyError("put back on the way out of an error too")
    assert [library.num_threads for library in libraries] == before


def test_after_an_error_no_new_piece_starts_and_the_error_names_its_row(monkeypatch):
    monkeypatch.setattr(parallel, "MAX_ROWS_PER_PIECE", 10)
    started = []

    def walk(batches):
        started.append(int(batches[0][0]))
        if batches[0][0] == 100:
            raise ValueAtIndexError("input", "a bad value", (3,))
        return [batches[0] * 2]

    with pytest.raises(ValueAtIndexError) as caught:
        parallel.walk_in_slices(walk, [np.arange(200)], 2)
    assert caught.value.index == (103,)  # row 3 of the piece starting at row 100
    assert len(started) < 14  # of 20 pieces: 11 before the failing one, then one each at most
    assert parallel.walk_in_slices(walk, [np.arange(101, 301)], 2)[0].tolist() == list(range(202, 602, 2))
