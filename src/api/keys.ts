// Object keys as client-go's cache.MetaNamespaceKeyFunc makes them: `namespace/name`. They cannot
// collide because a namespace is a DNS-1123 label (no "/"; metadataSchema checks it, as the API server
// does), so the first "/" always ends the namespace and two different pairs never give one key.
export const DEFAULT_NAMESPACE = 'default';

export type ObjectKey = string;

export function objectKey(namespace: string | undefined, name: string): ObjectKey {
  return `${namespace ?? DEFAULT_NAMESPACE}/${name}`;
}

export function splitKey(key: ObjectKey): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export function keyOf(obj: { metadata: { namespace?: string; name: string } }): ObjectKey {
  return objectKey(obj.metadata.namespace, obj.metadata.name);
}
