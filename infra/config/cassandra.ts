/**
 * Everything a Cassandra 5.0 node started from the jars needs and the jars do
 * not ship: cassandra.yaml, a logback configuration and the JVM options of the
 * distribution's jvm-server.options / jvm17-server.options, plus the settings
 * that make a single lab node start in seconds (no gossip settling, short ring
 * delay, no superuser setup delay, no auto snapshots, a small heap).
 *
 * A lab node holds a few hundred rows, so its settings are sized for that
 * (the `small` profile): a heap of 64 MiB growing up to 256 MiB, the serial collector, the C1
 * compiler only, few threads in every pool, small memtables, caches and
 * buffers, and two malloc arenas. The `previous` profile (512 MiB heap, G1,
 * both compilers, the pools sized for a server) is kept only so that
 * bench/nodes.ts can measure both in one run (ZDM_LAB_NODE_PROFILE=previous).
 */
import { join } from 'node:path';
import type { CassandraArtifact } from '../artifacts/cassandra.js';
import type { NodeSpec } from '../topology.js';

export type NodeProfile = 'small' | 'previous';

export function nodeProfile(): NodeProfile {
  const value = process.env.ZDM_LAB_NODE_PROFILE ?? 'small';
  if (value === 'small' || value === 'previous') return value;
  throw new Error(`ZDM_LAB_NODE_PROFILE=${value}: use small (the default) or previous`);
}

/** The node's heap (-Xms and -Xmx), unless ZDM_LAB_CASSANDRA_HEAP gives one. */
export function heapOf(profile: NodeProfile): string {
  return process.env.ZDM_LAB_CASSANDRA_HEAP ?? (profile === 'small' ? '256M' : '512M');
}

/**
 * The heap the Docker backend gives its image (MAX_HEAP_SIZE, both -Xms and
 * -Xmx there): the small profile's ceiling, with its options in the image,
 * so that an environment's containers fit the budget the course declares.
 */
export const HEAP = heapOf('small');

export function nodePaths(node: NodeSpec) {
  return {
    conf: join(node.dir, 'conf'),
    yaml: join(node.dir, 'conf', 'cassandra.yaml'),
    logback: join(node.dir, 'conf', 'logback.xml'),
    data: join(node.dir, 'data'),
    logs: join(node.dir, 'logs'),
    log: join(node.dir, 'logs', 'system.log'),
  };
}

/** Pools, memtables, caches and buffers of the previous profile: Cassandra's defaults, trimmed a little. */
const PREVIOUS_SIZES = `concurrent_reads: 8
concurrent_writes: 16
concurrent_counter_writes: 8
concurrent_compactors: 1
memtable_heap_space: 96MiB
memtable_offheap_space: 96MiB
key_cache_size: 8MiB
counter_cache_size: 0MiB
prepared_statements_cache_size: 8MiB
`;

/**
 * The small profile: a lab's keyspaces hold kilobytes, a handful of clients
 * connect (the API, three proxies, cqlsh, the migrator), and nothing needs
 * more than a few threads. Each pool, cache and buffer Cassandra sizes from
 * the heap or the cores by default is given a size of its own here.
 */
const SMALL_SIZES = `concurrent_reads: 4
concurrent_writes: 4
concurrent_counter_writes: 2
concurrent_materialized_view_writes: 1
concurrent_compactors: 1
memtable_flush_writers: 1
native_transport_max_threads: 16
compaction_throughput: 16MiB/s
memtable_heap_space: 32MiB
memtable_offheap_space: 16MiB
file_cache_size: 16MiB
networking_cache_size: 8MiB
key_cache_size: 2MiB
row_cache_size: 0MiB
counter_cache_size: 0MiB
prepared_statements_cache_size: 4MiB
index_summary_capacity: 2MiB
`;

