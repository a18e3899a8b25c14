/** What an error needs to know about the resource it is about. */
export interface ResourceRef {
  group: string;
  plural: string;
  kind: string;
}

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
}

const REASON_BY_CODE: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function qualified(ref: ResourceRef): string {
  return ref.group ? `${ref.plural}.${ref.group}` : ref.plural;
}

/**
 * An API error that renders as a `meta/v1 Status` with the same HTTP code, in the wire form of
 * k8s.io/apimachinery/pkg/api/errors (kubectl prints `message`; client-node exposes `code` and the raw body).
 */
export class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }

  /** A Status for an arbitrary HTTP code, used by fault injection. */
  static ofCode(code: number, message = `injected failure (HTTP ${code})`): StatusError {
    return new StatusError(code, REASON_BY_CODE[code] ?? 'Unknown', message, {});
  }

  static pathNotFound(): StatusError {
    return new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});
  }

  static notFound(ref: ResourceRef, name: string): StatusError {
    return new StatusError(404, 'NotFound', `${qualified(ref)} "${name}" not found`,
      { name, group: ref.group, kind: ref.plural });
  }

  static alreadyExists(ref: ResourceRef, name: string): StatusError {
    return new StatusError(409, 'AlreadyExists', `${qualified(ref)} "${name}" already exists`,
      { name, group: ref.group, kind: ref.plural });
  }

  static conflict(ref: ResourceRef, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again'): StatusError {
    return new StatusError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(ref)} "${name}": ${why}`,
      { name, group: ref.group, kind: ref.plural });
  }

  static invalid(ref: ResourceRef, name: string, cause: Required<StatusCause>): StatusError {
    const kind = ref.group ? `${ref.kind}.${ref.group}` : ref.kind;
    return new StatusError(422, 'Invalid', `${kind} "${name}" is invalid: ${cause.field}: ${cause.message}`,
      { name, group: ref.group, kind: ref.kind, causes: [cause] });
  }

  static badRequest(message: string): StatusError {
    return new StatusError(400, 'BadRequest', message);
  }

  static methodNotAllowed(): StatusError {
    return new StatusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
  }

  static unsupportedMediaType(acceptedTypes: string[]): StatusError {
    return new StatusError(415, 'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: ${acceptedTypes.join(', ')}`);
  }

  static expired(requested: string, oldest: number): StatusError {
    return new StatusError(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
  }
}
