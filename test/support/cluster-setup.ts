// Jest's global setup and teardown (through jest-global.mjs): one control plane for the whole run
// (suites isolate by namespace), with the CRD installed and established; its coordinates reach
// every worker through the environment.
import { ControlPlane } from './control-plane.js';
import { CLUSTER_ENV, kubectl } from './cluster.js';

const holder = globalThis as { ballastControlPlane?: ControlPlane };

export async function setup(): Promise<void> {
  const cp = await ControlPlane.start({
    beforeControllerManager: async (info) => {
      process.env[CLUSTER_ENV] = JSON.stringify(info);
      await kubectl(['apply', '-k', 'crds']);
      await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/balancerpools.ballast.dev']);
    },
  });
  holder.ballastControlPlane = cp;
}

export async function teardown(): Promise<void> {
  await holder.ballastControlPlane?.stop();
}
