// Jest's globalTeardown: stops the run's control plane (see jest-global-setup.mjs).
import { tsImport } from 'tsx/esm/api';

export default async function teardown() {
  await (await tsImport('./cluster-setup.ts', import.meta.url)).teardown();
}
