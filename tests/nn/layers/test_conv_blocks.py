"""The fast paths of Conv2D and MaxPooling2D against their plain references.

Conv2D and MaxPooling2D split the batch into blocks that stay in the cache and run them on
several threads (`engram.runtime.parallel_map`); Conv2D keeps the im2col matrix transposed for
inputs with few channels and scatters the input gradient by kernel offset. Each of these must
give exactly the math of `conv_functional.conv2d_reference` / `conv2d_backward_reference` /
`max_pool2d_reference`, for any block size, thread count, shape, stride and padding.
"""

import threading
import time

import numpy as np
import pytest

from engram import runtime
from engram.nn import conv_functional as C
from engram.nn.layers import Conv2D, MaxPooling2D
from engram.nn.layers import conv2d as conv2d_module
from engram.nn.layers import pooling as pooling_module


@pytest.fixture(params=["one block", "tiny blocks"])
def block_bytes(request, monkeypatch):
    """Run a test with whole-batch blocks and with blocks of one or two samples."""
    size = 1 << 30 if request.param == "one block" else 1
    monkeypatch.setattr(conv2d_module, "BLOCK_BYTES", size)
    monkeypatch.setattr(pooling_module, "BLOCK_BYTES", size)
    return size


@pytest.mark.parametrize(
    ("kernel_size", "strides", "cin"),
    [((3, 4), (3, 2), 3), ((3, 3), (1, 1), 1), ((2, 3), (2, 2), 5)],
)
def test_im2col_t_is_im2col_transposed_and_col2im_offsets_its_adjoint(kernel_size, strides, cin):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 9, 8, cin))
    cols = C.im2col(x, kernel_size, strides)
    np.testing.assert_array_equal(C.im2col_t(x, kernel_size, strides), cols.T)
    grad_cols = rng.standard_normal(cols.shape)  # (rows, (i, j, ch)) -> ((i, j), rows, ch)
    by_offset = grad_cols.reshape(len(cols), -1, cin).transpose(1, 0, 2)
    np.testing.assert_allclose(
        C.col2im_offsets(by_offset, x.shape, kernel_size, strides),
        C.col2im(grad_cols, x.shape, kernel_size, strides),
        atol=1e-12,
    )


@pytest.mark.parametrize(("kernel_size", "strides"), [((3, 3), (1, 1)), ((2, 4), (3, 2))])
def test_im2col_rows_are_the_receptive_fields_of_any_layout(kernel_size, strides):
    rng = np.random.default_rng(7)
    base = rng.standard_normal((4, 10, 9, 3)).astype(np.float32)
    (kh, kw), (sh, sw) = kernel_size, strides
    oh, ow = (10 - kh) // sh + 1, (9 - kw) // sw + 1
    for x in (base, base[::-1, :, ::-1], np.asfortranarray(base)):  # strided and reversed views
        expected = [
            x[b, r * sh : r * sh + kh, c * sw : c * sw + kw, :].ravel()
            for b in range(4)
            for r in range(oh)
            for c in range(ow)
        ]
        np.testing.assert_array_equal(C.im2col(x, kernel_size, strides), np.array(expected))


@pytest.mark.parametrize("n", [1, 7, 32, 33])
@pytest.mark.parametrize("size", [1, 5, 100, 10_000])
@pytest.mark.parametrize("parts", [1, 2, 3])
def test_batch_blocks_cover_the_batch_in_even_blocks(n, size, parts):
    blocks = C.batch_blocks(n, 1000, size * 1000, parts)
    assert blocks[0].start == 0 and blocks[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:], strict=False))
    lengths = [b.stop - b.start for b in blocks]
    assert max(lengths) - min(lengths) <= 1 and min(lengths) >= 1
    assert max(lengths) <= size or len(blocks) == n
    assert len(blocks) % parts == 0 or len(blocks) == n


CASES = [  # (input shape, filters, kernel, strides, padding): both im2col layouts, odd sizes
    ((5, 9, 8, 1), 4, (3, 3), (1, 1), "valid"),
    ((3, 7, 6, 2), 3, (2, 3), (2, 1), "same"),
    ((4, 9, 7, 5), 6, (3, 4), (3, 2), "same"),
    ((6, 11, 11, 4), 8, (3, 3), (1, 1), "valid"),
    ((2, 5, 5, 3), 2, (5, 5), (1, 1), "same"),
]


