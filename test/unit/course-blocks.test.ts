/**
 * How a fenced block's `### ` info line is read: every variant Katapod pages
 * use, our `waitFor` extension, and each way an info line can be wrong.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseBlock, type BlockContext } from '../../lab/course/blocks.js';

const ctx: BlockContext = { pageId: 'step1', index: 2, language: 'bash', terminals: ['host', 'api'], file: 'step1.md', firstLine: 10 };
const parse = (content: string) => parseBlock(content, ctx);

describe('block info lines', () => {
  it('a block without an info line runs in the first terminal, unlimited', () => {
    const { block, problems } = parse('echo hi\n');
    assert.deepEqual(problems, []);
    assert.match(block.id, /^step1:host-[0-9a-f]{8}$/);
    assert.equal(block.terminalId, 'host');
    assert.equal(block.command, 'echo hi');
    assert.equal(block.execute, true);
    assert.equal(block.maxInvocations, null);
    assert.deepEqual(block.macrosBefore, []);
  });

  it('### termId names the terminal and is not part of the command', () => {
    const { block, problems } = parse('### api\ncurl localhost\n');
    assert.deepEqual(problems, []);
    assert.equal(block.terminalId, 'api');
    assert.equal(block.command, 'curl localhost');
  });

  it('### {"terminalId"} JSON names the terminal', () => {
    assert.equal(parse('### {"terminalId": "api"}\nls\n').block.terminalId, 'api');
  });

  it('reads execute, maxInvocations, macrosBefore, backgroundColor and waitFor', () => {
    const { block, problems } = parse(
      '### {"terminalId": "api", "execute": true, "maxInvocations": 1, "macrosBefore": ["ctrl_c", "no_op"], "backgroundColor": "#ffeecc", "waitFor": "listening on \\\\d+"}\nnpm start\n',
    );
    assert.deepEqual(problems, []);
    assert.equal(block.maxInvocations, 1);
    assert.deepEqual(block.macrosBefore, ['ctrl_c', 'no_op']);
    assert.equal(block.backgroundColor, '#ffeecc');
    assert.equal(block.waitFor, 'listening on \\d+');
  });

  it('"maxInvocations": "unlimited" is Katapod\'s default spelled out', () => {
    assert.equal(parse('### {"maxInvocations": "unlimited"}\nls\n').block.maxInvocations, null);
  });

  it('execute: false makes a display-only block, whose terminal is not checked', () => {
    const { block, problems } = parse('### {"execute": false}\nread_mode: PRIMARY_ONLY\n');
    assert.equal(block.execute, false);
    assert.deepEqual(problems, []);
  });

  it('an unknown key is a warning that names the closest known key, and the block still runs', () => {
    const { block, problems } = parse('### {"terminalId": "api", "waitFro": "ready"}\nls\n');
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.severity, 'warning');
    assert.match(problems[0]!.message, /unknown key "waitFro" in the info line, ignored as Katapod does\. Did you mean "waitFor"\?/);
    assert.equal(block.terminalId, 'api');
    assert.equal(block.waitFor, undefined);
  });

  it('when several info lines exist the last one counts, as in Katapod', () => {
    assert.equal(parse('### host\nls\n### api\n').block.terminalId, 'api');
  });

  it('an empty ### line keeps the default terminal', () => {
    assert.equal(parse('### \nls\n').block.terminalId, 'host');
  });

  it('multi-line commands keep their lines; "#" comments that are not "### " stay', () => {
    assert.equal(parse('### host\n# a comment\ncd /tmp\nls\n').block.command, '# a comment\ncd /tmp\nls');
  });

  it('malformed JSON is a warning at the info line, and the block runs in the first terminal, as Katapod reads it', () => {
    const { block, problems } = parse('echo a\n### {"terminalId": "api",\n');
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.line, 11);
    assert.equal(problems[0]!.file, 'step1.md');
    assert.equal(problems[0]!.severity, 'warning');
    assert.match(problems[0]!.message, /malformed block info line.*As in Katapod, the block runs in the first terminal, "host"/);
    assert.equal(block.terminalId, 'host');
    assert.equal(block.execute, true);
  });

  it('an info line that is neither a word nor a JSON object reads as an unknown terminal', () => {
    const { problems } = parse('### ["api"]\nls\n');
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /unknown terminal id "\["api"\]"/);
  });

  it('an unknown terminal id is a warning naming the declared ones, and the block runs in the first terminal, as in Katapod', () => {
    const { block, problems } = parse('### nowhere\nls\n');
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.line, 10);
    assert.equal(problems[0]!.severity, 'warning');
    assert.match(problems[0]!.message, /unknown terminal id "nowhere"; the block runs in the first terminal, "host", as in Katapod.*host, api/);
    assert.equal(block.terminalId, 'host');
  });

  it('wrong value types are problems, each named', () => {
    const { problems } = parse('### {"terminalId": 3, "execute": "no", "maxInvocations": 1.5, "macrosBefore": "ctrl_c", "backgroundColor": "red;position:fixed", "waitFor": "("}\nls\n');
    const messages = problems.map((p) => p.message).join('\n');
    for (const key of ['terminalId', 'execute', 'maxInvocations', 'macrosBefore', 'backgroundColor', 'waitFor']) assert.match(messages, new RegExp(`"${key}"`));
  });

  it("a wrong value of one of Katapod's keys is a warning, and the block does what Katapod does with it", () => {
    const { block, problems } = parse('### {"terminalId": 3, "execute": "no", "maxInvocations": 1.5, "macrosBefore": "ctrl_c", "backgroundColor": "red;position:fixed"}\nls\n');
    assert.deepEqual(problems.map((p) => p.severity), ['warning', 'warning', 'warning', 'warning', 'warning']);
    assert.equal(block.terminalId, 'host', 'an unknown terminal: the first one');
    assert.equal(block.execute, true, 'only false keeps a block from running');
    assert.equal(block.maxInvocations, 2, 'Katapod runs it while its count is below 1.5');
    assert.deepEqual(block.macrosBefore, []);
    assert.equal(block.backgroundColor, undefined);
    assert.equal(parse('### {"maxInvocations": "none"}\nls\n').block.maxInvocations, 0, 'a count is never below "none"');
    assert.equal(parse('### {"maxInvocations": -1}\nls\n').block.maxInvocations, 0);
  });

  it('a wrong value of our own keys is an error', () => {
    const { problems } = parse('### {"waitFor": "(", "waitForTerminal": 2, "waitForSeconds": 0}\nls\n');
    assert.deepEqual(problems.map((p) => [p.severity, p.message.match(/"(\w+)"/)![1]]), [['error', 'waitFor'], ['error', 'waitForTerminal'], ['error', 'waitForSeconds']]);
  });

  it('an unknown macro is a warning and skipped, as Katapod skips it', () => {
    const { block, problems } = parse('### {"macrosBefore": ["ctrl_z", "ctrl_c"]}\nls\n');
    assert.equal(problems[0]!.severity, 'warning');
    assert.match(problems[0]!.message, /unknown macro "ctrl_z"/);
    assert.deepEqual(block.macrosBefore, ['ctrl_c']);
  });
});
