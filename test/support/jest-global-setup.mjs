// Jest's globalSetup: one control plane for the whole run (test/support/cluster-setup.ts). Jest
// loads this file outside its ESM module system (no moduleNameMapper), so the TypeScript behind it
// is imported through tsx.
import { tsImport } from 'tsx/esm/api';

export default async function setup() {
  await (await tsImport('./cluster-setup.ts', import.meta.url)).setup();
}
