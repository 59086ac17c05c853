import type { z } from 'zod';
import { describeIssues } from '../engine/parse-settings.ts';
import { calls, type CallName, type CallReply, type ParsedRequest } from './contract.ts';

/** One handler per call: receives the validated request, returns the reply (checked before it leaves). */
export type Handlers = { [K in CallName]: (request: ParsedRequest<K>) => Promise<CallReply<K>> | CallReply<K> };

/** Why a call failed, with the HTTP status a transport should use (400: the caller's fault, 500: ours). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 500,
    readonly code: string,
  ) {
    super(message);
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

/** A handler's error as the transports send it: StudioErrors keep their message (it names the file). */
export function errorPayload(e: unknown): { status: number; error: { message: string; code: string } } {
  if (e instanceof ApiError) return { status: e.status, error: { message: e.message, code: e.code } };
  const err = e as { message?: string; code?: unknown; name?: string };
  const code = typeof err?.code === 'string' ? err.code : 'error';
  // StudioError/FormatError are the user's input being wrong (a broken file), not a crash of ours.
  const status = err?.name === 'StudioError' || err?.name === 'FormatError' ? 400 : 500;
  return { status, error: { message: err?.message ?? String(e), code } };
}
