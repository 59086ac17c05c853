import { describe, expect, it } from 'vitest';
import { ApiError, createApi, errorPayload, type Handlers } from '../../main/api/create-api.ts';
import { NonFiniteLossError } from '../../main/engine/train/trainer.ts';
import { CALL_NAME_LIST } from '../../main/contract/call-names.ts';
import { CALL_NAMES, JOB_KINDS, jobEventSchema, jobStartRequestSchema, settingsSchema } from '../../main/contract/contract.ts';
import { FormatError, StudioError } from '../../main/engine/errors.ts';

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    return e as ApiError;
  }
  throw new Error('expected the call to fail');
}
const gpu = { available: false, gpus: [], message: 'no NVIDIA GPU', process: { rssBytes: 1, heapUsedBytes: 1, externalBytes: 1 } };

function handlers(over: Partial<Handlers> = {}): Handlers {
  const fail = () => {
    throw new Error('not used');
  };
  const base = Object.fromEntries(CALL_NAMES.map((n) => [n, fail])) as unknown as Handlers;
  return { ...base, 'system.gpu': () => gpu, 'settings.get': () => settingsSchema.parse({}), ...over };
}

describe('contract and createApi', () => {
  it("checks a job's settings by its kind's own schema, for every kind, and knows no kind `export`", () => {
    const issues = (raw: unknown) => jobStartRequestSchema.safeParse(raw).error?.issues ?? [];
    // A kind whose settings are a union picks its branch by one key; with it given, a misspelt key is named too.
    const branch: Partial<Record<(typeof JOB_KINDS)[number], object>> = { cluster: { action: 'cancel', output_dir: 'run' } };
    for (const kind of JOB_KINDS) {
      // A misspelt key is refused by name (the schemas are strict).
      expect(
        issues({ kind, config: { ...branch[kind], misspelt_key: 1 } })
          .map((i) => JSON.stringify(i))
          .join(' '),
        kind,
      ).toContain('misspelt_key');
    }
    expect(jobStartRequestSchema.safeParse({ kind: 'selftest' }).success).toBe(true); // selftest's settings may be left out
    const stateDict = { base_model: '/m', lora_weights: '/a', output_dir: 'out' };
    expect(jobStartRequestSchema.safeParse({ kind: 'export-state-dict', config: stateDict }).success).toBe(true);
    expect(jobStartRequestSchema.safeParse({ kind: 'export', config: stateDict }).success).toBe(false);
  });
  it('lists every call the brief asks for', () => {
    expect(CALL_NAMES.sort()).toEqual(
      [
        'app.info',
        'data.check',
        'files.list',
        'files.pick',
        'finetune.estimate',
        'finetune.fields',
        'jobs.list',
        'jobs.start',
        'jobs.stop',
        'model.inspect',
        'runs.delete',
        'runs.history',
        'runs.list',
        'runs.read',
        'settings.get',
        'settings.set',
        'system.gpu',
      ].sort(),
    );
  });

  it('the zod-free name list for preload matches the contract', () => {
    expect([...CALL_NAME_LIST].sort()).toEqual([...CALL_NAMES].sort());
  });

  it('passes a valid request, with defaults filled, to its handler', async () => {
    let seen: unknown;
    const api = createApi(
      handlers({
        'data.check': (r) => {
          seen = r;
          return { file: r.path, format: 'json', total: 0, kept: 0, problems: [], problemCount: 0 };
        },
      }),
    );
    await api.call('data.check', { path: 'a.json' });
    expect(seen).toEqual({ path: 'a.json', template: 'alpaca', cutoffLen: 256, trainOnInputs: true, addEosToken: false });
  });

  it('passes a settings patch as it is, without defaults for the fields it leaves out', async () => {
    let seen: unknown;
    const api = createApi(handlers({ 'settings.set': (p) => ((seen = p), settingsSchema.parse(p)) }));
    await api.call('settings.set', { theme: 'dark' });
    expect(seen).toEqual({ theme: 'dark' });
  });

  it('rejects an invalid request with status 400 naming the field', async () => {
    const api = createApi(handlers());
    const err = await rejection(api.call('model.inspect', { dir: 3 }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/model\.inspect: invalid request: dir:/);
    // Unknown keys are refused, not silently dropped.
    expect((await rejection(api.call('jobs.list', { extra: 1 }))).status).toBe(400);
    expect((await rejection(api.call('jobs.start', { kind: 'rm -rf', config: {} }))).status).toBe(400);
  });

  it('refuses an unknown call and a reply that breaks the contract', async () => {
    const api = createApi(handlers({ 'jobs.list': () => ({ jobs: [{ id: 1 }] }) as never }));
    expect((await rejection(api.call('fs.readFile', {}))).status).toBe(404);
    expect((await rejection(api.call('__proto__', {}))).status).toBe(404);
    const err = await rejection(api.call('jobs.list', {}));
    expect(err.status).toBe(500);
    expect(err.message).toMatch(/reply does not match the contract/);
  });

  it('reports engine input errors as 400 with the file named', () => {
    const p = errorPayload(new FormatError('not valid JSON', '/m/config.json'));
    expect(p.status).toBe(400);
    expect(p.error.message).toBe('/m/config.json: not valid JSON');
    expect(errorPayload(new Error('boom')).status).toBe(500);
  });

  it('chooses statuses by class, never by the name string', () => {
    const api = new ApiError('no such call', 404, 'api/unknown-call');
    expect(api).toBeInstanceOf(StudioError);
    expect(errorPayload(api)).toEqual({ status: 404, error: { message: 'no such call', code: 'api/unknown-call' } });
    expect(errorPayload(new NonFiniteLossError('training loss became NaN')).status).toBe(400);
    // A plain Error that only claims the name is still a fault of ours.
    const impostor = Object.assign(new Error('x'), { name: 'StudioError', code: 'fake' });
    expect(errorPayload(impostor)).toEqual({ status: 500, error: { message: 'x', code: 'internal' } });
    // An fs error on a path the user chose is the user's input: 400 naming the path.
    const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/m/x.json'"), {
      code: 'ENOENT',
      errno: -2,
      syscall: 'open',
      path: '/m/x.json',
    });
    expect(errorPayload(enoent)).toEqual({
      status: 400,
      error: { message: '/m/x.json: no such file or folder; check the path [ENOENT]', code: 'fs/enoent' },
    });
  });

  it('checks job events, including the training report', () => {
    const report = {
      jobId: 'j',
      type: 'report',
      step: 1,
      epoch: 0.1,
      loss: 2,
      learningRate: 1e-4,
      tokensPerSecond: 10,
      elapsedMs: 5,
      etaMs: 50,
      memory: { rssBytes: 1, tensorBytes: 2, numTensors: 3 },
    };
    expect(jobEventSchema.parse(report)).toEqual(report);
    expect(jobEventSchema.safeParse({ ...report, loss: 'x' }).success).toBe(false);
    expect(jobEventSchema.safeParse({ jobId: 'j', type: 'failed', error: 'x' }).success).toBe(false);
    expect(jobEventSchema.safeParse({ jobId: 'j', type: 'failed', error: 'x', lastOutput: ['a'] }).success).toBe(true);
  });
});
