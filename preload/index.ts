/**
 * Preload (sandboxed, context-isolated): exposes window.studio with one method per contract call and onEvent.
 * The page never gets ipcRenderer nor a way to name a channel of its own.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { buildStudioApi } from './studio-api.ts';

contextBridge.exposeInMainWorld('studio', buildStudioApi(ipcRenderer));
