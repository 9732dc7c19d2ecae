/**
 * The local Kubernetes cluster the kubernetes backend is tested on, as its
 * user sees it: `infra/kube/cli.ts up` builds the binaries (once; later runs
 * find them in the cache) and starts a real single-node cluster; its node is
 * Ready; a pod from an image built here runs; a command runs in it through
 * the API server's exec stream; the pod reaches the API server through the
 * `kubernetes` Service; it resolves Services and a headless Service's pod
 * through the cluster DNS; it reaches a Service whose endpoint is another
 * pod, and nothing beyond the pod bridge even on a host that forwards
 * elsewhere; and `down`, even after containerd and the kubelet
 * were killed with pods running, leaves nothing behind: no process, no mount
 * under the state folder, no bridge, no cgroup, no packet filter chain. What
 * a cluster leaves on the host when all its processes end without a `down`
 * (a machine whose session stopped; its state in another copy of the lab)
 * does not stop the next `up`, which clears it.
 * Namespaces with their policies are kube-environments' test.
 *
 * Needs root, containerd, runc, the CNI plugins and Go (the first build
 * takes tens of minutes on 2 cores). Outside CI a missing part skips the
 * suite with the reason; under CI=true it fails it.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { API_SERVICE_IP, BRIDGE, clusterStatus, NODE_NAME, stateDir } from '../../infra/kube/cluster.js';
import { DNS_SERVICE_IP } from '../../infra/kube/dns.js';
import { cgroupProcesses, commandLine, mountsUnder, processesMentioning, unmountAll } from '../../infra/kube/host.js';
import { isRunning } from '../../common/processes.js';
import { recordFinding } from '../support/findings.js';
import { assertCliOk, assertNothingLeft, execIn, hostDirsNow, kubeCli as cli, kubeHostProblem as hostProblem, waitForDefaultServiceAccount, waitForPodRunning } from '../support/kube.js';
import { required } from '../support/requirement.js';

const NAMESPACE = 'kube-cluster-test';
/** A network namespace beyond the pod bridge, and the host's end of its link. */
const OUTSIDE_NS = 'zdm-lab-kube-outside';
const OUTSIDE_LINK = 'zdmkubeout0';

const problem = required('local Kubernetes cluster', hostProblem());

