// The remote: a REAPI CAS client, casd-proxied transfers, Remote Asset refs, bringing trees
// local and pushing only what the remote lacks.
export * from './remote.js';
export * from './cas-client.js';
export * from './remote-refs.js';
export * from './bring-local.js';
export * from './tree-delta.js';
