// The BalancerPool API (ballast.dev/v1alpha1) and the parts of core/discovery objects Ballast reads.
// This file is the single source of truth: the CRD's openAPIV3Schema is generated from it (crd.ts).
import { z } from 'zod';

export const GROUP = 'ballast.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'BalancerPool';
export const PLURAL = 'balancerpools';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

const port = z.int().min(1).max(65535);
// spec.service.port: a Service port by number, or by name as a Service port is named (an IANA_SVC_NAME,
// Kubernetes' validation.IsValidPortName: at most 15 characters of a-z, 0-9 and '-', at least one
// letter, no '-' at either end or beside another). Rendered as int-or-string in the CRD, where an
// OpenAPI bound cannot apply to one of the two types, so the same rules are CEL there; `type(self)`
// tells them apart and the regular expressions are RE2 (no lookahead), shared by both sides.
const PORT_NAME = "a port name (IANA_SVC_NAME): at most 15 characters, lower case letters, digits and '-', at least one letter, no '-' at either end or beside another";
const PORT_NAME_SHAPE = '^[a-z0-9]+(-[a-z0-9]+)*$';
const PORT_NAME_LETTER = '[a-z]';
const servicePort = z
  .union([port, z.string().max(15).regex(new RegExp(PORT_NAME_SHAPE), `must be ${PORT_NAME}`).regex(new RegExp(PORT_NAME_LETTER), `must be ${PORT_NAME}`)])
  .meta({
    'x-kubernetes-int-or-string': true,
    'x-kubernetes-validations': [
      { rule: 'type(self) != int || (self >= 1 && self <= 65535)', message: 'spec.service.port must be a port number from 1 to 65535' },
      {
        rule: `type(self) != string || (size(self) <= 15 && self.matches('${PORT_NAME_SHAPE}') && self.matches('${PORT_NAME_LETTER}'))`,
        message: `spec.service.port must be ${PORT_NAME}`,
      },
    ],
  });

// Backend addresses, as regular expressions the CRD carries as its `pattern` too, so the API server,
// dev mode, `validate` and the proxy accept exactly the same strings. RE2 syntax (no lookaround): the
// API server evaluates patterns with Go's regexp.
const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
/** Dotted quad, octets 0-255 without leading zeros (which some parsers read as octal). */
const IPV4 = `${OCTET}(\\.${OCTET}){3}`;
const H16 = '[0-9A-Fa-f]{1,4}';
/**
 * RFC 4291 §2.2 text forms: eight groups, or fewer around one `::`, the last two optionally a dotted
 * quad. No zone id (`%eth0`): a zone names an interface of one host, never a backend of a pool.
 */
const IPV6 = [
  `(${H16}:){7}${H16}`,
  `(${H16}:){6}${IPV4}`,
  ...Array.from({ length: 8 }, (_, head) => `${head === 0 ? '::' : `(${H16}:){${head}}:`}${head < 7 ? `((${H16}:){0,${6 - head}}${H16})?` : ''}`),
  ...Array.from({ length: 6 }, (_, head) => `${head === 0 ? '::' : `(${H16}:){${head}}:`}(${H16}:){0,${5 - head}}${IPV4}`),
].join('|');
const LABEL = '[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?';
/**
 * RFC 1123 host name whose last label starts with a letter (RFC 3696 §2: a top-level name is never
 * numeric), so that no name can be read as an IPv4 address by a URL parser (`999.999.999.999`, `0x7f.1`).
 */
const HOSTNAME = `(${LABEL}\\.)*[A-Za-z]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?`;
const exactly = (pattern: string) => new RegExp(`^(${pattern})$`);
const IS_IPV4 = exactly(IPV4);
const IS_IPV6 = exactly(IPV6);
const IS_HOSTNAME = exactly(HOSTNAME);
/** What `spec.endpoints[].address` accepts: an IPv4 or IPv6 address, or a host name (resolved when connecting). */
export const ENDPOINT_ADDRESS = exactly(`${IPV4}|${IPV6}|${HOSTNAME}`);
const dnsLabel = z.string().min(1).max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label (lower case letters, digits and "-")');