@pytest.mark.parametrize(("shape", "filters", "kernel_size", "strides", "padding"), CASES)
@pytest.mark.parametrize("activation", ["relu", "elu", None])
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv2d_layer_matches_the_reference_loops(
    block_bytes, shape, filters, kernel_size, strides, padding, activation, use_bias
):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    layer = Conv2D(filters, kernel_size, strides, padding, activation=activation, use_bias=use_bias)
    layer.build(shape[1:], rng)
    kernel = layer.params["kernel"]
    bias = layer.params["bias"] if use_bias else None
    z = C.conv2d_reference(x, kernel, bias, strides, padding)
    act = layer.activation
    expected = act.forward(z)
    grad_y = rng.standard_normal(z.shape).astype(np.float32)
    grad_z = act.backward(z, expected, grad_y)
    ref_x, ref_kernel, ref_bias = C.conv2d_backward_reference(x, kernel, grad_z, strides, padding)
    for _ in range(2):  # the second time on reused buffers
        np.testing.assert_allclose(layer.forward(x, training=True), expected, atol=1e-5)
        np.testing.assert_allclose(layer.backward(grad_y), ref_x, atol=1e-4)
        np.testing.assert_allclose(layer.grads["kernel"], ref_kernel, atol=1e-4)
        if use_bias:
            np.testing.assert_allclose(layer.grads["bias"], ref_bias, atol=1e-4)
    np.testing.assert_allclose(layer.forward(x, training=False), expected, atol=1e-5)


def test_conv2d_skips_the_input_gradient_nobody_reads(block_bytes):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 8, 8, 1)).astype(np.float32)
    layer = Conv2D(3, 3, activation="relu")
    layer.build(x.shape[1:], rng)
    grad_y = rng.standard_normal((4, 6, 6, 3)).astype(np.float32)
    layer.forward(x, training=True)
    full = layer.backward(grad_y)
    kernel_grad = layer.grads["kernel"].copy()
    layer.needs_input_grad = False
    layer.forward(x, training=True)
    assert full is not None and layer.backward(grad_y) is None
    np.testing.assert_array_equal(layer.grads["kernel"], kernel_grad)


def test_conv2d_float64_stays_float64(block_bytes):
    x = np.random.default_rng(3).standard_normal((3, 6, 6, 2))
    layer = Conv2D(2, 3, activation="relu", dtype="float64")
    layer.build(x.shape[1:], np.random.default_rng(0))
    y = layer.forward(x, training=True)
    assert y.dtype == np.float64
    assert layer.backward(np.ones_like(y)).dtype == np.float64
    assert layer.grads["kernel"].dtype == np.float64


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(
    ("pool", "strides"), [((2, 2), (2, 2)), ((3, 3), (1, 1)), ((3, 2), (2, 3))]
)
def test_max_pooling_layer_matches_the_reference_in_blocks(block_bytes, pool, strides, padding):
    rng = np.random.default_rng(4)
    x = np.maximum(rng.standard_normal((7, 9, 11, 3)), 0).astype(np.float32)  # ties at 0
    layer = MaxPooling2D(pool, strides, padding)
    layer.build(x.shape[1:], rng)
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, C.max_pool2d_reference(x, pool, strides, padding))
    _, index = C.max_pool2d(x, pool, strides, padding)
    grad_y = rng.standard_normal(y.shape).astype(np.float32)
    expected = C.max_pool2d_backward(grad_y, index, x.shape, pool, strides, padding)
    np.testing.assert_array_equal(layer.backward(grad_y), expected)
    np.testing.assert_array_equal(layer.forward(x), y)  # inference: no index, same maxima


def test_parallel_map_keeps_order_restores_blas_and_raises(monkeypatch):
    threads = runtime.blas_threads()
    seen = set()

    def square(v):
        seen.add(threading.get_ident())
        assert runtime.blas_threads() == 1 or threads == 1  # single-threaded BLAS inside
        time.sleep(0.01)  # long enough for every worker to take an item
        return v * v

    assert runtime.parallel_map(square, list(range(9))) == [v * v for v in range(9)]
    assert runtime.blas_threads() == threads
    assert len(seen) == min(threads, 9)

    def fail(v):
        if v == 3:
            raise ValueError("block 3 failed")
        return v

    with pytest.raises(ValueError, match="block 3 failed"):
        runtime.parallel_map(fail, list(range(6)))
    assert runtime.blas_threads() == threads


def test_parallel_map_gives_a_slow_worker_fewer_items(two_blas_threads):
    """Each worker takes the next free item when it is ready: the pool worker, slowed down
    here, runs one or two items while the calling thread runs the rest; the results still
    come back in the items' order, each item run once."""
    main = threading.get_ident()
    ran = []

    def item(v):
        ran.append((v, threading.get_ident()))
        time.sleep(0.001 if threading.get_ident() == main else 0.2)
        return -v

    assert runtime.parallel_map(item, list(range(8))) == [-v for v in range(8)]
    assert sorted(v for v, _ in ran) == list(range(8))
    by_main = sum(ident == main for _, ident in ran)
    assert 6 <= by_main <= 7


