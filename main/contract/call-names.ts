/**
 * The names of the contract's calls, without zod, for preload (a sandboxed preload bundles everything it imports).
 * contract.ts checks at type level that this list and its `calls` object have the same names; a test checks it at run time.
 */
export const CALL_NAME_LIST = [
  'app.info',
  'model.inspect',
  'data.check',
  'finetune.fields',
  'finetune.estimate',
  'files.pick',
  'files.list',
  'jobs.list',
  'jobs.start',
  'jobs.stop',
  'runs.list',
  'runs.read',
  'runs.history',
  'runs.delete',
  'system.gpu',
  'settings.get',
  'settings.set',
] as const;
