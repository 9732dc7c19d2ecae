/**
 * Apache Cassandra 5.0 for the embedded backend: `cassandra-all` and its
 * runtime dependencies, copied by Maven into the cache once and reused. The
 * binary tarball is not on Maven Central for 5.0, so the node is started from
 * these jars with the lab's own cassandra.yaml (see config/cassandra.ts).
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../paths.js';
import type { Reporter } from '../progress.js';
import { requireTool } from '../tools.js';
import { runFetch } from './run.js';

export const CASSANDRA_VERSION = process.env.ZDM_LAB_CASSANDRA_VERSION ?? '5.0.9';

export interface CassandraArtifact {
  version: string;
  libDir: string;
  classpath: string;
  jammJar: string;
}

function artifactDir(): string {
  return join(cacheDir, `cassandra-${CASSANDRA_VERSION}`);
}

function pom(version: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>zdm-lab</groupId>
  <artifactId>cassandra-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>${version}</version>
    </dependency>
  </dependencies>
</project>
`;
}

function describe(dir: string): CassandraArtifact {
  const libDir = join(dir, 'lib');
  const jars = readdirSync(libDir).filter((name) => name.endsWith('.jar')).sort();
  const jamm = jars.find((name) => name.startsWith('jamm-'));
  if (!jamm) throw new Error(`${libDir} holds no jamm jar: delete ${dir} and fetch again`);
  return {
    version: CASSANDRA_VERSION,
    libDir,
    classpath: jars.map((name) => join(libDir, name)).join(':'),
    jammJar: join(libDir, jamm),
  };
}

/** Returns the cached jars, fetching them with Maven the first time. */
export async function ensureCassandra(report: Reporter): Promise<CassandraArtifact> {
  const dir = artifactDir();
  const stamp = join(dir, '.complete');
  if (existsSync(stamp)) return describe(dir);
  requireTool('java');
  requireTool('mvn');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'pom.xml'), pom(CASSANDRA_VERSION));
  report(`fetching Apache Cassandra ${CASSANDRA_VERSION} jars with Maven into ${dir}`);
  await runFetch(
    {
      command: 'mvn',
      args: [
        '-B',
        '-ntp',
        'dependency:copy-dependencies',
        '-DincludeScope=runtime',
        '-DoutputDirectory=lib',
        '-Dmdep.useRepositoryLayout=false',
      ],
      cwd: dir,
      itemPattern: /Copying |Downloaded from/,
      what: 'Cassandra jars',
    },
    report,
  );
  writeFileSync(stamp, new Date().toISOString());
  return describe(dir);
}
