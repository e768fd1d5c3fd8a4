// Environments for the data tests, loaded by worker threads by module path.
import { Environment } from '../../lib/index.ts';

/** Produces its seed and a counter; crashes its worker on the 3rd sample when told to. */
export class CountingEnvironment extends Environment {
  count = 0;
  create() {
    this.defineTrainingFields([{ name: 'x', shape: [2] }, { name: 'y', shape: [1] }]);
    this.defineAdditionalFields([{ name: 'seed', shape: [1], dtype: 'int32' }]);
  }
  step() {
    this.count++;
    if (this.options.crashAt === this.count && this.seed < 1000) process.exit(3); // only the first generation crashes
    this.setTrainingData({ x: [this.random.normal(), this.count], y: [this.random.uniform()] });
    this.setAdditionalData({ seed: [this.seed] });
  }
}

/** Rejects every other sample; or returns NaN when told to. */
export class PickyEnvironment extends Environment {
  n = 0;
  create() {
    this.defineTrainingFields([{ name: 'v', shape: [3] }]);
  }
  step() {
    this.n++;
    this.setTrainingData({ v: [this.n, this.options.nan ? NaN : 1, 2] });
  }
  checkSample() {
    return this.options.rejectAll ? false : this.n % 2 === 0;
  }
}

/** Asks the network for a prediction mid-step and stores what it got. */
export class AskingEnvironment extends Environment {
  create() {
    this.defineTrainingFields([{ name: 'x', shape: [2] }, { name: 'answer', shape: [2] }]);
  }
  async step() {
    const x = new Float32Array([this.random.uniform(), this.seed]);
    const { y } = await this.getPrediction({ x });
    this.setTrainingData({ x, answer: y as Float32Array });
  }
}
