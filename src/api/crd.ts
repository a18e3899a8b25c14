// Generates the BalancerPool CustomResourceDefinition from the zod schema, so the CRD can never
// disagree with what Ballast validates. The output must be a structural schema: the apiserver refuses
// `additionalProperties` beside `properties`, `$ref`, and typed branches under anyOf/oneOf.
import { z } from 'zod';
import { API_VERSION, balancerPoolSpecSchema, balancerPoolStatusSchema, GROUP, KIND, PLURAL, VERSION } from './schema.js';

type JsonSchema = { [k: string]: unknown };

// zod's JSON Schema keys that a CRD schema must not carry.
const FORBIDDEN = ['additionalProperties', '$schema', '$ref', '$defs', 'definitions', 'id'];

function toStructural(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io: 'input',
    unrepresentable: 'throw',
    override(ctx) {
      const js = ctx.jsonSchema as JsonSchema;
      for (const key of FORBIDDEN) delete js[key];
      // int-or-string: the apiserver wants the extension alone, no anyOf with typed branches.
      if (js['x-kubernetes-int-or-string']) {
        delete js.anyOf;
        delete js.oneOf;
      }
      // zod-only string formats (starts_with, ...) mean nothing to the apiserver; the pattern stays.
      if (js.format === 'starts_with' || js.format === 'ends_with' || js.format === 'includes') delete js.format;
      // The safe-integer bounds zod adds to z.int() are noise in a CRD.
      if (js.minimum === Number.MIN_SAFE_INTEGER) delete js.minimum;
      if (js.maximum === Number.MAX_SAFE_INTEGER) delete js.maximum;
    },
  }) as JsonSchema;
}

export function balancerPoolCrd() {
  const spec = toStructural(balancerPoolSpecSchema);
  const status = toStructural(balancerPoolStatusSchema);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: 'balancerpool', shortNames: ['bp'], categories: ['ballast'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Algorithm', type: 'string', jsonPath: '.spec.algorithm' },
            { name: 'Ready', type: 'integer', jsonPath: '.status.backends.ready' },
            { name: 'Total', type: 'integer', jsonPath: '.status.backends.total' },
            { name: 'Listener', type: 'string', jsonPath: '.status.listener' },
            { name: 'Status', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: `${KIND} (${API_VERSION}) declares an HTTP load-balanced pool of backends.`,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec,
                status,
              },
            },
          },
        },
      ],
    },
  };
}
