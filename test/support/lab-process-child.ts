/**
 * The lab server of test/support/lab-process.ts, in a process of its own:
 * started with the options it is given (argv[2], JSON), it closes on SIGTERM
 * as `npm start` does, and dies on SIGKILL with nothing written afterwards.
 * Over the IPC channel it answers what only the server's own process can: it
 * watches a block with the autopilot's waiting rules, reports an isolated
 * environment's memory and CPU, and destroys an environment.
 */
import { expectBlock, type BlockWait } from '../../lab/autopilot/play.js';
import { renderPage } from '../../lab/course/render.js';
import { startLab, type LabOptions, type LabServer } from '../../lab/server/app.js';
import type { ChildRequest, ChildMessage } from './lab-process.js';

const send = (message: ChildMessage) => process.send!(message);
const options = JSON.parse(process.argv[2]!) as LabOptions;

let lab: LabServer;
try {
  lab = await startLab(options);
} catch (err) {
  send({ kind: 'failed', message: (err as Error).message });
  process.exit(1);
}
const waits = new Map<number, BlockWait>();

async function answer(request: ChildRequest): Promise<ChildMessage> {
  const env = lab.environments.get(request.env);
  if (!env) throw new Error(`environment ${request.env} is not hosted`);
  switch (request.kind) {
    case 'expect': {
      const spec = lab.course.pages.find((p) => p.id === request.page);
      const block = spec && renderPage(lab.course, spec).blocks.find((b) => b.id === request.block);
      if (!block) throw new Error(`no block ${request.block} on page ${request.page}`);
      const wait = expectBlock(env, block);
      waits.set(request.id, wait);
      // Watching from now on: the parent clicks after this answer, then asks for the settling.
      return { kind: 'done', id: request.id };
    }
    case 'settled': {
      const wait = waits.get(request.wait);
      if (!wait) throw new Error(`no block is watched as ${request.wait}`);
      waits.delete(request.wait);
      try {
        await wait.settled();
      } finally {
        wait.cancel();
      }
      return { kind: 'done', id: request.id };
    }
    case 'stats': {
      const cgroup = env.sandbox?.cgroup;
      return { kind: 'stats', id: request.id, peak: cgroup?.memory().peak, cpu: cgroup?.cpuSeconds(), budget: lab.course.environments.memoryBytes };
    }
    case 'destroy':
      await lab.classroom.destroy(request.env);
      return { kind: 'done', id: request.id };
  }
}

process.on('message', (request: ChildRequest) => {
  answer(request).then(send, (err: Error) => send({ kind: 'error', id: request.id, message: err.message }));
});
let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void lab.close().then(() => process.exit(0));
});
send({ kind: 'ready', openUrl: lab.openUrl, token: lab.token, port: lab.port });
