// The GPU kit's one program, bundled by esbuild with dawn.node beside it (bench/gpu-kit/build.ts):
//   probe [software]                         the adapter's features, limits and subgroup-matrix configs
//   plan DIR SHAPE SEQ                       config, tokenizer, tensor list and data for torch_kit.py weights
//   check DIR BACKEND REFERENCE PYTHON TOL [BASE]  logits and LoRA gradients against test/reference/torch_llama_lora.py
//   train DIR BACKEND TARGETS R B T STEPS WARMUP BASE   timed LoRA training through runFinetune
//   matmul BACKEND M K N REPS                our products' TFLOP/s
//   profile BACKEND SHAPE B T R TARGETS BASE  the dispatch profile of one step, predicted and (on a GPU) measured
//   bases                                    the base storages this build's config accepts
//   report OUT                               OUT/summary.md from OUT/results.jsonl
// Each prints one JSON line last (logs go before it, or to stderr).
import { initBackend } from '../../main/engine/backend/index.ts';
import type { BackendChoice } from '../../main/engine/backend/choices.ts';
import { checkAgainstTorch } from './check.ts';
import { timeProducts } from './matmul.ts';
import { writeModelPlan } from './plan.ts';
import { profileTrainingStep } from '../gpu-profile/profile-step.ts';
import { probeAdapter } from './probe.ts';
import { writeSummary } from './report.ts';
import { acceptedBases, timedTraining } from './train.ts';

const [command, ...args] = process.argv.slice(2);
const print = (o: unknown) => console.log(JSON.stringify(o));

try {
  switch (command) {
    case 'probe':
      print(await probeAdapter(args[0] === 'software', print));
      break;
    case 'plan':
      writeModelPlan(args[0], args[1], Number(args[2]));
      print({ planned: args[0], shape: args[1] });
      break;
    case 'check': {
      const info = await initBackend(args[1] as BackendChoice);
      print({ backend: info.detail, matmul: process.env.LORA_STUDIO_MATMUL ?? 'auto', ...(await checkAgainstTorch(args[0], args[2], args[3], Number(args[4]), args[5] === 'f16' ? 'f16' : 'f32')) });
      break;
    }
    case 'train': {
      const [dir, backend, targets, r, b, t, steps, warmup, base] = args;
      const spec = { modelDir: dir, backend: backend as BackendChoice, targets: targets.split(','), r: +r, batch: +b, seq: +t, steps: +steps, warmup: +warmup, base };
      print(await timedTraining(spec));
      break;
    }
    case 'matmul': {
      const info = await initBackend(args[0] as BackendChoice);
      print({ backend: info.detail, ...(await timeProducts(+args[1], +args[2], +args[3], +args[4])) });
      break;
    }
    case 'profile': {
      const [backend, shape, b, t, r, targets, base] = args;
      const info = await initBackend(backend as BackendChoice);
      const execute = !info.detail.includes('software');
      const p = await profileTrainingStep({ shape, batch: +b, seq: +t, r: +r, targets: targets.split(','), base, execute });
      const { programs, ...step } = p.step;
      print({ backend: info.detail, settings: p.settings, machine: p.machine, step, top_programs: programs.slice(0, 8), predicted_tokens_per_second: p.predictedTokensPerSecond, measured_step_seconds: p.measuredStepSeconds ?? null });
      break;
    }
    case 'bases':
      print({ bases: acceptedBases() });
      break;
    case 'report':
      console.log(writeSummary(args[0]));
      break;
    default:
      throw new Error(`unknown command ${command ?? '(none)'}`);
  }
  process.exit(0);
} catch (e) {
  print({ error: (e as Error).message.split('\n')[0] });
  console.error(e);
  process.exit(1);
}
