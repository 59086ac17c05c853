// Types of import-layers.mjs (plain JS so that eslint.config.js can import it).
export declare const LAYER_TIERS: string[][];
export declare const CONTRACT_ONLY: string[];
export declare const PAGE_SAFE: string[];
export declare const ELECTRON_FOLDERS: string[];
