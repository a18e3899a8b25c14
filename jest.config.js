// Native ESM Jest (NODE_OPTIONS=--experimental-vm-modules, set by `npm test`): @kubernetes/client-node
// is ESM-only and Jest cannot require() it on Node 20. swc strips types; `npm run lint` type-checks.
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['@swc/jest', {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'es6' },
    }],
  },
  testTimeout: 30000,
  // One real control plane (etcd, kube-apiserver, kube-controller-manager) for the whole run.
  globalSetup: '<rootDir>/test/support/jest-global-setup.mjs',
  globalTeardown: '<rootDir>/test/support/jest-global-teardown.mjs',
};
