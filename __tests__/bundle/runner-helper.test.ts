// The fake runner's parsing matches what @actions/core writes and what the runner reads.
import { describe, expect, it } from 'vitest';
import { actionDefaults, inputEnvName, parseFileCommands, parseWorkflowCommands } from '../helpers/runner.js';

describe('runner helper', () => {
  it('names input variables as the runner does, keeping hyphens', () => {
    expect(inputEnvName('casd-path')).toBe('INPUT_CASD-PATH');
    expect(inputEnvName('my input')).toBe('INPUT_MY_INPUT');
  });

  it('parses heredoc and name=value file commands, later entries winning', () => {
    const text = [
      'socket<<ghadelimiter_1',
      'unix:/tmp/a.sock',
      'ghadelimiter_1',
      'refs<<EOF',
      'one',
      'two',
      'EOF',
      'plain=a=b<<c',
      'socket=unix:/tmp/b.sock',
      '',
    ].join('\n');
    expect(parseFileCommands(text)).toEqual({
      socket: 'unix:/tmp/b.sock',
      refs: 'one\ntwo',
      plain: 'a=b<<c',
    });
  });

  it('rejects a heredoc without its closing delimiter, naming it', () => {
    expect(() => parseFileCommands('x<<END\nvalue\n')).toThrow(
      'file command "x" has no closing delimiter END',
    );
  });

  it('decodes workflow commands with properties and escapes', () => {
    expect(parseWorkflowCommands('plain\n::error title=Bad%3A quota::line 1%0Aline 2 100%25\n')).toEqual([
      { command: 'error', properties: { title: 'Bad: quota' }, message: 'line 1\nline 2 100%' },
    ]);
  });

  it('reads input defaults from action.yml, leaving expressions empty', () => {
    const defaults = actionDefaults();
    expect(defaults.quota).toBe('5G');
    expect(defaults['github-token']).toBe('');
  });
});
