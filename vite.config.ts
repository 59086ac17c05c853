import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The renderer: served by the browser-mode server (main/server) and by Electron's app:// protocol from dist/renderer.
export default defineConfig({
  root: 'renderer',
  base: '/',
  plugins: [react()],
  build: {
    outDir: '../dist/renderer',
    emptyOutDir: true,
    // No inline scripts or eval: the CSP allows script-src 'self' only.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 2000,
    sourcemap: false,
    rollupOptions: {
      // zod ships comments rollup cannot place; they are harmless.
      onwarn(warning, warn) {
        if (warning.code !== 'INVALID_ANNOTATION') warn(warning);
      },
    },
  },
});
