/**
 * The local cluster's certificates and kubeconfigs, made with openssl at
 * each `up` (they live and die with the cluster's state folder): one CA,
 * the API server's serving certificate, a client certificate per component
 * (its user and group are what RBAC and the Node authorizer know it by),
 * and the service-account signing key.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface Identity {
  /** File name stem: <name>.crt, <name>.key, <name>.kubeconfig. */
  name: string;
  user: string;
  groups?: string[];
}

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  serviceAccountKey: string;
  serviceAccountPublicKey: string;
  cert(name: string): string;
  key(name: string): string;
  kubeconfig(name: string): string;
}

function openssl(args: string[], cwd: string): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (result.error) throw new Error(`openssl is needed to make the cluster's certificates (apt-get install openssl): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr.trim()}`);
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const DAYS = '30';

/** A key and a certificate signed by the CA, with the given subject and extensions. */
function issue(dir: string, name: string, subject: string, extensions: string[]): void {
  writeFileSync(join(dir, `${name}.ext`), `${extensions.join('\n')}\n`);
  openssl(['req', '-new', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', DAYS, '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
}

function subjectOf(identity: Identity): string {
  return `${(identity.groups ?? []).map((g) => `/O=${g}`).join('')}/CN=${identity.user}`;
}

function base64(path: string): string {
  return readFileSync(path).toString('base64');
}

/** A kubeconfig with the certificates inline, so that it can be copied anywhere. */
function writeKubeconfig(dir: string, name: string, server: string): void {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'zdm-lab', cluster: { server, 'certificate-authority-data': base64(join(dir, 'ca.crt')) } }],
    users: [{ name, user: { 'client-certificate-data': base64(join(dir, `${name}.crt`)), 'client-key-data': base64(join(dir, `${name}.key`)) } }],
    contexts: [{ name: 'zdm-lab', context: { cluster: 'zdm-lab', user: name } }],
    'current-context': 'zdm-lab',
  };
  writeFileSync(join(dir, `${name}.kubeconfig`), stringify(config), { mode: 0o600 });
}

/**
 * Makes every certificate and kubeconfig under `dir`. The serving
 * certificate names every address the API server is reached at: `serverIps`
 * (its own address and the `kubernetes` Service's) and the Service's DNS names.
 */
export function makePki(dir: string, server: string, serverIps: string[], identities: Identity[]): Pki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  openssl(['req', '-x509', ...KEY, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', DAYS, '-subj', '/CN=zdm-lab-kube-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const names = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];
  const altNames = [...serverIps.map((ip) => `IP:${ip}`), ...names.map((n) => `DNS:${n}`)].join(',');
  issue(dir, 'kube-apiserver', '/CN=kube-apiserver', [
    'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth', `subjectAltName=${altNames}`,
  ]);
  for (const identity of identities) {
    issue(dir, identity.name, subjectOf(identity), ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=clientAuth']);
    writeKubeconfig(dir, identity.name, server);
  }
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'service-account.key'], dir);
  openssl(['pkey', '-in', 'service-account.key', '-pubout', '-out', 'service-account.pub'], dir);
  return pkiAt(dir);
}

/** The paths of a PKI made earlier by makePki. */
export function pkiAt(dir: string): Pki {
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'kube-apiserver.crt'),
    serverKey: join(dir, 'kube-apiserver.key'),
    serviceAccountKey: join(dir, 'service-account.key'),
    serviceAccountPublicKey: join(dir, 'service-account.pub'),
    cert: (name) => join(dir, `${name}.crt`),
    key: (name) => join(dir, `${name}.key`),
    kubeconfig: (name) => join(dir, `${name}.kubeconfig`),
  };
}
