import { readFile, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import { Inputs } from './constants.js';
import type { SecretFiles } from './secret-files.js';
import type { MainState } from './state.js';

// Why a record: the restore sub-action leaves its daemon running for the job, and the save
// sub-action (a separate action, so it gets no STATE_ of restore's) must find it, as the CLI's
// `stop` finds a daemon through the cache directory. The record lives in the cache directory
// (outside what persistence saves) and holds no secret: secret inputs are replaced by the
// private files restore wrote them to, which save removes when it is done.

/** Name of the record in the cache directory in use. */
export const SESSION_RECORD = 'casd-action-session.json';
/** Exported by restore so that save finds the record even in a private cache directory. */
export const SESSION_ENV = 'CASD_ACTION_SESSION';

export interface SessionRecord {
  version: 1;
  state: MainState;
  /** The restore step's inputs, secrets replaced by their files (see recordedInputs). */
  inputs: Partial<Record<Inputs, string>>;
}

/**
 * The inputs to hand on: every input as given, except secrets. A token becomes `token-file`
 * (its private file), certificates and the client key become their files (inputs accept a
 * path), and the GitHub token is left to the save step's own input.
 */
export function recordedInputs(
  read: (name: Inputs) => string,
  secrets: SecretFiles | undefined,
): Partial<Record<Inputs, string>> {
  const inputs: Partial<Record<Inputs, string>> = {};
  for (const name of Object.values(Inputs)) inputs[name] = read(name);
  inputs[Inputs.GithubToken] = '';
  if (inputs[Inputs.Token]?.trim()) {
    inputs[Inputs.Token] = '';
    inputs[Inputs.TokenFile] = secrets?.tokenPath ?? '';
  }
  if (inputs[Inputs.ClientKey]?.trim()) inputs[Inputs.ClientKey] = secrets?.clientKeyPath ?? '';
  if (inputs[Inputs.ClientCert]?.trim()) inputs[Inputs.ClientCert] = secrets?.clientCertPath ?? '';
  if (inputs[Inputs.ServerCert]?.trim()) inputs[Inputs.ServerCert] = secrets?.serverCertPath ?? '';
  return inputs;
}

/** Writes the record into `cacheDir` (whole, then renamed into place) and exports its path. */
export async function writeSessionRecord(cacheDir: string, record: SessionRecord): Promise<string> {
  const path = join(cacheDir, SESSION_RECORD);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  await rename(tmp, path);
  core.exportVariable(SESSION_ENV, path);
  return path;
}

/**
 * The record restore left: at `$CASD_ACTION_SESSION` when set, else in `cacheDir`. Undefined
 * when there is none (no restore ran, or a save already finished the session).
 */
export async function readSessionRecord(cacheDir: string): Promise<SessionRecord | undefined> {
  const path = process.env[SESSION_ENV] || join(cacheDir, SESSION_RECORD);
  try {
    const record = JSON.parse(await readFile(path, 'utf8')) as SessionRecord;
    return record.version === 1 && record.state ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the record: the session is over (post or save ran). */
export async function removeSessionRecord(cacheDir: string): Promise<void> {
  await rm(join(cacheDir, SESSION_RECORD), { force: true });
}
