import { describe, expect, it } from 'vitest';
import { formatRatio, isWide, pairedRatios, spreadOf } from '../../bench/spread.ts';

describe('bench ratios under noise', () => {
  it('takes the median of per-run ratios, pairing run i of ours with run i of the reference', () => {
    // A slow moment in run 2 hits both sides: the paired ratio stays put where a ratio of medians would not.
    const r = pairedRatios([100, 20, 110], [200, 40, 200]);
    expect(r).toEqual({ median: 0.5, min: 0.5, max: 0.55, runs: 3 });
    expect(spreadOf([4, 1, 3, 2]).median).toBe(2.5);
  });

  it('flags a spread wider than 1.5× between the smallest and largest run', () => {
    expect(isWide(spreadOf([0.35, 0.4, 0.5]))).toBe(false);
    const noisy = spreadOf([0.35, 0.96, 16.8]);
    expect(isWide(noisy)).toBe(true);
    expect(formatRatio(noisy)).toBe('0.96× (0.35–16.80) ⚠');
    expect(formatRatio(spreadOf([0.4, 0.42, 0.44]))).toBe('0.42× (0.40–0.44)');
    expect(() => spreadOf([])).toThrow(/no runs/);
  });
});
