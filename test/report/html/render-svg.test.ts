import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg, scopeIds } from '../../../src/report/html/render-svg.js';

/**
 * Vega-Lite to SVG in Node, headless: a three-bar chart is rendered and its marks read back from
 * the SVG text. Bar heights follow from the spec: a linear y scale from 0 to 3 over 60 px puts a
 * value v at 60·v/3 px tall.
 */

const bars = (over: Record<string, unknown> = {}): TopLevelSpec =>
  ({
    width: 120,
    height: 60,
    data: { values: [{ k: 'a<b&c', v: 1 }, { k: 'b', v: 2 }, { k: 'c', v: 3 }] },
    mark: { type: 'bar', clip: true, color: '#123456' },
    encoding: { x: { field: 'k', type: 'nominal' }, y: { field: 'v', type: 'quantitative', scale: { domain: [0, 3] } } },
    ...over,
  }) as TopLevelSpec;

/** The bar marks: Vega draws each as a path with role graphics-symbol and roledescription bar. */
function barPaths(svg: string): string[] {
  return [...svg.matchAll(/<path [^>]*aria-roledescription="bar"[^>]*\/>/g)].map((m) => m[0]);
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe('renderSvg', () => {
  it('renders a spec to one SVG document with a mark per datum', async () => {
    const warnings: string[] = [];
    const svg = await renderSvg(bars(), 'fig', warnings);
    expect(warnings).toEqual([]);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    const paths = barPaths(svg);
    expect(paths).toHaveLength(3);
    for (const p of paths) expect(p).toContain('fill="#123456"');
    // Each bar path is "M x,y h w v height h -w Z"; heights 60·1/3 = 20, 60·2/3 = 40, 60·3/3 = 60.
    const heights = paths.map((p) => Number(/d="M[^h]+h[\d.]+v([\d.]+)h/.exec(p)![1]));
    expect(heights[0]).toBeCloseTo(20, 6);
    expect(heights[1]).toBeCloseTo(40, 6);
    expect(heights[2]).toBeCloseTo(60, 6);
    // Three bands over 120 px: each step is 40 px, so the bars are equally wide and under 40 px.
    const widths = paths.map((p) => Number(/d="M[^h]+h([\d.]+)v/.exec(p)![1]));
    expect(new Set(widths).size).toBe(1);
    expect(widths[0]).toBeGreaterThan(0);
    expect(widths[0]).toBeLessThan(40);
  });

  it('escapes data text in labels, so a value cannot inject markup', async () => {
    const svg = await renderSvg(bars(), 'fig');
    // The axis label of "a<b&c" is escaped as XML text.
    expect(svg).toMatch(/<text[^>]*>a&lt;b&amp;c<\/text>/);
    expect(svg).not.toContain('a<b');
    expect(svg).not.toContain('<b&');
  });

  it('collects Vega-Lite warnings instead of printing them', async () => {
    const printed = [vi.spyOn(console, 'warn'), vi.spyOn(console, 'error'), vi.spyOn(console, 'log'), vi.spyOn(process.stderr, 'write')];
    const warnings: string[] = [];
    // A shape channel means nothing to a bar: Vega-Lite drops it with a warning naming it.
    const spec = bars({ encoding: { x: { field: 'k', type: 'nominal' }, y: { field: 'v', type: 'quantitative' }, shape: { field: 'k', type: 'nominal' } } });
    const svg = await renderSvg(spec, 'fig', warnings);
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.join('\n')).toMatch(/shape/);
    // The chart still renders without the channel.
    expect(barPaths(svg)).toHaveLength(3);
    for (const spy of printed) expect(spy).not.toHaveBeenCalled();
  });

  it('renders inline data without the network', async () => {
    const fetch = vi.fn(() => {
      throw new Error('no network in a report');
    });
    vi.stubGlobal('fetch', fetch);
    const svg = await renderSvg(bars(), 'fig');
    expect(barPaths(svg)).toHaveLength(3);
    expect(fetch).not.toHaveBeenCalled();
    // The only URLs are XML namespace names, which nothing fetches.
    const urls = [...svg.matchAll(/https?:\/\/[^\s"')]+/g)].map((m) => m[0]);
    expect(urls.length).toBeGreaterThan(0);
    for (const u of urls) expect(u.startsWith('http://www.w3.org/')).toBe(true);
  });

  it('prefixes every id and every reference to one, so two charts in one page do not collide', async () => {
    const a = await renderSvg(bars(), 'first');
    const b = await renderSvg(bars(), 'second');
    const ids = (svg: string) => [...svg.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]!);
    const refs = (svg: string) => [...svg.matchAll(/url\(#([^)]+)\)/g)].map((m) => m[1]!);
    // clip: true gives the marks a clip path: at least one id and one reference to it.
    expect(ids(a).length).toBeGreaterThan(0);
    expect(refs(a).length).toBeGreaterThan(0);
    for (const id of ids(a)) expect(id.startsWith('first-')).toBe(true);
    for (const id of ids(b)) expect(id.startsWith('second-')).toBe(true);
    // Every reference points at an id of its own document.
    for (const r of refs(a)) expect(ids(a)).toContain(r);
    for (const r of refs(b)) expect(ids(b)).toContain(r);
    expect(ids(a).filter((id) => ids(b).includes(id))).toEqual([]);
  });
});

describe('scopeIds', () => {
  it('prefixes id attributes, url(#…) references and href="#…" links alike', () => {
    const svg = '<clipPath id="clip1"/><g clip-path="url(#clip1)"/><use href="#clip1"/><use xlink:href="#g2"/><g style="fill:url(#grad)"/>';
    expect(scopeIds(svg, 'p')).toBe('<clipPath id="p-clip1"/><g clip-path="url(#p-clip1)"/><use href="#p-clip1"/><use xlink:href="#p-g2"/><g style="fill:url(#p-grad)"/>');
  });

  it('leaves other attributes and external links alone', () => {
    const svg = '<a href="https://example.org/#x"><g class="id" width="10" grid="x"/></a>';
    expect(scopeIds(svg, 'p')).toBe(svg);
  });

  it('changes nothing in an SVG without ids', () => {
    expect(scopeIds('<svg><rect width="1"/></svg>', 'p')).toBe('<svg><rect width="1"/></svg>');
  });
});
