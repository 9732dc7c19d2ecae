/**
 * Sealing learner environments off from each other and from the lab, when
 * the lab server runs as root. Environment K gets:
 *
 * - its own Unix account `zdmlab-K` (created on demand, removed on
 *   destroy), whose home is a private folder (0700) of the data folder.
 *   Every process of the environment (terminals, the course's setup, reset,
 *   check, status and teardown commands, and all they start) runs as that
 *   account, with no supplementary groups, no capabilities and
 *   no_new_privs (setuid programs cannot give root back);
 * - a control group with a memory, task and CPU budget (cgroups.ts), which
 *   every one of those processes joins before it drops root;
 * - packet filter rules (nftables, matching the account with `meta skuid`):
 *   on 127.0.0.0/8 and ::1 the account opens connections to its own loopback block
 *   127.0.K.0/24 (the address plan's block of environment K) and the lab
 *   server's port, nothing else, so another environment's nodes, proxies,
 *   API and metrics, and every other local port, are out of its reach.
 *
 * Only the lab server's own state (server.json, the progress database, the
 * token key) stays root's, 0600 in a 0711 folder.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, fchmodSync, fchownSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { closedFolderOn } from '../../common/paths.js';
import { cgroupProblem, EnvironmentCgroup, type Budget } from './cgroups.js';

/** Highest environment number with a loopback block of its own (127.0.K.0/24). */
const LAST_BLOCK = 254;
const TOOLS = ['useradd', 'userdel', 'setpriv', 'nft'] as const;

export function accountName(env: number): string {
  return `zdmlab-${env}`;
}

/**
 * Why this process cannot isolate environments, or undefined when it can.
 * `paths` are what every environment's account must reach (the course, the
 * lab's commands).
 */