export function cassandraYaml(node: NodeSpec, profile: NodeProfile = nodeProfile()): string {
  const { data } = nodePaths(node);
  return `# cassandra.yaml for the ${node.name} node of a ZDM lab environment
cluster_name: ${node.clusterName}
num_tokens: 16
allocate_tokens_for_local_replication_factor: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
authenticator: PasswordAuthenticator
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
network_authorizer: AllowAllNetworkAuthorizer
data_file_directories:
  - ${join(data, 'data')}
commitlog_directory: ${join(data, 'commitlog')}
saved_caches_directory: ${join(data, 'saved_caches')}
hints_directory: ${join(data, 'hints')}
cdc_raw_directory: ${join(data, 'cdc_raw')}
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 8MiB
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "${node.address}:7000"
listen_address: ${node.address}
rpc_address: ${node.address}
storage_port: 7000
native_transport_port: ${node.port}
start_native_transport: true
endpoint_snitch: SimpleSnitch
auto_snapshot: false
snapshot_before_compaction: false
${profile === 'small' ? SMALL_SIZES : PREVIOUS_SIZES}read_request_timeout: 10000ms
write_request_timeout: 5000ms
range_request_timeout: 20000ms
request_timeout: 20000ms
dynamic_snitch: false
hinted_handoff_enabled: false
user_defined_functions_enabled: false
materialized_views_enabled: false
sasi_indexes_enabled: false
disk_failure_policy: stop
commit_failure_policy: stop
`;
}

export function logbackXml(node: NodeSpec): string {
  const { log } = nodePaths(node);
  return `<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>${log}</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>${log}.%i.zip</fileNamePattern>
      <minIndex>1</minIndex>
      <maxIndex>3</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy">
      <maxFileSize>20MB</maxFileSize>
    </triggeringPolicy>
    <encoder>
      <pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="FILE" />
  </root>
</configuration>
`;
}

/** The distribution's Java 17 module flags (conf/jvm17-server.options). */
const JAVA17_MODULE_FLAGS = [
  '-Djdk.attach.allowAttachSelf=true',
  '--add-exports', 'java.base/jdk.internal.misc=ALL-UNNAMED',
  '--add-exports', 'java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED',
  '--add-exports', 'java.rmi/sun.rmi.registry=ALL-UNNAMED',
  '--add-exports', 'java.rmi/sun.rmi.server=ALL-UNNAMED',
  '--add-exports', 'java.sql/java.sql=ALL-UNNAMED',
  '--add-exports', 'java.base/java.lang.ref=ALL-UNNAMED',
  '--add-exports', 'jdk.unsupported/sun.misc=ALL-UNNAMED',
  '--add-exports', 'jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED',
  '--add-exports', 'jdk.attach/sun.tools.attach=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang.module=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.loader=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.reflect=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.math=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.module=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.util.jar=ALL-UNNAMED',
  '--add-opens', 'jdk.management/com.sun.management.internal=ALL-UNNAMED',
  '--add-opens', 'java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens', 'java.base/java.io=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang.reflect=ALL-UNNAMED',
  '--add-opens', 'jdk.compiler/com.sun.tools.javac=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang=ALL-UNNAMED',
  '--add-opens', 'java.base/java.util=ALL-UNNAMED',
  '-Dio.netty.tryReflectionSetAccessible=true',
  '-Dio.netty.allocator.useCacheForAllThreads=true',
  '-Dio.netty.allocator.maxOrder=11',
];

/** The previous profile's heap, collector and compiler: the distribution's G1 settings. */
const PREVIOUS_JVM = [
  '-Xss256k',
  '-XX:+UseG1GC',
  '-XX:+ParallelRefProcEnabled',
  '-XX:MaxTenuringThreshold=1',
  '-XX:MaxGCPauseMillis=300',
  '-XX:+UseThreadPriorities',
  '-XX:+PerfDisableSharedMem',
  '-XX:MaxDirectMemorySize=256M',
  '-XX:ReservedCodeCacheSize=64M',
  '-XX:CICompilerCount=2',
  '-XX:+UseTLAB',
];

/**
 * The small profile's: the serial collector (no concurrent threads, no
 * remembered sets: G1's native overhead is tens of MiB on a small heap), the
 * C1 compiler alone (it compiles sooner and keeps less code; a lab node never
 * runs long enough for C2 to pay back), and bounds on every native area.
 */
