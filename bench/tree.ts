/**
 * Deterministic benchmark trees: the same seed gives the same files, byte for byte, on any
 * machine. Sizes are log-normal (a few bytes to a few MB, median about 4 KiB); half the
 * files are text-like (compressible, as sources and logs are), half are random bytes (as
 * object files and archives nearly are). About 5% are executable, 1% are symlinks.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A small seeded PRNG (mulberry32): fast, and the same everywhere. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MIN_BYTES = 4;
const MAX_BYTES = 4 * 1024 * 1024;

function logNormalSize(random: () => number): number {
  // Box-Muller; median e^8.3 ≈ 4 KiB, sigma 2: 1% of files above ~400 KiB.
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Math.min(MAX_BYTES, Math.max(MIN_BYTES, Math.round(Math.exp(8.3 + 2 * z))));
}

/** `size` pseudo-random bytes for `label` (AES-CTR keyed by the label: fast, deterministic). */
function randomBytesFor(label: string, size: number): Buffer {
  const key = createHash('sha256').update(label).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(size));
}

const WORDS = (
  'the of and to in is for on that with as by this be are from at or an it not which have ' +
  'int void return const static struct include define if else while for case break default ' +
  'error warning info debug build cache object target source header library module test ' +
  'function class import export async await value index count size length buffer string'
).split(' ');

/** Text-like content: words chosen by the keyed stream, lines of about 60 characters. */
function textFor(label: string, size: number): Buffer {
  const noise = randomBytesFor(label, Math.ceil(size / 3) + 16);
  const out = Buffer.alloc(size);
  let at = 0;
  let i = 0;
  let line = 0;
  while (at < size) {
    const word = WORDS[noise[i++ % noise.length] % WORDS.length];
    const piece = line > 60 ? '\n' : word + ' ';
    line = line > 60 ? 0 : line + piece.length;
    at += out.write(piece, at);
  }
  return out;
}

/** Content of the file with this label, text-like or random by the label's own hash. */
export function contentFor(label: string, size: number): Buffer {
  const text = createHash('sha256').update(`kind:${label}`).digest()[0] < 128;
  return text ? textFor(label, size) : randomBytesFor(label, size);
}

export interface GeneratedFile {
  path: string;
  size: number;
  executable: boolean;
}

export interface GeneratedTree {
  root: string;
  files: GeneratedFile[];
  symlinks: number;
  directories: string[];
  bytes: number;
}

/** The directory of file `i`: up to four levels, about ten entries per level. */
function directoryFor(random: () => number): string {
  const depth = 1 + Math.floor(random() * 4);
  const parts: string[] = [];
  for (let level = 0; level < depth; level++) parts.push(`d${level}_${Math.floor(random() * 10)}`);
  return parts.join('/');
}

/**
 * Writes `count` files (plus 1% symlinks) under `root` from `seed`. `prefix` names the files
 * (so that an added batch does not collide with the first).
 */
export function generateTree(root: string, count: number, seed: number, prefix = 'f'): GeneratedTree {
  const random = prng(seed);
  const tree: GeneratedTree = { root, files: [], symlinks: 0, directories: [], bytes: 0 };
  const made = new Set<string>();
  for (let i = 0; i < count; i++) {
    const dir = directoryFor(random);
    const size = logNormalSize(random);
    const executable = random() < 0.05;
    const path = `${dir}/${prefix}${i}${executable ? '' : '.dat'}`;
    if (!made.has(dir)) {
      mkdirSync(join(root, dir), { recursive: true });
      made.add(dir);
      tree.directories.push(dir);
    }
    const full = join(root, path);
    writeFileSync(full, contentFor(`${seed}:${path}`, size));
    if (executable) chmodSync(full, 0o755);
    tree.files.push({ path, size, executable });
    tree.bytes += size;
    if (random() < 0.01) {
      symlinkSync(`${prefix}${i}${executable ? '' : '.dat'}`, join(root, dir, `link-${prefix}${i}`));
      tree.symlinks++;
    }
  }
  return tree;
}

/** The files changeFiles rewrites for `fraction`: every `1/fraction`-th file of the tree. */
export function filesToChange(tree: GeneratedTree, fraction: number): GeneratedFile[] {
  const step = Math.round(1 / fraction);
  const chosen: GeneratedFile[] = [];
  for (let i = 0; i < tree.files.length; i += step) chosen.push(tree.files[i]);
  return chosen;
}

/**
 * Rewrites every `1/fraction`-th file with new content of the same size (a 1% change for
 * fraction 0.01). Returns the bytes rewritten.
 */
export function changeFiles(
  tree: GeneratedTree,
  fraction: number,
  seed: number,
): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const file of filesToChange(tree, fraction)) {
    writeFileSync(join(tree.root, file.path), contentFor(`changed:${seed}:${file.path}`, file.size));
    files++;
    bytes += file.size;
  }
  return { files, bytes };
}
