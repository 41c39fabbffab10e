import { setFlagsFromString } from 'node:v8';

/*
 * A sockact may run for months, starting a child per reload. Measured over 1000 reloads
 * (BENCHMARKS.md, Supervisor, Leaks), its RSS grew by 16 MB while its live JS heap stayed at
 * 5 MB: the growth was memory kept for garbage, never given back.
 */

/**
 * For the sockact command only (an app that imports sockact keeps Node's defaults). V8 doubles
 * the young generation each time the bytes that survived scavenges since the last growth exceed
 * its size: a sum that only grows in a process that never exits, so a supervisor ends with the
 * 2 x 16 MB semi-spaces meant for busy servers. Growing by a factor of 1 keeps the size V8
 * starts with: V8 reads the factor each time it grows the young generation (heap.cc,
 * CheckNewSpaceExpansionCriteria), whereas --max-semi-space-size is fixed when the heap is made.
 */
export function holdYoungGeneration(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}
