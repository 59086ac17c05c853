// The wasm side of webgpu-software.test.ts, in a child process: tfjs has one global engine and our initBackend is
// one-shot per process (a second backend would also hold its own copies of every weight), so rather than switching
// backends inside the test process we compute the reference here and write it as JSON to the file named by argv[2]
// (a file, not stdout: process.exit right after a large write to a pipe cuts it short). argv[3] and argv[4] name the
// model folder and the data file, so both sides run on the very same files.
import { writeFileSync } from 'node:fs';
import { initBackend } from '../../main/engine/backend/index.ts';
import { finetuneCase, gradientsCase, logitsCase, type CaseResults } from './cases.ts';

const [out, modelDir, dataPath] = process.argv.slice(2);
await initBackend('wasm');
const logits = await logitsCase(modelDir);
const { loss, grads } = await gradientsCase(modelDir);
const stepLosses = await finetuneCase('wasm', modelDir, dataPath);
const result: CaseResults = { logits, loss, grads, stepLosses };
writeFileSync(out, JSON.stringify(result));
process.exit(0);
