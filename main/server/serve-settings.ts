import { networkInterfaces } from 'node:os';
import { z } from 'zod';

/** `lora-studio serve`'s settings; its flags are built from this schema. */
export const serveSettingsSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1').describe('address to listen on (loopback unless --allow_remote)'),
    port: z.number().int().min(0).max(65535).optional().describe('port (default: a free one)'),
    runs_dir: z.string().min(1).default('runs').describe('where runs are written and listed'),
    allow_remote: z.boolean().default(false).describe('listen on a non-loopback address (anyone who can reach it still needs the token)'),
  })
  .strict();

/**
 * The addresses a browser can use to reach a server listening on `host`. A wildcard (0.0.0.0, ::) is no address
 * to type: list the machine's own interfaces instead (loopback first), IPv4 only for 0.0.0.0.
 */
export function reachableHosts(host: string, interfaces = networkInterfaces()): string[] {
  const h = host.replace(/^\[|\]$/g, '');
  if (h !== '0.0.0.0' && h !== '::') return [h];
  const all = Object.values(interfaces)
    .flat()
    .filter((a): a is NonNullable<typeof a> => Boolean(a))
    .filter((a) => (h === '0.0.0.0' ? a.family === 'IPv4' : true))
    // Link-local IPv6 needs a zone id a browser will not take from a URL.
    .filter((a) => !(a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80:')));
  all.sort((a, b) => Number(b.internal) - Number(a.internal));
  return [...new Set(all.map((a) => a.address))];
}

/** `http://host:port` with IPv6 hosts in brackets. */
export function httpOrigin(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
