// The wasm side of webgpu-software.test.ts, in a child process: tfjs has one global engine and our initBackend is
// one-shot per process (a second backend would also hold its own copies of every weight), so rather than switching
// backends inside the test process we compute the reference here and write it as JSON to the file named by argv[2]
// (a file, not stdout: process.exit right after a large write to a pipe cuts it short).
import { writeFileSync } from 'node:fs';
import { initBackend } from '../../main/engine/backend/index.ts';
import { finetuneCase, gradientsCase, logitsCase, type CaseResults } from './cases.ts';

await initBackend('wasm');
const logits = await logitsCase();
const { loss, grads } = await gradientsCase();
const stepLosses = await finetuneCase('wasm');
const out: CaseResults = { logits, loss, grads, stepLosses };
writeFileSync(process.argv[2], JSON.stringify(out));
process.exit(0);
