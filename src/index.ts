// The library's public surface, for tools other than the action (other CIs, scripts): the
// local store, the remote, the daemon manager, and what they share.
export * from './errors.js';
export * from './logger.js';
export * from './cas/digest.js';
export * from './cas/store/index.js';
export * from './cas/trees/index.js';
export * from './cas/capture/index.js';
export * from './cas/remote/index.js';
export * from './casd/index.js';
export * from './grpc/endpoint.js';
export * from './grpc/connection.js';
export * from './util/size.js';
