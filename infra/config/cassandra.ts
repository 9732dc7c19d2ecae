/**
 * Everything a Cassandra 5.0 node started from the jars needs and the jars do
 * not ship: cassandra.yaml, a logback configuration and the JVM options of the
 * distribution's jvm-server.options / jvm17-server.options, plus the settings
 * that make a single lab node start in seconds (no gossip settling, short ring
 * delay, no superuser setup delay, no auto snapshots, a small heap).
 */
import { join } from 'node:path';
import type { CassandraArtifact } from '../artifacts/cassandra.js';
import type { NodeSpec } from '../topology.js';

export const HEAP = process.env.ZDM_LAB_CASSANDRA_HEAP ?? '512M';

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

export function cassandraYaml(node: NodeSpec): string {
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
concurrent_reads: 8
concurrent_writes: 16
concurrent_counter_writes: 8
concurrent_compactors: 1
memtable_heap_space: 96MiB
memtable_offheap_space: 96MiB
key_cache_size: 8MiB
counter_cache_size: 0MiB
prepared_statements_cache_size: 8MiB
read_request_timeout: 10000ms
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

export function javaArgs(node: NodeSpec, artifact: CassandraArtifact): string[] {
  const paths = nodePaths(node);
  return [
    `-Xms${HEAP}`,
    `-Xmx${HEAP}`,
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
    '-Dcassandra.skip_wait_for_gossip_to_settle=0',
    '-Dcassandra.ring_delay_ms=100',
    '-Dcassandra.superuser_setup_delay_ms=0',
    '-Dcassandra.available_processors=2',
    '-Dcassandra-foreground=yes',
    // Tags the process so `infra status` can tell this node from a reused pid.
    `-Dzdm.lab.component=${node.dir}`,
    '-cp',
    artifact.classpath,
    'org.apache.cassandra.service.CassandraDaemon',
  ];
}
