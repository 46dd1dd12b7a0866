/**
 * The first push of the bench's 10,000-file tree to a fresh loopback casd, four ways, alternated
 * (`npm run bench:push -- [rounds] [variants]`): the library's direct writes from casd's object
 * files (`direct-objects`) and from a pack (`direct-pack`, what the post step does after a capture
 * into a pack), casd's own UploadMissingBlobs (`casd-umb`) and UploadTree (`upload-tree`). Prints
 * wall time and the CPU time of Node, the local casd and the remote casd: on 2 cores the remote's
 * ingest and the client share them. Nothing is deleted until the end (bench/trash.ts).
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import setupCasd from '../__tests__/helpers/global-setup.js';
import { startTestCasd } from '../__tests__/helpers/casd.js';
import { captureIncremental } from '../src/cas/capture/incremental-capture.js';
import { Remote } from '../src/cas/remote/remote.js';
import { CasStore } from '../src/cas/store/store.js';
import { unary } from '../src/grpc/call.js';
import { generateTree } from './tree.js';

setupCasd();
const work = join(tmpdir(), `casd-push-probe-${Date.now()}`);
mkdirSync(work, { recursive: true });
const treeDir = join(work, 'tree');
generateTree(treeDir, 10000, 1);
const cpu = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const localA = await startTestCasd();
const connA = localA.connect();
const storeA = new CasStore({ cacheDir: localA.cacheDir, connection: connA, skipUpload: true });
const root = (await captureIncremental(storeA, treeDir)).root;
const localB = await startTestCasd();
const connB = localB.connect();
const storeB = new CasStore({ cacheDir: localB.cacheDir, connection: connB, skipUpload: true });
await captureIncremental(storeB, treeDir, { intoPack: true });
storeB.reloadPacks();
const servers: Awaited<ReturnType<typeof startTestCasd>>[] = [];
const variants = (process.argv[3] ?? 'direct-objects,direct-pack,casd-umb,upload-tree').split(',');
for (let round = 0; round < Number(process.argv[2] ?? 2); round++) {
  for (const variant of round % 2 ? [...variants].reverse() : variants) {
    const server = await startTestCasd({ tcp: true });
    const start = performance.now();
    const own = process.cpuUsage();
    const localCpu = cpu(localA.process.pid as number) + cpu(localB.process.pid as number);
    const spec = { url: server.url as string };
    if (variant === 'direct-objects' || variant === 'direct-pack') {
      const [conn, store] = variant === 'direct-pack' ? [connB, storeB] : [connA, storeA];
      const remote = await Remote.register(conn, spec, { store });
      await remote.pushDirectory(root);
      await remote.close();
    } else if (variant === 'casd-umb') {
      const remote = await Remote.register(connA, spec, {});
      await remote.pushDirectory(root);
      await remote.close();
    } else {
      const remote = await Remote.register(connA, spec, { store: storeA });
      await unary(connA.localCas.uploadTree.bind(connA.localCas), {
        instanceName: remote.localInstance,
        rootDigest: root,
      });
      await remote.close();
    }
    const took = performance.now() - start;
    console.log(
      `${variant}: ${(took / 1000).toFixed(2)} s, remote casd cpu ${cpu(server.process.pid as number).toFixed(2)} s, node cpu ${((process.cpuUsage(own).user + process.cpuUsage(own).system) / 1e6).toFixed(2)} s, local casd cpu ${(cpu(localA.process.pid as number) + cpu(localB.process.pid as number) - localCpu).toFixed(2)} s`,
    );
    servers.push(server);
  }
}
connA.close();
connB.close();
for (const casd of [localA, localB, ...servers]) await casd.stop();
rmSync(work, { recursive: true, force: true });
