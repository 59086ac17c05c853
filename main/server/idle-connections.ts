import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Connections that hold no request in progress (accepted and still sending their headers, or kept alive between
 * requests) are capped: past the cap the oldest is closed. Without it, 30,000 half-open connections (a careless
 * script, a port scanner) fill the process's file descriptors and every new connection, the page's included, is
 * refused until the headers timeout sweeps them out. With it the newest connection always gets its turn, and the
 * server holds at most this many idle sockets.
 */
const MAX_IDLE_CONNECTIONS = 512;

/** How long a connection may take to send its request's headers (Node's default is 60 s), checked every second. */
export const HEADERS_TIMEOUT_MS = 10_000;
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

export function capIdleConnections(server: Server, max = MAX_IDLE_CONNECTIONS): { idle: () => number } {
  const idle = new Set<Socket>(); // insertion order: the first is the oldest
  server.on('connection', (socket: Socket) => {
    idle.add(socket);
    socket.once('close', () => idle.delete(socket));
    while (idle.size > max) {
      const oldest = idle.values().next().value!;
      idle.delete(oldest);
      oldest.destroy();
    }
  });
  server.on('request', (req, res) => {
    idle.delete(req.socket);
    // Kept alive after the answer: idle again, as the newest.
    res.once('finish', () => {
      if (!req.socket.destroyed) idle.add(req.socket);
    });
  });
  server.on('upgrade', (req) => idle.delete(req.socket));
  return { idle: () => idle.size };
}
