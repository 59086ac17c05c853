/**
 * xoshiro128** — a small, fast, well-tested PRNG whose whole state is four 32-bit words, so a checkpoint can save
 * it and a resumed run continue the exact same stream. Seeded through splitmix32 so nearby seeds diverge.
 */
export class Prng {
  private s: Uint32Array;

  constructor(seedOrState: number | readonly number[]) {
    if (typeof seedOrState === 'number') {
      let x = seedOrState >>> 0;
      const next = () => {
        x = (x + 0x9e3779b9) >>> 0;
        let z = x;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
        return (z ^ (z >>> 16)) >>> 0;
      };
      this.s = Uint32Array.from([next(), next(), next(), next()]);
    } else {
      if (seedOrState.length !== 4) throw new Error('PRNG state must be four 32-bit words');
      this.s = Uint32Array.from(seedOrState);
    }
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /**
   * Fill `out` with the next out.length words, exactly as that many nextUint32 calls would give them, with the state
   * in locals: several times faster for bulk draws (a 7B synthetic checkpoint draws 6.7 billion).
   */
  fill(out: Uint32Array): void {
    let [s0, s1, s2, s3] = this.s;
    for (let i = 0; i < out.length; i++) {
      out[i] = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
      const t = (s1 << 9) >>> 0;
      s2 = (s2 ^ s0) >>> 0;
      s3 = (s3 ^ s1) >>> 0;
      s1 = (s1 ^ s2) >>> 0;
      s0 = (s0 ^ s3) >>> 0;
      s2 = (s2 ^ t) >>> 0;
      s3 = rotl(s3, 11);
    }
    this.s.set([s0, s1, s2, s3]);
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniform integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** The state, to save; `new Prng(state)` continues from here. */
  state(): number[] {
    return [...this.s];
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * One 32-bit seed from several (e.g. the run's seed and the epoch), so that (seed 42, epoch 1) and
 * (seed 43, epoch 0) draw unrelated streams. A splitmix32-style avalanche per word.
 */
export function mixSeeds(...seeds: number[]): number {
  let h = 0x811c9dc5;
  for (const s of seeds) {
    h = Math.imul(h ^ (s >>> 0), 0x9e3779b1) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

export function createPrng(seed: number): Prng {
  return new Prng(seed);
}

/** Fisher–Yates permutation of 0..n-1 drawn from `prng`. */
export function permutation(n: number, prng: Prng): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = prng.nextInt(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}
