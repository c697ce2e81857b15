// The closed-form and reference-model battery of semantics.test.ts, run against the exact engine:
// the two engines must agree with DESIGN.md (and so with each other) in distribution.
(globalThis as { __REHEARSE_ENGINE__?: string }).__REHEARSE_ENGINE__ = 'exact';
await import('./semantics.test.js');
