/**
 * A real control plane on 127.0.0.1 to try cluster mode without a cluster (README):
 *   npm run local-cluster -- --port 6443 --kubeconfig-out /tmp/ballast.kubeconfig
 * Ctrl-C stops etcd, kube-apiserver and kube-controller-manager and removes their temporary files.
 */
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ControlPlane } from './control-plane.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '6443' },
    'kubeconfig-out': { type: 'string', default: 'ballast.kubeconfig' },
  },
});

const cp = await ControlPlane.start({ port: Number(values.port) });
const out = path.resolve(values['kubeconfig-out']);
// The kubeconfig names the CA file inside the control plane's temporary directory, valid while it runs.
await copyFile(cp.info.adminKubeconfig, out);
console.log(`kube-apiserver ready at ${cp.info.server}; export KUBECONFIG=${out} (logs in ${cp.info.dir}; Ctrl-C stops it)`);

// Ctrl-C reaches this process more than once (from the terminal, and relayed by npm and tsx): keep
// handling it, or a second signal would kill the process before it has removed its files.
let stopping: Promise<void> | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    stopping ??= cp.stop().then(() => process.exit(0));
  });
}
