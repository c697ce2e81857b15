import pc from 'picocolors';
import type { OutcomeSummary } from '../sim/outcome-summary.js';
import { integer, percent, renderTable } from './table.js';

/** The per-scenario table `simulate` prints: one row per scenario and gate config. */
export function simulationTable(summaries: readonly OutcomeSummary[]): string {
  const manyConfigs = new Set(summaries.map((s) => s.gateConfig)).size > 1;
  const headers = [
    'scenario',
    ...(manyConfigs ? ['gates'] : []),
    'runs',
    'rollback',
    'hold',
    'promote',
    'gate firing most (share of runs)',
    'median halt stage',
    'median detect min',
    'mean canary req',
  ];
  const rows = summaries.map((s) => [
    s.scenario,
    ...(manyConfigs ? [s.gateConfig] : []),
    integer(s.runs),
    s.rollback > 0 ? pc.red(percent(s.rollback)) : percent(s.rollback),
    s.hold > 0 ? pc.yellow(percent(s.hold)) : percent(s.hold),
    s.promote > 0 ? pc.green(percent(s.promote)) : percent(s.promote),
    s.topGate ? `${s.topGate} (${percent(s.topGateShare)})` : '—',
    s.medianHaltStage === null ? '—' : String(s.medianHaltStage),
    s.medianDetectedMinute === null ? '—' : integer(s.medianDetectedMinute),
    integer(s.meanCanaryRequests),
  ]);
  const right = headers.map((h) => !['scenario', 'gates', 'gate firing most (share of runs)'].includes(h));
  return renderTable(headers, rows, right);
}
