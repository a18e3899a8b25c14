import { describe, expect, it } from '@jest/globals';
import { classifyDocument, formatFieldErrors, parseObject } from '../../src/api/validate.js';
import { endpointId } from '../../src/plan/desired-pool.js';

const BAD_ADDRESS = 'must be an IPv4 address, an IPv6 address without zone, or a host name';

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
    [{ endpoints: [{ address: '10.0.0.1; }', port: 80 }] }, `spec.endpoints[0].address: Invalid value: "10.0.0.1; }": ${BAD_ADDRESS}`],
    [{ endpoints: [{ address: `${'a'.repeat(63)}.`.repeat(4) + 'a', port: 80 }] }, 'spec.endpoints[0].address: must be no more than 253 characters'],
    [{ endpoints: [{ address: 'a', port: 1 }], healthCheck: { intervalSeconds: 0.001 } }, 'spec.healthCheck.intervalSeconds: must be >= 1'],
    [{ endpoints: [{ address: 'a', port: 1 }], healthCheck: { timeoutSeconds: 0.01 } }, 'spec.healthCheck.timeoutSeconds: must be >= 0.1'],
    [{ endpoints: [{ address: 'a', port: 1 }], timeouts: { requestSeconds: 0 } }, 'spec.timeouts.requestSeconds: must be > 0'],
    [{ endpoints: [{ address: 'a', port: 1 }], algorithm: 'Fastest' }, 'spec.algorithm: Unsupported value "Fastest": supported values: "RoundRobin", "LeastConnections", "IPHash", "Random"'],
    [{ endpoints: [{ address: 'a', port: 1 }], listner: { port: 1 } }, 'spec: unknown field "listner"'],
    [{}, 'spec: exactly one of spec.service and spec.endpoints must be set'],
    [{ service: { name: 'web', port: 80 }, endpoints: [{ address: 'a', port: 1 }] }, 'spec: exactly one of spec.service and spec.endpoints must be set'],
    [{ service: { name: 'Web', port: 'http' } }, 'spec.service.name: Invalid value: "Web": must be a DNS label (lower case letters, digits and "-")'],
    [{ endpoints: [{ address: 'a', port: 1 }], healthCheck: { intervalSeconds: NaN } }, 'spec.healthCheck.intervalSeconds: must be a finite number'],
    [{ endpoints: [{ address: 'a', port: 1 }], drainTimeoutSeconds: Infinity }, 'spec.drainTimeoutSeconds: must be a finite number'],
    [{ endpoints: [{ address: 'a', port: 1 }], retries: -Infinity }, 'spec.retries: must be a finite number'],
    [{ service: { name: 'web', port: true } }, 'spec.service.port: must be an integer port (1-65535) or a port name'],
  ])('reports %j as %s', (spec, message) => {
    expect(errorsOf(pool(spec))).toBe(message);
  });

  const SUBDOMAIN = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
  const LABEL = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
  const spec = { endpoints: [{ address: '127.0.0.1', port: 1 }] };
  it.each([
    [{ name: 'Not_A/DNS name' }, `metadata.name: Invalid value: "Not_A/DNS name": ${SUBDOMAIN}`],
    [{ name: 'b/c', namespace: 'a' }, `metadata.name: Invalid value: "b/c": ${SUBDOMAIN}`],
    [{ name: 'c', namespace: 'a/b' }, `metadata.namespace: Invalid value: "a/b": ${LABEL}`],
    [{ name: 'web', namespace: 'NS!' }, `metadata.namespace: Invalid value: "NS!": ${LABEL}`],
    [{ name: 'web', namespace: 'a.b' }, `metadata.namespace: Invalid value: "a.b": ${LABEL}`],
    [{ name: 'x'.repeat(254) }, 'metadata.name: must be no more than 253 characters'],
    [{ name: 'web', namespace: 'x'.repeat(64) }, 'metadata.namespace: must be no more than 63 characters'],
  ])('validates metadata %j as the API server does', (metadata, message) => {
    expect(errorsOf({ apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata, spec })).toBe(message);
  });

  it('accepts the names the API server accepts', () => {
    for (const metadata of [{ name: 'web.v2-1', namespace: 'shop-1' }, { name: '1web' }, { name: 'x'.repeat(253), namespace: 'x'.repeat(63) }]) {
      expect(parseObject({ apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata, spec }).ok).toBe(true);
    }
  });

  it('validates a Service name as a DNS-1035 label, as the API server does', () => {
    expect(errorsOf({ apiVersion: 'v1', kind: 'Service', metadata: { name: '1web' }, spec: { ports: [{ port: 80 }] } })).toBe(
      `metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`,
    );
  });

  it('says which of apiVersion and kind is missing, and refuses our group at another version', () => {
    expect(errorsOf({ kind: 'BalancerPool', metadata: { name: 'web' }, spec })).toBe('apiVersion: apiVersion is required');
    expect(errorsOf({ metadata: { name: 'web' }, spec })).toBe('apiVersion: apiVersion is required; kind: kind is required');
    expect(errorsOf({ apiVersion: 'ballast.dev/v1', kind: 'BalancerPool', metadata: { name: 'web' }, spec })).toBe(
      'apiVersion: Unsupported value "ballast.dev/v1": supported values: "ballast.dev/v1alpha1"',
    );
  });

  it.each([
    ['ballast.dev/v1alpha1', 'BalancerPol', { errors: [{ path: 'kind', message: 'Unsupported value "BalancerPol": supported values: "BalancerPool"' }] }],
    ['ballast.dev/v1alpha1', 'BalancerPool', { read: 'BalancerPool' }],
    ['apps/v1', 'Deployment', { skip: true }],
    ['serving.knative.dev/v1', 'Service', { skip: true }],
    ['discovery.k8s.io/v1beta1', 'EndpointSlice', { errors: [{ path: 'apiVersion', message: 'Unsupported value "discovery.k8s.io/v1beta1": supported values: "discovery.k8s.io/v1"' }] }],
    ['v2', 'Service', { errors: [{ path: 'apiVersion', message: 'Unsupported value "v2": supported values: "v1"' }] }],
  ])('classifies apiVersion %s kind %s', (apiVersion, kind, expected) => {
    expect(classifyDocument(apiVersion, kind)).toEqual(expected);
  });

  it('names an unsupported kind', () => {
    expect(errorsOf({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } })).toBe(
      'kind: Unsupported value "ConfigMap": supported values: BalancerPool, Service, EndpointSlice',
    );
  });

  const GOOD_ADDRESSES = ['127.0.0.1', '0.0.0.0', '255.255.255.255', '::', '::1', 'fe80::1', 'ABCD::ef', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '::ffff:10.0.0.1', '1:2:3:4:5:6:1.2.3.4', 'localhost', 'web-1.shop.svc', 'a', 'ab.cd1'];
  const BAD_ADDRESSES = ['999.999.999.999', '256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', 'fe80::1%lo', 'fe80::1%25lo', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:1.2.3.4', '[::1]', '1web', '0x7f.1', 'x.0x7f', 'web.123', '-a', 'a-', 'a..b', 'a b', 'a/b'];

  it.each(BAD_ADDRESSES)('refuses the endpoint address %j', (address) => {
    expect(errorsOf(pool({ endpoints: [{ address, port: 80 }] }))).toBe(`spec.endpoints[0].address: Invalid value: ${JSON.stringify(address)}: ${BAD_ADDRESS}`);
  });

  it('accepts IPv4, IPv6 and host names that the proxy can connect to as they are', () => {
    for (const address of GOOD_ADDRESSES) {
      expect(parseObject(pool({ endpoints: [{ address, port: 80 }] })).ok).toBe(true);
      // The proxy's connection pool is keyed by this URL: an address the schema accepts must parse.
      expect(() => new URL(`http://${endpointId(address, 80)}`)).not.toThrow();
    }
  });

  it('checks EndpointSlice addresses against the addressType', () => {
    const slice = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['fd00::1'] }] };
    expect(errorsOf(slice)).toBe('endpoints[1].addresses[0]: must be an IPv4 address (addressType)');
    const v4 = (address: string) => ({ ...slice, endpoints: [{ addresses: [address] }] });
    expect(errorsOf(v4('999.999.999.999'))).toBe('endpoints[0].addresses[0]: must be an IPv4 address (addressType)');
    expect(errorsOf(v4('01.2.3.4'))).toBe('endpoints[0].addresses[0]: must be an IPv4 address (addressType)');
    expect(errorsOf({ ...slice, addressType: 'IPv6', endpoints: [{ addresses: ['fe80::1%eth0'] }] })).toBe('endpoints[0].addresses[0]: must be an IPv6 address (addressType)');
    expect(errorsOf({ ...slice, addressType: 'FQDN', endpoints: [{ addresses: ['10.0.0.1'] }] })).toBe('endpoints[0].addresses[0]: must be an FQDN address (addressType)');
  });

  it('reads EndpointSlices with null endpoints and ports as empty', () => {
    const r = parseObject({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's' }, addressType: 'IPv4', endpoints: null, ports: null });
    expect(r.ok && r.object.kind === 'EndpointSlice' && [r.object.endpoints, r.object.ports]).toEqual([[], []]);
  });
});
