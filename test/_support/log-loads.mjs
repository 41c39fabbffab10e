// `node --import ./log-loads.mjs ...`: every file Node loads as an ES module, as one line
// "loaded <file URL>" on stderr, written by a module hook (module.register) from the loader's
// own thread with writeSync, so that no line waits on the main thread or is lost at exit.
import { register } from 'node:module';

const hook = `
import { writeSync } from 'node:fs';
export async function load(url, context, next) {
  if (url.startsWith('file:')) writeSync(2, 'loaded ' + url + '\\n');
  return next(url, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
