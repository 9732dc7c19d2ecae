/**
 * Volumes on the local cluster, which has no provisioner: a StorageClass
 * `zdm-lab-local` that provisions nothing, and for each claim a workload
 * will make a local PersistentVolume (a folder of the state folder, on the
 * cluster's one node) bound to that claim in advance. The pods of a learner
 * namespace then mount an ordinary PersistentVolumeClaim, as Pod Security
 * `restricted` wants; the folder is the kubelet's to mount (its fsGroup
 * makes it the pod's group's), never a hostPath of theirs. On another
 * cluster the backend's StatefulSets take that cluster's StorageClass
 * instead, and none of this is needed.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type KubernetesObject, type V1PersistentVolume } from '@kubernetes/client-node';
import { NODE_NAME, stateDir } from './cluster.js';
import { applyObjects, LABELS } from './environment.js';

export const LOCAL_STORAGE_CLASS = 'zdm-lab-local';
const volumesDir = join(stateDir, 'volumes');

/** A claim a workload will make: the StatefulSet's `<template>-<pod>` name, in its namespace, of this size. */
export interface Claim {
  namespace: string;
  name: string;
  size: string;
}

function volumeName(claim: Claim): string {
  return `${claim.namespace}-${claim.name}`;
}

export function localVolumeObjects(claims: Claim[]): KubernetesObject[] {
  const storageClass = {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: LOCAL_STORAGE_CLASS, labels: { [LABELS.managedBy]: 'zdm-lab' } },
    provisioner: 'kubernetes.io/no-provisioner',
    volumeBindingMode: 'WaitForFirstConsumer',
    reclaimPolicy: 'Retain',
  };
  const volumes = claims.map(
    (claim): V1PersistentVolume => ({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: volumeName(claim), labels: { [LABELS.managedBy]: 'zdm-lab', 'zdmlab.io/namespace': claim.namespace } },
      spec: {
        capacity: { storage: claim.size },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: LOCAL_STORAGE_CLASS,
        local: { path: join(volumesDir, volumeName(claim)) },
        // Bound to its claim before the claim exists: no other claim can take it.
        claimRef: { namespace: claim.namespace, name: claim.name },
        nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [NODE_NAME] }] }] } },
      },
    }),
  );
  return [storageClass, ...volumes];
}

/** Makes the StorageClass and a local volume (its folder, empty) for each claim that has none yet. */
export async function provideLocalVolumes(config: KubeConfig, claims: Claim[]): Promise<void> {
  for (const claim of claims) mkdirSync(join(volumesDir, volumeName(claim)), { recursive: true, mode: 0o700 });
  await applyObjects(config, localVolumeObjects(claims), 'the local volumes');
}

/** Deletes the local volumes made for a namespace's claims, and their folders (once its pods are gone). */
export async function releaseLocalVolumes(config: KubeConfig, namespace: string): Promise<string[]> {
  const core = config.makeApiClient(CoreV1Api);
  const volumes = (await core.listPersistentVolume({ labelSelector: `zdmlab.io/namespace=${namespace}` })).items;
  for (const volume of volumes) {
    const name = volume.metadata!.name!;
    await core.deletePersistentVolume({ name });
    rmSync(join(volumesDir, name), { recursive: true, force: true });
  }
  return volumes.map((v) => v.metadata!.name!);
}
