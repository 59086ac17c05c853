import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeSyntheticAdapter } from '../../main/engine/synthetic/synthetic-adapter.ts';
import { DEMO_SHAPE, writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../../main/engine/formats/peft-adapter.ts';
import { writeCheckpoint } from '../../main/engine/train/checkpoint.ts';
import { parseFinetuneConfig } from '../../main/engine/train/config.ts';
import type { PrepareBundle } from '../../main/cluster/submit.ts';

/**
 * A stand-in for the cluster trainer, for the tests of the control side only (submit, states, following, cancel,
 * fetch, faults): a few lines of stdlib Python that play back a run prepared here — metric lines one per "step", and
 * checkpoints and an adapter written by the project's own writers (real manifests, real PEFT files) — copied into the
 * run folder as a trainer would write them. It trains nothing; the end-to-end tests run the real trainer.
 */
const PLAYBACK = String.raw`
import argparse, json, os, shutil, signal, sys, time
p = argparse.ArgumentParser()
p.add_argument("--bundle"); p.add_argument("--run_dir"); p.add_argument("--base_model"); p.add_argument("--resume")
a = p.parse_args()
rank = int(os.environ.get("RANK", "0")); world = int(os.environ.get("WORLD_SIZE", "1"))
print(f"playback: rank {rank} of {world} on {os.environ.get('SLURMD_NODENAME')}", flush=True)
signal.signal(signal.SIGUSR1, lambda s, f: print(f"playback: rank {rank} got USR1", flush=True))
if not os.path.isdir(a.base_model):
    print(f"error: base model folder {a.base_model} does not exist on this cluster", file=sys.stderr, flush=True)
    sys.exit(2)
plan = json.load(open(os.path.join(a.bundle, "playback.json")))
if rank != 0:
    time.sleep(plan["steps"] * plan["step_seconds"]); sys.exit(0)
os.makedirs(os.path.join(a.run_dir, "checkpoints"), exist_ok=True)
shutil.copy(os.path.join(a.bundle, "config.json"), os.path.join(a.run_dir, "config.json"))
m = open(os.path.join(a.run_dir, "metrics.jsonl"), "a")
def emit(e):
    m.write(json.dumps(e) + "\n"); m.flush()
emit({"type": "start", "totalSteps": plan["steps"], "startStep": 0})
for step in range(1, plan["steps"] + 1):
    time.sleep(plan["step_seconds"])
    emit({"type": "step", "step": step, "epoch": step / plan["steps"], "totalSteps": plan["steps"], "loss": 3.0 - 0.25 * step,
          "learningRate": 1e-3, "tokensPerSecond": 100.0, "elapsedMs": step * 1000, "etaMs": 0, "microBatches": 1})
    src = os.path.join(a.bundle, "checkpoints", f"step-{step}")
    if os.path.isdir(src):
        tmp = os.path.join(a.run_dir, "checkpoints", f".tmp-step-{step}")
        shutil.copytree(src, tmp)
        os.rename(tmp, os.path.join(a.run_dir, "checkpoints", f"step-{step}"))
        emit({"type": "checkpoint", "step": step, "dir": os.path.join(a.run_dir, "checkpoints", f"step-{step}")})
shutil.copytree(os.path.join(a.bundle, "adapter"), os.path.join(a.run_dir, "adapter"))
emit({"type": "done", "step": plan["steps"], "reason": "completed", "adapterDir": os.path.join(a.run_dir, "adapter")})
print("playback: done", flush=True)
`;

export interface Playback {
  steps: number;
  stepSeconds: number;
}

export interface Fixture {
  base: string;
  data: string;
  trainerDir: string;
  /** A bundle preparer whose run plays back `steps` steps, `stepSeconds` each. */
  prepareBundle: (playback: Playback) => PrepareBundle;
}

/**
 * Write the base (a tiny synthetic LLaMA), data, the playback trainer and the run it plays back (an adapter, and
 * checkpoints at `checkpointSteps`) into `dir`.
 */
export async function writeFixture(dir: string, checkpointSteps: number[]): Promise<Fixture> {
  const at = (...p: string[]) => path.join(dir, ...p);
  const base = at('base');
  await writeSyntheticModel(base, DEMO_SHAPE, { alphabet: 'abcdefghijklmnopqrstuvwxyz ' });
  const source = at('source');
  await writeSyntheticAdapter(path.join(source, 'adapter'), base, { r: 2, targetModules: ['q_proj', 'v_proj'], seed: 7 });
  for (const step of checkpointSteps) {
    await writeCheckpoint(path.join(source, 'checkpoints'), step, async (d) => {
      for (const f of [ADAPTER_CONFIG, ADAPTER_WEIGHTS]) cpSync(path.join(source, 'adapter', f), path.join(d, f));
      writeFileSync(path.join(d, 'trainer_state.json'), JSON.stringify({ step }));
    });
  }
  const data = at('data.json');
  writeFileSync(data, JSON.stringify([{ instruction: 'say a', input: '', output: 'a' }]));
  const trainerDir = at('trainer');
  mkdirSync(trainerDir, { recursive: true });
  writeFileSync(path.join(trainerDir, 'train.py'), PLAYBACK);
  const prepareBundle =
    (playback: Playback): PrepareBundle =>
    async (settings, bundleDir) => {
      const config = parseFinetuneConfig(settings);
      cpSync(source, bundleDir, { recursive: true });
      writeFileSync(path.join(bundleDir, 'config.json'), JSON.stringify(config, null, 2));
      writeFileSync(path.join(bundleDir, 'playback.json'), JSON.stringify({ steps: playback.steps, step_seconds: playback.stepSeconds }));
      const baseConfig = JSON.parse(readFileSync(path.join(base, 'config.json'), 'utf8')) as unknown;
      writeFileSync(path.join(bundleDir, 'bundle.json'), JSON.stringify({ config, base_model: { path: base, config: baseConfig } }));
      return undefined;
    };
  return { base, data, trainerDir, prepareBundle };
}
