"""The engine's random stream (main/engine/data/prng.ts), bit for bit: xoshiro128** seeded through splitmix32, and
mixSeeds. The local trainer draws its LoRA A init from Prng(seed); drawing the same stream here gives a cluster run
the very adapter a local run of the same seed starts from.

A LoRA init can be a hundred million draws (r 64 on every projection of a 70B), far too many for a Python loop, so
`uniform_init` runs many lanes of the stream at once: xoshiro's state update is linear over GF(2), so the state k
draws ahead is a 128x128 bit matrix T^k times the state. Each lane starts T^(i*chunk) ahead and draws `chunk`
values, all lanes in step as torch integer ops; laid end to end they are the sequential stream.
"""
import math

import torch

M32 = 0xFFFFFFFF


def _imul(a, b):
    return (a * b) & M32


def _rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & M32


def seed_state(seed):
    """splitmix32 over the seed: the four state words of `new Prng(seed)`."""
    x = seed & M32
    words = []
    for _ in range(4):
        x = (x + 0x9E3779B9) & M32
        z = x
        z = _imul(z ^ (z >> 16), 0x85EBCA6B)
        z = _imul(z ^ (z >> 13), 0xC2B2AE35)
        words.append((z ^ (z >> 16)) & M32)
    return words


def _next(s):
    """One draw: (output, next state)."""
    s0, s1, s2, s3 = s
    result = _imul(_rotl(_imul(s1, 5), 7), 9)
    t = (s1 << 9) & M32
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 11)
    return result, [s0, s1, s2, s3]


def mix_seeds(*seeds):
    """One 32-bit seed from several (prng.ts mixSeeds)."""
    h = 0x811C9DC5
    for s in seeds:
        h = _imul(h ^ (s & M32), 0x9E3779B1)
        h = _imul(h ^ (h >> 16), 0x85EBCA6B)
        h = _imul(h ^ (h >> 13), 0xC2B2AE35)
        h = (h ^ (h >> 16)) & M32
    return h


class Prng:
    """The stream of `new Prng(seed)`; `take(n)` gives its next n 32-bit draws as an int64 tensor."""

    def __init__(self, seed):
        self.state = seed_state(seed)

    def next_uint32(self):
        out, self.state = _next(self.state)
        return out

    def take(self, n, lanes=4096):
        if n <= 4 * lanes:
            out = []
            for _ in range(n):
                out.append(self.next_uint32())
            return torch.tensor(out, dtype=torch.int64)
        chunk = math.ceil(n / lanes)
        jump = _matrix_power(_transition(), chunk)  # T^chunk
        starts = []
        bits = _to_bits(self.state)
        for _ in range(lanes):
            starts.append(bits)
            bits = _apply(jump, bits)
        # [lanes, 128] bits -> [4, lanes] words
        weights = torch.tensor([1 << j for j in range(32)], dtype=torch.int64)
        words = (torch.stack(starts).to(torch.int64).reshape(lanes, 4, 32) * weights).sum(-1).t()
        s0, s1, s2, s3 = (words[i].clone() for i in range(4))
        out = torch.empty((lanes, chunk), dtype=torch.int64)
        for j in range(chunk):
            out[:, j] = _vimul(_vrotl(_vimul(s1, 5), 7), 9)
            t = (s1 << 9) & M32
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            s3 = _vrotl(s3, 11)
        # The state after exactly n draws (lanes may have drawn past n).
        self.state = _from_bits(_apply(_matrix_power(_transition(), n), _to_bits(self.state)))
        return out.reshape(-1)[:n]


def uniform_init(prng, rows, cols):
    """lora-init.ts's kaimingUniformInit for one A [rows=r, cols=in]: (2u - 1) / sqrt(in) in float64, stored as f32."""
    u = prng.take(rows * cols).to(torch.float64) / 4294967296.0
    bound = 1.0 / math.sqrt(cols)
    return ((2.0 * u - 1.0) * bound).to(torch.float32).reshape(rows, cols)


def _vimul(a, b):
    # a < 2^32 and b < 2^4 here, so the product fits int64 exactly.
    return (a * b) & M32


def _vrotl(x, k):
    return ((x << k) | (x >> (32 - k))) & M32


def _to_bits(state):
    """128 bits, word i's bit j at 32*i + j, as a float64 vector (GF(2) arithmetic is exact in float64 here)."""
    return torch.tensor([(state[i] >> j) & 1 for i in range(4) for j in range(32)], dtype=torch.float64)


def _from_bits(bits):
    b = [int(x) for x in bits.tolist()]
    return [sum(b[32 * i + j] << j for j in range(32)) for i in range(4)]


_T = None


def _transition():
    """T: column k is the state after one draw from the k-th unit state (the update is linear over GF(2))."""
    global _T
    if _T is None:
        cols = []
        for k in range(128):
            unit = [0, 0, 0, 0]
            unit[k // 32] = 1 << (k % 32)
            cols.append(_to_bits(_next(unit)[1]))
        _T = torch.stack(cols, dim=1)
    return _T


def _apply(m, bits):
    return torch.remainder(m @ bits, 2)


def _matrix_power(m, k):
    result = torch.eye(128, dtype=torch.float64)
    base = m
    while k:
        if k & 1:
            result = torch.remainder(result @ base, 2)
        base = torch.remainder(base @ base, 2)
        k >>= 1
    return result
