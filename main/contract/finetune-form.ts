/**
 * What the New-run wizard checks its form with, from the engine modules that own each rule (Node-free): the job's own
 * settings schema (with its cross-field rules), the fields' names, types, defaults and help, the run plan and its
 * warnings, run names, and the one way numbers are read. The wizard imports these and restates none of them.
 */
export { finetuneSettingsSchema } from './job-kinds.ts';
export { parseNumberText } from '../engine/parse-settings.ts';
export { settingFields } from '../engine/train/config.ts';
export { planRun, planWarnings, type PlanSettings, type RunPlan } from '../engine/train/run-plan.ts';
export { runNameFrom, runNameSchema } from '../engine/train/run-name.ts';
