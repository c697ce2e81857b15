import { describe, expect, it, vi } from 'vitest';

// Colours on, whatever the terminal: picocolors decides when it is first imported, so this runs
// before the imports below (vi.hoisted), and the colour assertions cannot pass vacuously.
vi.hoisted(() => {
  delete process.env.NO_COLOR;
  process.env.FORCE_COLOR = '1';
});

import pc from 'picocolors';
import { simulationTable } from '../../src/report/simulation.js';
import type { OutcomeSummary } from '../../src/sim/outcome-summary.js';

/**
 * The table `rehearse simulate` prints. Summaries are written by hand; the cells follow from their
 * fields (percent: share × 100 rounded; integer: rounded, comma-grouped), and the layout is read
 * back with the colour escapes removed.
 */

// eslint-disable-next-line no-control-regex
const strip = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');
/** Cells of a rendered line: columns are at least two spaces apart and no cell holds two spaces. */
const cells = (line: string) => strip(line).trim().split(/ {2,}/);

const summary = (over: Partial<OutcomeSummary>): OutcomeSummary => ({
  scenario: 'cost-30',
  gateConfig: 'default',
  runs: 200,
  rollback: 0.9,
  hold: 0.05,
  promote: 0.05,
  topGate: 'cost',
  topGateShare: 0.85,
  medianHaltStage: 1.5,
  medianDetectedMinute: 12.5,
  meanCanaryRequests: 1520.6,
  gateCounts: { cost: 170, errors: 20 },
  ...over,
});

const clean = summary({
  scenario: 'clean',
  runs: 1000,
  rollback: 0,
  hold: 0,
  promote: 1,
  topGate: null,
  topGateShare: 0,
  medianHaltStage: null,
  medianDetectedMinute: null,
  meanCanaryRequests: 98765.4,
  gateCounts: {},
});

const HEADERS = ['scenario', 'runs', 'rollback', 'hold', 'promote', 'gate firing most (share of runs)', 'median halt stage', 'median detect min', 'mean canary req'];

describe('simulationTable', () => {
  it('prints one row per summary with the cells formatted from its fields', () => {
    const lines = simulationTable([summary({}), clean]).split('\n');
    expect(lines).toHaveLength(3);
    expect(cells(lines[0]!)).toEqual(HEADERS);
    // 200 runs; 0.9/0.05/0.05 → 90%/5%/5%; cost 0.85 → "cost (85%)"; median stage 1.5 printed as is;
    // minute 12.5 → 13; mean 1520.6 → 1,521.
    expect(cells(lines[1]!)).toEqual(['cost-30', '200', '90%', '5%', '5%', 'cost (85%)', '1.5', '13', '1,521']);
    // Nothing halted: a dash for the gate and both medians; 1000 → 1,000; 98765.4 → 98,765.
    expect(cells(lines[2]!)).toEqual(['clean', '1,000', '0%', '0%', '100%', '—', '—', '—', '98,765']);
  });

  it('right-aligns the number columns and left-aligns the scenario and gate columns', () => {
    const lines = simulationTable([summary({}), clean]).split('\n').map(strip);
    const end = (line: string, text: string) => line.indexOf(text) + text.length;
    // Right-aligned: the column's header and cells end at the same place.
    expect(end(lines[1]!, '1,521')).toBe(end(lines[0]!, 'mean canary req'));
    expect(end(lines[2]!, '98,765')).toBe(end(lines[0]!, 'mean canary req'));
    expect(end(lines[1]!, ' 200')).toBe(end(lines[0]!, 'runs'));
    expect(end(lines[2]!, '1,000')).toBe(end(lines[0]!, 'runs'));
    expect(end(lines[2]!, '100%')).toBe(end(lines[0]!, 'promote'));
    // Left-aligned: the column's header and cells start at the same place.
    expect(lines[1]!.indexOf('cost (85%)')).toBe(lines[0]!.indexOf('gate firing most'));
    expect(lines[2]!.indexOf('—')).toBe(lines[0]!.indexOf('gate firing most'));
    expect(lines[1]!.startsWith('cost-30 ')).toBe(true);
    expect(lines[2]!.startsWith('clean ')).toBe(true);
  });

  it('colours a non-zero rollback red, hold yellow and promote green, and leaves zeros plain', () => {
    expect(pc.isColorSupported).toBe(true);
    const [, busy, calm] = simulationTable([summary({}), clean]).split('\n');
    expect(busy).toContain(pc.red('90%'));
    expect(busy).toContain(pc.yellow('5%'));
    expect(busy).toContain(pc.green('5%'));
    expect(calm).toContain(pc.green('100%'));
    expect(calm).not.toContain(pc.red('0%'));
    expect(calm).not.toContain(pc.yellow('0%'));
    // The header is bold.
    expect(simulationTable([clean]).split('\n')[0]).toMatch(/^\u001b\[1m/);
  });

  it('adds a gates column after the scenario when the summaries span several gate configs', () => {
    const lines = simulationTable([summary({}), summary({ gateConfig: 'loose', rollback: 0.5, hold: 0, promote: 0.5 })]).split('\n');
    expect(cells(lines[0]!)).toEqual(['scenario', 'gates', ...HEADERS.slice(1)]);
    expect(cells(lines[1]!).slice(0, 6)).toEqual(['cost-30', 'default', '200', '90%', '5%', '5%']);
    expect(cells(lines[2]!).slice(0, 6)).toEqual(['cost-30', 'loose', '200', '50%', '0%', '50%']);
    // The gates column is text: left-aligned under its header.
    const plain = lines.map(strip);
    expect(plain[2]!.indexOf('loose')).toBe(plain[0]!.indexOf('gates'));
  });

  it('keeps one gate config to a single key column, however many scenarios', () => {
    const header = cells(simulationTable([summary({}), summary({ scenario: 'other' })]).split('\n')[0]!);
    expect(header).not.toContain('gates');
    expect(header).toHaveLength(9);
  });

  it('is the header alone for no summaries', () => {
    expect(cells(simulationTable([]))).toEqual(HEADERS);
  });
});
