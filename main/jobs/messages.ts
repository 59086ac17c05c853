import { z } from 'zod';
import { jobEventSchema, jobKindSchema } from '../contract/contract.ts';

/** What the host tells a worker process. One worker runs one job, then exits. */
export const hostMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('run'), job: z.object({ id: z.string(), kind: jobKindSchema, config: z.record(z.string(), z.unknown()) }) }),
  /** Finish what can be finished (e.g. write a checkpoint) and exit. */
  z.object({ type: z.literal('stop') }),
]);
export type HostMessage = z.infer<typeof hostMessageSchema>;

/** What a worker tells the host: it is ready for its job, or an event of the job. */
export const workerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), pid: z.number() }),
  z.object({ type: z.literal('event'), event: jobEventSchema }),
]);
export type WorkerMessage = z.infer<typeof workerMessageSchema>;
