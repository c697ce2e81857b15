import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The HTML report as a reader sees it: a real simulation and a real check, reported by the built
 * CLI, opened in headless Chromium. Every chart must have drawn marks, and the page must neither
 * log an error nor ask the network for anything.
 */

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/cli/main.js');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function rehearse(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  if (r.status !== 0) throw new Error(`rehearse ${args.join(' ')} exited ${r.status}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

const scenario = (name: string, price: number, expectation: string) => `name: ${name}
runs: 40
traffic:
  requests_per_minute: 600
  baseline: { error_rate: 0.01 }
candidate: { price: ${price} }
nondeterminism: { run: 0.1, check: 0.05 }
rollout:
  stages: [{ percent: 10, hold: 30m }, { percent: 50, hold: 30m }, { percent: 100 }]
  check_every: 10m
expect: ${expectation}
`;

let dir: string;
let browser: Browser | undefined;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-report-html-'));
  writeFileSync(path.join(dir, 'clean.yaml'), scenario('clean', 1.0, '{ outcome: promote, probability: 0.9 }'));
  writeFileSync(path.join(dir, 'cost.yaml'), scenario('cost-40', 1.4, '{ outcome: rollback, gate: cost, probability: 0.9 }'));
  writeFileSync(path.join(dir, 'strict.yaml'), 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.15, min_samples: 100 }\n  - { name: errors, metric: error_rate, max_ratio: 2 }\n');
  writeFileSync(path.join(dir, 'loose.yaml'), 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.3, min_samples: 300, window: stage }\n');
  const db = path.join(dir, 'r.duckdb');
  const gates = ['--gates', path.join(dir, 'strict.yaml'), '--gates', path.join(dir, 'loose.yaml')];
  rehearse(['simulate', path.join(dir, 'clean.yaml'), path.join(dir, 'cost.yaml'), ...gates, '--db', db, '--invocation', 'sim-e2e', '--quiet']);
  const checked = spawnSync(process.execPath, [cli, 'check', dir, '--gates', path.join(dir, 'strict.yaml'), '--db', db, '--quiet'], { cwd: root, encoding: 'utf8' });
  expect(checked.status, checked.stderr).toBeLessThanOrEqual(1);
  rehearse(['report', '--db', db, '--invocation', 'sim-e2e', '--out', path.join(dir, 'simulate')]);
  rehearse(['report', '--db', db, '--out', path.join(dir, 'check')]);
});

afterAll(async () => {
  await browser?.close();
});

async function openBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed (${CHROMIUM} is missing), and this test needs it to render the HTML report. Install it with: apt-get update && apt-get install -y chromium`);
  }
  browser ??= await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  return browser;
}

interface RenderedChart {
  id: string;
  width: number;
  height: number;
  marks: number;
}

/** Opens a report and measures each chart as laid out, collecting whatever the page complained of. */
async function view(file: string) {
  const page = await (await openBrowser()).newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    if (!r.url().startsWith('file:')) requests.push(r.url());
  });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  const charts: RenderedChart[] = await page.$$eval('figure.chart', (figures) =>
    figures.map((f) => {
      const svg = f.querySelector('svg');
      const box = svg?.getBoundingClientRect();
      // Vega draws each mark set as a group of role "mark"; its children are the bars, rules, texts.
      const marks = svg ? [...svg.querySelectorAll('.role-mark')].reduce((n, g) => n + g.children.length, 0) : 0;
      return { id: f.getAttribute('data-chart') ?? '', width: box?.width ?? 0, height: box?.height ?? 0, marks };
    }),
  );
  const heading = await page.textContent('h1');
  await page.close();
  return { charts, errors, requests, heading };
}

describe('rehearse report (HTML, in Chromium)', () => {
  it('draws every chart of a simulate invocation, one column per gate config, offline and without errors', async () => {
    const { charts, errors, requests, heading } = await view(path.join(dir, 'simulate', 'report.html'));
    expect(heading).toContain('sim-e2e');
    expect(charts.map((c) => c.id)).toEqual(['outcome-mix', 'halt-stage', 'gate-firing', 'detection-time']);
    for (const chart of charts) {
      expect(chart.width, chart.id).toBeGreaterThan(100);
      expect(chart.height, chart.id).toBeGreaterThan(50);
      expect(chart.marks, chart.id).toBeGreaterThan(0);
    }
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
  });

  it('adds the check verdicts chart for a check invocation', async () => {
    const { charts, errors, requests } = await view(path.join(dir, 'check', 'report.html'));
    expect(charts.map((c) => c.id)).toEqual(['check-verdicts', 'outcome-mix', 'halt-stage', 'gate-firing', 'detection-time']);
    for (const chart of charts) {
      expect(chart.width, chart.id).toBeGreaterThan(100);
      expect(chart.marks, chart.id).toBeGreaterThan(0);
    }
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
  });
});
