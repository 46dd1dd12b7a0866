// actions/cache-style entries: a key's tree of paths, its manifest, restoring it in place.
export * from './entry-tree.js';
export * from './manifest.js';
export * from './paths.js';
export * from './stage.js';
