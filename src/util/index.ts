export { assert, unreachable, AssertionError } from './assert.js';
export { Prng } from './prng.js';
