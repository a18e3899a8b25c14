// Jest loads globalSetup/globalTeardown outside its ESM module system (no moduleNameMapper), so the
// TypeScript behind them is imported through tsx. See cluster-setup.ts.
import { tsImport } from 'tsx/esm/api';

const load = () => tsImport('./cluster-setup.ts', import.meta.url);

export async function setup() {
  await (await load()).setup();
}

export async function teardown() {
  await (await load()).teardown();
}
