import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { Inputs } from '../../src/action/constants.js';
import { EXPRESSION_DEFAULTS, INPUT_DEFAULTS } from '../../src/action/defaults.js';
import { parseInputs } from '../../src/action/inputs.js';

/** action.yml's inputs, with each default as the runner passes it (a string). */
function actionYmlDefaults(): Record<string, string> {
  const action = parseYaml(readFileSync(join(import.meta.dirname, '..', '..', 'action.yml'), 'utf8')) as {
    inputs: Record<string, { default?: unknown }>;
  };
  return Object.fromEntries(
    Object.entries(action.inputs).map(([name, spec]) => [
      name,
      spec.default === undefined ? '' : String(spec.default),
    ]),
  );
}

describe('input defaults', () => {
  it('has an entry for every action.yml input and none for an input action.yml lacks', () => {
    const declared = Object.keys(actionYmlDefaults()).sort();
    expect(Object.keys(INPUT_DEFAULTS).sort()).toEqual(declared);
    expect(Object.values(Inputs).sort()).toEqual(declared);
  });

  it("equals action.yml's default for every input, expression defaults as an empty value", () => {
    for (const [name, declared] of Object.entries(actionYmlDefaults())) {
      const input = name as Inputs;
      if (declared.includes('${{')) {
        expect(EXPRESSION_DEFAULTS[input], name).toBe(declared);
        expect(INPUT_DEFAULTS[input], name).toBe('');
      } else {
        expect(EXPRESSION_DEFAULTS[input], name).toBeUndefined();
        expect(INPUT_DEFAULTS[input], name).toBe(declared);
      }
    }
  });

  it("parses every input left empty exactly as action.yml's defaults", () => {
    const declared = actionYmlDefaults();
    const fromActionYml = parseInputs((name) => (declared[name].includes('${{') ? '' : declared[name]));
    expect(parseInputs(() => '')).toEqual(fromActionYml);
  });
});
