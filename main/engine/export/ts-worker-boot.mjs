// Starts a TypeScript worker thread when running from source: Node 20 does not pass the parent's tsx hooks on to a
// worker, so register them here, then load the .ts entry named by workerData.entry. (A bundled build starts its
// compiled .js worker directly and never loads this file.)
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
