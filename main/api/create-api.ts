import type { z } from 'zod';
import { StudioError } from '../engine/errors.ts';
import { fsStudioError } from '../engine/fs/fs-errors.ts';
import { describeIssues } from '../engine/parse-settings.ts';
import { calls, type CallName, type CallReply, type ParsedRequest } from '../contract/contract.ts';

/** One handler per call: receives the validated request, returns the reply (checked before it leaves). */
export type Handlers = { [K in CallName]: (request: ParsedRequest<K>) => Promise<CallReply<K>> | CallReply<K> };

/** Why a call failed, with the HTTP status a transport should use (400: the caller's fault, 500: ours). */
export class ApiError extends StudioError {
  constructor(
    message: string,
    readonly status: 400 | 404 | 413 | 500,
    code: string,
  ) {
    super(message, undefined, code);
    this.name = 'ApiError';
  }
}

export interface Api {
  /** Validate `raw` against the call's request schema, run the handler, validate its reply. */
  call(name: string, raw: unknown): Promise<unknown>;
  isCall(name: string): name is CallName;
}

const describe = (error: z.ZodError) => describeIssues(error, '(request)');

export function createApi(handlers: Handlers): Api {
  const isCall = (name: string): name is CallName => Object.prototype.hasOwnProperty.call(calls, name);
  return {
    isCall,
    async call(name, raw) {
      if (!isCall(name)) throw new ApiError(`unknown call "${name}"`, 404, 'api/unknown-call');
      const spec = calls[name];
      const req = spec.request.safeParse(raw ?? {});
      if (!req.success) throw new ApiError(`${name}: invalid request: ${describe(req.error)}`, 400, 'api/invalid-request');
      const handler = handlers[name] as (r: unknown) => unknown;
      const reply = await handler(req.data);
      const out = spec.reply.safeParse(reply);
      // A reply that breaks the contract is our bug: say so rather than send the UI something it cannot read.
      if (!out.success) throw new ApiError(`${name}: reply does not match the contract: ${describe(out.error)}`, 500, 'api/invalid-reply');
      return out.data;
    },
  };
}

/**
 * A handler's error as the transports send it. A StudioError is the user's input being wrong (a broken file, a bad
 * setting): 400 with its message, which names the file. An fs error (a path the user chose) becomes one. Anything
 * else is a fault of ours: 500.
 */
export function errorPayload(e: unknown): { status: number; error: { message: string; code: string } } {
  const err = fsStudioError(e) ?? e;
  if (err instanceof ApiError) return { status: err.status, error: { message: err.message, code: err.code } };
  if (err instanceof StudioError) return { status: 400, error: { message: err.message, code: err.code } };
  return { status: 500, error: { message: err instanceof Error ? err.message : String(err), code: 'internal' } };
}
