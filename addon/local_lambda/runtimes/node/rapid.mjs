// The client side of the Lambda Runtime API (/2018-06-01/runtime/...), over node:http with
// one keep-alive agent. Idle keep-alive sockets are unref'ed by the agent, so they do not
// keep the event loop alive: callbackWaitsForEmptyEventLoop sees only the user's work.
import http from 'node:http';
import { toRapidResponse } from './errors.mjs';

const ERROR_TYPE = 'Lambda-Runtime-Function-Error-Type';
const ERROR_BODY = 'Lambda-Runtime-Function-Error-Body';
const RETRYABLE = new Set(['ECONNRESET', 'EPIPE']);

export class RuntimeApiClient {
  constructor(hostAndPort) {
    const separator = hostAndPort.lastIndexOf(':');
    this.hostname = hostAndPort.slice(0, separator).replace(/^\[|\]$/g, '');
    this.port = Number(hostAndPort.slice(separator + 1));
    this.agent = new http.Agent({ keepAlive: true });
    this.base = '/2018-06-01/runtime';
  }

  #request(method, path, headers) {
    return http.request({
      hostname: this.hostname,
      port: this.port,
      method,
      path: this.base + path,
      headers,
      agent: this.agent,
    });
  }

  /**
   * Send a whole body; resolves with {status, headers, body} once the answer is read. A
   * keep-alive connection that the server closed while it sat idle (its close racing our
   * reuse) fails before the server saw the request: that one is retried on a new connection.
   */
  #exchange(method, path, headers, body, retried = false) {
    return new Promise((resolve, reject) => {
      const request = this.#request(method, path, headers);
      request.on('response', (response) => collect(response, resolve, reject));
      request.on('error', (error) => {
        const staleConnection = request.reusedSocket && RETRYABLE.has(error.code);
        if (staleConnection && !retried) {
          resolve(this.#exchange(method, path, headers, body, true));
        } else {
          reject(error);
        }
      });
      request.end(body);
    });
  }

  /** GET invocation/next: blocks until there is an invocation. */
  async nextInvocation() {
    const answer = await this.#exchange('GET', '/invocation/next', {});
    if (answer.status !== 200) {
      throw new Error(`Runtime API answered ${answer.status} to invocation/next: ${answer.body}`);
    }
    return { body: answer.body.toString('utf8'), headers: answer.headers };
  }

  /** POST invocation/{id}/response with the JSON result. */
  postInvocationResponse(requestId, serializedResult) {
    return this.#post(`/invocation/${encodeURIComponent(requestId)}/response`, serializedResult);
  }

  /** POST invocation/{id}/error with AWS's error payload. */
  postInvocationError(requestId, error) {
    const payload = toRapidResponse(error);
    return this.#post(`/invocation/${encodeURIComponent(requestId)}/error`, safeJson(payload), {
      [ERROR_TYPE]: headerSafe(payload.errorType),
    });
  }

  /** POST init/error: the function could not be loaded. */
  postInitError(error) {
    const payload = toRapidResponse(error);
    return this.#post('/init/error', safeJson(payload), {
      [ERROR_TYPE]: headerSafe(payload.errorType),
    });
  }

  async #post(path, body, headers = {}) {
    const bytes = Buffer.from(body, 'utf8');
    const answer = await this.#exchange('POST', path, {
      'Content-Type': 'application/json',
      'Content-Length': bytes.length,
      ...headers,
    }, bytes);
    if (answer.status >= 300) reportRefusal(answer, `POST ${path}`);
    return answer;
  }

  /**
   * Start POST invocation/{id}/response in streaming mode: chunked body, error trailers.
   * Returns the ClientRequest (each write goes out as a chunk) and a promise of the answer.
   */
  openStreamingResponse(requestId, contentType) {
    const request = this.#request('POST', `/invocation/${encodeURIComponent(requestId)}/response`, {
      'Lambda-Runtime-Function-Response-Mode': 'streaming',
      'Transfer-Encoding': 'chunked',
      Trailer: `${ERROR_TYPE}, ${ERROR_BODY}`,
      'Content-Type': contentType,
    });
    const answered = new Promise((resolve, reject) => {
      request.on('response', (response) => collect(response, resolve, reject));
      request.on('error', reject);
    }).then((answer) => {
      if (answer.status >= 300) reportRefusal(answer, 'POST (streaming) response');
      return answer;
    });
    return { request, answered };
  }
}

/** The trailers that end a stream with an error: its type, and its JSON payload in base64. */
export function errorTrailers(error) {
  const payload = toRapidResponse(error);
  return {
    [ERROR_TYPE]: headerSafe(payload.errorType),
    [ERROR_BODY]: Buffer.from(safeJson(payload)).toString('base64'),
  };
}

/**
 * The Runtime API refused an answer (an oversized payload, a second answer for one id): the
 * platform reports it to the caller; the runtime says so on stderr and carries on, as AWS's.
 */
function reportRefusal(answer, what) {
  process.stderr.write(`Runtime API answered ${answer.status} to ${what}: ${answer.body}\n`);
}

function collect(response, resolve, reject) {
  const chunks = [];
  response.on('data', (chunk) => chunks.push(chunk));
  response.on('end', () =>
    resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }),
  );
  response.on('error', reject);
  response.on('aborted', () => reject(new Error('Runtime API connection closed')));
}

function safeJson(payload) {
  try {
    return JSON.stringify(payload);
  } catch {
    return JSON.stringify({ errorType: String(payload.errorType), errorMessage: 'unserializable error' });
  }
}

/** A header value node:http accepts (no control characters, which would throw). */
function headerSafe(value) {
  return String(value).replace(/[^\t\x20-\x7e]/g, '?');
}
