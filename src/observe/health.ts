// What makes the agent not ready: each component reports its own problems here, and /readyz shows them all.
//
// Readiness means "the agent is doing its job": every source can read its files and every sink's buffer can
// take records. A backend that is down is not a readiness problem (the disk buffer absorbs it; the backlog
// metrics and the sink's status log show it); a source that cannot read or a buffer that cannot be written is,
// because then events are not being collected at all.

/** A component's current problems (empty when healthy); called on every /readyz request, so keep it cheap. */
export type HealthCheck = () => readonly string[];

export class Health {
  private started = false;
  private stopping = false;
  private readonly checks = new Map<string, HealthCheck>();

  /** Adds (or replaces) the check of one component, named as an operator finds it in the config (`sources.audit`). */
  register(component: string, check: HealthCheck): void {
    this.checks.set(component, check);
  }

  /** The start finished: sources may read. */
  markStarted(): void {
    this.started = true;
  }

  /** Shutdown began: no longer ready. */
  markStopping(): void {
    this.stopping = true;
  }

  /** Every current problem, as `component: problem`. */
  problems(): string[] {
    if (!this.started) return ['agent: starting'];
    if (this.stopping) return ['agent: stopping'];
    const out: string[] = [];
    for (const [component, check] of this.checks) {
      for (const p of check()) out.push(`${component}: ${p}`);
    }
    return out;
  }

  ready(): boolean {
    return this.problems().length === 0;
  }
}
