// console.* as AWS's Node.js runtime writes it: one line per call on stdout,
// "timestamp\trequestId\tLEVEL\tmessage" (TEXT) or a JSON object (AWS_LAMBDA_LOG_FORMAT=JSON),
// newlines inside a message turned into \r so that one call stays one log line, and
// AWS_LAMBDA_LOG_LEVEL filtering.
import { format } from 'node:util';
import { intoError, toLoggedForm } from './errors.mjs';

const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];
let currentRequestId;

export function setRequestId(requestId) {
  currentRequestId = requestId;
}

function errorFields(error) {
  return {
    errorType: error?.constructor?.name ?? 'UnknownError',
    errorMessage: error.message,
    stackTrace: typeof error.stack === 'string' ? error.stack.split('\n') : error.stack,
  };
}

function jsonLine(level, params) {
  const entry = { timestamp: new Date().toISOString(), level, requestId: currentRequestId };
  if (params.length === 1) {
    entry.message = params[0];
    try {
      return JSON.stringify(entry, (_key, value) =>
        value instanceof Error ? { ...errorFields(value), ...value } : value,
      );
    } catch {
      entry.message = format(params[0]);
      return JSON.stringify(entry);
    }
  }
  entry.message = format(...params);
  const error = params.find((param) => param instanceof Error);
  if (error) Object.assign(entry, errorFields(error));
  return JSON.stringify(entry);
}

function textLine(level, params) {
  return `${new Date().toISOString()}\t${currentRequestId}\t${level}\t${format(...params)}`;
}

/** Replace the console methods; returns logError(title, error) for the runtime's own errors. */
export function patchConsole(env = process.env) {
  const json = env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';
  const makeLine = json ? jsonLine : textLine;
  const minimum = Math.max(0, LEVELS.indexOf(env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase() ?? 'TRACE'));
  const writer = (level) => {
    if (LEVELS.indexOf(level) < minimum) return () => {};
    return (...params) => {
      process.stdout.write(makeLine(level, params).replace(/\n/g, '\r') + '\n');
    };
  };
  console.trace = writer('TRACE');
  console.debug = writer('DEBUG');
  console.info = writer('INFO');
  console.log = console.info;
  console.warn = writer('WARN');
  console.error = writer('ERROR');
  console.fatal = writer('FATAL');
  return json
    ? (_title, error) => console.error(intoError(error))
    : (title, error) => console.error(title, toLoggedForm(intoError(error)));
}
