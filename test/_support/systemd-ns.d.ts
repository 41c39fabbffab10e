// Types for systemd-ns.js (plain JavaScript, shared with bench/).
import type { ChildProcess } from 'node:child_process';

export interface Outcome {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** Where the checkout and the running Node's directory are bind-mounted inside. */
export const CHECKOUT_INSIDE: string;
export const NODE_INSIDE: string;
export function cgroup2Root(): string | undefined;
export function cannotBoot(): string | undefined;
export function sweepStale(): void;
export function leftoversOf(what: { ns: Record<string, string>; cgroup: string; dir: string }): string[];
export function boot(opts?: { tag?: string; timeout?: number }): Promise<Systemd>;

export class Systemd {
  readonly name: string;
  readonly dir: string;
  /** The unit directory on the machine (/etc/systemd/system inside). */
  readonly units: string;
  /** The instance's cgroup on the machine (the root of its cgroup namespace). */
  readonly cgroup: string;
  readonly cgroup2: string;
  /** PID 1 of the namespaces, as the machine sees it. */
  readonly pid: number;
  readonly ns: Record<string, string>;
  launcher: ChildProcess | undefined;
  exec(argv: string[], timeout?: number): Promise<Outcome>;
  systemctl(...args: string[]): Promise<string>;
  show(unit: string, props: string[]): Promise<Record<string, string>>;
  journal(unit: string): Promise<string>;
  writeUnit(file: string, text: string): void;
  removeUnit(file: string): void;
  daemonReload(): Promise<string>;
  hostPid(nsPid: number | string): number | undefined;
  cgroupOf(unit: string): Promise<string | undefined>;
  pidsOf(unit: string): Promise<number[]>;
  stop(graceMs?: number): Promise<void>;
  leftovers(): string[];
}
