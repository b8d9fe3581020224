// Errors as AWS's Node.js runtime reports them: the Runtime.* types, the payload posted to
// the Runtime API ({errorType, errorMessage, trace}) and the form written to the log.
import { types } from 'node:util';

function runtimeError(name) {
  const ErrorClass = class extends Error {};
  Object.defineProperty(ErrorClass, 'name', { value: name });
  ErrorClass.prototype.name = `Runtime.${name}`;
  return ErrorClass;
}

export const ImportModuleError = runtimeError('ImportModuleError');
export const HandlerNotFound = runtimeError('HandlerNotFound');
export const MalformedHandlerName = runtimeError('MalformedHandlerName');
export const UserCodeSyntaxError = runtimeError('UserCodeSyntaxError');
export const MalformedStreamingHandler = runtimeError('MalformedStreamingHandler');
export const InvalidStreamingOperation = runtimeError('InvalidStreamingOperation');

export class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most ' +
        'commonly caused by a Promise that was never settled. For more information, see ' +
        'https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
NodeJsExit.prototype.name = 'Runtime.NodeJsExit';

export class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
UnhandledPromiseRejection.prototype.name = 'Runtime.UnhandledPromiseRejection';

function looksLikeError(value) {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof value.name === 'string' &&
    typeof value.message === 'string' &&
    typeof value.stack === 'string'
  );
}

const escapeDel = (text) => text?.replaceAll('\x7F', '%7F');

/** The body posted to .../error and init/error: errorType/errorMessage/trace. */
export function toRapidResponse(error) {
  try {
    if (types.isNativeError(error) || looksLikeError(error)) {
      return {
        errorType: escapeDel(error.name),
        errorMessage: escapeDel(error.message),
        trace: escapeDel(error.stack).split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving ' +
        'one or more of its message, name, and stack',
    };
  }
}

export function intoError(value) {
  return value instanceof Error ? value : new Error(value);
}

/** An error's own fields made visible to JSON (name, message and stack are not enumerable). */
function withEnumerableFields(_key, value) {
  if (!(value instanceof Error)) return value;
  const fields = { errorType: value.name, errorMessage: value.message, code: value.code, ...value };
  if (typeof value.stack === 'string') fields.stack = value.stack.split('\n');
  return fields;
}

/** The error as the runtime logs it after "Invoke Error" and friends: a tab, then JSON. */
export function toLoggedForm(error) {
  try {
    return '\t' + JSON.stringify(error, withEnumerableFields);
  } catch {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}