export const ALGORITHMS = ['RoundRobin', 'LeastConnections', 'IPHash', 'Random'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

// Names as the API server validates them (k8s.io/apimachinery/pkg/util/validation), with its messages.
// They also make `namespace/name` keys unambiguous: neither part can hold a "/".
const dnsName = (max: number, regex: RegExp, message: string) =>
  z.string().max(max, `must be no more than ${max} characters`).regex(regex, message);
const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const dns1123Subdomain = dnsName(
  253,
  new RegExp(`^${DNS1123_LABEL}(\\.${DNS1123_LABEL})*$`),
  `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '${DNS1123_LABEL}(\\.${DNS1123_LABEL})*')`,
);
const dns1123Label = dnsName(
  63,
  new RegExp(`^${DNS1123_LABEL}$`),
  `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '${DNS1123_LABEL}')`,
);
const dns1035Label = dnsName(
  63,
  /^[a-z]([-a-z0-9]*[a-z0-9])?$/,
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
);

export const metadataSchema = z.looseObject({
  name: dns1123Subdomain,
  namespace: dns1123Label.optional(),
  generation: z.int().optional(),
  resourceVersion: z.string().optional(),
  uid: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  deletionTimestamp: z.string().optional(),
  creationTimestamp: z.string().optional(),
});

export const balancerPoolSpecSchema = z
  .strictObject({
    service: z
      .strictObject({
        name: dnsLabel.describe('Service whose EndpointSlices supply the backends (same namespace).'),
        port: servicePort.describe('Service port: its name, or its number (mapped to the name through the Service).'),
      })
      .optional(),
    endpoints: z
      .array(
        z.strictObject({
          address: z
            .string()
            .min(1)
            .max(253)
            .regex(ENDPOINT_ADDRESS, 'must be an IPv4 address, an IPv6 address without zone, or a host name')
            .describe('IPv4 address, IPv6 address (no zone) or host name of the backend.'),
          port,
          weight: z.int().min(1).max(1000).default(1),
        }),
      )
      .min(1)
      .optional()
      .describe('A static backend list, instead of spec.service.'),
    algorithm: z.enum(ALGORITHMS).default('RoundRobin').describe('RoundRobin is smooth weighted round robin, as NGINX.'),
    listener: z
      .strictObject({
        port,
        address: z.string().min(1).default('0.0.0.0'),
      })
      .optional()
      .describe('The in-process proxy listener. Omit for an NGINX-only pool.'),
    terminating: z
      .enum(['Fallback', 'Exclude'])
      .default('Fallback')
      .describe('Fallback: serving-but-terminating endpoints are used only when none is ready (KEP-1669). Exclude: never.'),
    healthCheck: z
      .strictObject({
        path: z.string().startsWith('/').default('/healthz'),
        // Kubernetes probes' minimum period: at most one probe per second per backend.
        intervalSeconds: z.number().min(1).max(3600).default(5),
        timeoutSeconds: z.number().min(0.1).max(3600).default(1),
        unhealthyThreshold: z.int().min(1).max(100).default(3),
        healthyThreshold: z.int().min(1).max(100).default(1),
      })
      .optional()
      .describe('Active HTTP health checks; opt-in. Health only filters discovered backends, never adds one.'),
    outlierDetection: z
      .strictObject({
        maxFails: z.int().min(0).max(1000).default(1).describe('0 disables passive ejection (NGINX max_fails=0).'),
        failTimeoutSeconds: z.number().positive().max(3600).default(10),
      })
      .default({ maxFails: 1, failTimeoutSeconds: 10 })
      .describe('Passive health with NGINX max_fails/fail_timeout semantics.'),
    retries: z.int().min(0).max(10).default(1).describe('Other backends tried on a connect failure or a reset before any response byte.'),
    timeouts: z
      .strictObject({
        connectSeconds: z.number().positive().max(600).default(5),
        responseSeconds: z.number().positive().max(3600).default(60).describe('Time to the response headers; 504 after it.'),
        idleSeconds: z.number().positive().max(3600).default(60),
        requestSeconds: z
          .number()
          .positive()
          .max(3600)
          .default(60)
          .describe('Time for a client to send its whole request, body included; then 408 and the backend exchange is dropped.'),
      })
      .default({ connectSeconds: 5, responseSeconds: 60, idleSeconds: 60, requestSeconds: 60 }),
    drainTimeoutSeconds: z
      .number()
      .min(0)
      .max(3600)
      .default(30)
      .describe('How long a removed backend keeps its in-flight requests and WebSockets.'),
    nginx: z
      .strictObject({
        configMap: dnsLabel.optional().describe('ConfigMap name; default <pool>-nginx.'),
        upstream: z
          .string()
          .regex(/^[A-Za-z0-9_]+$/, 'must contain only letters, digits and "_"')
          .max(128)
          .optional()
          .describe('upstream name; default <namespace>_<pool>.'),
        keepalive: z.int().min(0).max(10000).default(32),
        keepaliveTimeoutSeconds: z.int().min(1).max(3600).default(60),
      })
      .optional()
      .describe('Emit the pool as an NGINX upstream block in a ConfigMap.'),
  })
  .refine((s) => (s.service === undefined) !== (s.endpoints === undefined), {
    message: 'exactly one of spec.service and spec.endpoints must be set',
  })
  .meta({
    description: 'Where the backends come from (spec.service or spec.endpoints) and how traffic is balanced across them.',
    'x-kubernetes-validations': [{ rule: 'has(self.service) != has(self.endpoints)', message: 'exactly one of spec.service and spec.endpoints must be set' }],
  });

const conditionSchema = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: z.int().optional(),
  lastTransitionTime: z.string(),
  reason: z.string(),
  message: z.string(),
});

