import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Model tests are CPU-heavy; on 2 cores parallel files only fight each other.
    fileParallelism: false,
    reporters: ['default'],
  },
});
