import * as core from '@actions/core';
import type { DaemonState } from '../casd/index.js';
import { State } from './constants.js';
import type { RunStats } from './report.js';

/** What the main step hands to the post step. Never holds a secret: post re-reads inputs. */
export interface MainState {
  version: 1;
  /** The cache directory in use: the input's, or a private one when another job holds it. */
  cacheDir?: string;
  /** The lock this job holds on the shared cache directory. */
  lock?: { dir: string; job: string };
  daemon?: DaemonState;
  casdVersion?: string;
  secretsDir?: string;
  /** The key or restore key restored, and the tree it pointed to. */
  matchedKey?: string;
  cacheHit: boolean;
  restoredKeyRoot?: string;
  /** What the restored entry holds (entryContentId): post saves nothing when a capture matches. */
  restoredKeyContent?: string;
  refsRestored: string[];
  refsMissing: string[];
  stats: RunStats;
  warnings: string[];
  persistPrefix?: string;
  /**
   * Nothing matched and fail-on-cache-miss is set: the main step ended the session itself
   * (daemon stopped, nothing saved) and failed; the post step has nothing to do.
   */
  failedOnMiss?: boolean;
  /** The remote did not answer at start: the daemon runs local-only and post pushes nothing. */
  remoteUnavailable?: boolean;
}

export function saveMainState(state: MainState): void {
  core.saveState(State.Main, JSON.stringify(state));
}

/** The main step's state, or undefined when main never got far enough to save any. */
export function loadMainState(): MainState | undefined {
  const raw = core.getState(State.Main);
  if (!raw) return undefined;
  return JSON.parse(raw) as MainState;
}
