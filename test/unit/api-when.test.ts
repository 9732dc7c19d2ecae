/**
 * The sample API's `?when=` on a posted status: missing means now; an ISO
 * 8601 date and time with its zone names one row, written again at each post;
 * anything else is refused with a sentence that shows the expected form.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseWhen } from '../../sample-api/app.js';

describe('a posted status’s time (?when=)', () => {
  test('missing, it is now', () => {
    const now = new Date('2026-11-29T12:00:00Z');
    assert.deepEqual(parseWhen(undefined, () => now), now);
  });

  test('an ISO 8601 date and time with its zone is that instant', () => {
    assert.deepEqual(parseWhen('2024-01-01T00:00:00Z'), new Date(Date.UTC(2024, 0, 1)));
    assert.deepEqual(parseWhen('2024-01-01T00:00:00.000Z'), new Date(Date.UTC(2024, 0, 1)));
    assert.deepEqual(parseWhen('2024-01-01T01:00+01:00'), new Date(Date.UTC(2024, 0, 1)));
  });

  test('anything else is refused, saying the form it wants', () => {
    for (const raw of ['yesterday', '2024-01-01', '2024-01-01T00:00:00', '1700000000000', ['2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z'], '2024-13-45T99:00:00Z']) {
      const answer = parseWhen(raw);
      assert.equal(typeof answer, 'string', `${JSON.stringify(raw)} is refused`);
      assert.match(answer as string, /^when must be (one date and time with its zone, like 2024-01-01T00:00:00Z|a real date and time from 1970 on), not /);
    }
    assert.match(parseWhen('1969-12-31T23:59:59Z') as string, /from 1970 on/);
  });
});
