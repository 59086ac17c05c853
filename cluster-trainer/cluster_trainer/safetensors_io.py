"""The safetensors format, read and written with the standard library and torch (no safetensors package on the cluster).

A file is an 8-byte little-endian header length N, N bytes of JSON ({name: {dtype, shape, data_offsets}, and an
optional "__metadata__" of strings}), then the tensors' bytes, little-endian, at their offsets. The reader checks the
rules that matter for loading (offsets inside the file, sizes that match dtype and shape); the writer writes tensors
sorted by name, offsets contiguous from 0, the header padded with spaces to a multiple of 8 (as
main/engine/formats/safetensors-writer.ts does), atomically.
"""
import ctypes
import json
import os
import struct

import torch

from .errors import TrainerError

DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}
MAX_HEADER_BYTES = 100_000_000  # the reference implementation's limit


class SafetensorsFile:
    """An open file: the header read at open, each tensor read on demand (one at a time, so a shard never sits whole)."""

    def __init__(self, path):
        self.path = path
        try:
            self._f = open(path, "rb")
        except OSError as e:
            raise TrainerError(f"{path}: cannot open ({e.strerror})")
        size = os.fstat(self._f.fileno()).st_size
        prefix = self._f.read(8)
        if len(prefix) < 8:
            raise TrainerError(f"{path}: {size} bytes, too short for a safetensors file")
        (n,) = struct.unpack("<Q", prefix)
        if n > MAX_HEADER_BYTES or 8 + n > size:
            raise TrainerError(f"{path}: header length {n} does not fit the {size}-byte file; the file is not safetensors or is cut short")
        try:
            header = json.loads(self._f.read(n))
        except ValueError as e:
            raise TrainerError(f"{path}: header is not valid JSON ({e})")
        if not isinstance(header, dict):
            raise TrainerError(f"{path}: header is not a JSON object")
        self.metadata = header.pop("__metadata__", None) or {}
        self.data_offset = 8 + n
        data_bytes = size - self.data_offset
        self.entries = {}
        for name, info in header.items():
            dtype = info.get("dtype") if isinstance(info, dict) else None
            if dtype not in DTYPES:
                raise TrainerError(f"{path}: tensor {name} has dtype {dtype!r}, which this trainer does not read (F32, F16, BF16, integers)")
            shape = info.get("shape")
            begin, end = info.get("data_offsets", (None, None))
            if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
                raise TrainerError(f"{path}: tensor {name} has shape {shape!r}")
            count = 1
            for d in shape:
                count *= d
            if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= data_bytes):
                raise TrainerError(f"{path}: tensor {name} has data_offsets {[begin, end]} outside the file's {data_bytes} data bytes")
            if end - begin != count * _element_size(DTYPES[dtype]):
                raise TrainerError(f"{path}: tensor {name} holds {end - begin} bytes; {dtype} {shape} needs {count * _element_size(DTYPES[dtype])}")
            self.entries[name] = (dtype, shape, begin, end)

    def names(self):
        return list(self.entries)

    def dtype(self, name):
        return self.entries[name][0]

    def shape(self, name):
        return list(self.entries[name][1])

    def tensor(self, name):
        """The tensor as stored (its own dtype), on the CPU."""
        if name not in self.entries:
            raise TrainerError(f"{self.path}: no tensor {name}")
        dtype, shape, begin, end = self.entries[name]
        if end == begin:
            return torch.empty(shape, dtype=DTYPES[dtype])
        self._f.seek(self.data_offset + begin)
        buf = bytearray(end - begin)
        got = self._f.readinto(buf)
        if got != len(buf):
            raise TrainerError(f"{self.path}: tensor {name} is cut short ({got} of {len(buf)} bytes)")
        # frombuffer keeps a reference to buf: no copy.
        return torch.frombuffer(buf, dtype=DTYPES[dtype]).reshape(shape)

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _element_size(dtype):
    return torch.empty((), dtype=dtype).element_size()


def tensor_bytes(t):
    """A CPU tensor's bytes in memory order (little-endian on every machine PyTorch runs LLMs on)."""
    t = t.detach().contiguous().cpu()
    return ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()) if t.numel() else b""


def write_safetensors(path, tensors, metadata=None):
    """Write {name: tensor} to `path` atomically (temp file, fsync, rename, fsync of the folder)."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        data = tensor_bytes(t)
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data buffer starts 8-byte aligned

    def write(f):
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)

    write_atomic(path, write)


def write_atomic(path, write):
    """Write a file through a hidden temp file in the same folder: readers see the old file or the new one, never half."""
    folder = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        with open(temp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    fsync_dir(folder)


def write_text_atomic(path, text):
    write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def fsync_dir(folder):
    """fsync a folder so a rename in it survives a power cut (best effort: some network filesystems refuse)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
