import { z } from 'zod';

/** Field builders the scenario, gate and target schemas share, so a rate or a multiplier means one thing everywhere. */

export const finite = () => z.number().refine(Number.isFinite, { message: 'must be a finite number' });

export const rate = (what: string) => finite().min(0).max(1).default(0).describe(`${what} A probability in [0, 1]. Default 0.`);

export const multiplier = (what: string) =>
  finite().min(0).default(1).describe(`${what} A multiplier on the baseline: 1 (the default) leaves it unchanged, 1.25 is 25% more.`);

export const quantilePair = (what: string, p50: number, p99: number) =>
  z
    .object({
      p50: finite().gt(0).describe('Median. Must be above 0.'),
      p99: finite().gt(0).describe('99th percentile. Must be at least p50; equal to p50 gives a constant.'),
    })
    .strict()
    .refine((q) => q.p99 >= q.p50, { message: 'p99 must be at least p50', path: ['p99'] })
    .default({ p50, p99 })
    .describe(`${what} A lognormal distribution through its median and 99th percentile. Default { p50: ${p50}, p99: ${p99} }.`);
