/**
 * A shard is a deterministic share of every scenario's runs: shard i of n takes the contiguous
 * range [⌊i·R/n⌋, ⌊(i+1)·R/n⌋). Because a run depends on (seed, run) alone, the shards' outcomes
 * together are exactly a one-shot run's, whatever machine each shard ran on.
 */
export interface Shard {
  /** 0-based, as Kubernetes' JOB_COMPLETION_INDEX. */
  index: number;
  count: number;
}

export function parseShard(text: string): Shard | null {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) return null;
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) return null;
  return { index, count };
}

export function shardRange(runs: number, shard: Shard | undefined): { runFrom: number; runTo: number } {
  if (!shard) return { runFrom: 0, runTo: runs };
  return { runFrom: Math.floor((shard.index * runs) / shard.count), runTo: Math.floor(((shard.index + 1) * runs) / shard.count) };
}
