// A stand-in for buildbox-casd in tests of the daemon manager (run through the wrapper that
// __tests__/helpers/fake-daemon.ts writes). FAKE_CASD_MODE picks the misbehaviour:
// - never-ready: binds nothing, exits on SIGTERM like a normal process;
// - ignore-term: runs the real casd (FAKE_CASD_REAL) with the same arguments, in its own
//   process group, and ignores SIGTERM itself, so only SIGKILL of the group ends both.
import { spawn } from 'node:child_process';

const mode = process.env.FAKE_CASD_MODE ?? 'never-ready';
const args = process.argv.slice(2);
if (args.includes('--version')) {
  console.log('buildbox-casd 0.0.0-fake');
  process.exit(0);
}
console.log(`fake buildbox-casd (${mode}) started with: ${args.join(' ')}`);
if (mode === 'ignore-term') {
  process.on('SIGTERM', () => console.log('fake buildbox-casd: ignoring SIGTERM'));
  const real = spawn(process.env.FAKE_CASD_REAL ?? 'buildbox-casd', args, { stdio: 'inherit' });
  real.on('exit', (code, signal) => console.log(`fake buildbox-casd: real casd ended (${code ?? signal})`));
}
setInterval(() => undefined, 1 << 30);
