import { describe, expect, it } from '@jest/globals';
import { formatFieldErrors, parseObject } from '../../src/api/validate.js';

const pool = (spec: unknown) => ({ apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata: { name: 'web' }, spec });
const errorsOf = (raw: unknown) => {
  const r = parseObject(raw);
  if (r.ok) throw new Error('expected errors');
  return formatFieldErrors(r.errors);
};

describe('parseObject', () => {
  it('applies defaults to a minimal pool', () => {
    const r = parseObject(pool({ endpoints: [{ address: '127.0.0.1', port: 3000 }], listener: { port: 8080 } }));
    expect(r.ok && r.object.kind === 'BalancerPool' && r.object.spec).toEqual(
      expect.objectContaining({ algorithm: 'RoundRobin', terminating: 'Fallback', retries: 1, listener: { port: 8080, address: '0.0.0.0' } }),
    );
  });

  it.each([
    [{ endpoints: [{ address: 'a', port: 1 }], listener: { port: 70000 } }, 'spec.listener.port: must be <= 65535'],
    [{ endpoints: [{ address: 'a', port: 0 }] }, 'spec.endpoints[0].port: must be >= 1'],
    [{ endpoints: [{ address: 'a', port: 'x' }] }, 'spec.endpoints[0].port: must be a number, got string'],
    [{ endpoints: [{ port: 80 }] }, 'spec.endpoints[0].address: Required value'],
    [{ endpoints: [{ address: '10.0.0.1; }', port: 80 }] }, 'spec.endpoints[0].address: must be an IP address or a DNS name'],
    [{ endpoints: [{ address: 'a', port: 1 }], algorithm: 'Fastest' }, 'spec.algorithm: Unsupported value "Fastest": supported values: "RoundRobin", "LeastConnections", "IPHash", "Random"'],
    [{ endpoints: [{ address: 'a', port: 1 }], listner: { port: 1 } }, 'spec: unknown field "listner"'],
    [{}, 'spec: exactly one of spec.service and spec.endpoints must be set'],
    [{ service: { name: 'web', port: 80 }, endpoints: [{ address: 'a', port: 1 }] }, 'spec: exactly one of spec.service and spec.endpoints must be set'],
    [{ service: { name: 'Web', port: 'http' } }, 'spec.service.name: must be a DNS label (lower case letters, digits and "-")'],
    [{ service: { name: 'web', port: true } }, 'spec.service.port: must be an integer port (1-65535) or a port name'],
  ])('reports %j as %s', (spec, message) => {
    expect(errorsOf(pool(spec))).toBe(message);
  });

  it('names an unsupported kind', () => {
    expect(errorsOf({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } })).toBe(
      'kind: Unsupported value "ConfigMap": supported values: BalancerPool, Service, EndpointSlice',
    );
  });

  it('checks EndpointSlice addresses against the addressType', () => {
    const slice = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['fd00::1'] }] };
    expect(errorsOf(slice)).toBe('endpoints[1].addresses[0]: must be an IPv4 address (addressType)');
  });

  it('reads EndpointSlices with null endpoints and ports as empty', () => {
    const r = parseObject({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's' }, addressType: 'IPv4', endpoints: null, ports: null });
    expect(r.ok && r.object.kind === 'EndpointSlice' && [r.object.endpoints, r.object.ports]).toEqual([[], []]);
  });
});
