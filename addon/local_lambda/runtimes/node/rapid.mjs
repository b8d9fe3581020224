// The client side of the Lambda Runtime API (/2018-06-01/runtime/...). Next, response and
// error exchanges go over one pipelined keep-alive connection (connection.mjs); a streamed
// response, a chunked body with trailers, over node:http with a keep-alive agent. Idle
// sockets are unref'ed, so they do not keep the event loop alive:
// callbackWaitsForEmptyEventLoop sees only the user's work.
import http from 'node:http';
import { PipelinedConnection } from './connection.mjs';
import { toRapidResponse } from './errors.mjs';

const ERROR_TYPE = 'Lambda-Runtime-Function-Error-Type';
const ERROR_BODY = 'Lambda-Runtime-Function-Error-Body';

export class RuntimeApiClient {
  constructor(hostAndPort) {
    const separator = hostAndPort.lastIndexOf(':');
    this.hostname = hostAndPort.slice(0, separator).replace(/^\[|\]$/g, '');
    this.port = Number(hostAndPort.slice(separator + 1));
    this.agent = new http.Agent({ keepAlive: true });
    this.base = '/2018-06-01/runtime';
    this.connection = new PipelinedConnection(this.hostname, this.port);
    this.host = `Host: ${hostAndPort}\r\nConnection: keep-alive\r\n`;
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
   * GET invocation/next: blocks until there is an invocation. Called in the same tick as the
   * previous invocation's response, it goes out in the same write.
   */
  async nextInvocation() {
    const answer = await this.connection.send(
      `GET ${this.base}/invocation/next HTTP/1.1\r\n${this.host}\r\n`,
      true,
    );
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
    let head = `POST ${this.base}${path} HTTP/1.1\r\n${this.host}Content-Type: application/json\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    head += `Content-Length: ${Buffer.byteLength(body, 'utf8')}\r\n\r\n`;
    const answer = await this.connection.send(head + body);
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
