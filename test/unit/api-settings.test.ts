/**
 * The sample API's settings and request parsing, without a database: what a
 * mode name may be, where each mode connects by default in environment k,
 * which values stop the API at start, and what `?entries=` means.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_ENTRIES, parseEntries } from '../../sample-api/app.js';
import { parseConnection, parseContactPoints, parseMode, readSettings, SettingsError } from '../../sample-api/settings.js';

const noFile = () => undefined;

describe('sample API settings', () => {
  test('mode names: the three modes in any case, and the original lab’s aliases', () => {
    assert.equal(parseMode('origin'), 'ORIGIN');
    assert.equal(parseMode(' ZDM_PROXY\n'), 'ZDM_PROXY');
    assert.equal(parseMode('TARGET'), 'TARGET');
    assert.equal(parseMode('CASSANDRA'), 'ORIGIN');
    assert.equal(parseMode('astra_db'), 'TARGET');
    assert.equal(parseMode('PROXY'), undefined);
    assert.equal(parseMode(''), undefined);
  });

  test('environment 4 defaults: ORIGIN mode, API on 127.0.4.20:8000, each mode at its own addresses', () => {
    const s = readSettings({ LAB_ENV: '4' }, noFile);
    assert.equal(s.mode, 'ORIGIN');
    assert.equal(s.modeSource, 'default');
    assert.equal(`${s.host}:${s.port}`, '127.0.4.20:8000');
    assert.deepEqual(s.contactPoints, {
      ORIGIN: { hosts: ['127.0.4.1'], port: 9042 },
      ZDM_PROXY: { hosts: ['127.0.4.11', '127.0.4.12', '127.0.4.13'], port: 9042 },
      TARGET: { hosts: ['127.0.4.2'], port: 9042 },
    });
    assert.deepEqual([s.login.username, s.login.password, s.localDataCenter], ['cassandra', 'cassandra', 'datacenter1']);
  });

  test('variables override the defaults; the mode file wins over CLIENT_CONNECTION_MODE', () => {
    const s = readSettings(
      {
        CLIENT_CONNECTION_MODE: 'TARGET',
        CLIENT_CONNECTION_MODE_FILE: '/tmp/mode',
        ZDM_PROXY_CONTACT_POINTS: '10.0.0.5:9043, 10.0.0.6:9043',
        API_HOST: '0.0.0.0',
        API_PORT: '8080',
      },
      (path) => (path === '/tmp/mode' ? 'ZDM_PROXY\n' : undefined),
    );
    assert.equal(s.mode, 'ZDM_PROXY');
    assert.equal(s.modeSource, '/tmp/mode');
    assert.deepEqual(s.contactPoints.ZDM_PROXY, { hosts: ['10.0.0.5', '10.0.0.6'], port: 9043 });
    assert.equal(`${s.host}:${s.port}`, '0.0.0.0:8080');
    assert.equal(readSettings({ CLIENT_CONNECTION_MODE: 'TARGET', CLIENT_CONNECTION_MODE_FILE: '/missing' }, noFile).mode, 'TARGET');
  });

  test('the mode file may give the login beside the mode: it wins over CASSANDRA_USERNAME and CASSANDRA_PASSWORD', () => {
    const file = 'ZDM_PROXY\nusername=target_admin\npassword=s3=cr=t\n';
    assert.deepEqual(parseConnection(file), { mode: 'ZDM_PROXY', login: { username: 'target_admin', password: 's3=cr=t' } });
    assert.deepEqual(parseConnection('# the API\'s connection\n\nTARGET\n'), { mode: 'TARGET' });
    const s = readSettings({ CASSANDRA_USERNAME: 'cassandra', CASSANDRA_PASSWORD: 'o', CLIENT_CONNECTION_MODE_FILE: '/m' }, () => file);
    assert.deepEqual(s.login, { username: 'target_admin', password: 's3=cr=t' });
    assert.deepEqual(readSettings({ CASSANDRA_USERNAME: 'cassandra', CASSANDRA_PASSWORD: 'o' }, noFile).login, { username: 'cassandra', password: 'o' });
    assert.equal(parseConnection('ORIGIN\nusername=cassandra\n'), 'it gives a username without a password');
    assert.equal(parseConnection('ORIGIN\nuser=cassandra\npassword=x'), 'line 2 says "user=cassandra": after the mode only username=… and password=… lines are read');
    assert.throws(() => readSettings({ CLIENT_CONNECTION_MODE_FILE: '/m' }, () => 'TARGET\npassword=x\n'), /\/m: it gives a password without a username/);
  });

  test('values that make no sense stop the API with the variable’s name', () => {
    assert.throws(() => readSettings({ CLIENT_CONNECTION_MODE: 'MONGODB' }, noFile), (e: Error) => e instanceof SettingsError && /CLIENT_CONNECTION_MODE="MONGODB" is not a connection mode: use ORIGIN, ZDM_PROXY, TARGET/.test(e.message));
    assert.throws(() => readSettings({ CLIENT_CONNECTION_MODE_FILE: '/m' }, () => 'sideways'), /\/m: line 1 says "sideways", which is not a connection mode/);
    assert.throws(() => readSettings({ API_PORT: 'eighty' }, noFile), /API_PORT must be a whole number from 1 to 65535, got "eighty"/);
    assert.throws(() => readSettings({ LAB_ENV: '300' }, noFile), /LAB_ENV must be a whole number from 1 to 254/);
    assert.throws(() => parseContactPoints('TARGET_CONTACT_POINTS', 'a:9042,b:9043'), /every contact point must use the same port, got 9042 and 9043/);
    assert.throws(() => parseContactPoints('ORIGIN_CONTACT_POINTS', 'host:port'), /"host:port" is not host or host:port/);
  });
});

describe('?entries=', () => {
  test('missing, malformed, zero or negative means 1; above the cap means the cap', () => {
    assert.equal(parseEntries(undefined), 1);
    assert.equal(parseEntries(''), 1);
    assert.equal(parseEntries('abc'), 1);
    assert.equal(parseEntries('-3'), 1);
    assert.equal(parseEntries('0'), 1);
    assert.equal(parseEntries('2.5'), 1);
    assert.equal(parseEntries(['2', '3']), 1);
    assert.equal(parseEntries('7'), 7);
    assert.equal(parseEntries('1000'), 1000);
    assert.equal(parseEntries('1001'), MAX_ENTRIES);
    assert.equal(parseEntries('99999999999999999999999'), MAX_ENTRIES);
  });
});