export const balancerPoolStatusSchema = z.object({
  observedGeneration: z.int().optional(),
  conditions: z.array(conditionSchema).optional().meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  backends: z.object({ ready: z.int(), total: z.int() }).optional(),
  listener: z.string().optional(),
  nginx: z.object({ configMap: z.string(), hash: z.string() }).optional(),
});

export const balancerPoolSchema = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata: metadataSchema,
  spec: balancerPoolSpecSchema,
  status: balancerPoolStatusSchema.optional(),
});

export const serviceSchema = z.object({
  apiVersion: z.literal('v1'),
  kind: z.literal('Service'),
  metadata: metadataSchema.extend({ name: dns1035Label }),
  spec: z.looseObject({
    ports: z
      .array(
        z.looseObject({
          name: z.string().optional(),
          port,
          targetPort: z.union([port, z.string()]).optional(),
          protocol: z.string().optional(),
        }),
      )
      .default([]),
    /** The Service's IP families, primary first (dual-stack); a pool uses the first one's slices. */
    ipFamilies: z.array(z.enum(['IPv4', 'IPv6'])).optional(),
  }),
});

const endpointConditions = z.looseObject({
  ready: z.boolean().nullish(),
  serving: z.boolean().nullish(),
  terminating: z.boolean().nullish(),
});

const ADDRESS_CHECKS = {
  IPv4: (a: string) => IS_IPV4.test(a),
  IPv6: (a: string) => IS_IPV6.test(a),
  FQDN: (a: string) => a.length <= 253 && IS_HOSTNAME.test(a),
};

export const endpointSliceSchema = z.object({
  apiVersion: z.literal('discovery.k8s.io/v1'),
  kind: z.literal('EndpointSlice'),
  metadata: metadataSchema,
  addressType: z.enum(['IPv4', 'IPv6', 'FQDN']),
  endpoints: z
    .array(
      z.looseObject({
        addresses: z.array(z.string()).min(1),
        conditions: endpointConditions.nullish(),
        hostname: z.string().nullish(),
        nodeName: z.string().nullish(),
        zone: z.string().nullish(),
        targetRef: z.looseObject({ kind: z.string().optional(), name: z.string().optional(), namespace: z.string().optional() }).nullish(),
      }),
    )
    .max(1000) // the API server's limit; a 10,000-endpoint slice in a file took seconds to plan
    .nullish()
    .transform((e) => e ?? []),
  ports: z
    .array(
      z.looseObject({
        name: z.string().nullish(),
        port: port.nullish(),
        protocol: z.string().nullish(),
        appProtocol: z.string().nullish(),
      }),
    )
    .nullish()
    .transform((p) => p ?? []),
}).superRefine((slice, ctx) => {
  slice.endpoints.forEach((ep, i) =>
    ep.addresses.forEach((a, j) => {
      if (!ADDRESS_CHECKS[slice.addressType](a)) {
        ctx.addIssue({ code: 'custom', path: ['endpoints', i, 'addresses', j], message: `must be an ${slice.addressType} address (addressType)` });
      }
    }),
  );
});

export type ObjectMeta = z.infer<typeof metadataSchema>;
export type BalancerPoolSpec = z.infer<typeof balancerPoolSpecSchema>;
export type BalancerPoolStatus = z.infer<typeof balancerPoolStatusSchema>;
export type Condition = z.infer<typeof conditionSchema>;
export type BalancerPool = z.infer<typeof balancerPoolSchema>;
export type Service = z.infer<typeof serviceSchema>;
export type EndpointSlice = z.infer<typeof endpointSliceSchema>;
export type KubeObject = BalancerPool | Service | EndpointSlice;
export type ObjectKind = KubeObject['kind'];

export const SCHEMAS = {
  BalancerPool: balancerPoolSchema,
  Service: serviceSchema,
  EndpointSlice: endpointSliceSchema,
} as const;
