// The native kernels' install-time build (scripts/build-native.mjs): where a C++ compiler and OpenBLAS are (this
// machine, CI) the install must have built an addon that loads and finds OpenBLAS, so the fallback never hides a
// broken build; where there is no compiler the build says why, writes the reason down and fails nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GEMM_QUANT_BLOCK } from '../../main/engine/cpu-kernels/gemm-wat.ts';
import { loadNativeAddon, NATIVE_ADDON_ENV, NATIVE_API_VERSION, openblasCandidates } from '../../main/engine/cpu-kernels/native-addon.ts';

const root = path.resolve(import.meta.dirname, '../..');
const compiler = spawnSync(process.env.CXX || 'c++', ['--version']).status === 0;
const openblas = (() => {
  try {
    return /libopenblas\.so\.0/.test(execFileSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
})();

describe('the native kernels build', () => {
  // (not where LORA_STUDIO_NATIVE_ADDON hides the build on purpose: a run of the suite on the fallback)
  it.skipIf(!compiler || !openblas || !!process.env[NATIVE_ADDON_ENV])(
    'was made at install on a machine with a C++ compiler and OpenBLAS, and loads',
    () => {
      const { addon, reason } = loadNativeAddon();
      expect(addon, reason).toBeDefined();
      expect(addon!.version).toBe(NATIVE_API_VERSION);
      const blas = addon!.init({ blas: openblasCandidates(), quantBlock: GEMM_QUANT_BLOCK });
      expect(blas.config).toMatch(/OpenBLAS/);
      expect(JSON.parse(readFileSync(path.join(root, 'native/build/status.json'), 'utf8')).built).toBe(true);
    },
  );

  it('without a compiler says why, writes the reason down and lets the install go on', () => {
    const status = path.join(mkdtempSync(path.join(tmpdir(), 'native-build-')), 'status.json');
    const r = spawnSync(process.execPath, ['scripts/build-native.mjs', '--status', status], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, CXX: '/nonexistent/c++' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /native CPU kernels not built \(no C\+\+ compiler: `\/nonexistent\/c\+\+ --version` failed \(ENOENT\)\); the CPU backends use the wasm kernels/,
    );
    expect(existsSync(status)).toBe(true);
    expect(JSON.parse(readFileSync(status, 'utf8'))).toMatchObject({ built: false, reason: expect.stringMatching(/no C\+\+ compiler/) });
  });
});
