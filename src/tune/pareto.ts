import type { ConfigScore } from './evaluate.js';

/**
 * The configs no other config beats on all three counts at once: lower false alarms, higher
 * detection, fewer canary requests exposed. Returns their indices, lowest false alarm first.
 */
export function paretoFront(scores: readonly ConfigScore[]): number[] {
  const dominated = (a: ConfigScore, b: ConfigScore) =>
    b.falseAlarm <= a.falseAlarm &&
    b.detection >= a.detection &&
    b.exposure <= a.exposure &&
    (b.falseAlarm < a.falseAlarm || b.detection > a.detection || b.exposure < a.exposure);
  const front: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    let isDominated = false;
    for (let j = 0; j < scores.length && !isDominated; j++) if (j !== i && dominated(scores[i]!, scores[j]!)) isDominated = true;
    if (!isDominated) front.push(i);
  }
  return front.sort((a, b) => scores[a]!.falseAlarm - scores[b]!.falseAlarm || scores[b]!.detection - scores[a]!.detection || scores[a]!.exposure - scores[b]!.exposure);
}

/**
 * The recommendation: among feasible configs (every false alarm within budget, every scenario
 * meeting its expectation), the one exposing the fewest canary requests; ties go to fewer false
 * alarms, then to the earlier config. null when none is feasible.
 */
export function recommend(scores: readonly ConfigScore[]): number | null {
  let best: number | null = null;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    if (!s.feasible) continue;
    if (best === null) {
      best = i;
      continue;
    }
    const b = scores[best]!;
    if (s.exposure < b.exposure || (s.exposure === b.exposure && s.falseAlarm < b.falseAlarm)) best = i;
  }
  return best;
}

/** When nothing is feasible, the config closest to it, to show what stands in the way. */
export function closest(scores: readonly ConfigScore[]): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) {
    const s = scores[i]!, b = scores[best]!;
    if (s.violation < b.violation || (s.violation === b.violation && s.exposure < b.exposure)) best = i;
  }
  return best;
}
