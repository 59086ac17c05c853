import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import { ApiError, createApi, errorPayload, type Api } from '../api/create-api.ts';
import { contentSecurityPolicy } from '../api/csp.ts';
import { createHandlers } from '../api/handlers.ts';
import { fileSettings, memorySettings, type SettingsStore } from '../api/settings.ts';
import { StudioError } from '../engine/errors.ts';
import { JobHost } from '../jobs/host.ts';
import { RunRegistry } from '../jobs/run-registry.ts';
import { nodeSpawner, type WorkerSpawner } from '../jobs/spawner.ts';
import { isLoopbackHost, newToken, tokenMatches, tokenOf } from './auth.ts';
import { capIdleConnections, CONNECTIONS_CHECKING_INTERVAL_MS, HEADERS_TIMEOUT_MS } from './idle-connections.ts';
import { httpOrigin, reachableHosts } from './serve-settings.ts';
import { contentType, resolveStatic } from '../api/static-files.ts';
import { DOWNLOAD_PATH, downloadableFile, sendDownload } from './download.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DEFAULT_RENDERER_DIR = path.join(ROOT, 'dist', 'renderer');
const MAX_BODY = 1 << 20;

export interface ServerOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** The access token; a random one when left out. */
  token?: string;
  /** Listen on a non-loopback address (a remote GPU box). Anyone who can reach the port still needs the token. */
  allowRemote?: boolean;
  runsDir: string;
  /** The user's home folder, os.homedir() when left out: the folder browser starts there and the pages show `~` for it. */
  homeDir?: string;
  rendererDir?: string;
  /** JSON file for settings; in memory when left out. */
  settingsFile?: string;
  spawner?: WorkerSpawner;
  /** Where the start line (URL with token) goes; console.log by default. */
  log?: (line: string) => void;
}

export interface StudioServer {
  url: string;
  /** The page's address with the token, as printed at start. */
  pageUrl: string;
  port: number;
  token: string;
  jobs: JobHost;
  api: Api;
  close(): Promise<void>;
}

function securityHeaders(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', contentSecurityPolicy());
  res.setHeader('X-Content-Type-Options', 'nosniff');
  // The page URL carries the token: never send it to anyone in a Referer.
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Cache-Control', 'no-store');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

/** How much of an over-long body is read and dropped so the client can read the 413 (beyond it, the socket closes). */
const MAX_DRAIN = 64 << 20;

/**
 * The request body as text, at most MAX_BODY bytes. A longer one is refused with 413; the rest is read and dropped
 * (up to MAX_DRAIN) rather than resetting the connection, so the client gets the JSON error instead of EPIPE.
 */
function readBody(req: IncomingMessage): Promise<string> {
  const tooLarge = () => new ApiError(`request body over ${MAX_BODY} bytes (1 MiB); send less`, 413, 'api/too-large');
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length']) > MAX_BODY) {
      drain(req);
      return reject(tooLarge());
    }
    let size = 0;
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) return void chunks.push(c);
      req.off('data', onData);
      chunks.length = 0;
      drain(req);
      reject(tooLarge());
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function drain(req: IncomingMessage): void {
  let dropped = 0;
  req.on('data', (c: Buffer) => {
    dropped += c.length;
    if (dropped > MAX_DRAIN) req.socket.destroy();
  });
  req.resume();
}

function packageInfo(): { name: string; version: string } {
  try {
    const p = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    return { name: p.name, version: p.version };
  } catch {
    return { name: 'lora-studio', version: '0.0.0' };
  }
}

/**
 * Browser mode: the built renderer and the studio's contract over HTTP (`POST /api/<call>`) and a WebSocket
 * (`/events`, job events), on loopback unless allowRemote. Every API call and the WebSocket need the token;
 * the static renderer files do not (they hold no data and the page must load before it can read its token).
 */
