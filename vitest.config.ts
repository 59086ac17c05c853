import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Model tests are CPU-heavy; on 2 cores parallel files only fight each other.
    fileParallelism: false,
    // expect.poll waits on a real browser, real jobs and real processes: 1 s (vitest's default) is too short on a
    // busy 2-core machine. A poll that never succeeds still fails.
    expect: { poll: { timeout: 15_000 } },
    // One wasm thread unless a test asks for more (the CLI test starts the thread pool): test files run side by side
    // on 2 cores, and each pool is 8 worker threads. Child processes inherit it.
    env: { LORA_STUDIO_WASM_THREADS: '1' },
    reporters: ['default'],
  },
});
