/**
 * examples/k8s-indexed-job.yaml: the shard pods' shell script, run as Kubernetes runs it (sh -c as
 * the container's PID 1, in its own PID namespace when `unshare` allows; plain sh otherwise), with
 * `imgpipe` on PATH. Kubernetes stops a pod by sending SIGTERM to PID 1 only, and a shell there
 * ignores it: the script must pass it on, or imgpipe runs on until it is killed -9.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { shardOf } from '../src/pipeline/shard.js';
import { BIN, ROOT, makeImages, query, scratch } from './helpers.js';

const EXAMPLE = path.join(ROOT, 'examples', 'k8s-indexed-job.yaml');

/** The block scalar (`- |`) under the first `args:`: the shard container's script. */
function shardScript(): string {
  const lines = readFileSync(EXAMPLE, 'utf8').split('\n');
  const start = lines.findIndex((line, i) => line.trim() === '- |' && lines[i - 1]!.trim() === 'args:');
  expect(start, 'the shard container runs a block-scalar script (args: - |)').toBeGreaterThan(-1);
  const indent = lines[start + 1]!.length - lines[start + 1]!.trimStart().length;
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() !== '' && line.length - line.trimStart().length < indent) break;
    body.push(line.slice(indent));
  }
  return body.join('\n');
}

const AS_PID_1 = process.getuid?.() === 0 && spawnSync('unshare', ['-fp', '--mount-proc', 'true']).status === 0;

/** The pid of the shell: unshare's child when it makes a namespace, else the shell itself. */
function shellPid(pid: number): number | undefined {
  if (!AS_PID_1) return pid;
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return children ? Number(children.split(/\s+/)[0]) : undefined;
  } catch {
    return undefined;
  }
}

describe('examples/k8s-indexed-job.yaml', () => {
  it(`SIGTERM to the pod's shell${AS_PID_1 ? ' (PID 1 of its namespace)' : ''} reaches imgpipe: the run stops in order (exit 130, recorded interrupted, lock released); exit 1 counts as success`, async () => {
    const work = scratch();
    const photos = path.join(work, 'photos');
    await makeImages(photos, 40, [32, 24]);
    // A file that fails, in this pod's shard (index 0: shard 1 of the script's --shard-count).
    const shards = Number(/--shard-count (\d+)/.exec(shardScript())?.[1]);
    let n = 0;
    while (shardOf(`broken-${n}.jpg`, shards) !== 1) n += 1;
    const broken = `broken-${n}.jpg`;
    writeFileSync(path.join(photos, broken), 'not an image');
    const results = path.join(work, 'results');
    mkdirSync(path.join(results, 'ledgers'), { recursive: true });
    const bin = path.join(work, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'imgpipe'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
    chmodSync(path.join(bin, 'imgpipe'), 0o755);
    const script = shardScript().replaceAll('/data/photos', photos).replaceAll('/results', results);
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, JOB_COMPLETION_INDEX: '0' };
    const pod = (): Promise<number | null> =>
      new Promise((resolve) => {
        const command = AS_PID_1 ? ['unshare', '-fp', '--mount-proc', '/bin/sh', '-c', script] : ['/bin/sh', '-c', script];
        const child = spawn(command[0]!, command.slice(1), { env, stdio: 'ignore' });
        child.on('close', (code) => resolve(code));
        pods.push(child.pid!);
      });
    const pods: number[] = [];
    const db = path.join(results, 'ledgers', 'shard-0.db');

    const evicted = pod();
    for (let i = 0; i < 10_000 && !existsSync(db); i += 1) await new Promise((resolve) => setTimeout(resolve, 1));
    let shell: number | undefined;
    for (let i = 0; i < 1000 && shell === undefined; i += 1) shell = shellPid(pods[0]!);
    process.kill(shell!, 'SIGTERM');
    expect(await evicted).toBe(130);
    expect(query<{ status: string }>(db, 'SELECT status FROM runs')).toEqual([{ status: 'interrupted' }]);
    expect(query(db, 'SELECT * FROM lock')).toEqual([]);

    // The retried pod finishes the shard; an image that fails (imgpipe exits 1) does not fail the pod.
    expect(await pod()).toBe(0);
    const states = query<{ key: string; state: string }>(db, "SELECT i.key, j.state FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.task = 'meta' AND j.state != 'done'");
    expect(states).toEqual([{ key: broken, state: 'failed' }]);
  });
});
