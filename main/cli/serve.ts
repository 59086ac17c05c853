import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { serveSettingsSchema } from '../server/serve-settings.ts';
import { action } from './common.ts';
import { addSchemaFlags, settingsFromFlags, type SchemaFlagOptions } from './schema-flags.ts';

const FLAGS: SchemaFlagOptions<keyof typeof serveSettingsSchema.shape> = {
  placeholder: { host: 'host', port: 'n', runs_dir: 'dir' },
  bareBooleans: true,
};

/** `lora-studio serve`: the studio in a browser (or from a laptop to a GPU box), same contract as the app. */
export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description('Serve the studio and its API over HTTP + WebSocket, protected by a random token printed at start');
  addSchemaFlags(cmd, serveSettingsSchema, FLAGS).action(
    action(async (flags: Record<string, unknown>) => {
      const o = settingsFromFlags(serveSettingsSchema, flags, FLAGS);
      const { DEFAULT_RENDERER_DIR, startServer } = await import('../server/server.ts');
      if (!existsSync(path.join(DEFAULT_RENDERER_DIR, 'index.html'))) {
        console.error(`note: ${DEFAULT_RENDERER_DIR} is missing; run "npm run build:web" for the pages (the API works without them)`);
      }
      const runsDir = path.resolve(o.runs_dir);
      const server = await startServer({
        host: o.host,
        port: o.port ?? 0,
        runsDir,
        allowRemote: o.allow_remote,
        settingsFile: path.join(runsDir, 'settings.json'),
      });
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
    }),
  );
}