export async function startServer(opts: ServerOptions): Promise<StudioServer> {
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopbackHost(host) && !opts.allowRemote) {
    throw new StudioError(
      `refusing to listen on ${host}: not a loopback address (pass --allow_remote to serve other machines)`,
      undefined,
      'server/remote',
    );
  }
  const token = opts.token ?? newToken();
  const rendererDir = opts.rendererDir ?? DEFAULT_RENDERER_DIR;
  const settings: SettingsStore = opts.settingsFile
    ? fileSettings(opts.settingsFile, { runsDir: opts.runsDir })
    : memorySettings({ runsDir: opts.runsDir });
  const jobs = new JobHost({ spawner: opts.spawner ?? nodeSpawner(), runsDir: opts.runsDir });
  const runs = new RunRegistry(opts.runsDir);
  jobs.adoptRunning(runs); // runs a killed studio left training: shown as running, with stop
  jobs.followClusterRuns(runs); // cluster runs whose job had not ended: followed again
  const api = createApi(createHandlers({ mode: 'server', app: packageInfo(), jobs, runs, settings, homeDir: opts.homeDir }));

  const server = createServer({ connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS }, async (req, res) => {
    securityHeaders(res);
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith('/api/')) {
      if (!tokenMatches(token, tokenOf(req.headers, url)))
        return sendJson(res, 401, { error: { message: 'missing or wrong token', code: 'auth' } });
      if (req.method !== 'POST') return sendJson(res, 405, { error: { message: 'use POST', code: 'api/method' } });
      // Refusing form-encoded bodies keeps other sites from posting here with a plain HTML form.
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
        return sendJson(res, 415, { error: { message: 'send application/json', code: 'api/content-type' } });
      }
      try {
        const text = await readBody(req);
        let body: unknown;
        try {
          body = text ? JSON.parse(text) : {};
        } catch {
          return sendJson(res, 400, { error: { message: 'request body is not valid JSON', code: 'api/json' } });
        }
        return sendJson(res, 200, await api.call(url.pathname.slice(5), body));
      } catch (e) {
        const p = errorPayload(e);
        // After a refused body the connection is not reused: the client may still be sending.
        if (p.status === 413) res.setHeader('Connection', 'close');
        return sendJson(res, p.status, { error: p.error });
      }
    }
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return sendJson(res, 405, { error: { message: 'method not allowed', code: 'method' } });
    // An export's files, for the page's download links (a link cannot send a header: the token is in the address).
    if (url.pathname === DOWNLOAD_PATH) {
      if (!tokenMatches(token, tokenOf(req.headers, url)))
        return sendJson(res, 401, { error: { message: 'missing or wrong token', code: 'auth' } });
      try {
        const { file, bytes } = downloadableFile(opts.runsDir, url.searchParams.get('path'));
        return sendDownload(res, file, bytes, req.method === 'HEAD');
      } catch (e) {
        const p = errorPayload(e);
        return sendJson(res, p.status, { error: p.error });
      }
    }
    const file = resolveStatic(rendererDir, url.pathname);
    if (!file) {
      const built = existsSync(path.join(rendererDir, 'index.html'));
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      return res.end(built ? 'not found' : `The studio's pages are not built (${rendererDir} is missing): run npm run build:web`);
    }
    let body: Buffer | undefined;
    try {
      body = req.method === 'HEAD' ? undefined : await readFile(file); // async: the event loop keeps serving
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      return res.end('not found');
    }
    res.writeHead(200, { 'Content-Type': contentType(file) });
    res.end(body);
  });

  server.headersTimeout = HEADERS_TIMEOUT_MS;
  capIdleConnections(server);

  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  const clients = new Set<WebSocket>();
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/events' || !tokenMatches(token, tokenOf(req.headers, url))) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      ws.on('error', () => clients.delete(ws));
    });
  });
  const offEvents = jobs.onEvent((e) => {
    const text = JSON.stringify(e);
    for (const ws of clients) if (ws.readyState === ws.OPEN) ws.send(text);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const why = {
        EADDRINUSE: 'the port is in use; choose another --port or leave it out',
        EACCES: 'not permitted to listen there; use a port above 1023',
        EADDRNOTAVAIL: 'not an address of this machine',
      }[e.code ?? ''];
      reject(why ? new StudioError(`cannot listen on ${host}:${opts.port ?? 0}: ${why} [${e.code}]`, undefined, 'server/listen') : e);
    });
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  // A wildcard host (0.0.0.0) is no address to type: print the machine's own addresses instead.
  const origins = reachableHosts(host).map((h) => httpOrigin(h, port));
  const url = origins[0];
  const pageUrl = `${url}/?token=${token}`;
  const log = opts.log ?? console.log;
  log(`LoRA Studio is serving at ${pageUrl}`);
  for (const other of origins.slice(1)) log(`                 and at ${other}/?token=${token}`);
  log('(the token in this address is required for every call; keep it private)');
  if (!isLoopbackHost(host)) {
    log(
      'warning: the studio speaks plain HTTP: the token and your data cross the network unencrypted, readable by anyone on the path. ' +
        `Serve only on a network you trust, or keep the default host and use an SSH tunnel (ssh -L ${port}:127.0.0.1:${port} this-machine).`,
    );
  }

  return {
    url,
    pageUrl,
    port,
    token,
    jobs,
    api,
    async close() {
      offEvents();
      for (const ws of clients) ws.terminate();
      await jobs.close();
      await new Promise<void>((r) => {
        wss.close(() => r());
      });
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