const SMALL_JVM = [
  '-Xss256k',
  '-XX:+UseSerialGC',
  // The heap grows only as far as it must to keep 20% free after a collection, and gives back what is over 40%.
  '-XX:MinHeapFreeRatio=20',
  '-XX:MaxHeapFreeRatio=40',
  '-XX:+UseThreadPriorities',
  '-XX:+PerfDisableSharedMem',
  '-XX:TieredStopAtLevel=1',
  '-XX:CICompilerCount=1',
  '-XX:ReservedCodeCacheSize=32M',
  '-XX:MaxMetaspaceSize=160M',
  '-XX:CompressedClassSpaceSize=64M',
  '-XX:MaxDirectMemorySize=128M',
  '-XX:+UseTLAB',
  // Netty's pooled allocator keeps one arena per core (16 MiB chunks each): one arena is plenty for a handful of connections.
  '-Dio.netty.allocator.numDirectArenas=1',
  '-Dio.netty.allocator.numHeapArenas=1',
];

/** The node's environment: two malloc arenas instead of glibc's eight per core, each of which keeps freed memory resident. */
export function nodeEnvironment(profile: NodeProfile = nodeProfile()): Record<string, string> {
  return profile === 'small' ? { MALLOC_ARENA_MAX: '2' } : {};
}

/**
 * The start-up settings of a lab node, whatever runs it: a single node
 * starts without waiting for gossip or ring delay, sets up its superuser at
 * once, and sizes its pools for two cores. The Docker and Kubernetes nodes
 * get them through the image's JVM_EXTRA_OPTS.
 */
export const FAST_START = [
  '-Dcassandra.skip_wait_for_gossip_to_settle=0',
  '-Dcassandra.ring_delay_ms=100',
  '-Dcassandra.superuser_setup_delay_ms=0',
  '-Dcassandra.available_processors=2',
];

/** The small profile's starting heap: a heap committed at once is a heap resident at once. */
export const SMALL_START_HEAP = '64M';

export function javaArgs(node: NodeSpec, artifact: CassandraArtifact, profile: NodeProfile = nodeProfile()): string[] {
  const paths = nodePaths(node);
  const heap = heapOf(profile);
  return [
    // The small profile starts with a small heap that grows as needed: a heap committed at once is a heap resident at once.
    profile === 'small' && !process.env.ZDM_LAB_CASSANDRA_HEAP ? `-Xms${SMALL_START_HEAP}` : `-Xms${heap}`,
    `-Xmx${heap}`,
    ...(profile === 'small' ? SMALL_JVM : PREVIOUS_JVM),
    '-ea',
    '-da:net.openhft...',
    '-Djava.net.preferIPv4Stack=true',
    ...JAVA17_MODULE_FLAGS,
    `-javaagent:${artifact.jammJar}`,
    `-Dcassandra.config=file://${paths.yaml}`,
    `-Dlogback.configurationFile=file://${paths.logback}`,
    `-Dcassandra.logdir=${paths.logs}`,
    `-Dcassandra.storagedir=${paths.data}`,
    // No JMX port: nothing of the lab uses JMX, and a local JMX port has no password and sits on 127.0.0.1, which every account shares.
    ...FAST_START,
    '-Dcassandra.approximate_time_precision_ms=10',
    // Passwords the lab sets are hashed with 2^4 bcrypt rounds instead of 2^10: every login costs the
    // node a bcrypt check (each cqlsh, each proxy connection to each cluster), ~64 times cheaper so.
    // The lab's passwords are long and random, and its nodes listen on the environment's own addresses.
    // A proxy gives up a connection's background reads on Target when its login takes over 4 s
    // (async_handshake_timeout_ms), as it could on a busy host right after Target restarts.
    '-Dcassandra.auth_bcrypt_gensalt_log2_rounds=4',
    '-Dcassandra-foreground=yes',
    // Tags the process so `infra status` can tell this node from a reused pid.
    `-Dzdm.lab.component=${node.dir}`,
    '-cp',
    artifact.classpath,
    'org.apache.cassandra.service.CassandraDaemon',
  ];
}
