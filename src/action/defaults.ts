import { RELEASE_URL_TEMPLATE } from './casd-releases.js';
import { Inputs } from './constants.js';

/**
 * The default of every input, as action.yml declares it; parseInputs uses it for an input
 * whose value is empty (the runner passes '' when a workflow sets an input to ''). A test
 * holds this record to action.yml, so a default is changed in both or the test fails.
 */
export const INPUT_DEFAULTS: Readonly<Record<Inputs, string>> = {
  [Inputs.CasdVersion]: '1.4.25',
  [Inputs.CasdUrl]: RELEASE_URL_TEMPLATE,
  [Inputs.CasdSha256]: '',
  [Inputs.CasdPath]: '',
  [Inputs.CacheDir]: '~/.cache/casd-action',
  [Inputs.Quota]: '5G',
  [Inputs.QuotaLow]: '50%',
  [Inputs.Reserved]: '',
  [Inputs.ProtectSessionBlobs]: 'true',
  [Inputs.LogLevel]: 'warning',
  [Inputs.Listen]: '',
  [Inputs.Remote]: '',
  [Inputs.InstanceName]: '',
  [Inputs.RemoteAsset]: '',
  [Inputs.ActionCache]: '',
  [Inputs.ServerCert]: '',
  [Inputs.ClientCert]: '',
  [Inputs.ClientKey]: '',
  [Inputs.Token]: '',
  [Inputs.TokenFile]: '',
  [Inputs.ReadOnly]: 'false',
  [Inputs.Push]: 'auto',
  [Inputs.Compression]: 'auto',
  [Inputs.Refs]: '',
  [Inputs.Path]: '',
  [Inputs.Key]: '',
  [Inputs.RestoreKeys]: '',
  [Inputs.LookupOnly]: 'false',
  [Inputs.FailOnCacheMiss]: 'false',
  [Inputs.RestoreLinks]: 'false',
  [Inputs.SaveLocalCache]: 'auto',
  [Inputs.SaveRefs]: 'on-success',
  [Inputs.RestoreTimeout]: '10m',
  [Inputs.SaveTimeout]: '10m',
  [Inputs.FailOnCacheError]: 'false',
  // Why empty: action.yml's default is an expression the runner evaluates (see below); the
  // code has no token of its own to fall back on.
  [Inputs.GithubToken]: '',
};

/**
 * Inputs whose action.yml default is an expression that the runner evaluates before the
 * action starts; the code cannot evaluate it, so INPUT_DEFAULTS holds '' for them.
 */
export const EXPRESSION_DEFAULTS: Readonly<Partial<Record<Inputs, string>>> = {
  [Inputs.GithubToken]: '${{ github.token }}',
};