def test_conv_and_pooling_blocks_give_the_same_bits_every_run(two_blas_threads, monkeypatch):
    """Whichever worker takes which block (timing decides), the numbers are the same: a
    Conv2D + MaxPooling2D forward and backward in small blocks on two workers, five times."""
    monkeypatch.setattr(conv2d_module, "BLOCK_BYTES", 1)
    monkeypatch.setattr(pooling_module, "BLOCK_BYTES", 1)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((12, 10, 10, 3)).astype(np.float32)
    conv, pool = Conv2D(8, 3, padding="same", activation="relu"), MaxPooling2D()
    conv.build(x.shape[1:], rng)
    pool.build((10, 10, 8), rng)
    grad = rng.standard_normal((12, 5, 5, 8)).astype(np.float32)
    runs = []
    with runtime.worker_threads():
        for _ in range(5):
            y = pool.forward(conv.forward(x, training=True), training=True).copy()
            grad_x = conv.backward(pool.backward(grad)).copy()
            runs.append([y, grad_x, conv.grads["kernel"].copy(), conv.grads["bias"].copy()])
    for run in runs[1:]:
        for first, again in zip(runs[0], run, strict=True):
            np.testing.assert_array_equal(again, first)


def test_parallel_map_works_in_a_forked_child():
    """A child forked after the pool started gets a pool of its own (no hang)."""
    import multiprocessing

    runtime.parallel_map(abs, [-1, -2, -3])  # the parent's pool exists now
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        result = pool.apply_async(runtime.parallel_map, (abs, [-1, -2, -3, -4]))
        assert result.get(timeout=60) == [1, 2, 3, 4]


@pytest.fixture
def two_blas_threads():
    """OpenBLAS on two threads for the test (skipped where NumPy's BLAS is not OpenBLAS)."""
    blas = runtime._openblas()
    if blas is None:
        pytest.skip("NumPy's BLAS is not OpenBLAS: engram's thread policy does not apply")
    before = blas[0]()
    blas[1](2)
    yield
    blas[1](before)


def test_worker_threads_hold_blas_on_one_thread_and_keep_the_workers(two_blas_threads):
    seen = set()

    def record(v):
        seen.add(threading.get_ident())
        time.sleep(0.01)  # long enough for both workers to take an item
        return runtime.blas_threads()

    with runtime.worker_threads():
        assert runtime.blas_threads() == 1 and runtime.worker_count() == 2
        with runtime.worker_threads():  # nested: still held, the count unchanged
            assert runtime.blas_threads() == 1 and runtime.worker_count() == 2
        assert runtime.blas_threads() == 1
        assert runtime.parallel_map(record, list(range(6))) == [1] * 6
        assert len(seen) == 2  # both workers ran, on single-threaded BLAS
    assert runtime.blas_threads() == 2 and runtime.worker_count() == 2
    with pytest.raises(ValueError, match="inside"):
        with runtime.worker_threads():
            raise ValueError("inside")
    assert runtime.blas_threads() == 2
    with runtime.worker_threads(active=False):
        assert runtime.blas_threads() == 2