export function isolationProblem(paths: string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return 'the lab server does not run as root (creating accounts, control groups and packet filter rules needs it)';
  for (const path of paths) {
    const closed = closedFolderOn(path);
    if (closed) return `${closed} is closed to other accounts, so a learner's account could not reach ${path}; move the project somewhere every account can pass (e.g. /opt)`;
  }
  const path = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin']);
  const missing = TOOLS.filter((t) => !path.some((dir) => existsSync(join(dir, t))));
  if (missing.length) return `missing ${missing.join(', ')} (apt-get install passwd util-linux nftables)`;
  // Present is not working (root in a container without the capabilities, a kernel without nf_tables): a rule set is checked, not applied.
  try {
    execFileSync('nft', ['--check', '-f', '-'], { input: 'table inet zdmlab-probe {\n  chain output {\n    type filter hook output priority 0; policy accept;\n    meta skuid 0 ip saddr != { 127.0.0.1 } ct original ip daddr 10.0.0.0/8 accept\n  }\n}\n', stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (err) {
    return `nftables does not work here (${((err as { stderr?: Buffer }).stderr?.toString() || (err as Error).message).trim().split('\n')[0]}), so the packet filter rules cannot be set`;
  }
  return cgroupProblem();
}

/**
 * Runs a system tool and waits for it: account, rule and group changes take
 * milliseconds, and an environment's creation must not be half done when the
 * first terminal asks for its account.
 */
function tool(command: string, args: string[], input?: string): string {
  try {
    return execFileSync(command, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** uid and gid of an account, from /etc/passwd; undefined when there is none. */
function lookupAccount(name: string): { uid: number; gid: number } | undefined {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

/** Live processes owned by `uid`, read from /proc (a process that ends meanwhile is left out). */
export function processesOf(uid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      const m = /^Uid:\s+(\d+)/m.exec(status);
      if (m && Number(m[1]) === uid && !/^State:\s+Z/m.test(status)) pids.push(Number(name));
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}

export interface SandboxOptions {
  env: number;
  /** The environment's private home, made and owned by its account. */
  home: string;
  /** Folders the environment writes (its working folder), made and owned by its account. */
  owned: string[];
  budget: Budget;
  /** The lab server's ports (its own, its Docker gateway's), the only local ports the account may reach outside its block; 0 while unknown. */
  labPorts: () => number[];
  /** More of the environment's processes' variables (e.g. the Docker gateway's address and token). */
  variables?: Record<string, string>;
  /** The environment's control group (default: `zdmlab-env-K` under the lab server's own); on the Docker backend, the one its containers go in too, so that one budget holds both. */
  cgroup?: EnvironmentCgroup;
  /** Removes what else may hold that group (the environment's containers), before the group itself is removed. */
  release?: () => Promise<void>;
}

/**
 * Makes `dir` a folder of the account's, mode 0700. Some of these folders sit
 * in a folder the account owns, where a learner may have put a link (to
 * /etc, say) in place of one: a link or file there is removed (unlinking
 * never follows it), and the folder is changed through a handle opened
 * without following links, so root never changes what a link points to.
 */
export function ownDirectory(dir: string, uid: number, gid: number): void {
  const found = lstatSync(dir, { throwIfNoEntry: false });
  if (found && !found.isDirectory()) rmSync(dir, { force: true });
  mkdirSync(dir, { recursive: true });
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    throw new Error(`${dir} was replaced while the lab prepared it (${(error as NodeJS.ErrnoException).code}); start the lab again`);
  }
  try {
    fchownSync(fd, uid, gid);
    fchmodSync(fd, 0o700);
  } finally {
    closeSync(fd);
  }
}

/** One environment's account, control group and rules. */
export class Sandbox {
  readonly account: string;
  readonly home: string;
  readonly cgroup: EnvironmentCgroup;
  private ids: { uid: number; gid: number } | undefined;

  private current: Budget;

  constructor(private readonly opts: SandboxOptions) {
    this.current = opts.budget;
    this.account = accountName(opts.env);
    this.home = opts.home;
    this.cgroup = opts.cgroup ?? new EnvironmentCgroup(`zdmlab-env-${opts.env}`);
  }

  get uid(): number {
    if (!this.ids) throw new Error(`environment ${this.opts.env}: its account is not set up yet`);
    return this.ids.uid;
  }

  /** The account's uid, or undefined while it is not set up. */
  get uidIfOpen(): number | undefined {
    return this.ids?.uid;
  }

  /**
   * Creates the account, the folders, the control group and the packet
   * filter rules, or takes over those an earlier start of the lab left (its
   * nodes may still run in them, within the same budget).
   */
  open(): void {
    let ids = lookupAccount(this.account);
    if (!ids) {
      tool('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', this.home, '--shell', '/bin/bash', '--comment', `ZDM Lab environment ${this.opts.env}`, this.account]);
      ids = lookupAccount(this.account);
      if (!ids) throw new Error(`useradd made no account ${this.account}`);
    }
    this.ids = ids;
    for (const dir of [this.home, join(this.home, 'tmp'), ...this.opts.owned]) ownDirectory(dir, ids.uid, ids.gid);
    this.cgroup.create(this.current);
    this.applyRules();
  }

  /**
   * The command line that runs `command` in this environment: a shell (as
   * root, for one instant) writes its own pid into the control groups, then
   * setpriv drops to the account and execs the command, so nothing of the
   * environment starts outside its budget or as root.
   */
  wrap(command: string, args: string[]): { command: string; args: string[] } {
    const { uid, gid } = this.ids ?? { uid: -1, gid: -1 };
    if (uid < 0) throw new Error(`environment ${this.opts.env}: its account is not set up yet`);
    const enter = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';
    const drop = ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all', '--'];
    return { command: '/bin/sh', args: ['-c', enter, 'lab-enter', ...this.cgroup.procsFiles, '--', ...drop, command, ...args] };
  }

  get budget(): Budget {
    return this.current;
  }

  /** A new budget for the running environment (the kernel refuses a memory limit below what it uses now). */
  setBudget(budget: Budget): void {
    this.cgroup.create(budget);
    this.current = budget;
  }

  /** The environment variables of the account, and the services the lab gives it (its shells see these besides the course's). */
  get identity(): Record<string, string> {
    return { ...this.opts.variables, HOME: this.home, USER: this.account, LOGNAME: this.account, SHELL: '/bin/bash', TMPDIR: join(this.home, 'tmp') };
  }

  /**
   * Ends every process of the account: `kill -KILL -1` as the account
   * itself (one call that reaches all of them, a fork bomb's newest
   * children too), repeated until /proc shows none.
   */
  killAll(): void {
    const { uid } = this.ids!;
    for (let round = 0; round < 100; round++) {
      const left = [...new Set([...processesOf(uid), ...this.cgroup.members()])];
      if (left.length === 0) return;
      this.shellAsAccount('kill -KILL -1');
      // Processes still in the group that run as another uid (a root wrapper an instant before setpriv).
      for (const pid of this.cgroup.members()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      pause(100);
    }
    throw new Error(`${this.account}: processes still running after 100 rounds of kill: ${processesOf(uid).join(', ')}`);
  }

  /**
   * Removes what the account left in the folders every account shares (/tmp,
   * /var/tmp, /dev/shm) and its System V IPC objects: a later account given
   * the same uid would own them. Done as the account itself, which can
   * remove only its own.
   */
  private removeLeftovers(): void {
    this.shellAsAccount(`find /tmp /var/tmp /dev/shm -xdev -user ${this.ids!.uid} -delete 2>/dev/null; ipcrm --all 2>/dev/null`);
  }

  /** A short shell script run as the account (root's own tools acting on the account's things); its failure is ignored (nothing was left to act on). */
  private shellAsAccount(script: string): void {
    const { uid, gid } = this.ids!;
    try {
      tool('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', '/bin/sh', '-c', script]);
    } catch {
      // nothing left to act on
    }
  }

  /** Removes everything of the environment: processes, rules, control group, account and folders. */
  async close(): Promise<void> {
    if (this.ids) {
      this.killAll();
      this.removeLeftovers();
    }
    this.dropRules();
    // A failure here shows below as the group still in use; the environment's destroy tells the instructor what the release said.
    await this.opts.release?.().catch(() => undefined);
    await this.cgroup.remove();
    for (const dir of [this.home, ...this.opts.owned]) rmSync(dir, { recursive: true, force: true });
    if (lookupAccount(this.account)) tool('userdel', [this.account]);
    this.ids = undefined;
  }

  private get table(): string {
    return `zdmlab-env-${this.opts.env}`;
  }

  /** Rules are applied (again) whenever the lab port is known or changes. */
  applyRules(): void {
    const { uid } = this.ids!;
    const env = this.opts.env;
    const own = env <= LAST_BLOCK ? [`    meta skuid ${uid} ip daddr 127.0.${env}.0/24 accept`] : [];
    const lab = this.opts.labPorts().filter((port) => port > 0).flatMap((port) => [
      `    meta skuid ${uid} ip daddr 127.0.0.1 tcp dport ${port} accept`,
      `    meta skuid ${uid} ip6 daddr ::1 tcp dport ${port} accept`,
    ]);
    const ruleset = [
      `table inet ${this.table}`,
      `delete table inet ${this.table}`,
      `table inet ${this.table} {`,
      '  chain output {',
      '    type filter hook output priority 0; policy accept;',
      // Nothing the account sends may come from another environment's addresses: a server it bound there (before the lab's guard stops it) answers nobody.
      ...(env <= LAST_BLOCK ? [`    meta skuid ${uid} ip saddr 127.0.0.0/8 ip saddr != { 127.0.0.1, 127.0.${env}.0/24 } drop`] : []),
      // Answers on connections made to the environment (the lab's own clients, the environment's own) pass: only new connections are judged.
      '    ct state established,related accept',
      // Containers' networks and the host's private addresses (another environment's containers on the Docker backend) are out of reach; the environment's own containers are reached through its published ports.
      `    meta skuid ${uid} ct original ip daddr { 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 } reject with icmpx admin-prohibited`,
      ...own,
      ...lab,
      `    meta skuid ${uid} ip daddr 127.0.0.0/8 reject with icmpx admin-prohibited`,
      `    meta skuid ${uid} ip6 daddr ::1 reject with icmpx admin-prohibited`,
      '  }',
      '}',
      '',
    ].join('\n');
    tool('nft', ['-f', '-'], ruleset);
  }

  private dropRules(): void {
    tool('nft', ['-f', '-'], `table inet ${this.table}\ndelete table inet ${this.table}\n`);
  }
}
