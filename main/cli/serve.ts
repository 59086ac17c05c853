import { existsSync } from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { action, positiveInt } from './common.ts';

/** `lora-studio serve`: the studio in a browser (or from a laptop to a GPU box), same contract as the app. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Serve the studio and its API over HTTP + WebSocket, protected by a random token printed at start')
    .option('--host <host>', 'address to listen on (loopback unless --allow_remote)', '127.0.0.1')
    .addOption(new Option('--port <n>', 'port (default: a free one)').argParser(positiveInt))
    .option('--runs_dir <dir>', 'where runs are written and listed', 'runs')
    .option('--allow_remote', 'listen on a non-loopback address (anyone who can reach it still needs the token)')
    .action(
      action(async (o: { host: string; port?: number; runs_dir: string; allow_remote?: boolean }) => {
        const { DEFAULT_RENDERER_DIR, startServer } = await import('../server/server.ts');
        if (!existsSync(path.join(DEFAULT_RENDERER_DIR, 'index.html'))) {
          console.error(`note: ${DEFAULT_RENDERER_DIR} is missing; run "npm run build:web" for the pages (the API works without them)`);
        }
        const server = await startServer({ host: o.host, port: o.port ?? 0, runsDir: path.resolve(o.runs_dir), allowRemote: o.allow_remote, settingsFile: path.resolve(o.runs_dir, 'settings.json') });
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        await server.close();
      }),
    );
}
