// node:v8 and node:vm are loaded when holdMemory() runs, not imported: they are five modules that
// a sockact which ends within its first second never needs (cli/main.ts calls holdMemory then).

/*
 * A sockact may run for months, starting a child per reload. Measured over 1000 reloads
 * (BENCHMARKS.md, Supervisor, Leaks), its RSS first grew by 16 MB while its live JS heap stayed
 * at 5 MB: memory kept for garbage, and for compiling, never given back. Three causes, one fix
 * each, all for the sockact command only (an app that imports sockact keeps Node's defaults).
 */

export interface HeldMemory {
  /**
   * A child has ended: the objects of its generation (its Worker, notify channel, ChildProcess,
   * timers) are garbage now. Shortly after, off the reload's path, looks at the old space and
   * collects once enough has piled up; calls within the delay share one look, and nothing runs
   * while no child comes or goes.
   */
  afterExit(): void;
}

/**
 * 1. The young generation. V8 doubles it each time the bytes that survived scavenges since the
 *    last growth exceed its size: a sum that only grows in a process that never exits, so a
 *    supervisor ended with the 2 x 16 MB semi-spaces meant for busy servers. Growing by a factor
 *    of 1 keeps the size V8 starts with: V8 reads the factor each time it grows the young
 *    generation (heap.cc, CheckNewSpaceExpansionCriteria), whereas --max-semi-space-size is fixed
 *    when the heap is made.
 * 2. The old generation. A generation's objects live as long as it serves, long enough to be
 *    promoted, and die when it ends (~4 KB a reload). V8 lets the old space grow by at least 8 MB
 *    of such garbage before its next mark-compact, then keeps the pages committed. One major GC
 *    shortly after a child's end, once the old space holds half a MB more than after the last
 *    one (~2 ms on sockact's ~5 MB heap, about every hundred reloads), keeps it near its live
 *    size. `gc` is taken as Jest does (--expose-gc, then a new context's global).
 * 3. The optimising compiler. TurboFan compiles sockact's few warm functions again and again on
 *    V8's worker threads, and each of those threads keeps its own glibc malloc arena, which grew
 *    by ~0.5 MB each and stayed. sockact's work is waiting: the interpreter and Sparkplug's
 *    baseline code are fast enough for a reload in about a millisecond (BENCHMARKS.md, Reload
 *    latency), so it runs without TurboFan (read by V8 at each tier-up, so it can be set now),
 *    or Maglev where V8 has it on. Except with `optimise`: with --prefix every line the children
 *    write goes through sockact's JavaScript, which then costs ~2.7x the CPU without them.
 */
export function holdMemory({
  delayMs = 250,
  slackBytes = 512 * 1024,
  optimise = false,
}: {
  delayMs?: number;
  slackBytes?: number;
  optimise?: boolean;
} = {}): HeldMemory {
  const { getHeapSpaceStatistics, setFlagsFromString } = process.getBuiltinModule('node:v8');
  setFlagsFromString('--semi-space-growth-factor=1');
  // Node 22's V8 tiers up to Maglev as well, on the same worker threads; Node 20 has it off.
  if (!optimise) for (const flag of ['--no-turbofan', '--no-maglev']) setFlagsFromString(flag);
  const gc = exposeGc(setFlagsFromString);
  const oldSpaceUsed = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')?.space_used_size ?? 0;
  // What the old space held after the last full GC (V8's own included): the live size to come back to.
  let live = oldSpaceUsed();
  let timer: NodeJS.Timeout | undefined;
  return {
    afterExit() {
      if (timer || !gc) return;
      timer = setTimeout(() => {
        timer = undefined;
        const used = oldSpaceUsed();
        // ~4 KB of garbage a reload: a collection every hundred reloads or so, not one each.
        if (used < live) live = used;
        if (used - live < slackBytes) return;
        gc();
        live = oldSpaceUsed();
      }, delayMs);
      timer.unref();
    },
  };
}

/** V8's `gc` (a full, synchronous GC when called with no options), or undefined where this Node does not give it. */
function exposeGc(setFlagsFromString: (flags: string) => void): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const { runInNewContext } = process.getBuiltinModule('node:vm');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined; // sockact then runs as V8 would have it: a memory tweak never stops it
  }
}
