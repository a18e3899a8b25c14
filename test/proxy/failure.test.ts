import { describe, expect, it } from '@jest/globals';
import { classifyFailure } from '../../src/proxy/failure.js';

const error = (code?: string, extra: object = {}) => Object.assign(new Error(code ?? 'uncoded'), code ? { code } : {}, extra);
const fresh = { connected: false, bodySent: false, method: 'GET' };
const connected = { connected: true, bodySent: false, method: 'POST' };

describe('classifyFailure', () => {
  it.each([
    // Only what the backend or the network did counts against the backend.
    ['ECONNREFUSED', fresh, { blame: 'backend', kind: 'connect', status: 502, retryable: true }],
    ['UND_ERR_CONNECT_TIMEOUT', fresh, { blame: 'backend', kind: 'connect_timeout', status: 504, retryable: true }],
    ['UND_ERR_HEADERS_TIMEOUT', connected, { blame: 'backend', kind: 'response_timeout', status: 504, retryable: false }],
    ['ECONNRESET', connected, { blame: 'backend', kind: 'reset', status: 502, retryable: false }],
    ['HPE_INVALID_CONSTANT', connected, { blame: 'backend', kind: 'protocol', status: 502, retryable: false }],
    // The engine refused the request as the client sent it: 400, never retried.
    ['UND_ERR_INVALID_ARG', fresh, { blame: 'request', status: 400, retryable: false }],
    ['UND_ERR_NOT_SUPPORTED', fresh, { blame: 'request', status: 400, retryable: false }],
    ['ERR_INVALID_CHAR', fresh, { blame: 'request', status: 400, retryable: false }],
    // Raised by the proxy's own code: 502, logged by the caller, never retried.
    ['ERR_INVALID_URL', fresh, { blame: 'proxy', status: 502, retryable: false }],
    [undefined, connected, { blame: 'proxy', status: 502, retryable: false }],
  ])('%s (%j) is %j', (code, progress, failure) => {
    expect(classifyFailure(error(code), progress)).toEqual(failure);
  });
});
