// Preloaded into every test process by build/run-tests.mjs (node --require). uvu 0.5 runs a
// suite's `after` hooks in a `finally` that returns, so an error thrown by a `before` hook (or by
// an `after.each` following a failed test) vanishes: the file prints "(0 / 9)" and exits 0.
// This wraps every hook registration: a hook error is printed with its stack, named by suite and
// hook, and the process exits 1. `before` errors are rethrown (uvu then skips the suite's tests,
// as it means to); `after` and `after.each` errors are not, so the remaining cleanup still runs.
'use strict';
const uvu = require('uvu');

let failures = 0;

function report(kind, state, err) {
  failures++;
  const suite = state && state.__suite__ ? ` of suite "${state.__suite__}"` : '';
  const during = state && state.__test__ ? ` (after test "${state.__test__}")` : '';
  const text = err && err.stack ? err.stack : String(err);
  process.stderr.write(`\n[run-tests] ${kind} hook${suite}${during} failed: ${text}\n`);
}

function wrap(register, kind, rethrow) {
  return (fn) => register(async (state) => {
    try {
      await fn(state);
    } catch (err) {
      report(kind, state, err);
      if (rethrow) throw err;
    }
  });
}

function patch(t) {
  const before = t.before, after = t.after;
  const beforeEach = before.each, afterEach = after.each;
  t.before = wrap(before, 'before', true);
  t.before.each = beforeEach; // its errors fail the test and uvu prints them
  t.after = wrap(after, 'after', false);
  t.after.each = wrap(afterEach, 'after.each', false);
  return t;
}

patch(uvu.test);
const suite = uvu.suite;
uvu.suite = (...args) => patch(suite(...args));

process.on('exit', (code) => {
  if (failures > 0 && code === 0) {
    process.stderr.write(`[run-tests] ${failures} hook error${failures === 1 ? '' : 's'}: this file fails\n`);
    process.exitCode = 1;
  }
});
