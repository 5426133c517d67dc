/** The JSON form tensors take in queue jobs: exact round trips, and untrusted payloads refused. */
import type { Tensor } from 'salama/gpu';
import { describe, expect, it } from 'vitest';
import { tensorsFromWire, tensorsToWire } from '../../src/scaling/distributed/tensor-wire.js';

describe('tensor wire format', () => {
  it('round-trips every dtype, single tensors and records, views included', () => {
    const backing = new Float32Array([9, 1.5, -2, 3.25, 9]);
    const tensors: Record<string, Tensor> = {
      f32: { dtype: 'float32', dims: [3], data: backing.subarray(1, 4) },
      f64: { dtype: 'float64', dims: [2], data: Float64Array.of(Math.PI, -0) },
      i32: { dtype: 'int32', dims: [2, 1], data: Int32Array.of(-7, 2 ** 31 - 1) },
      u8: { dtype: 'uint8', dims: [4], data: Uint8Array.of(0, 1, 254, 255) },
      scalar: { dtype: 'float32', dims: [], data: Float32Array.of(42) },
    };
    const back = tensorsFromWire(
      JSON.parse(JSON.stringify(tensorsToWire(tensors))),
      'job',
    ) as Record<string, Tensor>;
    for (const [name, tensor] of Object.entries(tensors)) {
      expect(back[name]?.dtype).toBe(tensor.dtype);
      expect(back[name]?.dims).toEqual(tensor.dims);
      expect(Array.from(back[name]?.data ?? [])).toEqual(Array.from(tensor.data));
    }
    const single = tensorsFromWire(tensorsToWire(tensors.f32 as Tensor), 'job') as Tensor;
    expect(Array.from(single.data)).toEqual([1.5, -2, 3.25]);
  });

  it.each([
    [
      { x: { dtype: 'float32', dims: [2], data: 'AAAA' } },
      'dims [2] of float32 need 8 bytes, received 3',
    ],
    [{ x: { dtype: 'float32', dims: [-1], data: '' } }, 'expected dims of non-negative integers'],
    [{ x: { dtype: 'float32', dims: [0.5], data: '' } }, 'expected dims of non-negative integers'],
    [
      { x: { dtype: 'constructor', dims: [1], data: 'AAAAAA==' } },
      'expected a tensor { dtype, dims, data (base64) }',
    ],
    [
      { x: { dtype: 'uint8', dims: '3', data: 'AAAA' } },
      'expected a tensor { dtype, dims, data (base64) }',
    ],
    [null, 'expected tensors by name'],
  ])('refuses %j with E_INVALID_INPUT', (wire, message) => {
    expect(() => tensorsFromWire(wire as never, 'job 7')).toThrowError(
      expect.objectContaining({
        code: 'E_INVALID_INPUT',
        message: expect.stringContaining(message),
      }),
    );
  });
});
