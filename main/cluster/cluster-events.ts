import { z } from 'zod';
import { jobStatusSchema } from './job-state.ts';

/**
 * What main/cluster reports while it submits, follows, cancels and fetches (Node-free: the studio's contract and the
 * CLI's printer take the same events). The code never prints; a listener decides what a user sees.
 */
export const clusterEventSchema = z.discriminatedUnion('type', [
  /** A step of the work, for a progress line (`reading the cluster`, `staging 12.3 MB`). */
  z.object({ type: z.literal('progress'), message: z.string() }),
  z.object({ type: z.literal('note'), level: z.enum(['info', 'warn']), message: z.string() }),
  z.object({ type: z.literal('submitted'), jobId: z.string(), remoteDir: z.string(), cluster: z.string() }),
  /** The job's state changed (or was read for the first time). */
  z.object({ type: z.literal('state'), status: jobStatusSchema }),
  /** A new metrics.jsonl line of the run (a TrainingEvent as the trainer wrote it). */
  z.object({ type: z.literal('metric'), line: z.record(z.string(), z.unknown()) }),
  /** New text of the job's stdout or stderr. */
  z.object({ type: z.literal('log'), stream: z.enum(['stdout', 'stderr']), text: z.string() }),
  /** A fetched file or folder verified and put in place, or refused. */
  z.object({ type: z.literal('fetched'), what: z.enum(['adapter', 'checkpoint']), path: z.string() }),
  z.object({ type: z.literal('refused'), what: z.enum(['adapter', 'checkpoint']), path: z.string(), problem: z.string() }),
  /** The connection dropped while following; it is tried again after `retryInMs`. */
  z.object({ type: z.literal('offline'), message: z.string(), retryInMs: z.number() }),
]);
export type ClusterEvent = z.infer<typeof clusterEventSchema>;
export type ClusterListener = (e: ClusterEvent) => void;
