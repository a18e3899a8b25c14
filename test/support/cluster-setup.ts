// Jest's global setup and teardown (through jest-global-setup.mjs and jest-global-teardown.mjs):
// one control plane for the whole run (suites isolate by namespace); its coordinates reach every
// worker through the environment.
import type { ControlPlane } from './control-plane.js';
import { startTestControlPlane } from './cluster.js';

const holder = globalThis as { ballastControlPlane?: ControlPlane };

export async function setup(): Promise<void> {
  holder.ballastControlPlane = await startTestControlPlane();
}

export async function teardown(): Promise<void> {
  await holder.ballastControlPlane?.stop();
}
