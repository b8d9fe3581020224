// One keep-alive HTTP/1.1 connection to the Runtime API, with requests pipelined in order.
// node:http's client costs a worker hundreds of microseconds of CPU per exchange, and it
// never pipelines; this one writes the requests queued in one tick in a single send (a
// response and the next /next go out together) and reads the answers as they come. It speaks
// only what the local server's Runtime API answers: a status line, headers and a
// Content-Length body (1xx answers skipped). The socket is unref'ed while no answer is
// awaited, so an idle connection does not keep the event loop alive.
import net from 'node:net';

const HEAD_END = Buffer.from('\r\n\r\n');
const RETRYABLE = new Set(['ECONNRESET', 'EPIPE']);
const EMPTY = Buffer.alloc(0);

export class PipelinedConnection {
  constructor(hostname, port) {
    this.hostname = hostname;
    this.port = port;
    this.socket = null;
    this.waiting = [];
    this.outgoing = [];
    this.buffer = EMPTY;
    this.reused = false;
    this.side = null;
  }

  /**
   * Send one whole request (a string: head and body); resolves with {status, headers, body}.
   * A request that a reused connection lost before any of its answer arrived (the server
   * closing an idle connection as we reuse it) is sent once more on a new connection.
   * mayBlock: the answer may take as long as the server likes (a /next). Nothing is queued
   * behind such a request: while one is pending, requests go over a second connection (an
   * uncaught exception's error report must not wait for the next invocation).
   */
  send(message, mayBlock = false) {
    if (this.waiting.some((entry) => entry.mayBlock)) {
      this.side ??= new PipelinedConnection(this.hostname, this.port);
      return this.side.send(message, mayBlock);
    }
    return new Promise((resolve, reject) => {
      this.#enqueue({ message, mayBlock, resolve, reject, retried: false });
    });
  }

  #enqueue(entry) {
    if (this.socket === null) this.#connect();
    entry.reused = this.reused;
    this.waiting.push(entry);
    this.socket.ref();
    this.outgoing.push(entry.message);
    if (this.outgoing.length === 1) process.nextTick(() => this.#flush());
  }

  #flush() {
    if (this.socket === null || this.outgoing.length === 0) return;
    const data = this.outgoing.length === 1 ? this.outgoing[0] : this.outgoing.join('');
    this.outgoing = [];
    this.socket.write(data);
  }

  #connect() {
    const socket = net.connect({ host: this.hostname, port: this.port, noDelay: true });
    this.socket = socket;
    this.buffer = EMPTY;
    this.reused = false;
    socket.on('data', (chunk) => this.#receive(socket, chunk));
    socket.on('error', (error) => this.#lost(socket, error));
    socket.on('close', () => {
      const error = new Error('Runtime API connection closed');
      error.code = 'ECONNRESET';
      this.#lost(socket, error);
    });
  }

  #receive(socket, chunk) {
    if (socket !== this.socket) return;
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (this.waiting.length > 0) {
      const answer = this.#parse();
      if (answer === null) break;
      this.reused = true;
      this.waiting.shift().resolve(answer);
      if (answer.headers.connection?.toLowerCase() === 'close') {
        this.#lost(socket, Object.assign(new Error('Runtime API closed'), { code: 'ECONNRESET' }));
        return;
      }
    }
    if (this.waiting.length === 0) socket.unref();
  }

  /** The first complete answer in the buffer (taken out of it), or null. */
  #parse() {
    for (;;) {
      const end = this.buffer.indexOf(HEAD_END);
      if (end < 0) return null;
      const lines = this.buffer.toString('latin1', 0, end).split('\r\n');
      const status = Number(lines[0].split(' ', 2)[1]);
      const headers = {};
      for (let i = 1; i < lines.length; i++) {
        const colon = lines[i].indexOf(':');
        if (colon <= 0) continue;
        const name = lines[i].slice(0, colon).trim().toLowerCase();
        const value = lines[i].slice(colon + 1).trim();
        headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
      }
      const start = end + HEAD_END.length;
      if (status >= 100 && status < 200) {
        this.buffer = this.buffer.subarray(start);
        continue;
      }
      const length = Number(headers['content-length'] ?? 0);
      if (this.buffer.length < start + length) return null;
      const body = this.buffer.subarray(start, start + length);
      this.buffer = this.buffer.subarray(start + length);
      return { status, headers, body };
    }
  }

  #lost(socket, error) {
    if (socket !== this.socket) return;
    const answering = this.buffer.length > 0;
    const failed = this.waiting;
    this.socket = null;
    this.waiting = [];
    this.outgoing = [];
    this.buffer = EMPTY;
    socket.destroy();
    failed.forEach((entry, index) => {
      const stale = entry.reused && RETRYABLE.has(error.code) && !(index === 0 && answering);
      if (stale && !entry.retried) {
        entry.retried = true;
        this.#enqueue(entry);
      } else {
        entry.reject(error);
      }
    });
  }
}
