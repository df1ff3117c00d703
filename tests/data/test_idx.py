"""The strict IDX reader and the atomic writer."""

import gzip
import io
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engram.data.idx import MAX_NDIM, IDXError, read_idx, write_idx

DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]


def header(code: int, *dims: int, ndim: int | None = None) -> bytes:
    rank = len(dims) if ndim is None else ndim
    return bytes([0, 0, code, rank]) + b"".join(struct.pack(">I", d) for d in dims)


def write_bytes(tmp_path, name: str, data: bytes, gz: bool = False):
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


class CountingReader(io.BytesIO):
    """A file object that records how many bytes were asked for and returned."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.returned = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.returned += len(chunk)
        return chunk


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_every_type_code(tmp_path, dtype, gz):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = write_idx(tmp_path / ("a.idx.gz" if gz else "a.idx"), array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    for source in (path, str(path), open(path, "rb")):  # noqa: SIM115 (closed below)
        back = read_idx(source)
        assert back.dtype == np.dtype(dtype) and back.dtype.isnative
        np.testing.assert_array_equal(back, array)
        if hasattr(source, "close"):
            source.close()


@pytest.mark.parametrize("shape", [(7,), (2, 3), (1, 2, 3, 4), (1,) * MAX_NDIM, (0, 5)])
def test_round_trip_ranks_and_empty(tmp_path, shape):
    array = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    back = read_idx(write_idx(tmp_path / "a.gz", array))
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)


def test_reads_the_published_big_endian_layout(tmp_path):
    data = header(0x0B, 3) + struct.pack(">3h", 1, -2, 300)
    np.testing.assert_array_equal(read_idx(write_bytes(tmp_path, "h", data)), [1, -2, 300])
    data = header(0x0D, 2) + struct.pack(">2f", 1.5, -0.25)
    np.testing.assert_array_equal(read_idx(write_bytes(tmp_path, "f", data)), [1.5, -0.25])
    written = write_idx(tmp_path / "w", np.array([[1, 2]], dtype=np.int32)).read_bytes()
    assert written == header(0x0C, 1, 2) + struct.pack(">2i", 1, 2)


def test_compression_is_detected_by_content_not_name(tmp_path):
    array = np.arange(6, dtype=np.uint8)
    path = write_idx(tmp_path / "no-suffix", array, compress=True)
    np.testing.assert_array_equal(read_idx(path), array)
    path = write_idx(tmp_path / "plain.gz", array, compress=False)
    np.testing.assert_array_equal(read_idx(path), array)


def test_uint8_result_is_writable(tmp_path):
    back = read_idx(write_idx(tmp_path / "a", np.zeros(4, dtype=np.uint8)))
    back[0] = 1  # no read-only buffer surprises for callers


MALFORMED = [
    ("bad-magic", b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic number"),
    ("type-code", header(0x0A, 1) + b"\x00", "unknown type code 0x0A"),
    ("rank-zero", header(0x08, ndim=0), r"rank \(byte 3\) is 0"),
    ("rank-large", header(0x08, ndim=MAX_NDIM + 1), rf"rank \(byte 3\) is {MAX_NDIM + 1}"),
    ("short-magic", b"\x00\x00", "magic number needs 4 bytes"),
    ("short-dims", header(0x08, ndim=3) + b"\x00\x00\x00\x02", "needs 12 bytes of dims"),
    (
        "truncated",
        header(0x08, 10, 28, 28) + bytes(7000),
        r"declares 10 x 28 x 28 = 7840 bytes of uint8 but the payload has 7000 bytes "
        r"\(truncated file\?\)",
    ),
    ("truncated-wide", header(0x0E, 4) + bytes(31), "32 bytes of float64 but the payload has 31"),
    ("trailing", header(0x08, 3) + bytes(5), "payload has 2 trailing byte"),
]


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("name, data, match", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_files_raise_idxerror_naming_file_and_field(tmp_path, name, data, match, gz):
    filename = f"{name}-idx-ubyte" + (".gz" if gz else "")
    path = write_bytes(tmp_path, filename, data, gz=gz)
    with pytest.raises(IDXError, match=match) as info:
        read_idx(path)
    assert filename in str(info.value)


def test_declared_size_over_the_cap_is_refused_before_reading_the_payload():
    data = header(0x08, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF) + bytes(2**20)
    stream = CountingReader(data)
    with pytest.raises(IDXError, match="above the limit max_bytes=2147483648") as info:
        read_idx(stream, name="forged-idx3-ubyte")
    assert "forged-idx3-ubyte" in str(info.value)
    assert stream.returned <= 16 + io.DEFAULT_BUFFER_SIZE  # header and read-ahead, no payload

    small = header(0x0C, 100, 100) + bytes(40000)
    with pytest.raises(IDXError, match="40000 bytes of int32, above the limit max_bytes=1000"):
        read_idx(io.BytesIO(small), max_bytes=1000)
    assert read_idx(io.BytesIO(small), max_bytes=40000).shape == (100, 100)

    empty_but_huge = header(0x0E, 0, 2**32 - 1, 2**32 - 1)  # 0 bytes, but no NumPy shape
    with pytest.raises(IDXError, match="with the zero dims as 1"):
        read_idx(io.BytesIO(empty_but_huge))


def test_forged_gzip_header_is_refused_without_decompressing_everything():
    noise = np.random.default_rng(0).bytes(2**21)  # incompressible, so the .gz is large too
    blob = gzip.compress(header(0x08, 0xFFFFFFFF, 0xFFFFFFFF) + noise)
    stream = CountingReader(blob)
    with pytest.raises(IDXError, match="above the limit"):
        read_idx(stream, max_bytes=10**6)
    assert stream.returned < len(blob) // 4


def test_a_large_declared_size_under_the_cap_allocates_only_what_is_there():
    tracemalloc = pytest.importorskip("tracemalloc")
    data = header(0x0E, 200_000_000) + bytes(800)  # declares 1.6 GB, holds 800 bytes
    tracemalloc.start()
    try:
        with pytest.raises(IDXError, match="1600000000 bytes of float64 but the payload has 800"):
            read_idx(io.BytesIO(data))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20


@pytest.mark.parametrize(
    "data, match",
    [
        (b"\x1f\x8b" + bytes(30), "corrupt gzip stream"),
        (gzip.compress(header(0x08, 100) + bytes(100))[:-12], "corrupt gzip stream"),
        (gzip.compress(header(0x08, 2) + bytes(2)) + b"junk", "corrupt gzip stream"),
    ],
    ids=["garbage", "cut", "junk-after-member"],
)
def test_corrupt_gzip_raises_idxerror(tmp_path, data, match):
    with pytest.raises(IDXError, match=match):
        read_idx(write_bytes(tmp_path, "x.gz", data))


def test_stream_without_a_name_is_labelled():
    with pytest.raises(IDXError, match="^<IDX stream>: bad magic"):
        read_idx(io.BytesIO(b"\x07\x07\x08\x01"))


def test_argument_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "missing")
    with pytest.raises(TypeError, match="max_bytes must be an int"):
        read_idx(io.BytesIO(b""), max_bytes=1.5)
    with pytest.raises(TypeError, match="path or a binary file object"):
        read_idx(42)
    with pytest.raises(TypeError, match="dtype must be one of"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="1 to 8 dimensions"):
        write_idx(tmp_path / "a", np.float32(1.0))
    assert not (tmp_path / "a").exists()


def test_write_is_atomic_and_replaces(tmp_path):
    path = tmp_path / "data.gz"
    write_idx(path, np.zeros(3, dtype=np.uint8))
    write_idx(path, np.ones(5, dtype=np.uint8))
    np.testing.assert_array_equal(read_idx(path), np.ones(5))
    assert [p.name for p in tmp_path.iterdir()] == ["data.gz"]  # no temporary left behind
    assert write_idx(tmp_path / "b.gz", np.ones(5, np.uint8)).read_bytes() == path.read_bytes()


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=64))
def test_fuzz_random_bytes_raise_only_idxerror(data):
    for blob in (data, b"\x00\x00" + data, gzip.compress(data)):
        try:
            read_idx(io.BytesIO(blob), max_bytes=4096)
        except IDXError:
            pass


@FUZZ
@given(
    st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07, 0xFF]),
    st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 4), min_size=0, max_size=5),
    st.binary(max_size=64),
    st.booleans(),
)
def test_fuzz_plausible_headers_raise_only_idxerror(code, dims, payload, gz):
    blob = bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    blob += payload
    try:
        array = read_idx(io.BytesIO(gzip.compress(blob) if gz else blob), max_bytes=4096)
    except IDXError:
        return
    assert array.shape == tuple(dims)
