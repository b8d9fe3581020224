// lambda-route's Node.js runtime: AWS's Node.js runtime contract on Node's standard library,
// against the Lambda Runtime API at AWS_LAMBDA_RUNTIME_API. Started by the local Lambda
// server as `node bootstrap.mjs` with cwd = LAMBDA_TASK_ROOT and Lambda's environment
// (_HANDLER = "[dir/]module.export"); an optional first argument overrides _HANDLER.
import { UnhandledPromiseRejection } from './errors.mjs';
import { InvocationLoop } from './invoke.mjs';
import { patchConsole } from './logging.mjs';
import { RuntimeApiClient } from './rapid.mjs';
import { HttpResponseStream } from './response-stream.mjs';
import { handlerMetadata, loadHandler, streamifyResponse } from './user-function.mjs';

const EXIT_UNCAUGHT_EXCEPTION = 129;
const EXIT_UNHANDLED_REJECTION = 128;

const runtimeApi = process.env.AWS_LAMBDA_RUNTIME_API;
const handlerName = process.argv[2] ?? process.env._HANDLER;
if (!runtimeApi || !handlerName) {
  process.stderr.write('bootstrap.mjs needs AWS_LAMBDA_RUNTIME_API and _HANDLER\n');
  process.exit(1);
}

const logError = patchConsole();
const client = new RuntimeApiClient(runtimeApi);
let beforeExit = null;
// Until the first invocation, fatal errors are init errors.
let reportFatal = (error) => client.postInitError(error);
let exiting = false;

function exitAfter(report, error, exitCode) {
  if (exiting) return;
  exiting = true;
  Promise.resolve()
    .then(() => report(error))
    .catch(() => {})
    .then(() => process.exit(exitCode));
}

function runtimeApiLost(error) {
  process.stderr.write(`Lambda Runtime API unreachable or misbehaving, exiting: ${error}\n`);
  process.exit(1);
}

process.on('uncaughtException', (error) => {
  logError('Uncaught Exception', error);
  exitAfter(reportFatal, error, EXIT_UNCAUGHT_EXCEPTION);
});
process.on('unhandledRejection', (reason, promise) => {
  const error = new UnhandledPromiseRejection(reason, promise);
  logError('Unhandled Promise Rejection', error);
  exitAfter(reportFatal, error, EXIT_UNHANDLED_REJECTION);
});
process.on('beforeExit', () => beforeExit?.());

const noGlobal = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
if (noGlobal !== '1' && noGlobal !== 'true') {
  globalThis.awslambda = { streamifyResponse, HttpResponseStream };
}

let handler;
let metadata;
try {
  handler = await loadHandler(process.env.LAMBDA_TASK_ROOT || process.cwd(), handlerName);
  metadata = handlerMetadata(handler);
} catch (error) {
  logError('Uncaught Exception', error);
  exitAfter(reportFatal, error, EXIT_UNCAUGHT_EXCEPTION);
}

if (handler) {
  new InvocationLoop(client, handler, metadata, {
    logError,
    setBeforeExit: (listener) => (beforeExit = listener),
    setFatal: (report) => (reportFatal = report),
    runtimeApiLost,
  }).scheduleNext();
}
