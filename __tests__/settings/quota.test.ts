import { describe, expect, it } from 'vitest';
import { Inputs } from '../../src/action/constants.js';
import { parseInputs } from '../../src/action/inputs.js';
import { resolveConfig } from '../../src/cli/config.js';

function actionProblem(quota: string): string {
  try {
    parseInputs((name) => (name === Inputs.Quota ? quota : ''));
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected parseInputs to reject');
}

function cliProblem(quota: string): string {
  try {
    resolveConfig({ quota }, {});
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected resolveConfig to reject');
}

describe('a quota of 0', () => {
  it('is refused by the action up front, naming the input and the value', () => {
    const message = actionProblem('0');
    expect(message).toContain('"quota"');
    expect(message).toContain('"0"');
    expect(message).toContain('above 0 bytes');
    expect(message).not.toContain('quota-low');
  });

  it('is refused by the CLI up front with the same words as the action', () => {
    const cli = cliProblem('0');
    expect(cli).toContain('--quota');
    expect(cli).toContain('above 0 bytes');
    const action = actionProblem('0');
    const why = (text: string): string => text.slice(text.indexOf('"0"'));
    expect(why(cli)).toBe(why(action));
  });

  it('is refused in any spelling (0G, 0.0)', () => {
    for (const text of ['0G', '0.0', '0 KiB']) {
      expect(actionProblem(text)).toContain('above 0 bytes');
      expect(cliProblem(text)).toContain('above 0 bytes');
    }
  });
});
