/**
 * Geometric size classes: requests are rounded up to one of eight classes per power of two,
 * so near sizes (a 318-wide crop and a 320-wide one) share buffers.
 *
 * Waste bound: a request of `n > 64` bytes gets a buffer of less than `n × 1.125` bytes (at most
 * 12.5 % unused); requests of up to 64 bytes get 64. Within [2^k, 2^(k+1)) classes are
 * 2^(k-3) apart, and a request above 2^k is rounded up by less than that step.
 */

/** The smallest buffer a pool creates, in bytes. */
export const MIN_CLASS_BYTES = 64;

/** Classes per doubling of size; 8 bounds internal waste at 1/8 of the request. */
export const CLASSES_PER_DOUBLING = 8;

const STEP_SHIFT = Math.log2(CLASSES_PER_DOUBLING);

/** The byte length of the buffer that serves a request of `bytes` bytes. */
export function sizeClassOf(bytes: number): number {
  if (bytes <= MIN_CLASS_BYTES) return MIN_CLASS_BYTES;
  const k = bytes <= 0x7fffffff ? 31 - Math.clz32(bytes - 1) : Math.floor(Math.log2(bytes - 1));
  const step = 2 ** (k - STEP_SHIFT);
  return Math.ceil(bytes / step) * step;
}
