// The local store: casd's object store and refs, the ref-name rule, corruption checks.
export * from './store.js';
export * from './refs.js';
export * from './ref-names.js';
export * from './verify.js';
export * from './corrupt.js';
export * from './pack-files.js';
