/** A progress bar on stderr: redrawn in place on a TTY, a line every 10% otherwise (CI logs). */
export class ProgressBar {
  #total: number;
  #label: string;
  #started = performance.now();
  #lastDecile = -1;
  #enabled: boolean;

  constructor(label: string, total: number, enabled = true) {
    this.#label = label;
    this.#total = total;
    this.#enabled = enabled;
  }

  update(done: number, extra = ''): void {
    if (!this.#enabled) return;
    const frac = this.#total ? done / this.#total : 1;
    const secs = (performance.now() - this.#started) / 1000;
    if (process.stderr.isTTY) {
      const width = 30;
      const full = Math.round(frac * width);
      process.stderr.write(`\r${this.#label} [${'#'.repeat(full)}${'-'.repeat(width - full)}] ${done}/${this.#total} ${extra} ${secs.toFixed(1)} s   `);
      if (done >= this.#total) process.stderr.write('\n');
    } else {
      const decile = Math.floor(frac * 10);
      if (decile > this.#lastDecile) {
        this.#lastDecile = decile;
        process.stderr.write(`${this.#label}: ${done}/${this.#total} ${extra} (${secs.toFixed(1)} s)\n`);
      }
    }
  }
}
