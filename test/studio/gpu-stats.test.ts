import { describe, expect, it } from 'vitest';
import { NVIDIA_SMI_ARGS, parseNvidiaSmi, readGpuStats } from '../../main/engine/system/gpu-stats.ts';

// Captured from real nvidia-smi runs (--format=csv,noheader,nounits): a two-GPU server and a laptop GPU that does
// not report power ("[N/A]") nor utilization ("[Not Supported]").
const SERVER = `0, NVIDIA A100-SXM4-80GB, 40563, 81920, 97, 61, 312.45
1, NVIDIA A100-SXM4-80GB, 3, 81920, 0, 33, 61.02
`;
const LAPTOP = '0, NVIDIA GeForce GTX 1650 with Max-Q Design, 5, 4096, [Not Supported], 45, [N/A]\r\n';

describe('nvidia-smi stats', () => {
  it('asks for the seven columns in csv without header or units', () => {
    expect(NVIDIA_SMI_ARGS).toEqual([
      '--query-gpu=index,name,memory.used,memory.total,utilization.gpu,temperature.gpu,power.draw',
      '--format=csv,noheader,nounits',
    ]);
  });

  it('parses each GPU line', () => {
    expect(parseNvidiaSmi(SERVER)).toEqual([
      {
        index: 0,
        name: 'NVIDIA A100-SXM4-80GB',
        memoryUsedMiB: 40563,
        memoryTotalMiB: 81920,
        utilizationPercent: 97,
        temperatureC: 61,
        powerDrawW: 312.45,
      },
      {
        index: 1,
        name: 'NVIDIA A100-SXM4-80GB',
        memoryUsedMiB: 3,
        memoryTotalMiB: 81920,
        utilizationPercent: 0,
        temperatureC: 33,
        powerDrawW: 61.02,
      },
    ]);
  });

  it('turns [N/A] and [Not Supported] into null, not 0', () => {
    const [g] = parseNvidiaSmi(LAPTOP);
    expect(g.name).toBe('NVIDIA GeForce GTX 1650 with Max-Q Design');
    expect(g.utilizationPercent).toBeNull();
    expect(g.powerDrawW).toBeNull();
    expect(g.temperatureC).toBe(45);
  });

  it('refuses a line with the wrong number of fields', () => {
    expect(() => parseNvidiaSmi('0, GPU, 1, 2\n')).toThrow(/line 1: expected 7 fields, got 4/);
  });

  it('says plainly when nvidia-smi is absent or fails', async () => {
    const absent = await readGpuStats(() => Promise.reject(Object.assign(new Error('spawn nvidia-smi ENOENT'), { code: 'ENOENT' })));
    expect(absent).toEqual({
      available: false,
      gpus: [],
      reason: 'no-nvidia-smi',
      message: 'No NVIDIA GPU: nvidia-smi was not found on this machine.',
    });
    const failed = await readGpuStats(() =>
      Promise.reject(
        Object.assign(new Error('exit 9'), {
          code: 9,
          stderr: 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.\n',
        }),
      ),
    );
    expect(failed.available).toBe(false);
    expect(failed.available === false && failed.message).toMatch(/could not communicate with the NVIDIA driver/);
    // The page says it in its own language from the reason, with nvidia-smi's words as the detail.
    expect(failed).toMatchObject({ reason: 'failed', detail: expect.stringMatching(/^NVIDIA-SMI has failed/) });
    expect(await readGpuStats(() => Promise.resolve(SERVER))).toMatchObject({ available: true, gpus: [{ index: 0 }, { index: 1 }] });
  });

  it('runs the real nvidia-smi when there is one, and otherwise reports its absence', async () => {
    const r = await readGpuStats();
    if (r.available) expect(r.gpus.length).toBeGreaterThan(0);
    else expect(r.message).toMatch(/^No NVIDIA GPU/);
  });
});
