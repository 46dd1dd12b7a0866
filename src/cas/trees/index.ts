// Trees: walks, required blobs, checkout into a directory, diffs, name validation.
export * from './tree.js';
export * from './checkout.js';
export * from './diff.js';
export * from './names.js';
