#!/usr/bin/env node
// Boots the TypeScript CLI through tsx, so `npx lora-studio <command>` works without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../main/cli/index.ts');
