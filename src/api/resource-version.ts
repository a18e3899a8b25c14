// resourceVersions are opaque to clients, but every kube-apiserver serves etcd revisions: decimal
// integers that grow with every write. Comparing them is what lets a reader keep the newer of two
// copies of an object (a watch event against a list answer that was on the wire longer).

/** True when `a` is a later version than `b`; with a non-numeric version, only "different" is known. */
export function isNewerVersion(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || a === b) return false;
  if (b === undefined) return true;
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return a.length !== b.length ? a.length > b.length : a > b;
  return true;
}
