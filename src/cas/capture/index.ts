// Capture: trees from directories, incremental through the stat cache, seeded by restores.
export * from './incremental-capture.js';
export * from './stat-cache.js';
export * from './stat-seed.js';
export * from './link-check.js';
