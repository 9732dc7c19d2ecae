/**
 * The host-tool check: a tool that is there and new enough passes, a missing
 * one is reported in one line naming it and how to install it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MissingToolError, requireTool } from '../../infra/tools.js';

test('java 17 on this machine passes the check', () => {
  assert.doesNotThrow(() => requireTool('java'));
});

test('a missing go is named in one line with how to install it', () => {
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    assert.throws(() => requireTool('go'), (error: unknown) => {
      assert.ok(error instanceof MissingToolError);
      assert.equal(error.message, 'go is not installed (needed 1.26+): install Go 1.26 or newer from your distribution or go.dev/dl and put it on PATH');
      return true;
    });
  } finally {
    process.env.PATH = path;
  }
});
