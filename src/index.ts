// The library's public surface, for use outside the action (other CIs, scripts).
export * from './errors.js';
export * from './logger.js';
export * from './cas/digest.js';
export * from './grpc/endpoint.js';
export * from './grpc/connection.js';
export * from './util/size.js';
