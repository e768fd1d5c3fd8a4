// Registers tsx in a worker thread, so that it can import torchloop's TypeScript source.
import { register } from 'tsx/esm/api';

register();