def test_a_cnn_step_runs_with_blas_held_and_a_dense_model_without(two_blas_threads):
    from engram.nn import Sequential
    from engram.nn.layers import Dense, Flatten

    seen = []

    class Probe(Dense):  # records the thread counts its forward pass sees
        def forward(self, x, training=False):
            seen.append((runtime.blas_threads(), runtime.worker_count()))
            return super().forward(x, training)

    x = np.random.default_rng(0).random((8, 6, 6, 1), dtype=np.float32)
    y = np.arange(8) % 2
    for layers, expected in (
        ([Conv2D(2, 3), MaxPooling2D(), Flatten()], (1, 2)),
        ([Flatten()], (2, 2)),
    ):
        model = Sequential([*layers, Probe(2, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
        seen.clear()
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)
        model.evaluate(x, y, batch_size=4, verbose=0)
        model.predict(x, batch_size=4)
        model.predict_on_batch(x)
        assert seen and set(seen) == {expected}
        assert runtime.blas_threads() == 2  # restored after each step


def test_a_cnn_call_holds_blas_from_its_input_checks_to_its_return(two_blas_threads, monkeypatch):
    """fit / evaluate / predict / *_on_batch / compute_gradients of a CNN hold OpenBLAS on one
    thread for the whole call: the input checks' finiteness sum (a matrix-vector product that
    would wake OpenBLAS's busy-waiting worker on two threads) and the callbacks run held too;
    the count comes back after each call, also when a callback raises. A Dense model's calls
    leave it alone."""
    from engram import validation
    from engram.nn import Sequential
    from engram.nn.callbacks import Callback
    from engram.nn.layers import Dense, Flatten

    checks, hooks = [], []
    real = validation._all_finite

    def recorded(arr):
        checks.append(runtime.blas_threads())
        return real(arr)

    monkeypatch.setattr(validation, "_all_finite", recorded)

    class Probe(Callback):
        def __init__(self, fail=False):
            super().__init__()
            self.fail = fail

        def _seen(self, *args):
            hooks.append((runtime.blas_threads(), runtime.worker_count()))
            if self.fail:
                raise RuntimeError("callback failed")

        on_train_begin = on_test_begin = on_predict_begin = on_epoch_end = _seen

    x = np.random.default_rng(0).random((8, 6, 6, 1), dtype=np.float32)
    y = np.arange(8) % 2
    for layers, expected in (
        ([Conv2D(2, 3), MaxPooling2D(), Flatten()], 1),
        ([Flatten()], 2),
    ):
        model = Sequential([*layers, Dense(2, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
        checks.clear(), hooks.clear()
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[Probe()])
        model.evaluate(x, y, batch_size=4, verbose=0, callbacks=[Probe()])
        model.predict(x, batch_size=4, callbacks=[Probe()])
        model.train_on_batch(x, y)
        model.test_on_batch(x, y)
        model.predict_on_batch(x)
        model.compute_gradients(x, y)
        assert len(checks) >= 7 and set(checks) == {expected}
        assert len(hooks) == 4 and set(hooks) == {(expected, 2)}
        assert runtime.blas_threads() == 2  # restored after each call
        with pytest.raises(RuntimeError, match="callback failed"):
            model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[Probe(fail=True)])
        assert runtime.blas_threads() == 2 and runtime._HOLD[0] == 0


def test_matmul_splits_rows_over_the_workers_only_inside_worker_threads(
    two_blas_threads, monkeypatch
):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((37, 50)).astype(np.float32)
    b = rng.standard_normal((50, 9)).astype(np.float32)
    calls = []
    real = runtime.parallel_map

    def recorded(function, items):
        calls.append(items)
        return real(function, items)

    monkeypatch.setattr(runtime, "parallel_map", recorded)
    monkeypatch.setattr(runtime, "MIN_SPLIT_MACS", 0)
    plain = runtime.matmul(a, b)
    assert not calls  # not held: NumPy's product on OpenBLAS's threads
    np.testing.assert_array_equal(plain, a @ b)
    with runtime.worker_threads():
        split = runtime.matmul(a, b)
        out = np.empty((50, 9), np.float32)
        transposed = runtime.matmul(a.T, a @ b, out=out)  # strided rows, into a given buffer
        again = runtime.matmul(a, b)
    assert [len(items) for items in calls] == [2, 2, 2]
    assert [(s.start, s.stop) for s in calls[0]] == [(0, 18), (18, 37)]
    np.testing.assert_allclose(split, plain, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(split, again)  # deterministic
    assert transposed is out
    np.testing.assert_allclose(out, a.T @ (a @ b), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["dense", "conv2d_transpose"])
def test_layers_give_the_same_numbers_with_their_products_split(
    two_blas_threads, monkeypatch, kind
):
    """Dense and Conv2DTranspose inside `worker_threads` (their products split by rows over
    the workers, `runtime.matmul`) against the same layer outside it (NumPy's products)."""
    from engram.nn.layers import Conv2DTranspose, Dense

    monkeypatch.setattr(runtime, "MIN_SPLIT_MACS", 0)
    rng = np.random.default_rng(6)
    if kind == "dense":
        layer, shape, out_shape = Dense(7, activation="tanh"), (33, 20), (33, 7)
    else:
        layer = Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu")
        shape, out_shape = (5, 6, 7, 4), (5, 12, 14, 3)
    x = rng.standard_normal(shape).astype(np.float32)
    grad = rng.standard_normal(out_shape).astype(np.float32)
    layer.build(shape[1:], rng)
    results = []
    for held in (False, True):
        with runtime.worker_threads(active=held):
            y = layer.forward(x, training=True).copy()
            grad_x = layer.backward(grad).copy()
        results.append([y, grad_x, *(layer.grads[key].copy() for key in sorted(layer.grads))])
    for plain, split in zip(*results, strict=True):
        np.testing.assert_allclose(split, plain, rtol=1e-5, atol=1e-5)
