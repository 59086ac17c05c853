import { jobStartRequestSchema, type JobStartRequest, describeIssues } from '../../main/contract/contract.ts';

/**
 * A job request checked in the page with the contract's own schema (the server checks it again): a bad or unknown
 * setting is named before anything is sent, and the request is typed by its kind without a cast.
 */
export function jobRequest(raw: { kind: string; config: Record<string, unknown> }): JobStartRequest {
  const r = jobStartRequestSchema.safeParse(raw);
  if (!r.success) throw new Error(`${raw.kind} settings: ${describeIssues(r.error)}`);
  return r.data;
}
