// Find and load the handler named by _HANDLER, as AWS's Node.js runtime does:
// "[dir/]module.export[.nested]", the module tried as an extensionless file, then .js
// (CommonJS, or an ES module under a package.json with "type": "module"), .mjs, .cjs, and
// finally through require's resolution from the task root (node_modules).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  HandlerNotFound,
  ImportModuleError,
  MalformedHandlerName,
  MalformedStreamingHandler,
  UserCodeSyntaxError,
} from './errors.mjs';

const require = createRequire(import.meta.url);
const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HIGH_WATER_MARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
export const STREAM_RESPONSE = 'response';

const requireIfExists = (file) => (fs.existsSync(file) ? require(file) : undefined);
const importIfExists = async (file) =>
  fs.existsSync(file) ? import(pathToFileURL(file).href) : undefined;

/** The "type" of the nearest package.json above a folder is "module". */
function underModulePackage(folder) {
  for (let current = folder; ; current = path.dirname(current)) {
    if (current.endsWith(`${path.sep}node_modules`)) return false;
    const manifest = path.join(current, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        return JSON.parse(fs.readFileSync(manifest, 'utf8'))?.type === 'module';
      } catch (error) {
        console.warn(
          `${manifest} cannot be read, it will be ignored for ES module detection purposes.`,
          error,
        );
        return false;
      }
    }
    if (current === path.dirname(current)) return false;
  }
}

async function loadModule(appRoot, moduleRoot, moduleName) {
  const base = path.resolve(appRoot, moduleRoot, moduleName);
  const extensionless = requireIfExists(base);
  if (extensionless) return extensionless;
  const esmPackage = fs.existsSync(`${base}.js`) && underModulePackage(path.dirname(base));
  if (!esmPackage) {
    const commonJs = requireIfExists(`${base}.js`);
    if (commonJs) return commonJs;
  }
  const loaded =
    (esmPackage && (await importIfExists(`${base}.js`))) ||
    (await importIfExists(`${base}.mjs`)) ||
    requireIfExists(`${base}.cjs`);
  if (loaded) return loaded;
  return require(require.resolve(moduleName, { paths: [appRoot, moduleRoot] }));
}

/** Load the module and return the handler function; throws AWS's Runtime.* errors. */
export async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying ` +
        'root directories in handler names.',
    );
  }
  const handlerName = path.basename(fullHandler);
  const moduleRoot = fullHandler.slice(0, fullHandler.indexOf(handlerName));
  const match = handlerName.match(/^([^.]*)\.(.*)$/);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, moduleName, exportPath] = match;

  let userModule;
  try {
    userModule = await loadModule(appRoot, moduleRoot, moduleName);
  } catch (error) {
    if (error instanceof SyntaxError) throw new UserCodeSyntaxError(error);
    if (error?.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(error);
    throw error;
  }
  const handler = exportPath.split('.').reduce((value, key) => value && value[key], userModule);
  if (!handler) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return handler;
}

/** How the handler is called: streaming or not, its highWaterMark, async or not. */
export function handlerMetadata(handler) {
  const streaming = handler[STREAMING];
  if (streaming !== undefined && streaming !== null && streaming !== false) {
    if (streaming !== STREAM_RESPONSE) {
      throw new MalformedStreamingHandler('Only response streaming is supported.');
    }
  }
  const highWaterMark = Number.parseInt(handler[HIGH_WATER_MARK], 10);
  return {
    streaming: streaming === STREAM_RESPONSE,
    highWaterMark: Number.isNaN(highWaterMark) ? undefined : highWaterMark,
    isAsync: handler.constructor?.name === 'AsyncFunction',
  };
}

/** awslambda.streamifyResponse: marks a handler (event, responseStream, context). */
export function streamifyResponse(handler, options) {
  handler[STREAMING] = STREAM_RESPONSE;
  if (typeof options?.highWaterMark === 'number') {
    handler[HIGH_WATER_MARK] = Number.parseInt(options.highWaterMark, 10);
  }
  return handler;
}
