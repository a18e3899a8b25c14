/**
 * Runs the test API server by hand, e.g. to poke at it with kubectl:
 *   npm run test-apiserver -- --port 8001 --kubeconfig-out /tmp/kubeconfig
 */
import { parseArgs } from 'node:util';
import { KubeApiServer } from './kube-apiserver.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'kubeconfig-out': { type: 'string' },
    'watch-window': { type: 'string' },
  },
});

const server = await KubeApiServer.start({
  port: Number(values.port),
  watchWindow: values['watch-window'] === undefined ? undefined : Number(values['watch-window']),
});
if (values['kubeconfig-out']) await server.writeKubeconfig(values['kubeconfig-out']);
console.log(`test kube-apiserver listening on ${server.url}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void server.stop().then(() => process.exit(0));
  });
}