describe('a real single-node Kubernetes cluster built on this machine', { skip: problem, timeout: 90 * 60_000 }, () => {
  let config: KubeConfig;
  let core: CoreV1Api;
  let probeImage: string;
  let upSeconds = 0;
  let torn = false;
  /** The host folders the components would create, as they were before the cluster (absent ones must be absent again). */
  const hostDirsBefore = hostDirsNow();

  before(async () => {
    const result = await cli('up');
    assertCliOk(result, 'up');
    upSeconds = result.seconds;
    const kubeconfig = result.stdout.trim().split('\n').at(-1)!;
    config = new KubeConfig();
    config.loadFromFile(kubeconfig);
    core = config.makeApiClient(CoreV1Api);
    const status = await clusterStatus();
    probeImage = status.images.probe;
    assert.ok(probeImage, 'the cluster reports no probe image');
  });

  after(async () => {
    if (!torn) await cli('down');
  });

  test('the node is registered and Ready', async () => {
    const node = await core.readNode({ name: NODE_NAME });
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'True', `node condition Ready: ${JSON.stringify(ready)}`);
    assert.equal(node.status?.nodeInfo?.kubeletVersion, 'v1.37.2');
    assert.match(node.status?.nodeInfo?.containerRuntimeVersion ?? '', /^containerd:\/\//);
  });

  test('a pod from an image built here runs, and a command runs in it through the API server', async () => {
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    await waitForDefaultServiceAccount(core, NAMESPACE);
    await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: {
        metadata: { name: 'probe' },
        spec: {
          containers: [{ name: 'probe', image: probeImage, imagePullPolicy: 'Never' }],
          terminationGracePeriodSeconds: 1,
          automountServiceAccountToken: false,
        },
      },
    });
    const podIp = await waitForPodRunning(core, 'probe', NAMESPACE, 120_000);
    assert.match(podIp, /^10\.213\.0\.\d+$/, 'the pod has an address on the cluster bridge');
    const said = await execIn(config, NAMESPACE, 'probe', ['/probe', 'say', 'hello', 'from', 'the', 'lab']);
    assert.equal(said.status.status, 'Success', JSON.stringify(said.status));
    assert.equal(said.stdout.trim(), 'hello from the lab');
    const hostname = await execIn(config, NAMESPACE, 'probe', ['/probe', 'hostname']);
    assert.equal(hostname.stdout.trim(), 'probe');
    const logs = await core.readNamespacedPodLog({ name: 'probe', namespace: NAMESPACE, container: 'probe' });
    assert.match(logs, /probe running/);
  });

  test('a pod reaches the API server through the kubernetes Service (kube-proxy)', async () => {
    const service = await core.readNamespacedService({ name: 'kubernetes', namespace: 'default' });
    assert.equal(service.spec?.clusterIP, API_SERVICE_IP);
    const connected = await execIn(config, NAMESPACE, 'probe', ['/probe', 'connect', `${API_SERVICE_IP}:443`]);
    assert.equal(connected.status.status, 'Success', JSON.stringify(connected.status));
    assert.equal(connected.stdout.trim(), `connected to ${API_SERVICE_IP}:443`);
  });

  test('a pod resolves the kubernetes Service and a headless Service\'s pod by its host name (cluster DNS)', async () => {
    const dns = await core.readNamespacedService({ name: 'kube-dns', namespace: 'kube-system' });
    assert.equal(dns.spec?.clusterIP, DNS_SERVICE_IP);
    await core.createNamespacedService({ namespace: NAMESPACE, body: { metadata: { name: 'probes' }, spec: { clusterIP: 'None', selector: { app: 'probes' } } } });
    await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: {
        metadata: { name: 'probe-dns', labels: { app: 'probes' } },
        spec: { hostname: 'probe-0', subdomain: 'probes', containers: [{ name: 'probe', image: probeImage, imagePullPolicy: 'Never' }], terminationGracePeriodSeconds: 1, automountServiceAccountToken: false },
      },
    });
    const podIp = await waitForPodRunning(core, 'probe-dns', NAMESPACE, 120_000);
    const api = await execIn(config, NAMESPACE, 'probe-dns', ['/probe', 'resolve', 'kubernetes.default.svc.cluster.local']);
    assert.equal(api.stdout.trim(), API_SERVICE_IP, JSON.stringify(api.status));
    // The headless Service's records follow its endpoints, a moment after the pod is ready.
    let named = { stdout: '', status: {} as object };
    for (let i = 0; i < 20 && named.stdout.trim() !== podIp; i++) {
      if (i > 0) await sleep(500);
      named = await execIn(config, NAMESPACE, 'probe-dns', ['/probe', 'resolve', 'probe-0.probes']);
    }
    assert.equal(named.stdout.trim(), podIp, `probe-0.probes (through the namespace's search path) resolves to the pod: ${JSON.stringify(named.status)}`);
  });

  test('a pod reaches a Service of other pods through the host, and nothing off the pod bridge even when the host forwards elsewhere', async () => {
    await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: {
        metadata: { name: 'probe-web', labels: { app: 'probe-web' } },
        spec: { containers: [{ name: 'probe', image: probeImage, imagePullPolicy: 'Never', command: ['/busybox', 'httpd', '-f', '-p', '8080', '-h', '/'] }], terminationGracePeriodSeconds: 1, automountServiceAccountToken: false },
      },
    });
    const web = await core.createNamespacedService({ namespace: NAMESPACE, body: { metadata: { name: 'probe-web' }, spec: { selector: { app: 'probe-web' }, ports: [{ port: 80, targetPort: 8080 }] } } });
    await waitForPodRunning(core, 'probe-web', NAMESPACE, 120_000);
    const address = `${web.spec?.clusterIP}:80`;
    // kube-proxy follows the Service's endpoints a moment after the pod runs.
    let reached = { stdout: '', status: {} as object };
    for (let i = 0; i < 20 && reached.stdout.trim() !== `connected to ${address}`; i++) {
      if (i > 0) await sleep(500);
      reached = await execIn(config, NAMESPACE, 'probe', ['/probe', 'connect', address]);
    }
    assert.equal(reached.stdout.trim(), `connected to ${address}`, `the probe pod reaches probe-web's Service: ${JSON.stringify(reached.status)}`);

    // A network beyond the bridge, on a host that forwards to and from it (as one with Docker's defaults does).
    const run = (args: string[]) => execFileSync(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    run(['ip', 'netns', 'add', OUTSIDE_NS]);
    try {
      run(['ip', 'link', 'add', OUTSIDE_LINK, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', OUTSIDE_NS]);
      run(['ip', 'addr', 'add', '10.214.0.1/24', 'dev', OUTSIDE_LINK]);
      run(['ip', 'link', 'set', OUTSIDE_LINK, 'up']);
      writeFileSync(`/proc/sys/net/ipv4/conf/${OUTSIDE_LINK}/forwarding`, '1');
      run(['ip', 'netns', 'exec', OUTSIDE_NS, 'ip', 'addr', 'add', '10.214.0.2/24', 'dev', 'eth0']);
      run(['ip', 'netns', 'exec', OUTSIDE_NS, 'ip', 'link', 'set', 'eth0', 'up']);
      run(['ip', 'netns', 'exec', OUTSIDE_NS, 'ip', 'link', 'set', 'lo', 'up']);
      run(['ip', 'netns', 'exec', OUTSIDE_NS, 'ip', 'route', 'add', 'default', 'via', '10.214.0.1']);
      // A listener that takes connections and closes them (python's http.server would first look its own name up in DNS).
      const accept = 'import socket\ns = socket.create_server(("10.214.0.2", 8080))\nwhile True: s.accept()[0].close()';
      const listener = spawn('ip', ['netns', 'exec', OUTSIDE_NS, 'python3', '-c', accept], { stdio: 'ignore' });
      try {
        // The host itself reaches the listener: it is there and answers.
        let hostReached = false;
        for (let i = 0; i < 50 && !hostReached; i++) {
          if (i > 0) await sleep(100);
          hostReached = spawnSync('/bin/busybox', ['sh', '-c', 'echo | /bin/busybox timeout 5 /bin/busybox nc -w 5 10.214.0.2 8080']).status === 0;
        }
        assert.ok(hostReached, 'the host reaches the listener beyond the bridge');
        const beyond = await execIn(config, NAMESPACE, 'probe', ['/probe', 'connect', '10.214.0.2:8080']);
        assert.notEqual(beyond.status.status, 'Success', `a pod reached 10.214.0.2:8080 off the pod bridge: ${beyond.stdout}`);
      } finally {
        listener.kill();
      }
    } finally {
      spawnSync('ip', ['netns', 'delete', OUTSIDE_NS]);
      spawnSync('ip', ['link', 'delete', OUTSIDE_LINK]);
    }
  });

  test('containerd and the kubelet are killed while a pod runs: its shim outlives them', async () => {
    const record = JSON.parse(readFileSync(join(stateDir, 'cluster.json'), 'utf8')) as { processes: { name: string; pid: number }[] };
    for (const daemon of record.processes.filter((p) => p.name === 'containerd' || p.name === 'kubelet')) process.kill(daemon.pid, 'SIGKILL');
    await sleep(500);
    const shims = processesMentioning(stateDir).filter((pid) => commandLine(pid)[0]?.includes('containerd-shim'));
    assert.ok(shims.length > 0, 'the pod\'s shim outlives containerd');
  });

  test('down stops the cluster, the killed daemons\' pod included, and leaves nothing behind', async () => {
    const result = await cli('down');
    torn = true;
    assertCliOk(result, 'down');
    assertNothingLeft(hostDirsBefore);
    recordFinding('kube-cluster', `kube-cluster: up to node Ready ${upSeconds.toFixed(0)} s (binaries cached or built within), down ${result.seconds.toFixed(1)} s, nothing left`);
  });

  test('a cluster of another copy of the lab whose processes all ended without a down (a machine whose session stopped) leaves its bridge; up clears what it left and starts, and down leaves nothing', async () => {
    const other = mkdtempSync(join(tmpdir(), 'zdm-lab-kube-other-'));
    try {
      torn = false;
      assertCliOk(await cli('up', { ZDM_LAB_KUBE_HOME: other }), 'up (the other copy)');
      // Every process of it ends at once, as when the machine's session stops: daemons, shims, pods.
      const doomed = [...processesMentioning(other), ...cgroupProcesses('zdm-lab-kube')];
      for (const pid of doomed) process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 50 && doomed.some(isRunning); i++) await sleep(100);
      assert.deepEqual(doomed.filter(isRunning), [], 'every process of the other cluster ended');
      // Its copy of the lab is not this one: its state is not where this copy looks.
      assert.ok(existsSync(`/sys/class/net/${BRIDGE}`), `the bridge ${BRIDGE} outlives the cluster's processes`);
      assert.ok(mountsUnder(other).length > 0, 'its pods\' network namespaces and volumes stay mounted in its state folder');

      const result = await cli('up');
      assertCliOk(result, 'up');
      assert.match(result.stderr, /a cluster none of whose processes runs is left on this host: removing what that cluster left/);
      assert.deepEqual(mountsUnder(other), [], 'nothing of it is mounted any more');
      const fresh = new KubeConfig();
      fresh.loadFromFile(result.stdout.trim().split('\n').at(-1)!);
      const node = await fresh.makeApiClient(CoreV1Api).readNode({ name: NODE_NAME });
      assert.equal(node.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True', 'the node of the new cluster is Ready');
    } finally {
      unmountAll(other);
      rmSync(other, { recursive: true, force: true });
    }
    const down = await cli('down');
    torn = true;
    assertCliOk(down, 'down');
    // Clearing a cluster that left no record removes the empty ones of those folders, as nobody knows who made them.
    assertNothingLeft(hostDirsBefore, { emptyOnesMayGo: true });
  });
});
