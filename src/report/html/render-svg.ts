import type { TopLevelSpec } from 'vega-lite';

/**
 * Renders a Vega-Lite spec to an SVG string in Node, headless ('none' renderer: no canvas, no
 * DOM), so the page carries finished pictures and needs no script or network when opened.
 * Vega-Lite and Vega warnings (a misspelt field, an ignored channel) are collected rather than
 * printed: the CLI keeps its output clean and the tests can insist there are none.
 */
export async function renderSvg(spec: TopLevelSpec, idPrefix: string, warnings: string[] = []): Promise<string> {
  // Loaded here, not at the top: every other command would pay for importing them (~0.2 s).
  const vega = await import('vega');
  const { compile } = await import('vega-lite');
  const logger = vega.logger(vega.Warn, undefined, (method, _level, input) => {
    if (method === 'error' || method === 'warn') warnings.push(input.map(String).join(' '));
  });
  const view = new vega.View(vega.parse(compile(spec, { logger }).spec), { renderer: 'none', logger });
  try {
    return scopeIds(await view.toSVG(), idPrefix);
  } finally {
    view.finalize();
  }
}

/**
 * Gives the SVG's ids (clip paths, gradients) a prefix of their own: several charts inline in one
 * page share one id space, and Vega numbers them per process, not per document.
 */
export function scopeIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, `id="${prefix}-$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`)
    .replace(/\bhref="#([^"]+)"/g, `href="#${prefix}-$1"`);
}
