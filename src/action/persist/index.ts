/**
 * Persisting the local CAS directory to the GitHub Actions cache: immutable content-keyed
 * packs of blobs plus a small index entry per save. See save.ts and restore.ts.
 */
export { savePersisted } from './save.js';
export { restorePersisted } from './restore.js';
export { type PersistedIndexRead, withPersistedIndex } from './lookup.js';
export { indexKeyPrefix, validatePrefix } from './plan.js';
export { PERSIST_DEFAULTS } from './options.js';
export type {
  PersistOptions,
  PersistRestoreOptions,
  PersistRestoreResult,
  PersistSaveOptions,
  PersistSaveResult,
} from './types.js';
export type { IndexManifest, PackRef } from './manifest.js';
